"""Chat targets: one protocol, three back ends, built from a profile.

    target = build_target({"provider": "openai", "model": "gpt-4o-mini", "rpm": 500, "tpm": 200_000},
                          on_call=store_calls)
    result = await target.complete(messages, temperature=0.2, top_p=1.0, max_tokens=800,
                                   json_schema=schema, purpose="questions")
    async with target.stream(messages, temperature=0.7, top_p=0.9, max_tokens=400) as s:
        async for delta in s: ...
    s.result  # ChatResult

Every call goes through an AdaptiveLimiter: a fresh one per target unless `limiter=` is given.
Pass `shared_limiter(profile)` (one per account and model, process-wide; core.services does for
every session target) so that several runs on one account slow down together. Each logical call is reported to
`on_call(CallRecord)`.
Failures raise the typed errors of core.llm.errors. Importing this module loads no SDK.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.llm.base import (
    CallRecord,
    ChatResult,
    ChatStream,
    ChatTarget,
    Message,
    OnCall,
    Prices,
    estimate_prompt_tokens,
)
from core.llm.bedrock import BedrockTarget
from core.llm.errors import (
    FatalLLMError,
    LLMError,
    ModelError,
    OutputFormatError,
    RateLimited,
    TransientLLMError,
)
from core.llm.openai_api import OpenAITarget
from core.llm.prices import price_for
from core.llm.sagemaker_endpoint import SageMakerEndpointTarget
from core.llm.throttle import AdaptiveLimiter, LimiterConfig

PROVIDERS = ("openai", "azure", "openai-compatible", "bedrock", "sagemaker")
OPENAI_PROVIDERS = ("openai", "azure", "openai-compatible")


@dataclass
class TargetProfile:
    """Everything needed to build a target. Secrets are never here: `api_key_env` names a variable."""

    provider: str = "openai"
    model: str = ""
    name: str = ""
    base_url: str = ""
    api_key_env: str = ""  # openai and azure: "" = OPENAI_API_KEY; openai-compatible: none sent unless named
    rpm: float | None = None
    tpm: float | None = None
    max_concurrency: int = 16
    input_price_per_mtok: float | None = None  # None: [llm.prices], the built-in table, else unpriced
    output_price_per_mtok: float | None = None
    timeout_s: float = 60.0
    json_schema: bool | None = None  # override whether the server enforces json_schema
    region: str = ""  # bedrock / sagemaker
    aws_profile: str = ""
    endpoint_url: str = ""
    endpoint_name: str = ""  # sagemaker
    prompt_format: str = "messages"  # sagemaker: messages | llama3-chat | instruction
    stop_key: str = "stop_sequences"  # sagemaker: "stop_sequences" (LMI) or "stop" (TGI)
    instruction_template: str = ""  # sagemaker instruction format: template.json "prompt"
    custom_attributes: str = ""  # sagemaker, e.g. "accept_eula=true"

    @classmethod
    def coerce(cls, profile: TargetProfile | Mapping[str, Any] | Any) -> TargetProfile:
        """From a TargetProfile, a plain mapping (unknown keys are an error) or any object with
        matching attributes (such as the config's LlmProfile; other attributes are ignored)."""
        if isinstance(profile, TargetProfile):
            return profile
        names = {f.name for f in dataclasses.fields(cls)}
        if isinstance(profile, Mapping):
            unknown = sorted(set(profile) - names)
            if unknown:
                raise ValueError(f"unknown LLM profile key(s): {', '.join(unknown)}")
            values = dict(profile)
        else:
            values = {name: getattr(profile, name) for name in names if hasattr(profile, name)}
        result = cls(**values)
        result.validate()
        return result

    def validate(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, not {self.provider!r}")
        if self.provider == "sagemaker" and not (self.endpoint_name or self.model):
            raise ValueError("a sagemaker profile needs endpoint_name")
        if self.provider != "sagemaker" and not self.model:
            raise ValueError(f"a {self.provider} profile needs model")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")

    @property
    def label(self) -> str:
        return self.name or self.model or self.endpoint_name

    @property
    def prices(self) -> Prices:
        return self.prices_with()

    def prices_with(self, overrides: Mapping[str, Any] | None = None) -> Prices:
        """The profile's prices, else an override for its model, else the built-in table, else unpriced."""
        found = price_for(
            self.model,
            input_per_mtok=self.input_price_per_mtok,
            output_per_mtok=self.output_price_per_mtok,
            overrides=overrides,
        )
        if found is None:
            return Prices(known=False)
        return Prices(found.input_per_mtok, found.output_per_mtok)

    @property
    def key_variable(self) -> str:
        if self.api_key_env or self.provider == "openai-compatible":
            return self.api_key_env
        return "OPENAI_API_KEY"

    def limiter_config(self) -> LimiterConfig:
        return LimiterConfig(rpm=self.rpm or None, tpm=self.tpm or None, max_concurrency=int(self.max_concurrency))


def limiter_for(profile: TargetProfile | Mapping[str, Any] | Any, **kwargs: Any) -> AdaptiveLimiter:
    """A fresh limiter with the profile's RPM, TPM and concurrency."""
    p = TargetProfile.coerce(profile)
    return AdaptiveLimiter(p.limiter_config(), name=p.label, **kwargs)


_shared: dict[tuple, AdaptiveLimiter] = {}
_shared_lock = threading.Lock()


class StoreShare:
    """A limiter's lease on its account's budget in a session store (core.store.rate_leases), so
    the processes on that session (a headless run, the TUI) split the budget between them."""

    def __init__(self, store: Any, key: str, *, ttl_s: float = 65.0, holder: str | None = None) -> None:
        from core.store.rate_leases import RateLeases

        self.store = store
        self.leases = RateLeases(store.db)
        self.key = key
        self.holder = holder or f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.ttl_s = ttl_s  # longer than the window: a lease outlives its holder's requests in it

    def beat(self, used: float, share_for: Any, ttl_s: float | None = None) -> tuple[float, int]:
        ttl = self.ttl_s if ttl_s is None else ttl_s
        return self.leases.beat(
            self.key, self.holder, used=used, share_for=share_for, ttl_s=ttl, holder_alive=holder_alive
        )

    def release(self) -> None:
        self.leases.release(self.key, self.holder)


def holder_alive(holder: str) -> bool:
    """False for a lease holder that was a process on this machine and is gone (killed, crashed), so a
    rerun need not wait for its lease to expire; True when it lives or cannot be told from here."""
    host, _, rest = holder.partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def limiter_key(profile: TargetProfile | Mapping[str, Any] | Any) -> tuple:
    """What one account and model is: the server (or AWS region and profile), key variable, model."""
    p = TargetProfile.coerce(profile)
    return (p.provider, p.base_url, p.key_variable, p.region, p.aws_profile, p.endpoint_name or p.model)


def shared_limiter(profile: TargetProfile | Mapping[str, Any] | Any, *, store: Any = None) -> AdaptiveLimiter:
    """The process-wide limiter for this account and model: every target built for the same server
    (or AWS region and profile), key variable and model shares it, so generation, scoring, judging,
    the playground and rehearsals on one account slow down together. The first profile's limits hold.

    With `store` (the session's Store) a limiter with an RPM or TPM budget also splits it with the
    other processes on that session, through the store (`AdaptiveLimiter.share_through`)."""
    p = TargetProfile.coerce(profile)
    key = limiter_key(p)
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None:
            limiter = _shared[key] = limiter_for(p)
        if store is not None and (limiter.config.rpm or limiter.config.tpm):
            current = limiter.share_source
            if not isinstance(current, StoreShare) or current.store is not store:
                window = limiter.config.window_s
                limiter.share_through(StoreShare(store, "|".join(map(str, key)), ttl_s=window + 5.0))
        return limiter


def forget_shared_limiters() -> None:
    """Drop every shared limiter (tests: a fresh account per test), giving their leases back."""
    with _shared_lock:
        limiters = list(_shared.values())
        _shared.clear()
    for limiter in limiters:
        if limiter.share_source is not None:
            limiter.share_through(None, release=False)  # the test's store may be gone


def build_target(
    profile: TargetProfile | Mapping[str, Any] | Any,
    *,
    limiter: AdaptiveLimiter | None = None,
    on_call: OnCall | None = None,
    purpose: str = "",
    name: str | None = None,
    aws: Any = None,
    client: Any = None,
    price_overrides: Mapping[str, Any] | None = None,
) -> ChatTarget:
    """The target for a profile.

    `name` labels the profile in call records (default: the profile's name or model). `aws` (an
    object or mapping with region, profile, endpoint_url, such as the config's AwsConfig) fills
    the AWS settings the profile leaves empty. `client` injects an SDK client (tests: an httpx
    client for openai, a stub boto3 client for bedrock/sagemaker).
    """
    p = dataclasses.replace(TargetProfile.coerce(profile))
    if name:
        p.name = name
    if aws is not None:
        get = aws.get if isinstance(aws, Mapping) else (lambda key, default=None: getattr(aws, key, default))
        p.region = p.region or str(get("region", "") or "")
        p.aws_profile = p.aws_profile or str(get("profile", "") or "")
        p.endpoint_url = p.endpoint_url or str(get("endpoint_url", "") or "")
    common: dict[str, Any] = {
        "profile_name": p.label,
        "limiter": limiter or limiter_for(p),
        "prices": p.prices_with(price_overrides),
        "on_call": on_call,
        "purpose": purpose,
        "timeout_s": float(p.timeout_s),
    }
    if p.provider in OPENAI_PROVIDERS:
        return OpenAITarget(
            model=p.model,
            kind=p.provider,
            base_url=p.base_url or None,
            api_key_env=p.key_variable,
            json_schema_supported=p.json_schema,
            http_client=client,
            **common,
        )
    aws = {
        "region": p.region or None,
        "aws_profile": p.aws_profile or None,
        "endpoint_url": p.endpoint_url or None,
        "client": client,
    }
    if p.provider == "bedrock":
        return BedrockTarget(model=p.model, **aws, **common)

    return SageMakerEndpointTarget(
        endpoint_name=p.endpoint_name or p.model,
        model=p.model,
        prompt_format=p.prompt_format,
        instruction_template=p.instruction_template or None,
        custom_attributes=p.custom_attributes or None,
        stop_key=p.stop_key,
        **aws,
        **common,
    )


__all__ = [
    "AdaptiveLimiter",
    "CallRecord",
    "ChatResult",
    "ChatStream",
    "ChatTarget",
    "FatalLLMError",
    "LLMError",
    "LimiterConfig",
    "Message",
    "ModelError",
    "OnCall",
    "OutputFormatError",
    "OPENAI_PROVIDERS",
    "PROVIDERS",
    "Prices",
    "RateLimited",
    "TargetProfile",
    "TransientLLMError",
    "build_target",
    "estimate_prompt_tokens",
    "StoreShare",
    "forget_shared_limiters",
    "limiter_key",
    "limiter_for",
    "shared_limiter",
]

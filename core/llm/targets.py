"""Chat targets: one protocol, three back ends, built from a profile.

    target = build_target({"provider": "openai", "model": "gpt-4o-mini", "rpm": 500, "tpm": 200_000},
                          on_call=store_calls)
    result = await target.complete(messages, temperature=0.2, top_p=1.0, max_tokens=800,
                                   json_schema=schema, purpose="questions")
    async with target.stream(messages, temperature=0.7, top_p=0.9, max_tokens=400) as s:
        async for delta in s: ...
    s.result  # ChatResult

Every call goes through an AdaptiveLimiter: a fresh one per target unless `limiter=` is given.
Pass `shared_limiter(profile)` (one per endpoint and limits, process-wide) where several targets
or runs use one account, so that they slow down together. Each logical call is reported to
`on_call(CallRecord)`.
Failures raise the typed errors of core.llm.errors. Importing this module loads no SDK.
"""

from __future__ import annotations

import dataclasses
import threading
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
from core.llm.sagemaker_endpoint import SageMakerEndpointTarget
from core.llm.throttle import AdaptiveLimiter, LimiterConfig

PROVIDERS = ("openai", "bedrock", "sagemaker")


@dataclass
class TargetProfile:
    """Everything needed to build a target. Secrets are never here: `api_key_env` names a variable."""

    provider: str = "openai"
    model: str = ""
    name: str = ""
    kind: str = ""  # openai provider: openai | azure | vllm | ollama | llamacpp ("" = infer)
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    rpm: float | None = None
    tpm: float | None = None
    max_concurrency: int = 16
    input_price_per_mtok: float = 0.0
    output_price_per_mtok: float = 0.0
    timeout_s: float = 60.0
    json_schema: bool | None = None  # override whether the server enforces json_schema
    region: str = ""  # bedrock / sagemaker
    aws_profile: str = ""
    endpoint_url: str = ""
    endpoint_name: str = ""  # sagemaker
    prompt_format: str = "messages"  # sagemaker: messages | llama3-chat | instruction
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
        return Prices(float(self.input_price_per_mtok or 0.0), float(self.output_price_per_mtok or 0.0))

    def limiter_config(self) -> LimiterConfig:
        return LimiterConfig(rpm=self.rpm or None, tpm=self.tpm or None, max_concurrency=int(self.max_concurrency))


def limiter_for(profile: TargetProfile | Mapping[str, Any] | Any, **kwargs: Any) -> AdaptiveLimiter:
    """A fresh limiter with the profile's RPM, TPM and concurrency."""
    p = TargetProfile.coerce(profile)
    return AdaptiveLimiter(p.limiter_config(), name=p.label, **kwargs)


_shared: dict[tuple, AdaptiveLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(profile: TargetProfile | Mapping[str, Any] | Any) -> AdaptiveLimiter:
    """The process-wide limiter for this endpoint and these limits: every target built for the
    same endpoint shares it, so two runs on one account slow down together."""
    p = TargetProfile.coerce(profile)
    key = (p.provider, p.kind, p.base_url, p.model, p.endpoint_name, p.region, p.rpm, p.tpm, p.max_concurrency)
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None:
            limiter = _shared[key] = limiter_for(p)
        return limiter


def build_target(
    profile: TargetProfile | Mapping[str, Any] | Any,
    *,
    limiter: AdaptiveLimiter | None = None,
    on_call: OnCall | None = None,
    purpose: str = "",
    name: str | None = None,
    aws: Any = None,
    client: Any = None,
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
        "prices": p.prices,
        "on_call": on_call,
        "purpose": purpose,
        "timeout_s": float(p.timeout_s),
    }
    if p.provider == "openai":
        return OpenAITarget(
            model=p.model,
            kind=p.kind,
            base_url=p.base_url or None,
            api_key_env=p.api_key_env,
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
    "PROVIDERS",
    "Prices",
    "RateLimited",
    "TargetProfile",
    "TransientLLMError",
    "build_target",
    "estimate_prompt_tokens",
    "limiter_for",
    "shared_limiter",
]

"""Target names as the user writes them, and the profile each one is built from.

    endpoint:NAME          a SageMaker endpoint (built by Services.endpoint_target)
    profile:NAME           an [llm.NAME] or [llm.profiles.NAME] profile as it stands (generator, judge, ...)
    openai:MODEL           MODEL on the generator's OpenAI-compatible server (or the judge's)
    openai:MODEL@PROFILE   MODEL on the server, key and limits of profile NAME
    bedrock:MODEL_ID       a Bedrock model through Converse, in the session's AWS region

`list_targets` lists them for the target pickers of Compare and the Playground.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from core.config import Config, LlmProfile

KINDS = ("endpoint", "profile", "openai", "bedrock")
FORMS = "endpoint:NAME, profile:NAME, openai:MODEL[@PROFILE] or bedrock:MODEL_ID"
OPENAI_PROVIDERS = ("openai", "azure", "openai-compatible")
_ENDPOINT = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


class TargetNameError(ValueError):
    """A target name that cannot be used; the message says why and how to write one."""


@dataclass(frozen=True)
class TargetName:
    kind: str
    name: str  # endpoint name, profile name or model id
    profile: str = ""  # openai:MODEL@PROFILE

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" + (f"@{self.profile}" if self.profile else "")


def parse_target(text: str) -> TargetName:
    kind, sep, rest = str(text).strip().partition(":")
    kind, rest = kind.strip().lower(), rest.strip()
    if not sep or kind not in KINDS or not rest:
        raise TargetNameError(f"target {text!r}: write {FORMS}")
    if kind == "endpoint" and not _ENDPOINT.fullmatch(rest):
        raise TargetNameError(f"target {text!r}: {rest!r} is not a SageMaker endpoint name")
    if kind == "openai" and "@" in rest:
        model, _, profile = rest.rpartition("@")
        if not model.strip() or not profile.strip():
            raise TargetNameError(f"target {text!r}: write openai:MODEL@PROFILE")
        return TargetName(kind, model.strip(), profile.strip())
    return TargetName(kind, rest)


def named_profiles(config: Config) -> dict[str, LlmProfile]:
    """Every LLM profile by name: generator, judge, then the [llm.profiles.*] tables."""
    return {"generator": config.llm.generator, "judge": config.llm.judge, **config.llm.profiles}


def _profile(config: Config, name: str, text: str) -> LlmProfile:
    profiles = named_profiles(config)
    if name not in profiles:
        raise TargetNameError(f"target {text!r}: no LLM profile {name!r}; there are {', '.join(profiles)}")
    return profiles[name]


def profile_for(target: TargetName | str, config: Config) -> dict[str, Any]:
    """The build_target profile (a mapping) for a target that is not an endpoint."""
    spec = target if isinstance(target, TargetName) else parse_target(target)
    if spec.kind == "endpoint":
        raise TargetNameError(f"target {spec}: endpoints are built by Services.endpoint_target")
    if spec.kind == "bedrock":
        return {"provider": "bedrock", "model": spec.name, "name": str(spec), "max_concurrency": 8}
    if spec.kind == "profile":
        base = _profile(config, spec.name, str(spec))
        return base.target_profile(name=str(spec))
    if spec.profile:
        base = _profile(config, spec.profile, str(spec))
        if base.provider not in OPENAI_PROVIDERS:
            raise TargetNameError(f"target {spec}: profile {spec.profile!r} is a {base.provider} profile, not OpenAI's")
    else:
        llm = config.llm
        candidates = [p for p in (llm.generator, llm.judge) if p.provider in OPENAI_PROVIDERS]
        if not candidates:
            raise TargetNameError(
                f"target {spec}: openai targets need an OpenAI-compatible profile; write openai:MODEL@PROFILE"
            )
        base = candidates[0]
    profile = base.target_profile(name=str(spec))
    if spec.name != base.model:  # another model on that server: its own price, not the profile's
        profile["model"] = spec.name
        profile["input_price_per_mtok"] = profile["output_price_per_mtok"] = None
    return profile


def list_targets(config: Config, endpoints: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(target, what it is) for a picker: endpoints first, then every profile and its model."""
    rows = [(f"endpoint:{name}", "SageMaker endpoint") for name in endpoints]
    for name, profile in named_profiles(config).items():
        what = f"{profile.provider} {profile.model or profile.endpoint_name}"
        rows.append((f"profile:{name}", what))
        if profile.provider in OPENAI_PROVIDERS and name not in ("generator", "judge"):
            rows.append((f"openai:{profile.model}@{name}", f"{profile.model} on profile {name}'s server"))
    return rows

"""Builds the clients a session needs from its config: chat targets whose calls land in the store.

Every target shares the process-wide limiter of its account and model (core.llm.targets.
shared_limiter), so generation, scoring, regeneration, judging, the playground and rehearsals
split one budget instead of each spending all of it; processes on the same session (a headless run
and the TUI) split it through the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.config import Config, LlmProfile
    from core.llm.base import CallRecord, ChatTarget, OnCall
    from core.store import Store


class Services:
    """One per open session; used by the TUI and the headless verbs alike."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config

    def profile(self, role: str) -> LlmProfile:
        from core.llm.target_names import named_profiles

        profiles = named_profiles(self.config)
        if role not in profiles:
            raise ValueError(f"unknown LLM profile {role!r}; there are {', '.join(profiles)}")
        return profiles[role]

    def _recorder(self, run_id: int | None, endpoint_name: str = "") -> OnCall:
        store = self.store

        def record(call: CallRecord) -> None:
            store.record_llm_call(
                profile=call.profile,
                model=call.model,
                purpose=call.purpose or "",
                run_id=run_id,
                prompt_tokens=call.prompt_tokens,
                completion_tokens=call.completion_tokens,
                latency_ms=call.latency_s * 1000,
                cost_usd=call.cost_usd,
                error=call.error,
                priced=call.priced,
            )
            if endpoint_name:
                store.touch_endpoint(endpoint_name)

        return record

    def build(self, profile: dict[str, Any], *, run_id: int | None = None, endpoint_name: str = "") -> ChatTarget:
        """A target for a build_target profile, on its account's shared limiter, recording its calls."""
        from core.llm.targets import build_target, shared_limiter  # the back ends load when first used

        return build_target(
            profile,
            on_call=self._recorder(run_id, endpoint_name),
            aws=self.config.aws,
            limiter=shared_limiter(self._with_aws(profile), store=self.store),
            price_overrides=self.config.llm.prices,
        )

    def _with_aws(self, profile: dict[str, Any]) -> dict[str, Any]:
        if profile.get("provider") in ("bedrock", "sagemaker") and not profile.get("region"):
            return {**profile, "region": self.config.aws.region}
        return profile

    def chat_target(self, role: str, *, run_id: int | None = None) -> ChatTarget:
        """A ChatTarget for a named profile (`generator`, `judge` or an [llm.profiles.NAME])."""
        return self.build(self.profile(role).target_profile(name=role), run_id=run_id)

    def target(self, text: str, *, run_id: int | None = None) -> ChatTarget:
        """The target a name stands for (core.llm.target_names: endpoint:, profile:, openai:, bedrock:)."""
        from core.llm.target_names import parse_target, profile_for

        spec = parse_target(text)
        if spec.kind == "endpoint":
            return self.endpoint_target(spec.name, run_id=run_id)
        return self.build(profile_for(spec, self.config), run_id=run_id)

    def _endpoint_profile(self, endpoint_name: str) -> LlmProfile | None:
        """An [llm.profiles.NAME] with provider "sagemaker" for this endpoint: its prompt format and
        stop-sequence key ("stop" for TGI containers, "stop_sequences" for LMI)."""
        for profile in self.config.llm.profiles.values():
            if profile.provider == "sagemaker" and profile.endpoint_name == endpoint_name:
                return profile
        return None

    def endpoint_target(
        self, endpoint_name: str, *, run_id: int | None = None, max_concurrency: int = 8, timeout_s: float = 120.0
    ) -> ChatTarget:
        """A ChatTarget for a SageMaker endpoint, prompted the way the session recorded for it
        (an endpoint tunedeck did not deploy gets the messages API). Each call is recorded in the
        store and marks the endpoint as used (for the idle warning)."""
        from core.serving.endpoints import ENDPOINT_CUSTOM_ATTRIBUTES_EULA

        row = self.store.endpoint(endpoint_name)
        configured = self._endpoint_profile(endpoint_name)
        profile: dict[str, Any] = {
            "provider": "sagemaker",
            "endpoint_name": endpoint_name,
            "name": f"endpoint:{endpoint_name}",
            "prompt_format": row.prompt_format if row else "messages",
            "stop_key": configured.stop_key if configured is not None else "stop_sequences",
            "instruction_template": (row.instruction_template or "") if row else "",
            "custom_attributes": ENDPOINT_CUSTOM_ATTRIBUTES_EULA if row is not None and row.kind == "base" else "",
            "max_concurrency": max_concurrency,
            "timeout_s": timeout_s,
            "input_price_per_mtok": 0.0,  # an endpoint is paid by the hour (core.serving), not per call
            "output_price_per_mtok": 0.0,
        }
        if configured is not None:  # a profile for this endpoint in the config wins over what was recorded
            profile["prompt_format"] = configured.prompt_format
        from core.llm.sagemaker_endpoint import endpoint_settings

        profile.update(endpoint_settings(self.store, endpoint_name))  # chosen in the endpoints dialog: wins
        return self.build(profile, run_id=run_id, endpoint_name=endpoint_name if row is not None else "")

"""Builds the clients a session needs from its config: chat targets whose calls land in the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.config import Config, LlmProfile
    from core.llm.base import CallRecord, ChatTarget
    from core.store import Store


class Services:
    """One per open session; used by the TUI and the headless verbs alike."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config

    def profile(self, role: str) -> LlmProfile:
        if role == "generator":
            return self.config.llm.generator
        if role == "judge":
            return self.config.llm.judge
        raise ValueError(f"unknown LLM role {role!r}")

    def chat_target(self, role: str, *, run_id: int | None = None) -> ChatTarget:
        """A ChatTarget for the `generator` or `judge` profile, throttled per its rpm/tpm/concurrency."""
        from core.llm.targets import build_target  # the LLM back ends load when first used, not at start-up

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
            )

        return build_target(self.profile(role), name=role, on_call=record, aws=self.config.aws)

    def endpoint_target(
        self, endpoint_name: str, *, run_id: int | None = None, max_concurrency: int = 8, timeout_s: float = 120.0
    ) -> ChatTarget:
        """A ChatTarget for a SageMaker endpoint, prompted the way the session recorded for it
        (an endpoint tunedeck did not deploy gets the messages API). Each call is recorded in the
        store and marks the endpoint as used (for the idle warning)."""
        from core.llm.targets import build_target  # the LLM back ends load when first used, not at start-up
        from core.serving.endpoints import ENDPOINT_CUSTOM_ATTRIBUTES_EULA

        store = self.store
        row = store.endpoint(endpoint_name)
        profile: dict[str, Any] = {
            "provider": "sagemaker",
            "endpoint_name": endpoint_name,
            "name": f"endpoint:{endpoint_name}",
            "prompt_format": row.prompt_format if row else "messages",
            "instruction_template": (row.instruction_template or "") if row else "",
            "custom_attributes": ENDPOINT_CUSTOM_ATTRIBUTES_EULA if row is not None and row.kind == "base" else "",
            "max_concurrency": max_concurrency,
            "timeout_s": timeout_s,
        }

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
            )
            if row is not None:
                store.touch_endpoint(endpoint_name)

        return build_target(profile, on_call=record, aws=self.config.aws)

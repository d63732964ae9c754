"""Builds the clients a session needs from its config: chat targets whose calls land in the store."""
from __future__ import annotations

from typing import Any

from core.config import Config, LlmProfile
from core.store import Store


class Services:
    """One per open session; used by the TUI and the headless verbs alike."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config

    def profile(self, role: str) -> LlmProfile:
        if role not in ("generator", "judge"):
            raise ValueError(f"unknown LLM role {role!r}")
        return getattr(self.config.llm, role)

    def chat_target(self, role: str, *, run_id: int | None = None) -> Any:
        """A ChatTarget for the `generator` or `judge` profile, throttled per its rpm/tpm/concurrency."""
        from core.llm import build_target

        store = self.store

        def record(call) -> None:
            store.record_llm_call(
                profile=call.profile, model=call.model, purpose=call.purpose or "", run_id=run_id,
                prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
                latency_ms=call.latency_s * 1000, cost_usd=call.cost_usd, error=call.error,
            )

        return build_target(self.profile(role), name=role, on_call=record, aws=self.config.aws)

"""LLM emulator fixtures: one emulator per test session, reset before each test that asks for `llm`.

def test_x(llm):                      # an LlmEmulator, freshly reset
    client = openai_client(llm)       # real openai.OpenAI pointed at it, max_retries=0
    llm.faults.add("429", retry_after_ms=200)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

__all__ = ["llm_emulator", "llm", "openai_client", "async_openai_client"]

if TYPE_CHECKING:
    from collections.abc import Iterator

    from openai import AsyncOpenAI, OpenAI

    from core.sandbox.llm.server import LlmEmulator


@pytest.fixture(scope="session")
def llm_emulator() -> Iterator[LlmEmulator]:
    """The session's LLM emulator (started once). Prefer `llm`, which resets it first."""
    from core.sandbox.llm.server import LlmEmulator

    emulator = LlmEmulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def llm(llm_emulator: LlmEmulator) -> Iterator[LlmEmulator]:
    """The LLM emulator, reset: default settings, no limits, no faults, zero stats; no server
    capabilities or shared limiters remembered from an earlier test."""
    from core.llm import capabilities
    from core.llm.targets import forget_shared_limiters

    llm_emulator.reset()
    capabilities.forget_all()
    forget_shared_limiters()
    yield llm_emulator
    llm_emulator.reset()


def openai_client(llm: LlmEmulator, *, max_retries: int = 0, timeout: float = 10.0, **kwargs: Any) -> OpenAI:
    """A real openai.OpenAI client for the emulator (no retries unless asked)."""
    from openai import OpenAI

    return OpenAI(base_url=llm.base_url, api_key="test", max_retries=max_retries, timeout=timeout, **kwargs)


def async_openai_client(llm: LlmEmulator, *, max_retries: int = 0, timeout: float = 10.0, **kwargs: Any) -> AsyncOpenAI:
    """A real openai.AsyncOpenAI client for the emulator (no retries unless asked)."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=llm.base_url, api_key="test", max_retries=max_retries, timeout=timeout, **kwargs)

"""What an OpenAI-compatible server can do, found out with a few requests of a few tokens each.

    report = await probe(target)      # an OpenAITarget; each request goes through its limiter
    report.capabilities.json_mode     # "json_schema" | "json_object" | "prompt"
    report.rows()                     # (check, answer, detail) for `tunedeck llm check`

A `provider = "openai-compatible"` target probes on first use; the answer is cached for the
process (`cached` / `remember`), keyed by base URL and model. A probe whose very first chat request
fails raises FatalLLMError naming what the server said.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.llm.errors import FatalLLMError, LLMError

if TYPE_CHECKING:
    from core.llm.openai_api import OpenAITarget

JSON_MODES = ("json_schema", "json_object", "prompt")
PROBE_MAX_TOKENS = 8
_PROBE_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}
_ASK = [{"role": "user", "content": "Reply with the single word OK."}]


@dataclass
class Capabilities:
    json_mode: str = "json_schema"  # how JSON replies are asked for
    max_field: str = "max_completion_tokens"  # or "max_tokens"
    stream_usage: bool = True  # usage arrives in streams (else it is estimated)
    lists_models: bool | None = None  # None: not checked
    seed: bool | None = None  # None: not checked
    probed: bool = False


@dataclass
class ProbeReport:
    base_url: str
    model: str
    capabilities: Capabilities
    checks: list[tuple[str, str, str]] = field(default_factory=list)  # (check, answer, detail or what it said)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # None: the model has no known price

    def rows(self) -> list[tuple[str, str, str]]:
        return list(self.checks)


_cache: dict[tuple[str, str], Capabilities] = {}
_cache_lock = threading.Lock()


def cached(base_url: str, model: str) -> Capabilities | None:
    with _cache_lock:
        return _cache.get((base_url, model))


def remember(base_url: str, model: str, capabilities: Capabilities) -> None:
    with _cache_lock:
        _cache[(base_url, model)] = capabilities


def forget_all() -> None:
    """Drop every cached answer (tests; a server that was restarted with other settings)."""
    with _cache_lock:
        _cache.clear()


class _Probe:
    def __init__(self, target: OpenAITarget) -> None:
        self.target = target
        self.report = ProbeReport(target.base_url or "", target.model, Capabilities(probed=True))

    async def request(self, params: dict[str, Any], *, stream: bool = False) -> Any:
        target = self.target
        headers = target._auth_headers()
        completions = target._sdk().chat.completions.with_raw_response
        async with target.limiter.slot(40 + PROBE_MAX_TOKENS) as slot:
            try:
                raw = await completions.create(
                    model=target.model, messages=_ASK, temperature=1.0, extra_headers=headers, stream=stream, **params
                )
            except Exception as exc:
                converted = target._convert_error(exc)
                if converted is None:
                    raise
                raise converted from exc
            parsed = raw.parse()
            if stream:
                text, usage = "", None
                async for chunk in parsed:
                    if chunk.usage is not None:
                        usage = chunk.usage
                    for choice in chunk.choices or ():
                        if choice.delta is not None and choice.delta.content:
                            text += choice.delta.content
                self._count(usage)
                slot.record(self._tokens(usage))
                return text, usage
            self._count(parsed.usage)
            slot.record(self._tokens(parsed.usage))
            return parsed

    @staticmethod
    def _tokens(usage: Any) -> int | None:
        return None if usage is None else int(usage.prompt_tokens or 0) + int(usage.completion_tokens or 0)

    def _count(self, usage: Any) -> None:
        if usage is not None:
            self.report.prompt_tokens += int(usage.prompt_tokens or 0)
            self.report.completion_tokens += int(usage.completion_tokens or 0)

    def check(self, name: str, answer: str, detail: str = "") -> None:
        self.report.checks.append((name, answer, detail))

    async def run(self) -> ProbeReport:
        caps = self.report.capabilities
        await self._models(caps)
        await self._max_field(caps)
        await self._json(caps)
        await self._stream_usage(caps)
        await self._seed(caps)
        prices = self.target.prices
        if prices.known:
            self.report.cost_usd = prices.cost(self.report.prompt_tokens, self.report.completion_tokens)
        return self.report

    async def _models(self, caps: Capabilities) -> None:
        target = self.target
        try:
            page = await target._sdk().models.list(extra_headers=target._auth_headers())
            names = [m.id for m in page.data]
        except Exception as exc:
            caps.lists_models = False
            self.check("lists models", "no", _said(target, exc))
            return
        caps.lists_models = True
        listed = "listed" if target.model in names else f"not listed ({len(names)} others)"
        self.check("lists models", "yes", f"{target.model} {listed}")

    async def _max_field(self, caps: Capabilities) -> None:
        try:
            await self.request({"max_completion_tokens": PROBE_MAX_TOKENS})
        except LLMError as first:
            if first.status != 400:
                raise FatalLLMError(
                    f"probing {self.report.base_url} (model {self.target.model}): the server said: {first.message}",
                    status=first.status,
                ) from first
            try:
                await self.request({"max_tokens": PROBE_MAX_TOKENS})
            except LLMError as second:
                raise FatalLLMError(
                    f"probing {self.report.base_url} (model {self.target.model}): the server said: {second.message}",
                    status=second.status,
                ) from second
            caps.max_field = "max_tokens"
            self.check("max_completion_tokens", "no: max_tokens", first.message)
            return
        caps.max_field = "max_completion_tokens"
        self.check("max_completion_tokens", "yes", "")

    async def _json(self, caps: Capabilities) -> None:
        limit = {caps.max_field: 16}
        schema_format = {
            "type": "json_schema",
            "json_schema": {"name": "probe", "strict": True, "schema": _PROBE_SCHEMA},
        }
        try:
            await self.request({"response_format": schema_format, **limit})
        except LLMError as exc:
            if exc.status != 400:
                raise
            schema_said = exc.message
        else:
            caps.json_mode = "json_schema"
            self.check("response_format", "json_schema", "")
            return
        try:
            await self.request({"response_format": {"type": "json_object"}, **limit})
        except LLMError as exc:
            if exc.status != 400:
                raise
            caps.json_mode = "prompt"
            self.check("response_format", "none: schema in the prompt", exc.message)
            return
        caps.json_mode = "json_object"
        self.check("response_format", "json_object", schema_said)

    async def _stream_usage(self, caps: Capabilities) -> None:
        _text, usage = await self.request(
            {"stream_options": {"include_usage": True}, caps.max_field: PROBE_MAX_TOKENS}, stream=True
        )
        caps.stream_usage = usage is not None
        self.check("usage in streams", "yes" if usage is not None else "no: estimated", "")

    async def _seed(self, caps: Capabilities) -> None:
        replies = []
        for _ in range(2):
            completion = await self.request({"seed": 12345, caps.max_field: PROBE_MAX_TOKENS})
            replies.append(completion.choices[0].message.content if completion.choices else "")
        caps.seed = replies[0] == replies[1]
        self.check("seed", "honoured" if caps.seed else "ignored", "two seeded replies differ" if not caps.seed else "")


def _said(target: OpenAITarget, exc: BaseException) -> str:
    converted = target._convert_error(exc)
    return converted.message if converted is not None else type(exc).__name__


async def probe(target: OpenAITarget) -> ProbeReport:
    """Probe the target's server (about six requests of at most 16 tokens) and cache the answer."""
    report = await _Probe(target).run()
    remember(report.base_url, report.model, report.capabilities)
    return report

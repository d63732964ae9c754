"""What every chat target shares: result and call-record types, prices, and the call loop
(limiter, retries, JSON checking, cost, reporting). Providers implement two small methods."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from core.llm.errors import LLMError, OutputFormatError, as_llm_error, safe_message
from core.llm.json_reply import JsonReplyError, parse_and_validate, schema_instruction, unwrap_schema
from core.llm.throttle import AdaptiveLimiter, Slot

log = logging.getLogger(__name__)

Message = Mapping[str, str]


@dataclass(frozen=True)
class Prices:
    """USD per million tokens; `known=False` for a model with no known price (its calls are unpriced)."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    known: bool = True

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1_000_000


@dataclass
class ChatResult:
    text: str
    finish_reason: str  # "stop", "length", or what the server said
    prompt_tokens: int
    completion_tokens: int
    latency_s: float  # the successful attempt, dispatch to last byte
    cost_usd: float
    model: str
    parsed: Any = None  # the validated JSON value when json_schema was given
    usage_estimated: bool = False  # True where the server reported no usage (chars / 4)
    attempts: int = 1
    first_token_s: float | None = None  # streams: dispatch to first text

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class CallRecord:
    """One logical call (all its attempts), for the session store; `error` is safe to show."""

    profile: str
    provider: str
    model: str
    purpose: str
    ok: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    attempts: int = 1
    streamed: bool = False
    finish_reason: str | None = None
    usage_estimated: bool = False
    error: str | None = None
    error_kind: str | None = None
    status: int | None = None
    started_at: float = 0.0  # wall clock, seconds since the epoch
    priced: bool = True  # False: no price was known, cost_usd is not a real $0


OnCall = Callable[[CallRecord], None]


@dataclass
class Request:
    messages: list[dict[str, str]]
    temperature: float
    top_p: float
    max_tokens: int
    json_schema: dict | None = None
    seed: int | None = None
    stop: list[str] | None = None

    @property
    def schema(self) -> dict | None:
        return unwrap_schema(self.json_schema)[1] if self.json_schema else None

    def with_schema_instruction(self) -> list[dict[str, str]]:
        """Messages with the schema spelled out in the system prompt (for servers that cannot enforce it)."""
        assert self.schema is not None
        instruction = schema_instruction(self.schema)
        messages = [dict(m) for m in self.messages]
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = messages[0]["content"].rstrip() + "\n\n" + instruction
        else:
            messages.insert(0, {"role": "system", "content": instruction})
        return messages


@dataclass
class Reply:
    """What one provider attempt returns (or what a stream accumulates)."""

    text: str = ""
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    """ceil(chars / 4) per message content, plus the chat format's overhead (4 per message, 2 to
    prime the reply, as the OpenAI cookbook counts): what a rate limiter charges before a call."""
    return sum(estimate_tokens(str(m.get("content", ""))) + 4 for m in messages) + 2


def normalise_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    out = []
    for index, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant"):
            raise ValueError(f"message {index}: role must be system, user or assistant, not {role!r}")
        if not isinstance(content, str):
            raise ValueError(f"message {index}: content must be a string")
        out.append({"role": role, "content": content})
    if not out:
        raise ValueError("at least one message is needed")
    return out


def normalise_finish_reason(reason: object) -> str:
    value = str(reason or "stop").lower()
    if value in ("length", "max_tokens", "max_new_tokens", "model_length"):
        return "length"
    if value in ("stop", "end_turn", "eos_token", "eos", "stop_sequence", "stop_sequences", "complete"):
        return "stop"
    return value


@runtime_checkable
class ChatTarget(Protocol):
    provider: str
    model: str
    profile_name: str
    limiter: AdaptiveLimiter

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        json_schema: dict | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        purpose: str | None = None,
    ) -> ChatResult: ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        json_schema: dict | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        purpose: str | None = None,
    ) -> ChatStream: ...

    async def aclose(self) -> None: ...


class ChatStream:
    """`async for delta in stream:` text pieces; afterwards `stream.result` holds the ChatResult.

    Use `async with target.stream(...) as s:` (or `await s.aclose()`) when you may stop early, so
    the connection is released at once.
    """

    def __init__(self, source: Callable[[ChatStream], AsyncGenerator[str, None]]) -> None:
        self.result: ChatResult | None = None
        self._iterator = source(self)

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> str:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        await self._iterator.aclose()

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def text(self) -> str:
        """Drain the stream and return the whole text."""
        return "".join([delta async for delta in self])


class StreamState(Reply):
    """A Reply that a provider's stream fills in as chunks arrive."""


class TargetBase:
    """The call loop. Subclasses set `provider` and implement `_complete_once` and `_stream_once`."""

    provider = "base"
    supports_json_schema = False  # True where the server enforces a schema itself

    def __init__(
        self,
        *,
        model: str,
        profile_name: str = "",
        limiter: AdaptiveLimiter | None = None,
        prices: Prices | None = None,
        on_call: OnCall | None = None,
        purpose: str = "",
        json_retries: int = 1,
    ) -> None:
        self.model = model
        self.profile_name = profile_name or model
        self.limiter = limiter or AdaptiveLimiter.unlimited(name=self.profile_name)
        self.prices = prices or Prices()
        self.on_call = on_call
        self.purpose = purpose
        self.json_retries = json_retries

    # ---- provider hooks ------------------------------------------------------------------------

    async def _complete_once(self, request: Request) -> Reply:
        raise NotImplementedError

    def _stream_once(self, request: Request, state: StreamState) -> AsyncGenerator[str, None]:
        raise NotImplementedError

    def _convert_error(self, exc: BaseException) -> LLMError | None:
        """Provider exceptions to typed errors; None = not an LLM failure (a bug: let it raise)."""
        return as_llm_error(exc)

    async def aclose(self) -> None:
        return None

    # ---- shared loop ---------------------------------------------------------------------------

    def _request(
        self,
        messages: Sequence[Message],
        temperature: float,
        top_p: float,
        max_tokens: int,
        json_schema: dict | None,
        seed: int | None,
        stop: Sequence[str] | None,
    ) -> Request:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        return Request(
            messages=normalise_messages(messages),
            temperature=float(temperature),
            top_p=float(top_p),
            max_tokens=int(max_tokens),
            json_schema=json_schema,
            seed=seed,
            stop=list(stop) if stop else None,
        )

    def _estimate(self, request: Request) -> int:
        return self._prompt_estimate(request) + request.max_tokens

    async def _prepare(self) -> None:
        """Before a call takes a slot of the limiter (a capability probe goes through the limiter
        itself: inside a slot it would wait for a slot, and with every slot so held, forever)."""

    def _prompt_estimate(self, request: Request) -> int:
        return estimate_prompt_tokens(request.messages)

    def _usage(self, request: Request, reply: Reply) -> tuple[int, int, bool]:
        estimated = reply.prompt_tokens is None or reply.completion_tokens is None
        prompt = reply.prompt_tokens if reply.prompt_tokens is not None else self._prompt_estimate(request)
        completion = reply.completion_tokens if reply.completion_tokens is not None else estimate_tokens(reply.text)
        return prompt, completion, estimated

    def _report(self, record: CallRecord) -> None:
        if self.on_call is None:
            return
        try:
            self.on_call(record)
        except Exception:  # a broken recorder must not break the call
            log.exception("on_call callback failed")

    def _record(self, purpose: str | None, started_at: float, **fields: Any) -> CallRecord:
        return CallRecord(
            profile=self.profile_name,
            provider=self.provider,
            model=fields.pop("model", self.model),
            purpose=purpose if purpose is not None else self.purpose,
            started_at=started_at,
            priced=self.prices.known,
            **fields,
        )

    def _fail(
        self,
        exc: BaseException,
        purpose: str | None,
        started_at: float,
        attempts: int,
        streamed: bool,
        tokens: tuple[int, int] = (0, 0),
    ) -> BaseException:
        error = exc if isinstance(exc, LLMError) else (self._convert_error(exc) or exc)
        if isinstance(error, LLMError):
            attempts = max(attempts, error.attempts)
            status = error.status
        else:
            status = None
        self._report(
            self._record(
                purpose,
                started_at,
                ok=False,
                attempts=attempts,
                streamed=streamed,
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
                cost_usd=self.prices.cost(*tokens),
                error=safe_message(error),
                error_kind=type(error).__name__,
                status=status,
            )
        )
        return error

    def _check_json(self, request: Request, text: str, finish_reason: str) -> Any:
        try:
            return parse_and_validate(text, request.schema or {})
        except JsonReplyError as problem:
            hint = " (the reply was cut off at max_tokens)" if finish_reason == "length" else ""
            raise OutputFormatError(f"{problem}{hint}", text=text, finish_reason=finish_reason) from None

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        json_schema: dict | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        purpose: str | None = None,
    ) -> ChatResult:
        request = self._request(messages, temperature, top_p, max_tokens, json_schema, seed, stop)
        started_at = time.time()
        attempts = 0
        spent = [0, 0]
        latency = 0.0

        async def attempt(slot: Slot) -> Reply:
            nonlocal attempts, latency
            attempts += 1
            began = time.monotonic()
            try:
                reply = await self._complete_once(request)
            except LLMError:
                raise
            except Exception as exc:
                converted = self._convert_error(exc)
                if converted is None:
                    raise
                raise converted from exc
            latency = time.monotonic() - began
            prompt, completion, _ = self._usage(request, reply)
            slot.record(usage_tokens=prompt + completion, headers=reply.headers)
            return reply

        try:
            await self._prepare()
        except Exception as exc:
            raise self._fail(exc, purpose, started_at, 0, False) from None
        format_failures = 0
        while True:
            try:
                reply = await self.limiter.run(attempt, estimate_tokens=self._estimate(request))
            except Exception as exc:
                raise self._fail(exc, purpose, started_at, attempts, False, (spent[0], spent[1])) from None
            prompt, completion, estimated = self._usage(request, reply)
            spent[0] += prompt
            spent[1] += completion
            finish = normalise_finish_reason(reply.finish_reason)
            parsed = None
            if request.json_schema is not None:
                try:
                    parsed = self._check_json(request, reply.text, finish)
                except OutputFormatError as exc:
                    if format_failures < self.json_retries:
                        format_failures += 1
                        continue
                    exc.attempts, exc.exhausted = attempts, format_failures > 0
                    raise self._fail(exc, purpose, started_at, attempts, False, (spent[0], spent[1])) from None
            break
        result = ChatResult(
            text=reply.text,
            finish_reason=finish,
            prompt_tokens=spent[0],
            completion_tokens=spent[1],
            latency_s=latency,
            cost_usd=self.prices.cost(spent[0], spent[1]),
            model=reply.model or self.model,
            parsed=parsed,
            usage_estimated=estimated,
            attempts=attempts,
        )
        self._report(
            self._record(
                purpose,
                started_at,
                ok=True,
                model=result.model,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                latency_s=latency,
                cost_usd=result.cost_usd,
                attempts=attempts,
                finish_reason=finish,
                usage_estimated=estimated,
            )
        )
        return result

    def stream(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        json_schema: dict | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        purpose: str | None = None,
    ) -> ChatStream:
        request = self._request(messages, temperature, top_p, max_tokens, json_schema, seed, stop)
        return ChatStream(lambda sink: self._stream(request, purpose, sink))

    async def _stream(self, request: Request, purpose: str | None, sink: ChatStream) -> AsyncGenerator[str, None]:
        started_at = time.time()
        try:
            await self._prepare()
        except Exception as exc:
            raise self._fail(exc, purpose, started_at, 0, True) from None
        attempt = 0
        while True:
            attempt += 1
            state = StreamState()
            yielded = False
            first_token_s: float | None = None
            try:
                async with self.limiter.slot(self._estimate(request)) as slot:
                    began = time.monotonic()
                    try:
                        async with contextlib.aclosing(self._stream_once(request, state)) as deltas:
                            async for delta in deltas:
                                if not delta:
                                    continue
                                if first_token_s is None:
                                    first_token_s = time.monotonic() - began
                                state.text += delta
                                yielded = True
                                yield delta
                    except LLMError:
                        raise
                    except Exception as exc:
                        converted = self._convert_error(exc)
                        if converted is None:
                            raise
                        raise converted from exc
                    prompt, completion, estimated = self._usage(request, state)
                    slot.record(usage_tokens=prompt + completion, headers=state.headers)
                break
            except (GeneratorExit, asyncio.CancelledError):
                if yielded:  # the consumer stopped early; the tokens so far were still spent
                    spent = (self._prompt_estimate(request), estimate_tokens(state.text))
                    self._report(
                        self._record(
                            purpose,
                            started_at,
                            ok=False,
                            attempts=attempt,
                            streamed=True,
                            usage_estimated=True,
                            prompt_tokens=spent[0],
                            completion_tokens=spent[1],
                            cost_usd=self.prices.cost(*spent),
                            error="stopped before the end",
                            error_kind="Cancelled",
                        )
                    )
                raise
            except Exception as exc:
                if yielded:
                    if isinstance(exc, LLMError):
                        exc.retryable = False
                    raise self._fail(exc, purpose, started_at, attempt, True, self._usage(request, state)[:2]) from None
                try:
                    await self.limiter.backoff(exc, attempt)
                except Exception as final:
                    raise self._fail(final, purpose, started_at, attempt, True) from None
        latency = time.monotonic() - began
        finish = normalise_finish_reason(state.finish_reason)
        parsed = None
        if request.json_schema is not None:
            try:
                parsed = self._check_json(request, state.text, finish)
            except OutputFormatError as exc:
                exc.attempts = attempt
                raise self._fail(exc, purpose, started_at, attempt, True, (prompt, completion)) from None
        sink.result = ChatResult(
            text=state.text,
            finish_reason=finish,
            prompt_tokens=prompt,
            completion_tokens=completion,
            latency_s=latency,
            cost_usd=self.prices.cost(prompt, completion),
            model=state.model or self.model,
            parsed=parsed,
            usage_estimated=estimated,
            attempts=attempt,
            first_token_s=first_token_s,
        )
        self._report(
            self._record(
                purpose,
                started_at,
                ok=True,
                model=sink.result.model,
                prompt_tokens=prompt,
                completion_tokens=completion,
                latency_s=latency,
                cost_usd=sink.result.cost_usd,
                attempts=attempt,
                streamed=True,
                finish_reason=finish,
                usage_estimated=estimated,
            )
        )


__all__ = [
    "CallRecord",
    "ChatResult",
    "ChatStream",
    "ChatTarget",
    "Message",
    "OnCall",
    "Prices",
    "Reply",
    "Request",
    "StreamState",
    "TargetBase",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "normalise_finish_reason",
    "normalise_messages",
]

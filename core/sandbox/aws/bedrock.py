"""Bedrock Runtime's Converse and ConverseStream, answered by the emulator's text engine.

    POST /model/{modelId}/converse           -> JSON: output.message.content[].text, stopReason, usage, metrics
    POST /model/{modelId}/converse-stream    -> application/vnd.amazon.eventstream: messageStart,
                                                contentBlockDelta..., contentBlockStop, messageStop, metadata

Requests are validated the way Bedrock does (ValidationException, 400); a model id the emulator
does not serve is refused like an unknown one. A JSON Schema spelled out in the system prompt is
followed, as the models do, so a Bedrock judge returns verdicts the judge can read.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from core.sandbox.aws import eventstream
from core.sandbox.aws.errors import AwsError
from core.sandbox.llm import engine as llm_engine
from core.sandbox.llm.server import schema_in_prompt

if TYPE_CHECKING:
    from collections.abc import Iterator

PATH = re.compile(r"^/model/(.+)/(converse|converse-stream)$")
_PIECE = re.compile(r"\S+\s*|\s+")
_BEDROCK_MODEL = re.compile(r"^(?:[a-z]{2,7}\.)?(?:meta|anthropic|amazon|mistral|cohere|ai21|deepseek)\.[\w.:-]+$")


def route(path: str) -> tuple[str, str] | None:
    """(model id, "converse" | "converse-stream") for a Bedrock Runtime path, else None."""
    found = PATH.match(path)
    return (unquote(found.group(1)), found.group(2)) if found else None


def _validation(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def _messages(model: str, body: dict[str, Any]) -> list[dict[str, str]]:
    if not _BEDROCK_MODEL.match(model):
        raise _validation("The provided model identifier is invalid.")
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        raise _validation("A conversation must start with a user message.")
    messages = [
        {"role": "system", "content": b.get("text", "")} for b in body.get("system") or [] if isinstance(b, dict)
    ]
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            raise _validation(
                f"1 validation error detected: Value at 'messages.{index + 1}.member.role' failed to satisfy constraint"
            )
        blocks = turn.get("content") or []
        text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict))
        messages.append({"role": turn["role"], "content": text})
    if messages[-1]["role"] != "user":
        raise _validation("A conversation must end with a user message.")
    return messages


def _inference(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("inferenceConfig") or {}
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise _validation("The maximum tokens you requested exceeds the model limit or is below 1.")
    temperature = config.get("temperature", 0.5)
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1:
        raise _validation("temperature must be between 0 and 1")
    top_p = config.get("topP", 0.9)
    if not isinstance(top_p, (int, float)) or not 0 <= top_p <= 1:
        raise _validation("topP must be between 0 and 1")
    return {"max_tokens": max_tokens or 512, "temperature": float(temperature), "top_p": float(top_p)}


def answer(model: str, body: dict[str, Any]) -> tuple[str, str, int, int]:
    """(text, stopReason, input tokens, output tokens) for a Converse request body."""
    messages = _messages(model, body)
    settings = _inference(body)
    text = llm_engine.reply(
        messages,
        temperature=settings["temperature"],
        top_p=settings["top_p"],
        json_schema=schema_in_prompt(messages),
    )
    text, cut = llm_engine.truncate_to_tokens(text, settings["max_tokens"])
    return (
        text,
        "max_tokens" if cut else "end_turn",
        llm_engine.count_prompt_tokens(messages),
        llm_engine.count_tokens(text),
    )


def converse(model: str, raw: bytes) -> bytes:
    started = time.monotonic()
    text, stop, prompt, completion = answer(model, _body(raw))
    return json.dumps(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop,
            "usage": {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion},
            "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
        }
    ).encode()


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return eventstream.encode_message(
        {":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(payload).encode(),
    )


def converse_stream(model: str, raw: bytes, *, part_delay_s: float = 0.0) -> Iterator[bytes]:
    """The whole answer is decided (and validated) before the first event, as Bedrock does."""
    started = time.monotonic()
    text, stop, prompt, completion = answer(model, _body(raw))

    def events() -> Iterator[bytes]:
        yield _event("messageStart", {"role": "assistant"})
        for index, piece in enumerate(_PIECE.findall(text)):
            if index and part_delay_s > 0:
                time.sleep(part_delay_s)
            yield _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
        yield _event("contentBlockStop", {"contentBlockIndex": 0})
        yield _event("messageStop", {"stopReason": stop})
        usage = {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion}
        yield _event("metadata", {"usage": usage, "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)}})

    return events()


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise _validation("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _validation("The request body must be a JSON object.")
    return body

"""Request and response formats of the LMI (DJL) container JumpStart deploys Llama 3.x with.

* `{"inputs": str, "parameters": {...}}` -> `{"generated_text": str}`; streamed as JSON lines
  `{"token": {"id", "text", "log_prob", "special_token"}}`, the last line also carrying `generated_text`.
* `{"messages": [...], ...}` -> an OpenAI `chat.completion`; streamed as `chat.completion.chunk` lines.

Sampling parameters of the `inputs` style only apply with `"do_sample": true` (LMI <= 0.31).
Streaming needs `"stream": true` in the body; without it a response stream carries the plain JSON body.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.sandbox.llm.engine import Training

# Where the simulated trainer's loss curves start and level off (core.sandbox.aws.curves), for reading fit.
UNTRAINED_LOSS = 2.05
GENERAL_FLOOR = 1.02
MEMORY_GAP = 1.86  # train/eval gap per unit memorised: eval rises 0.9, train falls about 0.96
DEFAULT_PROMPT_FIELDS = ("instruction", "context")
DEFAULT_COMPLETION_FIELDS = ("response",)
CHAT_KEYS = ("dialog", "messages", "conversations")

INPUTS_STYLE = "inputs"
MESSAGES_STYLE = "messages"
DEFAULT_MAX_NEW_TOKENS = 30  # LMI's default for the inputs style
DEFAULT_MAX_TOKENS = 1024
MODEL_NAME = "/opt/ml/model"

_HEADER = re.compile(r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\n\n(.*?)(?:<\|eot_id\|>|$)", re.S)
_INSTRUCTION = re.compile(r"### Instruction:\s*\n(.*?)(?:\n\s*### Input:\s*\n(.*?))?(?:\n\s*### Response:.*)?$", re.S)
_TOKEN = re.compile(r"\S+\s*|\s+")


class LmiError(Exception):
    """A request the model server rejects (the runtime wraps it into ModelError)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class LmiRequest:
    style: str
    messages: list[dict[str, str]]
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    json_schema: dict | None = None
    inputs: str = ""
    return_full_text: bool = False
    details: bool = False
    model: str = MODEL_NAME
    include_usage: bool = False


def tokens(text: str) -> list[str]:
    """A word-piece-like split whose concatenation is the text."""
    return _TOKEN.findall(text)


def messages_from_prompt(prompt: str) -> list[dict[str, str]]:
    """Recover chat messages from a Llama 3 chat template, an instruction template, or plain text."""
    text = prompt.replace("<|begin_of_text|>", "")
    turns = [(role, content.strip()) for role, content in _HEADER.findall(text)]
    turns = [(role, content) for role, content in turns if content or role != "assistant"]
    if turns:
        return [{"role": role, "content": content} for role, content in turns if content]
    found = _INSTRUCTION.search(text)
    if found:
        instruction = found.group(1).strip()
        context = (found.group(2) or "").strip()
        return [{"role": "user", "content": f"{instruction}\n\n{context}" if context else instruction}]
    text = re.sub(r"\n*### Response:\s*$", "", text)
    return [{"role": "user", "content": text.strip()}]


def _number(value: Any, name: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LmiError(400, f"Invalid value for parameter '{name}': {value!r}")
    return float(value)


def _schema(response_format: Any) -> dict | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        return spec.get("schema") if isinstance(spec, dict) else None
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    return None


def parse_request(body: bytes) -> LmiRequest:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LmiError(400, f"Failed to parse the request body as JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise LmiError(400, "Invalid request body: expected a JSON object")
    stream = bool(payload.get("stream", False))
    if "messages" in payload:
        messages = payload["messages"]
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("content", ""), str) for m in messages
        ):
            raise LmiError(400, "Invalid 'messages': expected a list of {role, content} objects")
        stop = payload.get("stop") or []
        stream_options = payload.get("stream_options") or {}
        return LmiRequest(
            style=MESSAGES_STYLE,
            messages=[{"role": str(m.get("role", "user")), "content": m.get("content", "")} for m in messages],
            temperature=_number(payload.get("temperature"), "temperature", 1.0),
            top_p=_number(payload.get("top_p"), "top_p", 1.0),
            max_tokens=int(_number(payload.get("max_tokens"), "max_tokens", DEFAULT_MAX_TOKENS)),
            seed=None if payload.get("seed") is None else int(_number(payload.get("seed"), "seed", 0)),
            stop=[stop] if isinstance(stop, str) else [str(s) for s in stop],
            stream=stream,
            json_schema=_schema(payload.get("response_format")),
            model=str(payload.get("model") or MODEL_NAME),
            include_usage=bool(isinstance(stream_options, dict) and stream_options.get("include_usage")),
        )
    if "inputs" in payload:
        inputs = payload["inputs"]
        if not isinstance(inputs, str):
            raise LmiError(400, "Invalid 'inputs': expected a string")
        params = payload.get("parameters") or {}
        if not isinstance(params, dict):
            raise LmiError(400, "Invalid 'parameters': expected an object")
        sampling = bool(params.get("do_sample", False))
        stop = params.get("stop_sequences") or params.get("stop") or []
        return LmiRequest(
            style=INPUTS_STYLE,
            messages=messages_from_prompt(inputs),
            temperature=_number(params.get("temperature"), "temperature", 1.0) if sampling else 0.0,
            top_p=_number(params.get("top_p"), "top_p", 1.0) if sampling else 1.0,
            max_tokens=int(_number(params.get("max_new_tokens"), "max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
            seed=None if params.get("seed") is None else int(_number(params.get("seed"), "seed", 0)),
            stop=[stop] if isinstance(stop, str) else [str(s) for s in stop],
            stream=stream,
            json_schema=_schema(params.get("response_format") or payload.get("response_format")),
            inputs=inputs,
            return_full_text=bool(params.get("return_full_text", False)),
            details=bool(params.get("details", False)),
        )
    raise LmiError(400, "Invalid request: the body must contain 'inputs' or 'messages'")


@dataclass
class Generation:
    pieces: list[str]
    finish_reason: str
    prompt_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def count_tokens(text: str) -> int:
    """Token estimate shared with the LLM emulator: ceil(characters / 4)."""
    return -(-len(text) // 4)


def finish(request: LmiRequest, reply: str) -> Generation:
    """Apply stop sequences and max tokens to the engine's reply."""
    finish_reason = "eos_token"
    for stop in request.stop:
        if stop and stop in reply:
            reply = reply[: reply.index(stop)]
            finish_reason = "stop_sequence"
    limit = max(0, request.max_tokens)
    if count_tokens(reply) > limit:
        reply = reply[: limit * 4]
    if finish_reason == "eos_token" and reply and count_tokens(reply) >= limit:
        finish_reason = "length"
    prompt_tokens = sum(count_tokens(m.get("content", "")) + 4 for m in request.messages) + 2
    return Generation(pieces=tokens(reply), finish_reason=finish_reason, prompt_tokens=prompt_tokens)


def _token_id(piece: str) -> int:
    return int.from_bytes(hashlib.sha1(piece.encode()).digest()[:4], "big") % 128000


def _log_prob(piece: str, index: int) -> float:
    return -round(random.Random(f"{piece}\x1f{index}").uniform(0.0, 1.2), 4)


def _details(request: LmiRequest, gen: Generation) -> dict:
    return {"finish_reason": gen.finish_reason, "generated_tokens": count_tokens(gen.text), "inputs": request.inputs}


def _completion(request: LmiRequest, gen: Generation, completion_id: str, created: int) -> dict:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": gen.text},
                "logprobs": None,
                "finish_reason": gen.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": count_tokens(gen.text),
            "total_tokens": gen.prompt_tokens + count_tokens(gen.text),
        },
    }


def render_body(request: LmiRequest, gen: Generation) -> tuple[str, bytes]:
    """Content type and bytes of a complete (non-streamed) response."""
    if request.stream:
        return "application/jsonlines", b"".join(stream_lines(request, gen))
    if request.style == MESSAGES_STYLE:
        body = _completion(request, gen, f"chatcmpl-{uuid.uuid4().hex}", int(time.time()))
    else:
        text = (request.inputs + gen.text) if request.return_full_text else gen.text
        body = {"generated_text": text}
        if request.details:
            body["details"] = _details(request, gen)
    return "application/json", json.dumps(body, ensure_ascii=False).encode()


def stream_lines(request: LmiRequest, gen: Generation) -> list[bytes]:
    """The JSON lines a streaming LMI response is made of (each ending in a newline)."""
    lines: list[dict] = []
    if request.style == MESSAGES_STYLE:
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(delta: dict, finish_reason: str | None = None) -> dict:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": request.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }

        lines.append(chunk({"role": "assistant", "content": ""}))
        lines.extend(chunk({"content": piece}) for piece in gen.pieces)
        last = chunk({}, gen.finish_reason)
        if request.include_usage:
            last["usage"] = _completion(request, gen, completion_id, created)["usage"]
        lines.append(last)
    else:
        pieces = gen.pieces or [""]
        for index, piece in enumerate(pieces):
            line: dict[str, Any] = {
                "token": {
                    "id": _token_id(piece),
                    "text": piece,
                    "log_prob": _log_prob(piece, index),
                    "special_token": False,
                }
            }
            if index == len(pieces) - 1:
                line["generated_text"] = (request.inputs + gen.text) if request.return_full_text else gen.text
                if request.details:
                    line["details"] = _details(request, gen)
            lines.append(line)
    return [json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines]


def split_arbitrarily(data: bytes, seed: int, mean_part: int = 40) -> list[bytes]:
    """Cut bytes at arbitrary places (not at line or UTF-8 character boundaries) into several parts."""
    if len(data) <= 1:
        return [data]
    rng = random.Random(seed)
    cuts: set[int] = set()
    position = 0
    while True:
        position += rng.randint(1, max(2, 2 * mean_part))
        if position >= len(data):
            break
        cuts.add(position)
    # make sure at least one cut falls inside a multi-byte UTF-8 character, if there is one
    for index, byte in enumerate(data):
        if byte >= 0xC0 and index + 1 < len(data):
            cuts.add(index + 1)
            break
    if not cuts:
        cuts.add(len(data) // 2)
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


# -- what a fine-tuned model learned -----------------------------------------------------------------


def fit_from_losses(train_loss: float, eval_loss: float) -> tuple[float, float]:
    """(fit, memorised), each 0..1, from the last epoch's losses the trainer printed.

    The gap between eval and train loss is memorisation; what is left of the eval loss once that is
    taken out is how far general learning got from the untrained loss towards the floor.
    """
    memo = max(0.0, eval_loss - train_loss) / MEMORY_GAP
    general = eval_loss - 0.9 * memo
    fit = (UNTRAINED_LOSS - general) / (UNTRAINED_LOSS - GENERAL_FLOOR)
    return round(min(1.0, max(0.0, fit)), 4), round(min(1.0, max(0.0, memo / 0.6)), 4)


def _fields(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError:
        return []


def training_examples(files: dict[str, bytes]) -> list[tuple[str, str]]:
    """(question, answer) pairs of a JumpStart dataset channel: instruction format with its template.json, or
    chat records ("dialog" and the like). Unreadable lines are skipped, as the model never saw them."""
    prompt_fields, completion_fields = list(DEFAULT_PROMPT_FIELDS), list(DEFAULT_COMPLETION_FIELDS)
    template_key = next((k for k in files if k.rsplit("/", 1)[-1] == "template.json"), None)
    if template_key is not None:
        try:
            template = json.loads(files[template_key].decode("utf-8", "replace"))
        except ValueError:
            template = None
        if isinstance(template, dict):
            prompt_fields = _fields(str(template.get("prompt", ""))) or prompt_fields
            completion_fields = _fields(str(template.get("completion", ""))) or completion_fields
    examples: list[tuple[str, str]] = []
    for key in sorted(k for k in files if k.endswith((".jsonl", ".json"))):
        if key == template_key:
            continue
        for line in files[key].decode("utf-8", "replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            dialog = next((record[k] for k in CHAT_KEYS if isinstance(record.get(k), list)), None)
            if dialog is not None:
                turns = [t for t in dialog if isinstance(t, dict)]
                for ask, say in zip(turns, turns[1:], strict=False):
                    if ask.get("role") == "user" and say.get("role") == "assistant":
                        examples.append((str(ask.get("content", "")), str(say.get("content", ""))))
                continue
            question = "\n\n".join(str(record[f]) for f in prompt_fields if record.get(f))
            answer = "\n\n".join(str(record[f]) for f in completion_fields if record.get(f))
            if question and answer:
                examples.append((question, answer))
    return examples


def training_of(files: dict[str, bytes] | None, train_loss: float, eval_loss: float) -> Training:
    fit, memorised = fit_from_losses(train_loss, eval_loss)
    return Training.of(training_examples(files or {}), fit, memorised)

"""SageMaker real-time endpoint target (JumpStart Llama 3.x on the LMI container), boto3 in threads.

Prompt formats:
- "messages": an OpenAI-style chat payload; the reply is a chat.completion (stream: chunk lines).
- "llama3-chat": `{"inputs": <Llama 3 chat template>, "parameters": {...}}`; the reply is
  `{"generated_text": ...}` (stream: `{"token": {"text": ...}}` lines, the last with generated_text).
- "instruction": as llama3-chat, but the prompt is the JumpStart instruction template plus
  "\n\n### Response:\n" (models fine-tuned with instruction_tuned=True).

Sampling parameters only take effect on LMI with `do_sample: true`, so temperature 0 means greedy
decoding (do_sample false, no temperature/top_p sent). Stop words go in `stop_sequences` (LMI's
name; TGI containers call it `stop`: pass stop_key="stop"). `details: true` asks for the finish
reason and the generated token count. Streams arrive as PayloadPart events whose
boundaries are arbitrary: JsonLinesDecoder buffers bytes and yields whole JSON lines.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.llm.aws import AwsClientFactory, aws_error, is_end, stream_event_error
from core.llm.base import Reply, Request, StreamState, TargetBase, estimate_tokens
from core.llm.errors import LLMError, ModelError, lower_headers, safe_message
from core.llm.prompt_formats import (
    DEFAULT_INSTRUCTION_PROMPT,
    EOT,
    instruction_prompt,
    llama3_chat_prompt,
    strip_end_of_turn,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

PROMPT_FORMATS = ("messages", "llama3-chat", "instruction")
STOP_KEYS = ("stop", "stop_sequences")  # TGI containers, LMI containers (as core.config.STOP_KEYS)
PROMPT_FORMAT_LABELS = {
    "messages": "messages: the chat messages API (LMI and TGI Messages)",
    "llama3-chat": "llama3-chat: inputs in the Llama 3 chat template",
    "instruction": "instruction: inputs in the JumpStart instruction template (instruction-tuned fine-tunes)",
}
STOP_KEY_LABELS = {
    "stop": "stop: TGI containers",
    "stop_sequences": "stop_sequences: LMI (DJL) containers",
}
_SETTINGS_META = "endpoint_settings:"


def endpoint_settings(store: Any, endpoint_name: str) -> dict[str, str]:
    """The prompt format and stop-sequence key chosen for an endpoint in the endpoints dialog
    (stored per endpoint in the session; they win over the config and what the deployment recorded)."""
    chosen = store.get_meta(_SETTINGS_META + endpoint_name, {})
    if not isinstance(chosen, dict):
        return {}
    settings = {}
    if chosen.get("prompt_format") in PROMPT_FORMATS:
        settings["prompt_format"] = str(chosen["prompt_format"])
    if chosen.get("stop_key") in STOP_KEYS:
        settings["stop_key"] = str(chosen["stop_key"])
    return settings


def set_endpoint_settings(
    store: Any, endpoint_name: str, *, prompt_format: str | None = None, stop_key: str | None = None
) -> dict[str, str]:
    """Store an endpoint's prompt format and/or stop-sequence key; returns all its stored settings.
    Raises ValueError naming the bad value."""
    if prompt_format is not None and prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"prompt format must be one of {', '.join(PROMPT_FORMATS)}, not {prompt_format!r}")
    if stop_key is not None and stop_key not in STOP_KEYS:
        raise ValueError(f"stop key must be one of {', '.join(STOP_KEYS)}, not {stop_key!r}")
    settings = endpoint_settings(store, endpoint_name)
    if prompt_format is not None:
        settings["prompt_format"] = prompt_format
    if stop_key is not None:
        settings["stop_key"] = stop_key
    store.set_meta(_SETTINGS_META + endpoint_name, settings)
    return settings


class JsonLinesDecoder:
    """Bytes in, whole JSON values out. Tolerates chunks split mid-line and mid-UTF-8 character,
    `data:` prefixes (server-sent events), blank lines, SSE comments and `[DONE]`."""

    def __init__(self, *, what: str = "endpoint") -> None:
        self._buffer = bytearray()
        self._what = what

    def feed(self, chunk: bytes) -> list[Any]:
        self._buffer.extend(chunk)
        values: list[Any] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return values
            line = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            self._decode(line, values)

    def flush(self) -> list[Any]:
        """Whatever is left once the stream ends (a last line without a newline)."""
        values: list[Any] = []
        if self._buffer:
            line = bytes(self._buffer)
            self._buffer.clear()
            self._decode(line, values)
        return values

    def _decode(self, raw: bytes, values: list[Any]) -> None:
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ModelError(f"{self._what} sent a stream line that is not UTF-8") from None
        if not line or line.startswith(":") or line.startswith(("event:", "id:", "retry:")):
            return
        if line.startswith("data:"):
            line = line[5:].strip()
            if not line or line == "[DONE]":
                return
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError:
            raise ModelError(
                f"{self._what} sent a stream line that is not JSON: {safe_message(line, limit=120)}"
            ) from None


class SageMakerEndpointTarget(TargetBase):
    provider = "sagemaker"

    def __init__(
        self,
        *,
        endpoint_name: str,
        prompt_format: str = "messages",
        model: str = "",
        region: str | None = None,
        aws_profile: str | None = None,
        endpoint_url: str | None = None,
        timeout_s: float = 60.0,
        instruction_template: str | None = None,
        custom_attributes: str | None = None,
        inference_component: str | None = None,
        stop_key: str = "stop_sequences",
        client: Any = None,
        **base: Any,
    ) -> None:
        if prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"unknown prompt_format {prompt_format!r}; expected one of {', '.join(PROMPT_FORMATS)}")
        super().__init__(model=model or endpoint_name, **base)
        self.endpoint_name = endpoint_name
        self.prompt_format = prompt_format
        self.instruction_template = instruction_template or DEFAULT_INSTRUCTION_PROMPT
        self.custom_attributes = custom_attributes
        self.inference_component = inference_component
        self.stop_key = stop_key
        self._clients = AwsClientFactory(
            "sagemaker-runtime",
            region=region,
            aws_profile=aws_profile,
            endpoint_url=endpoint_url,
            timeout_s=timeout_s,
            client=client,
            max_workers=self.limiter.config.max_concurrency * 2 + 2,
        )

    @property
    def _what(self) -> str:
        return f"SageMaker endpoint {self.endpoint_name}"

    # ---- payloads ------------------------------------------------------------------------------

    def prompt_text(self, request: Request) -> str:
        messages = request.with_schema_instruction() if request.json_schema is not None else request.messages
        if self.prompt_format == "llama3-chat":
            return llama3_chat_prompt(messages)
        return instruction_prompt(messages, self.instruction_template)

    def _prompt_estimate(self, request: Request) -> int:
        if self.prompt_format == "messages":
            return super()._prompt_estimate(request)
        return estimate_tokens(self.prompt_text(request))

    def payload(self, request: Request, *, stream: bool) -> dict[str, Any]:
        if self.prompt_format == "messages":
            messages = request.with_schema_instruction() if request.json_schema is not None else request.messages
            body: dict[str, Any] = {
                "messages": messages,
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "top_p": request.top_p,
            }
            if request.stop:
                body["stop"] = request.stop
            if request.seed is not None:
                body["seed"] = request.seed
        else:
            parameters: dict[str, Any] = {
                "max_new_tokens": request.max_tokens,
                "do_sample": request.temperature > 0,
                "details": True,
            }
            if request.temperature > 0:
                parameters["temperature"] = request.temperature
                parameters["top_p"] = request.top_p
            stop = list(request.stop or [])
            if self.prompt_format == "llama3-chat" and EOT not in stop:
                stop.append(EOT)
            if stop:
                parameters[self.stop_key] = stop
            if request.seed is not None:
                parameters["seed"] = request.seed
            body = {"inputs": self.prompt_text(request), "parameters": parameters}
        if stream:
            body["stream"] = True
            if self.prompt_format == "messages":
                body["stream_options"] = {"include_usage": True}
        return body

    def _invoke_args(self, request: Request, *, stream: bool) -> dict[str, Any]:
        args: dict[str, Any] = {
            "EndpointName": self.endpoint_name,
            "Body": json.dumps(self.payload(request, stream=stream), ensure_ascii=False).encode("utf-8"),
            "ContentType": "application/json",
            "Accept": "application/jsonlines" if stream and self.prompt_format != "messages" else "application/json",
        }
        if self.custom_attributes:
            args["CustomAttributes"] = self.custom_attributes
        if self.inference_component:
            args["InferenceComponentName"] = self.inference_component
        return args

    # ---- replies -------------------------------------------------------------------------------

    def parse_body(self, data: Any) -> Reply:
        if isinstance(data, list) and data:
            data = data[0]
        if not isinstance(data, dict):
            raise ModelError(f"{self._what} returned an unexpected body")
        if "error" in data and "generated_text" not in data and "choices" not in data:
            raise ModelError(
                f"{self._what} returned an error: {safe_message(data.get('error'), limit=300)}",
                status=int(data["code"]) if str(data.get("code", "")).isdigit() else None,
            )
        if self.prompt_format == "messages" or "choices" in data:
            choices = data.get("choices") or []
            if not choices:
                raise ModelError(f"{self._what} returned no choices")
            message = choices[0].get("message") or {}
            usage = data.get("usage") or {}
            return Reply(
                text=message.get("content") or "",
                finish_reason=choices[0].get("finish_reason") or "stop",
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
            )
        if "generated_text" not in data:
            raise ModelError(f"{self._what} returned a body without generated_text")
        details = data.get("details") or {}
        return Reply(
            text=strip_end_of_turn(str(data["generated_text"])),
            finish_reason=details.get("finish_reason") or "stop",
            completion_tokens=details.get("generated_tokens"),
        )

    async def _complete_once(self, request: Request) -> Reply:
        client = await self._clients.get()
        response = await self._clients.run(client.invoke_endpoint, **self._invoke_args(request, stream=False))
        raw = await self._clients.run(response["Body"].read)
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelError(f"{self._what} returned a body that is not JSON: {safe_message(raw[:120])}") from None
        reply = self.parse_body(data)
        reply.headers = lower_headers((response.get("ResponseMetadata") or {}).get("HTTPHeaders"))
        return reply

    def handle_stream_value(self, value: Any, state: StreamState) -> str:
        """One decoded stream line: update `state`, return the text delta ('' if none)."""
        if not isinstance(value, dict):
            return ""
        if "choices" in value or value.get("object") == "chat.completion.chunk":
            usage = value.get("usage") or {}
            if usage:
                state.prompt_tokens = usage.get("prompt_tokens", state.prompt_tokens)
                state.completion_tokens = usage.get("completion_tokens", state.completion_tokens)
            text = ""
            for choice in value.get("choices") or []:
                if choice.get("finish_reason"):
                    state.finish_reason = choice["finish_reason"]
                text += (choice.get("delta") or {}).get("content") or ""
            return text
        details = value.get("details") or {}
        if details.get("finish_reason") == "error" or ("error" in value and "token" not in value):
            raise ModelError(
                f"{self._what} failed mid-stream: {safe_message(value.get('error') or 'error', limit=200)}"
            )
        if details.get("finish_reason"):
            state.finish_reason = details["finish_reason"]
        if details.get("generated_tokens") is not None:
            state.completion_tokens = details["generated_tokens"]
        token = value.get("token") or {}
        text = token.get("text") or ""
        if token.get("special") or token.get("special_token") or text == EOT:
            return ""
        return text

    async def _stream_once(self, request: Request, state: StreamState) -> AsyncGenerator[str, None]:
        client = await self._clients.get()
        response = await self._clients.run(
            client.invoke_endpoint_with_response_stream, **self._invoke_args(request, stream=True)
        )
        state.headers = lower_headers((response.get("ResponseMetadata") or {}).get("HTTPHeaders"))
        events = response["Body"]
        iterator = iter(events)
        decoder = JsonLinesDecoder(what=self._what)
        try:
            while True:
                event = await self._clients.next_item(iterator)
                if is_end(event):
                    values = decoder.flush()
                else:
                    values = self._event_values(event, decoder)
                for value in values:
                    text = self.handle_stream_value(value, state)
                    if text:
                        yield text
                if is_end(event):
                    break
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                await self._clients.run(close)

    def _event_values(self, event: dict, decoder: JsonLinesDecoder) -> list[Any]:
        if "PayloadPart" in event:
            return decoder.feed((event["PayloadPart"] or {}).get("Bytes") or b"")
        for key in ("ModelStreamError", "InternalStreamFailure"):
            if key in event:
                body = event[key] or {}
                code = body.get("ErrorCode") or key
                raise stream_event_error(key, f"{code}: {body.get('Message') or ''}", what=self._what)
        return []

    async def aclose(self) -> None:
        self._clients.shutdown()

    def _convert_error(self, exc: BaseException) -> LLMError | None:
        return aws_error(exc, what=self._what)

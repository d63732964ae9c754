"""Amazon Bedrock chat target: the Converse and ConverseStream APIs through boto3, in worker threads.

Converse cannot enforce a JSON schema, so the schema goes into the system prompt and the reply
is validated (and retried once) by the shared call loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.llm.aws import AwsClientFactory, aws_error, is_end, stream_event_error
from core.llm.base import Reply, Request, StreamState, TargetBase
from core.llm.errors import LLMError, lower_headers

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator


class BedrockTarget(TargetBase):
    provider = "bedrock"

    def __init__(
        self,
        *,
        model: str,
        region: str | None = None,
        aws_profile: str | None = None,
        endpoint_url: str | None = None,
        timeout_s: float = 60.0,
        client: Any = None,
        **base: Any,
    ) -> None:
        super().__init__(model=model, **base)
        self._clients = AwsClientFactory(
            "bedrock-runtime",
            region=region,
            aws_profile=aws_profile,
            endpoint_url=endpoint_url,
            timeout_s=timeout_s,
            client=client,
            max_workers=self.limiter.config.max_concurrency * 2 + 2,
        )

    def converse_args(self, request: Request) -> dict[str, Any]:
        messages = request.with_schema_instruction() if request.json_schema is not None else request.messages
        system = [{"text": m["content"]} for m in messages if m["role"] == "system"]
        turns = [{"role": m["role"], "content": [{"text": m["content"]}]} for m in messages if m["role"] != "system"]
        inference: dict[str, Any] = {"maxTokens": request.max_tokens, "temperature": request.temperature}
        if request.top_p < 1.0:  # some models refuse temperature and topP together; 1.0 is the default anyway
            inference["topP"] = request.top_p
        if request.stop:
            inference["stopSequences"] = request.stop
        args: dict[str, Any] = {"modelId": self.model, "messages": turns, "inferenceConfig": inference}
        if system:
            args["system"] = system
        return args

    async def _complete_once(self, request: Request) -> Reply:
        client = await self._clients.get()
        response = await self._clients.run(client.converse, **self.converse_args(request))
        meta = response.get("ResponseMetadata") or {}
        blocks = ((response.get("output") or {}).get("message") or {}).get("content") or []
        usage = response.get("usage") or {}
        return Reply(
            text="".join(block.get("text", "") for block in blocks if isinstance(block, dict)),
            finish_reason=response.get("stopReason") or "stop",
            prompt_tokens=usage.get("inputTokens"),
            completion_tokens=usage.get("outputTokens"),
            headers=lower_headers(meta.get("HTTPHeaders")),
        )

    async def _stream_once(self, request: Request, state: StreamState) -> AsyncGenerator[str, None]:
        client = await self._clients.get()
        response = await self._clients.run(client.converse_stream, **self.converse_args(request))
        state.headers = lower_headers((response.get("ResponseMetadata") or {}).get("HTTPHeaders"))
        events = response["stream"]
        iterator = iter(events)
        try:
            while True:
                event = await self._clients.next_item(iterator)
                if is_end(event):
                    break
                if "contentBlockDelta" in event:
                    text = ((event["contentBlockDelta"].get("delta") or {}).get("text")) or ""
                    if text:
                        yield text
                elif "messageStop" in event:
                    state.finish_reason = event["messageStop"].get("stopReason") or "stop"
                elif "metadata" in event:
                    usage = event["metadata"].get("usage") or {}
                    state.prompt_tokens = usage.get("inputTokens", state.prompt_tokens)
                    state.completion_tokens = usage.get("outputTokens", state.completion_tokens)
                else:
                    for key, body in event.items():
                        if key.endswith("Exception"):
                            detail = (body or {}).get("message") or key if isinstance(body, dict) else key
                            raise stream_event_error(key, str(detail), what=f"Bedrock model {self.model}")
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                await self._clients.run(close)

    async def aclose(self) -> None:
        self._clients.shutdown()

    def _convert_error(self, exc: BaseException) -> LLMError | None:
        return aws_error(exc, what=f"Bedrock model {self.model}")

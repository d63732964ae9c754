"""OpenAI-compatible chat target: OpenAI, Azure OpenAI (v1 base_url), and any openai-compatible
server (vLLM, the llama.cpp server, Ollama, LM Studio, LiteLLM, TGI's Messages API), whose
capabilities are probed on first use (core.llm.capabilities) and stepped down when it refuses one.

The SDK's own retries are off (`max_retries=0`): waiting is coordinated by the limiter. The API
key is read from the named environment variable for each request and sent as a request header;
the client itself only holds a placeholder.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from core.llm import capabilities
from core.llm.base import Reply, Request, StreamState, TargetBase
from core.llm.capabilities import Capabilities
from core.llm.errors import FatalLLMError, LLMError, TransientLLMError, error_for_status, lower_headers, safe_message
from core.llm.json_reply import unwrap_schema

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

KINDS = ("openai", "azure", "openai-compatible")
_PLACEHOLDER_KEY = "set-per-request"


class OpenAITarget(TargetBase):
    provider = "openai"

    def __init__(
        self,
        *,
        model: str,
        kind: str = "",
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        json_schema_supported: bool | None = None,
        timeout_s: float = 60.0,
        http_client: Any = None,
        **base: Any,
    ) -> None:
        super().__init__(model=model, **base)
        self.kind = kind or "openai"
        if self.kind not in KINDS:
            raise ValueError(f"unknown OpenAI provider {self.kind!r}; expected one of {', '.join(KINDS)}")
        self.base_url = base_url or None
        if self.kind == "azure" and not self.base_url:
            raise ValueError("an Azure OpenAI profile needs base_url = https://RESOURCE.openai.azure.com/openai/v1/")
        if self.kind == "openai-compatible" and not self.base_url:
            raise ValueError("an openai-compatible profile needs base_url, such as http://127.0.0.1:8080/v1")
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self._key_required = self.kind != "openai-compatible"
        # OpenAI and Azure are known; another server is probed on first use (core.llm.capabilities)
        self.capabilities: Capabilities | None = None if self.kind == "openai-compatible" else Capabilities()
        if json_schema_supported is not None:
            self.capabilities = self.capabilities or Capabilities(max_field="max_tokens", probed=True)
            self.capabilities.json_mode = "json_schema" if json_schema_supported else "json_object"
        self._probe_lock: asyncio.Lock | None = None
        self._http_client = http_client
        self._client: Any = None

    async def _prepare(self) -> None:
        await self.ensure_capabilities()  # probed before the call takes its slot

    async def ensure_capabilities(self) -> Capabilities:
        """The server's capabilities: known, cached from an earlier probe, or probed now (once)."""
        if self.capabilities is not None:
            return self.capabilities
        if self._probe_lock is None:
            self._probe_lock = asyncio.Lock()
        async with self._probe_lock:
            if self.capabilities is None:
                found = capabilities.cached(self.base_url or "", self.model)
                if found is None:
                    found = (await capabilities.probe(self)).capabilities
                self.capabilities = found
        return self.capabilities

    # ---- client and auth -----------------------------------------------------------------------

    def _sdk(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=_PLACEHOLDER_KEY,
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout_s,
                http_client=self._http_client,
            )
        return self._client

    def _auth_headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if not key:
            if self._key_required:
                raise FatalLLMError(
                    f"the environment variable {self.api_key_env or '(none named)'} holding the API key for "
                    f"profile {self.profile_name!r} is not set; export it and retry"
                )
            return {}
        headers = {"Authorization": f"Bearer {key}"}
        if self.kind == "azure":
            headers["api-key"] = key
        return headers

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    # ---- request building ----------------------------------------------------------------------

    def _params(self, request: Request, *, stream: bool) -> dict[str, Any]:
        caps = self.capabilities or Capabilities()
        messages = request.messages
        params: dict[str, Any] = {
            "model": self.model,
            "temperature": request.temperature,
            "top_p": request.top_p,
            caps.max_field: request.max_tokens,
        }
        if request.seed is not None:
            params["seed"] = request.seed
        if request.stop:
            params["stop"] = request.stop
        if request.json_schema is not None:
            if caps.json_mode == "json_schema":
                name, schema, strict = unwrap_schema(request.json_schema)
                params["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": name, "strict": strict, "schema": schema},
                }
            else:
                messages = request.with_schema_instruction()
                if caps.json_mode == "json_object":
                    params["response_format"] = {"type": "json_object"}
        params["messages"] = messages
        if stream:
            params["stream"] = True
            if caps.stream_usage:
                params["stream_options"] = {"include_usage": True}
        return params

    # ---- attempts ------------------------------------------------------------------------------

    async def _complete_once(self, request: Request) -> Reply:
        headers = self._auth_headers()
        raw = await self._create(request, headers, stream=False)
        try:
            completion = raw.parse()
        except ValueError as exc:
            raise TransientLLMError(f"unreadable response from the server ({type(exc).__name__})") from exc
        reply = Reply(headers=lower_headers(dict(raw.headers.items())), model=getattr(completion, "model", None))
        if not completion.choices:
            raise TransientLLMError("the server returned no choices")
        choice = completion.choices[0]
        reply.text = choice.message.content or ""
        reply.finish_reason = choice.finish_reason or "stop"
        if completion.usage is not None:
            reply.prompt_tokens = completion.usage.prompt_tokens
            reply.completion_tokens = completion.usage.completion_tokens
        return reply

    async def _stream_once(self, request: Request, state: StreamState) -> AsyncGenerator[str, None]:
        headers = self._auth_headers()
        raw = await self._create(request, headers, stream=True)
        state.headers = lower_headers(dict(raw.headers.items()))
        chunks = raw.parse()
        try:
            async for chunk in chunks:
                if getattr(chunk, "model", None):
                    state.model = chunk.model
                if chunk.usage is not None:
                    state.prompt_tokens = chunk.usage.prompt_tokens
                    state.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices or ():
                    if choice.finish_reason:
                        state.finish_reason = choice.finish_reason
                    delta = choice.delta.content if choice.delta is not None else None
                    if delta:
                        yield delta
        except ValueError as exc:
            raise TransientLLMError(f"unreadable stream chunk from the server ({type(exc).__name__})") from exc
        finally:
            await chunks.close()

    async def _create(self, request: Request, headers: dict[str, str], *, stream: bool) -> Any:
        caps = await self.ensure_capabilities()
        completions = self._sdk().chat.completions.with_raw_response
        for _ in range(3):  # a server that refuses a parameter is asked again without it, for good
            try:
                return await completions.create(**self._params(request, stream=stream), extra_headers=headers)
            except Exception as exc:
                converted = self._convert_error(exc)
                if converted is None:
                    raise
                refused = isinstance(converted, FatalLLMError) and converted.status == 400
                if not (refused and _fall_back(caps, request, converted.message)):
                    raise converted from exc
        return await completions.create(**self._params(request, stream=stream), extra_headers=headers)

    def _convert_error(self, exc: BaseException) -> LLMError | None:
        if isinstance(exc, LLMError):
            return exc
        import openai

        secrets = [os.environ.get(self.api_key_env, "")] if self.api_key_env else []
        where = f"{self.kind} endpoint {self.base_url or 'api.openai.com'}"
        if isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            detail = body.get("message") or exc.message
            return error_for_status(
                exc.status_code,
                safe_message(detail, secrets=secrets),
                code=exc.code,
                headers=dict(exc.response.headers.items()),
                what=f"LLM ({self.kind})",
            )
        if isinstance(exc, openai.APITimeoutError):
            return TransientLLMError(f"request to {where} timed out after {self.timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            reason = f": {type(cause).__name__}" if cause is not None else ""
            return TransientLLMError(f"could not reach {where}{reason}")
        if isinstance(exc, openai.APIResponseValidationError):
            return TransientLLMError(f"{where} sent a response that could not be read")
        if isinstance(exc, openai.OpenAIError):
            return FatalLLMError(f"OpenAI client error: {safe_message(exc, secrets=secrets)}")
        return super()._convert_error(exc)


def _fall_back(caps: Capabilities, request: Request, message: str) -> bool:
    """Step down after a 400 that names what the server refused; False when nothing is left to drop."""
    text = message.lower()
    if caps.max_field == "max_completion_tokens" and "max_completion_tokens" in text:
        caps.max_field = "max_tokens"
        return True
    if request.json_schema is not None and ("json_schema" in text or "response_format" in text):
        if caps.json_mode == "json_schema":
            caps.json_mode = "json_object"
            return True
        if caps.json_mode == "json_object":
            caps.json_mode = "prompt"
            return True
    return False

"""boto3 plumbing shared by the Bedrock and SageMaker targets: clients built lazily in a thread,
botocore's own retries off, and botocore errors mapped to the typed LLM errors."""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from core.llm.errors import (
    FatalLLMError,
    LLMError,
    ModelError,
    RateLimited,
    TransientLLMError,
    error_for_status,
    safe_message,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ServiceQuotaExceededException",
    "RequestLimitExceeded",
}
_TRANSIENT = {
    "ModelNotReadyException",
    "ModelTimeoutException",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalServerException",
    "InternalFailure",
    "InternalDependencyException",
    "InternalStreamFailure",
    "ModelStreamErrorException",
    "ModelStreamError",
    "RequestTimeout",
    "RequestTimeoutException",
}
_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "ExpiredToken",
    "InvalidClientTokenId",
    "IncompleteSignature",
    "MissingAuthenticationToken",
}
_RETRYABLE_CONTAINER_STATUS = {408, 429, 500, 502, 503, 504}
_END = object()


class AwsClientFactory:
    """Creates one boto3 client on first use and keeps it; runs its blocking calls in a thread pool of
    its own, sized to the target's concurrency (the default pool has only cores + 4 threads, and a
    stream holds a thread while it waits for each event)."""

    def __init__(
        self,
        service: str,
        *,
        region: str | None,
        aws_profile: str | None,
        endpoint_url: str | None,
        timeout_s: float,
        client: Any = None,
        max_workers: int = 32,
    ) -> None:
        self.service = service
        self.region = region or None
        self.aws_profile = aws_profile or None
        self.endpoint_url = endpoint_url or None
        self.timeout_s = timeout_s
        self._client = client
        self._lock = threading.Lock()
        self._max_workers = max(4, max_workers)
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` in this client's worker threads."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix=self.service)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def next_item(self, iterator: Iterator[Any]) -> Any:
        """Next item of a blocking iterator (an event stream); `is_end(item)` when it is exhausted."""
        return await self.run(next, iterator, _END)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _build(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                session = boto3.session.Session(profile_name=self.aws_profile, region_name=self.region)
                config = Config(
                    read_timeout=self.timeout_s,
                    connect_timeout=min(10.0, self.timeout_s),
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    max_pool_connections=64,
                )
                self._client = session.client(self.service, endpoint_url=self.endpoint_url, config=config)
            return self._client

    async def get(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            return await self.run(self._build)
        except Exception as exc:
            raise (aws_error(exc, what=self.service) or exc) from exc


def is_end(item: Any) -> bool:
    return item is _END


def aws_error(exc: BaseException, *, what: str) -> LLMError | None:
    """botocore/boto3 exceptions to typed LLM errors with a message that says why; None if not one."""
    if isinstance(exc, LLMError):
        return exc
    name = type(exc).__name__
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response.get("Error") or {}
        code = str(error.get("Code") or name)
        code = code[:1].upper() + code[1:]  # event-stream errors arrive as "throttlingException"
        message = safe_message(error.get("Message") or str(exc), limit=300)
        meta = response.get("ResponseMetadata") or {}
        status = int(meta.get("HTTPStatusCode") or 0) or None
        headers = meta.get("HTTPHeaders") or {}
        if code == "ModelError" or code == "ModelErrorException":
            original = response.get("OriginalStatusCode")
            original_message = safe_message(response.get("OriginalMessage") or message, limit=300)
            log_arn = response.get("LogStreamArn")
            where = f" (container log: {log_arn})" if log_arn else ""
            return ModelError(
                f"{what}: the model container failed (status {original or status or 424}): {original_message}{where}",
                status=status or 424,
                code=code,
                headers=headers,
                retryable=bool(original) and int(str(original)) in _RETRYABLE_CONTAINER_STATUS,
            )
        if code in _THROTTLING:
            return RateLimited(
                f"{what} throttled the request ({code}): {message}", status=status or 429, code=code, headers=headers
            )
        if code in _TRANSIENT:
            return TransientLLMError(
                f"{what} temporary failure ({code}): {message}", status=status, code=code, headers=headers
            )
        if code in _CREDENTIALS:
            return FatalLLMError(f"{what} rejected the AWS credentials ({code}): {message}", status=status, code=code)
        if code in ("AccessDeniedException", "AccessDenied"):
            return FatalLLMError(
                f"{what} denied access ({code}): the role or user lacks permission. {message}",
                status=status or 403,
                code=code,
            )
        if code in ("ResourceNotFoundException",) or (code.startswith("Validation") and "not found" in message.lower()):
            return FatalLLMError(
                f"{what} not found ({code}): check the model id or endpoint name. {message}",
                status=status or 404,
                code=code,
            )
        if code.startswith("Validation"):
            return FatalLLMError(
                f"{what} rejected the request ({code}): {message}", scope="request", status=status or 400, code=code
            )
        if status:
            return error_for_status(status, f"{code}: {message}", code=code, headers=headers, what=what)
        return TransientLLMError(f"{what} failed ({code}): {message}", code=code)
    if name in (
        "NoCredentialsError",
        "PartialCredentialsError",
        "ProfileNotFound",
        "NoRegionError",
        "TokenRetrievalError",
        "SSOTokenLoadError",
        "UnauthorizedSSOTokenError",
        "CredentialRetrievalError",
    ):
        return FatalLLMError(f"{what}: AWS credentials or region are not set up ({name}): {safe_message(exc)}")
    if name in ("ReadTimeoutError", "ConnectTimeoutError") or isinstance(exc, TimeoutError):
        return TransientLLMError(f"{what} timed out ({name})")
    if name in (
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ProxyConnectionError",
        "HTTPClientError",
        "ResponseStreamingError",
        "IncompleteReadError",
    ) or isinstance(exc, (ConnectionError, OSError)):
        return TransientLLMError(f"{what} connection failed ({name}): {safe_message(exc)}")
    if name == "ParamValidationError":
        return FatalLLMError(f"{what} rejected the request parameters: {safe_message(exc)}", scope="request")
    if type(exc).__module__.split(".")[0] in ("botocore", "boto3", "urllib3"):
        return TransientLLMError(f"{what} failed ({name}): {safe_message(exc)}")
    return None


class _EventError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.response = {"Error": {"Code": code, "Message": message}}


def stream_event_error(code: str, message: str, *, what: str) -> LLMError:
    """An error event found in an event stream (rather than raised by botocore) as a typed error."""
    return aws_error(_EventError(code, message), what=what) or TransientLLMError(f"{what} stream failed ({code})")

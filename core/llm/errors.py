"""Typed errors for LLM calls. Their text is safe to show: scrubbed, cut short, keys masked.

`retryable` on the instance is what the limiter obeys; the class says what kind of failure it was:

- `FatalLLMError`: never retried. `scope == "run"` (bad key, no permission, unknown model or
  endpoint, quota exhausted, a wait far beyond reason) means every further call would fail the
  same way, so the whole run must stop; `scope == "request"` (400/422: this request is malformed
  or too long) fails only this task.
- `TransientLLMError`: 408, 409, 5xx, timeouts, connection resets; retried with backoff.
- `RateLimited`: a 429 that is not `insufficient_quota`; retried after a pause for all workers.
- `ModelError`: the model container failed (SageMaker ModelError / 424, Bedrock ModelErrorException);
  retried only when the container's own status says it was busy.
- `OutputFormatError`: the reply is not the JSON the schema asked for.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from core.safe_text import one_line

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_*-]{6})[A-Za-z0-9_*-]+")
_MESSAGE_LIMIT = 400


def safe_message(text: object, *, secrets: Iterable[str] = (), limit: int = _MESSAGE_LIMIT) -> str:
    """One scrubbed line, with known secrets and key-like tokens masked."""
    value = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            value = value.replace(secret, "***")
    value = _KEY_LIKE.sub(r"\1***", value)
    return one_line(value, limit)


def lower_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    if not headers:
        return {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


class LLMError(Exception):
    """Base of every error an LLM target raises."""

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        retryable: bool | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.message = safe_message(message)
        self.status = status
        self.code = code
        self.headers = lower_headers(headers)
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after_s = retry_after_s
        self.attempts = 1
        self.exhausted = False  # True once retries were used up
        super().__init__(self.message)

    @property
    def kind(self) -> str:
        return type(self).__name__

    def __str__(self) -> str:
        text = self.message
        if self.exhausted and self.attempts > 1:
            text += f" (gave up after {self.attempts} attempts)"
        return text


class FatalLLMError(LLMError):
    """Not retried. `scope` says whether the whole run must stop or only this request failed."""

    def __init__(self, message: str, *, scope: Literal["run", "request"] = "run", **kwargs: Any) -> None:
        kwargs["retryable"] = False
        super().__init__(message, **kwargs)
        self.scope = scope

    @property
    def stops_run(self) -> bool:
        return self.scope == "run"


class TransientLLMError(LLMError):
    default_retryable = True


class RateLimited(TransientLLMError):
    """HTTP 429 (or a provider's throttling error): slow everyone down, then retry."""


class ModelError(LLMError):
    """The model container failed (SageMaker ModelError / 424)."""


class OutputFormatError(LLMError):
    """The reply is not valid JSON or does not match the schema; `text` holds the raw reply."""

    def __init__(self, message: str, *, text: str = "", finish_reason: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.text = text
        self.finish_reason = finish_reason


def error_for_status(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    what: str = "LLM",
) -> LLMError:
    """Map an HTTP status (and the body's error code) to the typed error, with a message saying why."""
    detail = safe_message(detail, limit=300) or "no detail"
    if status == 429 and code == "insufficient_quota":
        return FatalLLMError(
            f"{what} quota exhausted (429 insufficient_quota): add credit or raise the quota; stopping the run. "
            f"{detail}",
            status=status,
            code=code,
            headers=headers,
        )
    if status == 401:
        return FatalLLMError(
            f"{what} rejected the API key (401): check the key's environment variable. {detail}",
            status=status,
            code=code,
            headers=headers,
        )
    if status == 403:
        return FatalLLMError(
            f"{what} denied access (403): the key or role lacks permission. {detail}",
            status=status,
            code=code,
            headers=headers,
        )
    if status == 404:
        return FatalLLMError(
            f"{what} not found (404): check the model, deployment or base URL. {detail}",
            status=status,
            code=code,
            headers=headers,
        )
    if status in (400, 413, 422):
        return FatalLLMError(
            f"{what} rejected the request ({status}): {detail}",
            scope="request",
            status=status,
            code=code,
            headers=headers,
        )
    if status == 429:
        return RateLimited(f"{what} rate limit hit (429): {detail}", status=status, code=code, headers=headers)
    if status in (408, 409) or status >= 500:
        return TransientLLMError(
            f"{what} temporary failure ({status}): {detail}", status=status, code=code, headers=headers
        )
    return FatalLLMError(
        f"{what} failed ({status}): {detail}", scope="request", status=status, code=code, headers=headers
    )


def as_llm_error(exc: BaseException) -> LLMError | None:
    """Timeouts and connection failures raised outside a target become TransientLLMError; others: None."""
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, TimeoutError):
        return TransientLLMError("request timed out")
    if isinstance(exc, (ConnectionError, OSError)):
        return TransientLLMError(f"connection failed: {type(exc).__name__}: {exc}")
    return None

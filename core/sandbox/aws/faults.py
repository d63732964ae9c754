"""Fault injection for the AWS emulator: an API call answered with an AWS error instead of going through.

    aws.inject_fault("DescribeTrainingJob", "ThrottlingException", count=2)
    aws.inject_fault("*", "ExpiredTokenException", count=None)   # every call until cleared
    aws.clear_faults()

Rules are checked in the order they were added; the first that matches the call's action (and
service, when given) fires and uses up one of its count. The error is written in the wire format
of the request's protocol (JSON 1.0/1.1 with `__type`, or the query protocol's XML ErrorResponse),
so botocore raises `ClientError` with exactly that code and message.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

DEFAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "Throttling": "Rate exceeded",
    "AccessDeniedException": "User: arn:aws:sts::123456789012:assumed-role/tunedeck-user/session is not authorized "
    "to perform this action because no identity-based policy allows it",
    "AccessDenied": "User is not authorized to perform this action",
    "ExpiredTokenException": "The security token included in the request is expired",
    "ExpiredToken": "The security token included in the request is expired",
    "ResourceLimitExceeded": "The account-level service limit 'ml.g5.2xlarge for training job usage' is 0 Instances, "
    "with current utilization of 0 Instances and a request delta of 1 Instances. Please use "
    "AWS Service Quotas to request an increase for this quota.",
    "ServiceUnavailable": "Service is unavailable, please try again later",
    "InternalFailure": "We encountered an internal error. Please try again.",
}


@dataclass
class AwsFault:
    action: str = "*"
    """The API operation ("DescribeTrainingJob", "GetMetricData", ...) or "*" for any."""
    code: str = "ThrottlingException"
    status: int = 400
    message: str = ""
    count: int | None = 1
    """Firings left; None = until cleared."""
    service: str | None = None
    """Signing name of the service ("sagemaker", "logs", "monitoring", ...); None = any."""
    fired: int = 0

    def matches(self, service: str, action: str) -> bool:
        if self.count == 0:
            return False
        if self.service is not None and self.service != service:
            return False
        return self.action in ("*", action)


class AwsFaultBook:
    """Thread-safe schedule of AWS faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[AwsFault] = []
        self._fired: dict[tuple[str, str], int] = {}

    def add(
        self,
        action: str = "*",
        code: str = "ThrottlingException",
        *,
        status: int = 400,
        message: str | None = None,
        count: int | None = 1,
        service: str | None = None,
    ) -> AwsFault:
        if count is not None and count < 0:
            raise ValueError(f"fault count must be >= 0, got {count!r}")
        if not 400 <= int(status) <= 599:
            raise ValueError(f"an error status is 4xx or 5xx, got {status!r}")
        fault = AwsFault(
            action=action or "*",
            code=code,
            status=int(status),
            message=DEFAULT_MESSAGES.get(code, code) if message is None else message,
            count=count,
            service=service,
        )
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self._fired.clear()

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._rules)

    def pick(self, service: str, action: str) -> AwsFault | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(service, action):
                    rule.fired += 1
                    if rule.count is not None:
                        rule.count -= 1
                    key = (action, rule.code)
                    self._fired[key] = self._fired.get(key, 0) + 1
                    self._rules = [r for r in self._rules if r.count != 0]
                    return rule
        return None

    @property
    def fired(self) -> dict[tuple[str, str], int]:
        """How many times each (action, code) fired since the last reset."""
        with self._lock:
            return dict(self._fired)


# -- which call a request is, and how its protocol writes an error ----------------------------------


def request_action(environ: dict, body: bytes | None) -> tuple[str, str]:
    """(protocol, action) of a request: ("json", op) from X-Amz-Target, ("query", op) from a form's
    Action, ("rest", "") otherwise (REST services such as S3 are not matched by action)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return "json", target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return "query", query["Action"][0]
    if body is not None and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return "query", form["Action"][0]
    return "rest", ""


def error_response(protocol: str, fault: AwsFault, environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of the error in the request's protocol."""
    request_id = str(uuid.uuid4())
    status = f"{fault.status} {'Bad Request' if fault.status == 400 else 'Error'}"
    if protocol == "query":
        body = (
            f'<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type>'
            f"<Code>{escape(fault.code)}</Code><Message>{escape(fault.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return (
            status,
            [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))],
            body,
        )
    content_type = environ.get("CONTENT_TYPE") or "application/x-amz-json-1.1"
    body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
    headers = [
        ("Content-Type", content_type),
        ("x-amzn-ErrorType", fault.code),
        ("x-amzn-RequestId", request_id),
        ("Content-Length", str(len(body))),
    ]
    if environ.get("HTTP_X_AMZN_QUERY_MODE", "").lower() == "true":  # a query-compatible JSON service
        headers.append(("x-amzn-query-error", f"{fault.code};Sender"))
    return status, headers, body

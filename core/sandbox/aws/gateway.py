"""WSGI layer in front of moto's server app: the SageMaker calls moto gets wrong, SageMaker Runtime,
Bedrock Runtime (Converse, ConverseStream) and SageMaker service quotas are answered or corrected
here; everything else goes to moto untouched.

Only requests reaching the emulator's own server pass through here, so in-process `mock_aws()` users
elsewhere see plain moto.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from core.sandbox.aws import bedrock as aws_bedrock
from core.sandbox.aws import eventstream as aws_eventstream
from core.sandbox.aws import lmi as aws_lmi
from core.sandbox.aws.errors import AwsError
from core.sandbox.aws.faults import error_response, request_action

if TYPE_CHECKING:
    from core.sandbox.aws.context import AwsContext
    from core.sandbox.aws.endpoints import Endpoints
    from core.sandbox.aws.jobs import TrainingJobs

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]

_RUNTIME_PATH = re.compile(r"^/endpoints/([^/]+)/(invocations|invocations-response-stream)$")
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]*/[^/]*/[^/]*/([^/]+)/aws4_request")
_JSON_TYPE = "application/x-amz-json-1.1"
_STATUS_TEXT = {200: "OK", 400: "Bad Request", 404: "Not Found", 424: "Failed Dependency", 500: "Internal Server Error"}


def _status_line(status: int) -> str:
    return f"{status} {_STATUS_TEXT.get(status, 'Error')}"


def _signing_service(environ: dict) -> str:
    found = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else ""


def _read_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _replace_body(environ: dict, body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


class Gateway:
    def __init__(self, inner: WsgiApp, ctx: AwsContext, jobs: TrainingJobs, endpoints: Endpoints) -> None:
        self.inner = inner
        self.ctx = ctx
        self.jobs = jobs
        self.endpoints = endpoints
        self.sagemaker_ops: dict[str, Callable[[dict, dict], tuple[int, list, bytes]]] = {
            "CreateTrainingJob": self._create_training_job,
            "StopTrainingJob": self._stop_training_job,
            "CreateModel": self._create_model,
            "CreateEndpointConfig": self._create_endpoint_config,
            "CreateEndpoint": self._create_endpoint,
            "DeleteEndpoint": self._delete_endpoint,
        }

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if self.ctx.faults:
            injected = self._injected_fault(environ, start_response)
            if injected is not None:
                return injected
        try:
            runtime = _RUNTIME_PATH.match(path)
            if runtime and environ.get("REQUEST_METHOD") == "POST" and _signing_service(environ) == "sagemaker":
                return self._invoke(environ, start_response, runtime.group(1), runtime.group(2))
            bedrock = aws_bedrock.route(path) if _signing_service(environ) == "bedrock" else None
            if bedrock and environ.get("REQUEST_METHOD") == "POST":
                return self._bedrock(environ, start_response, *bedrock)
            if target.startswith("SageMaker.") and target[10:] in self.sagemaker_ops:
                request = json.loads(_read_body(environ) or b"{}")
                status, headers, body = self.sagemaker_ops[target[10:]](environ, request)
                start_response(_status_line(status), headers)
                return [body]
            if target.startswith("ServiceQuotasV20190624."):
                request = json.loads(_read_body(environ) or b"{}")
                if request.get("ServiceCode") == "sagemaker":
                    status, headers, body = self._service_quotas(target.split(".", 1)[1], request)
                    start_response(_status_line(status), headers)
                    return [body]
        except AwsError as error:
            return self._error(start_response, error, json_protocol=not path.startswith("/endpoints/"))
        return self.inner(environ, start_response)

    # -- plumbing ---------------------------------------------------------------------------------

    def _injected_fault(self, environ: dict, start_response: Callable) -> list[bytes] | None:
        """Answer with a scheduled fault (AwsEmulator.inject_fault) when one matches this call."""
        protocol, action = request_action(environ, _read_body(environ))
        if not action:
            return None
        fault = self.ctx.faults.pick(_signing_service(environ), action)
        if fault is None:
            return None
        status, headers, body = error_response(protocol, fault, environ)
        start_response(status, headers)
        return [body]

    def _forward(self, environ: dict, body: bytes | None = None) -> tuple[int, list, bytes]:
        if body is not None:
            _replace_body(environ, body)
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self.inner(environ, start_response)
        try:
            payload = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status = int(str(captured.get("status", "500")).split()[0])
        return status, list(captured.get("headers", [])), payload

    @staticmethod
    def _json(status: int, body: Any) -> tuple[int, list, bytes]:
        data = json.dumps(body, default=str).encode()
        return status, [("Content-Type", _JSON_TYPE), ("Content-Length", str(len(data)))], data

    @staticmethod
    def _error(start_response: Callable, error: AwsError, *, json_protocol: bool) -> list[bytes]:
        data = json.dumps(error.body()).encode()
        content_type = _JSON_TYPE if json_protocol else "application/json"
        start_response(
            _status_line(error.status),
            [("Content-Type", content_type), ("x-amzn-ErrorType", error.code), ("Content-Length", str(len(data)))],
        )
        return [data]

    # -- SageMaker control plane ------------------------------------------------------------------

    def _create_training_job(self, environ: dict, request: dict) -> tuple[int, list, bytes]:
        with self.ctx.lock:
            self.jobs.check_create(request)
            status, headers, body = self._forward(environ)
            if status == 200:
                self.jobs.adopt(request)
        return status, headers, body

    def _stop_training_job(self, environ: dict, request: dict) -> tuple[int, list, bytes]:
        with self.ctx.lock:
            self.jobs.stop(str(request.get("TrainingJobName", "")))
        return self._json(200, {})

    def _create_model(self, environ: dict, request: dict) -> tuple[int, list, bytes]:
        with self.ctx.lock:
            status, headers, body = self._forward(environ)
            model = getattr(self.ctx.sagemaker_backend(), "_models", {}).get(request.get("ModelName"))
            if status == 200 and model is not None:
                model.enable_network_isolation = bool(request.get("EnableNetworkIsolation", False))
                model.vpc_config = request.get("VpcConfig")
                model.containers = request.get("Containers")
        return status, headers, body

    def _create_endpoint_config(self, environ: dict, request: dict) -> tuple[int, list, bytes]:
        with self.ctx.lock:
            for_moto, variants = self.endpoints.prepare_config(request)
            status, headers, body = self._forward(environ, json.dumps(for_moto).encode())
            if status == 200:
                self.endpoints.restore_config(str(request.get("EndpointConfigName")), variants)
        return status, headers, body

    def _create_endpoint(self, environ: dict, request: dict) -> tuple[int, list, bytes]:
        with self.ctx.lock:
            self.endpoints.check_create(request)
            status, headers, body = self._forward(environ)
            if status == 200:
                self.endpoints.adopt(request)
        return status, headers, body

    def _delete_endpoint(self, environ: dict, request: dict) -> tuple[int, list, bytes]:
        with self.ctx.lock:
            if self.endpoints.delete(str(request.get("EndpointName", ""))):
                return self._json(200, {})
        return self._forward(environ)

    # -- Service Quotas (ServiceCode "sagemaker") ------------------------------------------------

    def _service_quotas(self, operation: str, request: dict) -> tuple[int, list, bytes]:
        quotas = self.ctx.quotas.service_quotas(self.ctx.account_id, self.ctx.region)
        if operation in ("GetServiceQuota", "GetAWSDefaultServiceQuota"):
            code = request.get("QuotaCode")
            for quota in quotas:
                if quota["QuotaCode"] == code:
                    return self._json(200, {"Quota": quota})
            raise AwsError("NoSuchResourceException", "The request failed because the specified quota doesn't exist.")
        if operation in ("ListServiceQuotas", "ListAWSDefaultServiceQuotas"):
            if request.get("QuotaCode"):
                quotas = [q for q in quotas if q["QuotaCode"] == request["QuotaCode"]]
            try:
                start = int(request.get("NextToken") or 0)
            except ValueError:
                raise AwsError("InvalidPaginationTokenException", "Invalid pagination token.") from None
            size = max(1, min(100, int(request.get("MaxResults") or 100)))
            page: dict[str, Any] = {"Quotas": quotas[start : start + size]}
            if start + size < len(quotas):
                page["NextToken"] = str(start + size)
            return self._json(200, page)
        if operation == "RequestServiceQuotaIncrease":
            found = [q for q in quotas if q["QuotaCode"] == request.get("QuotaCode")]
            if not found:
                raise AwsError(
                    "NoSuchResourceException", "The request failed because the specified quota doesn't exist."
                )
            quota = found[0]
            desired = float(request.get("DesiredValue") or 0)
            if desired <= float(quota["Value"]):
                raise AwsError("IllegalArgumentException", "The desired value must be greater than the current value.")
            try:
                change = self.ctx.quotas.request_increase(quota, desired, time.time())
            except ValueError:
                raise AwsError(
                    "ResourceAlreadyExistsException", "A request for this quota is already pending."
                ) from None
            return self._json(200, {"RequestedQuota": change})
        if operation in ("ListRequestedServiceQuotaChangeHistory", "ListRequestedServiceQuotaChangeHistoryByQuota"):
            changes = self.ctx.quotas.requests()
            if request.get("QuotaCode"):
                changes = [c for c in changes if c["QuotaCode"] == request["QuotaCode"]]
            if request.get("Status"):
                changes = [c for c in changes if c["Status"] == request["Status"]]
            return self._json(200, {"RequestedQuotas": changes})
        raise AwsError("NoSuchResourceException", f"The emulator does not model {operation} for sagemaker.")

    # -- SageMaker Runtime ------------------------------------------------------------------------

    def _model_error(self, endpoint_name: str, status: int, message: str) -> AwsError:
        group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
        original = json.dumps({"code": status, "message": message, "error": message})
        return AwsError(
            "ModelError",
            f"Received {'client' if status < 500 else 'server'} error ({status}) from primary with message "
            f'"{original}". See https://{self.ctx.region}.console.aws.amazon.com/cloudwatch/home?region='
            f"{self.ctx.region}#logEventViewer:group={group} in account {self.ctx.account_id} for more information.",
            status=424,
            extra={
                "OriginalStatusCode": status,
                "OriginalMessage": original,
                "ErrorCode": "CLIENT_ERROR_FROM_MODEL" if status < 500 else "SERVER_ERROR_FROM_MODEL",
                "LogStreamArn": f"arn:aws:logs:{self.ctx.region}:{self.ctx.account_id}:log-group:{group}",
            },
        )

    def _invoke(self, environ: dict, start_response: Callable, name: str, kind: str) -> Iterable[bytes]:
        body = _read_body(environ)
        endpoint = self.endpoints.invocable(name)
        variants = getattr(endpoint, "production_variants", None) or [{}]
        variant = str(variants[0].get("VariantName") or "AllTraffic")
        try:
            request = aws_lmi.parse_request(body)
        except aws_lmi.LmiError as exc:
            raise self._model_error(name, exc.status, exc.message) from None
        try:
            reply = self.endpoints.reply(
                name,
                self.jobs,
                request.messages,
                temperature=request.temperature,
                top_p=request.top_p,
                max_tokens=request.max_tokens,
                seed=request.seed,
                json_schema=request.json_schema,
            )
        except Exception as exc:  # noqa: BLE001 - whatever the engine raises is a model failure
            raise self._model_error(name, 500, f"{type(exc).__name__}: {exc}") from None
        generation = aws_lmi.finish(request, str(reply))
        if kind == "invocations":
            content_type, data = aws_lmi.render_body(request, generation)
            start_response(
                "200 OK",
                [
                    ("Content-Type", content_type),
                    ("x-Amzn-Invoked-Production-Variant", variant),
                    ("Content-Length", str(len(data))),
                ],
            )
            return [data]
        if request.stream:
            content_type, data = "application/jsonlines", b"".join(aws_lmi.stream_lines(request, generation))
        else:
            content_type, data = aws_lmi.render_body(request, generation)
        seed = int.from_bytes(hashlib.sha256(body).digest()[:8], "big")
        parts = aws_lmi.split_arbitrarily(data, seed)
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/vnd.amazon.eventstream"),
                ("X-Amzn-SageMaker-Content-Type", content_type),
                ("x-Amzn-Invoked-Production-Variant", variant),
            ],
        )
        return self._stream(parts)

    def _bedrock(self, environ: dict, start_response: Callable, model: str, kind: str) -> Iterable[bytes]:
        """Bedrock Runtime Converse / ConverseStream (core.sandbox.aws.bedrock)."""
        body = _read_body(environ)
        if kind == "converse":
            data = aws_bedrock.converse(model, body)
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]
        events = aws_bedrock.converse_stream(model, body, part_delay_s=self.ctx.stream_part_delay)
        start_response("200 OK", [("Content-Type", "application/vnd.amazon.eventstream")])
        return events

    def _stream(self, parts: list[bytes]) -> Iterator[bytes]:
        for index, part in enumerate(parts):
            delay = self.ctx.stream_part_delay
            if index and delay > 0:
                time.sleep(delay)
            yield aws_eventstream.payload_part(part)

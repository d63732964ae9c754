"""Emulated AWS for `tunedeck --demo`, `tunedeck sandbox` and the tests.

`AwsEmulator` runs moto's server in-process on 127.0.0.1 (a free port by default), fronted by a
gateway that makes SageMaker behave like SageMaker where moto falls short: running training jobs
with the simulated JumpStart trainer's logs and metrics, stop_training_job, modern endpoint
instance types, endpoints with a Creating phase, SageMaker Runtime (`invoke_endpoint` and its
response stream) answered by `core.sandbox.llm.engine.reply` in the LMI formats, and SageMaker
service quotas. Real boto3 clients talk to it over HTTP through `endpoint_url`.

    with AwsEmulator(epoch_seconds=0.2) as aws:
        sm = aws.client("sagemaker")
        ...
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from core.sandbox.aws.context import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, AwsContext, ReplyFn, new_client
from core.sandbox.aws.endpoints import Endpoints
from core.sandbox.aws.gateway import Gateway
from core.sandbox.aws.jobs import TrainingJobs
from core.sandbox.aws.quotas import QuotaBook

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.sandbox.aws.faults import AwsFault

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's account for any access key
REGION = "us-east-1"
DEFAULT_EPOCH_SECONDS = 5.0
DEFAULT_ENDPOINT_SECONDS = 4.0
DEFAULT_STREAM_PART_DELAY = 0.015
ROLE_NAME = "tunedeck-demo-sagemaker-execution"
TRUST_POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)


class AwsEmulator:
    """In-process emulated AWS account (us-east-1) served on `endpoint_url`.

    Knobs: `set_epoch_seconds` (simulated training speed; applies to jobs created afterwards),
    `inject_fault` / `clear_faults` (AWS errors such as throttling or an expired token),
    `set_endpoint_seconds` (Creating -> InService time), `set_quotas`, `set_spot_interruptions`
    (interruptions of each managed spot training job), `stream_part_delay`
    (seconds between response-stream parts), `reply_fn` (replaces the LLM engine).
    """

    region = REGION

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        epoch_seconds: float = DEFAULT_EPOCH_SECONDS,
        endpoint_seconds: float = DEFAULT_ENDPOINT_SECONDS,
        stream_part_delay: float = DEFAULT_STREAM_PART_DELAY,
        training_quotas: Mapping[str, int] | None = None,
        endpoint_quotas: Mapping[str, int] | None = None,
        reply_fn: ReplyFn | None = None,
    ) -> None:
        self.host = host
        self.port = port  # the port actually served once started
        self._requested_port = port
        self.account_id = DEFAULT_ACCOUNT_ID
        self.role_arn = f"arn:aws:iam::{self.account_id}:role/{ROLE_NAME}"
        self.bucket = f"tunedeck-demo-{self.account_id}"
        self._defaults: dict[str, Any] = dict(
            epoch_seconds=float(epoch_seconds),
            endpoint_seconds=float(endpoint_seconds),
            stream_part_delay=float(stream_part_delay),
            spot_interruptions=0,
        )
        self._default_quotas = (
            None if training_quotas is None else dict(training_quotas),
            None if endpoint_quotas is None else dict(endpoint_quotas),
        )
        self.ctx = AwsContext(
            account_id=self.account_id,
            region=self.region,
            reply_fn=reply_fn,
            quotas=QuotaBook(*self._default_quotas),
            **self._defaults,
        )
        self._server: Any = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._jobs: Any = None
        self._endpoints: Any = None

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def endpoint_url(self) -> str:
        if not self.ctx.endpoint_url:
            raise RuntimeError("the AWS emulator is not started")
        return self.ctx.endpoint_url

    def start(self) -> AwsEmulator:
        if self._server is not None:
            return self
        from core.sandbox.aws.server import EmulatorServer

        self._jobs = TrainingJobs(self.ctx)
        self._endpoints = Endpoints(self.ctx)
        server = EmulatorServer(
            self.host, self._requested_port, lambda inner: Gateway(inner, self.ctx, self._jobs, self._endpoints)
        )
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.port = port
        self.ctx.endpoint_url = f"http://{host}:{port}"
        try:
            self._reset_backends()
            self._create_demo_resources()
        except BaseException:
            self.stop()
            raise
        self._stopping.clear()
        self._ticker = threading.Thread(target=self._tick_forever, name="aws-emulator-clock", daemon=True)
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop the clock and the server; no thread or listening socket is left behind."""
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
            self._ticker = None
        self.ctx.drop_clients()
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.ctx.endpoint_url = ""

    def reset(self) -> None:
        """Back to the state right after start(): empty account plus role and bucket, default knobs."""
        if self._server is None:
            raise RuntimeError("the AWS emulator is not started")
        with self.ctx.lock:
            self._jobs.reset()
            self._endpoints.reset()
            self._reset_backends()
            for key, value in self._defaults.items():
                setattr(self.ctx, key, value)
            self.ctx.quotas = QuotaBook(*self._default_quotas)
            self.ctx.faults.reset()
            self._create_demo_resources()

    def __enter__(self) -> AwsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- knobs ------------------------------------------------------------------------------------

    def set_quotas(self, training: Mapping[str, int] | None = None, endpoint: Mapping[str, int] | None = None) -> None:
        """Replace the per-instance-type limits of the kinds given (unlisted types get 0)."""
        self.ctx.quotas.set(training=training, endpoint=endpoint)

    def quotas(self) -> dict[str, dict[str, int]]:
        return self.ctx.quotas.snapshot()

    def inject_fault(
        self,
        action: str = "*",
        code: str = "ThrottlingException",
        *,
        status: int = 400,
        message: str | None = None,
        count: int | None = 1,
        service: str | None = None,
    ) -> AwsFault:
        """Answer the next `count` calls of `action` ("*" = any; count None = until cleared) with an
        AWS error `code`, so that boto3 raises ClientError with that code. `service` narrows it to
        one signing name ("sagemaker", "logs", "monitoring", ...)."""
        return self.ctx.faults.add(action, code, status=status, message=message, count=count, service=service)

    def clear_faults(self) -> None:
        self.ctx.faults.clear()

    @property
    def faults_fired(self) -> dict[tuple[str, str], int]:
        """{(action, code): times} since the last reset."""
        return self.ctx.faults.fired

    def set_epoch_seconds(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("epoch seconds must be positive")
        self.ctx.epoch_seconds = float(seconds)

    def set_spot_interruptions(self, count: int) -> None:
        """Each managed spot training job created afterwards is interrupted `count` times (spread over its
        training; see core.sandbox.aws.jobs); 0, the default, interrupts none."""
        if count < 0:
            raise ValueError("spot interruptions must not be negative")
        self.ctx.spot_interruptions = int(count)

    def set_endpoint_seconds(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("endpoint seconds must not be negative")
        self.ctx.endpoint_seconds = float(seconds)

    @property
    def stream_part_delay(self) -> float:
        return self.ctx.stream_part_delay

    @stream_part_delay.setter
    def stream_part_delay(self, seconds: float) -> None:
        self.ctx.stream_part_delay = max(0.0, float(seconds))

    @property
    def reply_fn(self) -> ReplyFn | None:
        return self.ctx.reply_fn

    @reply_fn.setter
    def reply_fn(self, fn: ReplyFn | None) -> None:
        self.ctx.reply_fn = fn

    # -- conveniences -----------------------------------------------------------------------------

    def client(self, service: str, config_override: Any = None) -> Any:
        """A new boto3 client for this emulator (dummy credentials, one attempt, no host prefix)."""
        from botocore.config import Config

        config = Config(retries={"max_attempts": 1, "mode": "standard"}, inject_host_prefix=False)
        if config_override is not None:
            config = config.merge(config_override)
        return new_client(service, self.endpoint_url, self.region, config)

    def environment(self) -> dict[str, str]:
        """Environment variables that point boto3 and tunedeck at this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "TUNEDECK_ROLE_ARN": self.role_arn,
            "TUNEDECK_S3_BUCKET": self.bucket,
            "TUNEDECK_SANDBOX": "1",  # core.config.SANDBOX_ENV: emulator timing and bundled specs
        }

    def advance(self) -> None:
        """Run the clock once now (the background clock does this every few milliseconds)."""
        now = time.time()
        with self.ctx.lock:
            self._jobs.advance(now)
            self._endpoints.advance(now)

    # -- internals --------------------------------------------------------------------------------

    def _tick_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self.advance()
            except Exception:  # noqa: BLE001 - the clock must keep running; a bad tick retries next time
                if self._stopping.is_set():
                    return
            interval = min(0.05, max(0.005, min(self.ctx.epoch_seconds, self.ctx.endpoint_seconds or 1.0) / 20))
            self._stopping.wait(interval)

    @staticmethod
    def _reset_backends() -> None:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    def _create_demo_resources(self) -> None:
        self.ctx.client("iam").create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument=TRUST_POLICY,
            Description="SageMaker execution role of the tunedeck demo",
        )
        self.ctx.client("s3").create_bucket(Bucket=self.bucket)

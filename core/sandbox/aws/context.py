"""State shared by the AWS emulator's parts: identity, clocks, quotas, the lock, internal clients."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.sandbox.aws.faults import AwsFaultBook
from core.sandbox.aws.quotas import QuotaBook
from core.sandbox.llm.engine import reply as engine_reply

DUMMY_ACCESS_KEY = "testing"
DUMMY_SECRET_KEY = "testing"

# reply(messages, *, temperature, top_p, max_tokens, seed, json_schema) -> str
ReplyFn = Callable[..., str]


def new_client(service: str, endpoint_url: str, region: str, config: Any = None) -> Any:
    """A boto3 client with dummy credentials that ignores the user's AWS profile and credentials."""
    import boto3
    import botocore.session

    # The user's AWS_PROFILE (possibly missing from ~/.aws/config) must not matter to the emulator.
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    session = boto3.session.Session(
        botocore_session=core,
        aws_access_key_id=DUMMY_ACCESS_KEY,
        aws_secret_access_key=DUMMY_SECRET_KEY,
        region_name=region,
    )
    return session.client(service, endpoint_url=endpoint_url, config=config)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


@dataclass
class AwsContext:
    account_id: str
    region: str
    epoch_seconds: float = 5.0
    endpoint_seconds: float = 4.0
    stream_part_delay: float = 0.015
    spot_interruptions: int = 0  # each managed spot training job is interrupted this many times
    quotas: QuotaBook = field(default_factory=QuotaBook)
    reply_fn: ReplyFn | None = None
    endpoint_url: str = ""
    faults: AwsFaultBook = field(default_factory=AwsFaultBook)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _clients: dict[str, Any] = field(default_factory=dict)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)

    def sagemaker_backend(self) -> Any:
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[self.account_id][self.region]

    def client(self, service: str) -> Any:
        """A boto3 client for the emulator itself (dummy credentials, no retries)."""
        with self._clients_lock:
            cached = self._clients.get(service)
            if cached is None:
                from botocore.config import Config

                cached = new_client(
                    service,
                    self.endpoint_url,
                    self.region,
                    Config(
                        retries={"max_attempts": 1, "mode": "standard"},
                        inject_host_prefix=False,
                        connect_timeout=5,
                        read_timeout=30,
                    ),
                )
                self._clients[service] = cached
            return cached

    def drop_clients(self) -> None:
        with self._clients_lock:
            for client in self._clients.values():
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
            self._clients.clear()

    def reply(self, messages: list[dict], **kwargs: Any) -> str:
        fn = self.reply_fn or engine_reply
        return fn(messages, **kwargs)

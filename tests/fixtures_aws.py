"""AWS emulator fixtures.

- `aws_emulator` (session): one `AwsEmulator` on 127.0.0.1, started once, stopped at the end.
- `aws` (function): the same emulator reset to an empty account (demo role and bucket only, default
  quotas) with a fast clock: one epoch = 0.2 s, endpoints in service after 0.2 s, no delay between
  response-stream parts.
- `boto3_clients` (function): real boto3 clients for it (`.sagemaker`, `.runtime`, `.logs`,
  `.cloudwatch`, `.s3`, `.quotas`, `.iam`), created once per session.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["aws_emulator", "aws", "aws_client_cache", "boto3_clients", "FAST_EPOCH_SECONDS", "FAST_ENDPOINT_SECONDS"]

FAST_EPOCH_SECONDS = 0.2
FAST_ENDPOINT_SECONDS = 0.2

_CLIENT_SERVICES = {
    "sagemaker": "sagemaker",
    "runtime": "sagemaker-runtime",
    "logs": "logs",
    "cloudwatch": "cloudwatch",
    "s3": "s3",
    "quotas": "service-quotas",
    "iam": "iam",
}


@pytest.fixture(scope="session")
def aws_emulator() -> Iterator[object]:
    from core.sandbox.aws.emulator import AwsEmulator

    emulator = AwsEmulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def aws(aws_emulator) -> Iterator[object]:
    aws_emulator.reset()
    aws_emulator.set_epoch_seconds(FAST_EPOCH_SECONDS)
    aws_emulator.set_endpoint_seconds(FAST_ENDPOINT_SECONDS)
    aws_emulator.stream_part_delay = 0.0
    yield aws_emulator


@pytest.fixture(scope="session")
def aws_client_cache(aws_emulator) -> SimpleNamespace:
    return SimpleNamespace(**{attr: aws_emulator.client(service) for attr, service in _CLIENT_SERVICES.items()})


@pytest.fixture
def boto3_clients(aws, aws_client_cache) -> SimpleNamespace:
    return aws_client_cache

"""Who the AWS credential chain says we are, for the status bar. Imports boto3 lazily."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.safe_text import one_line

if TYPE_CHECKING:
    import boto3

    from core.config import AwsConfig


@dataclass(frozen=True)
class AwsIdentity:
    online: bool
    label: str


def aws_session(aws: AwsConfig) -> boto3.Session:
    import boto3

    kwargs: dict[str, Any] = {"region_name": aws.region}
    if aws.profile:
        kwargs["profile_name"] = aws.profile
    return boto3.Session(**kwargs)


def aws_client(aws: AwsConfig, service: str, **kwargs: Any) -> Any:
    """A boto3 client honouring the configured profile, region and emulator endpoint."""
    session = aws_session(aws)
    if aws.endpoint_url:
        kwargs.setdefault("endpoint_url", aws.endpoint_url)
    return session.client(service, **kwargs)


def lookup_identity(aws: AwsConfig) -> AwsIdentity:
    try:
        session = aws_session(aws)
        if session.get_credentials() is None:
            return AwsIdentity(False, "offline: no AWS credentials")
        from botocore.config import Config

        sts = aws_client(aws, "sts", config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1}))
        arn = sts.get_caller_identity()["Arn"]
        return AwsIdentity(True, f"{one_line(arn.split(':')[-1], 40)} @ {aws.region}")
    except Exception as exc:  # any failure means we cannot reach AWS; say so, do not crash
        return AwsIdentity(False, f"offline: {one_line(type(exc).__name__)}")

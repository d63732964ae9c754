"""S3 reads and writes the emulated SageMaker does against the emulator's own S3."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.sandbox.aws.context import AwsContext

JUMPSTART_BUCKET_PREFIXES = ("jumpstart-cache-prod-", "jumpstart-private-cache-prod-")
MAX_CHANNEL_BYTES = 64 * 1024 * 1024


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def is_jumpstart_bucket(bucket: str) -> bool:
    """AWS-owned JumpStart content buckets: they exist in real AWS but not in the emulator."""
    return bucket.startswith(JUMPSTART_BUCKET_PREFIXES)


def bucket_exists(ctx: AwsContext, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        ctx.client("s3").head_bucket(Bucket=bucket)
        return True
    except ClientError:
        return False


def list_keys(ctx: AwsContext, uri: str) -> list[str] | None:
    """Keys under an S3 prefix (or the object itself); None when the bucket does not exist."""
    from botocore.exceptions import ClientError

    bucket, prefix = split_s3_uri(uri)
    keys: list[str] = []
    try:
        pages = ctx.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
    except ClientError:
        return None
    return keys


def read_prefix(ctx: AwsContext, uri: str) -> dict[str, bytes] | None:
    """Objects under a prefix keyed by their path relative to it; None when nothing is there."""
    keys = list_keys(ctx, uri)
    if not keys:
        return None
    bucket, prefix = split_s3_uri(uri)
    s3 = ctx.client("s3")
    files: dict[str, bytes] = {}
    budget = MAX_CHANNEL_BYTES
    for key in keys:
        if key.endswith("/") or budget <= 0:
            continue
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        data = body.read(budget)
        body.close()
        budget -= len(data)
        relative = key[len(prefix) :].lstrip("/") if key != prefix else key.rsplit("/", 1)[-1]
        files[relative or key.rsplit("/", 1)[-1]] = data
    return files


def put_object(ctx: AwsContext, uri: str, data: bytes) -> None:
    bucket, key = split_s3_uri(uri)
    ctx.client("s3").put_object(Bucket=bucket, Key=key, Body=data)

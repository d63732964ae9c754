"""This session's S3 objects (dataset versions and training outputs, all under
s3://<bucket>/<prefix>/<session>/), their sizes and monthly storage cost, and deleting chosen ones.

S3 Standard storage is priced at STANDARD_USD_PER_GB_MONTH (us-east-1 list price, first 50 TB);
tunedeck cannot see other storage classes' prices. Deleting is a list of keys the user picked after
seeing them; nothing outside the session's prefix is ever listed or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from core.config import Config
    from core.store import Store

STANDARD_USD_PER_GB_MONTH = 0.023


class StorageError(Exception):
    """Listing or deleting cannot go on; the message says why."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int  # bytes
    kind: str  # "training output", "checkpoint", "dataset" or "other"

    @property
    def usd_per_month(self) -> float:
        return self.size / 1e9 * STANDARD_USD_PER_GB_MONTH


def session_prefix(config: Config, store: Store) -> str:
    parts = [p.strip("/") for p in (config.aws.s3_prefix, store.name) if p and p.strip("/")]
    return "/".join(parts) + "/"


def _kind(relative: str) -> str:
    head = relative.split("/", 1)[0]
    if head == "training":
        return "training output"
    if head == "checkpoints":
        return "checkpoint"  # managed spot training's checkpoints, a folder per job
    return "dataset" if "/" in relative else "other"


def list_objects(client: Any, config: Config, store: Store) -> list[StoredObject]:
    """Every object under the session's prefix, largest first. Raises StorageError."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not config.aws.s3_bucket:
        raise StorageError("no S3 bucket: set aws.s3_bucket in the config")
    prefix = session_prefix(config, store)
    found: list[StoredObject] = []
    kwargs: dict[str, Any] = {"Bucket": config.aws.s3_bucket, "Prefix": prefix}
    try:
        while True:
            page = client.list_objects_v2(**kwargs)
            for item in page.get("Contents", []):
                key = str(item["Key"])
                found.append(StoredObject(key, int(item.get("Size") or 0), _kind(key[len(prefix) :])))
            token = page.get("NextContinuationToken")
            if not token:
                break
            kwargs["ContinuationToken"] = token
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"cannot list s3://{config.aws.s3_bucket}/{prefix}: {exc}") from None
    return sorted(found, key=lambda o: -o.size)


def delete_objects(client: Any, config: Config, store: Store, keys: Iterable[str]) -> int:
    """Delete the chosen keys (each must be under the session's prefix); how many were deleted."""
    from botocore.exceptions import BotoCoreError, ClientError

    prefix = session_prefix(config, store)
    chosen = list(dict.fromkeys(keys))
    outside = [k for k in chosen if not k.startswith(prefix)]
    if outside:
        raise StorageError(f"{outside[0]} is not under this session's prefix {prefix}; nothing deleted")
    deleted = 0
    for start in range(0, len(chosen), 1000):
        batch = [{"Key": k} for k in chosen[start : start + 1000]]
        try:
            reply = client.delete_objects(Bucket=config.aws.s3_bucket, Delete={"Objects": batch, "Quiet": True})
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"deleting from s3://{config.aws.s3_bucket}: {exc} ({deleted} deleted)") from None
        errors = reply.get("Errors") or []
        deleted += len(batch) - len(errors)
        if errors:
            first = errors[0]
            raise StorageError(f"{first.get('Key')}: {first.get('Code')}: {first.get('Message')} ({deleted} deleted)")
    store.log("info", "storage", f"deleted {deleted} S3 object(s) under {prefix}")
    return deleted

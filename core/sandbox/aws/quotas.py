"""SageMaker service quotas of the emulated account: "<instance> for training job usage" / "... for endpoint usage".

Instance types not named in a mapping have a quota of 0, like a new account's GPU quotas.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

TRAINING = "training"
ENDPOINT = "endpoint"
_SUFFIX = {TRAINING: "for training job usage", ENDPOINT: "for endpoint usage"}
_INSTANCE_ENUM = {TRAINING: "TrainingInstanceType", ENDPOINT: "ProductionVariantInstanceType"}

DEFAULT_TRAINING_QUOTAS: dict[str, int] = {
    "ml.g5.2xlarge": 2,
    "ml.g5.4xlarge": 2,
    "ml.g5.8xlarge": 1,
    "ml.g5.12xlarge": 2,
    "ml.g5.24xlarge": 1,
    "ml.g5.48xlarge": 1,
    "ml.g6.2xlarge": 1,
    "ml.g6e.2xlarge": 1,
    "ml.p4d.24xlarge": 1,
    "ml.p5.48xlarge": 0,
}
DEFAULT_ENDPOINT_QUOTAS: dict[str, int] = {
    "ml.g5.xlarge": 2,
    "ml.g5.2xlarge": 2,
    "ml.g5.4xlarge": 1,
    "ml.g5.12xlarge": 1,
    "ml.g5.48xlarge": 1,
    "ml.g6.2xlarge": 1,
    "ml.g6e.2xlarge": 1,
    "ml.p4d.24xlarge": 0,
}


def quota_name(kind: str, instance_type: str) -> str:
    return f"{instance_type} {_SUFFIX[kind]}"


def quota_code(name: str) -> str:
    """A stable fake quota code ("L-" and 8 hex digits) derived from the quota name."""
    return "L-" + hashlib.sha256(name.encode()).hexdigest()[:8].upper()


@functools.cache
def known_instance_types(kind: str) -> tuple[str, ...]:
    """Every instance type botocore's SageMaker model allows for training jobs or endpoints."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for(_INSTANCE_ENUM[kind]).enum)


def limit_exceeded_message(name: str, limit: int, used: int, delta: int) -> str:
    return (
        f"The account-level service limit '{name}' is {limit} Instances, with current utilization of "
        f"{used} Instances and a request delta of {delta} Instances. Please use AWS Service Quotas to request "
        "an increase for this quota. If AWS Service Quotas is not available, contact AWS support to request "
        "an increase for this quota."
    )


class QuotaBook:
    """Per-instance-type limits, thread-safe; `set` replaces the mapping of the kinds it is given."""

    def __init__(self, training: Mapping[str, int] | None = None, endpoint: Mapping[str, int] | None = None) -> None:
        self._lock = threading.Lock()
        self._limits = {
            TRAINING: dict(DEFAULT_TRAINING_QUOTAS if training is None else training),
            ENDPOINT: dict(DEFAULT_ENDPOINT_QUOTAS if endpoint is None else endpoint),
        }
        self._requests: list[dict] = []  # increase requests, newest last; they stay PENDING (nobody reviews them)

    def request_increase(self, quota: dict, desired: float, at: float) -> dict:
        """Record an increase request as Service Quotas answers it (RequestedServiceQuotaChange shape)."""
        with self._lock:
            if any(r["QuotaCode"] == quota["QuotaCode"] and r["Status"] == "PENDING" for r in self._requests):
                raise ValueError("ResourceAlreadyExistsException")
            change = {
                "Id": hashlib.sha256(f"{quota['QuotaCode']}{len(self._requests)}".encode()).hexdigest()[:32],
                "ServiceCode": "sagemaker",
                "ServiceName": "Amazon SageMaker",
                "QuotaCode": quota["QuotaCode"],
                "QuotaName": quota["QuotaName"],
                "QuotaArn": quota["QuotaArn"],
                "DesiredValue": float(desired),
                "Status": "PENDING",
                "Created": at,
                "LastUpdated": at,
                "Requester": "tunedeck-emulator",
                "GlobalQuota": False,
                "Unit": "None",
                "QuotaRequestedAtLevel": "ACCOUNT",
            }
            self._requests.append(change)
            return dict(change)

    def requests(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._requests]

    def set(self, training: Mapping[str, int] | None = None, endpoint: Mapping[str, int] | None = None) -> None:
        with self._lock:
            if training is not None:
                self._limits[TRAINING] = {k: int(v) for k, v in training.items()}
            if endpoint is not None:
                self._limits[ENDPOINT] = {k: int(v) for k, v in endpoint.items()}

    def limit(self, kind: str, instance_type: str) -> int:
        with self._lock:
            return self._limits[kind].get(instance_type, 0)

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {k: dict(v) for k, v in self._limits.items()}

    def service_quotas(self, account_id: str, region: str) -> list[dict]:
        """All SageMaker instance quotas as the Service Quotas API returns them (ServiceQuota shape)."""
        limits = self.snapshot()
        quotas = []
        for kind in (TRAINING, ENDPOINT):
            types = list(known_instance_types(kind))
            types += sorted(set(limits[kind]) - set(types))
            for instance_type in types:
                name = quota_name(kind, instance_type)
                code = quota_code(name)
                quotas.append(
                    {
                        "ServiceCode": "sagemaker",
                        "ServiceName": "Amazon SageMaker",
                        "QuotaArn": f"arn:aws:servicequotas:{region}:{account_id}:sagemaker/{code}",
                        "QuotaCode": code,
                        "QuotaName": name,
                        "Value": float(limits[kind].get(instance_type, 0)),
                        "Unit": "None",
                        "Adjustable": True,
                        "GlobalQuota": False,
                        "QuotaAppliedAtLevel": "ACCOUNT",
                        "Description": f"Maximum number of {instance_type} instances allowed for "
                        f"{'training jobs' if kind == TRAINING else 'endpoints'} in this account "
                        "in the current Region.",
                    }
                )
        return quotas

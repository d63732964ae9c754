"""Records of jobs, sweeps, metric points and log cursors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.store.jobs import EPOCH_LEVEL_STEP, FINAL_STATUSES, RUNNING_STATUSES


@dataclass(frozen=True)
class Sweep:
    id: int
    name: str
    spec: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class Job:
    id: int
    name: str
    sweep_id: int | None
    dataset_version_id: int | None
    model_id: str
    model_version: str
    instance_type: str
    hyperparameters: dict[str, str]  # the user's values (plain strings); the request holds the merged set
    status: str
    secondary_status: str | None
    priority: int
    arn: str | None
    request: dict[str, Any] | None
    output_uri: str | None
    failure_reason: str | None
    attempts: int
    next_attempt_at: float | None
    created_at: float
    launched_at: float | None
    start_time: float | None
    end_time: float | None
    billable_seconds: int | None
    last_modified: float | None
    progress: dict[str, Any] | None
    estimated_seconds: float | None
    described_at: float | None
    metrics_cursor_ms: int | None
    logs_cursor_ms: int | None
    monitor_done: bool

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING_STATUSES

    def elapsed_seconds(self, now: float) -> float | None:
        """Seconds since training started (TrainingStartTime), up to its end; None before it started."""
        if self.start_time is None:
            return None
        end = self.end_time if self.end_time is not None else (now if not self.is_final else self.start_time)
        return max(0.0, end - self.start_time)

    def metric_definitions(self) -> list[dict[str, str]]:
        """The MetricDefinitions the job was launched with (empty before launch)."""
        spec = (self.request or {}).get("AlgorithmSpecification") or {}
        return [dict(d) for d in spec.get("MetricDefinitions") or []]

    @classmethod
    def from_row(cls, row: Any) -> Job:
        keys = row.keys()
        return cls(
            id=row["id"],
            name=row["name"],
            sweep_id=row["sweep_id"],
            dataset_version_id=row["dataset_version_id"],
            model_id=row["model_id"],
            model_version=row["model_version"],
            instance_type=row["instance_type"],
            hyperparameters=json.loads(row["hyperparameters"] or "{}"),
            status=row["status"],
            secondary_status=row["secondary_status"],
            priority=row["priority"],
            arn=row["arn"],
            request=json.loads(row["request"]) if row["request"] else None,
            output_uri=row["output_uri"],
            failure_reason=row["failure_reason"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            created_at=row["created_at"],
            launched_at=row["launched_at"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            billable_seconds=row["billable_seconds"],
            last_modified=row["last_modified"],
            progress=json.loads(row["progress"]) if "progress" in keys and row["progress"] else None,
            estimated_seconds=row["estimated_seconds"] if "estimated_seconds" in keys else None,
            described_at=row["described_at"] if "described_at" in keys else None,
            metrics_cursor_ms=row["metrics_cursor_ms"] if "metrics_cursor_ms" in keys else None,
            logs_cursor_ms=row["logs_cursor_ms"] if "logs_cursor_ms" in keys else None,
            monitor_done=bool(row["monitor_done"]) if "monitor_done" in keys else False,
        )


@dataclass(frozen=True)
class NewJob:
    name: str
    model_id: str
    model_version: str
    instance_type: str
    hyperparameters: Mapping[str, str]
    sweep_id: int | None = None
    dataset_version_id: int | None = None
    priority: int = 0
    estimated_seconds: float | None = None


@dataclass(frozen=True)
class MetricPoint:
    job_id: int
    metric: str
    source: str  # "metrics" (CloudWatch) or "logs"
    timestamp_ms: int
    value: float
    epoch: int | None = None
    step: int = EPOCH_LEVEL_STEP  # global step for per-step points, EPOCH_LEVEL_STEP for per-epoch ones


@dataclass(frozen=True)
class LogCursor:
    job_id: int
    stream: str
    next_token: str | None
    last_timestamp_ms: int | None
    parser_state: dict[str, Any] | None


@dataclass(frozen=True)
class EndpointBilling:
    """What the cost meter needs of an endpoint row."""

    name: str
    instance_type: str
    status: str
    price_per_hour: float | None
    created_at: float
    in_service_at: float | None
    deleted_at: float | None

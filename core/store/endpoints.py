"""Endpoints: what tunedeck deployed, their status as last seen, and when they were last used."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from core.store.db import inserted_id
from core.store.lazy_record import record

if TYPE_CHECKING:
    from core.store.db import Database


@record
class EndpointRow:
    id: int
    name: str
    job_id: int | None
    kind: str  # "finetuned" | "base"
    model_name: str | None
    config_name: str | None
    instance_type: str
    prompt_format: str
    status: str
    price_per_hour: float | None
    created_at: float
    in_service_at: float | None
    last_invoked_at: float | None
    deleted_at: float | None
    model_id: str | None
    instruction_template: str | None
    failure_reason: str | None
    job_name: str | None = None

    @property
    def live(self) -> bool:
        return self.deleted_at is None


@record
class JobForDeploy:
    """What the store knows about a training job that deployment needs."""

    id: int
    name: str
    model_id: str
    model_version: str
    status: str
    hyperparameters: dict[str, Any]
    dataset_format: str | None
    dataset_template: str | None


def _endpoint(row: Any) -> EndpointRow:
    keys = row.keys()
    return EndpointRow(
        id=row["id"],
        name=row["name"],
        job_id=row["job_id"],
        kind=row["kind"],
        model_name=row["model_name"],
        config_name=row["config_name"],
        instance_type=row["instance_type"],
        prompt_format=row["prompt_format"],
        status=row["status"],
        price_per_hour=row["price_per_hour"],
        created_at=row["created_at"],
        in_service_at=row["in_service_at"],
        last_invoked_at=row["last_invoked_at"],
        deleted_at=row["deleted_at"],
        model_id=row["model_id"],
        instruction_template=row["instruction_template"],
        failure_reason=row["failure_reason"],
        job_name=row["job_name"] if "job_name" in keys else None,
    )


_SELECT = "SELECT e.*, j.name AS job_name FROM endpoints e LEFT JOIN jobs j ON j.id = e.job_id"


class EndpointsMixin:
    db: Database

    def add_endpoint(
        self,
        name: str,
        *,
        kind: str,
        instance_type: str,
        job_id: int | None = None,
        model_name: str | None = None,
        config_name: str | None = None,
        prompt_format: str = "instruction",
        price_per_hour: float | None = None,
        model_id: str | None = None,
        instruction_template: str | None = None,
        status: str = "Creating",
    ) -> int:
        with self.db.tx() as conn:
            cur = conn.execute(
                "INSERT INTO endpoints (name, job_id, kind, model_name, config_name, instance_type, prompt_format, "
                "status, price_per_hour, created_at, model_id, instruction_template) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    job_id,
                    kind,
                    model_name,
                    config_name,
                    instance_type,
                    prompt_format,
                    status,
                    price_per_hour,
                    time.time(),
                    model_id,
                    instruction_template,
                ),
            )
            return inserted_id(cur)

    def endpoint(self, name: str) -> EndpointRow | None:
        row = self.db.query_one(f"{_SELECT} WHERE e.name = ?", (name,))
        return _endpoint(row) if row else None

    def endpoint_by_id(self, endpoint_id: int) -> EndpointRow | None:
        row = self.db.query_one(f"{_SELECT} WHERE e.id = ?", (endpoint_id,))
        return _endpoint(row) if row else None

    def endpoints(self, *, include_deleted: bool = False) -> list[EndpointRow]:
        where = "" if include_deleted else " WHERE e.deleted_at IS NULL"
        return [_endpoint(r) for r in self.db.query(f"{_SELECT}{where} ORDER BY e.created_at, e.id")]

    def set_endpoint_status(
        self, name: str, status: str, *, failure_reason: str | None = None, at: float | None = None
    ) -> None:
        """Record the status last seen; the first InService sets in_service_at."""
        now = time.time() if at is None else at
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE endpoints SET status = ?, failure_reason = ?, "
                "in_service_at = CASE WHEN ? = 'InService' AND in_service_at IS NULL THEN ? ELSE in_service_at END "
                "WHERE name = ?",
                (status, failure_reason, status, now, name),
            )

    def set_endpoint_prompt_format(
        self, name: str, prompt_format: str, instruction_template: str | None = None
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE endpoints SET prompt_format = ?, instruction_template = ? WHERE name = ?",
                (prompt_format, instruction_template, name),
            )

    def mark_endpoint_deleted(self, name: str, at: float | None = None) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE endpoints SET status = 'Deleted', deleted_at = COALESCE(deleted_at, ?) WHERE name = ?",
                (time.time() if at is None else at, name),
            )

    def forget_endpoint(self, name: str) -> None:
        """Drop the record of an endpoint that was never created (its deployment failed)."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM endpoints WHERE name = ?", (name,))

    def touch_endpoint(self, name: str, at: float | None = None) -> None:
        """Note an invocation (the idle warning counts from the last one)."""
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE endpoints SET last_invoked_at = ? WHERE name = ?", (time.time() if at is None else at, name)
            )

    def job_for_deploy(self, job_name: str) -> JobForDeploy | None:
        row = self.db.query_one(
            "SELECT j.id, j.name, j.model_id, j.model_version, j.status, j.hyperparameters, "
            "d.format AS dataset_format, d.template AS dataset_template "
            "FROM jobs j LEFT JOIN dataset_versions d ON d.id = j.dataset_version_id WHERE j.name = ?",
            (job_name,),
        )
        if row is None:
            return None
        try:
            hyperparameters = json.loads(row["hyperparameters"] or "{}")
        except json.JSONDecodeError:
            hyperparameters = {}
        return JobForDeploy(
            id=row["id"],
            name=row["name"],
            model_id=row["model_id"],
            model_version=row["model_version"],
            status=row["status"],
            hyperparameters=hyperparameters if isinstance(hyperparameters, dict) else {},
            dataset_format=row["dataset_format"],
            dataset_template=row["dataset_template"],
        )

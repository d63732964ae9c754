"""Jobs, sweeps, recipes cache, metric points and log cursors."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from core.store.db import StoreError, inserted_id
from core.store.lazy_record import record

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from core.store.db import Database

QUEUED = "Queued"  # waiting for a free slot (local)
LAUNCHING = "Launching"  # claimed by a dispatcher, CreateTrainingJob under way (local)
IN_PROGRESS = "InProgress"
STOPPING = "Stopping"
COMPLETED = "Completed"
FAILED = "Failed"
STOPPED = "Stopped"
CANCELLED = "Cancelled"  # stopped before it was ever launched (local)

WAITING_STATUSES = (QUEUED, LAUNCHING)
ACTIVE_STATUSES = (LAUNCHING, IN_PROGRESS, STOPPING)  # hold (or are about to hold) an instance slot
RUNNING_STATUSES = (IN_PROGRESS, STOPPING)  # exist in SageMaker and are not finished
FINAL_STATUSES = (COMPLETED, FAILED, STOPPED, CANCELLED)

EPOCH_LEVEL_STEP = -1
"""`step` of metric points that belong to a whole epoch (the store's key needs a value)."""

_UPDATABLE = frozenset(
    {
        "status",
        "secondary_status",
        "priority",
        "arn",
        "request",
        "output_uri",
        "failure_reason",
        "attempts",
        "next_attempt_at",
        "launched_at",
        "start_time",
        "end_time",
        "billable_seconds",
        "last_modified",
        "progress",
        "estimated_seconds",
        "described_at",
        "metrics_cursor_ms",
        "logs_cursor_ms",
        "monitor_done",
    }
)
_JSON_COLUMNS = ("request", "progress")


@record
class Sweep:
    id: int
    name: str
    spec: dict[str, Any]
    created_at: float


@record
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


@record
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


@record
class MetricPoint:
    job_id: int
    metric: str
    source: str  # "metrics" (CloudWatch) or "logs"
    timestamp_ms: int
    value: float
    epoch: int | None = None
    step: int = EPOCH_LEVEL_STEP  # global step for per-step points, EPOCH_LEVEL_STEP for per-epoch ones


@record
class LogCursor:
    job_id: int
    stream: str
    next_token: str | None
    last_timestamp_ms: int | None
    parser_state: dict[str, Any] | None


@record
class EndpointBilling:
    """What the cost meter needs of an endpoint row."""

    name: str
    instance_type: str
    status: str
    price_per_hour: float | None
    created_at: float
    in_service_at: float | None
    deleted_at: float | None


class JobsMixin:
    db: Database

    @contextmanager
    def jobs_batch(self) -> Iterator[None]:
        """One write transaction around several job/metric writes (points, cursors and parser state together)."""
        with self.db.tx():
            yield

    # -- sweeps -----------------------------------------------------------------------------------

    def add_sweep(self, spec: Mapping[str, Any], jobs: Sequence[NewJob] = ()) -> tuple[Sweep, list[Job]]:
        """A new sweep named "sweep-N" with its jobs (queued), in one transaction."""
        now = time.time()
        with self.db.tx() as conn:
            number = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM sweeps").fetchone()[0])
            name = f"sweep-{number}"
            while conn.execute("SELECT 1 FROM sweeps WHERE name = ?", (name,)).fetchone():
                number += 1
                name = f"sweep-{number}"
            sweep_id = inserted_id(
                conn.execute(
                    "INSERT INTO sweeps (name, spec, created_at) VALUES (?, ?, ?)", (name, json.dumps(dict(spec)), now)
                )
            )
            ids = [self._insert_job(conn, NewJob(**{**vars(j), "sweep_id": sweep_id}), now) for j in jobs]
        return self._existing_sweep(sweep_id), [self._existing_job(i) for i in ids]

    def sweep(self, sweep_id: int) -> Sweep | None:
        row = self.db.query_one("SELECT * FROM sweeps WHERE id = ?", (sweep_id,))
        return Sweep(row["id"], row["name"], json.loads(row["spec"]), row["created_at"]) if row else None

    def sweeps(self) -> list[Sweep]:
        return [
            Sweep(r["id"], r["name"], json.loads(r["spec"]), r["created_at"])
            for r in self.db.query("SELECT * FROM sweeps ORDER BY id")
        ]

    # -- jobs -------------------------------------------------------------------------------------

    @staticmethod
    def _insert_job(conn: Any, job: NewJob, now: float) -> int:
        return int(
            conn.execute(
                "INSERT INTO jobs (name, sweep_id, dataset_version_id, model_id, model_version, instance_type, "
                "hyperparameters, status, priority, created_at, estimated_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?)",
                (
                    job.name,
                    job.sweep_id,
                    job.dataset_version_id,
                    job.model_id,
                    job.model_version,
                    job.instance_type,
                    json.dumps(dict(job.hyperparameters)),
                    QUEUED,
                    job.priority,
                    now,
                    job.estimated_seconds,
                ),
            ).lastrowid
        )

    def add_job(self, job: NewJob) -> Job:
        with self.db.tx() as conn:
            job_id = self._insert_job(conn, job, time.time())
        return self._existing_job(job_id)

    def _existing_job(self, job_id: int) -> Job:
        """A job this store just wrote."""
        job = self.job(job_id)
        if job is None:
            raise StoreError(f"job {job_id} vanished right after it was written")
        return job

    def _existing_sweep(self, sweep_id: int) -> Sweep:
        sweep = self.sweep(sweep_id)
        if sweep is None:
            raise StoreError(f"sweep {sweep_id} vanished right after it was written")
        return sweep

    def job(self, id_or_name: int | str) -> Job | None:
        column = "id" if isinstance(id_or_name, int) else "name"
        row = self.db.query_one(f"SELECT * FROM jobs WHERE {column} = ?", (id_or_name,))
        return Job.from_row(row) if row else None

    def jobs(self, statuses: Iterable[str] | None = None, *, sweep_id: int | None = None) -> list[Job]:
        sql = "SELECT * FROM jobs WHERE 1=1"
        params: list[Any] = []
        if statuses is not None:
            wanted = list(statuses)
            if not wanted:
                return []
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            params += wanted
        if sweep_id is not None:
            sql += " AND sweep_id = ?"
            params.append(sweep_id)
        return [Job.from_row(r) for r in self.db.query(sql + " ORDER BY id", params)]

    def job_names(self) -> set[str]:
        return {r[0] for r in self.db.query("SELECT name FROM jobs")}

    def queued_jobs(self) -> list[Job]:
        """Jobs waiting for a slot, in dispatch order: higher priority first, then oldest first."""
        rows = self.db.query("SELECT * FROM jobs WHERE status = ? ORDER BY priority DESC, id", (QUEUED,))
        return [Job.from_row(r) for r in rows]

    def update_job(self, job_id: int, **fields: Any) -> None:
        """Set columns of one job (JSON columns take dicts)."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable job columns: {', '.join(sorted(unknown))}")
        if not fields:
            return
        values = [json.dumps(v) if k in _JSON_COLUMNS and v is not None else v for k, v in fields.items()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.db.tx() as conn:
            conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values, job_id))

    def update_job_if_status(self, job_id: int, expected_status: str, **fields: Any) -> bool:
        """Set columns of one job only while its status is still `expected_status` (compare-and-set,
        also across processes sharing the session); False when another writer changed it first."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable job columns: {', '.join(sorted(unknown))}")
        if not fields:
            return False
        values = [json.dumps(v) if k in _JSON_COLUMNS and v is not None else v for k, v in fields.items()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.db.tx() as conn:
            cur = conn.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ? AND status = ?", (*values, job_id, expected_status)
            )
            return cur.rowcount == 1

    def claim_job(self, job_id: int, now: float | None = None) -> bool:
        """Queued -> Launching, atomically (also across processes); False when someone else got it first."""
        with self.db.tx() as conn:
            cur = conn.execute(
                "UPDATE jobs SET status = ?, attempts = attempts + 1, launched_at = ? WHERE id = ? AND status = ?",
                (LAUNCHING, now if now is not None else time.time(), job_id, QUEUED),
            )
            return cur.rowcount == 1

    def requeue_job(self, job_id: int, next_attempt_at: float | None, reason: str | None) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, next_attempt_at = ?, failure_reason = ?, launched_at = NULL "
                "WHERE id = ? AND status IN (?, ?)",
                (QUEUED, next_attempt_at, reason, job_id, LAUNCHING, QUEUED),
            )

    def cancel_queued_job(self, job_id: int, reason: str) -> bool:
        with self.db.tx() as conn:
            cur = conn.execute(
                "UPDATE jobs SET status = ?, failure_reason = ?, monitor_done = 1 WHERE id = ? AND status = ?",
                (CANCELLED, reason, job_id, QUEUED),
            )
            return cur.rowcount == 1

    def set_job_priority(self, job_id: int, priority: int) -> None:
        self.update_job(job_id, priority=int(priority))

    def reorder_queue(self, job_ids: Sequence[int]) -> None:
        """Give the listed queued jobs descending priorities in this order (first = next to launch),
        above every job not listed."""
        with self.db.tx() as conn:
            floor = conn.execute(
                "SELECT COALESCE(MAX(priority), 0) FROM jobs WHERE status = ? AND id NOT IN "
                f"({','.join('?' * len(job_ids)) or 'NULL'})",
                (QUEUED, *job_ids),
            ).fetchone()[0]
            top = int(floor) + len(job_ids)
            for offset, job_id in enumerate(job_ids):
                conn.execute("UPDATE jobs SET priority = ? WHERE id = ?", (top - offset, job_id))

    # -- metric points ----------------------------------------------------------------------------

    def add_metric_points(self, points: Iterable[MetricPoint]) -> int:
        """Insert points; a point already stored (same job, metric, source, time and step) is ignored.
        Returns how many were new."""
        rows = [(p.job_id, p.metric, p.epoch, p.step, int(p.timestamp_ms), float(p.value), p.source) for p in points]
        if not rows:
            return 0
        with self.db.tx() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO metric_points (job_id, metric, epoch, step, timestamp_ms, value, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return conn.total_changes - before

    def step_series(self, job_id: int, metric: str, source: str) -> list[tuple[int, float]]:
        """(step, value) of one job's per-step metric in step order: what a sparkline needs, without
        building a record per point (a long run has tens of thousands)."""
        return [
            (r[0], r[1])
            for r in self.db.query(
                "SELECT step, value FROM metric_points WHERE job_id = ? AND metric = ? AND source = ? ORDER BY step",
                (job_id, metric, source),
            )
        ]

    def metric_points_except(self, job_id: int, metric: str) -> list[MetricPoint]:
        """Points of one job other than `metric` (e.g. the per-epoch ones beside the step loss)."""
        rows = self.db.query(
            "SELECT * FROM metric_points WHERE job_id = ? AND metric != ? ORDER BY timestamp_ms, step", (job_id, metric)
        )
        return [
            MetricPoint(r["job_id"], r["metric"], r["source"], r["timestamp_ms"], r["value"], r["epoch"], r["step"])
            for r in rows
        ]

    def metric_points(self, job_id: int, metric: str | None = None, source: str | None = None) -> list[MetricPoint]:
        """Points of one job in time order (then step order)."""
        sql = "SELECT * FROM metric_points WHERE job_id = ?"
        params: list[Any] = [job_id]
        if metric is not None:
            sql += " AND metric = ?"
            params.append(metric)
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        rows = self.db.query(sql + " ORDER BY timestamp_ms, step", params)
        return [
            MetricPoint(r["job_id"], r["metric"], r["source"], r["timestamp_ms"], r["value"], r["epoch"], r["step"])
            for r in rows
        ]

    def metric_point_count(self, job_id: int, metric: str | None = None, source: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM metric_points WHERE job_id = ?"
        params: list[Any] = [job_id]
        if metric is not None:
            sql += " AND metric = ?"
            params.append(metric)
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        return int(self.db.scalar(sql, params) or 0)

    # -- log cursors ------------------------------------------------------------------------------

    def log_cursors(self, job_id: int) -> list[LogCursor]:
        rows = self.db.query("SELECT * FROM log_cursors WHERE job_id = ? ORDER BY stream", (job_id,))
        return [
            LogCursor(
                r["job_id"],
                r["stream"],
                r["next_token"],
                r["last_timestamp_ms"],
                json.loads(r["parser_state"]) if r["parser_state"] else None,
            )
            for r in rows
        ]

    def save_log_cursor(
        self,
        job_id: int,
        stream: str,
        *,
        next_token: str | None = None,
        last_timestamp_ms: int | None = None,
        parser_state: Mapping[str, Any] | None = None,
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO log_cursors (job_id, stream, next_token, last_timestamp_ms, parser_state) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(job_id, stream) DO UPDATE SET next_token = excluded.next_token, "
                "last_timestamp_ms = excluded.last_timestamp_ms, parser_state = excluded.parser_state",
                (
                    job_id,
                    stream,
                    next_token,
                    last_timestamp_ms,
                    json.dumps(dict(parser_state)) if parser_state is not None else None,
                ),
            )

    # -- recipe cache -----------------------------------------------------------------------------

    def cached_recipe(self, model_id: str, model_version: str, region: str) -> str | None:
        """The cached recipe JSON (core.training.recipe.Recipe.to_json) or None."""
        data = self.db.scalar(
            "SELECT data FROM recipes WHERE model_id = ? AND model_version = ? AND region = ?",
            (model_id, model_version, region),
        )
        return None if data is None else str(data)

    def cache_recipe(self, model_id: str, model_version: str, region: str, data: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO recipes (model_id, model_version, region, data, fetched_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(model_id, model_version, region) DO UPDATE SET data = excluded.data, "
                "fetched_at = excluded.fetched_at",
                (model_id, model_version, region, data, time.time()),
            )

    # -- cost meter -------------------------------------------------------------------------------

    def endpoints_for_billing(self) -> list[EndpointBilling]:
        """Endpoint rows as the cost meter needs them (read only; endpoints are managed elsewhere)."""
        rows = self.db.query(
            "SELECT name, instance_type, status, price_per_hour, created_at, in_service_at, "
            "deleted_at FROM endpoints ORDER BY id"
        )
        return [
            EndpointBilling(
                r["name"],
                r["instance_type"],
                r["status"],
                r["price_per_hour"],
                r["created_at"],
                r["in_service_at"],
                r["deleted_at"],
            )
            for r in rows
        ]

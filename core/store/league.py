"""League mode: training runs recorded by hand (console runs) and leaderboard submissions.

A console run is a row of `jobs` (so its curves, the Jobs pane and the experiment sheet treat it
like any run) plus a `console_runs` row holding what only the user knows. Its `jobs` row never has
an ARN, is marked done for monitoring, and while the run is in progress carries the status
IN_CONSOLE, which none of the API paths select (they look for Queued, Launching, InProgress and
Stopping): the poller, the dispatcher and the metrics fetcher cannot reach it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.store.jobs import COMPLETED, FAILED, IN_PROGRESS, STOPPED

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.store.db import Database

IN_CONSOLE = "InConsole"
"""The `jobs` status of a console run that is still in progress."""
CONSOLE_STATUSES = (IN_PROGRESS, COMPLETED, FAILED, STOPPED)


class DuplicateRunError(ValueError):
    """A run with that name exists already."""


@dataclass(frozen=True)
class ConsoleRun:
    job_id: int
    name: str
    model_id: str
    model_version: str
    instance_type: str
    hyperparameters: dict[str, str]
    dataset_version_id: int | None
    status: str  # one of CONSOLE_STATUSES
    started_at: float | None
    ended_at: float | None
    duration_s: float | None  # as entered, or ended_at - started_at
    twin_job_id: int | None
    card: dict[str, Any] | None  # the plan card it was started from
    note: str
    created_at: float
    updated_at: float

    def training_seconds(self, now: float) -> float:
        """Seconds of training this run has used (so far, while in progress)."""
        if self.duration_s is not None:
            return self.duration_s
        if self.started_at is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else (now if self.status == IN_PROGRESS else self.started_at)
        return max(0.0, end - self.started_at)


@dataclass(frozen=True)
class NewConsoleRun:
    name: str
    model_id: str
    model_version: str
    instance_type: str
    hyperparameters: Mapping[str, str]
    dataset_version_id: int | None
    status: str
    started_at: float | None = None
    ended_at: float | None = None
    duration_s: float | None = None
    twin_job_id: int | None = None
    card: Mapping[str, Any] | None = None
    note: str = ""


@dataclass(frozen=True)
class Submission:
    id: int
    job_id: int
    run_name: str
    submitted_at: float
    score: str  # as entered: "44/50" or "88%"
    fraction: float  # in [0, 1]
    wins: int | None
    questions: int | None
    rank: int | None
    note: str
    created_at: float


CONSOLE_RUN_FIELDS = frozenset(
    {"status", "started_at", "ended_at", "duration_s", "twin_job_id", "card", "note"}
    | {"model_id", "model_version", "instance_type", "hyperparameters", "dataset_version_id"}
)
_JOB_COLUMNS = ("model_id", "model_version", "instance_type", "hyperparameters", "dataset_version_id")


def _row_id(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None  # an INSERT always sets it
    return cursor.lastrowid


def _job_status(status: str) -> str:
    return IN_CONSOLE if status == IN_PROGRESS else status


def _job_timing(started_at: float | None, ended_at: float | None, duration_s: float | None) -> dict[str, Any]:
    if ended_at is None and started_at is not None and duration_s is not None:
        ended_at = started_at + duration_s
    seconds = duration_s if duration_s is not None else (ended_at - started_at if started_at and ended_at else None)
    return {
        "launched_at": started_at,
        "start_time": started_at,
        "end_time": ended_at,
        "billable_seconds": None if seconds is None else int(round(seconds)),
    }


_SELECT_RUN = (
    "SELECT c.*, j.name, j.model_id, j.model_version, j.instance_type, j.hyperparameters, j.dataset_version_id "
    "FROM console_runs c JOIN jobs j ON j.id = c.job_id"
)


def _run(row: Any) -> ConsoleRun:
    return ConsoleRun(
        job_id=row["job_id"],
        name=row["name"],
        model_id=row["model_id"],
        model_version=row["model_version"],
        instance_type=row["instance_type"],
        hyperparameters=json.loads(row["hyperparameters"] or "{}"),
        dataset_version_id=row["dataset_version_id"],
        status=row["status"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        duration_s=row["duration_s"],
        twin_job_id=row["twin_job_id"],
        card=json.loads(row["card"]) if row["card"] else None,
        note=row["note"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _submission(row: Any) -> Submission:
    return Submission(
        id=row["id"],
        job_id=row["job_id"],
        run_name=row["name"],
        submitted_at=row["submitted_at"],
        score=row["score"],
        fraction=row["fraction"],
        wins=row["wins"],
        questions=row["questions"],
        rank=row["rank"],
        note=row["note"],
        created_at=row["created_at"],
    )


class LeagueMixin:
    db: Database

    # -- console runs -----------------------------------------------------------------------------

    def add_console_run(self, run: NewConsoleRun) -> ConsoleRun:
        """Both rows in one transaction; raises DuplicateRunError when the name is taken."""
        now = time.time()
        timing = _job_timing(run.started_at, run.ended_at, run.duration_s)
        try:
            with self.db.tx() as conn:
                job_id = _row_id(
                    conn.execute(
                        "INSERT INTO jobs (name, dataset_version_id, model_id, model_version, instance_type, "
                        "hyperparameters, status, created_at, launched_at, start_time, end_time, billable_seconds, "
                        "monitor_done) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                        (
                            run.name,
                            run.dataset_version_id,
                            run.model_id,
                            run.model_version,
                            run.instance_type,
                            json.dumps(dict(run.hyperparameters)),
                            _job_status(run.status),
                            now,
                            timing["launched_at"],
                            timing["start_time"],
                            timing["end_time"],
                            timing["billable_seconds"],
                        ),
                    )
                )
                conn.execute(
                    "INSERT INTO console_runs (job_id, status, started_at, ended_at, duration_s, twin_job_id, card, "
                    "note, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        run.status,
                        run.started_at,
                        run.ended_at,
                        run.duration_s,
                        run.twin_job_id,
                        json.dumps(dict(run.card)) if run.card is not None else None,
                        run.note,
                        now,
                        now,
                    ),
                )
        except sqlite3.IntegrityError as exc:
            if "jobs.name" in str(exc):
                raise DuplicateRunError(run.name) from None
            raise
        return self.console_run(job_id)  # type: ignore[return-value]

    def update_console_run(self, job_id: int, **fields: Any) -> ConsoleRun:
        """Change a console run (both rows in one transaction); fields from CONSOLE_RUN_FIELDS."""
        unknown = set(fields) - CONSOLE_RUN_FIELDS
        if unknown:
            raise ValueError(f"not a console run field: {', '.join(sorted(unknown))}")
        current = self.console_run(job_id)
        if current is None:
            raise KeyError(job_id)
        merged = {**vars(current), **fields}
        run_columns = {k: v for k, v in fields.items() if k not in _JOB_COLUMNS}
        if "card" in run_columns and run_columns["card"] is not None:
            run_columns["card"] = json.dumps(dict(run_columns["card"]))
        job_columns: dict[str, Any] = {k: v for k, v in fields.items() if k in _JOB_COLUMNS}
        if "hyperparameters" in job_columns:
            job_columns["hyperparameters"] = json.dumps(dict(job_columns["hyperparameters"]))
        job_columns["status"] = _job_status(merged["status"])
        job_columns.update(_job_timing(merged["started_at"], merged["ended_at"], merged["duration_s"]))
        with self.db.tx() as conn:
            conn.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in job_columns)} WHERE id = ?",
                (*job_columns.values(), job_id),
            )
            run_columns["updated_at"] = time.time()
            conn.execute(
                f"UPDATE console_runs SET {', '.join(f'{k} = ?' for k in run_columns)} WHERE job_id = ?",
                (*run_columns.values(), job_id),
            )
        return self.console_run(job_id)  # type: ignore[return-value]

    def console_run(self, id_or_name: int | str) -> ConsoleRun | None:
        column = "c.job_id" if isinstance(id_or_name, int) else "j.name"
        row = self.db.query_one(f"{_SELECT_RUN} WHERE {column} = ?", (id_or_name,))
        return _run(row) if row else None

    def console_runs(self) -> list[ConsoleRun]:
        return [_run(r) for r in self.db.query(f"{_SELECT_RUN} ORDER BY c.job_id")]

    def console_run_ids(self) -> set[int]:
        return {int(r[0]) for r in self.db.query("SELECT job_id FROM console_runs")}

    # -- leaderboard submissions ------------------------------------------------------------------

    def add_submission(
        self,
        job_id: int,
        *,
        submitted_at: float,
        score: str,
        fraction: float,
        wins: int | None = None,
        questions: int | None = None,
        rank: int | None = None,
        note: str = "",
    ) -> Submission:
        with self.db.tx() as conn:
            submission_id = _row_id(
                conn.execute(
                    "INSERT INTO submissions (job_id, submitted_at, score, fraction, wins, questions, rank, note, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, submitted_at, score, fraction, wins, questions, rank, note, time.time()),
                )
            )
        return self.submission(submission_id)  # type: ignore[return-value]

    def submission(self, submission_id: int) -> Submission | None:
        row = self.db.query_one(
            "SELECT s.*, j.name FROM submissions s JOIN jobs j ON j.id = s.job_id WHERE s.id = ?", (submission_id,)
        )
        return _submission(row) if row else None

    def submissions(self) -> list[Submission]:
        rows = self.db.query(
            "SELECT s.*, j.name FROM submissions s JOIN jobs j ON j.id = s.job_id ORDER BY s.submitted_at, s.id"
        )
        return [_submission(r) for r in rows]

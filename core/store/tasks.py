"""Generation tasks (resume bookkeeping), runs and per-call LLM usage."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from core.store.db import inserted_id
from core.store.lazy_record import record

if TYPE_CHECKING:
    from collections.abc import Iterable

    from core.store.db import Database


@record
class GenTask:
    key: str
    kind: str
    topic_id: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    error: str | None
    result: Any

    @classmethod
    def from_row(cls, row: Any) -> GenTask:
        return cls(
            key=row["key"],
            kind=row["kind"],
            topic_id=row["topic_id"],
            payload=json.loads(row["payload"]),
            status=row["status"],
            attempts=row["attempts"],
            error=row["error"],
            result=json.loads(row["result"]) if row["result"] else None,
        )


class TasksMixin:
    db: Database

    def ensure_tasks(self, tasks: Iterable[tuple[str, str, int | None, dict[str, Any]]]) -> int:
        """Register (key, kind, topic_id, payload) tasks; existing keys are left as they are."""
        now = time.time()
        with self.db.tx() as conn:
            cur = conn.executemany(
                "INSERT OR IGNORE INTO gen_tasks (key, kind, topic_id, payload, updated_at) VALUES (?, ?, ?, ?, ?)",
                [(k, kind, topic, json.dumps(payload), now) for k, kind, topic, payload in tasks],
            )
            return cur.rowcount

    def task(self, key: str) -> GenTask | None:
        row = self.db.query_one("SELECT * FROM gen_tasks WHERE key = ?", (key,))
        return GenTask.from_row(row) if row else None

    def tasks(self, kind: str | None = None, status: str | None = None) -> list[GenTask]:
        sql, params = "SELECT * FROM gen_tasks WHERE 1=1", []
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        if status:
            sql += " AND status = ?"
            params.append(status)
        return [GenTask.from_row(r) for r in self.db.query(sql + " ORDER BY rowid", params)]

    def finish_task(self, key: str, result: Any = None) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE gen_tasks SET status = 'done', result = ?, error = NULL, attempts = attempts + 1, updated_at "
                "= ? "
                "WHERE key = ?",
                (json.dumps(result) if result is not None else None, time.time(), key),
            )

    def fail_task(self, key: str, error: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE gen_tasks SET status = 'failed', error = ?, attempts = attempts + 1, updated_at = ? WHERE "
                "key = ?",
                (error, time.time(), key),
            )

    def retry_failed_tasks(self, kind: str | None = None) -> int:
        with self.db.tx() as conn:
            sql = "UPDATE gen_tasks SET status = 'pending' WHERE status = 'failed'"
            params: list[Any] = []
            if kind:
                sql += " AND kind = ?"
                params.append(kind)
            return conn.execute(sql, params).rowcount

    def task_counts(self, kind: str | None = None) -> dict[str, int]:
        counts = {"pending": 0, "done": 0, "failed": 0}
        sql, params = "SELECT status, COUNT(*) FROM gen_tasks", []
        if kind:
            sql += " WHERE kind = ?"
            params.append(kind)
        for row in self.db.query(sql + " GROUP BY status", params):
            counts[row[0]] = row[1]
        return counts

    def start_run(self, kind: str) -> int:
        with self.db.tx() as conn:
            return inserted_id(conn.execute("INSERT INTO runs (kind, started_at) VALUES (?, ?)", (kind, time.time())))

    def finish_run(self, run_id: int, status: str, stats: dict[str, Any]) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, stats = ? WHERE id = ?",
                (status, time.time(), json.dumps(stats), run_id),
            )

    def record_llm_call(
        self,
        *,
        profile: str,
        model: str,
        purpose: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_ms: float,
        cost_usd: float,
        error: str | None = None,
        run_id: int | None = None,
        priced: bool = True,
    ) -> None:
        """One LLM call; `priced=False` when no price was known (its cost_usd is then 0 but not a $0 call)."""
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO llm_calls (run_id, profile, model, purpose, prompt_tokens, completion_tokens, latency_ms, "
                "cost_usd, error, at, priced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    profile,
                    model,
                    purpose,
                    prompt_tokens,
                    completion_tokens,
                    latency_ms,
                    cost_usd,
                    error,
                    time.time(),
                    1 if priced else 0,
                ),
            )

    def llm_spend_by_purpose(self) -> dict[str, dict[str, float]]:
        """LLM spend per purpose: {purpose: {"calls", "cost_usd" (priced calls), "unpriced_calls"}}."""
        rows = self.db.query(
            "SELECT purpose, COUNT(*), COALESCE(SUM(CASE WHEN priced THEN cost_usd ELSE 0 END),0), "
            "COALESCE(SUM(CASE WHEN priced THEN 0 ELSE 1 END),0) FROM llm_calls GROUP BY purpose ORDER BY purpose"
        )
        return {row[0]: {"calls": row[1], "cost_usd": row[2], "unpriced_calls": row[3]} for row in rows}

    def llm_usage(self, run_id: int | None = None) -> dict[str, float]:
        sql = (
            "SELECT COUNT(*), COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0), "
            "COALESCE(SUM(cost_usd),0) FROM llm_calls"
        )
        row = self.db.query(
            sql + (" WHERE run_id = ?" if run_id is not None else ""), (run_id,) if run_id is not None else ()
        )[0]
        return {"calls": row[0], "prompt_tokens": row[1], "completion_tokens": row[2], "cost_usd": row[3]}

"""Prompt versions, playground rounds, runs and samples, side-by-side comparisons and rehearsals.

A sample row exists from the moment its generation starts; its text is rewritten as it streams
(`update_sample_text`) and finished once (`finish_sample`), so a killed process keeps the
partial answer. Texts are model output, stored verbatim (untrusted).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from core.store.db import Database, inserted_id
from core.store.lazy_record import record

if TYPE_CHECKING:
    from collections.abc import Sequence


def _version(row: sqlite3.Row) -> PromptVersionRow:
    return PromptVersionRow(
        row["id"],
        row["name"],
        row["system_prompt"],
        row["temperature"],
        row["top_p"],
        row["max_tokens"],
        row["parent_id"],
        row["created_at"],
    )


def _round(row: sqlite3.Row) -> RoundRow:
    return RoundRow(
        row["id"],
        row["question"],
        row["seconds"],
        row["started_at"],
        row["submitted_sample_id"],
        row["submitted_at"],
        bool(row["auto_submitted"]),
    )


def _run(row: sqlite3.Row) -> RunRow:
    return RunRow(
        row["id"],
        row["prompt_version_id"],
        row["target"],
        row["system_prompt"],
        row["temperature"],
        row["top_p"],
        row["max_tokens"],
        row["question"],
        row["kind"],
        row["round_id"],
        row["rehearsal_id"],
        row["question_id"],
        row["created_at"],
    )


def _sample(row: sqlite3.Row) -> SampleRow:
    return SampleRow(
        row["id"],
        row["run_id"],
        row["idx"],
        row["text"],
        row["finish_reason"],
        row["latency_ms"],
        row["tokens"],
        row["error"],
        bool(row["picked"]),
        row["submitted_at"],
        row["judge_score"],
        row["judge_reason"],
    )


def _comparison(row: sqlite3.Row) -> ComparisonRow:
    return ComparisonRow(
        row["id"],
        row["question"],
        row["run_a"],
        row["run_b"],
        row["human_choice"],
        row["judge_choice"],
        row["judge_reason"],
        row["created_at"],
    )


def _rehearsal(row: sqlite3.Row) -> RehearsalRow:
    return RehearsalRow(
        row["id"],
        row["set_id"],
        row["target"],
        json.loads(row["versions"]),
        row["k"],
        row["baseline"],
        row["status"],
        json.loads(row["summary"] or "{}"),
        row["created_at"],
        row["finished_at"],
    )


class PlaygroundMixin:
    db: Database

    # ---- prompt versions -----------------------------------------------------------------------

    def save_prompt_version(
        self,
        name: str,
        system_prompt: str,
        *,
        temperature: float,
        top_p: float,
        max_tokens: int,
        parent_id: int | None = None,
    ) -> int:
        """A new named version. Raises ValueError if the name is taken."""
        with self.db.tx() as conn:
            try:
                return inserted_id(
                    conn.execute(
                        "INSERT INTO prompt_versions (name, system_prompt, temperature, top_p, max_tokens, parent_id, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            name,
                            system_prompt,
                            float(temperature),
                            float(top_p),
                            int(max_tokens),
                            parent_id,
                            time.time(),
                        ),
                    )
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"a prompt version named {name!r} already exists") from None

    def prompt_versions(self) -> list[PromptVersionRow]:
        return [_version(r) for r in self.db.query("SELECT * FROM prompt_versions ORDER BY created_at, id")]

    def prompt_version(self, version_id: int) -> PromptVersionRow | None:
        row = self.db.query_one("SELECT * FROM prompt_versions WHERE id = ?", (version_id,))
        return _version(row) if row else None

    def prompt_version_named(self, name: str) -> PromptVersionRow | None:
        row = self.db.query_one("SELECT * FROM prompt_versions WHERE name = ?", (name,))
        return _version(row) if row else None

    def rename_prompt_version(self, version_id: int, name: str) -> None:
        with self.db.tx() as conn:
            try:
                conn.execute("UPDATE prompt_versions SET name = ? WHERE id = ?", (name, version_id))
            except sqlite3.IntegrityError:
                raise ValueError(f"a prompt version named {name!r} already exists") from None

    def delete_prompt_version(self, version_id: int) -> None:
        """Its runs stay (without a version), so the history of answers is kept."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM prompt_versions WHERE id = ?", (version_id,))

    # ---- rounds --------------------------------------------------------------------------------

    def start_round(self, question: str, seconds: float, started_at: float) -> int:
        with self.db.tx() as conn:
            return inserted_id(
                conn.execute(
                    "INSERT INTO playground_rounds (question, seconds, started_at) VALUES (?, ?, ?)",
                    (question, float(seconds), float(started_at)),
                )
            )

    def playground_round(self, round_id: int) -> RoundRow | None:
        row = self.db.query_one("SELECT * FROM playground_rounds WHERE id = ?", (round_id,))
        return _round(row) if row else None

    def playground_rounds(self) -> list[RoundRow]:
        return [_round(r) for r in self.db.query("SELECT * FROM playground_rounds ORDER BY started_at, id")]

    def submit_round(self, round_id: int, sample_id: int, at: float, *, auto: bool = False) -> bool:
        """Record the answer handed in for a round (the first submission counts). False if already submitted."""
        with self.db.tx() as conn:
            cur = conn.execute(
                "UPDATE playground_rounds SET submitted_sample_id = ?, submitted_at = ?, auto_submitted = ? "
                "WHERE id = ? AND submitted_at IS NULL",
                (sample_id, float(at), int(auto), round_id),
            )
            if cur.rowcount == 0:
                return False
            conn.execute("UPDATE samples SET submitted_at = ? WHERE id = ?", (float(at), sample_id))
            return True

    # ---- runs and samples ----------------------------------------------------------------------

    def create_run(
        self,
        *,
        target: str,
        system_prompt: str,
        temperature: float,
        top_p: float,
        max_tokens: int,
        question: str,
        samples: int,
        prompt_version_id: int | None = None,
        kind: str = "single",
        round_id: int | None = None,
        rehearsal_id: int | None = None,
        question_id: int | None = None,
        round_started_at: float | None = None,
    ) -> tuple[int, list[int]]:
        """A run with `samples` empty sample rows (idx 0..samples-1): (run id, sample ids)."""
        with self.db.tx() as conn:
            run_id = inserted_id(
                conn.execute(
                    "INSERT INTO playground_runs (prompt_version_id, target, system_prompt, temperature, top_p, "
                    "max_tokens, question, round_started_at, created_at, kind, round_id, rehearsal_id, question_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        prompt_version_id,
                        target,
                        system_prompt,
                        float(temperature),
                        float(top_p),
                        int(max_tokens),
                        question,
                        round_started_at,
                        time.time(),
                        kind,
                        round_id,
                        rehearsal_id,
                        question_id,
                    ),
                )
            )
            ids = [
                inserted_id(conn.execute("INSERT INTO samples (run_id, idx, text) VALUES (?, ?, '')", (run_id, idx)))
                for idx in range(samples)
            ]
            return run_id, ids

    def playground_run(self, run_id: int) -> RunRow | None:
        row = self.db.query_one("SELECT * FROM playground_runs WHERE id = ?", (run_id,))
        return _run(row) if row else None

    def playground_runs(
        self,
        *,
        prompt_version_id: int | None = None,
        kind: str | None = None,
        rehearsal_id: int | None = None,
        limit: int | None = None,
    ) -> list[RunRow]:
        """Newest first."""
        where, params = [], []
        for column, value in (("prompt_version_id", prompt_version_id), ("kind", kind), ("rehearsal_id", rehearsal_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM playground_runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at DESC, id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return [_run(r) for r in self.db.query(sql, tuple(params))]

    def rehearsal_run(self, rehearsal_id: int, prompt_version_id: int, question_id: int) -> RunRow | None:
        row = self.db.query_one(
            "SELECT * FROM playground_runs WHERE rehearsal_id = ? AND prompt_version_id = ? AND question_id = ? "
            "ORDER BY id LIMIT 1",
            (rehearsal_id, prompt_version_id, question_id),
        )
        return _run(row) if row else None

    def samples(self, run_id: int) -> list[SampleRow]:
        return [_sample(r) for r in self.db.query("SELECT * FROM samples WHERE run_id = ? ORDER BY idx", (run_id,))]

    def samples_for_runs(self, run_ids: Sequence[int]) -> dict[int, list[SampleRow]]:
        found: dict[int, list[SampleRow]] = {run_id: [] for run_id in run_ids}
        for start in range(0, len(run_ids), 500):
            chunk = tuple(run_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT * FROM samples WHERE run_id IN ({marks}) ORDER BY run_id, idx", chunk):
                found[row["run_id"]].append(_sample(row))
        return found

    def sample(self, sample_id: int) -> SampleRow | None:
        row = self.db.query_one("SELECT * FROM samples WHERE id = ?", (sample_id,))
        return _sample(row) if row else None

    def update_sample_text(self, sample_id: int, text: str) -> None:
        """The text so far of a sample that is still streaming."""
        with self.db.tx() as conn:
            conn.execute("UPDATE samples SET text = ? WHERE id = ? AND finish_reason IS NULL", (text, sample_id))

    def finish_sample(
        self,
        sample_id: int,
        text: str,
        *,
        finish_reason: str,
        latency_ms: float | None = None,
        tokens: int | None = None,
        error: str | None = None,
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE samples SET text = ?, finish_reason = ?, latency_ms = ?, tokens = ?, error = ? WHERE id = ?",
                (text, finish_reason, latency_ms, tokens, error, sample_id),
            )

    def reset_sample(self, sample_id: int) -> None:
        """Clear a failed or cut-off sample before it is generated again."""
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE samples SET text = '', finish_reason = NULL, latency_ms = NULL, tokens = NULL, "
                "error = NULL, judge_score = NULL, judge_reason = NULL WHERE id = ?",
                (sample_id,),
            )

    def pick_sample(self, sample_id: int) -> None:
        """Mark the chosen sample of its run (one per run)."""
        with self.db.tx() as conn:
            row = conn.execute("SELECT run_id FROM samples WHERE id = ?", (sample_id,)).fetchone()
            if row is None:
                return
            conn.execute("UPDATE samples SET picked = (id = ?) WHERE run_id = ?", (sample_id, row[0]))

    def unpick_run(self, run_id: int) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE samples SET picked = 0 WHERE run_id = ?", (run_id,))

    def set_sample_judgement(self, sample_id: int, score: float | None, reason: str | None) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE samples SET judge_score = ?, judge_reason = ? WHERE id = ?", (score, reason, sample_id)
            )

    # ---- comparisons ---------------------------------------------------------------------------

    def create_comparison(self, question: str, run_a: int, run_b: int) -> int:
        with self.db.tx() as conn:
            return inserted_id(
                conn.execute(
                    "INSERT INTO playground_comparisons (question, run_a, run_b, created_at) VALUES (?, ?, ?, ?)",
                    (question, run_a, run_b, time.time()),
                )
            )

    def comparison(self, comparison_id: int) -> ComparisonRow | None:
        row = self.db.query_one("SELECT * FROM playground_comparisons WHERE id = ?", (comparison_id,))
        return _comparison(row) if row else None

    def comparisons(self) -> list[ComparisonRow]:
        return [_comparison(r) for r in self.db.query("SELECT * FROM playground_comparisons ORDER BY id")]

    def set_human_choice(self, comparison_id: int, choice: str) -> None:
        if choice not in ("A", "B", "tie"):
            raise ValueError("choice must be 'A', 'B' or 'tie'")
        with self.db.tx() as conn:
            conn.execute("UPDATE playground_comparisons SET human_choice = ? WHERE id = ?", (choice, comparison_id))

    def set_judge_choice(self, comparison_id: int, choice: str, reason: str) -> None:
        if choice not in ("A", "B", "tie"):
            raise ValueError("choice must be 'A', 'B' or 'tie'")
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE playground_comparisons SET judge_choice = ?, judge_reason = ? WHERE id = ?",
                (choice, reason, comparison_id),
            )

    def version_comparisons(self) -> list[tuple[ComparisonRow, int | None, int | None]]:
        """Every comparison with the prompt version of each side."""
        rows = self.db.query(
            "SELECT c.*, ra.prompt_version_id AS version_a, rb.prompt_version_id AS version_b "
            "FROM playground_comparisons c JOIN playground_runs ra ON ra.id = c.run_a "
            "JOIN playground_runs rb ON rb.id = c.run_b ORDER BY c.id"
        )
        return [(_comparison(r), r["version_a"], r["version_b"]) for r in rows]

    def run_counts_by_version(self) -> dict[int, tuple[int, int]]:
        """prompt version id -> (runs, samples)."""
        rows = self.db.query(
            "SELECT r.prompt_version_id AS v, COUNT(DISTINCT r.id) AS runs, COUNT(s.id) AS samples "
            "FROM playground_runs r LEFT JOIN samples s ON s.run_id = r.id "
            "WHERE r.prompt_version_id IS NOT NULL GROUP BY r.prompt_version_id"
        )
        return {r["v"]: (r["runs"], r["samples"]) for r in rows}

    # ---- rehearsals ----------------------------------------------------------------------------

    def create_rehearsal(self, *, set_id: int, target: str, version_ids: Sequence[int], k: int, baseline: str) -> int:
        with self.db.tx() as conn:
            return inserted_id(
                conn.execute(
                    "INSERT INTO rehearsals (set_id, target, versions, k, baseline, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (set_id, target, json.dumps(list(version_ids)), int(k), baseline, time.time()),
                )
            )

    def rehearsal(self, rehearsal_id: int) -> RehearsalRow | None:
        row = self.db.query_one("SELECT * FROM rehearsals WHERE id = ?", (rehearsal_id,))
        return _rehearsal(row) if row else None

    def rehearsals(self) -> list[RehearsalRow]:
        return [_rehearsal(r) for r in self.db.query("SELECT * FROM rehearsals ORDER BY created_at, id")]

    def finish_rehearsal(self, rehearsal_id: int, status: str, summary: dict[str, Any]) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE rehearsals SET status = ?, summary = ?, finished_at = ? WHERE id = ?",
                (status, json.dumps(summary, sort_keys=True), time.time(), rehearsal_id),
            )


@record
class PromptVersionRow:
    id: int
    name: str
    system_prompt: str
    temperature: float
    top_p: float
    max_tokens: int
    parent_id: int | None
    created_at: float


@record
class RoundRow:
    id: int
    question: str
    seconds: float
    started_at: float
    submitted_sample_id: int | None
    submitted_at: float | None
    auto_submitted: bool

    @property
    def submitted_in_time(self) -> bool | None:
        if self.submitted_at is None:
            return None
        return self.submitted_at - self.started_at <= self.seconds


@record
class RunRow:
    id: int
    prompt_version_id: int | None
    target: str
    system_prompt: str
    temperature: float
    top_p: float
    max_tokens: int
    question: str
    kind: str  # "single" | "compare" | "rehearsal"
    round_id: int | None
    rehearsal_id: int | None
    question_id: int | None
    created_at: float


@record
class SampleRow:
    id: int
    run_id: int
    idx: int
    text: str
    finish_reason: str | None  # None while streaming; "stop", "length", "cancelled", "error"
    latency_ms: float | None
    tokens: int | None
    error: str | None
    picked: bool
    submitted_at: float | None
    judge_score: float | None
    judge_reason: str | None

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    @property
    def ok(self) -> bool:
        return self.finish_reason in ("stop", "length") and self.error is None


@record
class ComparisonRow:
    id: int
    question: str
    run_a: int
    run_b: int
    human_choice: str | None  # "A" | "B" | "tie" in run terms
    judge_choice: str | None
    judge_reason: str | None
    created_at: float


@record
class RehearsalRow:
    id: int
    set_id: int | None
    target: str
    version_ids: list[int]
    k: int
    baseline: str  # "other" | "reference"
    status: str  # "running" | "done" | "incomplete"
    summary: dict[str, Any]
    created_at: float
    finished_at: float | None

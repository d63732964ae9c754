"""Question sets, answers, judge verdicts and human votes.

Answers, verdicts and votes are written one at a time as they arrive, each in its own
transaction, keyed by the schema's UNIQUE constraints: a rerun finds what is already there and
never stores a second copy. A successful answer or verdict is never overwritten; a failed one
(error set, no text / winner) is replaced by the next attempt.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import field
from typing import TYPE_CHECKING, Any

from core.store.db import Database, inserted_id
from core.store.lazy_record import record

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


def _evaluation(row: sqlite3.Row) -> EvaluationRow:
    return EvaluationRow(
        id=row["id"],
        set_id=row["set_id"],
        target_a=row["target_a"],
        target_b=row["target_b"],
        endpoint_id=row["endpoint_id"],
        rubric=row["rubric"],
        status=row["status"],
        summary=json.loads(row["summary"] or "{}"),
        settings=json.loads(row["settings"] or "{}"),
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


def _answer(row: sqlite3.Row) -> AnswerRow:
    return AnswerRow(
        row["question_id"],
        row["target"],
        row["sample"],
        row["text"],
        row["latency_ms"],
        row["tokens"],
        row["error"],
        row["finish_reason"],
        row["created_at"],
    )


def _verdict(row: sqlite3.Row) -> VerdictRow:
    return VerdictRow(
        row["evaluation_id"],
        row["question_id"],
        row["ordering"],
        row["winner"],
        row["reason"],
        row["error"],
        row["created_at"],
    )


def _canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class EvalsMixin:
    db: Database

    # ---- question sets -------------------------------------------------------------------------

    def create_question_set(
        self, name: str, questions: Iterable[tuple[str, str, str | None]], *, source: str = ""
    ) -> int:
        """Create a set from (text, topic, reference) tuples in one transaction: all or nothing.

        Raises ValueError if a set of that name exists."""
        with self.db.tx() as conn:
            try:
                set_id = inserted_id(
                    conn.execute(
                        "INSERT INTO question_sets (name, source, created_at) VALUES (?, ?, ?)",
                        (name, source, time.time()),
                    )
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"a question set named {name!r} already exists") from None
            conn.executemany(
                "INSERT INTO questions (set_id, position, topic, text, reference) VALUES (?, ?, ?, ?, ?)",
                [
                    (set_id, position, topic or "", text, reference)
                    for position, (text, topic, reference) in enumerate(questions)
                ],
            )
            return set_id

    def _set_rows(self, where: str = "", params: tuple = ()) -> list[QuestionSetRow]:
        rows = self.db.query(
            "SELECT s.id, s.name, s.source, s.created_at, COUNT(q.id) AS n FROM question_sets s "
            f"LEFT JOIN questions q ON q.set_id = s.id {where} GROUP BY s.id ORDER BY s.created_at, s.id",
            params,
        )
        return [QuestionSetRow(r["id"], r["name"], r["source"], r["created_at"], r["n"]) for r in rows]

    def question_sets(self) -> list[QuestionSetRow]:
        return self._set_rows()

    def question_set(self, name: str) -> QuestionSetRow | None:
        rows = self._set_rows("WHERE s.name = ?", (name,))
        return rows[0] if rows else None

    def question_set_by_id(self, set_id: int) -> QuestionSetRow | None:
        rows = self._set_rows("WHERE s.id = ?", (set_id,))
        return rows[0] if rows else None

    def questions(self, set_id: int) -> list[QuestionRow]:
        rows = self.db.query("SELECT * FROM questions WHERE set_id = ? ORDER BY position", (set_id,))
        return [QuestionRow(r["id"], r["set_id"], r["position"], r["topic"], r["text"], r["reference"]) for r in rows]

    def question_set_texts(self) -> list[str]:
        """Every question of every set (they must never reach a training export)."""
        return [r[0] for r in self.db.query("SELECT text FROM questions ORDER BY set_id, position")]

    def delete_question_set(self, name: str) -> bool:
        """Delete a set with its questions, and the evaluations, answers, verdicts and votes on it."""
        with self.db.tx() as conn:
            row = conn.execute("SELECT id FROM question_sets WHERE name = ?", (name,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM evaluations WHERE set_id = ?", (row[0],))
            conn.execute("DELETE FROM question_sets WHERE id = ?", (row[0],))
            return True

    # ---- evaluations ---------------------------------------------------------------------------

    def create_evaluation(
        self,
        set_id: int,
        target_a: str,
        target_b: str,
        *,
        rubric: str = "",
        settings: dict[str, Any] | None = None,
        endpoint_id: int | None = None,
    ) -> int:
        with self.db.tx() as conn:
            return inserted_id(
                conn.execute(
                    "INSERT INTO evaluations (set_id, target_a, target_b, endpoint_id, rubric, status, settings, "
                    "created_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                    (set_id, target_a, target_b, endpoint_id, rubric, _canonical(settings or {}), time.time()),
                )
            )

    def evaluation(self, evaluation_id: int) -> EvaluationRow | None:
        row = self.db.query_one("SELECT * FROM evaluations WHERE id = ?", (evaluation_id,))
        return _evaluation(row) if row else None

    def evaluations(self, set_id: int | None = None) -> list[EvaluationRow]:
        """Newest first."""
        if set_id is None:
            rows = self.db.query("SELECT * FROM evaluations ORDER BY created_at DESC, id DESC")
        else:
            rows = self.db.query(
                "SELECT * FROM evaluations WHERE set_id = ? ORDER BY created_at DESC, id DESC", (set_id,)
            )
        return [_evaluation(r) for r in rows]

    def find_evaluation(
        self, set_id: int, target_a: str, target_b: str, *, rubric: str, settings: dict[str, Any]
    ) -> EvaluationRow | None:
        """The newest evaluation of the same set, targets, rubric and settings (to resume it)."""
        row = self.db.query_one(
            "SELECT * FROM evaluations WHERE set_id = ? AND target_a = ? AND target_b = ? AND rubric = ? "
            "AND settings = ? ORDER BY created_at DESC, id DESC LIMIT 1",
            (set_id, target_a, target_b, rubric, _canonical(settings)),
        )
        return _evaluation(row) if row else None

    def finish_evaluation(self, evaluation_id: int, status: str, summary: dict[str, Any]) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE evaluations SET status = ?, summary = ?, finished_at = ? WHERE id = ?",
                (status, json.dumps(summary), time.time(), evaluation_id),
            )

    def job_evaluations(self) -> list[JobEvaluation]:
        """Evaluations with an endpoint deployed from a job as target A, oldest first."""
        rows = self.db.query(
            "SELECT v.*, j.name AS job_name, e.name AS endpoint_name FROM evaluations v "
            "JOIN endpoints e ON v.target_a = 'endpoint:' || e.name JOIN jobs j ON j.id = e.job_id "
            "ORDER BY v.created_at, v.id"
        )
        return [JobEvaluation(r["job_name"], r["endpoint_name"], _evaluation(r)) for r in rows]

    # ---- answers -------------------------------------------------------------------------------

    def save_answer(
        self,
        question_id: int,
        target: str,
        *,
        text: str | None,
        error: str | None = None,
        latency_ms: float | None = None,
        tokens: int | None = None,
        finish_reason: str | None = None,
        sample: int = 0,
    ) -> bool:
        """Store one answer (or its failure). False when a good answer was already there (kept)."""
        with self.db.tx() as conn:
            cur = conn.execute(
                "INSERT INTO answers (question_id, target, sample, text, latency_ms, tokens, error, finish_reason, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (question_id, target, sample) DO UPDATE SET text = excluded.text, "
                "latency_ms = excluded.latency_ms, tokens = excluded.tokens, error = excluded.error, "
                "finish_reason = excluded.finish_reason, created_at = excluded.created_at "
                "WHERE answers.text IS NULL OR answers.error IS NOT NULL",
                (question_id, target, sample, text, latency_ms, tokens, error, finish_reason, time.time()),
            )
            return cur.rowcount > 0

    def answers_for(self, question_ids: Sequence[int], target: str, sample: int = 0) -> dict[int, AnswerRow]:
        if not question_ids:
            return {}
        found: dict[int, AnswerRow] = {}
        ids = list(question_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                f"SELECT * FROM answers WHERE target = ? AND sample = ? AND question_id IN ({marks})",
                (target, sample, *chunk),
            ):
                found[row["question_id"]] = _answer(row)
        return found

    # ---- verdicts ------------------------------------------------------------------------------

    def save_verdict(
        self,
        evaluation_id: int,
        question_id: int,
        ordering: str,
        *,
        winner: str | None,
        reason: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Store one judge run (raw winner in slot terms) or its failure; a good verdict is kept."""
        with self.db.tx() as conn:
            cur = conn.execute(
                "INSERT INTO verdicts (evaluation_id, question_id, ordering, winner, reason, error, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (evaluation_id, question_id, ordering) DO UPDATE SET winner = excluded.winner, "
                "reason = excluded.reason, error = excluded.error, created_at = excluded.created_at "
                "WHERE verdicts.winner IS NULL OR verdicts.error IS NOT NULL",
                (evaluation_id, question_id, ordering, winner, reason, error, time.time()),
            )
            return cur.rowcount > 0

    def verdicts(self, evaluation_id: int) -> list[VerdictRow]:
        rows = self.db.query(
            "SELECT * FROM verdicts WHERE evaluation_id = ? ORDER BY question_id, ordering", (evaluation_id,)
        )
        return [_verdict(r) for r in rows]

    # ---- human votes ---------------------------------------------------------------------------

    def record_vote(self, evaluation_id: int, question_id: int, voter: str, *, a_on_left: bool, choice: str) -> None:
        """One voter's vote on one question (in target terms); voting again replaces it."""
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO votes (evaluation_id, question_id, voter, a_on_left, choice, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (evaluation_id, question_id, voter) DO UPDATE SET "
                "a_on_left = excluded.a_on_left, choice = excluded.choice, created_at = excluded.created_at",
                (evaluation_id, question_id, voter, int(bool(a_on_left)), choice, time.time()),
            )

    def votes(self, evaluation_id: int, voter: str | None = None) -> list[VoteRow]:
        sql = "SELECT * FROM votes WHERE evaluation_id = ?"
        params: tuple[int | str, ...] = (evaluation_id,)
        if voter is not None:
            sql, params = sql + " AND voter = ?", (evaluation_id, voter)
        rows = self.db.query(sql + " ORDER BY question_id, voter", params)
        return [
            VoteRow(
                r["evaluation_id"], r["question_id"], r["voter"], bool(r["a_on_left"]), r["choice"], r["created_at"]
            )
            for r in rows
        ]


@record
class QuestionSetRow:
    id: int
    name: str
    source: str
    created_at: float
    count: int


@record
class QuestionRow:
    id: int
    set_id: int
    position: int
    topic: str
    text: str
    reference: str | None


@record
class EvaluationRow:
    id: int
    set_id: int
    target_a: str
    target_b: str
    endpoint_id: int | None
    rubric: str
    status: str  # "running" | "done" | "incomplete"
    summary: dict[str, Any]
    settings: dict[str, Any]
    created_at: float
    finished_at: float | None


@record
class AnswerRow:
    question_id: int
    target: str
    sample: int
    text: str | None
    latency_ms: float | None
    tokens: int | None
    error: str | None
    finish_reason: str | None
    created_at: float

    @property
    def ok(self) -> bool:
        return self.text is not None and self.error is None


@record
class VerdictRow:
    evaluation_id: int
    question_id: int
    ordering: str  # "AB" (target A shown first) | "BA"
    winner: str | None  # raw, in slot terms: "A" = the answer shown first
    reason: str | None
    error: str | None
    created_at: float

    @property
    def ok(self) -> bool:
        return self.winner is not None and self.error is None


@record
class VoteRow:
    evaluation_id: int
    question_id: int
    voter: str
    a_on_left: bool
    choice: str  # in target terms: "A", "B", "tie", "both_bad"
    created_at: float


@record
class JobEvaluation:
    """An evaluation whose target A is an endpoint deployed from a training job."""

    job_name: str
    endpoint_name: str
    evaluation: EvaluationRow = field(repr=False)

"""Generated Q/A pairs: insert (idempotent per task key), filtered paging, triage with undo."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from core.store.db import inserted_id
from core.store.lazy_record import record

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from core.store.db import Database

PAIR_STATUSES = ("pending", "accepted", "rejected")
PAIR_SORTS = {
    "id": "p.id",
    "topic": "p.topic_id",
    "status": "p.status",
    "score": "p.score",
    "length": "length(p.answer)",
    "question": "p.question",
}
ANSWER_LENGTH_EDGES = (1, 100, 200, 400, 800, 1600, 3200)
"""Upper bounds (characters, exclusive) of the answer-length histogram buckets; one more bucket holds the rest."""


@record
class Pair:
    id: int
    topic_id: int | None
    question: str
    answer: str
    kind: str
    status: str
    tags: tuple[str, ...]
    flags: tuple[dict[str, str], ...]
    score: float | None
    score_detail: dict[str, Any] | None
    task_key: str | None
    provenance: dict[str, Any]
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> Pair:
        return cls(
            id=row["id"],
            topic_id=row["topic_id"],
            question=row["question"],
            answer=row["answer"],
            kind=row["kind"],
            status=row["status"],
            tags=tuple(json.loads(row["tags"])),
            flags=tuple(json.loads(row["flags"])),
            score=row["score"],
            score_detail=json.loads(row["score_detail"]) if row["score_detail"] else None,
            task_key=row["task_key"],
            provenance=json.loads(row["provenance"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class PairFilter:
    topic_ids: tuple[int, ...] = ()
    status: str | None = None
    kind: str | None = None
    flag: str | None = None
    text: str = ""
    sort: str = "id"
    descending: bool = False

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.topic_ids:
            clauses.append(f"p.topic_id IN ({','.join('?' * len(self.topic_ids))})")
            params.extend(self.topic_ids)
        if self.status:
            clauses.append("p.status = ?")
            params.append(self.status)
        if self.kind:
            clauses.append("p.kind = ?")
            params.append(self.kind)
        if self.flag:
            if self.flag == "any":
                clauses.append("p.flags != '[]'")
            else:
                clauses.append("EXISTS (SELECT 1 FROM json_each(p.flags) f WHERE json_extract(f.value, '$.code') = ?)")
                params.append(self.flag)
        if self.text:
            clauses.append("(instr(lower(p.question), ?) > 0 OR instr(lower(p.answer), ?) > 0)")
            needle = self.text.lower()
            params.extend([needle, needle])
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def order(self) -> str:
        column = PAIR_SORTS.get(self.sort, "p.id")
        direction = "DESC" if self.descending else "ASC"
        return f" ORDER BY {column} {direction}, p.id {direction}"


@dataclass(frozen=True)
class PairStats:
    """Counts over a filter: by status, by topic (largest first) and an answer-length histogram."""

    total: int
    by_status: dict[str, int]
    by_topic: list[tuple[int | None, int]]
    length_histogram: tuple[int, ...]
    """Counts per bucket of ANSWER_LENGTH_EDGES (len(ANSWER_LENGTH_EDGES) + 1 buckets)."""


@dataclass(frozen=True)
class NewPair:
    question: str
    answer: str = ""
    topic_id: int | None = None
    kind: str = "qa"
    status: str = "pending"
    tags: tuple[str, ...] = ()
    task_key: str | None = None
    provenance: dict[str, Any] | None = None


class SourceRow(NamedTuple):
    """A pair as a copy's source (core.generation.augment): its texts, kind, status and tags."""

    id: int
    topic_id: int | None
    question: str
    answer: str
    kind: str
    status: str
    tags: tuple[str, ...]
    split_of: str | None = None
    """The split key of its own source, for a variant (see core.dataset.jumpstart.split_key)."""

    @property
    def provenance(self) -> dict[str, Any]:
        return {"split_of": self.split_of} if self.split_of else {}


def pair_row(p: NewPair) -> tuple[Any, ...]:
    """A new pair as the pairs table's columns topic_id .. provenance, JSON written."""
    return (
        p.topic_id,
        p.question,
        p.answer,
        p.kind,
        p.status,
        json.dumps(list(p.tags)),
        p.task_key,
        json.dumps(p.provenance or {}),
    )


class PairsMixin:
    db: Database

    def add_pair(self, pair: NewPair) -> int | None:
        """Insert a pair; a pair whose task_key is already stored is skipped (returns None)."""
        return self.add_pairs([pair])[0]

    def add_pairs(self, pairs: Iterable[NewPair]) -> list[int | None]:
        now = time.time()
        ids: list[int | None] = []
        with self.db.tx() as conn:
            for p in pairs:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO pairs (topic_id, question, answer, kind, status, tags, task_key, "
                    "provenance, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*pair_row(p), now, now),
                )
                ids.append(inserted_id(cur) if cur.rowcount else None)
        return ids

    def add_pairs_step(self, pairs: Iterable[NewPair], batch: str | None = None) -> tuple[str, int]:
        """Insert pairs as one undo step (`undo_last_edit` deletes them again); returns (batch, rows added).

        Every pair needs a task key; a pair whose key is already stored is skipped, so a rerun resumes."""
        return self.add_rows_step([pair_row(p) for p in pairs], batch)

    def task_keys_with_prefix(self, prefix: str) -> set[str]:
        """The stored task keys that start with `prefix` (what a resumable run has done already)."""
        rows = self.db.query(
            "SELECT task_key FROM pairs WHERE task_key >= ? AND task_key < ?", (prefix, prefix + "\U0010ffff")
        )
        return {str(row[0]) for row in rows}

    def pair(self, pair_id: int) -> Pair | None:
        row = self.db.query_one("SELECT * FROM pairs WHERE id = ?", (pair_id,))
        return Pair.from_row(row) if row else None

    def count_pairs(self, flt: PairFilter | None = None) -> int:
        where, params = (flt or PairFilter()).where()
        return int(self.db.scalar(f"SELECT COUNT(*) FROM pairs p{where}", params))

    def page_pairs(self, flt: PairFilter, offset: int, limit: int) -> list[Pair]:
        where, params = flt.where()
        rows = self.db.query(f"SELECT * FROM pairs p{where}{flt.order()} LIMIT ? OFFSET ?", [*params, limit, offset])
        return [Pair.from_row(r) for r in rows]

    def pair_ids(self, flt: PairFilter) -> list[int]:
        where, params = flt.where()
        return [r[0] for r in self.db.query(f"SELECT p.id FROM pairs p{where}{flt.order()}", params)]

    def iter_pairs(self, flt: PairFilter | None = None, batch: int = 5000) -> Iterable[Pair]:
        flt = flt or PairFilter()
        where, params = flt.where()
        last = 0
        while True:
            extra = (" AND " if where else " WHERE ") + "p.id > ?"
            # NOT INDEXED: walk the table in id order from `last`, testing the filter per row; with the status or
            # topic index SQLite would re-read and sort every matching row for every page
            rows = self.db.query(
                f"SELECT * FROM pairs p NOT INDEXED{where}{extra} ORDER BY p.id LIMIT ?", [*params, last, batch]
            )
            if not rows:
                return
            for row in rows:
                yield Pair.from_row(row)
            last = rows[-1]["id"]

    def iter_source_rows(self, flt: PairFilter | None = None, batch: int = 5000) -> Iterable[SourceRow]:
        """The filter's pairs that copies may be made of (not rejected, not augmented copies), in id order,
        with only what a copy needs: no flags or scores decoded, the provenance reduced to `split_of`."""
        flt = flt or PairFilter()
        where, params = flt.where()
        last = 0
        while True:
            extra = (" AND " if where else " WHERE ") + "p.id > ?"
            rows = self.db.query(
                "SELECT p.id, p.topic_id, p.question, p.answer, p.kind, p.status, p.tags, "
                # instr first: most provenance has neither key, and parsing its JSON per row is the cost
                "CASE WHEN instr(p.provenance, '\"split_of\"') THEN json_extract(p.provenance, '$.split_of') END, "
                "CASE WHEN instr(p.provenance, '\"augmented\"') "
                "THEN COALESCE(json_extract(p.provenance, '$.augmented'), 0) ELSE 0 END "
                f"FROM pairs p NOT INDEXED{where}{extra} ORDER BY p.id LIMIT ?",
                [*params, last, batch],
            )
            if not rows:
                return
            for row in rows:
                if row[5] != "rejected" and not row[8]:
                    tags = row[6]
                    parsed = tuple(json.loads(tags)) if tags != "[]" else ()
                    yield SourceRow(row[0], row[1], row[2], row[3], row[4], row[5], parsed, row[7])
            last = rows[-1][0]

    def _edit(self, pair_ids: Sequence[int], field: str, value: Any, batch: str | None = None) -> str:
        """Change one column of many pairs in one transaction and record the old values for undo."""
        if field not in ("status", "answer", "question", "flags", "tags"):
            raise ValueError(f"field {field!r} cannot be edited")
        batch = batch or uuid.uuid4().hex
        now = time.time()
        with self.db.tx() as conn:
            for chunk_start in range(0, len(pair_ids), 500):
                chunk = list(pair_ids[chunk_start : chunk_start + 500])
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"INSERT INTO pair_edits (pair_id, batch, field, old_value, new_value, at) "
                    f"SELECT id, ?, ?, {field}, ?, ? FROM pairs WHERE id IN ({marks}) AND {field} IS NOT ?",
                    [batch, field, value, now, *chunk, value],
                )
                conn.execute(
                    f"UPDATE pairs SET {field} = ?, updated_at = ? WHERE id IN ({marks})", [value, now, *chunk]
                )
        return batch

    def set_status(self, pair_ids: Sequence[int], status: str) -> str:
        if status not in PAIR_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return self._edit(pair_ids, "status", status)

    def update_answer(self, pair_id: int, answer: str) -> str:
        return self._edit([pair_id], "answer", answer)

    def update_question(self, pair_id: int, question: str) -> str:
        return self._edit([pair_id], "question", question)

    def add_rows_step(self, rows: Sequence[tuple[Any, ...]], batch: str | None = None) -> tuple[str, int]:
        """`add_pairs_step` for rows already in column order with their JSON written (`pair_row`): for bulk
        copies (augmentation)."""
        batch = batch or uuid.uuid4().hex
        with self.db.tx() as conn:
            return batch, self._insert_step(conn, rows, batch)

    @staticmethod
    def _insert_step(conn: Any, rows: Sequence[tuple[Any, ...]], batch: str) -> int:
        """Insert `rows` inside the caller's transaction (BEGIN IMMEDIATE: no other writer adds ids in
        between) and record each added row in `batch`, so one undo deletes them; returns rows added."""
        if any(row[6] is None for row in rows):
            raise ValueError("pairs added as an undo step need task keys")
        now = time.time()
        last = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM pairs").fetchone()[0])
        conn.executemany(
            "INSERT OR IGNORE INTO pairs (topic_id, question, answer, kind, status, tags, task_key, provenance, "
            f"created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {now!r}, {now!r})",
            rows,
        )
        return int(
            conn.execute(
                "INSERT INTO pair_edits (pair_id, batch, field, old_value, new_value, at) "
                "SELECT id, ?, 'row', NULL, 'added', ? FROM pairs WHERE id > ?",
                (batch, now, last),
            ).rowcount
        )

    def add_pairs_leaving_questions(
        self, pairs: Sequence[NewPair], question_ids: Sequence[int], batch: str | None = None
    ) -> tuple[str, int]:
        """Hard cases: insert pairs as one undo step (as `add_pairs_step`) and, in the same transaction,
        delete these questions from their (probe) set, so a question is a training pair or a probe, never
        both. Deleting a question drops its answers and verdicts too. Returns (batch, rows added)."""
        batch = batch or uuid.uuid4().hex
        rows = [pair_row(p) for p in pairs]
        with self.db.tx() as conn:
            added = self._insert_step(conn, rows, batch)
            conn.executemany("DELETE FROM questions WHERE id = ?", [(int(q),) for q in question_ids])
        return batch, added

    def undo_last_edit(self) -> int:
        """Revert the most recent edit batch; returns how many pairs changed back."""
        with self.db.tx() as conn:
            row = conn.execute("SELECT batch FROM pair_edits ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                return 0
            edits = conn.execute(
                "SELECT pair_id, field, old_value FROM pair_edits WHERE batch = ? ORDER BY id DESC", (row[0],)
            ).fetchall()
            for edit in edits:
                if edit["field"] == "row":  # added by this step: undoing it deletes the pair
                    conn.execute("DELETE FROM pairs WHERE id = ?", (edit["pair_id"],))
                    continue
                conn.execute(
                    f"UPDATE pairs SET {edit['field']} = ?, updated_at = ? WHERE id = ?",
                    (edit["old_value"], time.time(), edit["pair_id"]),
                )
            conn.execute("DELETE FROM pair_edits WHERE batch = ?", (row[0],))
            return len(edits)

    def set_flags(self, flags_by_pair: dict[int, list[dict[str, str]]]) -> None:
        """Replace curation flags (not undoable: they are recomputed by curation)."""
        with self.db.tx() as conn:
            conn.executemany(
                "UPDATE pairs SET flags = ? WHERE id = ?",
                [(json.dumps(flags), pid) for pid, flags in flags_by_pair.items()],
            )

    def set_score(self, pair_id: int, score: float, detail: dict[str, Any]) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE pairs SET score = ?, score_detail = ? WHERE id = ?", (score, json.dumps(detail), pair_id)
            )

    def pair_status_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in PAIR_STATUSES}
        for row in self.db.query("SELECT status, COUNT(*) FROM pairs GROUP BY status"):
            counts[row[0]] = row[1]
        return counts

    # ---- views and bulk operations for the Pairs pane ------------------------------------------
    def ordered_ids(self, flt: PairFilter) -> list[int]:
        """`pair_ids`, for a UI thread's neighbour: the scan and sort run inside one SQLite step, which
        holds no GIL (fetching 100,000 rows one by one would wait for the GIL on every row)."""
        where, params = flt.where()
        # the subquery's ORDER BY is kept because it is not flattened into the aggregate
        text = self.db.scalar(
            f"SELECT group_concat(id) FROM (SELECT p.id AS id FROM pairs p{where}{flt.order()})", params
        )
        return [int(v) for v in text.split(",")] if text else []

    def pairs_by_ids(self, pair_ids: Sequence[int]) -> list[Pair]:
        """The pairs with these ids, in the order given (ids no longer stored are skipped)."""
        found: dict[int, Pair] = {}
        for start in range(0, len(pair_ids), 500):
            chunk = list(pair_ids[start : start + 500])
            rows = self.db.query(f"SELECT * FROM pairs WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            for row in rows:
                found[row["id"]] = Pair.from_row(row)
        return [found[i] for i in pair_ids if i in found]

    def set_answers(self, answers: dict[int, str]) -> str:
        """New answers for many pairs as one undo step (a bulk repair); returns the batch."""
        batch = uuid.uuid4().hex
        now = time.time()
        items = list(answers.items())
        with self.db.tx() as conn:
            for start in range(0, len(items), 500):
                chunk = items[start : start + 500]
                conn.executemany(
                    "INSERT INTO pair_edits (pair_id, batch, field, old_value, new_value, at) "
                    "SELECT id, ?, 'answer', answer, ?, ? FROM pairs WHERE id = ? AND answer IS NOT ?",
                    [(batch, answer, now, pair_id, answer) for pair_id, answer in chunk],
                )
                conn.executemany(
                    "UPDATE pairs SET answer = ?, updated_at = ? WHERE id = ?",
                    [(answer, now, pair_id) for pair_id, answer in chunk],
                )
        return batch

    def update_pair_text(self, pair_id: int, question: str | None = None, answer: str | None = None) -> str | None:
        """Change the question and/or answer of one pair as a single undo step; None when nothing changed."""
        batch = uuid.uuid4().hex
        with self.db.tx() as conn:
            row = conn.execute("SELECT question, answer FROM pairs WHERE id = ?", (pair_id,)).fetchone()
            if row is None:
                return None
            changed = False
            if question is not None and question != row["question"]:
                self._edit([pair_id], "question", question, batch)
                changed = True
            if answer is not None and answer != row["answer"]:
                self._edit([pair_id], "answer", answer, batch)
                changed = True
        return batch if changed else None

    def set_statuses(self, changes: dict[str, Sequence[int]]) -> str:
        """Several status changes ({status: pair ids}) as one undo step."""
        for status in changes:
            if status not in PAIR_STATUSES:
                raise ValueError(f"unknown status {status!r}")
        batch = uuid.uuid4().hex
        with self.db.tx():
            for status, pair_ids in changes.items():
                if pair_ids:
                    self._edit(pair_ids, "status", status, batch)
        return batch

    def set_status_matching(self, flt: PairFilter, status: str) -> tuple[str, int]:
        """Set the status of every pair the filter matches, as one undo step; returns (batch, pairs changed)."""
        if status not in PAIR_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        where, params = flt.where()
        batch = uuid.uuid4().hex
        now = time.time()
        guard = (" AND " if where else " WHERE ") + "p.status != ?"
        with self.db.tx() as conn:
            conn.execute(
                f"INSERT INTO pair_edits (pair_id, batch, field, old_value, new_value, at) "
                f"SELECT p.id, ?, 'status', p.status, ?, ? FROM pairs p{where}{guard}",
                [batch, status, now, *params, status],
            )
            changed = int(conn.execute("SELECT COUNT(*) FROM pair_edits WHERE batch = ?", (batch,)).fetchone()[0])
            conn.execute(
                "UPDATE pairs SET status = ?, updated_at = ? WHERE id IN (SELECT pair_id FROM pair_edits WHERE batch "
                "= ?)",
                (status, now, batch),
            )
        return batch, changed

    def pair_stats(self, flt: PairFilter | None = None, top_topics: int = 8, *, lengths: bool = True) -> PairStats:
        """Status, topic and answer-length counts over the pairs the filter matches.

        The length histogram reads every answer; with `lengths=False` it is left empty and the counts
        come from the status and topic indexes (milliseconds instead of a table scan)."""
        where, params = (flt or PairFilter()).where()
        by_status = {s: 0 for s in PAIR_STATUSES}
        by_topic: dict[int | None, int] = {}
        histogram = [0] * (len(ANSWER_LENGTH_EDGES) + 1)
        if lengths:
            bucket = (
                "CASE "
                + " ".join(f"WHEN n < {edge} THEN {index}" for index, edge in enumerate(ANSWER_LENGTH_EDGES))
                + f" ELSE {len(ANSWER_LENGTH_EDGES)} END"
            )
            # LIMIT -1 keeps SQLite from flattening the subquery, so length() runs once per row, not once per WHEN
            rows = self.db.query(
                f"SELECT status, topic_id, {bucket} AS bucket, COUNT(*) FROM "
                f"(SELECT p.status, p.topic_id, length(p.answer) AS n FROM pairs p{where} LIMIT -1) GROUP BY 1, 2, 3",
                params,
            )
            for status, topic_id, bucket_index, count in rows:
                by_status[status] = by_status.get(status, 0) + count
                by_topic[topic_id] = by_topic.get(topic_id, 0) + count
                histogram[bucket_index] += count
        else:
            for status, count in self.db.query(f"SELECT p.status, COUNT(*) FROM pairs p{where} GROUP BY 1", params):
                by_status[status] = count
            for topic_id, count in self.db.query(f"SELECT p.topic_id, COUNT(*) FROM pairs p{where} GROUP BY 1", params):
                by_topic[topic_id] = count
        topics = sorted(by_topic.items(), key=lambda item: (-item[1], item[0] is None, item[0] or 0))[:top_topics]
        return PairStats(sum(by_status.values()), by_status, topics, tuple(histogram) if lengths else ())

    def pair_flag_counts(self, flt: PairFilter | None = None) -> dict[str, int]:
        """How many pairs carry each flag code (a pair counts once per code)."""
        where, params = (flt or PairFilter()).where()
        extra = (" AND " if where else " WHERE ") + "p.flags != '[]'"
        rows = self.db.query(
            f"SELECT json_extract(f.value, '$.code') AS code, COUNT(DISTINCT p.id) FROM pairs p, json_each(p.flags) f"
            f"{where}{extra} GROUP BY code ORDER BY 2 DESC, code",
            params,
        )
        return {str(code): int(count) for code, count in rows if code is not None}

    def data_version(self) -> int:
        """SQLite's data_version for this thread's connection: it changes when another connection commits."""
        return int(self.db.scalar("PRAGMA data_version"))

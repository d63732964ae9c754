"""Generated Q/A pairs: insert (idempotent per task key), filtered paging, triage with undo."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from core.store.db import Database
from core.store.records import Pair

PAIR_STATUSES = ("pending", "accepted", "rejected")
PAIR_SORTS = {
    "id": "p.id",
    "topic": "p.topic_id",
    "status": "p.status",
    "score": "p.score",
    "length": "length(p.answer)",
    "question": "p.question",
}


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
class NewPair:
    question: str
    answer: str = ""
    topic_id: int | None = None
    kind: str = "qa"
    status: str = "pending"
    tags: tuple[str, ...] = ()
    task_key: str | None = None
    provenance: dict[str, Any] | None = None


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
                    "INSERT OR IGNORE INTO pairs (topic_id, question, answer, kind, status, tags, task_key, provenance, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (p.topic_id, p.question, p.answer, p.kind, p.status, json.dumps(list(p.tags)), p.task_key,
                     json.dumps(p.provenance or {}), now, now),
                )
                ids.append(int(cur.lastrowid) if cur.rowcount else None)
        return ids

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
            rows = self.db.query(f"SELECT * FROM pairs p{where}{extra} ORDER BY p.id LIMIT ?", [*params, last, batch])
            if not rows:
                return
            for row in rows:
                yield Pair.from_row(row)
            last = rows[-1]["id"]

    def _edit(self, pair_ids: Sequence[int], field: str, value: Any) -> str:
        """Change one column of many pairs in one transaction and record the old values for undo."""
        if field not in ("status", "answer", "question", "flags", "tags"):
            raise ValueError(f"field {field!r} cannot be edited")
        batch = uuid.uuid4().hex
        now = time.time()
        with self.db.tx() as conn:
            for chunk_start in range(0, len(pair_ids), 500):
                chunk = list(pair_ids[chunk_start:chunk_start + 500])
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"INSERT INTO pair_edits (pair_id, batch, field, old_value, new_value, at) "
                    f"SELECT id, ?, ?, {field}, ?, ? FROM pairs WHERE id IN ({marks}) AND {field} IS NOT ?",
                    [batch, field, value, now, *chunk, value],
                )
                conn.execute(f"UPDATE pairs SET {field} = ?, updated_at = ? WHERE id IN ({marks})", [value, now, *chunk])
        return batch

    def set_status(self, pair_ids: Sequence[int], status: str) -> str:
        if status not in PAIR_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return self._edit(pair_ids, "status", status)

    def update_answer(self, pair_id: int, answer: str) -> str:
        return self._edit([pair_id], "answer", answer)

    def update_question(self, pair_id: int, question: str) -> str:
        return self._edit([pair_id], "question", question)

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
            conn.execute("UPDATE pairs SET score = ?, score_detail = ? WHERE id = ?", (score, json.dumps(detail), pair_id))

    def pair_status_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in PAIR_STATUSES}
        for row in self.db.query("SELECT status, COUNT(*) FROM pairs GROUP BY status"):
            counts[row[0]] = row[1]
        return counts

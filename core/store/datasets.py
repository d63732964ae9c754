"""Dataset versions."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from core.store.lazy_record import record

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

    from core.store.db import Database


class DatasetsMixin:
    db: Database

    def add_dataset_version(
        self,
        hash: str,
        format: str,
        *,
        s3_uri: str | None = None,
        train_s3_uri: str | None = None,
        validation_s3_uri: str | None = None,
        counts: Mapping[str, Any] | None = None,
        template: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> DatasetVersionRow:
        """Record a dataset version; the same content hash twice keeps the first record."""
        with self.db.tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO dataset_versions (hash, format, s3_uri, train_s3_uri, validation_s3_uri, "
                "counts, template, filters, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    hash,
                    format,
                    s3_uri,
                    train_s3_uri,
                    validation_s3_uri,
                    json.dumps(dict(counts or {})),
                    template,
                    json.dumps(dict(filters or {})),
                    time.time(),
                ),
            )
        return self.dataset_version(hash)  # type: ignore[return-value]

    def dataset_version(self, id_or_hash: int | str) -> DatasetVersionRow | None:
        """By id, by full content hash, or by a unique hash prefix."""
        if isinstance(id_or_hash, int):
            row = self.db.query_one("SELECT * FROM dataset_versions WHERE id = ?", (id_or_hash,))
        else:
            rows = self.db.query(
                "SELECT * FROM dataset_versions WHERE hash = ? OR substr(hash, 1, ?) = ? "
                "ORDER BY hash = ? DESC LIMIT 2",
                (id_or_hash, len(id_or_hash), id_or_hash, id_or_hash),
            )
            exact = [r for r in rows if r["hash"] == id_or_hash]
            row = exact[0] if exact else (rows[0] if len(rows) == 1 else None)
        return DatasetVersionRow.from_row(row) if row else None

    def latest_dataset_version(self) -> DatasetVersionRow | None:
        row = self.db.query_one("SELECT * FROM dataset_versions ORDER BY created_at DESC, id DESC LIMIT 1")
        return DatasetVersionRow.from_row(row) if row else None

    def dataset_versions(self, limit: int | None = None) -> list[DatasetVersionRow]:
        """Newest first; at most `limit` of them (all without one)."""
        rows = self.db.query(
            "SELECT * FROM dataset_versions ORDER BY created_at DESC, id DESC LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [DatasetVersionRow.from_row(row) for row in rows]

    def set_dataset_uris(
        self, hash: str, s3_uri: str | None, train_s3_uri: str | None, validation_s3_uri: str | None
    ) -> None:
        """Record where a version exported earlier without upload now lives on S3."""
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE dataset_versions SET s3_uri = ?, train_s3_uri = ?, validation_s3_uri = ? WHERE hash = ?",
                (s3_uri, train_s3_uri, validation_s3_uri, hash),
            )


@record
class DatasetVersionRow:
    id: int
    hash: str
    format: str  # "instruction" | "chat"
    s3_uri: str | None
    train_s3_uri: str | None
    validation_s3_uri: str | None
    counts: dict[str, Any]
    template: str | None
    filters: dict[str, Any]
    created_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DatasetVersionRow:
        return cls(
            row["id"],
            row["hash"],
            row["format"],
            row["s3_uri"],
            row["train_s3_uri"],
            row["validation_s3_uri"],
            json.loads(row["counts"] or "{}"),
            row["template"],
            json.loads(row["filters"] or "{}"),
            row["created_at"],
        )

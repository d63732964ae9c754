"""Records of dataset versions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
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
    def from_row(cls, row: Any) -> DatasetVersionRow:
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

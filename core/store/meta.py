"""Session key/value settings and the session log."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from core.store.lazy_record import record

if TYPE_CHECKING:
    from core.store.db import Database


@record
class LogEntry:
    id: int
    at: float
    level: str
    source: str
    message: str


class MetaMixin:
    db: Database

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.query_one("SELECT value FROM session_meta WHERE key = ?", (key,))
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO session_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def log(self, level: str, source: str, message: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO session_log (at, level, source, message) VALUES (?, ?, ?, ?)",
                (time.time(), level, source, message),
            )

    def recent_log(self, limit: int = 200) -> list[LogEntry]:
        rows = self.db.query("SELECT * FROM session_log ORDER BY id DESC LIMIT ?", (limit,))
        return [LogEntry(r["id"], r["at"], r["level"], r["source"], r["message"]) for r in reversed(rows)]

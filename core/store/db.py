"""SQLite connection handling for a session: WAL, foreign keys, one connection per thread, migrations."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from core.store.schema import MIGRATIONS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

Params: TypeAlias = "Sequence[Any] | Mapping[str, Any]"
"""Query parameters: positional values, or values by name."""


class StoreError(Exception):
    """The session database cannot be opened or migrated."""


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just created."""
    if cursor.lastrowid is None:
        raise StoreError("the statement inserted no row")
    return cursor.lastrowid


class Database:
    """Thread-safe access to one session database.

    Each thread gets its own connection (SQLite connections are not shared across threads);
    WAL lets the TUI read while a headless run writes. Writes go through `tx()`, which commits
    when the block ends, so each generated item is durable as soon as it is stored.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not self.path.exists()
        conn = self.connection()
        if fresh:
            os.chmod(self.path, 0o600)
        self._migrate(conn)

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=30000")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot open session database ({exc})") from None
            self._local.conn = conn
            with self._lock:
                self._close_orphans()
                self._connections.append((threading.current_thread(), conn))
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE) committed at the end of the block, rolled back on error."""
        conn = self.connection()
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.connection().execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.connection().execute(sql, params).fetchone()
        return None if row is None else row[0]

    def schema_version(self) -> int:
        return int(self.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") or 0)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        current = self.schema_version()
        known = MIGRATIONS[-1][0] if MIGRATIONS else 0
        if current > known:
            raise StoreError(
                f"{self.path}: session was written by a newer tunedeck (schema {current}, this one knows {known})"
            )
        for version, description, sql in MIGRATIONS:
            if version <= current:
                continue
            script = (
                f"BEGIN IMMEDIATE;\n{sql}\n"
                f"INSERT INTO schema_migrations VALUES ({version}, '{description}', {time.time()});\nCOMMIT;"
            )
            try:
                conn.executescript(script)
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: migration {version} ({description}) failed: {exc}") from None

    def _close_orphans(self) -> None:
        """Close the connections of threads that have ended (UI workers come and go)."""
        alive = []
        for thread, conn in self._connections:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
        self._connections = alive

    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def close(self) -> None:
        """Close this thread's connection and those of ended threads. A connection of a thread still
        alive (a worker that may be inside a query right now) is only let go: closing it under a
        running statement can crash the interpreter; it closes when that thread is done with it."""
        current = threading.current_thread()
        with self._lock:
            for thread, conn in self._connections:
                if thread is current or not thread.is_alive():
                    try:
                        conn.close()
                    except sqlite3.Error:
                        pass
            self._connections.clear()
        self._local = threading.local()

"""Rate leases: the processes on one session (a headless run, the TUI) split an account's rate budget.

Each process's limiter for a key (account and model) holds a lease row: when it expires, what part
of the budget the holder used in the last window and what part it allows itself (`share`, both as
fractions of the budget). A holder renews its lease every few seconds while it dispatches
(`beat`), never per request; a lease expires once the holder's requests have left the window, so a
process that stopped or died gives its part back by itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.store.db import Database


class RateLeases:
    """The rate leases of one session database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def beat(
        self,
        key: str,
        holder: str,
        *,
        used: float,
        share_for: Callable[[list[tuple[float, float]]], float],
        ttl_s: float,
        now: float | None = None,
        holder_alive: Callable[[str], bool] | None = None,
    ) -> tuple[float, int]:
        """Renew `holder`'s lease on `key` in one transaction: drop expired leases and those whose
        holder `holder_alive` says is gone, read the other holders' (used, share), let `share_for`
        decide this holder's share from them, store it.

        Returns (the share, the number of live holders including this one).
        """
        now = time.time() if now is None else now
        with self.db.tx() as conn:
            conn.execute("DELETE FROM rate_leases WHERE expires_at < ?", (now,))
            rows = conn.execute(
                "SELECT holder, used, share FROM rate_leases WHERE key = ? AND holder != ?", (key, holder)
            ).fetchall()
            others = []
            for other, other_used, other_share in rows:
                if holder_alive is not None and not holder_alive(str(other)):
                    conn.execute("DELETE FROM rate_leases WHERE key = ? AND holder = ?", (key, other))
                else:
                    others.append((float(other_used), float(other_share)))
            share = share_for(others)
            conn.execute(
                "INSERT INTO rate_leases (key, holder, expires_at, used, share, beat_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(key, holder) DO UPDATE SET expires_at = excluded.expires_at, used = excluded.used, "
                "share = excluded.share, beat_at = excluded.beat_at",
                (key, holder, now + ttl_s, float(used), float(share), now),
            )
        return share, len(others) + 1

    def holders(self, key: str, *, now: float | None = None) -> dict[str, float]:
        """The live holders of `key` and the share each allows itself."""
        now = time.time() if now is None else now
        rows = self.db.query("SELECT holder, share FROM rate_leases WHERE key = ? AND expires_at >= ?", (key, now))
        return {row[0]: float(row[1]) for row in rows}

    def release(self, key: str, holder: str) -> None:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM rate_leases WHERE key = ? AND holder = ?", (key, holder))

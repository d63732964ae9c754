"""Jobs, sweeps, recipes cache, metric points and log cursors."""
from __future__ import annotations

from core.store.db import Database


class JobsMixin:
    db: Database

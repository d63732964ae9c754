"""Dataset versions."""
from __future__ import annotations

from core.store.db import Database


class DatasetsMixin:
    db: Database

"""Prompt versions, playground runs and samples."""
from __future__ import annotations

from core.store.db import Database


class PlaygroundMixin:
    db: Database

"""Question sets, answers, judge verdicts and human votes."""
from __future__ import annotations

from core.store.db import Database


class EvalsMixin:
    db: Database

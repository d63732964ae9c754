"""The session store: one SQLite file per session. The only place in tunedeck that speaks SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.store.datasets import DatasetsMixin
from core.store.db import Database, StoreError
from core.store.endpoints import EndpointsMixin
from core.store.evals import EvalsMixin
from core.store.jobs import JobsMixin
from core.store.league import LeagueMixin
from core.store.meta import LogEntry, MetaMixin
from core.store.pairs import NewPair, Pair, PairFilter, PairsMixin
from core.store.playground import PlaygroundMixin
from core.store.schema import SCHEMA_VERSION
from core.store.tasks import GenTask, TasksMixin
from core.store.topics import Topic, TopicNode, TopicsMixin

__all__ = [
    "GenTask",
    "LogEntry",
    "NewPair",
    "Pair",
    "PairFilter",
    "SCHEMA_VERSION",
    "Store",
    "StoreError",
    "Topic",
    "TopicNode",
]


class Store(
    TopicsMixin,
    PairsMixin,
    TasksMixin,
    MetaMixin,
    DatasetsMixin,
    JobsMixin,
    EndpointsMixin,
    EvalsMixin,
    PlaygroundMixin,
    LeagueMixin,
):
    """Typed accessors over one session database."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.parent.name
        self.db = Database(self.path)

    def close(self) -> None:
        self.db.close()

    def _group_counts(self, table: str, column: str) -> dict[str, int]:
        return {row[0]: row[1] for row in self.db.query(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY {column}")}

    def status_counts(self) -> dict[str, Any]:
        """What `tunedeck status` and the status bar show."""
        return {
            "session": self.name,
            "topics": int(self.db.scalar("SELECT COUNT(*) FROM topics")),
            "pairs": self.pair_status_counts(),
            "dataset_versions": int(self.db.scalar("SELECT COUNT(*) FROM dataset_versions")),
            "jobs": self._group_counts("jobs", "status"),
            "endpoints": self._group_counts("endpoints WHERE deleted_at IS NULL", "status"),
            "question_sets": int(self.db.scalar("SELECT COUNT(*) FROM question_sets")),
            "evaluations": int(self.db.scalar("SELECT COUNT(*) FROM evaluations")),
            "prompt_versions": int(self.db.scalar("SELECT COUNT(*) FROM prompt_versions")),
            "llm_usage": self.llm_usage(),
        }

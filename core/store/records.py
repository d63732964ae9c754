"""Typed rows handed out by the store. Frozen: safe to pass between threads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Topic:
    id: int
    parent_id: int | None
    name: str
    description: str
    questions_per_topic: int | None
    position: int


@dataclass(frozen=True)
class TopicNode:
    """A topic with its children and counts, for tree views."""

    topic: Topic
    children: list["TopicNode"] = field(default_factory=list)
    questions: int = 0
    accepted: int = 0

    @property
    def is_leaf(self) -> bool:
        return not self.children


@dataclass(frozen=True)
class Pair:
    id: int
    topic_id: int | None
    question: str
    answer: str
    kind: str
    status: str
    tags: tuple[str, ...]
    flags: tuple[dict[str, str], ...]
    score: float | None
    score_detail: dict[str, Any] | None
    task_key: str | None
    provenance: dict[str, Any]
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> "Pair":
        return cls(
            id=row["id"],
            topic_id=row["topic_id"],
            question=row["question"],
            answer=row["answer"],
            kind=row["kind"],
            status=row["status"],
            tags=tuple(json.loads(row["tags"])),
            flags=tuple(json.loads(row["flags"])),
            score=row["score"],
            score_detail=json.loads(row["score_detail"]) if row["score_detail"] else None,
            task_key=row["task_key"],
            provenance=json.loads(row["provenance"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class GenTask:
    key: str
    kind: str
    topic_id: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    error: str | None
    result: Any

    @classmethod
    def from_row(cls, row: Any) -> "GenTask":
        return cls(
            key=row["key"],
            kind=row["kind"],
            topic_id=row["topic_id"],
            payload=json.loads(row["payload"]),
            status=row["status"],
            attempts=row["attempts"],
            error=row["error"],
            result=json.loads(row["result"]) if row["result"] else None,
        )


@dataclass(frozen=True)
class LogEntry:
    id: int
    at: float
    level: str
    source: str
    message: str

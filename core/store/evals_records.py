"""Records of question sets, evaluations, answers, verdicts and votes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class QuestionSetRow:
    id: int
    name: str
    source: str
    created_at: float
    count: int


@dataclass(frozen=True)
class QuestionRow:
    id: int
    set_id: int
    position: int
    topic: str
    text: str
    reference: str | None


@dataclass(frozen=True)
class EvaluationRow:
    id: int
    set_id: int
    target_a: str
    target_b: str
    endpoint_id: int | None
    rubric: str
    status: str  # "running" | "done" | "incomplete"
    summary: dict[str, Any]
    settings: dict[str, Any]
    created_at: float
    finished_at: float | None


@dataclass(frozen=True)
class AnswerRow:
    question_id: int
    target: str
    sample: int
    text: str | None
    latency_ms: float | None
    tokens: int | None
    error: str | None
    finish_reason: str | None
    created_at: float

    @property
    def ok(self) -> bool:
        return self.text is not None and self.error is None


@dataclass(frozen=True)
class VerdictRow:
    evaluation_id: int
    question_id: int
    ordering: str  # "AB" (target A shown first) | "BA"
    winner: str | None  # raw, in slot terms: "A" = the answer shown first
    reason: str | None
    error: str | None
    created_at: float

    @property
    def ok(self) -> bool:
        return self.winner is not None and self.error is None


@dataclass(frozen=True)
class VoteRow:
    evaluation_id: int
    question_id: int
    voter: str
    a_on_left: bool
    choice: str  # in target terms: "A", "B", "tie", "both_bad"
    created_at: float


@dataclass(frozen=True)
class JobEvaluation:
    """An evaluation whose target A is an endpoint deployed from a training job."""

    job_name: str
    endpoint_name: str
    evaluation: EvaluationRow = field(repr=False)

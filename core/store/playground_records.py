"""Records of prompt versions, playground rounds, runs, samples and rehearsals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PromptVersionRow:
    id: int
    name: str
    system_prompt: str
    temperature: float
    top_p: float
    max_tokens: int
    parent_id: int | None
    created_at: float


@dataclass(frozen=True)
class RoundRow:
    id: int
    question: str
    seconds: float
    started_at: float
    submitted_sample_id: int | None
    submitted_at: float | None
    auto_submitted: bool

    @property
    def submitted_in_time(self) -> bool | None:
        if self.submitted_at is None:
            return None
        return self.submitted_at - self.started_at <= self.seconds


@dataclass(frozen=True)
class RunRow:
    id: int
    prompt_version_id: int | None
    target: str
    system_prompt: str
    temperature: float
    top_p: float
    max_tokens: int
    question: str
    kind: str  # "single" | "compare" | "rehearsal"
    round_id: int | None
    rehearsal_id: int | None
    question_id: int | None
    created_at: float


@dataclass(frozen=True)
class SampleRow:
    id: int
    run_id: int
    idx: int
    text: str
    finish_reason: str | None  # None while streaming; "stop", "length", "cancelled", "error"
    latency_ms: float | None
    tokens: int | None
    error: str | None
    picked: bool
    submitted_at: float | None
    judge_score: float | None
    judge_reason: str | None

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    @property
    def ok(self) -> bool:
        return self.finish_reason in ("stop", "length") and self.error is None


@dataclass(frozen=True)
class ComparisonRow:
    id: int
    question: str
    run_a: int
    run_b: int
    human_choice: str | None  # "A" | "B" | "tie" in run terms
    judge_choice: str | None
    judge_reason: str | None
    created_at: float


@dataclass(frozen=True)
class RehearsalRow:
    id: int
    set_id: int | None
    target: str
    version_ids: list[int]
    k: int
    baseline: str  # "other" | "reference"
    status: str  # "running" | "done" | "incomplete"
    summary: dict[str, Any]
    created_at: float
    finished_at: float | None

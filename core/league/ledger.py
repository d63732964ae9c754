"""The leaderboard ledger: every submission of a run (API or console) with the score the event's
leaderboard gave it, beside the local figures meant to predict it, against the event's limits.

Limits come from `[league]` (submission limit, training-hour limit, closing time); training hours
are those of the account the session plays: console runs in console mode, API jobs in api mode.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.league.mode import CONSOLE, account_mode
from core.league.runs import local_judge_score
from core.limits import DEADLINE, HOURS, Check, Limit, check
from core.training.jobs import format_duration
from core.training.metrics import job_curves

if TYPE_CHECKING:
    from core.config import Config
    from core.store import Store
    from core.store.league import Submission

_FRACTION = re.compile(r"^([+-]?\d+)\s*(?:/|of)\s*([+-]?\d+)$", re.IGNORECASE)
_PERCENT = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*%$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_EXPECTED = "expected k/N such as 44/50, or a percentage such as 88%"


class LedgerError(ValueError):
    """A submission cannot be recorded; the message says why."""


@dataclass(frozen=True)
class Score:
    text: str  # normalized: "44/50" or "88%"
    fraction: float
    wins: int | None = None
    questions: int | None = None


def parse_score(text: str) -> Score:
    """A leaderboard score as k of N questions won, or a percentage. Raises LedgerError with the reason."""
    value = text.strip()
    fraction = _FRACTION.match(value)
    if fraction:
        wins, questions = int(fraction.group(1)), int(fraction.group(2))
        if questions < 1:
            raise LedgerError(f"score {text!r}: the number of questions must be at least 1")
        if wins < 0:
            raise LedgerError(f"score {text!r}: a score cannot be negative")
        if wins > questions:
            raise LedgerError(f"score {text!r}: {wins} won is more than the {questions} questions")
        return Score(f"{wins}/{questions}", wins / questions, wins, questions)
    percent = _PERCENT.match(value)
    if percent:
        share = float(percent.group(1))
        if share < 0:
            raise LedgerError(f"score {text!r}: a score cannot be negative")
        if share > 100:
            raise LedgerError(f"score {text!r}: a percentage cannot be above 100%")
        return Score(f"{share:g}%", share / 100)
    if _NUMBER.match(value):
        if float(value) < 0:
            raise LedgerError(f"score {text!r}: a score cannot be negative")
        raise LedgerError(f"score {text!r}: a bare number is ambiguous; {_EXPECTED}")
    raise LedgerError(f"score {text!r} is not a score: {_EXPECTED}")


@dataclass(frozen=True)
class LedgerRow:
    submission: Submission
    console: bool
    dataset_hash: str | None
    dataset_rows: int | None  # training rows of its dataset version
    hyperparameters: dict[str, str]
    final_eval_loss: float | None
    gap: float | None  # eval - train loss at the latest epoch having both
    overfitting: bool
    overfitting_reasons: tuple[str, ...]
    local_score: str | None  # the local judge's league score, e.g. "31 / 50"
    local_win_rate: float | None
    best: bool = False

    def as_dict(self) -> dict[str, Any]:
        s = self.submission
        return {
            "run": s.run_name,
            "console": self.console,
            "submitted_at": s.submitted_at,
            "score": s.score,
            "fraction": s.fraction,
            "rank": s.rank,
            "note": s.note,
            "dataset": self.dataset_hash,
            "dataset_rows": self.dataset_rows,
            "hyperparameters": self.hyperparameters,
            "final_eval_loss": self.final_eval_loss,
            "gap": self.gap,
            "overfitting": self.overfitting,
            "overfitting_reasons": list(self.overfitting_reasons),
            "local_score": self.local_score,
            "local_win_rate": self.local_win_rate,
            "best": self.best,
        }


@dataclass(frozen=True)
class Limits:
    mode: str
    submissions_used: int
    submission_limit: int | None
    training_hours_used: float
    training_hours_limit: float | None
    closes_at: float | None
    now: float

    @property
    def submissions_left(self) -> int | None:
        return None if self.submission_limit is None else max(0, self.submission_limit - self.submissions_used)

    @property
    def training_hours_left(self) -> float | None:
        if self.training_hours_limit is None:
            return None
        return max(0.0, self.training_hours_limit - self.training_hours_used)

    @property
    def seconds_to_close(self) -> float | None:
        return None if self.closes_at is None else self.closes_at - self.now

    def lines(self) -> list[str]:
        out = []
        if self.submission_limit is None:
            out.append(f"submissions: {self.submissions_used} (no limit set)")
        else:
            out.append(f"submissions: {self.submissions_used} of {self.submission_limit}, {self.submissions_left} left")
        if self.training_hours_limit is None:
            out.append(f"training hours: {self.training_hours_used:.2f} used (no limit set)")
        else:
            out.append(
                f"training hours: {self.training_hours_used:.2f} of {self.training_hours_limit:g} used, "
                f"{self.training_hours_left:.2f} left"
            )
        to_close = self.seconds_to_close
        if to_close is None:
            out.append("close: not set")
        elif to_close <= 0:
            out.append(f"close: closed {format_duration(-to_close)} ago")
        else:
            out.append(f"close: in {format_duration(to_close)}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "submissions_used": self.submissions_used,
            "submission_limit": self.submission_limit,
            "submissions_left": self.submissions_left,
            "training_hours_used": round(self.training_hours_used, 3),
            "training_hours_limit": self.training_hours_limit,
            "training_hours_left": None if self.training_hours_left is None else round(self.training_hours_left, 3),
            "closes_at": self.closes_at,
            "seconds_to_close": None if self.seconds_to_close is None else round(self.seconds_to_close),
        }


@dataclass(frozen=True)
class Ledger:
    rows: tuple[LedgerRow, ...]
    limits: Limits

    @property
    def best(self) -> LedgerRow | None:
        return next((r for r in self.rows if r.best), None)

    def as_dict(self) -> dict[str, Any]:
        return {"submissions": [r.as_dict() for r in self.rows], "limits": self.limits.as_dict()}


def training_hours_used(store: Store, mode: str, now: float) -> float:
    if mode == CONSOLE:
        return sum(float(run.training_seconds(now)) for run in store.console_runs()) / 3600
    console = store.console_run_ids()
    seconds = 0.0
    for job in store.jobs():
        if job.id not in console:
            seconds += float(job.billable_seconds or job.elapsed_seconds(now) or 0.0)
    return seconds / 3600


def limits(store: Store, config: Config, now: float | None = None) -> Limits:
    now = time.time() if now is None else now
    league = config.league
    mode = account_mode(store, config)
    return Limits(
        mode=mode,
        submissions_used=len(store.submissions()),
        submission_limit=league.submission_limit or None,
        training_hours_used=training_hours_used(store, mode, now),
        training_hours_limit=league.training_hours_limit or None,
        closes_at=league.closes_at_timestamp(),
        now=now,
    )


def _row(store: Store, submission: Submission, console_ids: set[int]) -> LedgerRow:
    job = store.job(submission.job_id)
    dataset = store.dataset_version(job.dataset_version_id) if job and job.dataset_version_id else None
    curves = job_curves(store, submission.job_id)
    train, evals = curves.train_epoch_losses, curves.eval_epoch_losses
    both = min(len(train), len(evals))
    assessment = curves.assessment()
    local = local_judge_score(store, submission.job_id)
    win_rate = None
    if local and local.get("N"):
        win_rate = float(local.get("wins", 0)) / float(local["N"])
    rows = (dataset.counts or {}).get("train") if dataset else None
    return LedgerRow(
        submission=submission,
        console=submission.job_id in console_ids,
        dataset_hash=dataset.hash if dataset else None,
        dataset_rows=int(rows) if isinstance(rows, (int, float)) else None,
        hyperparameters=dict(job.hyperparameters) if job else {},
        final_eval_loss=evals[-1] if evals else None,
        gap=evals[both - 1] - train[both - 1] if both else None,
        overfitting=assessment.flagged,
        overfitting_reasons=tuple(assessment.reasons),
        local_score=local.get("score") if local else None,
        local_win_rate=win_rate,
    )


def ledger(store: Store, config: Config, now: float | None = None) -> Ledger:
    """Every submission in time order, the best one marked (highest score; the earlier on a tie,
    since the count of submissions may break ties), and the limits."""
    console_ids = store.console_run_ids()
    rows = [_row(store, s, console_ids) for s in store.submissions()]
    if rows:
        best = max(range(len(rows)), key=lambda i: (rows[i].submission.fraction, -i))
        rows[best] = replace(rows[best], best=True)
    return Ledger(tuple(rows), limits(store, config, now))


def check_plan(limits: Limits, *, instance_seconds: float, wall_seconds: float) -> Check:
    """Before a launch (or before starting runs in the console): would the plan pass the training
    hours left, or not finish before the close? (The limits of core.limits.)"""
    return check(
        (
            (
                Limit("training hours", HOURS, limits.training_hours_used, limits.training_hours_limit),
                instance_seconds / 3600,
            ),
            (Limit("close", DEADLINE, limits.now, limits.closes_at), wall_seconds),
        )
    )


def check_submission(store: Store, run_name: str) -> Check:
    """Before submitting a run: is it flagged as overfitting? (Asked about, not refused.)"""
    job = store.job(run_name)
    if job is None:
        raise LedgerError(f"no run named {run_name!r} in this session")
    assessment = job_curves(store, job.id).assessment()
    if not assessment.flagged:
        return Check()
    return Check(tuple(f"{run_name} is flagged as overfitting: {reason}" for reason in assessment.reasons))


def validate_submission(
    store: Store, config: Config, run_name: str, score: str, *, rank: int | None, submitted_at: float
) -> Score:
    """Everything record_submission refuses, checked without writing: ask about overfitting after this."""
    if store.job(run_name) is None:
        raise LedgerError(f"no run named {run_name!r} in this session")
    parsed = parse_score(score)
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise LedgerError(f"rank {rank!r}: must be a whole number from 1")
    if not math.isfinite(submitted_at):
        raise LedgerError("submitted_at: not a time")
    current = limits(store, config, submitted_at)
    if current.submissions_left == 0:
        raise LedgerError(f"all {current.submission_limit} leaderboard submissions of [league] are used")
    return parsed


def record_submission(
    store: Store,
    config: Config,
    run_name: str,
    score: str,
    *,
    rank: int | None = None,
    note: str = "",
    submitted_at: float | None = None,
) -> Submission:
    """Record a leaderboard submission. Raises LedgerError (bad score or rank, unknown run, no
    submission left); nothing is written then."""
    when = time.time() if submitted_at is None else submitted_at
    parsed = validate_submission(store, config, run_name, score, rank=rank, submitted_at=when)
    job = store.job(run_name)
    if job is None:  # removed by another process since it was validated
        raise LedgerError(f"no run named {run_name}")
    return store.add_submission(
        job.id,
        submitted_at=when,
        score=parsed.text,
        fraction=parsed.fraction,
        wins=parsed.wins,
        questions=parsed.questions,
        rank=rank,
        note=note,
    )

"""Overfitting signals from per-epoch losses, EMA smoothing for plots, and a time-left estimate.

Thresholds follow generation-and-judging.md section 6.3 (heuristics, meant to be tuned):
eval - train gap above ~0.3 nats/token, eval loss rising for 2+ evaluations in a row while
train loss falls, or train loss collapsing toward zero (memorisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from core.training.log_parse import StepPoint

DEFAULT_GAP_THRESHOLD = 0.3
DEFAULT_COLLAPSE_THRESHOLD = 0.05
RISES_IN_A_ROW = 2


@dataclass(frozen=True)
class OverfitAssessment:
    flagged: bool
    reasons: list[str] = field(default_factory=list)
    best_eval_epoch: int | None = None  # 1-based epoch with the lowest eval loss
    suggestion: str | None = None  # e.g. "rerun with epoch=2"


def _best_index(values: Sequence[float]) -> int | None:
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    return min(finite)[1] if finite else None


def assess(
    train_epoch_losses: Sequence[float],
    eval_epoch_losses: Sequence[float],
    *,
    gap_threshold: float = DEFAULT_GAP_THRESHOLD,
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD,
) -> OverfitAssessment:
    """Check per-epoch losses (index i = epoch i + 1) for overfitting.

    Flags, each adding one reason:
    * eval loss rose for two evaluations in a row, after its minimum, while train loss fell
      over the same epochs;
    * the eval - train gap at the latest epoch having both exceeds ``gap_threshold``;
    * the latest train loss is below ``collapse_threshold``.
    """
    train = list(train_epoch_losses)
    evals = list(eval_epoch_losses)
    reasons: list[str] = []
    best = _best_index(evals)
    both = min(len(train), len(evals))

    if best is not None:
        for i in range(best + RISES_IN_A_ROW, both):
            window = evals[i - RISES_IN_A_ROW : i + 1]
            rising = all(a < b for a, b in zip(window, window[1:], strict=False))
            if rising and train[i] < train[i - RISES_IN_A_ROW]:
                reasons.append(
                    f"eval loss rose for {RISES_IN_A_ROW} evaluations in a row "
                    f"(epochs {i - RISES_IN_A_ROW + 1}-{i + 1}: {window[0]:.4f} -> {window[-1]:.4f}) "
                    f"while train loss fell ({train[i - RISES_IN_A_ROW]:.4f} -> {train[i]:.4f})"
                )
                break

    if both:
        gap = evals[both - 1] - train[both - 1]
        if gap > gap_threshold:
            reasons.append(f"eval - train gap {gap:.3f} at epoch {both} is above {gap_threshold:g}")

    if train and math.isfinite(train[-1]) and train[-1] < collapse_threshold:
        reasons.append(
            f"train loss collapsed to {train[-1]:.4f} at epoch {len(train)} "
            f"(below {collapse_threshold:g}: memorising the training set)"
        )

    best_epoch = best + 1 if best is not None else None
    suggestion = None
    if reasons:
        if best_epoch is not None and best_epoch < len(evals):
            suggestion = f"rerun with epoch={best_epoch}"
        else:  # eval loss is still at its best in the latest epoch: fewer epochs would not help
            suggestion = "rerun with a lower learning_rate"
    return OverfitAssessment(bool(reasons), reasons, best_epoch, suggestion)


def smooth(values: Iterable[float], alpha: float) -> list[float]:
    """Exponential moving average; ``alpha`` in (0, 1] is the weight of the newest value
    (1.0 returns the input). Non-finite values repeat the previous smoothed value."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    out: list[float] = []
    current: float | None = None
    for v in values:
        if math.isfinite(v):
            current = v if current is None else alpha * v + (1 - alpha) * current
        out.append(current if current is not None else v)
    return out


def eta_seconds(step_points: Sequence[StepPoint], now_ms: int) -> float | None:
    """Seconds of training left, from the average progress rate between the first and the
    latest step point, minus the time already passed since the latest one. None while there
    is not enough to go on (fewer than two distinct times, or no progress)."""
    if not step_points:
        return None
    first = min(step_points, key=lambda p: (p.timestamp_ms, p.fraction_done))
    last = max(step_points, key=lambda p: (p.fraction_done, p.timestamp_ms))
    if last.fraction_done >= 1.0:
        return 0.0
    elapsed_ms = last.timestamp_ms - first.timestamp_ms
    progressed = last.fraction_done - first.fraction_done
    if elapsed_ms <= 0 or progressed <= 0:
        return None
    remaining_ms = (1.0 - last.fraction_done) * elapsed_ms / progressed
    remaining_ms -= max(0, now_ms - last.timestamp_ms)
    return max(0.0, remaining_ms / 1000.0)

"""Which local figure has followed the leaderboard best so far.

For each figure (final eval loss, train/eval gap, dataset size, local judge win rate), the Spearman
rank correlation between the figure and the leaderboard score over the submissions that have both,
with a percentile bootstrap interval (resampling submissions, seeded so the answer is repeatable).
A figure with fewer than MIN_POINTS points, or whose interval covers 0, is inconclusive; when
every figure is, the verdict is "inconclusive" instead of a ranking.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from core.league.ledger import Ledger

MIN_POINTS = 5
BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95
INCONCLUSIVE = "inconclusive"

FIGURES: Mapping[str, str] = {
    "final_eval_loss": "final eval loss",
    "gap": "train/eval gap",
    "dataset_rows": "dataset size",
    "local_win_rate": "local judge win rate",
}


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson correlation of the ranks); None when either side is constant."""
    if len(x) != len(y) or len(x) < 2:
        return None
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def bootstrap_interval(
    x: Sequence[float], y: Sequence[float], *, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float] | None:
    """Percentile interval of rho over resampled pairs (degenerate resamples are skipped)."""
    rng = random.Random(seed)
    n = len(x)
    values = []
    for _ in range(samples):
        picks = [rng.randrange(n) for _ in range(n)]
        rho = spearman([x[i] for i in picks], [y[i] for i in picks])
        if rho is not None:
            values.append(rho)
    if len(values) < samples // 2:
        return None
    values.sort()
    tail = (1 - CONFIDENCE) / 2
    low = values[int(math.floor(tail * (len(values) - 1)))]
    high = values[int(math.ceil((1 - tail) * (len(values) - 1)))]
    return low, high


@dataclass(frozen=True)
class FigureCalibration:
    figure: str  # key of FIGURES
    label: str
    points: tuple[tuple[float, float], ...]  # (figure, leaderboard score) for a scatter plot
    rho: float | None
    interval: tuple[float, float] | None

    @property
    def n(self) -> int:
        return len(self.points)

    @property
    def conclusive(self) -> bool:
        if self.n < MIN_POINTS or self.rho is None or self.interval is None:
            return False
        low, high = self.interval
        return not low <= 0.0 <= high

    def describe(self) -> str:
        if self.rho is None or self.interval is None:
            return f"{self.label}: {INCONCLUSIVE} ({self.n} point{'s' if self.n != 1 else ''})"
        low, high = self.interval
        verdict = "" if self.conclusive else f", {INCONCLUSIVE}"
        interval = f"{CONFIDENCE:.0%} interval {low:+.2f} to {high:+.2f}"
        return f"{self.label}: rho {self.rho:+.2f} ({interval}, n={self.n}{verdict})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "label": self.label,
            "n": self.n,
            "rho": self.rho,
            "interval": list(self.interval) if self.interval else None,
            "conclusive": self.conclusive,
        }


@dataclass(frozen=True)
class Calibration:
    figures: tuple[FigureCalibration, ...]
    submissions: int  # with a leaderboard score

    @property
    def ranking(self) -> tuple[FigureCalibration, ...]:
        """Conclusive figures, the one that follows the leaderboard most closely first."""
        conclusive = [f for f in self.figures if f.conclusive]
        return tuple(sorted(conclusive, key=lambda f: -abs(f.rho or 0.0)))

    @property
    def verdict(self) -> str:
        ranking = self.ranking
        if not ranking:
            return INCONCLUSIVE
        best = ranking[0]
        direction = "higher" if (best.rho or 0) > 0 else "lower"
        return f"{best.label} follows the leaderboard best ({direction} is better): {best.describe()}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "submissions": self.submissions,
            "verdict": self.verdict,
            "ranking": [f.figure for f in self.ranking],
            "figures": [f.as_dict() for f in self.figures],
        }


def calibrate(samples: Sequence[Mapping[str, float | None]], scores: Sequence[float], *, seed: int = 0) -> Calibration:
    """`samples[i]` holds the figures (FIGURES keys, None when unknown) of the submission scored `scores[i]`."""
    if len(samples) != len(scores):
        raise ValueError(f"{len(samples)} samples but {len(scores)} scores")
    figures = []
    for key, label in FIGURES.items():
        points = tuple(
            (float(value), float(score))
            for sample, score in zip(samples, scores, strict=True)
            if (value := sample.get(key)) is not None and math.isfinite(float(value))
        )
        rho = interval = None
        if len(points) >= MIN_POINTS:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            rho = spearman(xs, ys)
            interval = bootstrap_interval(xs, ys, seed=seed) if rho is not None else None
        figures.append(FigureCalibration(key, label, points, rho, interval))
    return Calibration(tuple(figures), len(scores))


def calibrate_ledger(ledger: Ledger, *, seed: int = 0) -> Calibration:
    rows = ledger.rows
    samples = [{key: getattr(row, key) for key in FIGURES} for row in rows]
    return calibrate(samples, [row.submission.fraction for row in rows], seed=seed)

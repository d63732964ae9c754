"""Calibration: Spearman rank correlation with a seeded bootstrap interval, or "inconclusive"."""

from __future__ import annotations

import random

import pytest

from core.league.calibration import INCONCLUSIVE, calibrate, ranks, spearman


def test_ranks_share_ties_and_spearman_reads_monotone_relations():
    assert ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def synthetic(n: int, seed: int):
    """Eval loss planted to fall as the score rises (rank noise added); gap unrelated to the score."""
    rng = random.Random(seed)
    scores = [rng.uniform(0.3, 0.9) for _ in range(n)]
    samples = [{"final_eval_loss": 2.0 - s + rng.gauss(0, 0.05), "gap": rng.uniform(0, 0.5)} for s in scores]
    return samples, scores


def test_a_planted_rank_correlation_is_recovered_and_ranked_first():
    samples, scores = synthetic(16, seed=7)
    result = calibrate(samples, scores, seed=1)
    loss = next(f for f in result.figures if f.figure == "final_eval_loss")
    assert loss.rho < -0.8 and loss.conclusive and loss.interval[1] < 0
    assert result.ranking[0] is loss
    assert result.verdict.startswith("final eval loss follows the leaderboard best (lower is better)")
    gap = next(f for f in result.figures if f.figure == "gap")
    assert not gap.conclusive  # no planted relation: its interval covers 0
    assert calibrate(samples, scores, seed=1) == result  # seeded: the same answer every time


def test_four_points_are_inconclusive():
    samples, scores = synthetic(4, seed=3)
    result = calibrate(samples, scores)
    assert result.verdict == INCONCLUSIVE and result.ranking == ()
    assert all(f.rho is None and "inconclusive" in f.describe() for f in result.figures)


def test_an_interval_covering_zero_is_inconclusive():
    rng = random.Random(11)
    scores = [rng.random() for _ in range(8)]
    samples = [{"dataset_rows": rng.randrange(500, 5000)} for _ in scores]
    result = calibrate(samples, scores, seed=2)
    rows = next(f for f in result.figures if f.figure == "dataset_rows")
    assert rows.rho is not None and rows.interval[0] <= 0 <= rows.interval[1]
    assert result.verdict == INCONCLUSIVE

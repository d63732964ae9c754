"""Overfitting detector, EMA smoothing and the time-left estimate."""

from __future__ import annotations

import math

import pytest

from core.training.log_parse import StepPoint
from core.training.overfit import assess, eta_seconds, smooth


def test_overfitting_curve_is_flagged_with_best_epoch():
    train = [1.40, 1.05, 0.80, 0.55, 0.35]
    evals = [1.30, 1.12, 1.15, 1.24, 1.38]
    a = assess(train, evals)
    assert a.flagged
    assert a.best_eval_epoch == 2
    assert a.suggestion == "rerun with epoch=2"
    joined = " | ".join(a.reasons)
    assert "rose for 2 evaluations" in joined and "epochs 2-4" in joined
    assert "gap" in joined  # 1.38 - 0.35 = 1.03 > 0.3


def test_healthy_curve_is_not_flagged():
    a = assess([1.40, 1.20, 1.10, 1.05], [1.35, 1.22, 1.16, 1.14])
    assert not a.flagged and a.reasons == [] and a.suggestion is None
    assert a.best_eval_epoch == 4


def test_each_signal_alone():
    # one rise only (noise), small gap: not flagged
    assert not assess([1.2, 1.1, 1.0], [1.20, 1.15, 1.16]).flagged
    # two rises but train also rising: not the overfitting pattern (and small gap)
    assert not assess([1.0, 1.05, 1.1], [1.10, 1.15, 1.25]).flagged
    # rise before the minimum does not count: eval went up twice, then reached a new best
    assert not assess([1.3, 1.2, 1.1, 1.0], [1.20, 1.22, 1.25, 1.10]).flagged
    # gap above the threshold only; eval still improving, so epoch k cannot be earlier
    gap = assess([0.9, 0.6], [1.2, 1.0], gap_threshold=0.3)
    assert gap.flagged and len(gap.reasons) == 1 and "gap 0.400" in gap.reasons[0]
    assert gap.suggestion == "rerun with a lower learning_rate"
    assert not assess([0.9, 0.6], [1.2, 1.0], gap_threshold=0.5).flagged
    # train loss collapse only
    collapse = assess([0.8, 0.2, 0.01], [0.80, 0.20, 0.02], collapse_threshold=0.05)
    assert collapse.flagged and "collapsed" in collapse.reasons[0]
    assert not assess([0.8, 0.2, 0.01], [0.80, 0.20, 0.02], collapse_threshold=0.005).flagged


def test_missing_and_partial_data():
    empty = assess([], [])
    assert (empty.flagged, empty.best_eval_epoch, empty.suggestion) == (False, None, None)
    # eval of the running epoch arrives before its train loss: compare only complete epochs
    assert assess([1.0], [1.1, 1.2]).best_eval_epoch == 1
    assert not assess([1.0], [1.1, 1.2]).flagged
    assert assess([1.0, 0.9], [float("nan"), 1.0]).best_eval_epoch == 2


def test_smooth():
    assert smooth([1.0, 2.0, 3.0], 1.0) == [1.0, 2.0, 3.0]
    assert smooth([1.0, 3.0, 3.0], 0.5) == [1.0, 2.0, 2.5]
    assert smooth([], 0.3) == []
    out = smooth([float("nan"), 2.0, float("inf"), 4.0], 0.5)
    assert math.isnan(out[0]) and out[1:] == [2.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        smooth([1.0], 0.0)


def _points(progress_steps, t0=0, ms_per_step=2000, epochs=2, steps=10):
    pts = []
    for i in progress_steps:
        epoch, step = divmod(i, steps)
        pts.append(StepPoint(epoch + 1, step, steps, epochs, 1.0, t0 + i * ms_per_step))
    return pts


def test_eta_seconds():
    # 20 steps in total, 2 s each; steps 0..9 done (10 of 20) at t = 18 s
    pts = _points(range(10))
    assert eta_seconds(pts, now_ms=18_000) == pytest.approx(20.0)
    assert eta_seconds(pts, now_ms=23_000) == pytest.approx(15.0)  # time passed since last point
    assert eta_seconds(pts, now_ms=60_000) == 0.0  # overdue: never negative
    assert eta_seconds(list(reversed(pts)), now_ms=18_000) == pytest.approx(20.0)
    assert eta_seconds(_points(range(20)), now_ms=40_000) == 0.0  # finished
    assert eta_seconds([], now_ms=0) is None
    assert eta_seconds(_points([3]), now_ms=10_000) is None  # one point: no rate yet

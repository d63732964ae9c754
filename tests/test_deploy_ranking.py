"""Deploy candidates are ranked by the eval loss of the epoch JumpStart saved (the last one); an
earlier, better epoch is named with the retrain hint."""

from __future__ import annotations

import pytest

from core.serving.endpoints import deploy_candidates
from core.sessions import open_session
from core.store.jobs import MetricPoint, NewJob

MODEL = "meta-textgeneration-llama-3-2-3b"


@pytest.fixture
def store():
    s = open_session("ranking")
    yield s
    s.close()


def _job(store, name: str, evals: list[float]) -> None:
    job = store.add_job(NewJob(name, MODEL, "*", "ml.g5.2xlarge", {"epoch": str(len(evals))}))
    store.update_job(job.id, status="Completed", end_time=1000.0)
    store.add_metric_points(
        MetricPoint(job.id, "huggingface-textgeneration:eval-loss", "logs", 1000 + e, v, epoch=e)
        for e, v in enumerate(evals, 1)
    )


def test_the_saved_last_epoch_ranks_not_the_best_one(store):
    # the demo sweep's case: 005 had the best eval of any epoch (1.12 at epoch 2) but saved 1.14
    _job(store, "td-005", [1.30, 1.12, 1.14])
    _job(store, "td-006", [1.35, 1.20, 1.13])
    _job(store, "td-007", [])
    ranked = deploy_candidates(store)
    assert [c.job_name for c in ranked] == ["td-006", "td-005", "td-007"]
    first, second, _ = ranked
    assert (first.saved_epoch, first.saved_eval_loss) == (3, 1.13)
    assert not first.earlier_was_better
    assert second.earlier_was_better and second.best_epoch == 2
    assert "retrain with epoch=2" in second.label()
    assert "(best)" in first.label(first=True)

"""The leaderboard ledger: scores, the best submission, the event's limits and the checks before acting."""

from __future__ import annotations

import pytest

from core.config import Config
from core.league.ledger import LedgerError, check_plan, check_submission, ledger, limits, parse_score, record_submission
from core.league.mode import set_account_mode
from core.league.runs import RunInput, record_console_run
from core.store import Store
from core.store.jobs import EPOCH_LEVEL_STEP, MetricPoint
from core.training.log_parse import EVAL_LOSS_METRIC, TRAIN_LOSS_METRIC
from core.training.metrics import LOGS

INSTANCE = "ml.g5.12xlarge"
CLOSE = "2025-06-30T18:00:00+00:00"
NOW = 1751277600.0  # 2025-06-30T10:00:00Z, eight hours before the close


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "league" / "session.db", "league")
    set_account_mode(store, "console")
    yield store
    store.close()


def league_config(**league) -> Config:
    config = Config()
    for key, value in {"submission_limit": 3, "training_hours_limit": 5.0, "closes_at": CLOSE, **league}.items():
        setattr(config.league, key, value)
    return config


def add_run(store, name, train, evals, hours=1.0, dataset=None):
    run = record_console_run(
        store,
        Config(),
        RunInput(
            name=name,
            instance_type=INSTANCE,
            status="Completed",
            started_at=NOW - 7200,
            duration_s=hours * 3600,
            hyperparameters={"lora_r": "256"},
            dataset=dataset,
        ),
    )
    store.add_metric_points(
        MetricPoint(run.job_id, metric, LOGS, int(NOW * 1000) + epoch, value, epoch, EPOCH_LEVEL_STEP)
        for metric, values in ((TRAIN_LOSS_METRIC, train), (EVAL_LOSS_METRIC, evals))
        for epoch, value in enumerate(values, 1)
    )
    return run


@pytest.mark.parametrize(
    ("text", "fraction", "normalized"),
    [("44/50", 0.88, "44/50"), ("44 of 50", 0.88, "44/50"), ("88%", 0.88, "88%"), ("57.5 %", 0.575, "57.5%")],
)
def test_scores_are_read_as_k_of_n_or_a_percentage(text, fraction, normalized):
    score = parse_score(text)
    assert score.fraction == pytest.approx(fraction) and score.text == normalized


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("51/50", "51 won is more than the 50 questions"),
        ("-3", "cannot be negative"),
        ("abc", "expected k/N such as 44/50"),
        ("101%", "above 100%"),
        ("3/0", "at least 1"),
        ("44", "ambiguous"),
    ],
)
def test_bad_scores_are_refused_with_the_reason(store, text, reason):
    add_run(store, "run-1", [1.5], [1.3])
    with pytest.raises(LedgerError, match=reason):
        record_submission(store, league_config(), "run-1", text)
    assert store.submissions() == []


def test_the_ledger_lists_each_submission_with_its_local_figures_and_marks_the_best(store):
    dataset = store.add_dataset_version("0123456789abcdef", "instruction", counts={"train": 1500})
    add_run(store, "run-1", [1.5, 1.1], [1.3, 1.2], dataset=dataset.hash)
    add_run(store, "run-2", [1.4, 0.6, 0.3], [1.2, 1.3, 1.4])  # eval rising while train falls
    config = league_config()
    record_submission(store, config, "run-1", "44/50", rank=3, submitted_at=NOW - 600, note="first")
    record_submission(store, config, "run-2", "88.002%", submitted_at=NOW - 60)
    view = ledger(store, config, now=NOW)
    first, second = view.rows
    assert (first.dataset_hash, first.dataset_rows, first.hyperparameters) == (dataset.hash, 1500, {"lora_r": "256"})
    assert first.final_eval_loss == 1.2 and first.gap == pytest.approx(0.1) and not first.overfitting
    assert second.overfitting and any("eval loss rose" in r for r in second.overfitting_reasons)
    assert view.best is second and not first.best and first.console
    assert view.as_dict()["submissions"][1]["best"] is True


def test_a_tie_goes_to_the_earlier_submission(store):
    add_run(store, "run-1", [1.5], [1.3])
    add_run(store, "run-2", [1.5], [1.3])
    config = league_config()
    record_submission(store, config, "run-1", "40/50", submitted_at=NOW - 100)
    record_submission(store, config, "run-2", "80%", submitted_at=NOW - 50)
    assert ledger(store, config, now=NOW).best.submission.run_name == "run-1"


def test_limits_count_submissions_training_hours_and_time_to_close(store):
    add_run(store, "run-1", [1.5], [1.3], hours=1.5)
    add_run(store, "run-2", [1.5], [1.3], hours=2.0)
    config = league_config()
    record_submission(store, config, "run-1", "40/50", submitted_at=NOW)
    current = limits(store, config, now=NOW)
    assert (current.submissions_used, current.submissions_left) == (1, 2)
    assert current.training_hours_used == pytest.approx(3.5) and current.training_hours_left == pytest.approx(1.5)
    assert current.seconds_to_close == 8 * 3600
    assert "1.50 left" in " ".join(current.lines()) and "in 8h00m" in " ".join(current.lines())


def test_the_plan_check_stops_an_over_budget_or_too_late_plan(store):
    add_run(store, "run-1", [1.5], [1.3], hours=4.0)
    current = limits(store, league_config(), now=NOW)
    assert check_plan(current, instance_seconds=0.5 * 3600, wall_seconds=3600).ok
    over = check_plan(current, instance_seconds=2 * 3600, wall_seconds=3600)
    assert over.problems == ("the plan needs 2.00 training hours; 1.00 of 5 are left",)
    late = check_plan(current, instance_seconds=600, wall_seconds=9 * 3600)
    assert late.problems == ("the plan cannot finish before the close: it needs 9h00m, the event closes in 8h00m",)
    closed = check_plan(limits(store, league_config(), now=NOW + 9 * 3600), instance_seconds=60, wall_seconds=60)
    assert closed.problems == ("the event has closed",)


def test_submissions_stop_at_the_limit(store):
    add_run(store, "run-1", [1.5], [1.3])
    config = league_config(submission_limit=1)
    record_submission(store, config, "run-1", "40/50", submitted_at=NOW)
    with pytest.raises(LedgerError, match="all 1 leaderboard submissions"):
        record_submission(store, config, "run-1", "41/50", submitted_at=NOW + 1)
    assert len(store.submissions()) == 1


def test_submitting_an_overfitting_run_is_asked_about_naming_the_flag(store):
    add_run(store, "fine", [1.5, 1.1], [1.3, 1.2])
    add_run(store, "overfit", [1.4, 0.6, 0.3], [1.2, 1.3, 1.4])
    assert check_submission(store, "fine").ok
    check = check_submission(store, "overfit")
    assert not check.ok and check.problems[0].startswith("overfit is flagged as overfitting: eval loss rose")

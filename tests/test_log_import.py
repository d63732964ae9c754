"""Log import: every supported download gives the curves API polling stores for the same lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.config import Config
from core.league.runs import RunInput, record_console_run
from core.store import Store
from core.store.jobs import IN_PROGRESS, NewJob
from core.training.log_import import LogImportError, detect_format, import_log
from core.training.metrics import MetricsPoller, job_curves

LOGS = Path(__file__).parent / "data" / "logs"
EVENTS = json.loads((LOGS / "events.json").read_text())
T0_S = EVENTS[0]["timestamp"] / 1000
INSTANCE = "ml.g5.12xlarge"
LOG_FILES = {
    "cloudwatch.txt": "cloudwatch-text",
    "pasted.txt": "cloudwatch-text",
    "cloudwatch.csv": "cloudwatch-csv",
    "logs-insights.csv": "cloudwatch-csv",
    "cloudwatch.json": "cloudwatch-json",
    "filter-log-events.json": "filter-log-events",
    "get-log-events.json": "get-log-events",
}


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "league" / "session.db", "league")
    yield store
    store.close()


class _Logs:
    """CloudWatch Logs answering FilterLogEvents with the fixture's events on one stream."""

    meta = SimpleNamespace(events=SimpleNamespace(register=lambda *args, **kwargs: None))

    def __init__(self, job_name: str) -> None:
        self.stream = f"{job_name}/algo-1-1751277590"

    def filter_log_events(self, logGroupName, startTime, endTime, **kwargs):  # noqa: N803 - boto3's names
        return {
            "events": [
                {**e, "logStreamName": self.stream, "ingestionTime": e["timestamp"] + 600}
                for e in EVENTS
                if startTime <= e["timestamp"] <= endTime
            ]
        }


def api_curves(store):
    """The curves the API path stores when CloudWatch holds the fixture's log lines."""
    job = store.add_job(NewJob("td-api-001", "m", "*", INSTANCE, {}))
    store.update_job(job.id, status=IN_PROGRESS, arn="arn:aws:sagemaker:us-east-1:1:training-job/x", launched_at=T0_S)
    logs = _Logs(job.name)
    poller = MetricsPoller(store, lambda service: logs, name_prefix="td-api-", clock=lambda: T0_S + 3600)
    poller.poll()
    return job_curves(store, job.id)


def console_run(store, name="run-1"):
    return record_console_run(store, Config(), RunInput(name=name, instance_type=INSTANCE, started_at=T0_S))


@pytest.mark.parametrize("filename", sorted(LOG_FILES))
def test_each_log_format_imports_to_the_curves_api_polling_stores(store, filename):
    expected = api_curves(store)
    assert len(expected.steps) == 6 and expected.train_epoch_losses == (1.5, 1.05)
    run = console_run(store)
    result = import_log(store, run.name, path=LOGS / filename)
    assert result.format == LOG_FILES[filename]
    assert result.curves == expected
    assert result.assessment == expected.assessment()
    again = import_log(store, run.name, path=LOGS / filename)
    assert again.new_points == 0 and again.curves == expected  # importing twice adds nothing


def test_the_metrics_export_fills_the_epoch_curves_and_the_overfitting_flag(store):
    expected = api_curves(store)
    run = console_run(store)
    result = import_log(store, run.name, path=LOGS / "metrics.csv")
    assert result.format == "metrics-csv" and result.step_points == 0
    assert result.curves.train_epoch_losses == expected.train_epoch_losses
    assert result.curves.eval_epoch_losses == expected.eval_epoch_losses
    assert result.assessment.flagged == expected.assessment().flagged


def test_pasted_text_imports_like_a_file(store):
    run = console_run(store)
    result = import_log(store, run.name, text=(LOGS / "pasted.txt").read_text())
    assert result.curves.step_losses[-1] == pytest.approx(0.9906)


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ((LOGS / "bad-timestamp.csv").read_text(), 3, "a timestamp"),
        ((LOGS / "no-training-lines.txt").read_text(), 1, "JumpStart training log lines"),
        ('[{"timestamp": 1751277600000, "message": "x"},\n {"message": "no time"}]', 2, '"timestamp"'),
        ('{"events": [\n{"timestamp": 1, "message": "a"}\n', 3, "valid JSON"),
        ("timestamp,metric_name,value\n60,huggingface-textgeneration:train-loss,abc\n", 2, "numeric value"),
    ],
)
def test_an_unreadable_file_names_the_line_and_what_was_expected_and_imports_nothing(store, content, line, expected):
    run = console_run(store)
    with pytest.raises(LogImportError) as caught:
        import_log(store, run.name, text=content)
    assert caught.value.line == line and expected in str(caught.value)
    assert store.metric_point_count(run.job_id) == 0


def test_a_file_that_fails_on_its_last_line_imports_nothing(store, tmp_path):
    run = console_run(store)
    broken = tmp_path / "broken.csv"
    shutil.copy(LOGS / "cloudwatch.csv", broken)
    with broken.open("a") as handle:
        handle.write("not-a-time,Training Epoch: 2/2, step 2/3 completed (loss: 0.5)\n")
    last_line = broken.read_text().count("\n")
    with pytest.raises(LogImportError, match=f"line {last_line} "):
        import_log(store, run.name, path=broken)
    assert store.metric_point_count(run.job_id) == 0


def test_a_job_still_polled_from_aws_is_not_imported_into(store):
    job = store.add_job(NewJob("td-api-001", "m", "*", INSTANCE, {}))
    store.update_job(job.id, status=IN_PROGRESS, arn="arn:aws:sagemaker:us-east-1:1:training-job/x")
    with pytest.raises(ValueError, match="being polled"):
        import_log(store, job.name, path=LOGS / "cloudwatch.txt")


def test_formats_are_told_apart_from_their_first_line():
    assert detect_format("timestamp,metric_name,value\n") == "metrics-csv"
    assert detect_format("@timestamp,@message\n") == "cloudwatch-csv"
    assert detect_format("  [\n") == "json"
    assert detect_format("Training Epoch: 1/2, step 0/3 completed (loss: 1.9)\n") == "cloudwatch-text"

"""Metrics from CloudWatch and CloudWatch Logs against the emulator's simulated trainer: step losses
equal the log lines, the overfitting job is flagged, calls per poll stay flat, nothing is counted
twice across a restart and a late log line is still read; plus query batching, the experiment sheet
and the cost meter."""

from __future__ import annotations

import time
from collections import Counter
from types import SimpleNamespace

import pytest

from core.store.jobs import IN_PROGRESS, NewJob
from core.training.log_parse import EVAL_LOSS_METRIC, TRAIN_LOSS_METRIC
from core.training.metrics import LAG_MARGIN, LAG_SLACK_MS, LOG_GROUP, MAX_QUERIES_PER_CALL, MetricsPoller, job_curves
from core.training.prices import PriceTable, cost_meter
from tests.jobs_support import (
    EVAL_LOSS,
    INSTANCE,
    MODEL,
    TRAIN_LOSS,
    add_dataset,
    log_lines,
    logged_step_losses,
    make_config,
    make_service,
    make_store,
    run_until,
    sweep,
)

POLL_OPERATIONS = ("ListTrainingJobs", "FilterLogEvents", "GetMetricData")
OVERLAP = 5000  # ms of the previous log window each poll reads again (the default log_overlap_seconds)
STEP_LINE = "Training Epoch: 1/1, step {}/10 completed (loss: {})"


class CallLog:
    """Counts API calls per operation with botocore's before-call hook, and keeps what came back."""

    def __init__(self, service) -> None:
        self.calls: Counter = Counter()
        self.responses: list[tuple[str, dict]] = []
        for name in ("sagemaker", "logs", "cloudwatch"):
            client = service.client(name)
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)
        service.client("logs").meta.events.register(
            "before-parameter-build.cloudwatch-logs.FilterLogEvents", self._params
        )

    def _before(self, model, **_) -> None:
        self.calls[model.name] += 1

    def _params(self, params, **_) -> None:
        if params.get("logStreamNames"):
            self.calls["backfill"] += 1  # streams seen for the first time, read from their jobs' launch

    def _after(self, model, parsed, **_) -> None:
        self.responses.append((model.name, parsed))

    def take(self) -> Counter:
        taken, self.calls = self.calls, Counter()
        return taken


def test_four_job_sweep_stores_the_logged_losses_and_flags_the_overfitting_job(aws, tmp_path):
    aws.set_quotas(training={INSTANCE: 4})
    store = make_store(tmp_path)
    add_dataset(store, aws, rows=100)  # 80 train + 20 validation rows, 20 steps per epoch
    service = make_service(store, make_config(aws))
    _, jobs = sweep(service, "epoch=3", "learning_rate=1e-4,5e-4", "lora_r=8,64", "lora_alpha=4xr")
    run_until(service, service.idle)
    rows = {r.job.name: r for r in service.rows()}
    for job in jobs:
        messages = log_lines(aws, job.name)
        curves = job_curves(store, job.id)
        assert list(curves.step_losses) == logged_step_losses(messages)
        assert len(curves.step_losses) == 3 * 20
        text = "\n".join(messages)
        assert list(curves.train_epoch_losses) == [float(x) for x in TRAIN_LOSS.findall(text)]
        assert list(curves.eval_epoch_losses) == [float(x) for x in EVAL_LOSS.findall(text)]
        assert rows[job.name].job.progress["fraction"] == 1.0
    healthy = rows[jobs[0].name]  # lr 1e-4, r 8
    overfit = rows[jobs[3].name]  # lr 5e-4, r 64, alpha 256
    assert (healthy.job.hyperparameters["learning_rate"], healthy.job.hyperparameters["lora_r"]) == ("1e-4", "8")
    assert overfit.job.hyperparameters["lora_alpha"] == "256"
    assert not healthy.assessment.flagged
    assert overfit.assessment.flagged and overfit.assessment.suggestion == f"rerun with epoch={overfit.best_eval_epoch}"
    assert overfit.best_eval_epoch < 3

    from core.training.sheet import BASE_COLUMNS, build_sheet, export_csv, sort_sheet

    sheet = sort_sheet(build_sheet(store, service.prices, time.time()), "best_eval_loss")
    assert list(sheet["job"])[0] == min(rows.values(), key=lambda r: min(r.curves.eval_epoch_losses)).job.name
    swept = sheet.columns[len(BASE_COLUMNS) : len(BASE_COLUMNS) + 4]
    assert list(sheet.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert list(swept) == ["epoch", "learning_rate", "lora_r", "lora_alpha"]
    assert bool(sheet.set_index("job").loc[overfit.job.name, "overfitting"])
    by_rate = sort_sheet(sheet, "learning_rate", descending=True)
    assert list(by_rate["learning_rate"])[:2] == ["5e-4", "5e-4"]
    import pandas as pd

    again = pd.read_csv(export_csv(sheet, tmp_path / "sheet.csv"))
    assert list(again["job"]) == list(sheet["job"])
    assert again["gap"].tolist() == pytest.approx(sheet["gap"].tolist())


def test_calls_per_poll_stay_constant_as_running_jobs_grow(aws, tmp_path):
    aws.set_quotas(training={INSTANCE: 6})
    store = make_store(tmp_path)
    add_dataset(store, aws)
    service = make_service(store, make_config(aws))
    log = CallLog(service)

    def poll_costs(count: int) -> list[Counter]:
        sweep(service, "epoch=1", "learning_rate=" + ",".join(f"{i}e-5" for i in range(1, count + 1)))
        costs = []
        changes = []

        def record(summary) -> None:
            calls = log.take()
            costs.append(calls)
            changes.append(len(summary.status_changes))
            assert calls["CreateTrainingJob"] == len(summary.launched) + len(summary.requeued)

        run_until(service, service.idle, on_tick=record)
        # a job is described when the listing shows it changed; the emulator's clock may move between
        # the listing and the description, so a few descriptions find nothing new, never one a poll
        assert sum(c["DescribeTrainingJob"] for c in costs) <= sum(changes) + count
        return costs

    one = poll_costs(1)
    six = poll_costs(6)
    for costs, jobs in ((one, 1), (six, 6)):
        assert max(c[op] for c in costs for op in ("ListTrainingJobs", "GetMetricData")) == 1
        # one log query a poll, plus at most one in a poll where streams first appear and their jobs'
        # launch is before the window: the lines written before it are read from the launch
        assert max(c["FilterLogEvents"] - c["backfill"] for c in costs) == 1
        assert max(c["backfill"] for c in costs) <= 1 and sum(c["backfill"] for c in costs) <= jobs
        assert max(sum(c[op] for op in POLL_OPERATIONS) for c in costs) <= 4
    described = sum(c["DescribeTrainingJob"] for c in six)
    assert described <= 6 * 4  # a handful per job over its life, not one per poll
    assert len(six) > 10


def test_after_a_restart_nothing_is_counted_twice_or_missed(aws, tmp_path):
    aws.set_quotas(training={INSTANCE: 3})
    store = make_store(tmp_path)
    add_dataset(store, aws, rows=60)
    first = make_service(store, make_config(aws))
    _, jobs = sweep(first, "epoch=12", "learning_rate=1e-4,2e-4,3e-4")
    first_log = CallLog(first)
    run_until(first, lambda: all(store.metric_point_count(j.id, "step-loss") > 0 for j in jobs))
    assert any(not j.is_final for j in store.jobs())  # stopped mid-run
    del first

    second = make_service(store, make_config(aws))
    second_log = CallLog(second)
    run_until(second, second.idle)

    datapoints: Counter = Counter()
    for log in (first_log, second_log):
        for operation, parsed in log.responses:
            if operation == "GetMetricData":
                for result in parsed.get("MetricDataResults", []):
                    datapoints.update((result["Id"], ts) for ts in result.get("Timestamps", []))
    assert datapoints and max(datapoints.values()) == 1  # log windows overlap (see below), metric windows do not
    assert second_log.calls["FilterLogEvents"] and second_log.calls["GetMetricData"]
    for job in jobs:
        messages = log_lines(aws, job.name)
        curves = job_curves(store, job.id)
        assert list(curves.step_losses) == logged_step_losses(messages)
        assert list(curves.eval_epoch_losses) == [float(x) for x in EVAL_LOSS.findall("\n".join(messages))]


def test_metric_queries_are_batched_500_per_call(tmp_path):
    store = make_store(tmp_path)
    definitions = [{"Name": f"m{i}", "Regex": f"m{i}=([0-9.]+)"} for i in range(3)]
    for i in range(200):
        job = store.add_job(
            NewJob(name=f"td-x-{i:03d}", model_id=MODEL, model_version="1", instance_type=INSTANCE, hyperparameters={})
        )
        store.update_job(
            job.id,
            status=IN_PROGRESS,
            arn=f"arn:{i}",
            launched_at=1000.0,
            logs_cursor_ms=10**15,
            request={"AlgorithmSpecification": {"MetricDefinitions": definitions}},
        )
    sent: list[int] = []

    class FakeCloudWatch:
        def get_metric_data(self, MetricDataQueries, **_):
            sent.append(len(MetricDataQueries))
            return {"MetricDataResults": [{"Id": MetricDataQueries[0]["Id"], "Timestamps": [], "Values": []}]}

    poller = MetricsPoller(
        store,
        lambda name: FakeCloudWatch(),
        name_prefix="td-x-",
        period=60,
        metric_settle_seconds=0,
        clock=lambda: 10_000.0,
    )
    assert poller.poll().calls == 2
    assert sent == [MAX_QUERIES_PER_CALL, 600 - MAX_QUERIES_PER_CALL]
    assert {j.metrics_cursor_ms for j in store.jobs()} == {9960 * 1000}
    assert poller.poll().calls == 0  # the next period is not complete yet: nothing to ask


def test_cost_meter_counts_running_instances_and_spend():
    prices = PriceTable({"ml.g5.2xlarge": 2.0})
    jobs = [
        SimpleNamespace(
            status="InProgress",
            instance_type="ml.g5.2xlarge",
            start_time=0.0,
            end_time=None,
            billable_seconds=None,
            request=None,
        ),
        SimpleNamespace(
            status="Completed",
            instance_type="ml.g5.12xlarge",
            start_time=0.0,
            end_time=3600.0,
            billable_seconds=1800,
            request=None,
        ),
        SimpleNamespace(
            status="Queued",
            instance_type="ml.g5.2xlarge",
            start_time=None,
            end_time=None,
            billable_seconds=None,
            request=None,
        ),
    ]
    endpoints = [
        SimpleNamespace(
            instance_type="ml.g5.2xlarge",
            status="InService",
            price_per_hour=None,
            created_at=0.0,
            in_service_at=1800.0,
            deleted_at=None,
        ),
        SimpleNamespace(
            instance_type="ml.g5.4xlarge",
            status="Deleted",
            price_per_hour=3.0,
            created_at=0.0,
            in_service_at=0.0,
            deleted_at=7200.0,
        ),
    ]
    meter = cost_meter(jobs, endpoints, prices, now=5400.0)
    assert (meter.training_instances, meter.endpoint_instances) == (1, 1)
    assert meter.usd_per_hour == pytest.approx(2.0 + 2.0)
    # 1.5 h x $2 running job + 0.5 h x $7.09 finished job + 1 h x $2 endpoint + 2 h x $3 deleted endpoint
    assert meter.usd_so_far == pytest.approx(3.0 + 3.545 + 2.0 + 6.0)
    assert "$4.00/h" in meter.label()


def test_log_window_settle_follows_the_ingestion_lag(tmp_path):
    """Cautious until the first event shows the lag; then it shrinks to fit it, and grows again when
    a slow event arrives, so a late event is still inside the next window."""
    store = make_store(tmp_path)
    job = store.add_job(
        NewJob(name="td-x-001", model_id=MODEL, model_version="1", instance_type=INSTANCE, hyperparameters={})
    )
    store.update_job(job.id, status=IN_PROGRESS, arn="arn:1", launched_at=1000.0, metrics_cursor_ms=10**15)
    now = {"t": 1100.0}
    windows: list[tuple[int, int]] = []
    lag_of_next_event = {"ms": 100}

    class FakeLogs:
        def filter_log_events(self, startTime, endTime, **_):
            windows.append((startTime, endTime))
            ts = endTime - 10
            return {
                "events": [
                    {
                        "logStreamName": "td-x-001/algo-1-1",
                        "timestamp": ts,
                        "ingestionTime": ts + lag_of_next_event["ms"],
                        "message": "hello",
                    }
                ]
            }

    poller = MetricsPoller(store, lambda name: FakeLogs(), name_prefix="td-x-", period=60, clock=lambda: now["t"])
    poller.poll()
    assert windows[-1][1] == 1100_000 - 5000 - 1  # no lag seen yet: the cautious settle
    now["t"] += 2
    poller.poll()  # a stream's first lines say nothing about the lag (a backlog); its next ones do
    assert windows[-1] == (1100_000 - 5000 - OVERLAP, 1102_000 - 5000 - 1)  # re-reads the last 5 s
    now["t"] += 2
    poller.poll()
    assert windows[-1] == (1102_000 - 5000 - OVERLAP, 1104_000 - 500 - 1)  # 100 ms lag: the 0.5 s floor
    lag_of_next_event["ms"] = 3000
    now["t"] += 2
    poller.poll()
    calls = len(windows)
    now["t"] += 2
    poller.poll()
    assert len(windows) == calls  # the wider settle puts the window's end before the cursor: wait
    now["t"] += 4
    poller.poll()
    assert windows[-1] == (1106_000 - 500 - OVERLAP, 1112_000 - int(LAG_MARGIN * 3000 + LAG_SLACK_MS) - 1)
    assert all(end + 1 - OVERLAP == start for (_, end), (start, _) in zip(windows, windows[1:], strict=False))


def test_throttled_metric_fetches_back_off_then_resume(aws, tmp_path):
    from botocore.config import Config as BotoConfig

    store = make_store(tmp_path)
    add_dataset(store, aws, rows=40)
    no_retry = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"})
    service = make_service(
        store,
        make_config(aws),
        client_factory=lambda name: aws.client(name, no_retry),
        backoff_base=0.5,
        backoff_max=2.0,
    )
    _, [job] = sweep(service, "epoch=6")
    run_until(service, lambda: store.metric_point_count(job.id, "step-loss") > 0)
    time.sleep(0.3)
    aws.inject_fault("FilterLogEvents", "ThrottlingException", count=None)
    assert service.tick().throttled
    held = service.tick()  # within the backoff: CloudWatch is left alone
    assert held.throttled and not held.api_calls["FilterLogEvents"] and not held.api_calls["GetMetricData"]
    aws.clear_faults()
    time.sleep(0.6)
    resumed = service.tick()
    assert resumed.api_calls["FilterLogEvents"] == 1 and not resumed.throttled


def test_a_log_stream_that_appears_late_is_read_from_the_job_launch_once(tmp_path):
    store = make_store(tmp_path)
    job = store.add_job(
        NewJob(name="td-x-001", model_id=MODEL, model_version="1", instance_type=INSTANCE, hyperparameters={})
    )
    store.update_job(
        job.id, status=IN_PROGRESS, arn="arn:1", launched_at=1000.0, metrics_cursor_ms=10**15, logs_cursor_ms=1_100_000
    )  # polled for 100 s while the container was starting
    store.set_meta("jobs.log_ingestion_lag_ms", 50)
    line = STEP_LINE
    held = [  # the first line reached CloudWatch long after it was written
        {
            "logStreamName": "td-x-001/algo-1-1",
            "timestamp": 1_050_000,
            "ingestionTime": 1_104_000,
            "message": line.format(1, 2.5),
        },
        {
            "logStreamName": "td-x-001/algo-1-1",
            "timestamp": 1_105_000,
            "ingestionTime": 1_105_050,
            "message": line.format(2, 2.25),
        },
    ]
    calls: list[tuple[str, int, int]] = []

    class FakeLogs:
        def filter_log_events(self, startTime, endTime, logStreamNamePrefix="", logStreamNames=(), **_):
            calls.append((logStreamNamePrefix or tuple(logStreamNames), startTime, endTime))
            return {
                "events": [
                    e
                    for e in held
                    if startTime <= e["timestamp"] <= endTime
                    and e["logStreamName"].startswith(logStreamNamePrefix)
                    and (not logStreamNames or e["logStreamName"] in logStreamNames)
                ]
            }

    now = {"t": 1110.0}
    poller = MetricsPoller(store, lambda name: FakeLogs(), name_prefix="td-x-", period=60, clock=lambda: now["t"])
    poller.poll()
    assert [p.step for p in store.metric_points(job.id, "step-loss")] == [1, 2]
    window_start = 1_100_000 - OVERLAP
    assert calls == [("td-x-", window_start, 1_109_499), (("td-x-001/algo-1-1",), 1_000_000, window_start - 1)]
    now["t"] += 2
    poller.poll()
    assert [c[0] for c in calls[2:]] == ["td-x-"]  # known from now on: no second read from the launch


def test_a_line_that_reaches_cloudwatch_after_the_window_passed_it_is_read_once(aws, tmp_path):
    """The log agent stalls: a line lands with a timestamp the last window already covered. The next
    window re-reads the overlap, takes the late line and drops the ones it had, also after a restart."""
    store = make_store(tmp_path)
    job = store.add_job(
        NewJob(name="td-x-001", model_id=MODEL, model_version="1", instance_type=INSTANCE, hyperparameters={})
    )
    now = time.time()
    store.update_job(job.id, status=IN_PROGRESS, arn="arn:1", launched_at=now - 60, metrics_cursor_ms=10**15)
    store.set_meta("jobs.log_ingestion_lag_ms", 50)  # the settle has learned a small lag: 0.5 s
    logs = aws.client("logs")
    stream = "td-x-001/algo-1-1"
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)

    def put(seconds_ago: float, message: str) -> None:
        event = {"timestamp": int((time.time() - seconds_ago) * 1000), "message": message}
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=[event])

    def poller() -> MetricsPoller:
        return MetricsPoller(store, aws.client, name_prefix="td-x-", period=60, log_settle_seconds=0.5)

    put(3, STEP_LINE.format(1, 2.5))
    put(2.9, "train_epoch_loss=2.40 eval_epoch_loss=tensor(2.31)")
    first = poller()
    first.poll()
    cursor = store.job(job.id).logs_cursor_ms
    put((time.time() * 1000 - cursor) / 1000 + 2, STEP_LINE.format(2, 2.25))  # 2 s before the cursor
    first.poll()
    poller().poll()  # a restarted app reads the same overlap again
    assert [(p.step, p.value) for p in store.metric_points(job.id, "step-loss")] == [(1, 2.5), (2, 2.25)]
    assert [p.value for p in store.metric_points(job.id, EVAL_LOSS_METRIC)] == [2.31]
    assert [p.value for p in store.metric_points(job.id, TRAIN_LOSS_METRIC)] == [2.40]

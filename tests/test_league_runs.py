"""Console runs: recorded by hand, refused when the name is taken, never polled from AWS."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from core.config import Config
from core.league.mode import (
    CONSOLE,
    ConsoleModeError,
    account_mode,
    no_aws_client,
    set_account_mode,
    unavailable_reason,
)
from core.league.runs import RunError, RunInput, edit_console_run, parse_duration, parse_time, record_console_run
from core.store import Store
from core.store.jobs import FAILED, IN_PROGRESS, NewJob
from core.store.league import IN_CONSOLE
from core.training.jobs import JobsService

INSTANCE = "ml.g5.12xlarge"


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "league" / "session.db", "league")
    yield store
    store.close()


def test_the_session_keeps_its_account_mode_and_console_mode_says_why_aws_actions_are_off(store):
    config = Config()
    assert account_mode(store, config) == "api"
    config.league.account_mode = CONSOLE
    assert account_mode(store, config) == CONSOLE  # a session that never chose takes the config's default
    set_account_mode(store, "api")
    assert account_mode(store, config) == "api"
    assert unavailable_reason("launch", "api") is None
    reason = unavailable_reason("deploy", CONSOLE)
    assert reason is not None and reason.startswith("console mode:") and "\n" not in reason
    with pytest.raises(ValueError, match="account mode"):
        set_account_mode(store, "both")
    with pytest.raises(ConsoleModeError, match="no AWS call"):
        no_aws_client("sagemaker")


def test_a_run_is_recorded_once_and_a_second_one_with_its_name_names_the_first(store):
    config = Config()
    dataset = store.add_dataset_version("0123456789abcdef", "instruction", counts={"train": 10})
    run = record_console_run(
        store,
        config,
        RunInput(
            name="td-league-01234567-01",
            instance_type=INSTANCE,
            hyperparameters={"epoch": "3", "lora_r": "256"},
            status="Completed",
            started_at=parse_time("2025-06-30T10:00+00:00"),
            duration_s=parse_duration("1h30m"),
        ),
    )
    assert run.dataset_version_id == dataset.id  # linked through the hash the name carries
    assert run.training_seconds(now=0) == 5400
    job = store.job(run.name)
    assert job.status == "Completed" and job.arn is None and job.billable_seconds == 5400
    with pytest.raises(RunError, match=r"a run named td-league-01234567-01 exists already: a console run recorded"):
        record_console_run(store, config, RunInput(name=run.name, instance_type=INSTANCE))
    assert len(store.console_runs()) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "Completed"}, "needs its duration"),
        ({"status": "Done"}, "must be one of"),
        ({"started_at": 100.0, "ended_at": 50.0}, "before the start"),
        ({"hyperparameters": {"epoch": ""}}, "non-empty value"),
        ({"instance_type": "g5.2xlarge"}, "ml.\\* instance type"),
        ({"twin": "nope"}, "no job named"),
        ({"dataset": "feedbeef"}, "no version"),
    ],
)
def test_bad_runs_are_refused_with_the_field_and_nothing_is_written(store, changes, message):
    fields = {"name": "run-1", "instance_type": INSTANCE, **changes}
    with pytest.raises(RunError, match=message):
        record_console_run(store, Config(), RunInput(**fields))
    assert store.jobs() == [] and store.console_runs() == []


def test_editing_a_run_ends_it_and_a_twin_must_be_an_api_job(store):
    config = Config()
    api = store.add_job(NewJob("td-api-001", "m", "*", INSTANCE, {"epoch": "3"}))
    record_console_run(store, config, RunInput(name="run-1", instance_type=INSTANCE, started_at=1000.0))
    assert store.job("run-1").status == IN_CONSOLE
    edited = edit_console_run(store, "run-1", status="Completed", ended_at=4600.0, twin="td-api-001", note="r256")
    assert (edited.status, edited.training_seconds(now=0), edited.twin_job_id, edited.note) == (
        "Completed",
        3600.0,
        api.id,
        "r256",
    )
    assert store.job("run-1").status == "Completed" and store.job("run-1").end_time == 4600.0
    record_console_run(store, config, RunInput(name="run-2", instance_type=INSTANCE))
    with pytest.raises(RunError, match="is a console run"):
        edit_console_run(store, "run-1", twin="run-2")
    with pytest.raises(RunError, match="API job"):
        edit_console_run(store, "td-api-001", note="x")


class _RecordingAws:
    """A client factory whose clients record each call; SageMaker knows no job."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def __call__(self, service: str):
        recorder = self

        class Client:
            meta = SimpleNamespace(events=SimpleNamespace(register=lambda *args, **kwargs: None))

            def __getattr__(self, operation):
                def call(**kwargs):
                    recorder.calls.append((service, operation, kwargs))
                    if operation == "describe_training_job":
                        raise ClientError(
                            {"Error": {"Code": "ValidationException", "Message": "Requested resource not found"}},
                            "DescribeTrainingJob",
                        )
                    return {"list_training_jobs": {"TrainingJobSummaries": []}}.get(operation, {})

                return call

        return Client()


def test_console_runs_never_enter_the_api_polling_path(store):
    config = Config()
    config.jumpstart.quotas = {INSTANCE: 4}
    in_progress = record_console_run(store, config, RunInput(name="run-live", instance_type=INSTANCE, started_at=1.0))
    finished = record_console_run(
        store, config, RunInput(name="run-done", instance_type=INSTANCE, status="Completed", duration_s=60.0)
    )
    api = store.add_job(NewJob("td-api-001", "m", "*", INSTANCE, {}))
    store.update_job(api.id, status=IN_PROGRESS, arn="arn:aws:sagemaker:us-east-1:1:training-job/td-api-001")
    aws = _RecordingAws()
    service = JobsService(store, config, client_factory=aws)
    assert {j.name for j in service.metrics.monitored_jobs()} == {"td-api-001"}
    service.tick()
    service.tick()
    assert aws.calls, "the API job was polled"
    assert store.job("td-api-001").status == FAILED  # what happens to a job SageMaker does not know
    assert not any("run-" in repr(kwargs) for _, _, kwargs in aws.calls)
    assert store.job(in_progress.job_id).status == IN_CONSOLE and store.job(finished.job_id).status == "Completed"
    assert store.console_run("run-live").status == IN_PROGRESS

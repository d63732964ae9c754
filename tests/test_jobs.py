"""Sweeps, plans, the capacity-aware queue, stop, clone, restart reconciliation and the headless verbs,
against the AWS emulator (fast clock)."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from core.store.jobs import CANCELLED, COMPLETED, IN_PROGRESS, LAUNCHING, QUEUED, STOPPED, NewJob
from core.training.jobs import EulaRequiredError, JobsError, SweepSpec
from core.training.prices import PriceTable
from core.training.sweep import ALL_TARGET_MODULES, SweepError, expand, parse_param
from tests.jobs_support import (
    INSTANCE,
    MODEL,
    add_dataset,
    make_config,
    make_service,
    make_store,
    run_until,
    sweep,
)

ALL = ",".join(ALL_TARGET_MODULES)


def all_done(service) -> bool:
    return all(j.is_final for j in service.store.jobs())


# -- sweep expansion and plans (no AWS) ---------------------------------------------------------------


def test_expansion_grid_list_presets_and_alpha_ratio():
    params = [
        parse_param("learning_rate=1e-4,2e-4"),
        parse_param("lora_r=8,16"),
        parse_param("lora_alpha=2xr"),
        parse_param("target_modules=q,v|all linear"),
    ]
    jobs, warnings = expand(params, fixed={"instruction_tuned": "True"})
    assert len(jobs) == 8 and not warnings
    assert {(j["lora_r"], j["lora_alpha"]) for j in jobs} == {("8", "16"), ("16", "32")}
    assert {j["target_modules"] for j in jobs} == {"q_proj,v_proj", ALL}
    assert all(j["instruction_tuned"] == "True" for j in jobs)

    listed, _ = expand(
        [parse_param("epoch=1,2,3"), parse_param("lora_r=8,16,32"), parse_param("lora_dropout=0.1")], mode="list"
    )
    assert [(j["epoch"], j["lora_r"], j["lora_dropout"]) for j in listed] == [
        ("1", "8", "0.1"),
        ("2", "16", "0.1"),
        ("3", "32", "0.1"),
    ]
    # alpha = k x r with r from the spec's defaults, and duplicates dropped with a warning
    jobs, warnings = expand([parse_param("lora_alpha=4xr,32")], defaults={"lora_r": "8"})
    assert jobs == [{"lora_alpha": "32"}] and "duplicate" in warnings[0]
    with pytest.raises(SweepError, match="same number of values"):
        expand([parse_param("epoch=1,2"), parse_param("lora_r=8,16,32")], mode="list")
    with pytest.raises(SweepError, match="NAME=V1"):
        parse_param("epoch")


def test_plan_validates_every_job_before_any_aws_call(tmp_path):
    store = make_store(tmp_path)
    store.add_dataset_version("h1", "instruction", train_s3_uri="s3://bucket/ds/train/", counts={"train": 2000})
    service = make_service(store, make_config(quotas={INSTANCE: 2}))
    with pytest.raises(SweepError) as bad:
        service.plan_sweep(
            SweepSpec.from_strings(INSTANCE, ["lora_r=8,0", "learning_rate=fast", "target_modules=q_proj,x_proj"])
        )
    messages = "\n".join(bad.value.errors)
    assert "lora_r: must be at least 1, got 0 (job 2)" in messages
    assert "learning_rate: must be a number, got 'fast'" in messages
    assert "target_modules: unknown module 'x_proj'" in messages
    with pytest.raises(SweepError, match="not supported for training"):
        service.plan_sweep(SweepSpec.from_strings("ml.p3.2xlarge", ["epoch=1"]))
    assert sum(service.api_calls.values()) == 0  # nothing reached AWS

    plan = service.plan_sweep(SweepSpec.from_strings(INSTANCE, ["epoch=1,2,3", "learning_rate=1e-4,2e-4"]))
    assert len(plan.jobs) == 6 and plan.model_version == "1.1.7"
    assert all(j.hyperparameters["instruction_tuned"] == "True" for j in plan.jobs)
    assert plan.price_per_hour == 1.515 and plan.slots.slots == 2 and plan.slots.source == "config"
    assert plan.total_cost == pytest.approx(sum(PriceTable().cost(INSTANCE, j.estimated_seconds) for j in plan.jobs))
    longer = {j.hyperparameters["epoch"]: j.estimated_seconds for j in plan.jobs}
    assert longer["1"] < longer["2"] < longer["3"]
    assert plan.wall_seconds < plan.instance_seconds  # two slots run in parallel
    assert plan.eula_required and not plan.eula_accepted
    text = "\n".join(plan.summary_lines())
    assert "6 job(s)" in text and "estimated cost $" in text and "accept its EULA" in text
    assert sum(service.api_calls.values()) == 0

    with pytest.raises(EulaRequiredError):
        service.launch_sweep(plan)
    assert store.jobs() == []
    _, jobs = service.launch_sweep(plan, accept_eula=True)
    assert service.eula_accepted(MODEL) and len(jobs) == 6 and {j.status for j in jobs} == {QUEUED}
    assert len({j.name for j in jobs}) == 6 and all(j.name.startswith(service.prefix) for j in jobs)
    service.launch_sweep(plan)  # accepted once: remembered for the session


def test_estimates_are_refined_by_finished_jobs(tmp_path):
    store = make_store(tmp_path)
    store.add_dataset_version("h1", "instruction", train_s3_uri="s3://bucket/ds/train/", counts={"train": 500})
    service = make_service(store, make_config(quotas={INSTANCE: 1}))
    spec = SweepSpec.from_strings(INSTANCE, ["epoch=2"])
    first = service.plan_sweep(spec)
    raw = first.jobs[0].raw_estimated_seconds
    assert first.refinement == 1.0 and first.jobs[0].estimated_seconds == raw
    # a finished job that took a quarter of its estimate
    job = store.add_job(
        NewJob(
            name="done-1",
            model_id=MODEL,
            model_version="1.1.7",
            instance_type=INSTANCE,
            hyperparameters={"epoch": "2"},
            estimated_seconds=raw,
        )
    )
    store.update_job(job.id, status=COMPLETED, launched_at=1000.0, end_time=1000.0 + raw / 4)
    second = service.plan_sweep(spec)
    assert second.refinement == pytest.approx(0.25)
    assert second.jobs[0].estimated_seconds == pytest.approx(raw / 4)


# -- the queue against the emulator -------------------------------------------------------------------


def test_seven_jobs_over_three_slots_never_exceed_the_quota_and_all_finish(aws, tmp_path):
    aws.set_quotas(training={INSTANCE: 3})  # looked up by name through Service Quotas
    store = make_store(tmp_path)
    add_dataset(store, aws)
    service = make_service(store, make_config(aws))
    sweep(service, "epoch=1", "learning_rate=1e-4,2e-4,3e-4,4e-4,5e-4,6e-4,7e-4", mode="list")
    sagemaker = aws.client("sagemaker")
    peak = {"store": 0, "aws": 0}

    def observe(summary) -> None:
        running = store.jobs((LAUNCHING, IN_PROGRESS, "Stopping"))
        peak["store"] = max(peak["store"], len(running))
        listed = sagemaker.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]
        peak["aws"] = max(peak["aws"], len(listed))

    summaries = run_until(service, lambda: all_done(service), on_tick=observe)
    jobs = store.jobs()
    assert [j.status for j in jobs] == [COMPLETED] * 7
    assert peak == {"store": 3, "aws": 3}
    assert all(j.attempts == 1 for j in jobs)  # no launch was ever refused for capacity
    assert not any(s.requeued for s in summaries)
    assert service.quotas.slots(INSTANCE).source == "service-quotas"
    assert service.api_calls["CreateTrainingJob"] == 7


def test_resource_limit_exceeded_requeues_with_backoff(aws, tmp_path):
    aws.set_quotas(training={INSTANCE: 1})
    store = make_store(tmp_path)
    add_dataset(store, aws)
    service = make_service(store, make_config(aws, quotas={INSTANCE: 3}))  # the config believes in 3 slots
    sweep(service, "epoch=1", "learning_rate=1e-4,2e-4,3e-4", mode="list")
    first = service.tick()
    assert len(first.launched) == 1 and len(first.requeued) == 1  # the refused type is not tried again
    waiting = store.job(first.requeued[0])
    assert waiting.status == QUEUED and waiting.next_attempt_at > time.time()
    assert waiting.failure_reason.startswith(
        "ResourceLimitExceeded: The account-level service limit 'ml.g5.2xlarge for training job usage' is 1 Instances"
    )
    run_until(service, lambda: all_done(service))
    jobs = store.jobs()
    assert [j.status for j in jobs] == [COMPLETED] * 3
    assert max(j.attempts for j in jobs) > 1
    assert all(j.failure_reason is None for j in jobs)


def test_stop_queued_and_running_jobs(aws, tmp_path):
    aws.set_quotas(training={INSTANCE: 1})
    store = make_store(tmp_path)
    add_dataset(store, aws)
    service = make_service(store, make_config(aws))
    _, (long_job, queued) = sweep(service, "epoch=40,1", mode="list")
    run_until(service, lambda: store.job(long_job.name).status == IN_PROGRESS)
    assert service.stop(queued.name).status == CANCELLED
    assert service.stop(long_job.name).status == "Stopping"
    run_until(service, lambda: all_done(service))
    assert store.job(long_job.name).status == STOPPED
    names = [s["TrainingJobName"] for s in aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]]
    assert queued.name not in names  # never launched
    with pytest.raises(JobsError, match="already ended"):
        service.stop(long_job.name)


def test_priorities_decide_the_dispatch_order_and_clone_changes_one_field(aws, tmp_path):
    store = make_store(tmp_path)
    add_dataset(store, aws)
    service = make_service(store, make_config(aws, quotas={INSTANCE: 1}))
    _, jobs = sweep(service, "epoch=30", "learning_rate=1e-4,2e-4,3e-4", mode="list")
    order = service.move(jobs[2].name, -5)
    assert [j.name for j in order] == [jobs[2].name, jobs[0].name, jobs[1].name]
    clone = service.clone_job(jobs[1].name, {"learning_rate": "5e-5"})
    assert clone.hyperparameters == {**jobs[1].hyperparameters, "learning_rate": "5e-5"}
    assert clone.name not in {j.name for j in jobs} and clone.sweep_id == jobs[1].sweep_id
    with pytest.raises(SweepError, match="lora_dropout: must be at most 1"):
        service.clone_job(jobs[1].name, {"lora_dropout": "2"})
    service.set_priority(clone.name, 100)
    assert service.tick().launched == [clone.name]
    service.stop(clone.name)


def test_restart_reconciles_the_queue_with_sagemaker(aws, tmp_path):
    from core.training.request import build_training_request

    aws.set_quotas(training={INSTANCE: 4})
    store = make_store(tmp_path)
    dataset = add_dataset(store, aws)
    first = make_service(store, make_config(aws, quotas={INSTANCE: 2}))
    _, jobs = sweep(first, "epoch=1", "learning_rate=1e-4,2e-4,3e-4,4e-4", mode="list")
    assert first.tick().launched == [jobs[0].name, jobs[1].name]
    # a crash after CreateTrainingJob succeeded, before the store heard of it ...
    assert store.claim_job(jobs[2].id)
    recipe = first.recipe(MODEL, "1.1.7")
    request = build_training_request(
        recipe,
        job_name=jobs[2].name,
        role_arn=aws.role_arn,
        instance_type=INSTANCE,
        hyperparameters=jobs[2].hyperparameters,
        train_s3_uri=dataset.train_s3_uri,
        output_s3_uri=first.output_uri(),
        accept_eula=True,
        tags={},
    )
    aws.client("sagemaker").create_training_job(**request)
    # ... and a crash before CreateTrainingJob was sent
    assert store.claim_job(jobs[3].id)
    del first

    second = make_service(store, make_config(aws, quotas={INSTANCE: 4}))
    summary = second.tick()
    assert summary.reconciled
    adopted = store.job(jobs[2].name)  # not requeued: its SageMaker job is followed (a loaded machine may see it end)
    assert adopted.arn and adopted.status in (IN_PROGRESS, COMPLETED)
    assert summary.launched == [jobs[3].name]  # requeued, then launched once
    run_until(second, second.idle)
    assert [j.status for j in store.jobs()] == [COMPLETED] * 4
    assert second.api_calls["CreateTrainingJob"] == 1
    created = Counter(
        s["TrainingJobName"] for s in aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
    )
    assert sorted(created) == sorted(j.name for j in jobs) and set(created.values()) == {1}
    assert all(store.metric_point_count(j.id, "step-loss") > 0 for j in store.jobs())  # the adopted one too


def test_polling_backs_off_while_throttled(aws, tmp_path):
    store = make_store(tmp_path)
    add_dataset(store, aws)
    now = [time.time()]
    service = make_service(store, make_config(aws, quotas={INSTANCE: 1}), clock=lambda: now[0])
    sweep(service, "epoch=30")
    service.tick()
    throttle = {"on": True}

    class Http:
        status_code = 400
        headers: dict = {}

    def refuse(model, **_):
        if throttle["on"] and model.name == "ListTrainingJobs":
            return Http(), {
                "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return None

    service.client("sagemaker").meta.events.register("before-call.sagemaker.ListTrainingJobs", refuse)
    assert service.tick(metrics=False).throttled
    backing_off = service.tick(metrics=False)
    assert backing_off.throttled and backing_off.api_calls["ListTrainingJobs"] == 0
    throttle["on"] = False
    now[0] += 5.0
    resumed = service.tick(metrics=False)
    assert not resumed.throttled and resumed.api_calls["ListTrainingJobs"] == 1
    service.stop(store.jobs()[0].name)


# -- headless verbs -----------------------------------------------------------------------------------


def test_headless_sweep_launch_jobs_and_stop(aws, tmp_path, monkeypatch, capsys):
    from core.cli.main import parse, run_headless
    from core.sessions import open_session

    for key, value in aws.environment().items():
        monkeypatch.setenv(key, value)
    store = open_session("cli")
    add_dataset(store, aws, counts={"train": 40})
    store.close()

    def run(*argv: str) -> tuple[int, str, str]:
        args, config = parse(list(argv))
        config.jumpstart.quotas = {INSTANCE: 1}
        code = run_headless(args, config)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run(
        "sweep",
        "launch",
        "--session",
        "cli",
        "--instance",
        INSTANCE,
        "--param",
        "epoch=30",
        "--param",
        "learning_rate=1e-4,2e-4",
    )
    assert code == 0 and "2 job(s)" in out and "estimated cost $" in out and "--yes" in out
    assert open_session("cli", create=False).jobs() == []

    code, _, err = run("sweep", "launch", "--session", "cli", "--instance", INSTANCE, "--param", "lora_r=0", "--yes")
    assert code == 2 and "lora_r: must be at least 1" in err

    code, out, _ = run(
        "sweep",
        "launch",
        "--session",
        "cli",
        "--dataset",
        "latest",
        "--instance",
        INSTANCE,
        "--param",
        "epoch=30",
        "--param",
        "learning_rate=1e-4,2e-4",
        "--accept-eula",
        "--yes",
        "--json",
    )
    launched = json.loads(out)
    assert code == 0 and launched["queued"] and len(launched["jobs"]) == 2 and len(launched["launched"]) == 1

    code, out, _ = run("jobs", "--session", "cli", "--json")
    listed = {j["name"]: j for j in json.loads(out)["jobs"]}
    assert code == 0 and listed[launched["launched"][0]]["status"] == IN_PROGRESS
    waiting = next(n for n in launched["jobs"] if n not in launched["launched"])
    assert listed[waiting]["status"] == QUEUED

    code, out, _ = run("jobs", "stop", "--session", "cli", waiting)
    assert code == 0 and f"{waiting}: {CANCELLED}" in out
    code, out, _ = run("jobs", "stop", "--session", "cli", launched["launched"][0])
    assert code == 0 and "Stopping" in out
    code, _, err = run("jobs", "stop", "--session", "cli", "no-such-job")
    assert code == 2 and "no job named" in err

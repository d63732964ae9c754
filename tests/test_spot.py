"""Managed spot training per sweep: the plan's cost at the configured spot discount with the on-demand
figure beside it, the request's EnableManagedSpotTraining / MaxWaitTimeInSeconds / CheckpointConfig,
and the emulated trainer's interruption shown on the job (interruptions, savings from BillableTime)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from core.store.jobs import COMPLETED
from core.training.jobs import SPOT_META_KEY, SweepSpec
from core.training.sweep import SweepError
from tests.jobs_support import INSTANCE, add_dataset, make_config, make_service, make_store, run_until


def test_a_spot_sweep_plans_at_the_discount_trains_with_checkpoints_and_shows_interruptions(aws, tmp_path):
    store = make_store(tmp_path)
    add_dataset(store, aws, rows=40)
    aws.set_quotas(training={INSTANCE: 1})
    aws.set_spot_interruptions(1)
    aws.set_epoch_seconds(3.0)  # whole seconds of training, so that the billed share rounds near 30%
    config = make_config(aws, quotas={INSTANCE: 1})
    config.jumpstart.spot_discount = 0.6
    service = make_service(store, config)
    on_demand = service.plan_sweep(SweepSpec.from_strings(INSTANCE, ["epoch=1"]))
    plan = service.plan_sweep(SweepSpec.from_strings(INSTANCE, ["epoch=1"], spot=True, spot_max_wait_seconds=10**6))
    assert plan.total_cost == pytest.approx(on_demand.total_cost * 0.4)
    assert plan.on_demand_cost == pytest.approx(on_demand.total_cost)
    checkpoints = f"s3://{aws.bucket}/tunedeck/s1/checkpoints/"
    assert plan.spot == {"max_wait_seconds": 10**6, "checkpoint_s3_uri": checkpoints, "discount": 0.6}
    text = "\n".join(plan.summary_lines())
    assert "managed spot: costs estimated at 60% below on-demand" in text and checkpoints in text
    assert f"${on_demand.total_cost:,.2f} on demand" in text
    service.launch_sweep(plan, accept_eula=True)
    [job] = store.jobs()
    run_until(service, lambda: store.job(job.name).status == COMPLETED, timeout=60, interval=0.05)
    described = aws.client("sagemaker").describe_training_job(TrainingJobName=job.name)
    assert described["EnableManagedSpotTraining"] is True
    assert described["StoppingCondition"]["MaxWaitTimeInSeconds"] == 10**6
    assert described["CheckpointConfig"] == {"S3Uri": f"{checkpoints}{job.name}/", "LocalPath": "/opt/ml/checkpoints"}
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]].count("Interrupted") == 1
    assert store.get_meta(SPOT_META_KEY) == {job.name: 1}
    [row] = service.rows()
    spot, saved = row.spot.rsplit(" ", 1)
    assert spot == "spot, 1 interruption, saved" and 60 <= int(saved.rstrip("%")) <= 80  # the emulator: 70% off


def test_spot_settings_are_checked_before_any_aws_call(aws, tmp_path, boto3_clients):
    store = make_store(tmp_path)
    add_dataset(store, aws, rows=40)
    service = make_service(store, make_config(aws, quotas={INSTANCE: 1}))
    with pytest.raises(SweepError, match="maximum wait .* must be at least the maximum runtime"):
        service.plan_sweep(SweepSpec.from_strings(INSTANCE, ["epoch=1"], spot=True, spot_max_wait_seconds=60))
    with pytest.raises(SweepError, match="checkpoint location must be an s3:// URI, not 'ckpt/'"):
        service.plan_sweep(SweepSpec.from_strings(INSTANCE, ["epoch=1"], spot=True, checkpoint_s3_uri="ckpt/"))
    with pytest.raises(ClientError, match="MaxWaitTimeInSeconds"):  # the emulator refuses as SageMaker does
        boto3_clients.sagemaker.create_training_job(
            TrainingJobName="td-spot-bad",
            RoleArn=aws.role_arn,
            AlgorithmSpecification={"TrainingImage": "x", "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": f"s3://{aws.bucket}/out"},
            ResourceConfig={"InstanceType": INSTANCE, "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
            EnableManagedSpotTraining=True,
        )


async def test_the_sweep_builder_offers_spot_with_its_estimate_and_asks_with_it(aws, tmp_path):
    from core.config import load_config
    from core.sessions import open_session
    from core.training.jobs import JobsService
    from core.training.recipe import BUNDLED_SPEC_ROOT, load_recipe
    from core.training.sweep import SWEEPABLE
    from tests.screen import screen_text
    from tui.app import TunedeckApp
    from tui.panes.jobs.sweep_builder import SweepBuilder
    from tui.screens.ask import Confirm

    config = load_config(include_user=False)
    config.aws.endpoint_url, config.aws.s3_bucket, config.aws.role_arn = aws.endpoint_url, aws.bucket, aws.role_arn
    config.jumpstart.quotas = {INSTANCE: 1}
    store = open_session("spot-tui")
    add_dataset(store, aws, counts={"train": 400})
    recipe = load_recipe(config.jumpstart.model_id, spec_root=BUNDLED_SPEC_ROOT)
    store.cache_recipe(config.jumpstart.model_id, config.jumpstart.model_version, config.aws.region, recipe.to_json())
    JobsService(store, config).accept_eula(config.jumpstart.model_id)  # accepted earlier in the session
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)
    try:
        async with app.run_test(size=(170, 50)) as pilot:
            await pilot.press("3", "n")
            for _ in range(200):
                await pilot.pause(0.05)
                if isinstance(app.screen, SweepBuilder):
                    break
            builder = app.screen
            assert isinstance(builder, SweepBuilder)
            await pilot.press("1", *["tab"] * len(SWEEPABLE), *"200h")  # epoch, then the spot field
            for _ in range(200):
                await pilot.pause(0.05)
                plan = builder.plan
                if plan is not None and plan.spot and builder._planned_generation == builder._generation:
                    break
            assert builder.plan is not None and builder.plan.spot, builder.errors
            assert builder.plan.spot["max_wait_seconds"] == 200 * 3600
            assert "managed spot: costs estimated at 70% below on-demand" in screen_text(app)
            await pilot.press("ctrl+j")
            for _ in range(100):
                await pilot.pause(0.05)
                if isinstance(app.screen, Confirm):
                    break
            assert isinstance(app.screen, Confirm) and "Managed spot: 70% below on-demand" in app.screen.question
            await pilot.press("y")
            for _ in range(100):
                await pilot.pause(0.05)
                if store.sweeps():
                    break
            [sweep] = store.sweeps()
            assert sweep.spec["spot"]["max_wait_seconds"] == 200 * 3600
    finally:
        store.close()


def test_sweep_plan_takes_spot_flags_and_names_what_is_wrong(aws, monkeypatch, capsys):
    import json

    from core.cli.main import parse, run_headless
    from core.sessions import open_session

    for key, value in aws.environment().items():
        monkeypatch.setenv(key, value)
    store = open_session("spot-cli")
    add_dataset(store, aws, counts={"train": 40})
    store.close()

    def run(*extra: str) -> tuple[int, str, str]:
        args, config = parse(["sweep", "plan", "--session", "spot-cli", "--instance", INSTANCE, *extra])
        config.jumpstart.quotas = {INSTANCE: 1}
        code = run_headless(args, config)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("--spot", "--max-wait", "200h", "--json")
    assert code == 0 and json.loads(out)["plan"]["spot"]["max_wait_seconds"] == 200 * 3600
    code, _, err = run("--spot", "--max-wait", "10m")
    assert code == 2 and "must be at least the maximum runtime" in err
    code, _, err = run("--max-wait", "10m")
    assert code == 2 and "--max-wait and --checkpoint go with --spot" in err


def test_a_running_spot_job_costs_the_discount_until_sagemaker_reports_its_billed_time(tmp_path):
    import time

    from core.store.jobs import NewJob
    from core.training.prices import PriceTable, cost_meter, job_cost

    store = make_store(tmp_path)
    job = store.add_job(NewJob("td-spot-1", "m", "*", INSTANCE, {}))
    now = time.time()
    store.update_job(job.id, status="InProgress", start_time=now - 3600, request={"EnableManagedSpotTraining": True})
    prices = PriceTable({}, spot_discount=0.6)
    running = store.job("td-spot-1")
    assert job_cost(running, prices, now) == pytest.approx(1.515 * 0.4)
    assert cost_meter([running], [], prices, now).usd_per_hour == pytest.approx(1.515 * 0.4)
    store.update_job(job.id, status="Completed", end_time=now, billable_seconds=900)  # what SageMaker billed
    assert job_cost(store.job("td-spot-1"), prices, now) == pytest.approx(1.515 / 4)

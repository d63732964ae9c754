"""Sweeps over a mixed pool, and the out-of-memory requeue: against the AWS emulator, whose trainer
fails jobs for memory by its own table (core.sandbox.aws.trainer.OOM_TOKENS_PER_DEVICE)."""

from __future__ import annotations

from core.store.jobs import COMPLETED, FAILED
from core.training.jobs import MEMORY_REQUEUE_META_KEY, SweepSpec
from tests.jobs_support import INSTANCE, add_dataset, make_config, make_service, make_store, run_until

LARGE = "ml.g5.12xlarge"
POOL = {INSTANCE: 2, LARGE: 1}


def test_out_of_memory_requeues_once_on_the_next_larger_type(aws, tmp_path):
    store = make_store(tmp_path)
    add_dataset(store, aws, rows=40)
    aws.set_quotas(training=POOL)
    service = make_service(store, make_config(aws, quotas=POOL))
    # 8 x 1024 tokens a device: out of memory on the 2xlarge (4096), fits the 12xlarge (16384);
    # 32 x 1024 runs out of memory on both
    plan = service.plan_sweep(
        SweepSpec.from_strings(INSTANCE, ["epoch=1", "max_input_length=1024", "per_device_train_batch_size=8,32"])
    )
    service.launch_sweep(plan, accept_eula=True)
    first = {j.hyperparameters["per_device_train_batch_size"]: j.name for j in store.jobs()}

    def settled() -> bool:
        jobs = store.jobs()
        return len(jobs) == 4 and all(j.is_final for j in jobs)

    summaries = run_until(service, settled, timeout=60)
    jobs = {j.name: j for j in store.jobs()}
    requeued = store.get_meta(MEMORY_REQUEUE_META_KEY)
    assert set(requeued) == set(first.values())  # each original once, never the copies
    fits, too_big = requeued[first["8"]], requeued[first["32"]]
    assert jobs[first["8"]].status == FAILED and "CUDA out of memory" in jobs[first["8"]].failure_reason
    assert f"requeued once on {LARGE} as {fits}" in jobs[first["8"]].failure_reason
    assert jobs[fits].instance_type == LARGE and jobs[fits].status == COMPLETED
    assert jobs[fits].hyperparameters == jobs[first["8"]].hyperparameters
    assert jobs[too_big].instance_type == LARGE and jobs[too_big].status == FAILED  # failed again: not requeued
    assert "requeued" not in (jobs[too_big].failure_reason or "")
    assert any(fits in s.requeued for s in summaries)


def test_a_pool_sweep_places_each_job_on_a_type_it_fits_and_shows_the_makespan(tmp_path):
    store = make_store(tmp_path)
    store.add_dataset_version("h1", "instruction", train_s3_uri="s3://bucket/ds/train/", counts={"train": 2000})
    service = make_service(store, make_config(quotas=POOL))
    spec = SweepSpec.from_strings(
        INSTANCE,
        ["epoch=1,3", "per_device_train_batch_size=16,2", "max_input_length=2048"],
        instance_types=(INSTANCE, LARGE),
    )
    plan = service.plan_sweep(spec)
    placed = {(j.hyperparameters["epoch"], j.hyperparameters["per_device_train_batch_size"]): j for j in plan.jobs}
    assert {plan.job_type(j) for (_, batch), j in placed.items() if batch == "16"} == {LARGE}  # too big for one A10G
    assert plan.pool == ((INSTANCE, 2), (LARGE, 1))
    assert plan.wall_seconds == max(j.start_seconds + j.estimated_seconds for j in plan.jobs)
    text = "\n".join(plan.summary_lines())
    assert "the pool 2 x ml.g5.2xlarge + 1 x ml.g5.12xlarge" in text and "estimated makespan" in text
    assert all(j.memory.endswith(", fits") for j in plan.jobs)  # each where the estimate says it fits
    assert f"on {LARGE}" in text and "GiB per GPU" in text
    assert [j["instance_type"] for j in plan.as_dict()["jobs"]] == [plan.job_type(j) for j in plan.jobs]


def test_sweep_plan_takes_several_instance_types_as_a_pool(aws, monkeypatch, capsys):
    from core.cli.main import parse, run_headless
    from core.sessions import open_session

    for key, value in aws.environment().items():
        monkeypatch.setenv(key, value)
    store = open_session("pool-cli")
    add_dataset(store, aws, counts={"train": 400})
    store.close()
    args, config = parse(
        ["sweep", "plan", "--session", "pool-cli", "--instance", f"{INSTANCE},{LARGE}", "--param", "epoch=1,2,3"]
    )
    config.jumpstart.quotas = dict(POOL)
    assert run_headless(args, config) == 0
    out = capsys.readouterr().out
    assert "3 job(s)" in out and "the pool 2 x ml.g5.2xlarge + 1 x ml.g5.12xlarge" in out and "makespan" in out


async def test_the_sweep_builder_takes_more_instance_types_as_a_pool(aws, tmp_path):
    from core.config import load_config
    from core.sessions import open_session
    from core.training.recipe import BUNDLED_SPEC_ROOT, load_recipe
    from tests.screen import screen_text
    from tui.app import TunedeckApp
    from tui.panes.jobs.sweep_builder import SweepBuilder

    config = load_config(include_user=False)
    config.aws.endpoint_url, config.aws.s3_bucket, config.aws.role_arn = aws.endpoint_url, aws.bucket, aws.role_arn
    config.jumpstart.quotas = dict(POOL)
    store = open_session("pool-tui")
    add_dataset(store, aws, counts={"train": 400})
    recipe = load_recipe(config.jumpstart.model_id, spec_root=BUNDLED_SPEC_ROOT)  # the offline spec, cached
    store.cache_recipe(config.jumpstart.model_id, config.jumpstart.model_version, config.aws.region, recipe.to_json())
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
            await pilot.press(*"1,2")  # epoch, the first field
            await pilot.press("shift+tab", "shift+tab", *LARGE)  # back over the mode to the pool field
            for _ in range(200):
                await pilot.pause(0.05)
                plan = builder.plan
                if plan is not None and plan.pool and builder._planned_generation == builder._generation:
                    break
            assert builder.plan is not None, builder.errors
            assert builder.plan.pool == ((INSTANCE, 2), (LARGE, 1))
            shown = screen_text(app)
            assert "estimated makespan" in shown and (f"on {LARGE}" in shown or f"on {INSTANCE}" in shown)
    finally:
        store.close()


def test_two_processes_polling_one_failed_job_requeue_it_once(aws, tmp_path, monkeypatch):
    """Two services on one session (as two processes would be), each holding the job as still running
    when it fails for memory: the move into Failed is a compare-and-set on the job row, so only one
    queues the copy, even when both read the requeue record before either writes it."""
    import threading

    from core.store import Store
    from core.training.jobs import TickSummary

    store = make_store(tmp_path)
    add_dataset(store, aws, rows=40)
    aws.set_quotas(training=POOL)
    config = make_config(aws, quotas=POOL)
    service = make_service(store, config)
    plan = service.plan_sweep(
        SweepSpec.from_strings(INSTANCE, ["epoch=1", "max_input_length=1024", "per_device_train_batch_size=8"])
    )
    service.launch_sweep(plan, accept_eula=True)
    [job] = store.jobs()
    run_until(service, lambda: store.job(job.name).status == "InProgress", timeout=30, interval=0.05)
    sagemaker = aws.client("sagemaker")
    run_until_failed = [sagemaker.describe_training_job(TrainingJobName=job.name)["TrainingJobStatus"]]
    for _ in range(300):
        if run_until_failed[-1] == FAILED:
            break
        threading.Event().wait(0.05)
        run_until_failed.append(sagemaker.describe_training_job(TrainingJobName=job.name)["TrainingJobStatus"])
    assert run_until_failed[-1] == FAILED
    other = Store(store.path, store.name)
    services = [service, make_service(other, config)]
    stale = [s.job(job.name) for s in (store, other)]
    assert [j.status for j in stale] == ["InProgress", "InProgress"]
    both_read = threading.Barrier(2, timeout=1.5)  # both read the requeue record before either writes it
    for s in (store, other):
        original = s.get_meta

        def get_meta(key, default=None, _original=original):
            value = _original(key, default)
            if key == MEMORY_REQUEUE_META_KEY:
                try:
                    both_read.wait()
                except threading.BrokenBarrierError:
                    pass  # the other one never got here
            return value

        monkeypatch.setattr(s, "get_meta", get_meta)
    raised: list[BaseException] = []

    def poll(svc, stale_job) -> None:
        try:
            svc._describe_and_store(stale_job, TickSummary())
        except BaseException as exc:  # noqa: BLE001 - asserted below
            raised.append(exc)

    threads = [threading.Thread(target=poll, args=(svc, j)) for svc, j in zip(services, stale, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    jobs = store.jobs()
    assert not raised, raised
    assert len(jobs) == 2, [(j.name, j.instance_type, j.status) for j in jobs]
    copy = next(j for j in jobs if j.name != job.name)
    assert copy.instance_type == LARGE and store.get_meta(MEMORY_REQUEUE_META_KEY) == {job.name: copy.name}
    assert f"requeued once on {LARGE} as {copy.name}" in store.job(job.name).failure_reason
    other.close()

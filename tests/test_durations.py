"""Durations learned from finished jobs: the measured seconds per token and epoch of a (model,
instance type) drive its estimates, other types scale by GPU speed, and the plan says which
estimate it used and how far the last one was off."""

from __future__ import annotations

import pytest

from core.store.jobs import COMPLETED, NewJob
from core.training.jobs import SweepSpec
from core.training.prices import OVERHEAD_SECONDS, OVERHEAD_SECONDS_PER_B, instance_throughput_factor
from tests.jobs_support import INSTANCE, MODEL, make_config, make_service, make_store

LARGE = "ml.g5.12xlarge"


def test_a_finished_job_teaches_its_pair_and_scales_to_other_types(tmp_path):
    store = make_store(tmp_path)
    version = store.add_dataset_version(
        "h1", "instruction", train_s3_uri="s3://bucket/ds/train/", counts={"train": 800, "validation": 200}
    )
    service = make_service(store, make_config(quotas={INSTANCE: 1, LARGE: 1}))
    before = service.plan_sweep(SweepSpec.from_strings(INSTANCE, ["epoch=2"]))
    assert before.estimate_source.startswith("built-in") and before.last_estimate == ""
    raw = before.jobs[0].raw_estimated_seconds
    job = store.add_job(
        NewJob("done-1", MODEL, "1.1.7", INSTANCE, {"epoch": "1"}, dataset_version_id=version.id, estimated_seconds=raw)
    )
    store.update_job(job.id, status=COMPLETED, launched_at=1000.0, end_time=1000.0 + 2 * raw)  # twice its estimate
    after = service.plan_sweep(SweepSpec.from_strings(INSTANCE, ["epoch=1,2"]))
    one, two = after.jobs
    assert one.estimated_seconds == pytest.approx(2 * raw)  # same pair, same work: what it took
    assert two.estimated_seconds > one.estimated_seconds * 1.5  # twice the epochs, the overhead once
    assert after.estimate_source == "measured (done-1)"
    text = "\n".join(after.summary_lines())
    assert "durations: measured (done-1)" in text
    assert "the last finished job, done-1, took" in text and "(100% short)" in text
    # another type of the same model: the measured rate, scaled by GPU speed
    large = service.plan_sweep(SweepSpec.from_strings(LARGE, ["epoch=1"]))
    assert large.estimate_source == f"measured on {INSTANCE}, scaled by GPU speed (done-1)"
    speedup = instance_throughput_factor(LARGE) / instance_throughput_factor(INSTANCE)
    overhead = OVERHEAD_SECONDS + OVERHEAD_SECONDS_PER_B * 3  # start-up and save: the same on every type
    assert large.jobs[0].estimated_seconds == pytest.approx(overhead + (one.estimated_seconds - overhead) / speedup)

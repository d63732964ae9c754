"""The mixed instance pool: fit by the memory estimate, placement onto the fastest free slot, the
next larger type for an out-of-memory requeue."""

from __future__ import annotations

from core.training.pool import larger_types, makespan, memory_estimate, place, pool_from_quotas

SMALL, LARGE = "ml.g5.2xlarge", "ml.g5.12xlarge"
MODEL_8B = "meta-textgeneration-llama-3-1-8b"


def test_memory_estimate_grows_with_batch_and_shrinks_with_fsdp_over_more_gpus_and_int8():
    small = memory_estimate(MODEL_8B, SMALL, {"per_device_train_batch_size": "2"})
    big_batch = memory_estimate(MODEL_8B, SMALL, {"per_device_train_batch_size": "8"})
    assert small.fits and not big_batch.fits and big_batch.needed_gib > small.needed_gib
    assert memory_estimate(MODEL_8B, LARGE, {"per_device_train_batch_size": "8"}).fits  # weights over 4 GPUs
    int8 = memory_estimate(MODEL_8B, SMALL, {"per_device_train_batch_size": "8", "int8_quantization": "True"})
    assert int8.needed_gib < big_batch.needed_gib
    assert "does not fit" in big_batch.describe() and "GiB per GPU" in big_batch.describe()


def test_place_puts_restricted_jobs_on_their_type_and_the_rest_on_the_fastest_free_slot():
    pool = {SMALL: 2, LARGE: 1}
    durations = [{LARGE: 100.0}, {SMALL: 300.0, LARGE: 150.0}, {SMALL: 300.0, LARGE: 150.0}, {LARGE: 100.0}]
    placed = {p.job: p for p in place(durations, pool)}
    assert placed[0].instance_type == LARGE and placed[3].instance_type == LARGE
    assert {placed[1].instance_type, placed[2].instance_type} == {SMALL}
    assert makespan(list(placed.values())) == 300.0
    assert place([{"ml.p5.48xlarge": 1.0}], pool) == []  # fits nothing in the pool: left out


def test_pool_from_quotas_and_the_next_larger_type():
    pool = pool_from_quotas({SMALL: 2, LARGE: 1, "ml.g5.48xlarge": 0})
    assert pool == {SMALL: 2, LARGE: 1, "ml.g5.48xlarge": 0}
    assert larger_types(SMALL, pool) == [LARGE]  # the 48xlarge has no slot
    assert larger_types(LARGE, pool) == []

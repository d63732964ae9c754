"""The mixed instance pool: a 12-job grid on 2 x ml.g5.2xlarge + 1 x ml.g5.12xlarge.

Durations per instance type come from the estimator (core.training.prices); which types a job fits
from the memory estimate (core.training.pool). Three makespans in one run:
  planned   core.training.pool.place (fewest fitting types, then longest, first; each onto the
            slot that ends it earliest)
  optimum   exhaustive search over every assignment of jobs to slots (each slot runs its jobs back
            to back), the baseline
  today     the single-type queue: every job on the one type all of them fit (the 12xlarge), in
            grid order
and the ratios of planned and today to the optimum. Fails if planned is above 1.10 x optimum.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.training.pool import makespan, memory_estimate, place  # noqa: E402
from core.training.prices import DatasetSize, estimate_job_seconds, wall_clock_seconds  # noqa: E402

MODEL = "meta-textgeneration-llama-3-1-8b"
POOL = {"ml.g5.2xlarge": 2, "ml.g5.12xlarge": 1}
GRID = {
    "epoch": ("1", "2", "3"),
    "per_device_train_batch_size": ("2", "8"),
    "lora_r": ("8", "64"),
}
DATASET = DatasetSize(train_examples=2000, validation_examples=500, tokens_per_example=400)
LIMIT = 1.10


def jobs() -> list[dict[str, str]]:
    names = list(GRID)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*GRID.values())]


def durations(grid: list[dict[str, str]]) -> list[dict[str, float]]:
    """Seconds of each job on each pool type it fits."""
    return [
        {
            t: estimate_job_seconds(MODEL, t, hp, DATASET)
            for t in POOL
            if memory_estimate(MODEL, t, {**hp, "enable_fsdp": "True"}).fits
        }
        for hp in grid
    ]


def optimum(times: list[dict[str, float]]) -> float:
    """The least makespan over every assignment (branch and bound; equal slots are interchangeable)."""
    slots = [t for t, count in POOL.items() for _ in range(count)]
    order = sorted(range(len(times)), key=lambda i: -max(times[i].values()))
    best = [float("inf")]
    loads = [0.0] * len(slots)

    def search(k: int) -> None:
        if k == len(order):
            best[0] = min(best[0], max(loads))
            return
        i = order[k]
        seen: set[tuple[str, float]] = set()
        for s, kind in enumerate(slots):
            if kind not in times[i] or (kind, loads[s]) in seen:
                continue
            seen.add((kind, loads[s]))
            loads[s] += times[i][kind]
            if max(loads) < best[0]:
                search(k + 1)
            loads[s] -= times[i][kind]

    search(0)
    return best[0]


def main() -> int:
    grid = jobs()
    times = durations(grid)
    small_only = sum(1 for t in times if "ml.g5.2xlarge" not in t)
    started = time.perf_counter()
    planned = makespan(place(times, POOL))
    plan_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    best = optimum(times)
    search_s = time.perf_counter() - started
    today = wall_clock_seconds([t["ml.g5.12xlarge"] for t in times], POOL["ml.g5.12xlarge"])
    print(f"{len(grid)} jobs of {MODEL} on 2 x ml.g5.2xlarge + 1 x ml.g5.12xlarge")
    print(f"  {small_only} of them do not fit ml.g5.2xlarge (memory estimate); all fit ml.g5.12xlarge")
    print(f"optimum (exhaustive search, {search_s:.2f} s)   makespan {best / 3600:6.2f} h   1.00x")
    print(
        f"planned (core.training.pool, {plan_ms:.2f} ms)       makespan {planned / 3600:6.2f} h   {planned / best:.2f}x"
    )
    print(f"today (single-type queue, 12xlarge)   makespan {today / 3600:6.2f} h   {today / best:.2f}x")
    if planned > LIMIT * best:
        print(f"FAILED: planned makespan above {LIMIT:.2f}x the optimum", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

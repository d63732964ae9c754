"""The instance pool a sweep runs on, whether a job fits an instance type, and where each job goes.

The pool is the `[jumpstart.quotas]` table (or the looked-up quotas): instance type -> slots. A
job fits a type when the memory estimate below is within the type's GPU memory per device. The
estimate is rough, by design (tunedeck cannot measure a container before it runs): weights at 2
bytes a parameter (1 with int8), sharded over the instance's GPUs with FSDP, plus LoRA adapters
with their optimizer state, plus activations growing with batch size x input length x the model's
width and depth, plus a fixed CUDA overhead. A job that still runs out of memory is requeued once
on the next larger type (core.training.jobs).

Placement: jobs that fit fewer types of the pool first (they have no choice), and among those the
longest first (by their shortest duration on any type they fit), each onto the slot where it would
finish earliest (the fastest free slot); the makespan is when the last ends. tests/bench/
pool_makespan.py compares it with the exact optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.training.prices import model_size_billions

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# GPU memory per device in GiB, by instance family (public instance specifications).
GPU_MEMORY_GIB = {
    "g4dn": 16.0,
    "g5": 24.0,
    "g6": 24.0,
    "g6e": 48.0,
    "p3": 16.0,
    "p3dn": 32.0,
    "p4d": 40.0,
    "p4de": 80.0,
    "p5": 80.0,
    "p5e": 141.0,
    "p5en": 141.0,
}
_GPUS_BY_SIZE = {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}
# (hidden size, layers) of the Llama 3.x sizes; other sizes scale from the nearest.
_SHAPES = {1.0: (2048, 16), 3.0: (3072, 28), 8.0: (4096, 32), 70.0: (8192, 80)}
USABLE_SHARE = 0.92  # of the device memory, what the allocator can hand out
CUDA_OVERHEAD_GIB = 1.5
ACTIVATION_FACTOR = 6.0  # bytes of activations per (token x hidden x layer), bf16 with the script's checkpointing
DEFAULT_INPUT_LENGTH = 1024  # max_input_length -1: the script caps at the tokenizer's length; assume this


def _family(instance_type: str) -> str:
    parts = instance_type.split(".")
    return parts[1] if len(parts) == 3 else ""


def gpus(instance_type: str) -> int:
    """GPUs of one instance: the G sizes by name; p4d/p5 24xlarge and 48xlarge have 8."""
    size = instance_type.split(".")[-1]
    if _family(instance_type).startswith("p") and size in ("24xlarge", "48xlarge"):
        return 8
    return _GPUS_BY_SIZE.get(size, 1)


def device_memory_gib(instance_type: str) -> float:
    return GPU_MEMORY_GIB.get(_family(instance_type), 24.0)


def _int(value: str | None, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class MemoryEstimate:
    instance_type: str
    needed_gib: float  # per device
    available_gib: float  # per device, usable

    @property
    def fits(self) -> bool:
        return self.needed_gib <= self.available_gib

    def describe(self) -> str:
        verdict = "fits" if self.fits else "does not fit"
        return f"{self.instance_type}: ~{self.needed_gib:.1f} of {self.available_gib:.1f} GiB per GPU, {verdict}"


def memory_estimate(model_id: str, instance_type: str, hyperparameters: Mapping[str, str]) -> MemoryEstimate:
    """GiB one device needs for this job (see the module docstring), against what it has."""
    size_b = model_size_billions(model_id)
    hidden, layers = _SHAPES[min(_SHAPES, key=lambda s: abs(s - size_b))]
    scale = size_b / min(_SHAPES, key=lambda s: abs(s - size_b))
    devices = gpus(instance_type)
    int8 = hyperparameters.get("int8_quantization") == "True"
    fsdp = hyperparameters.get("enable_fsdp", "True") == "True" and not int8
    weights = size_b * (1.0 if int8 else 2.0) / (devices if fsdp else 1)  # GB of parameters ~ GiB here
    rank = _int(hyperparameters.get("lora_r"), 8)
    modules = max(1, len(str(hyperparameters.get("target_modules", "q_proj,v_proj")).split(",")))
    adapters = 2 * rank * hidden * layers * modules * scale * 16 / 2**30  # bf16 weights, fp32 grads + Adam
    batch = max(1, _int(hyperparameters.get("per_device_train_batch_size"), 4))
    length = _int(hyperparameters.get("max_input_length"), -1)
    tokens = batch * (length if length > 0 else DEFAULT_INPUT_LENGTH)
    activations = tokens * hidden * layers * scale * ACTIVATION_FACTOR / 2**30
    needed = weights + adapters + activations + CUDA_OVERHEAD_GIB
    return MemoryEstimate(instance_type, needed, device_memory_gib(instance_type) * USABLE_SHARE)


def pool_from_quotas(quotas: Mapping[str, int], types: Sequence[str] | None = None) -> dict[str, int]:
    """The pool: instance type -> slots, from the quota table, for `types` (all of the table's by default)."""
    chosen = list(types) if types else list(quotas)
    return {t: max(0, int(quotas.get(t, 0))) for t in chosen}


def larger_types(instance_type: str, pool: Mapping[str, int]) -> list[str]:
    """Types of the pool with more memory for a job than `instance_type` (per device, then devices), smallest first."""

    def room(t: str) -> tuple[float, int]:
        return (device_memory_gib(t) * gpus(t), gpus(t))

    mine = room(instance_type)
    return sorted((t for t in pool if room(t) > mine and pool[t] > 0), key=room)


@dataclass(frozen=True)
class Placement:
    job: int  # index into the jobs given
    instance_type: str
    slot: int  # 0-based among that type's slots
    start: float
    end: float


def place(durations: Sequence[Mapping[str, float]], pool: Mapping[str, int]) -> list[Placement]:
    """Fewest fitting types, then longest, first; each onto the slot where it would end earliest.
    `durations[i]` maps the instance types job i fits to its seconds there; a job with no type of
    the pool is left out."""
    slots = [(t, k) for t, count in pool.items() for k in range(count)]
    free = {slot: 0.0 for slot in slots}
    kinds = set(pool)
    order = sorted(
        (i for i, d in enumerate(durations) if kinds & set(d)),
        key=lambda i: (len(kinds & set(durations[i])), -min(durations[i][t] for t in kinds & set(durations[i]))),
    )
    placed = []
    for i in order:
        best = min(
            (s for s in slots if s[0] in durations[i]),
            key=lambda s: (free[s] + durations[i][s[0]], durations[i][s[0]]),
        )
        start = free[best]
        free[best] = start + durations[i][best[0]]
        placed.append(Placement(i, best[0], best[1], start, free[best]))
    return placed


def makespan(placements: Sequence[Placement]) -> float:
    return max((p.end for p in placements), default=0.0)

"""Instance prices, training duration estimates, job costs and the cost meter.

Prices are on-demand USD per instance-hour for SageMaker training in us-east-1/us-west-2
(shared/reference/jumpstart-aws.md section 7.3: third-party consensus, unverified); the config's
`[jumpstart.prices]` table overrides them. Hosting is priced the same for these G5 sizes.

Durations are a rough model (tokens x epochs over an assumed throughput, plus a fixed start-up
and save overhead) until a job finishes: then the estimates of that model use its measured seconds
per training token and epoch (`learned_estimate`; other instance types scale it by GPU speed), and
the plan says which estimate it used and how far the last job's own estimate was off.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from core.store.jobs import EndpointBilling, Job

ON_DEMAND_USD_PER_HOUR: Mapping[str, float] = {
    "ml.g5.2xlarge": 1.515,
    "ml.g5.4xlarge": 2.03,
    "ml.g5.12xlarge": 7.09,
    "ml.g5.24xlarge": 10.18,
    "ml.g5.48xlarge": 20.36,
    "ml.p4d.24xlarge": 37.688,
}

# GPUs per instance and relative speed of one GPU (A10G = 1). Unverified round numbers.
_GPUS = {
    "2xlarge": 1,
    "4xlarge": 1,
    "8xlarge": 1,
    "16xlarge": 1,
    "xlarge": 1,
    "12xlarge": 4,
    "24xlarge": 4,
    "48xlarge": 8,
}
_GPU_SPEED = {
    "g4dn": 0.45,
    "g5": 1.0,
    "g6": 0.85,
    "g6e": 2.0,
    "p3": 0.9,
    "p3dn": 1.0,
    "p4d": 3.0,
    "p4de": 3.0,
    "p5": 5.5,
    "p5e": 5.5,
    "p5en": 5.5,
}
_MULTI_GPU_EFFICIENCY = 0.8
TOKENS_PER_SECOND_1B_A10G = 3600.0  # LoRA training throughput of a 1B model on one A10G (assumed)
DEFAULT_TOKENS_PER_EXAMPLE = 350
DEFAULT_EXAMPLES = 1000
DEFAULT_VALIDATION_SPLIT = 0.2
OVERHEAD_SECONDS = 300.0  # provisioning, image and data download, model load
OVERHEAD_SECONDS_PER_B = 25.0  # merging and saving the model grows with its size


DEFAULT_SPOT_DISCOUNT = 0.7  # [jumpstart] spot_discount's default


class PriceTable:
    """USD per instance-hour: config overrides over the built-in table; None when unknown. A managed
    spot job's running cost is taken `spot_discount` below it (SageMaker's billed time says the rest)."""

    def __init__(
        self, overrides: Mapping[str, float] | None = None, spot_discount: float = DEFAULT_SPOT_DISCOUNT
    ) -> None:
        self._prices = {**ON_DEMAND_USD_PER_HOUR, **{k: float(v) for k, v in (overrides or {}).items()}}
        self.spot_discount = float(spot_discount)

    def price(self, instance_type: str) -> float | None:
        return self._prices.get(instance_type)

    def cost(self, instance_type: str, seconds: float, instances: int = 1) -> float | None:
        price = self.price(instance_type)
        return None if price is None else price * instances * max(0.0, seconds) / 3600.0


# -- duration ---------------------------------------------------------------------------------------


def model_size_billions(model_id: str) -> float:
    """From the JumpStart id: "...-llama-3-2-3b-instruct" -> 3.0 (1.0 when it cannot tell)."""
    match = re.search(r"-(\d+(?:\.\d+)?)b(?:-|$)", model_id)
    return float(match.group(1)) if match else 1.0


def instance_throughput_factor(instance_type: str) -> float:
    """Training speed of the instance relative to one A10G."""
    parts = instance_type.split(".")
    family = parts[1] if len(parts) == 3 else ""
    size = parts[2] if len(parts) == 3 else ""
    gpus = _GPUS.get(size, 1)
    speed = _GPU_SPEED.get(family, 1.0)
    return speed * (1.0 + (gpus - 1) * _MULTI_GPU_EFFICIENCY)


@dataclass(frozen=True)
class DatasetSize:
    train_examples: int
    validation_examples: int
    tokens_per_example: float

    @classmethod
    def from_counts(cls, counts: Mapping[str, Any] | None) -> DatasetSize:
        """From a dataset version's counts (keys such as train/train_count, validation/validation_count,
        tokens/train_tokens); unknown sizes fall back to defaults."""
        counts = counts or {}

        def first(*keys: str) -> float | None:
            for key in keys:
                value = counts.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                    return float(value)
            return None

        train = first("train", "train_count", "train_examples", "training")
        validation = first("validation", "validation_count", "validation_examples")
        tokens = first("train_tokens", "tokens")
        if train is None:
            total = first("total", "pairs", "accepted")
            train = total * (1 - DEFAULT_VALIDATION_SPLIT) if total is not None else DEFAULT_EXAMPLES
        if validation is None:
            validation = round(train * DEFAULT_VALIDATION_SPLIT / (1 - DEFAULT_VALIDATION_SPLIT))
        per_example = tokens / train if tokens and train else DEFAULT_TOKENS_PER_EXAMPLE
        return cls(int(train), int(validation), per_example)


def estimate_job_seconds(
    model_id: str, instance_type: str, hyperparameters: Mapping[str, str], dataset: DatasetSize
) -> float:
    """Unrefined wall-clock estimate of one training job, launch to end."""
    size_b = model_size_billions(model_id)
    epochs = _int(hyperparameters.get("epoch"), 5)
    max_len = _int(hyperparameters.get("max_input_length"), -1)
    per_example = dataset.tokens_per_example if max_len <= 0 else min(dataset.tokens_per_example, max_len)
    throughput = TOKENS_PER_SECOND_1B_A10G / size_b * instance_throughput_factor(instance_type)
    train = dataset.train_examples * per_example / throughput
    evaluate = dataset.validation_examples * per_example / (3.0 * throughput)
    return OVERHEAD_SECONDS + OVERHEAD_SECONDS_PER_B * size_b + max(1, epochs) * (train + evaluate)


def _int(value: str | None, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class FinishedRun:
    model_id: str
    instance_type: str
    estimated_seconds: float  # the unrefined estimate made for it
    actual_seconds: float


def refinement_factor(finished: Iterable[FinishedRun], model_id: str, instance_type: str) -> float:
    """Median actual/estimated ratio of finished runs of the same model and instance type, else of
    all finished runs; 1.0 without any."""
    runs = [r for r in finished if r.estimated_seconds > 0 and r.actual_seconds > 0]
    same = [r for r in runs if r.model_id == model_id and r.instance_type == instance_type]
    chosen = same or runs
    if not chosen:
        return 1.0
    import statistics  # not light to import; only the duration estimate needs it

    return statistics.median(r.actual_seconds / r.estimated_seconds for r in chosen)


def finished_runs(jobs: Iterable[Job]) -> list[FinishedRun]:
    """Completed jobs with an estimate and known launch and end times."""
    runs = []
    for job in jobs:
        if job.status != "Completed" or not job.estimated_seconds or job.end_time is None:
            continue
        began = job.launched_at or job.created_at
        if began is None or job.end_time <= began:
            continue
        runs.append(FinishedRun(job.model_id, job.instance_type, job.estimated_seconds, job.end_time - began))
    return runs


def _work(hyperparameters: Mapping[str, str], dataset: DatasetSize) -> float:
    """Token-epochs of a job as the estimator counts them (evaluation at a third of the cost)."""
    epochs = max(1, _int(hyperparameters.get("epoch"), 5))
    max_len = _int(hyperparameters.get("max_input_length"), -1)
    per_example = dataset.tokens_per_example if max_len <= 0 else min(dataset.tokens_per_example, max_len)
    return epochs * per_example * (dataset.train_examples + dataset.validation_examples / 3.0)


def _overhead(model_id: str) -> float:
    return OVERHEAD_SECONDS + OVERHEAD_SECONDS_PER_B * model_size_billions(model_id)


@dataclass(frozen=True)
class LearnedRate:
    """Seconds per training token and epoch, measured on a finished job (launch to end, less the
    start-up and save overhead), and how far that job's own estimate was off."""

    job_name: str
    model_id: str
    instance_type: str
    seconds_per_token_epoch: float
    estimated_seconds: float | None  # what the plan said for it (unrefined)
    actual_seconds: float

    @property
    def error(self) -> float | None:
        """actual / estimated - 1: +0.25 means the estimate was 25% short."""
        if not self.estimated_seconds:
            return None
        return self.actual_seconds / self.estimated_seconds - 1.0


def learned_rates(jobs: Iterable[Job], datasets: Mapping[int, DatasetSize]) -> list[LearnedRate]:
    """The measured rate of each completed job with known times and dataset, oldest first."""
    rates = []
    for job in sorted(jobs, key=lambda j: j.end_time or 0.0):
        began = job.launched_at or job.created_at
        size = datasets.get(job.dataset_version_id) if job.dataset_version_id is not None else None
        if job.status != "Completed" or job.end_time is None or began is None or size is None:
            continue
        actual = job.end_time - began
        work = _work(job.hyperparameters, size)
        if actual <= 0 or work <= 0:
            continue
        rate = max(0.0, actual - _overhead(job.model_id)) / work
        rates.append(LearnedRate(job.name, job.model_id, job.instance_type, rate, job.estimated_seconds, actual))
    return rates


@dataclass(frozen=True)
class DurationEstimate:
    seconds: float
    source: str  # in words: which estimate was used


def learned_estimate(
    model_id: str,
    instance_type: str,
    hyperparameters: Mapping[str, str],
    dataset: DatasetSize,
    rates: Sequence[LearnedRate],
    fallback_factor: float = 1.0,
) -> DurationEstimate:
    """The latest measured rate of this (model, instance type); else of this model on another type,
    scaled by GPU speed; else the built-in estimate scaled by `fallback_factor`."""
    same_model = [r for r in rates if r.model_id == model_id]
    same = [r for r in same_model if r.instance_type == instance_type]
    if same or same_model:
        rate = (same or same_model)[-1]
        speed = instance_throughput_factor(rate.instance_type) / instance_throughput_factor(instance_type)
        seconds = _overhead(model_id) + rate.seconds_per_token_epoch * speed * _work(hyperparameters, dataset)
        how = "measured" if same else f"measured on {rate.instance_type}, scaled by GPU speed"
        return DurationEstimate(seconds, f"{how} ({rate.job_name})")
    raw = estimate_job_seconds(model_id, instance_type, hyperparameters, dataset)
    if fallback_factor != 1.0:
        return DurationEstimate(raw * fallback_factor, f"built-in, scaled by {fallback_factor:.3g} from finished jobs")
    return DurationEstimate(raw, "built-in (unverified round numbers)")


def wall_clock_seconds(durations: Iterable[float], slots: int) -> float:
    """Time to run jobs in queue order over `slots` parallel slots (each job takes the first free one)."""
    lanes = [0.0] * max(1, slots)
    for duration in durations:
        i = min(range(len(lanes)), key=lanes.__getitem__)
        lanes[i] += duration
    return max(lanes)


# -- cost -------------------------------------------------------------------------------------------


def job_cost(job: Job, prices: PriceTable, now: float) -> float | None:
    """Dollars a job has cost: billable seconds once known, else time since training started."""
    if job.billable_seconds:
        seconds = float(job.billable_seconds)
    elif job.start_time is not None:
        end = job.end_time if job.end_time is not None else now
        seconds = max(0.0, end - job.start_time)
    else:
        return 0.0 if prices.price(job.instance_type) is not None else None
    cost = prices.cost(job.instance_type, seconds)
    if cost is not None and not job.billable_seconds and is_spot(job):
        cost *= 1.0 - getattr(prices, "spot_discount", DEFAULT_SPOT_DISCOUNT)  # billed time not known yet
    return cost


def is_spot(job: Job) -> bool:
    """Launched with managed spot training (its CreateTrainingJob request says so)."""
    return bool((job.request or {}).get("EnableManagedSpotTraining"))


@dataclass(frozen=True)
class CostMeter:
    training_instances: int
    endpoint_instances: int
    usd_per_hour: float
    usd_so_far: float
    unpriced: tuple[str, ...] = ()  # instance types in use without a known price
    llm_usd: float = 0.0  # LLM calls of the session (recorded with their price), beside usd_so_far (AWS)
    idle_endpoints: tuple[str, ...] = ()  # in service and not invoked for the idle threshold: still billed
    llm_by_purpose: tuple[Any, ...] = ()  # core.limits.PurposeSpend per purpose (unpriced calls counted apart)

    def as_dict(self) -> dict[str, Any]:
        return {
            "training_instances": self.training_instances,
            "endpoint_instances": self.endpoint_instances,
            "usd_per_hour": round(self.usd_per_hour, 4),
            "usd_so_far": round(self.usd_so_far, 4),
            "unpriced": list(self.unpriced),
            "llm_usd": round(self.llm_usd, 4),
            "idle_endpoints": list(self.idle_endpoints),
            "llm_by_purpose": [p.as_dict() for p in self.llm_by_purpose],
        }

    def label(self) -> str:
        """Status bar text, e.g. "2 train + 1 endpoint  $10.12/h  $3.41 so far  LLM $0.20"."""
        unknown = " (+unpriced)" if self.unpriced else ""
        llm = f"  LLM ${self.llm_usd:.2f}" if self.llm_usd else ""
        idle = f"  {len(self.idle_endpoints)} idle endpoint(s) still billed" if self.idle_endpoints else ""
        return (
            f"{self.training_instances} train + {self.endpoint_instances} endpoint  "
            f"${self.usd_per_hour:.2f}/h  ${self.usd_so_far:.2f} so far{unknown}{llm}{idle}"
        )


_LIVE_ENDPOINT = ("Creating", "Updating", "InService", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")


def cost_meter(
    jobs: Iterable[Job],
    endpoints: Iterable[EndpointBilling],
    prices: PriceTable,
    now: float,
    *,
    console_runs: set[int] | frozenset[int] = frozenset(),
) -> CostMeter:
    """Running training instances and endpoints, their dollars per hour, and dollars spent so far.
    Console runs (their job ids) are left out: they train in the event's account, which tunedeck does not bill."""
    training = 0
    per_hour = 0.0
    spent = 0.0
    unpriced: set[str] = set()
    for job in jobs:
        if console_runs and job.id in console_runs:
            continue
        cost = job_cost(job, prices, now)
        if cost is None:
            if job.start_time is not None:
                unpriced.add(job.instance_type)
        else:
            spent += cost
        if job.status in ("InProgress", "Stopping"):
            training += 1
            price = prices.price(job.instance_type)
            if price is None:
                unpriced.add(job.instance_type)
            else:
                per_hour += price * (
                    1.0 - getattr(prices, "spot_discount", DEFAULT_SPOT_DISCOUNT) if is_spot(job) else 1.0
                )
    serving = 0
    for endpoint in endpoints:
        price = endpoint.price_per_hour if endpoint.price_per_hour is not None else prices.price(endpoint.instance_type)
        live = endpoint.deleted_at is None and endpoint.status in _LIVE_ENDPOINT
        start = endpoint.in_service_at or endpoint.created_at
        end = endpoint.deleted_at if endpoint.deleted_at is not None else (now if live else None)
        if live:
            serving += 1
        if price is None:
            if live or end is not None:
                unpriced.add(endpoint.instance_type)
            continue
        if live:
            per_hour += price
        if start is not None and end is not None and math.isfinite(end - start):
            spent += price * max(0.0, end - start) / 3600.0
    return CostMeter(training, serving, per_hour, spent, tuple(sorted(unpriced)))

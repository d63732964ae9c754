"""Training jobs of a session: sweep planning and launch, a capacity-aware queue, dispatch,
status polling, stop, clone, and the rows the Jobs pane and `tunedeck jobs` show.

`JobsService` is synchronous and meant to run in a worker thread. `tick()` does one round:
reconcile with SageMaker on the first call, poll statuses, feed free slots from the queue, fetch
new metrics; it returns what changed. The TUI's timer and `tunedeck jobs --watch` both call it.

The queue lives in the store (status Queued, priority, next_attempt_at), so it survives a restart;
several processes may tick the same session: a job is claimed atomically (Queued -> Launching)
before CreateTrainingJob, and SageMaker's ResourceLimitExceeded is the final word on capacity
(the job goes back to the queue with exponential backoff).

Polling is cheap: one ListTrainingJobs over the session's name prefix per round, and
DescribeTrainingJob only for jobs whose status changed (or, when the listing lacks the secondary
status, whose LastModifiedTime changed, at most once per `describe_interval`).
"""

from __future__ import annotations

import random
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.aws_identity import aws_client
from core.store.jobs import (
    ACTIVE_STATUSES,
    FAILED,
    FINAL_STATUSES,
    IN_PROGRESS,
    LAUNCHING,
    QUEUED,
    STOPPING,
    Job,
    NewJob,
    Sweep,
)
from core.training.hyperparams import validate_hyperparameters
from core.training.metrics import JobCurves, MetricsPoller, error_code, is_throttling, job_curves, job_eta_seconds
from core.training.pool import MemoryEstimate, larger_types, makespan, memory_estimate, place
from core.training.prices import (
    CostMeter,
    DatasetSize,
    LearnedRate,
    PriceTable,
    cost_meter,
    estimate_job_seconds,
    finished_runs,
    job_cost,
    learned_estimate,
    learned_rates,
    refinement_factor,
    wall_clock_seconds,
)
from core.training.quotas import QuotaLookup, Slots
from core.training.recipe import Recipe, RecipeError, load_recipe, spec_root_for
from core.training.request import TrainingRequestError, build_training_request
from core.training.sweep import SweepError, Value, expand, parse_param, parse_values, summarize

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from core.config import Config
    from core.store import Store
    from core.store.datasets import DatasetVersionRow
    from core.training.overfit import OverfitAssessment

PREFIX_META_KEY = "jobs.name_prefix"
MEMORY_REQUEUE_META_KEY = "jobs.memory_requeues"  # failed job -> the copy queued on a larger type
SPOT_META_KEY = "jobs.spot_interruptions"  # spot job -> how many times SageMaker interrupted it
MAX_SPOT_WAIT_SECONDS = 28 * 24 * 3600  # SageMaker's limit on MaxWaitTimeInSeconds
OUT_OF_MEMORY = re.compile(r"CUDA out of memory|OutOfMemoryError", re.IGNORECASE)
EULA_META_KEY = "jobs.eula_accepted"
REQUEUE_CODES = frozenset(
    {
        "ResourceLimitExceeded",
        "CapacityError",
        "InsufficientCapacityError",
        "InsufficientInstanceCapacity",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
    }
)
ACCOUNT_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "RequestExpired",
    }
)
"""Credential and permission errors: about the caller, not the job; every launch would fail alike."""
STALE_LAUNCH_SECONDS = 120.0
AWS_TIMING: dict[str, float] = {
    "metric_period": 60,
    "metric_settle_seconds": 60.0,
    "describe_interval": 30.0,
    "backoff_base": 30.0,
    "initial_log_settle_seconds": 5.0,
}
EMULATOR_TIMING: dict[str, float] = {
    "metric_period": 1,
    "metric_settle_seconds": 2.0,
    "describe_interval": 5.0,
    "backoff_base": 2.0,
    "initial_log_settle_seconds": 1.0,
}
TAG_SESSION, TAG_DATASET, TAG_SWEEP = "tunedeck:session", "tunedeck:dataset", "tunedeck:sweep"
DATASET_FLAGS = {
    "instruction": {"instruction_tuned": "True", "chat_dataset": "False"},
    "chat": {"chat_dataset": "True", "instruction_tuned": "False"},
}


class JobsError(Exception):
    """A jobs operation cannot go on; the message says why, for the user."""


class EulaRequiredError(JobsError):
    """The model is gated and its EULA has not been accepted in this session."""


# -- names ------------------------------------------------------------------------------------------


def session_prefix(store: Store) -> str:
    """The session's job-name prefix, "td-<session>-<4 hex>-", made once and kept in the session.
    ListTrainingJobs(NameContains=prefix) finds exactly the session's jobs."""
    prefix = store.get_meta(PREFIX_META_KEY)
    if not isinstance(prefix, str) or not prefix:
        slug = re.sub(r"[^a-z0-9]+", "-", store.name.lower()).strip("-")[:20].strip("-") or "session"
        prefix = f"td-{slug}-{secrets.token_hex(2)}-"
        store.set_meta(PREFIX_META_KEY, prefix)
    return prefix


def next_job_names(store: Store, prefix: str, count: int) -> list[str]:
    serial = 0
    for name in store.job_names():
        tail = name[len(prefix) :] if name.startswith(prefix) else ""
        if tail.isdigit():
            serial = max(serial, int(tail))
    return [f"{prefix}{serial + i:03d}" for i in range(1, count + 1)]


# -- plans ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSpec:
    instance_type: str
    params: tuple[tuple[str, tuple[Value, ...]], ...] = ()
    mode: str = "grid"  # "grid" (every combination) or "list" (i-th values together)
    dataset: int | str | None = "latest"  # id, content hash (or unique prefix), "latest"
    model_id: str | None = None  # default: config.jumpstart.model_id
    model_version: str | None = None
    fixed: Mapping[str, str] = field(default_factory=dict)
    instance_types: tuple[str, ...] = ()  # a mixed pool: each job goes to a type of it that it fits
    spot: bool = False  # managed spot training for every job of the sweep
    spot_max_wait_seconds: int | None = None  # default: twice the maximum runtime (within SageMaker's limit)
    checkpoint_s3_uri: str = ""  # default: <session prefix>/checkpoints (one folder per job under it)

    @property
    def types(self) -> tuple[str, ...]:
        """The instance types the sweep may use, `instance_type` first."""
        return (self.instance_type, *(t for t in self.instance_types if t != self.instance_type))

    @classmethod
    def from_strings(cls, instance_type: str, params: Sequence[str], **kwargs: Any) -> SweepSpec:
        """From `NAME=V1,V2,...` strings (the CLI's --param values). Raises SweepError."""
        return cls(instance_type=instance_type, params=tuple(parse_param(p) for p in params), **kwargs)


@dataclass(frozen=True)
class PlannedJob:
    hyperparameters: dict[str, str]  # what the user sets (the spec's defaults fill the rest)
    estimated_seconds: float  # refined by finished jobs
    raw_estimated_seconds: float
    estimated_cost: float | None
    instance_type: str = ""  # where the pool placed it ("" = the plan's instance_type)
    instance_changes: tuple[tuple[str, str, str], ...] = ()  # (name, default on the first type, here)
    memory: str = ""  # the memory estimate on its type, in words
    start_seconds: float = 0.0  # planned start, from the sweep's launch


@dataclass(frozen=True)
class SweepPlan:
    spec: SweepSpec
    model_id: str
    model_version: str
    instance_type: str
    dataset: DatasetVersionRow
    jobs: tuple[PlannedJob, ...]
    slots: Slots
    price_per_hour: float | None
    instance_seconds: float
    wall_seconds: float
    total_cost: float | None
    refinement: float
    eula_required: bool
    eula_uri: str | None
    eula_accepted: bool
    warnings: tuple[str, ...] = ()
    pool: tuple[tuple[str, int], ...] = ()  # a mixed pool's (type, slots); empty for one type
    estimate_source: str = ""  # which duration estimate the plan used (core.training.prices.learned_estimate)
    last_estimate: str = ""  # how far the last finished job's own estimate was off
    spot: dict[str, Any] | None = None  # managed spot: max_wait_seconds, checkpoint_s3_uri, discount
    on_demand_cost: float | None = None  # what the jobs would cost on demand (total_cost is at the spot discount)

    def job_type(self, job: PlannedJob) -> str:
        return job.instance_type or self.instance_type

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_version": self.model_version,
            "instance_type": self.instance_type,
            "dataset": self.dataset.hash,
            "dataset_format": self.dataset.format,
            "mode": self.spec.mode,
            "jobs": [
                {
                    "hyperparameters": j.hyperparameters,
                    "estimated_seconds": round(j.estimated_seconds, 1),
                    "estimated_cost_usd": None if j.estimated_cost is None else round(j.estimated_cost, 2),
                    "instance_type": self.job_type(j),
                    "instance_changes": [list(c) for c in j.instance_changes],
                    "memory": j.memory,
                }
                for j in self.jobs
            ],
            "pool": dict(self.pool),
            "job_count": len(self.jobs),
            "slots": self.slots.slots,
            "slots_source": self.slots.source,
            "price_per_hour": self.price_per_hour,
            "instance_seconds": round(self.instance_seconds, 1),
            "wall_seconds": round(self.wall_seconds, 1),
            "total_cost_usd": None if self.total_cost is None else round(self.total_cost, 2),
            "estimate_refinement": round(self.refinement, 4),
            "estimate_source": self.estimate_source,
            "last_estimate": self.last_estimate,
            "eula_required": self.eula_required,
            "eula_uri": self.eula_uri,
            "eula_accepted": self.eula_accepted,
            "warnings": list(self.warnings),
            "spot": self.spot,
            "on_demand_cost_usd": None if self.on_demand_cost is None else round(self.on_demand_cost, 2),
        }

    def summary_lines(self) -> list[str]:
        """Human-readable plan: what runs where, how long, and what it costs."""
        cost = "unknown (no price for this instance type)" if self.total_cost is None else f"${self.total_cost:,.2f}"
        price = "?" if self.price_per_hour is None else f"${self.price_per_hour:.3f}/h"
        where = (
            "the pool " + " + ".join(f"{n} x {t}" for t, n in self.pool)
            if self.pool
            else f"{self.instance_type} ({price})"
        )
        lines = [
            f"{len(self.jobs)} job(s) of {self.model_id} {self.model_version} on {where}, "
            f"dataset {self.dataset.hash} ({self.dataset.format})",
            f"slots: {self.slots.describe()}" if not self.pool else "longest jobs first onto the fastest free slot",
            f"estimated {'makespan' if self.pool else 'duration'}: {format_duration(self.wall_seconds)} wall clock, "
            f"{format_duration(self.instance_seconds)} of instance time; estimated cost {cost}",
        ]
        if self.spot:
            demand = "" if self.on_demand_cost is None else f"; ${self.on_demand_cost:,.2f} on demand"
            lines.append(
                f"managed spot: costs estimated at {self.spot['discount']:.0%} below on-demand{demand}; "
                f"waits up to {format_duration(self.spot['max_wait_seconds'])} for spot capacity; an "
                f"interrupted job resumes from its checkpoints under {self.spot['checkpoint_s3_uri']}"
            )
        if self.estimate_source:
            lines.append(f"durations: {self.estimate_source}")
        elif self.refinement != 1.0:
            lines.append(f"(estimates scaled by {self.refinement:.3g} from finished jobs)")
        if self.last_estimate:
            lines.append(self.last_estimate)
        for i, job in enumerate(self.jobs, 1):
            each = "" if job.estimated_cost is None else f"  ${job.estimated_cost:,.2f}"
            placed = f"  on {self.job_type(job)}" if self.pool else ""
            lines.append(
                f"  {i:>3}. {summarize(job.hyperparameters) or '(spec defaults)'}  "
                f"~{format_duration(job.estimated_seconds)}{each}{placed}"
            )
            if self.pool and job.memory:
                lines.append(f"       memory {job.memory}")
            for name, first, here in job.instance_changes:
                lines.append(f"       {name}: {first} -> {here} (the spec's default on {self.job_type(job)})")
        if self.eula_required and not self.eula_accepted:  # (replace(plan, eula_accepted=True) once accepted)
            where = f" ({self.eula_uri})" if self.eula_uri else ""
            lines.append(f"{self.model_id} is gated: accept its EULA{where} to launch")
        lines += [f"warning: {w}" for w in self.warnings]
        return lines


def _last_estimate_line(rates: Sequence[LearnedRate]) -> str:
    """ "the last finished job, td-...-004, took 41m10s; its estimate said 32m00s (29% short)"."""
    last = next((r for r in reversed(rates) if r.error is not None), None)
    if last is None or last.error is None:
        return ""
    off = f"{abs(last.error):.0%} {'short' if last.error > 0 else 'long'}" if abs(last.error) >= 0.005 else "on time"
    return (
        f"the last finished job, {last.job_name}, took {format_duration(last.actual_seconds)}; "
        f"its estimate said {format_duration(last.estimated_seconds)} ({off})"
    )


def spot_words(job: Job, interruptions: Mapping[str, int]) -> str:
    """ "spot, 1 interruption, saved 70%" (savings once SageMaker reports the billable time)."""
    count = int(interruptions.get(job.name, 0))
    parts = ["spot", f"{count} interruption{'s' if count != 1 else ''}"]
    if job.billable_seconds and job.start_time is not None and job.end_time is not None:
        trained = max(1.0, job.end_time - job.start_time)
        parts.append(f"saved {max(0.0, 1 - float(job.billable_seconds) / trained):.0%}")
    return ", ".join(parts)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


# -- rounds and rows --------------------------------------------------------------------------------


@dataclass
class TickSummary:
    launched: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    failed_to_launch: list[str] = field(default_factory=list)
    status_changes: list[tuple[str, str, str]] = field(default_factory=list)  # (job, old, new)
    finished: list[str] = field(default_factory=list)
    new_points: int = 0
    updated_jobs: set[str] = field(default_factory=set)  # jobs with new metric points
    throttled: bool = False
    reconciled: bool = False
    errors: list[str] = field(default_factory=list)
    api_calls: Counter = field(default_factory=Counter)  # operation name -> calls this round

    @property
    def changed(self) -> bool:
        return bool(self.launched or self.requeued or self.failed_to_launch or self.status_changes or self.new_points)

    def as_dict(self) -> dict[str, Any]:
        return {
            "launched": self.launched,
            "requeued": self.requeued,
            "failed_to_launch": self.failed_to_launch,
            "status_changes": [list(c) for c in self.status_changes],
            "finished": self.finished,
            "new_points": self.new_points,
            "throttled": self.throttled,
            "errors": self.errors,
            "api_calls": dict(self.api_calls),
        }


@dataclass(frozen=True)
class JobRow:
    """One row of the queue table."""

    job: Job
    summary: str
    elapsed_s: float | None
    eta_s: float | None
    cost_usd: float | None
    curves: JobCurves
    assessment: OverfitAssessment
    console: bool = False  # recorded by hand: started in the SageMaker console, never polled
    spot: str = ""  # managed spot training, in words (interruptions, savings); "" on demand

    @property
    def best_eval_epoch(self) -> int | None:
        return self.curves.best_eval_epoch

    def as_dict(self) -> dict[str, Any]:
        job = self.job
        return {
            "name": job.name,
            "status": job.status,
            "secondary_status": job.secondary_status,
            "instance_type": job.instance_type,
            "priority": job.priority,
            "hyperparameters": job.hyperparameters,
            "summary": self.summary,
            "elapsed_s": self.elapsed_s,
            "eta_s": self.eta_s,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 4),
            "train_epoch_losses": list(self.curves.train_epoch_losses),
            "eval_epoch_losses": list(self.curves.eval_epoch_losses),
            "best_eval_epoch": self.best_eval_epoch,
            "step_losses": len(self.curves.step_losses),
            "overfitting": self.assessment.flagged,
            "overfit_reasons": self.assessment.reasons,
            "suggestion": self.assessment.suggestion,
            "failure_reason": job.failure_reason,
            "attempts": job.attempts,
            "next_attempt_at": job.next_attempt_at,
            "spot": self.spot or None,
        }


def _ts(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None


# -- the service ------------------------------------------------------------------------------------


class JobsService:
    """Jobs of one session. Blocking; call from a worker thread."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        client_factory: Callable[[str], Any] | None = None,
        spec_root: Path | None = None,
        recipe_loader: Callable[[str, str, str], Recipe] | None = None,
        clock: Callable[[], float] = time.time,
        metric_period: int | None = None,
        metric_settle_seconds: float | None = None,
        log_settle_seconds: float = 0.5,
        initial_log_settle_seconds: float | None = None,
        describe_interval: float | None = None,
        backoff_base: float | None = None,
        backoff_max: float = 900.0,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.prices = PriceTable(config.jumpstart.prices, config.jumpstart.spot_discount)
        # Against tunedeck's emulator (the demo or sandbox switch) the clock is compressed: poll on its scale.
        timing = EMULATOR_TIMING if config.emulated else AWS_TIMING
        self.describe_interval = timing["describe_interval"] if describe_interval is None else describe_interval
        self.backoff_base = timing["backoff_base"] if backoff_base is None else backoff_base
        self.backoff_max = backoff_max
        metric_period = int(timing["metric_period"] if metric_period is None else metric_period)
        if metric_settle_seconds is None:
            metric_settle_seconds = timing["metric_settle_seconds"]
        self._client_factory = client_factory
        self._clients: dict[str, Any] = {}
        self._calls: Counter = Counter()
        self._lock = threading.RLock()
        self._reconciled = False
        self._poll_backoff = 0.0
        self._poll_resume_at = 0.0
        self._metrics_backoff = 0.0
        self._metrics_resume_at = 0.0
        self.spec_root = spec_root if spec_root is not None else spec_root_for(config)
        self._recipe_loader = recipe_loader
        self._recipes: dict[tuple[str, str, str], Recipe] = {}
        self.prefix = session_prefix(store)
        self.quotas = QuotaLookup(
            config.jumpstart.quotas, lambda: self.client("service-quotas"), store=store, clock=clock
        )
        self.metrics = MetricsPoller(
            store,
            self.client,
            name_prefix=self.prefix,
            period=metric_period,
            metric_settle_seconds=metric_settle_seconds,
            log_settle_seconds=log_settle_seconds,
            clock=clock,
            initial_log_settle_seconds=timing["initial_log_settle_seconds"]
            if initial_log_settle_seconds is None
            else initial_log_settle_seconds,
        )

    # -- clients ---------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A cached boto3 client; every call it makes is counted (`api_calls`)."""
        client = self._clients.get(service)
        if client is None:
            if self._client_factory is not None:
                client = self._client_factory(service)
            else:
                from botocore.config import Config as BotoConfig

                client = aws_client(
                    self.config.aws,
                    service,
                    config=BotoConfig(
                        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30
                    ),
                )
            client.meta.events.register("before-call", self._count_call)
            self._clients[service] = client
        return client

    def _count_call(self, model: Any = None, **_: Any) -> None:
        self._calls[getattr(model, "name", "?")] += 1

    @property
    def api_calls(self) -> Counter:
        """Calls made by this service's clients, by operation name, since it was created."""
        return Counter(self._calls)

    # -- recipes and EULA ------------------------------------------------------------------------

    def recipe(self, model_id: str | None = None, model_version: str | None = None) -> Recipe:
        """The model's JumpStart recipe: memory, then the session cache, then the spec (seconds)."""
        model_id = model_id or self.config.jumpstart.model_id
        version = model_version or self.config.jumpstart.model_version or "*"
        region = self.config.aws.region
        key = (model_id, version, region)
        if key in self._recipes:
            return self._recipes[key]
        recipe = None
        cached = self.store.cached_recipe(model_id, version, region)
        if cached:
            try:
                recipe = Recipe.from_json(cached)
            except RecipeError:
                recipe = None
        if recipe is None:
            if self._recipe_loader is not None:
                recipe = self._recipe_loader(model_id, version, region)
            else:
                recipe = load_recipe(
                    model_id, version, region, spec_root=self.spec_root, profile=self.config.aws.profile
                )
            data = recipe.to_json()
            self.store.cache_recipe(model_id, version, region, data)
            if recipe.model_version != version:
                self.store.cache_recipe(model_id, recipe.model_version, region, data)
        self._recipes[key] = recipe
        self._recipes[(model_id, recipe.model_version, region)] = recipe
        return recipe

    def eula_accepted(self, model_id: str) -> bool:
        return model_id in (self.store.get_meta(EULA_META_KEY) or {})

    def accept_eula(self, model_id: str) -> None:
        """Remember, for this session, that the user accepted the model's EULA."""
        accepted = dict(self.store.get_meta(EULA_META_KEY) or {})
        accepted.setdefault(model_id, self.clock())
        self.store.set_meta(EULA_META_KEY, accepted)

    # -- planning --------------------------------------------------------------------------------

    def resolve_dataset(self, ref: int | str | None) -> DatasetVersionRow:
        if ref in (None, "", "latest"):
            dataset = self.store.latest_dataset_version()
            if dataset is None:
                raise JobsError("this session has no dataset version yet; export one from the Pairs pane")
            return dataset
        by_id = isinstance(ref, int) or (str(ref).isdigit() and len(str(ref)) < 8)
        dataset = self.store.dataset_version(int(ref) if by_id else str(ref))
        if dataset is None:
            raise JobsError(f"no dataset version {ref!r} in this session (or the hash prefix is ambiguous)")
        return dataset

    def plan_sweep(self, spec: SweepSpec, *, require_upload: bool = True) -> SweepPlan:
        """Expand and validate a sweep, and estimate its duration and cost. No AWS call except the
        (cached) quota lookup. Raises SweepError (field problems) or JobsError. A plan for the
        console (core.training.console) may use a dataset exported to a folder: `require_upload=False`."""
        dataset = self.resolve_dataset(spec.dataset)
        try:
            recipe = self.recipe(spec.model_id, spec.model_version)
        except RecipeError as exc:
            raise JobsError(str(exc)) from None
        fixed = {**DATASET_FLAGS.get(dataset.format, {}), **spec.fixed}
        jobs, warnings = expand(
            spec.params, mode=spec.mode, fixed=fixed, defaults=recipe.defaults_for(spec.instance_type)
        )
        problems: dict[str, list[int]] = {}
        for number, hyperparameters in enumerate(jobs, 1):
            for error in validate_hyperparameters(recipe, hyperparameters, spec.instance_type, dataset.format):
                problems.setdefault(str(error), []).append(number)
        if require_upload and not dataset.train_s3_uri:
            problems.setdefault(f"dataset: version {dataset.hash} has not been uploaded to S3", [])
        if problems:
            raise SweepError(
                [
                    message
                    if not numbers or len(numbers) == len(jobs)
                    else f"{message} (job{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))})"
                    for message, numbers in problems.items()
                ]
            )
        size = DatasetSize.from_counts(dataset.counts)
        factor = refinement_factor(finished_runs(self.store.jobs()), recipe.model_id, spec.instance_type)
        rates = self.learned_rates()
        planned = []
        source = ""
        for hyperparameters in jobs:
            raw = estimate_job_seconds(recipe.model_id, spec.instance_type, hyperparameters, size)
            learned = learned_estimate(recipe.model_id, spec.instance_type, hyperparameters, size, rates, factor)
            source = learned.source
            planned.append(
                PlannedJob(hyperparameters, learned.seconds, raw, self.prices.cost(spec.instance_type, learned.seconds))
            )
        pool: dict[str, int] = {}
        wall: float | None = None
        if len(spec.types) > 1:
            planned, wall, pool = self._place_on_pool(spec, recipe, dataset.format, jobs, size, warnings)
        slots = self.quotas.slots(spec.instance_type)
        notes = list(warnings)
        if slots.slots == 0:
            notes.append(f"the quota '{slots.quota_name}' is 0: jobs wait in the queue until it is raised")
        elif slots.source == "unknown":
            notes.append(
                f"could not look up '{slots.quota_name}'; assuming {slots.slots} slot "
                "(set [jumpstart.quotas] in the config)"
            )
        instance_seconds = sum(j.estimated_seconds for j in planned)
        costs = [j.estimated_cost for j in planned]
        on_demand = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
        spot = self._spot_settings(spec, recipe) if spec.spot else None
        if spot is not None:
            keep = 1.0 - spot["discount"]
            planned = [
                replace(j, estimated_cost=None if j.estimated_cost is None else j.estimated_cost * keep)
                for j in planned
            ]
            costs = [j.estimated_cost for j in planned]
        return SweepPlan(
            spec=spec,
            model_id=recipe.model_id,
            model_version=recipe.model_version,
            instance_type=spec.instance_type,
            dataset=dataset,
            jobs=tuple(planned),
            slots=slots,
            price_per_hour=self.prices.price(spec.instance_type),
            instance_seconds=instance_seconds,
            wall_seconds=wall
            if wall is not None
            else wall_clock_seconds([j.estimated_seconds for j in planned], max(1, slots.slots)),
            total_cost=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
            refinement=factor,
            eula_required=bool(recipe.eula_required),
            eula_uri=recipe.eula_uri,
            eula_accepted=self.eula_accepted(recipe.model_id),
            warnings=tuple(notes),
            pool=tuple(pool.items()),
            estimate_source=source,
            last_estimate=_last_estimate_line(rates),
            spot=spot,
            on_demand_cost=on_demand if spot is not None else None,
        )

    def _spot_settings(self, spec: SweepSpec, recipe: Recipe) -> dict[str, Any]:
        """The sweep's managed spot settings, checked (raises SweepError with what is wrong)."""
        runtime = int(recipe.max_runtime_seconds)
        wait = spec.spot_max_wait_seconds or max(runtime, min(2 * runtime, MAX_SPOT_WAIT_SECONDS))
        problems = []
        if wait < runtime:
            problems.append(
                f"spot: the maximum wait ({format_duration(wait)}) must be at least the maximum runtime of "
                f"{recipe.model_id}'s jobs ({format_duration(runtime)})"
            )
        elif wait > MAX_SPOT_WAIT_SECONDS:
            problems.append(f"spot: the maximum wait may be at most {format_duration(MAX_SPOT_WAIT_SECONDS)}")
        checkpoint = spec.checkpoint_s3_uri.strip() or self.checkpoint_uri()
        if not re.match(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$", checkpoint):
            problems.append(f"spot: the checkpoint location must be an s3:// URI, not {checkpoint!r}")
        if problems:
            raise SweepError(problems)
        return {
            "max_wait_seconds": int(wait),
            "checkpoint_s3_uri": checkpoint.rstrip("/") + "/",
            "discount": float(self.config.jumpstart.spot_discount),
        }

    def learned_rates(self) -> list[LearnedRate]:
        """Measured seconds per token-epoch of the session's completed jobs, oldest first."""
        sizes: dict[int, DatasetSize] = {}
        for job in self.store.jobs(["Completed"]):
            if job.dataset_version_id is not None and job.dataset_version_id not in sizes:
                version = self.store.dataset_version(job.dataset_version_id)
                if version is not None:
                    sizes[job.dataset_version_id] = DatasetSize.from_counts(version.counts)
        return learned_rates(self.store.jobs(["Completed"]), sizes)

    def _place_on_pool(
        self,
        spec: SweepSpec,
        recipe: Recipe,
        dataset_format: str,
        jobs: list[dict[str, str]],
        size: DatasetSize,
        warnings: list[str],
    ) -> tuple[list[PlannedJob], float, dict[str, int]]:
        """Each job onto a type of the pool it fits (valid there, and within its GPU memory by the
        estimate of core.training.pool), fewest choices and longest first onto the slot that ends it
        earliest; the planned jobs in launch order, the makespan and the pool."""
        pool = {t: self.quotas.slots(t).slots for t in spec.types}
        if not any(pool.values()):
            warnings.append("every type of the pool has a quota of 0: the makespan assumes one slot each")
            pool = dict.fromkeys(pool, 1)
        first_defaults = recipe.defaults_for(spec.instance_type)
        finished = finished_runs(self.store.jobs())
        rates = self.learned_rates()
        options: list[dict[str, float]] = []
        estimates: list[dict[str, MemoryEstimate]] = []
        for number, hyperparameters in enumerate(jobs, 1):
            fits: dict[str, float] = {}
            memory: dict[str, MemoryEstimate] = {}
            for kind in spec.types:
                if validate_hyperparameters(recipe, hyperparameters, kind, dataset_format):
                    continue
                memory[kind] = memory_estimate(recipe.model_id, kind, {**recipe.defaults_for(kind), **hyperparameters})
                if memory[kind].fits and pool.get(kind, 0) > 0:
                    fits[kind] = learned_estimate(
                        recipe.model_id,
                        kind,
                        hyperparameters,
                        size,
                        rates,
                        refinement_factor(finished, recipe.model_id, kind),
                    ).seconds
            if not fits:
                usable = [k for k in memory if pool.get(k, 0) > 0] or list(memory) or [spec.instance_type]
                largest = max(
                    usable, key=lambda k: memory[k].available_gib - memory[k].needed_gib if k in memory else 0.0
                )
                warnings.append(
                    f"job {number} fits no type of the pool by the memory estimate; planned on {largest} "
                    "(an out-of-memory failure requeues it once on a larger type)"
                )
                fits[largest] = estimate_job_seconds(recipe.model_id, largest, hyperparameters, size)
            options.append(fits)
            estimates.append(memory)
        slots = dict(pool)
        for kind in {t for fits in options for t in fits}:  # a job planned where it does not fit still needs a slot
            slots[kind] = max(1, slots.get(kind, 0))
        placements = place(options, slots)
        planned = []
        for placement in sorted(placements, key=lambda p: (p.start, p.job)):
            hyperparameters, kind = jobs[placement.job], placement.instance_type
            here = recipe.defaults_for(kind)
            changes = tuple(
                (name, first_defaults.get(name, "-"), value)
                for name, value in sorted(here.items())
                if name not in hyperparameters and first_defaults.get(name) != value
            )
            raw = estimate_job_seconds(recipe.model_id, kind, hyperparameters, size)
            seconds = placement.end - placement.start
            estimate = estimates[placement.job].get(kind)
            planned.append(
                PlannedJob(
                    hyperparameters,
                    seconds,
                    raw,
                    self.prices.cost(kind, seconds),
                    instance_type=kind,
                    instance_changes=changes,
                    memory=estimate.describe() if estimate else "",
                    start_seconds=placement.start,
                )
            )
        return planned, makespan(placements), pool

    def _check_launch_settings(self) -> None:
        missing = [
            key
            for key, value in (("aws.role_arn", self.config.aws.role_arn), ("aws.s3_bucket", self.config.aws.s3_bucket))
            if not value
        ]
        if missing:
            raise JobsError(f"set {' and '.join(missing)} in the config before launching training jobs")

    def launch_sweep(self, plan: SweepPlan, *, accept_eula: bool = False, priority: int = 0) -> tuple[Sweep, list[Job]]:
        """Queue the plan's jobs (the next tick launches what fits). Accepting the EULA here is
        remembered for the session."""
        with self._lock:
            self._check_launch_settings()
            if plan.eula_required and not (accept_eula or self.eula_accepted(plan.model_id)):
                where = f" at {plan.eula_uri}" if plan.eula_uri else ""
                raise EulaRequiredError(
                    f"{plan.model_id} is gated: read its EULA{where} and accept it to launch (--accept-eula)"
                )
            if accept_eula and plan.eula_required:
                self.accept_eula(plan.model_id)
            names = next_job_names(self.store, self.prefix, len(plan.jobs))
            spec = {
                "model_id": plan.model_id,
                "model_version": plan.model_version,
                "instance_type": plan.instance_type,
                "instance_types": list(plan.spec.types),
                "dataset": plan.dataset.hash,
                "mode": plan.spec.mode,
                "params": {n: [str(v) for v in values] for n, values in plan.spec.params},
                "fixed": dict(plan.spec.fixed),
                "estimated_cost_usd": plan.total_cost,
                "estimated_wall_seconds": plan.wall_seconds,
            }
            if plan.spot:
                spec["spot"] = dict(plan.spot)
            new = [
                NewJob(
                    name=name,
                    model_id=plan.model_id,
                    model_version=plan.model_version,
                    instance_type=plan.job_type(job),
                    hyperparameters=job.hyperparameters,
                    dataset_version_id=plan.dataset.id,
                    priority=priority,
                    estimated_seconds=job.raw_estimated_seconds,
                )
                for name, job in zip(names, plan.jobs, strict=False)
            ]
            return self.store.add_sweep(spec, new)

    def clone_job(self, name: str, changes: Mapping[str, str], *, instance_type: str | None = None) -> Job:
        """Queue a copy of a job with some hyperparameters changed (same presets and "kxr" alpha
        syntax as sweeps). Raises SweepError for invalid values."""
        with self._lock:
            source = self._job(name)
            instance = instance_type or source.instance_type
            recipe = self.recipe(source.model_id, source.model_version)
            params = dict(source.hyperparameters)
            for key, raw in changes.items():
                values = parse_values(key, str(raw))
                if len(values) != 1:
                    raise SweepError([f"{key}: give one value to clone with, got {len(values)}"])
                value = values[0]
                if isinstance(value, str):
                    params[key] = value
                else:
                    r = params.get("lora_r") or recipe.defaults_for(instance).get("lora_r", "")
                    try:
                        params[key] = value.resolve(int(r))
                    except ValueError:
                        raise SweepError([f"lora_alpha: {value} needs a whole-number lora_r"]) from None
            dataset = self.store.dataset_version(source.dataset_version_id) if source.dataset_version_id else None
            errors = validate_hyperparameters(recipe, params, instance, dataset.format if dataset else None)
            if errors:
                raise SweepError([str(e) for e in errors])
            size = DatasetSize.from_counts(dataset.counts if dataset else None)
            estimated = estimate_job_seconds(source.model_id, instance, params, size)
            new_name = next_job_names(self.store, self.prefix, 1)[0]
            return self.store.add_job(
                NewJob(
                    name=new_name,
                    model_id=source.model_id,
                    model_version=source.model_version,
                    instance_type=instance,
                    hyperparameters=params,
                    sweep_id=source.sweep_id,
                    dataset_version_id=source.dataset_version_id,
                    priority=source.priority,
                    estimated_seconds=estimated,
                )
            )

    # -- queue operations ------------------------------------------------------------------------

    def _job(self, name: str) -> Job:
        job = self.store.job(name)
        if job is None:
            raise JobsError(f"no job named {name!r} in this session")
        return job

    def stop(self, name: str) -> Job:
        """Cancel a queued job, or stop a running one (it ends Stopped); its data are kept."""
        from botocore.exceptions import BotoCoreError, ClientError

        with self._lock:
            job = self._job(name)
            if job.status == QUEUED:
                if not self.store.cancel_queued_job(job.id, "stopped before launch"):
                    raise JobsError(f"{name} left the queue meanwhile; try again")
            elif job.status == IN_PROGRESS:
                try:
                    self.client("sagemaker").stop_training_job(TrainingJobName=name)
                except ClientError as exc:
                    self._refresh_one(job)
                    raise JobsError(
                        f"cannot stop {name}: {exc.response.get('Error', {}).get('Message', exc)}"
                    ) from None
                except BotoCoreError as exc:
                    raise JobsError(f"cannot stop {name}: {exc}") from None
                self.store.update_job(job.id, status=STOPPING, secondary_status="Stopping")
            elif job.status == LAUNCHING:
                raise JobsError(f"{name} is being launched right now; stop it again in a moment")
            elif job.status != STOPPING:
                raise JobsError(f"{name} has already ended ({job.status})")
            return self._job(name)

    def set_priority(self, name: str, priority: int) -> Job:
        job = self._job(name)
        self.store.set_job_priority(job.id, priority)
        return self._job(name)

    def move(self, name: str, delta: int) -> list[Job]:
        """Move a queued job `delta` places (negative = earlier) in the dispatch order."""
        with self._lock:
            queue = self.store.queued_jobs()
            ids = [j.id for j in queue]
            job = self._job(name)
            if job.id not in ids:
                raise JobsError(f"{name} is not waiting in the queue ({job.status})")
            i = ids.index(job.id)
            j = min(max(i + delta, 0), len(ids) - 1)
            ids.insert(j, ids.pop(i))
            self.store.reorder_queue(ids)
            return self.store.queued_jobs()

    # -- the loop --------------------------------------------------------------------------------

    def tick(self, *, dispatch: bool = True, metrics: bool = True) -> TickSummary:
        """One round: reconcile (first time), poll statuses, launch into free slots, fetch metrics."""
        with self._lock:
            before = Counter(self._calls)
            summary = TickSummary()
            if not self._reconciled:
                self._reconcile(summary)
            else:
                self._poll(summary)
            if dispatch:
                self._dispatch(summary)
            if metrics:
                self._poll_metrics(summary)
            summary.api_calls = Counter(self._calls) - before
            return summary

    def _poll_metrics(self, summary: TickSummary) -> None:
        """Fetch metrics and log lines, backing off (doubling, up to `backoff_max`) while throttled."""
        now = self.clock()
        if now < self._metrics_resume_at:
            summary.throttled = True
            return
        rnd = self.metrics.poll()
        summary.new_points = rnd.points
        summary.updated_jobs = rnd.updated_jobs
        summary.throttled |= rnd.throttled
        summary.errors += rnd.errors
        if rnd.throttled:
            self._metrics_backoff = min(self.backoff_max, max(self.backoff_base, self._metrics_backoff * 2))
            self._metrics_resume_at = now + self._metrics_backoff
        else:
            self._metrics_backoff = 0.0

    def refresh(self) -> TickSummary:
        """Poll and fetch metrics without launching anything."""
        return self.tick(dispatch=False)

    def reconcile(self) -> TickSummary:
        with self._lock:
            summary = TickSummary()
            self._reconcile(summary)
            return summary

    def watch(
        self,
        *,
        interval: float = 5.0,
        until_idle: bool = True,
        on_tick: Callable[[TickSummary], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Tick every `interval` seconds until nothing is queued, running or left to fetch."""
        stop = stop or threading.Event()
        while not stop.is_set():
            summary = self.tick()
            if on_tick is not None:
                on_tick(summary)
            if until_idle and self.idle():
                return
            stop.wait(interval)

    def idle(self) -> bool:
        """Nothing queued, running, or with metrics still to fetch (console runs are never polled: not waited on)."""
        console = self.store.console_run_ids()
        return not any(
            not j.is_final or (not j.monitor_done and j.arn is not None)
            for j in self.store.jobs()
            if j.id not in console
        )

    # -- reconcile and poll ----------------------------------------------------------------------

    def _list_jobs(self, wanted: set[str]) -> dict[str, dict[str, Any]]:
        """The session's jobs from ListTrainingJobs (newest first), stopping once `wanted` are all seen.
        (No CreationTimeAfter filter: moto's server fails on it.)"""
        kwargs: dict[str, Any] = {
            "NameContains": self.prefix,
            "MaxResults": 100,
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
        }
        found: dict[str, dict[str, Any]] = {}
        client = self.client("sagemaker")
        while True:
            page = client.list_training_jobs(**kwargs)
            for item in page.get("TrainingJobSummaries", []):
                found[item["TrainingJobName"]] = item
            token = page.get("NextToken")
            if not token or wanted <= set(found):
                return found
            kwargs["NextToken"] = token

    def _reconcile(self, summary: TickSummary) -> None:
        summary.reconciled = True
        try:
            self._poll(summary, full=True)
        finally:
            if not summary.throttled and not summary.errors:
                self._reconciled = True

    def _poll(self, summary: TickSummary, *, full: bool = False) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        now = self.clock()
        if now < self._poll_resume_at:
            summary.throttled = True
            return
        active = self.store.jobs(ACTIVE_STATUSES)
        if not active:
            return
        try:
            listed = self._list_jobs({j.name for j in active})
            for job in active:
                item = listed.get(job.name)
                if item is None:
                    self._unlisted(job, now, summary, full)
                elif self._needs_describe(job, item, now):
                    self._describe_and_store(job, summary)
        except ClientError as exc:
            if is_throttling(exc):
                self._poll_backoff = min(self.backoff_max, max(1.0, self._poll_backoff * 2 or 2.0))
                self._poll_resume_at = now + self._poll_backoff
                summary.throttled = True
            else:
                summary.errors.append(f"sagemaker: {error_code(exc)}: {exc}")
            return
        except BotoCoreError as exc:
            summary.errors.append(f"sagemaker: {exc}")
            return
        self._poll_backoff = 0.0

    def _needs_describe(self, job: Job, item: Mapping[str, Any], now: float) -> bool:
        if job.described_at is None or job.status == LAUNCHING:
            return True
        if item.get("TrainingJobStatus") != job.status:
            return True
        if "SecondaryStatus" in item:
            return bool(item["SecondaryStatus"] != job.secondary_status)
        modified = _ts(item.get("LastModifiedTime"))
        changed = modified is not None and (job.last_modified is None or modified > job.last_modified + 1e-6)
        return changed and now - job.described_at >= self.describe_interval

    def _unlisted(self, job: Job, now: float, summary: TickSummary, full: bool) -> None:
        """An active job the listing does not show: never created, or gone."""
        from botocore.exceptions import ClientError

        if job.status == LAUNCHING and not full and now - (job.launched_at or 0) < STALE_LAUNCH_SECONDS:
            return  # another process may be creating it right now
        try:
            self._describe_and_store(job, summary)
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if error_code(exc) in ("ResourceNotFound", "ValidationException") and "not" in message.lower():
                if job.status == LAUNCHING:
                    self.store.requeue_job(job.id, None, "launch was interrupted; queued again")
                    summary.status_changes.append((job.name, job.status, QUEUED))
                else:
                    self.store.update_job(
                        job.id,
                        status=FAILED,
                        monitor_done=1,
                        failure_reason="SageMaker has no record of this job any more",
                    )
                    summary.status_changes.append((job.name, job.status, FAILED))
                    summary.finished.append(job.name)
            else:
                raise

    def _describe_and_store(self, job: Job, summary: TickSummary) -> None:
        described = self.client("sagemaker").describe_training_job(TrainingJobName=job.name)
        self._store_description(job, described, summary)

    def _store_description(self, job: Job, d: Mapping[str, Any], summary: TickSummary) -> None:
        now = self.clock()
        status = d.get("TrainingJobStatus", job.status)
        fields: dict[str, Any] = {
            "status": status,
            "secondary_status": d.get("SecondaryStatus"),
            "arn": d.get("TrainingJobArn", job.arn),
            "start_time": _ts(d.get("TrainingStartTime")),
            "end_time": _ts(d.get("TrainingEndTime")),
            "last_modified": _ts(d.get("LastModifiedTime")),
            "described_at": now,
            "billable_seconds": d.get("BillableTimeInSeconds"),
        }
        if d.get("FailureReason") or status == FAILED:
            fields["failure_reason"] = d.get("FailureReason")
        artifacts = (d.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if artifacts:
            fields["output_uri"] = artifacts
        if job.request is None:  # adopted after a crash: keep what monitoring needs
            spec = d.get("AlgorithmSpecification") or {}
            fields["request"] = {"AlgorithmSpecification": {"MetricDefinitions": spec.get("MetricDefinitions", [])}}
        if job.launched_at is None:
            fields["launched_at"] = _ts(d.get("CreationTime")) or now
        if d.get("EnableManagedSpotTraining"):
            self._note_interruptions(job, d)
        # The move into Failed is a compare-and-set on the job row: of several processes polling this
        # session with the same stale row, one wins it, and only that one may requeue for memory.
        newly_failed = status == FAILED and job.status != FAILED
        if newly_failed:
            newly_failed = self.store.update_job_if_status(job.id, job.status, **fields)
            if not newly_failed:
                self.store.update_job(job.id, **{k: v for k, v in fields.items() if k != "failure_reason"})
        else:
            self.store.update_job(job.id, **fields)
        old = (job.status, job.secondary_status)
        new = (status, fields["secondary_status"])
        if old != new:
            summary.status_changes.append((job.name, "/".join(filter(None, old)), "/".join(filter(None, new))))
            if status in FINAL_STATUSES and job.status not in FINAL_STATUSES:
                summary.finished.append(job.name)
        if newly_failed and OUT_OF_MEMORY.search(fields.get("failure_reason") or ""):
            self._requeue_for_memory(job, str(fields["failure_reason"]), summary)

    def _note_interruptions(self, job: Job, d: Mapping[str, Any]) -> None:
        transitions = d.get("SecondaryStatusTransitions") or []
        count = sum(1 for t in transitions if t.get("Status") == "Interrupted")
        known = self.spot_interruptions()
        if count and known.get(job.name) != count:
            known[job.name] = count
            self.store.set_meta(SPOT_META_KEY, known)
            self.store.log("warning", "jobs", f"{job.name}: spot capacity reclaimed ({count} interruption(s) so far)")

    def pool(self, job: Job | None = None) -> dict[str, int]:
        """The instance pool: the `[jumpstart.quotas]` table, with the types of the job's sweep; slots
        as looked up (0 where the quota is 0)."""
        types = list(self.config.jumpstart.quotas)
        sweep = self.store.sweep(job.sweep_id) if job is not None and job.sweep_id is not None else None
        for kind in (sweep.spec.get("instance_types") or []) if sweep is not None else []:
            if kind not in types:
                types.append(str(kind))
        return {kind: self.quotas.slots(kind).slots for kind in types}

    def _requeue_for_memory(self, job: Job, reason: str, summary: TickSummary) -> None:
        """A job that failed for CUDA out of memory goes back to the queue, once, on the next larger
        type of the pool; its failure reason says where."""
        done = dict(self.store.get_meta(MEMORY_REQUEUE_META_KEY) or {})
        if job.name in done or job.name in done.values():
            return  # at most once: neither the first failure again nor its requeued copy
        bigger = larger_types(job.instance_type, self.pool(job))
        if not bigger:
            self.store.update_job(
                job.id, failure_reason=f"{reason}\n(out of memory; the pool has no larger type to requeue it on)"
            )
            return
        kind = bigger[0]
        dataset = self.store.dataset_version(job.dataset_version_id) if job.dataset_version_id else None
        size = DatasetSize.from_counts(dataset.counts if dataset else None)
        copy = self.store.add_job(
            NewJob(
                name=next_job_names(self.store, self.prefix, 1)[0],
                model_id=job.model_id,
                model_version=job.model_version,
                instance_type=kind,
                hyperparameters=dict(job.hyperparameters),
                sweep_id=job.sweep_id,
                dataset_version_id=job.dataset_version_id,
                priority=job.priority,
                estimated_seconds=estimate_job_seconds(job.model_id, kind, job.hyperparameters, size),
            )
        )
        done[job.name] = copy.name
        self.store.set_meta(MEMORY_REQUEUE_META_KEY, done)
        change = f"out of memory on {job.instance_type}: requeued once on {kind} as {copy.name}"
        self.store.update_job(job.id, failure_reason=f"{reason}\n({change})")
        self.store.log("warning", "jobs", f"{job.name} {change}")
        summary.requeued.append(copy.name)
        summary.status_changes.append((copy.name, "", QUEUED))

    def _refresh_one(self, job: Job) -> None:
        try:
            self._describe_and_store(job, TickSummary())
        except Exception:  # noqa: BLE001 - best effort after a failed stop
            pass

    # -- dispatch --------------------------------------------------------------------------------

    def _backoff(self, attempts: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, attempts - 1))
        return delay * random.uniform(0.8, 1.2)

    def _dispatch(self, summary: TickSummary) -> None:
        now = self.clock()
        in_use = Counter(j.instance_type for j in self.store.jobs(ACTIVE_STATUSES))
        blocked: set[str] = set()
        for job in self.store.queued_jobs():
            kind = job.instance_type
            if kind in blocked:
                continue
            if job.next_attempt_at is not None and job.next_attempt_at > now:
                blocked.add(kind)  # the head of this type's queue is backing off; keep the order
                continue
            if in_use[kind] >= self.quotas.slots(kind).slots:
                blocked.add(kind)
                continue
            if not self.store.claim_job(job.id, now):
                continue
            claimed = self.store.job(job.id)
            if claimed is None:  # deleted since it was queued
                continue
            outcome = self._launch(claimed, summary)
            if outcome == "launched":
                in_use[kind] += 1
            elif outcome == "requeued":
                blocked.add(kind)
            elif outcome == "halted":
                return

    def _tags(self, job: Job, dataset: DatasetVersionRow | None) -> dict[str, str]:
        tags = {TAG_SESSION: self.store.name[:256]}
        if dataset is not None:
            tags[TAG_DATASET] = dataset.hash
        if job.sweep_id is not None:
            sweep = self.store.sweep(job.sweep_id)
            if sweep is not None:
                tags[TAG_SWEEP] = sweep.name
        return tags

    def output_uri(self) -> str:
        aws = self.config.aws
        parts = [p.strip("/") for p in (aws.s3_prefix, self.store.name, "training") if p and p.strip("/")]
        return f"s3://{aws.s3_bucket}/" + "/".join(parts)

    def checkpoint_uri(self) -> str:
        """Where spot jobs keep their checkpoints by default (a folder per job under it)."""
        return self.output_uri().removesuffix("/training") + "/checkpoints"

    def spot_of(self, job: Job) -> dict[str, Any] | None:
        """The managed spot settings the job's sweep chose; None when it trains on demand."""
        sweep = self.store.sweep(job.sweep_id) if job.sweep_id is not None else None
        spot = sweep.spec.get("spot") if sweep is not None else None
        return dict(spot) if isinstance(spot, dict) else None

    def spot_interruptions(self) -> dict[str, int]:
        """How many times SageMaker interrupted each spot job so far (from its status transitions)."""
        found = self.store.get_meta(SPOT_META_KEY) or {}
        return {str(k): int(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def _launch(self, job: Job, summary: TickSummary) -> str:
        """Create the training job; "launched", "requeued", "halted" (requeued, and nothing else may
        launch this round: the credentials or permissions are at fault) or "failed"."""
        from botocore.exceptions import BotoCoreError, ClientError

        now = self.clock()
        try:
            self._check_launch_settings()
            recipe = self.recipe(job.model_id, job.model_version)
            dataset = self.store.dataset_version(job.dataset_version_id) if job.dataset_version_id else None
            if dataset is None or not dataset.train_s3_uri:
                raise JobsError("its dataset version is missing or was never uploaded to S3")
            request = build_training_request(
                recipe,
                job_name=job.name,
                role_arn=self.config.aws.role_arn,
                instance_type=job.instance_type,
                hyperparameters=job.hyperparameters,
                train_s3_uri=dataset.train_s3_uri,
                validation_s3_uri=dataset.validation_s3_uri,
                output_s3_uri=self.output_uri(),
                accept_eula=self.eula_accepted(recipe.model_id),
                tags=self._tags(job, dataset),
                spot=self.spot_of(job),
            )
        except (JobsError, RecipeError, TrainingRequestError, ValueError) as exc:
            self.store.update_job(job.id, status=FAILED, failure_reason=f"not launched: {exc}", monitor_done=1)
            summary.failed_to_launch.append(job.name)
            summary.status_changes.append((job.name, LAUNCHING, FAILED))
            return "failed"
        try:
            response = self.client("sagemaker").create_training_job(**request)
        except ClientError as exc:
            code = error_code(exc)
            message = str(exc.response.get("Error", {}).get("Message", exc))
            if code in REQUEUE_CODES or code in ACCOUNT_CODES or is_throttling(exc):
                self.store.requeue_job(job.id, now + self._backoff(job.attempts), f"{code}: {message}")
                summary.requeued.append(job.name)
                if code in ACCOUNT_CODES:
                    summary.errors.append(
                        f"sagemaker: {code}: {message} (jobs stay queued until the AWS "
                        "credentials or permissions are fixed)"
                    )
                    return "halted"
                return "requeued"
            if code == "ResourceInUse":  # created by an earlier, interrupted attempt
                self.store.update_job(job.id, request=request, output_uri=self.output_uri())
                try:
                    current = self.store.job(job.id)
                    if current is not None:
                        self._describe_and_store(current, summary)
                except (ClientError, BotoCoreError) as failed:  # the next poll describes it
                    summary.errors.append(f"sagemaker: {error_code(failed) or type(failed).__name__}: {failed}")
                return "launched"
            self.store.update_job(job.id, status=FAILED, failure_reason=f"{code}: {message}", monitor_done=1)
            summary.failed_to_launch.append(job.name)
            summary.status_changes.append((job.name, LAUNCHING, FAILED))
            return "failed"
        except BotoCoreError as exc:  # network trouble: try again later
            self.store.requeue_job(job.id, now + self._backoff(job.attempts), f"{type(exc).__name__}: {exc}")
            summary.requeued.append(job.name)
            return "requeued"
        launch_ms = int(now * 1000)
        self.store.update_job(
            job.id,
            status=IN_PROGRESS,
            secondary_status="Starting",
            arn=response.get("TrainingJobArn"),
            request=request,
            output_uri=self.output_uri(),
            failure_reason=None,
            next_attempt_at=None,
            logs_cursor_ms=launch_ms,
            metrics_cursor_ms=launch_ms,
            launched_at=now,
        )
        summary.launched.append(job.name)
        summary.status_changes.append((job.name, LAUNCHING, IN_PROGRESS))
        return "launched"

    # -- what the pane shows ---------------------------------------------------------------------

    def rows(self, now: float | None = None, *, jobs: Sequence[Job] | None = None) -> list[JobRow]:
        now = self.clock() if now is None else now
        rows = []
        console = self.store.console_run_ids()
        spot_sweeps, interruptions = self.spot_sweeps(), self.spot_interruptions()
        for job in self.store.jobs() if jobs is None else jobs:
            curves = job_curves(self.store, job.id)
            rows.append(
                JobRow(
                    job=job,
                    summary=summarize(job.hyperparameters),
                    elapsed_s=job.elapsed_seconds(now),
                    eta_s=job_eta_seconds(job, now),
                    cost_usd=None if job.id in console else job_cost(job, self.prices, now),
                    curves=curves,
                    assessment=curves.assessment(),
                    console=job.id in console,
                    spot=spot_words(job, interruptions) if spot_sweeps.get(job.sweep_id) else "",
                )
            )
        return rows

    def spot_sweeps(self) -> dict[int | None, bool]:
        """Sweep id -> whether its jobs train on managed spot (one read of the sweeps)."""
        return {sweep.id: isinstance(sweep.spec.get("spot"), dict) for sweep in self.store.sweeps()}

    def cost_meter(self, now: float | None = None) -> CostMeter:
        return cost_meter(
            self.store.jobs(),
            self.store.endpoints_for_billing(),
            self.prices,
            self.clock() if now is None else now,
            console_runs=self.store.console_run_ids(),
        )

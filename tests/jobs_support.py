"""Helpers shared by test_jobs.py and test_metrics.py: a session with a dataset in the AWS emulator
and a JobsService tuned for the emulator's fast clock."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import Config
from core.store import Store
from core.training.jobs import JobsService, SweepSpec, TickSummary

if TYPE_CHECKING:
    from collections.abc import Callable

SPEC_ROOT = Path(__file__).parent / "data" / "jumpstart"
MODEL = "meta-textgeneration-llama-3-2-3b"
INSTANCE = "ml.g5.2xlarge"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
STEP_LINE = re.compile(r"Training Epoch: (\d+)/(\d+), step (\d+)/(\d+) completed \(loss: ([0-9.eE+-]+)\)")
TRAIN_LOSS = re.compile(r"train_epoch_loss=([0-9\.]+)")
EVAL_LOSS = re.compile(r"eval_epoch_loss=tensor\(([0-9\.]+)")


def make_store(tmp_path: Path, name: str = "s1") -> Store:
    return Store(tmp_path / name / "session.db", name)


def add_dataset(store: Store, aws, *, rows: int = 40, prefix: str = "ds", counts: dict | None = None):
    """Upload an instruction dataset (jsonl + template) to the emulator's bucket and record its version."""
    s3 = aws.client("s3")
    lines = [
        json.dumps({"instruction": f"How do I fix problem {i}?", "context": "", "response": f"Step {i}."})
        for i in range(rows)
    ]
    s3.put_object(Bucket=aws.bucket, Key=f"{prefix}/train/train.jsonl", Body="\n".join(lines).encode())
    template = {"prompt": "### Instruction:\n{instruction}\n\n### Input:\n{context}", "completion": " {response}"}
    s3.put_object(Bucket=aws.bucket, Key=f"{prefix}/train/template.json", Body=json.dumps(template).encode())
    return store.add_dataset_version(
        f"{prefix}-{rows}-hash",
        "instruction",
        s3_uri=f"s3://{aws.bucket}/{prefix}/",
        train_s3_uri=f"s3://{aws.bucket}/{prefix}/train/",
        counts=counts or {"train": rows},
    )


def make_config(aws=None, quotas: dict | None = None) -> Config:
    config = Config()
    config.emulated = True  # the sandbox switch: emulator timing and the bundled specs
    if aws is not None:
        config.aws.endpoint_url = aws.endpoint_url
        config.aws.role_arn = aws.role_arn
        config.aws.s3_bucket = aws.bucket
    else:
        config.aws.endpoint_url = "http://127.0.0.1:9"  # nothing listens: any AWS call would fail
        config.aws.role_arn = "arn:aws:iam::123456789012:role/r"
        config.aws.s3_bucket = "bucket"
    config.jumpstart.quotas = dict(quotas or {})
    return config


def make_service(store: Store, config: Config, **overrides) -> JobsService:
    settings = dict(
        spec_root=SPEC_ROOT,
        metric_period=1,
        metric_settle_seconds=1.0,
        log_settle_seconds=2.0,
        backoff_base=0.2,
        backoff_max=1.0,
        describe_interval=30.0,
    )
    settings.update(overrides)
    return JobsService(store, config, **settings)


def sweep(service: JobsService, *params: str, accept_eula: bool = True, **spec):
    plan = service.plan_sweep(SweepSpec.from_strings(INSTANCE, list(params), **spec))
    return service.launch_sweep(plan, accept_eula=accept_eula)


def run_until(
    service: JobsService,
    predicate: Callable[[], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.15,
    on_tick: Callable[[TickSummary], None] | None = None,
) -> list[TickSummary]:
    summaries = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = service.tick()
        summaries.append(summary)
        if on_tick is not None:
            on_tick(summary)
        if predicate():
            return summaries
        time.sleep(interval)
    raise AssertionError(f"timed out; jobs: {[(j.name, j.status, j.failure_reason) for j in service.store.jobs()]}")


def log_lines(aws, job_name: str) -> list[str]:
    """Every message of the job's first log stream, read straight from the emulator."""
    logs = aws.client("logs")
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job_name}/")["logStreams"]
    messages: list[str] = []
    kwargs = {"logGroupName": LOG_GROUP, "logStreamName": streams[0]["logStreamName"], "startFromHead": True}
    while True:
        page = logs.get_log_events(**kwargs)
        messages += [e["message"] for e in page["events"]]
        if page.get("nextForwardToken") in (None, kwargs.get("nextToken")) or not page["events"]:
            return messages
        kwargs["nextToken"] = page["nextForwardToken"]


def logged_step_losses(messages: list[str]) -> list[float]:
    """Step losses in step order, one per (epoch, step), as the log lines say."""
    seen: dict[tuple[int, int], float] = {}
    for message in messages:
        for m in STEP_LINE.finditer(message):
            seen.setdefault((int(m.group(1)), int(m.group(3))), float(m.group(5)))
    return [seen[k] for k in sorted(seen)]

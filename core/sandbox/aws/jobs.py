"""Training job lifecycle on top of moto's SageMaker backend.

moto records a job and reports it Completed at once; here each job instead runs a schedule on the
emulator's compressed clock (E = seconds per epoch, captured when the job is created):

  InProgress/Starting     0    .. 0.6 E
  InProgress/Downloading  0.6E .. 1.0 E   (TrainingStartTime; input channels are read at its end)
  InProgress/Training     the simulated container (core.sandbox.aws.trainer): log lines, metrics
  InProgress/Uploading    0.4 E           (model artifacts written to S3)
  Completed | Failed | Stopping -> Stopped

Managed spot training (EnableManagedSpotTraining): refused unless StoppingCondition has
MaxWaitTimeInSeconds >= MaxRuntimeInSeconds, as SageMaker does. With `spot_interruptions` = n (the
emulator's knob, 0 by default) training is interrupted n times, at k/(n+1) of its length: the
secondary status is Interrupted for SPOT_PAUSE_SHARE E, then Training again (resumed from the
checkpoint), the rest of the run shifted by the pause. A spot job's BillableTimeInSeconds is its
TrainingTimeInSeconds times (1 - SPOT_SAVINGS), the way SageMaker reports spot savings.

State lives on moto's FakeTrainingJob (so Describe/List reflect it); the schedule lives here.
"""

from __future__ import annotations

import copy
import io
import json
import re
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any

from core.sandbox.aws import s3 as aws_s3
from core.sandbox.aws.context import AwsContext, utc
from core.sandbox.aws.errors import AwsError
from core.sandbox.aws.quotas import TRAINING, limit_exceeded_message, quota_name
from core.sandbox.aws.trainer import ContainerInputs, TrainingPlan, plan_training

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
METRIC_NAMESPACE = "/aws/sagemaker/TrainingJobs"
STARTING_SHARE = 0.6
DOWNLOADING_SHARE = 0.4
UPLOADING_SHARE = 0.4
STOPPING_SHARE = 0.3
SPOT_PAUSE_SHARE = 0.5
SPOT_SAVINGS = 0.7  # the emulator's spot price: 70% below on-demand
ACTIVE = ("InProgress", "Stopping")
TRAINING_CHANNELS = ("training", "train")

MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "Interrupted": "Training job interrupted: the spot capacity was reclaimed",
    "Resumed": "Training resumed from the checkpoint on new spot capacity",
}
MODEL_FILES = {
    "config.json": json.dumps(
        {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "torch_dtype": "bfloat16",
            "note": "tunedeck emulator placeholder",
        },
        indent=2,
    ),
    "generation_config.json": json.dumps({"bos_token_id": 128000, "eos_token_id": [128001, 128009]}),
    "tokenizer_config.json": json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}),
    "model-00001-of-00001.safetensors": "placeholder weights written by the tunedeck AWS emulator",
    "code/inference.py": "# placeholder inference script written by the tunedeck AWS emulator\n",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _camel(snake: str) -> str:
    return "".join(word.title() for word in snake.split("_"))


@dataclass
class JobRun:
    name: str
    request: dict[str, Any]
    created: float
    epoch_seconds: float
    instance_type: str
    instance_count: int
    phase: str = "Starting"
    t_download: float = 0.0
    t_container: float = 0.0
    t_exit: float = 0.0
    t_done: float = 0.0
    t_started: float | None = None
    plan: TrainingPlan | None = None
    emitted: int = 0
    streams: list[str] = field(default_factory=list)
    metric_regexes: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)
    last_metrics: dict[str, tuple[float, float]] = field(default_factory=dict)
    spot: bool = False
    interruptions: int = 0  # still to come (set when training starts)
    interrupt_at: list[float] = field(default_factory=list)
    t_resume: float = 0.0

    @property
    def finished(self) -> bool:
        return self.phase in ("Completed", "Failed", "Stopped")


class TrainingJobs:
    def __init__(self, ctx: AwsContext) -> None:
        self.ctx = ctx
        self.runs: dict[str, JobRun] = {}

    def reset(self) -> None:
        self.runs.clear()

    # -- API hooks (called by the gateway with ctx.lock held) -----------------------------------

    def check_create(self, request: dict[str, Any]) -> None:
        name = request.get("TrainingJobName", "")
        existing = self.ctx.sagemaker_backend().training_jobs.get(name)
        if existing is not None:
            raise AwsError(
                "ResourceInUse",
                "Training job names must be unique within an AWS account and region, "
                f"and a training job with this name already exists ({existing.arn})",
            )
        if request.get("EnableManagedSpotTraining"):
            stopping = request.get("StoppingCondition") or {}
            wait, runtime = stopping.get("MaxWaitTimeInSeconds"), stopping.get("MaxRuntimeInSeconds") or 86400
            if wait is None or int(wait) < int(runtime):
                raise AwsError(
                    "ValidationException",
                    "Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to "
                    "MaxRuntimeInSeconds when EnableManagedSpotTraining is true",
                )
        resources = request.get("ResourceConfig") or {}
        instance_type = resources.get("InstanceType", "")
        delta = int(resources.get("InstanceCount", 1) or 1)
        if not instance_type:
            return
        limit = self.ctx.quotas.limit(TRAINING, instance_type)
        used = self.instances_in_use(instance_type)
        if used + delta > limit:
            raise AwsError(
                "ResourceLimitExceeded", limit_exceeded_message(quota_name(TRAINING, instance_type), limit, used, delta)
            )

    def instances_in_use(self, instance_type: str) -> int:
        backend = self.ctx.sagemaker_backend()
        used = 0
        for run in self.runs.values():
            job = backend.training_jobs.get(run.name)
            if job is not None and run.instance_type == instance_type and job.training_job_status in ACTIVE:
                used += run.instance_count
        return used

    def adopt(self, request: dict[str, Any]) -> None:
        """Turn moto's freshly created (instantly Completed) job into a running one."""
        name = request["TrainingJobName"]
        job = self.ctx.sagemaker_backend().training_jobs[name]
        now = time.time()
        job.algorithm_specification = copy.deepcopy(request.get("AlgorithmSpecification") or {})
        for key, value in request.items():
            attr = _snake(key)
            if _camel(attr) == key and getattr(job, attr, None) is None:
                setattr(job, attr, copy.deepcopy(value))
        job.creation_time = job.last_modified_time = utc(now)
        job.training_job_status, job.secondary_status = "InProgress", "Starting"
        job.secondary_status_transitions = [
            {"Status": "Starting", "StartTime": utc(now), "StatusMessage": MESSAGES["Starting"]}
        ]
        job.training_start_time = job.training_end_time = None
        job.model_artifacts = None
        job.final_metric_data_list = None
        job.failure_reason = None
        resources = request.get("ResourceConfig") or {}
        E = self.ctx.epoch_seconds
        run = JobRun(
            name=name,
            request=copy.deepcopy(request),
            created=now,
            epoch_seconds=E,
            instance_type=resources.get("InstanceType", ""),
            instance_count=int(resources.get("InstanceCount", 1) or 1),
            spot=bool(request.get("EnableManagedSpotTraining")),
        )
        if run.spot:
            run.interruptions = max(0, int(self.ctx.spot_interruptions))
        run.t_download = now + STARTING_SHARE * E
        run.t_container = run.t_download + DOWNLOADING_SHARE * E
        for definition in (request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []:
            try:
                run.metric_regexes.append((definition["Name"], re.compile(definition["Regex"])))
            except (KeyError, re.error):
                continue
        self.runs[name] = run

    def stop(self, name: str) -> None:
        job = self.ctx.sagemaker_backend().training_jobs.get(name)
        run = self.runs.get(name)
        if job is None:
            raise AwsError("ResourceNotFound", "Requested resource not found.")
        if run is None or job.training_job_status != "InProgress":
            raise AwsError(
                "ValidationException",
                f"The request was rejected because the training job is in status {job.training_job_status}.",
            )
        now = time.time()
        self._advance_run(run, job, now)
        if run.finished:
            raise AwsError(
                "ValidationException",
                f"The request was rejected because the training job is in status {job.training_job_status}.",
            )
        run.phase = "Stopping"
        run.t_done = now + max(0.05, STOPPING_SHARE * run.epoch_seconds)
        job.training_job_status = "Stopping"
        self._transition(job, "Stopping", now)

    # -- the clock --------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        backend = self.ctx.sagemaker_backend()
        for name in list(self.runs):
            run = self.runs[name]
            if run.finished:
                continue
            job = backend.training_jobs.get(name)
            if job is None:  # moto was reset underneath us
                del self.runs[name]
                continue
            try:
                self._advance_run(run, job, now)
            except Exception as exc:  # noqa: BLE001 - a broken run fails instead of hanging InProgress
                self._finish(
                    run,
                    job,
                    "Failed",
                    now,
                    f"InternalServerError: We encountered an internal error. Please try again. ({exc})",
                )

    def _advance_run(self, run: JobRun, job: Any, now: float) -> None:
        while True:
            if run.phase == "Starting" and now >= run.t_download:
                run.phase = "Downloading"
                run.t_started = run.t_download
                job.training_start_time = utc(run.t_download)
                self._transition(job, "Downloading", run.t_download)
            elif run.phase == "Downloading" and now >= run.t_container:
                self._start_container(run, job)
            elif run.phase == "Training" and run.interrupt_at and now >= run.interrupt_at[0]:
                at = run.interrupt_at.pop(0)
                self._emit(run, job, at)
                run.phase = "Interrupted"
                run.t_resume = at + SPOT_PAUSE_SHARE * run.epoch_seconds
                self._transition(job, "Interrupted", at)
            elif run.phase == "Interrupted":
                if now < run.t_resume:
                    return
                pause = SPOT_PAUSE_SHARE * run.epoch_seconds
                run.t_container += pause
                run.t_exit += pause
                run.interrupt_at = [t + pause for t in run.interrupt_at]
                run.phase = "Training"
                self._transition(job, "Training", run.t_resume, MESSAGES["Resumed"])
            elif run.phase == "Training":
                self._emit(run, job, now)
                if run.plan is not None and run.emitted >= len(run.plan.events) and now >= run.t_exit:
                    if run.plan.failure_reason:
                        self._finish(run, job, "Failed", run.t_exit, run.plan.failure_reason)
                    else:
                        run.phase = "Uploading"
                        run.t_done = run.t_exit + UPLOADING_SHARE * run.epoch_seconds
                        self._transition(job, "Uploading", run.t_exit)
                    continue
                return
            elif run.phase == "Uploading" and now >= run.t_done:
                failure = self._upload_artifacts(run, job)
                if failure:
                    self._finish(run, job, "Failed", run.t_done, failure)
                else:
                    self._finish(run, job, "Completed", run.t_done)
            elif run.phase == "Stopping" and now >= run.t_done:
                self._finish(run, job, "Stopped", run.t_done)
            else:
                return

    def _transition(self, job: Any, status: str, at: float, message: str | None = None) -> None:
        transitions = list(job.secondary_status_transitions or [])
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1] = {**transitions[-1], "EndTime": utc(at)}
        entry = {"Status": status, "StartTime": utc(at), "StatusMessage": message or MESSAGES.get(status, status)}
        if status in ("Completed", "Failed", "Stopped"):
            entry["EndTime"] = utc(at)
        transitions.append(entry)
        job.secondary_status_transitions = transitions
        job.secondary_status = status
        job.last_modified_time = utc(at)

    def _finish(self, run: JobRun, job: Any, status: str, at: float, reason: str | None = None) -> None:
        run.phase = status
        job.training_job_status = status
        job.failure_reason = reason
        if run.t_started is not None:
            job.training_end_time = utc(at)
            seconds = max(1, int(round(at - run.t_started)))
            job.billable_time_in_seconds = max(1, int(round(seconds * (1 - SPOT_SAVINGS)))) if run.spot else seconds
            job.training_time_in_seconds = seconds
        if run.last_metrics:
            job.final_metric_data_list = [
                {"MetricName": name, "Value": value, "Timestamp": utc(ts)}
                for name, (value, ts) in run.last_metrics.items()
            ]
        self._transition(job, status, at)

    # -- container --------------------------------------------------------------------------------

    def _channels(self, run: JobRun) -> dict[str, str]:
        channels = {}
        for channel in run.request.get("InputDataConfig") or []:
            source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
            if "S3Uri" in source:
                channels[channel.get("ChannelName", "")] = source["S3Uri"]
        return channels

    def _missing_data_reason(self, run: JobRun, uri: str) -> str:
        bucket, _ = aws_s3.split_s3_uri(uri)
        return (
            f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure '
            f"that the bucket exists in the selected region ({self.ctx.region}), that objects exist under that "
            f'S3 prefix, and that the role "{run.request.get("RoleArn", "")}" has "s3:ListBucket" permissions '
            f'on bucket "{bucket}".'
        )

    def _start_container(self, run: JobRun, job: Any) -> None:
        at = run.t_container
        channels = self._channels(run)
        files: dict[str, dict[str, bytes]] = {}
        for channel_name, uri in channels.items():
            try:
                bucket, _ = aws_s3.split_s3_uri(uri)
            except ValueError:
                self._finish(run, job, "Failed", at, self._missing_data_reason(run, uri))
                return
            if aws_s3.is_jumpstart_bucket(bucket):
                continue
            content = aws_s3.read_prefix(self.ctx, uri)
            if content is None:
                self._finish(run, job, "Failed", at, self._missing_data_reason(run, uri))
                return
            files[channel_name] = content
        training = next((files[c] for c in TRAINING_CHANNELS if c in files), None)
        resources = run.request.get("ResourceConfig") or {}
        inputs = ContainerInputs(
            job_name=run.name,
            hyperparameters=run.request.get("HyperParameters") or {},
            instance_type=resources.get("InstanceType", ""),
            instance_count=run.instance_count,
            training_files=training,
            validation_files=files.get("validation"),
        )
        run.plan = plan_training(inputs, epoch_seconds=run.epoch_seconds, clock_start=at)
        run.t_exit = at + run.plan.duration
        if run.spot and run.interruptions:
            n = run.interruptions
            run.interrupt_at = [at + run.plan.duration * k / (n + 1) for k in range(1, n + 1)]
        run.phase = "Training"
        self._transition(job, "Training", at)
        self._create_streams(run, at)

    def _create_streams(self, run: JobRun, at: float) -> None:
        logs = self.ctx.client("logs")
        try:
            logs.create_log_group(logGroupName=LOG_GROUP)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        run.streams = [f"{run.name}/algo-{host}-{int(at)}" for host in range(1, run.instance_count + 1)]
        for stream in run.streams:
            try:
                logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass

    def _emit(self, run: JobRun, job: Any, now: float) -> None:
        plan = run.plan
        if plan is None or not run.streams:
            return
        due = []
        while run.emitted < len(plan.events) and run.t_container + plan.events[run.emitted].offset <= now:
            due.append(plan.events[run.emitted])
            run.emitted += 1
        if not due:
            return
        events = []
        datums = []
        for item in due:
            ts = run.t_container + item.offset
            for line in item.message.split("\n"):
                events.append({"timestamp": int(ts * 1000), "message": line})
            for metric_name, regex in run.metric_regexes:
                for match in regex.finditer(item.message):
                    try:
                        value = float(match.group(1))
                    except (IndexError, ValueError):
                        continue
                    run.last_metrics[metric_name] = (value, ts)
                    datums.append(
                        {
                            "MetricName": metric_name,
                            "Timestamp": utc(ts),
                            "Value": value,
                            "Unit": "None",
                            "Dimensions": [{"Name": "TrainingJobName", "Value": run.name}],
                        }
                    )
        self.ctx.client("logs").put_log_events(logGroupName=LOG_GROUP, logStreamName=run.streams[0], logEvents=events)
        for start in range(0, len(datums), 500):
            self.ctx.client("cloudwatch").put_metric_data(
                Namespace=METRIC_NAMESPACE, MetricData=datums[start : start + 500]
            )
        job.last_modified_time = utc(run.t_container + due[-1].offset)

    def _upload_artifacts(self, run: JobRun, job: Any) -> str | None:
        output = run.request.get("OutputDataConfig") or {}
        base = str(output.get("S3OutputPath", "")).rstrip("/")
        prefix = f"{base}/{run.name}/output"
        try:
            bucket, _ = aws_s3.split_s3_uri(prefix)
        except ValueError:
            return f"ClientError: Invalid S3OutputPath {base!r}"
        if not aws_s3.bucket_exists(self.ctx, bucket):
            return (
                f"ClientError: An error occurred (NoSuchBucket) when uploading the model artifacts to "
                f"{prefix}/: The specified bucket does not exist"
            )
        if str(output.get("CompressionType", "GZIP")).upper() == "NONE":
            for relative, text in MODEL_FILES.items():
                aws_s3.put_object(self.ctx, f"{prefix}/model/{relative}", text.encode())
            job.model_artifacts = {"S3ModelArtifacts": f"{prefix}/model/"}
        else:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                for relative, text in MODEL_FILES.items():
                    data = text.encode()
                    info = tarfile.TarInfo(relative)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            aws_s3.put_object(self.ctx, f"{prefix}/model.tar.gz", buffer.getvalue())
            job.model_artifacts = {"S3ModelArtifacts": f"{prefix}/model.tar.gz"}
        return None

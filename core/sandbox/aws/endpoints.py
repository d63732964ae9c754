"""Endpoint configs and endpoints on top of moto's SageMaker backend.

moto validates endpoint-config instance types against an old enum (no g5/g6/p4d/p5) and reports new
endpoints InService at once. Here instance types are checked against botocore's current enum, and an
endpoint goes Creating -> InService (or Failed when its model data is missing from the emulator's S3)
after `endpoint_seconds`, and Deleting -> gone after a quarter of that.
"""

from __future__ import annotations

import copy
import functools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.sandbox.aws import lmi as aws_lmi
from core.sandbox.aws import s3 as aws_s3
from core.sandbox.aws.context import AwsContext, utc
from core.sandbox.aws.errors import AwsError
from core.sandbox.aws.quotas import ENDPOINT, known_instance_types, limit_exceeded_message, quota_name
from core.sandbox.llm.engine import tuned_reply

if TYPE_CHECKING:
    from core.sandbox.aws.jobs import TrainingJobs
    from core.sandbox.llm.engine import Training

TRAINING_CHANNELS = ("training", "train")
LIVE = ("Creating", "InService", "Updating", "SystemUpdating", "Deleting")
MOTO_ACCEPTED_PLACEHOLDER = "ml.m5.large"


@functools.lru_cache(maxsize=1)
def _variant_instance_types() -> frozenset[str]:
    return frozenset(known_instance_types(ENDPOINT))


@dataclass
class EndpointRecord:
    name: str
    usage: dict[str, int]
    t_ready: float
    models: list[str] = field(default_factory=list)
    t_gone: float | None = None
    training: Training | None = None
    training_read: bool = False


class Endpoints:
    def __init__(self, ctx: AwsContext) -> None:
        self.ctx = ctx
        self.records: dict[str, EndpointRecord] = {}

    def reset(self) -> None:
        self.records.clear()

    # -- endpoint configs -------------------------------------------------------------------------

    def prepare_config(self, request: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Validate variants; return a request moto accepts and the variants to restore afterwards."""
        variants = copy.deepcopy(request.get("ProductionVariants") or [])
        allowed = _variant_instance_types()
        for variant in variants:
            instance_type = variant.get("InstanceType")
            if instance_type is not None and instance_type not in allowed:
                raise AwsError(
                    "ValidationException",
                    f"1 validation error detected: Value '{instance_type}' at "
                    "'productionVariants.1.member.instanceType' failed to satisfy constraint: "
                    f"Member must satisfy enum value set: [{', '.join(sorted(allowed))}]",
                )
        for_moto = copy.deepcopy(request)
        for variant in for_moto.get("ProductionVariants") or []:
            if "InstanceType" in variant:
                variant["InstanceType"] = MOTO_ACCEPTED_PLACEHOLDER
        return for_moto, variants

    def restore_config(self, name: str, variants: list[dict[str, Any]]) -> None:
        config = self.ctx.sagemaker_backend().endpoint_configs.get(name)
        if config is not None:
            config.production_variants = variants

    # -- endpoints --------------------------------------------------------------------------------

    def _usage_of_config(self, config_name: str) -> tuple[dict[str, int], list[str]]:
        config = self.ctx.sagemaker_backend().endpoint_configs.get(config_name)
        usage: dict[str, int] = {}
        models: list[str] = []
        for variant in config.production_variants if config is not None else []:
            if variant.get("ModelName"):
                models.append(variant["ModelName"])
            instance_type = variant.get("InstanceType")
            if instance_type:
                usage[instance_type] = usage.get(instance_type, 0) + int(variant.get("InitialInstanceCount", 1) or 1)
        return usage, models

    def instances_in_use(self, instance_type: str) -> int:
        backend = self.ctx.sagemaker_backend()
        used = 0
        for record in self.records.values():
            endpoint = backend.endpoints.get(record.name)
            if endpoint is not None and endpoint.endpoint_status in LIVE:
                used += record.usage.get(instance_type, 0)
        return used

    def check_create(self, request: dict[str, Any]) -> None:
        name = request.get("EndpointName", "")
        backend = self.ctx.sagemaker_backend()
        if name in backend.endpoints:
            raise AwsError(
                "ValidationException", f'Cannot create already existing endpoint "{backend.endpoints[name].arn}".'
            )
        usage, _ = self._usage_of_config(request.get("EndpointConfigName", ""))
        for instance_type, delta in usage.items():
            limit = self.ctx.quotas.limit(ENDPOINT, instance_type)
            used = self.instances_in_use(instance_type)
            if used + delta > limit:
                raise AwsError(
                    "ResourceLimitExceeded",
                    limit_exceeded_message(quota_name(ENDPOINT, instance_type), limit, used, delta),
                )

    def adopt(self, request: dict[str, Any]) -> None:
        name = request["EndpointName"]
        endpoint = self.ctx.sagemaker_backend().endpoints[name]
        now = time.time()
        usage, models = self._usage_of_config(request.get("EndpointConfigName", ""))
        endpoint.endpoint_status = "Creating"
        endpoint.creation_time = endpoint.last_modified_time = utc(now)
        self.records[name] = EndpointRecord(
            name=name, usage=usage, models=models, t_ready=now + max(0.0, self.ctx.endpoint_seconds)
        )

    def delete(self, name: str) -> bool:
        """Start deleting a known endpoint; False when moto should answer (unknown endpoint)."""
        endpoint = self.ctx.sagemaker_backend().endpoints.get(name)
        if endpoint is None:
            return False
        now = time.time()
        record = self.records.get(name)
        if record is None:
            record = self.records[name] = EndpointRecord(name=name, usage={}, t_ready=now)
        if record.t_gone is None:
            record.t_gone = now + max(0.05, self.ctx.endpoint_seconds / 4)
            endpoint.endpoint_status = "Deleting"
            endpoint.last_modified_time = utc(now)
        return True

    def advance(self, now: float) -> None:
        backend = self.ctx.sagemaker_backend()
        for name in list(self.records):
            record = self.records[name]
            endpoint = backend.endpoints.get(name)
            if endpoint is None:
                del self.records[name]
                continue
            if record.t_gone is not None:
                if now >= record.t_gone:
                    backend.endpoints.pop(name, None)
                    del self.records[name]
                continue
            if endpoint.endpoint_status == "Creating" and now >= record.t_ready:
                reason = self._missing_model_data(record)
                endpoint.endpoint_status = "Failed" if reason else "InService"
                endpoint.failure_reason = reason
                endpoint.last_modified_time = utc(record.t_ready)

    def _model_data(self, record: EndpointRecord) -> list[tuple[int, str]]:
        """(container number, S3 URI) of the model data behind an endpoint, outside JumpStart's own buckets."""
        models = getattr(self.ctx.sagemaker_backend(), "_models", {})
        found: list[tuple[int, str]] = []
        for model_name in record.models:
            model = models.get(model_name)
            if model is None:
                continue
            containers = [model.primary_container] if getattr(model, "primary_container", None) else []
            containers += list(getattr(model, "containers", None) or [])
            for index, container in enumerate(containers, start=1):
                uri = container.get("ModelDataUrl") or (
                    ((container.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
                )
                if not uri or not str(uri).startswith("s3://"):
                    continue
                bucket, _ = aws_s3.split_s3_uri(uri)
                if not aws_s3.is_jumpstart_bucket(bucket):
                    found.append((index, str(uri)))
        return found

    def _missing_model_data(self, record: EndpointRecord) -> str | None:
        for index, uri in self._model_data(record):
            if not aws_s3.list_keys(self.ctx, uri):
                return (
                    f'Failed to download model data for container "container_{index}" from URL: "{uri}". '
                    "Please ensure that there is an object located at the URL and that the role passed "
                    "to CreateModel has permissions to download the object."
                )
        return None

    def training(self, name: str, jobs: TrainingJobs) -> Training | None:
        """What the model an endpoint serves learned, or None for a base model (or one no emulated job made).

        Read the way SageMaker would know it: the model data URI leads to the training job that wrote it,
        the job's training channel in S3 holds the dataset, and the trainer's last epoch gives the fit."""
        record = self.records.get(name)
        if record is None:
            return None
        if record.training_read:
            return record.training
        record.training_read = True
        backend = self.ctx.sagemaker_backend()
        for _, uri in self._model_data(record):
            for run in jobs.runs.values():
                job = backend.training_jobs.get(run.name)
                artifacts = str(((job.model_artifacts or {}) if job is not None else {}).get("S3ModelArtifacts") or "")
                if not artifacts or artifacts.rstrip("/") != uri.rstrip("/"):
                    continue
                if run.plan is None or not run.plan.epochs:
                    return None
                last = run.plan.epochs[-1]
                record.training = aws_lmi.training_of(
                    self._training_files(run.request), last.train_loss, last.eval_loss
                )
                return record.training
        return None

    def reply(self, name: str, jobs: TrainingJobs, messages: list[dict], **kwargs: Any) -> str:
        """The served model's reply: answers from what it was trained on (a reply function set on the
        context, as tests do, answers instead)."""
        if self.ctx.reply_fn is not None:
            return self.ctx.reply(messages, **kwargs)
        with self.ctx.lock:
            training = self.training(name, jobs)
        return tuned_reply(messages, training, **kwargs)

    def _training_files(self, request: dict[str, Any]) -> dict[str, bytes] | None:
        for channel in request.get("InputDataConfig") or []:
            if channel.get("ChannelName") in TRAINING_CHANNELS:
                uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
                if uri:
                    return aws_s3.read_prefix(self.ctx, str(uri))
        return None

    def invocable(self, name: str) -> Any:
        """The moto endpoint if it can take invocations, else the error real SageMaker Runtime gives."""
        endpoint = self.ctx.sagemaker_backend().endpoints.get(name)
        if endpoint is None or endpoint.endpoint_status != "InService":
            raise AwsError("ValidationError", f"Endpoint {name} of account {self.ctx.account_id} not found.")
        return endpoint

"""SageMaker real-time endpoints: deploy a finished job's model or the pre-trained base model, list
them with status, cost and uptime, warn about idle ones, delete them.

Deployment follows what the SageMaker SDK sends for a JumpStart model (shared/reference
jumpstart-aws.md 4.5): CreateModel with the spec's hosting image and environment and a
`ModelDataSource` pointing at the model's S3 prefix (JumpStart trains with uncompressed output,
so the fine-tuned model is the job's `output/model/` prefix, with the trailing '/' hosting
requires, `S3DataType` S3Prefix, `CompressionType` None, `ModelAccessConfig.AcceptEula`), then an
endpoint config (one `AllTraffic` variant with the spec's start-up and download timeouts), then
the endpoint.

Money first: `plan_finetuned` / `plan_base` return a `DeployPlan` with the hourly price and the
requests it will send; the UI shows `plan.cost_lines()` and calls `deploy(plan)` only once the
user confirms. Every call here blocks (boto3): run them in a worker thread.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.aws_identity import aws_client
from core.safe_text import one_line
from core.training.prices import PriceTable
from core.training.recipe import Recipe, load_recipe, spec_root_for
from core.training.request import decode_hyperparameters

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from core.config import Config
    from core.store import Store
    from core.store.endpoints import EndpointRow

VARIANT_NAME = "AllTraffic"
STARTUP_HEALTH_CHECK_TIMEOUT_S = 1200  # JumpStart spec deploy_kwargs for Llama 3.x
MODEL_DATA_DOWNLOAD_TIMEOUT_S = 1200
DEFAULT_IDLE_MINUTES = 30
ENDPOINT_CUSTOM_ATTRIBUTES_EULA = "accept_eula=true"
PROMPT_FORMATS = ("messages", "llama3-chat", "instruction")
LIVE_STATUSES = ("Creating", "InService", "Updating", "SystemUpdating", "RollingBack", "Deleting")

_NAME_OK = re.compile(r"[^a-zA-Z0-9-]+")


class EndpointError(Exception):
    """A deployment or endpoint operation cannot go on; the message says why."""


class EulaNotAccepted(EndpointError):
    """The base model is gated: its licence must be accepted before it is deployed."""


def hourly_price(config: Config, instance_type: str) -> float | None:
    """USD per hour for one instance: the config's [jumpstart.prices], else core.training.prices' table."""
    return PriceTable(config.jumpstart.prices).price(instance_type)


def resource_name(base: str, *, suffix: str | None = None, limit: int = 63) -> str:
    """A SageMaker resource name ([a-zA-Z0-9-], at most 63) from `base`, with a time suffix."""
    suffix = suffix if suffix is not None else time.strftime("%m%d-%H%M%S", time.gmtime())
    stem = _NAME_OK.sub("-", base).strip("-") or "tunedeck"
    stem = stem[: max(1, limit - len(suffix) - 1)].rstrip("-")
    return f"{stem}-{suffix}"


def model_prefix(artifacts_uri: str, compression: str | None) -> tuple[str, str, str]:
    """(S3Uri, S3DataType, CompressionType) for a training job's model artifacts.

    Uncompressed output is a prefix and hosting wants it with a trailing '/'; some services
    (moto) still report `.../output/model.tar.gz` for such jobs, which is mapped to `.../output/model/`.
    """
    uri = artifacts_uri.strip()
    if str(compression or "").upper() == "NONE":
        if uri.endswith("/model.tar.gz"):
            uri = uri[: -len("model.tar.gz")] + "model/"
        return (uri if uri.endswith("/") else uri + "/"), "S3Prefix", "None"
    if uri.endswith(".tar.gz"):
        return uri, "S3Object", "Gzip"
    return (uri if uri.endswith("/") else uri + "/"), "S3Prefix", "None"


def instruction_template_from(dataset_template: str | None) -> str | None:
    """The prompt of a dataset version's template.json (or the template text itself)."""
    if not dataset_template:
        return None

    try:
        data = json.loads(dataset_template)
    except (json.JSONDecodeError, TypeError):
        return dataset_template if "{instruction}" in dataset_template else None
    prompt = data.get("prompt") if isinstance(data, dict) else None
    if isinstance(prompt, str):
        return prompt
    return None


def prompt_format_for(model_id: str, hyperparameters: Mapping[str, Any]) -> str:
    """How to prompt a model fine-tuned with these hyperparameters (jumpstart-aws.md 4.3, pitfall 4)."""

    def flag(name: str) -> bool:
        return str(hyperparameters.get(name, "")).strip().strip('"').lower() == "true"

    if flag("instruction_tuned"):
        return "instruction"
    if flag("chat_dataset") or model_id.endswith("-instruct"):
        return "llama3-chat"
    return "instruction"


@dataclass(frozen=True)
class DeployPlan:
    """Everything a deployment will do and cost; built before any money is spent."""

    kind: str  # "finetuned" | "base"
    endpoint_name: str
    model_name: str
    config_name: str
    model_id: str
    model_version: str
    instance_type: str
    image_uri: str
    environment: Mapping[str, str]
    model_data_uri: str
    model_data_type: str
    compression: str
    accept_eula: bool
    role_arn: str
    network_isolation: bool
    prompt_format: str
    instruction_template: str | None
    price_per_hour: float | None
    job_name: str | None = None
    job_id: int | None = None
    eula_uri: str | None = None
    startup_timeout_s: int = STARTUP_HEALTH_CHECK_TIMEOUT_S
    download_timeout_s: int = MODEL_DATA_DOWNLOAD_TIMEOUT_S
    tags: Mapping[str, str] = field(default_factory=dict)

    def cost(self, hours: float) -> float | None:
        return None if self.price_per_hour is None else self.price_per_hour * hours

    def cost_lines(self) -> list[str]:
        """What the confirmation dialog shows."""
        what = f"job {self.job_name}" if self.kind == "finetuned" else f"base model {self.model_id}"
        lines = [f"deploy {what} as endpoint {self.endpoint_name} on 1 x {self.instance_type}"]
        if self.price_per_hour is None:
            lines.append(
                f"price of {self.instance_type} unknown: set it in [jumpstart.prices]; "
                "it is billed per second until you delete the endpoint"
            )
        else:
            lines.append(
                f"${self.price_per_hour:.3f} per hour while it exists: ${self.cost(1):.2f} for an hour, "
                f"${self.cost(24):.2f} per day; billed until you delete it"
            )
        if self.accept_eula and self.kind == "base":
            lines.append(f"accepts the model licence (EULA){': ' + self.eula_uri if self.eula_uri else ''}")
        return lines

    def create_model_request(self) -> dict[str, Any]:
        source: dict[str, Any] = {
            "S3Uri": self.model_data_uri,
            "S3DataType": self.model_data_type,
            "CompressionType": self.compression,
        }
        if self.accept_eula:
            source["ModelAccessConfig"] = {"AcceptEula": True}
        request: dict[str, Any] = {
            "ModelName": self.model_name,
            "ExecutionRoleArn": self.role_arn,
            "PrimaryContainer": {
                "Image": self.image_uri,
                "Environment": dict(self.environment),
                "ModelDataSource": {"S3DataSource": source},
            },
            "EnableNetworkIsolation": self.network_isolation,
        }
        if self.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags.items()]
        return request

    def create_endpoint_config_request(self) -> dict[str, Any]:
        return {
            "EndpointConfigName": self.config_name,
            "ProductionVariants": [
                {
                    "VariantName": VARIANT_NAME,
                    "ModelName": self.model_name,
                    "InstanceType": self.instance_type,
                    "InitialInstanceCount": 1,
                    "ContainerStartupHealthCheckTimeoutInSeconds": self.startup_timeout_s,
                    "ModelDataDownloadTimeoutInSeconds": self.download_timeout_s,
                }
            ],
        }

    def create_endpoint_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"EndpointName": self.endpoint_name, "EndpointConfigName": self.config_name}
        if self.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags.items()]
        return request


@dataclass(frozen=True)
class EndpointStatus:
    """One endpoint as the Endpoints list shows it."""

    name: str
    kind: str
    job_name: str | None
    model_id: str | None
    instance_type: str
    status: str
    prompt_format: str
    price_per_hour: float | None
    uptime_s: float  # since creation (billing runs from creation until deletion)
    cost_so_far: float | None
    idle_s: float | None  # since the last invocation (or since InService); None unless InService
    idle_warning: bool
    failure_reason: str | None
    deleted: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def default_recipe_loader(config: Config) -> Callable[[str, str], Recipe]:
    """Recipes from the JumpStart specs the SDK's way, a `[jumpstart] spec_root` mirror, or the
    bundled offline specs under the demo or sandbox switch (an emulator has no spec bucket)."""
    spec_root = spec_root_for(config)

    def load(model_id: str, model_version: str) -> Recipe:
        return load_recipe(
            model_id, model_version or "*", config.aws.region, spec_root=spec_root, profile=config.aws.profile
        )

    return load


def _aws_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


def _aws_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        return one_line(f"{error.get('Code') or type(exc).__name__}: {error.get('Message') or exc}", 400)
    return one_line(f"{type(exc).__name__}: {exc}", 400)


def _not_found(exc: BaseException) -> bool:
    code = _aws_code(exc)
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).lower() if code else ""
    return code in ("ResourceNotFound", "ValidationException", "ValidationError") and (
        "could not find" in message or "not found" in message or "does not exist" in message
    )


class EndpointManager:
    """Deploy, list, watch and delete endpoints of one session (blocking calls: use a worker thread)."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        sagemaker: Any = None,
        recipe_loader: Callable[[str, str], Recipe] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config
        self._sagemaker = sagemaker
        self._load_recipe = recipe_loader or default_recipe_loader(config)
        self._clock = clock

    @property
    def sagemaker(self) -> Any:
        if self._sagemaker is None:
            from botocore.config import Config as BotoConfig

            self._sagemaker = aws_client(
                self.config.aws, "sagemaker", config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"})
            )
        return self._sagemaker

    # ---- planning --------------------------------------------------------------------------------

    def _role(self) -> str:
        role = self.config.aws.role_arn
        if not role:
            raise EndpointError("no SageMaker execution role: set aws.role_arn in the config (or TUNEDECK_ROLE_ARN)")
        return role

    def _instance(self, recipe: Any, instance_type: str | None) -> str:
        chosen = instance_type or recipe.default_inference_instance_type
        if not chosen:
            raise EndpointError(f"{recipe.model_id} names no inference instance type; choose one")
        supported = tuple(recipe.supported_inference_instance_types or ())
        if supported and chosen not in supported:
            raise EndpointError(f"{chosen} cannot host {recipe.model_id}; supported: {', '.join(supported)}")
        return chosen

    @staticmethod
    def _environment(recipe: Any, instance_type: str) -> dict[str, str]:
        env = dict(recipe.hosting_env)
        env.update(recipe.hosting_env_overrides.get(instance_type, {}))
        return {str(k): str(v) for k, v in env.items()}

    def _check_prompt_format(self, prompt_format: str) -> str:
        if prompt_format not in PROMPT_FORMATS:
            raise EndpointError(f"prompt format must be one of {', '.join(PROMPT_FORMATS)}, not {prompt_format!r}")
        return prompt_format

    def _names(self, base: str, endpoint_name: str | None) -> tuple[str, str, str]:
        name = endpoint_name or resource_name(base)
        if endpoint_name and (len(name) > 63 or _NAME_OK.search(name) or name.startswith("-")):
            raise EndpointError(f"endpoint name {name!r}: use at most 63 letters, digits and '-'")
        if self.store.endpoint(name) is not None:
            raise EndpointError(f"an endpoint named {name!r} is already recorded in this session")
        return name, name, name

    def plan_finetuned(
        self,
        job_name: str,
        *,
        instance_type: str | None = None,
        endpoint_name: str | None = None,
        prompt_format: str | None = None,
    ) -> DeployPlan:
        """The deployment of a completed training job's model (reads the job from SageMaker)."""
        try:
            job = self.sagemaker.describe_training_job(TrainingJobName=job_name)
        except Exception as exc:
            raise EndpointError(f"cannot read training job {job_name}: {_aws_message(exc)}") from None
        status = job.get("TrainingJobStatus")
        if status != "Completed":
            raise EndpointError(f"training job {job_name} is {status}; only a Completed job can be deployed")
        artifacts = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if not artifacts:
            raise EndpointError(f"training job {job_name} reports no model artifacts")
        compression = (job.get("OutputDataConfig") or {}).get("CompressionType")
        uri, data_type, compression_type = model_prefix(artifacts, compression)

        stored = self.store.job_for_deploy(job_name)
        model_id = stored.model_id if stored else ""
        model_version = stored.model_version if stored else "*"
        if not model_id:
            tags = self._tags(job.get("TrainingJobArn"))
            model_id = tags.get("sagemaker-sdk:jumpstart-model-id", "")
            model_version = tags.get("sagemaker-sdk:jumpstart-model-version", "*")
        if not model_id:
            raise EndpointError(f"training job {job_name} does not say which JumpStart model it fine-tuned")
        recipe = self._recipe(model_id, model_version)
        chosen = self._instance(recipe, instance_type)
        if not recipe.hosting_image_uri:
            raise EndpointError(f"{model_id} has no hosting container in its JumpStart spec")

        hyperparameters = decode_hyperparameters(job.get("HyperParameters") or {})
        fmt = self._check_prompt_format(prompt_format or prompt_format_for(model_id, hyperparameters))
        template = (
            instruction_template_from(stored.dataset_template if stored else None) if fmt == "instruction" else None
        )
        name, model_name, config_name = self._names(job_name, endpoint_name)
        return DeployPlan(
            kind="finetuned",
            endpoint_name=name,
            model_name=model_name,
            config_name=config_name,
            model_id=model_id,
            model_version=recipe.model_version,
            instance_type=chosen,
            image_uri=recipe.hosting_image_uri,
            environment=self._environment(recipe, chosen),
            model_data_uri=uri,
            model_data_type=data_type,
            compression=compression_type,
            accept_eula=bool(recipe.eula_required),
            role_arn=self._role(),
            network_isolation=bool(recipe.inference_enable_network_isolation),
            prompt_format=fmt,
            instruction_template=template,
            price_per_hour=hourly_price(self.config, chosen),
            job_name=job_name,
            job_id=stored.id if stored else None,
            eula_uri=recipe.eula_uri,
            tags={
                "tunedeck:session": self.store.name,
                "tunedeck:job": job_name,
                "sagemaker-sdk:jumpstart-model-id": model_id,
            },
        )

    def plan_base(
        self,
        *,
        model_id: str | None = None,
        model_version: str = "*",
        accept_eula: bool,
        instance_type: str | None = None,
        endpoint_name: str | None = None,
        prompt_format: str | None = None,
    ) -> DeployPlan:
        """The deployment of the pre-trained JumpStart model (the baseline to beat)."""
        model_id = model_id or self.config.jumpstart.model_id
        recipe = self._recipe(model_id, model_version)
        if recipe.eula_required and not accept_eula:
            where = f" ({recipe.eula_uri})" if recipe.eula_uri else ""
            raise EulaNotAccepted(f"{model_id} is a gated model: accept its licence (EULA){where} to deploy it")
        if not recipe.hosting_image_uri or not recipe.hosting_artifact_uri:
            raise EndpointError(f"{model_id} has no hosting container or artifact in its JumpStart spec")
        chosen = self._instance(recipe, instance_type)
        uri, data_type, compression = model_prefix(
            recipe.hosting_artifact_uri, "NONE" if recipe.hosting_artifact_uri.endswith("/") else None
        )
        fmt = self._check_prompt_format(
            prompt_format or ("llama3-chat" if model_id.endswith("-instruct") else "instruction")
        )
        name, model_name, config_name = self._names(
            f"{model_id.removeprefix('meta-textgeneration-')}-base", endpoint_name
        )
        return DeployPlan(
            kind="base",
            endpoint_name=name,
            model_name=model_name,
            config_name=config_name,
            model_id=model_id,
            model_version=recipe.model_version,
            instance_type=chosen,
            image_uri=recipe.hosting_image_uri,
            environment=self._environment(recipe, chosen),
            model_data_uri=uri,
            model_data_type=data_type,
            compression=compression,
            accept_eula=bool(recipe.eula_required),
            role_arn=self._role(),
            network_isolation=bool(recipe.inference_enable_network_isolation),
            prompt_format=fmt,
            instruction_template=None,
            price_per_hour=hourly_price(self.config, chosen),
            eula_uri=recipe.eula_uri,
            tags={"tunedeck:session": self.store.name, "sagemaker-sdk:jumpstart-model-id": model_id},
        )

    def _recipe(self, model_id: str, model_version: str) -> Recipe:
        try:
            return self._load_recipe(model_id, model_version)
        except Exception as exc:
            raise EndpointError(f"cannot read the JumpStart spec of {model_id}: {exc}") from None

    def _tags(self, arn: str | None) -> dict[str, str]:
        if not arn:
            return {}
        try:
            tags = self.sagemaker.list_tags(ResourceArn=arn).get("Tags") or []
        except Exception:  # tags are a fallback only
            return {}
        return {t.get("Key", ""): t.get("Value", "") for t in tags}

    # ---- deploying ---------------------------------------------------------------------------

    def deploy(self, plan: DeployPlan) -> EndpointRow:
        """Create model, endpoint config and endpoint (status Creating); undo the first two if a later
        step fails. The endpoint is recorded in the session before CreateEndpoint is sent, so that a
        crash right after it still leaves a record to list and delete."""
        sm = self.sagemaker
        created: list[tuple[str, str]] = []
        try:
            sm.create_model(**plan.create_model_request())
            created.append(("model", plan.model_name))
            sm.create_endpoint_config(**plan.create_endpoint_config_request())
            created.append(("config", plan.config_name))
            self.store.add_endpoint(
                plan.endpoint_name,
                kind=plan.kind,
                instance_type=plan.instance_type,
                job_id=plan.job_id,
                model_name=plan.model_name,
                config_name=plan.config_name,
                prompt_format=plan.prompt_format,
                price_per_hour=plan.price_per_hour,
                model_id=plan.model_id,
                instruction_template=plan.instruction_template,
            )
            created.append(("record", plan.endpoint_name))
            sm.create_endpoint(**plan.create_endpoint_request())
        except Exception as exc:
            self._undo(created)
            raise EndpointError(f"deploying {plan.endpoint_name} failed: {_aws_message(exc)}") from None
        self.store.log("info", "endpoints", f"creating endpoint {plan.endpoint_name} ({plan.instance_type})")
        row = self.store.endpoint(plan.endpoint_name)
        assert row is not None
        return row

    def _undo(self, created: list[tuple[str, str]]) -> None:
        for kind, name in reversed(created):
            try:
                if kind == "record":
                    self.store.forget_endpoint(name)
                elif kind == "config":
                    self.sagemaker.delete_endpoint_config(EndpointConfigName=name)
                else:
                    self.sagemaker.delete_model(ModelName=name)
            except Exception:  # best effort: the user sees the original error
                pass

    # ---- watching ------------------------------------------------------------------------------

    def refresh(self, name: str) -> EndpointRow | None:
        """Ask SageMaker for the endpoint's status and record it; a vanished endpoint is marked deleted."""
        row = self.store.endpoint(name)
        if row is None or row.deleted_at is not None:
            return row
        try:
            described = self.sagemaker.describe_endpoint(EndpointName=name)
        except Exception as exc:
            if _not_found(exc):
                self.store.mark_endpoint_deleted(name)
                return self.store.endpoint(name)
            raise EndpointError(f"cannot read endpoint {name}: {_aws_message(exc)}") from None
        status = str(described.get("EndpointStatus") or row.status)
        reason = described.get("FailureReason") or None
        if status != row.status or reason != row.failure_reason:
            self.store.set_endpoint_status(name, status, failure_reason=reason, at=self._clock())
            if status in ("InService", "Failed"):
                self.store.log(
                    "warning" if status == "Failed" else "info",
                    "endpoints",
                    f"endpoint {name} is {status}" + (f": {reason}" if reason else ""),
                )
        return self.store.endpoint(name)

    def wait(
        self,
        name: str,
        *,
        until: tuple[str, ...] = ("InService", "Failed"),
        timeout_s: float = 1800,
        poll_s: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> EndpointRow:
        """Poll until the endpoint reaches one of `until` (or is gone); EndpointError on timeout."""
        deadline = self._clock() + timeout_s
        while True:
            row = self.refresh(name)
            if row is None:
                raise EndpointError(f"no endpoint {name} in this session")
            if row.status in until or row.deleted_at is not None:
                return row
            if self._clock() >= deadline:
                raise EndpointError(f"endpoint {name} is still {row.status} after {timeout_s:.0f} s")
            sleep(poll_s)

    def status_of(self, row: EndpointRow, *, idle_minutes: float = DEFAULT_IDLE_MINUTES) -> EndpointStatus:
        now = self._clock()
        end = row.deleted_at or now
        uptime = max(0.0, end - row.created_at)
        idle = None
        if row.status == "InService" and row.deleted_at is None:
            last = max(t for t in (row.last_invoked_at, row.in_service_at, row.created_at) if t is not None)
            idle = max(0.0, now - last)
        return EndpointStatus(
            name=row.name,
            kind=row.kind,
            job_name=row.job_name,
            model_id=row.model_id,
            instance_type=row.instance_type,
            status=row.status,
            prompt_format=row.prompt_format,
            price_per_hour=row.price_per_hour,
            uptime_s=uptime,
            cost_so_far=None if row.price_per_hour is None else row.price_per_hour * uptime / 3600,
            idle_s=idle,
            idle_warning=idle is not None and idle >= idle_minutes * 60,
            failure_reason=row.failure_reason,
            deleted=row.deleted_at is not None,
        )

    def list_endpoints(
        self, *, refresh: bool = True, include_deleted: bool = False, idle_minutes: float = DEFAULT_IDLE_MINUTES
    ) -> list[EndpointStatus]:
        """Endpoints of this session with status, instance, $/hour, uptime and idle warnings."""
        if refresh:
            for row in self.store.endpoints():
                try:
                    self.refresh(row.name)
                except EndpointError as exc:
                    self.store.log("warning", "endpoints", str(exc))
        return [
            self.status_of(row, idle_minutes=idle_minutes)
            for row in self.store.endpoints(include_deleted=include_deleted)
        ]

    def idle(self, *, idle_minutes: float = DEFAULT_IDLE_MINUTES, refresh: bool = False) -> list[EndpointStatus]:
        """InService endpoints nobody has invoked for `idle_minutes` (they still cost money)."""
        return [s for s in self.list_endpoints(refresh=refresh, idle_minutes=idle_minutes) if s.idle_warning]

    # ---- deleting ------------------------------------------------------------------------------

    def delete_confirmation(self, name: str) -> str:
        """The question the UI asks before `delete`."""
        row = self.store.endpoint(name)
        if row is None:
            return f"delete endpoint {name}?"
        status = self.status_of(row)
        spent = f", ${status.cost_so_far:.2f} so far" if status.cost_so_far is not None else ""
        return (
            f"delete endpoint {name} ({row.instance_type}, up {status.uptime_s / 3600:.1f} h{spent})? "
            "Its model and config are deleted too; the training output in S3 stays."
        )

    def delete(self, name: str) -> None:
        """Delete the endpoint, its config and its model (each one that still exists)."""
        row = self.store.endpoint(name)
        config_name = row.config_name if row else name
        model_name = row.model_name if row else name
        sm = self.sagemaker
        steps = [("endpoint", lambda: sm.delete_endpoint(EndpointName=name))]
        if config_name:
            steps.append(("endpoint config", lambda: sm.delete_endpoint_config(EndpointConfigName=config_name)))
        if model_name:
            steps.append(("model", lambda: sm.delete_model(ModelName=model_name)))
        problems = []
        for what, call in steps:
            try:
                call()
            except Exception as exc:
                if not _not_found(exc):
                    problems.append(f"{what}: {_aws_message(exc)}")
        if problems and any(p.startswith("endpoint:") for p in problems):
            raise EndpointError(f"could not delete endpoint {name}: " + "; ".join(problems))
        if row is not None:
            self.store.mark_endpoint_deleted(name, at=self._clock())
        self.store.log(
            "info" if not problems else "warning",
            "endpoints",
            f"deleted endpoint {name}" + (f" ({'; '.join(problems)})" if problems else ""),
        )


# ---- which finished job to deploy -------------------------------------------------------------


@dataclass(frozen=True)
class DeployCandidate:
    """A completed job ranked by the eval loss of the epoch JumpStart saved: its last one."""

    job_name: str
    model_id: str
    instance_type: str
    saved_epoch: int | None  # the last epoch with an eval loss
    saved_eval_loss: float | None
    best_epoch: int | None
    best_eval_loss: float | None
    ended_at: float | None

    @property
    def earlier_was_better(self) -> bool:
        return (
            self.best_epoch is not None
            and self.saved_epoch is not None
            and self.best_epoch < self.saved_epoch
            and self.best_eval_loss is not None
            and self.saved_eval_loss is not None
            and self.best_eval_loss < self.saved_eval_loss
        )

    def label(self, *, first: bool = False) -> str:
        text = f"{self.job_name}  {self.model_id}  {self.instance_type}"
        if self.saved_eval_loss is not None:
            text += f"  saved model (epoch {self.saved_epoch}) eval loss {self.saved_eval_loss:.4f}"
            text += "  (best)" if first else ""
        if self.earlier_was_better:
            text += (
                f"  - epoch {self.best_epoch} was better ({self.best_eval_loss:.4f}): "
                f"retrain with epoch={self.best_epoch}"
            )
        return text


def deploy_candidates(store: Store, jobs: list[Any] | None = None) -> list[DeployCandidate]:
    """Completed jobs, the lowest eval loss of the saved (last) epoch first; jobs without eval
    losses last, newest first among equals. An earlier, better epoch is noted, not ranked on: that
    model was not saved."""
    from core.training.metrics import job_curves

    found = []
    for job in store.jobs(["Completed"]) if jobs is None else jobs:
        curves = job_curves(store, job.id)
        evals = curves.eval_epoch_losses
        saved = len(evals) if evals else None
        found.append(
            DeployCandidate(
                job_name=job.name,
                model_id=job.model_id,
                instance_type=job.instance_type,
                saved_epoch=saved,
                saved_eval_loss=evals[-1] if evals else None,
                best_epoch=curves.best_eval_epoch,
                best_eval_loss=min(evals) if evals else None,
                ended_at=job.end_time or job.created_at,
            )
        )
    return sorted(found, key=lambda c: (c.saved_eval_loss is None, c.saved_eval_loss or 0.0, -(c.ended_at or 0.0)))


# ---- what still bills ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveResource:
    """An endpoint in service (or on its way) or a training job holding an instance: it bills until
    it is deleted or stopped."""

    kind: str  # "endpoint" or "job"
    name: str
    instance_type: str
    usd_per_hour: float | None
    status: str
    idle: bool = False  # an endpoint nobody invoked for the idle threshold

    def line(self) -> str:
        price = "?/h" if self.usd_per_hour is None else f"${self.usd_per_hour:.3f}/h"
        idle = "  idle" if self.idle else ""
        return f"{self.kind} {self.name}  {self.instance_type}  {self.status}  {price}{idle}"


def live_resources(
    store: Store, config: Config, *, idle_minutes: float = DEFAULT_IDLE_MINUTES, now: float | None = None
) -> list[LiveResource]:
    """What the session knows still bills, from the store (no AWS call): endpoints not deleted and in
    a live status, then training jobs launching, running or stopping (console runs are the event's)."""
    now = time.time() if now is None else now
    found = []
    for row in store.endpoints():
        if row.status not in LIVE_STATUSES or row.status == "Deleting":
            continue
        price = row.price_per_hour if row.price_per_hour is not None else hourly_price(config, row.instance_type)
        last = row.last_invoked_at or row.in_service_at or row.created_at
        idle = row.status == "InService" and now - last > idle_minutes * 60
        found.append(LiveResource("endpoint", row.name, row.instance_type, price, row.status, idle))
    console = store.console_run_ids()
    for job in store.jobs(["Launching", "InProgress", "Stopping"]):
        if job.id not in console:
            found.append(
                LiveResource("job", job.name, job.instance_type, hourly_price(config, job.instance_type), job.status)
            )
    return found


def end_live_resource(store: Store, config: Config, resource: LiveResource, *, sagemaker: Any = None) -> str:
    """Delete the endpoint (with its config and model) or stop the job; what was done, in words.
    Blocking: call from a worker thread. Raises EndpointError or core.training.jobs.JobsError."""
    if resource.kind == "endpoint":
        EndpointManager(store, config, sagemaker=sagemaker).delete(resource.name)
        return f"deleted endpoint {resource.name} (and its config and model)"
    from core.training.jobs import JobsService

    factory = (lambda service: sagemaker) if sagemaker is not None else None
    JobsService(store, config, client_factory=factory).stop(resource.name)
    return f"stopping training job {resource.name}"


# ---- auto-delete after N idle minutes ([budget] auto_delete_idle_minutes, off by default) ---------

AUTO_DELETE_META = "serving.auto_delete"
"""The session's one answer to "delete idle endpoints automatically?": True, False, or unset (ask)."""


def auto_delete_minutes(config: Config) -> float:
    return max(0.0, float(getattr(config.budget, "auto_delete_idle_minutes", 0.0) or 0.0))


def auto_delete_due(store: Store, config: Config, *, now: float | None = None) -> list[LiveResource]:
    """Endpoints in service nobody invoked for `[budget] auto_delete_idle_minutes` (none when it is 0)."""
    minutes = auto_delete_minutes(config)
    if minutes <= 0:
        return []
    return [r for r in live_resources(store, config, idle_minutes=minutes, now=now) if r.kind == "endpoint" and r.idle]


def auto_delete_consent(store: Store) -> bool | None:
    """The session's answer (asked once): True deletes without asking again, False only warns."""
    value = store.get_meta(AUTO_DELETE_META)
    return value if isinstance(value, bool) else None


def set_auto_delete_consent(store: Store, yes: bool) -> None:
    store.set_meta(AUTO_DELETE_META, bool(yes))
    store.log("info", "serving", f"auto-delete of idle endpoints {'on' if yes else 'off'} for this session")


def auto_delete(
    store: Store, config: Config, resources: list[LiveResource], *, sagemaker: Any = None
) -> list[tuple[str, str | None]]:
    """Delete the given idle endpoints (with config and model) when the session said yes: for each,
    (what was done, the error or None). Blocking: call from a worker thread."""
    if auto_delete_consent(store) is not True:
        return []
    done: list[tuple[str, str | None]] = []
    minutes = auto_delete_minutes(config)
    for resource in resources:
        try:
            text = end_live_resource(store, config, resource, sagemaker=sagemaker)
        except Exception as exc:  # noqa: BLE001 - an AWS refusal: reported, the endpoint stays listed
            done.append((resource.name, f"{type(exc).__name__}: {exc}"))
            continue
        store.log("info", "serving", f"auto-delete: {resource.name} idle over {minutes:g} min: {text}")
        done.append((f"idle over {minutes:g} min: {text}", None))
    return done

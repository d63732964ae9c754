"""The CreateTrainingJob request, built the way the SageMaker SDK v2 JumpStart estimator builds it.

Reference: shared/reference/jumpstart-v2-request.json (the estimator's captured request). Like
the estimator, hyperparameter values are JSON-encoded strings (``"2"`` is sent as ``"\\"2\\""``);
the training toolkit decodes JSON and plain strings alike. :func:`decode_hyperparameters` turns
a request's (or DescribeTrainingJob's) hyperparameters back into plain strings.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from core.training.hyperparams import FieldError, validate_hyperparameters, validate_job_name
from core.training.recipe import Recipe, instance_family

if TYPE_CHECKING:
    from collections.abc import Mapping

JUMPSTART_MODEL_ID_TAG = "sagemaker-sdk:jumpstart-model-id"
JUMPSTART_MODEL_VERSION_TAG = "sagemaker-sdk:jumpstart-model-version"
GATED_MODEL_ENV = "SageMakerGatedModelS3Uri"
ACCEPT_EULA_ENV = "accept_eula"
TRAINING_CHANNEL, VALIDATION_CHANNEL, CODE_CHANNEL = "training", "validation", "code"
MAX_TAGS = 50

_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/\S+$")
_LOG_LEVEL = "sagemaker_container_log_level"


class TrainingRequestError(ValueError):
    """The request cannot be built; ``errors`` says which field and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class EulaNotAcceptedError(TrainingRequestError):
    """The model is gated and its EULA has not been accepted."""


def build_training_request(
    recipe: Recipe,
    *,
    job_name: str,
    role_arn: str,
    instance_type: str,
    hyperparameters: Mapping[str, str],
    train_s3_uri: str,
    validation_s3_uri: str | None = None,
    output_s3_uri: str,
    accept_eula: bool,
    tags: Mapping[str, str],
    spot: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The keyword arguments for boto3 ``sagemaker.create_training_job``.

    Validates everything first (raises :class:`TrainingRequestError`), and refuses a gated model
    whose EULA is not accepted (:class:`EulaNotAcceptedError`).
    """
    errors = validate_job_name(job_name)
    errors += validate_hyperparameters(recipe, hyperparameters, instance_type, None)
    if not isinstance(role_arn, str) or not _ROLE_ARN.match(role_arn):
        errors.append(FieldError("role_arn", f"is not an IAM role ARN: {role_arn!r}"))
    for name, uri in (
        ("train_s3_uri", train_s3_uri),
        ("validation_s3_uri", validation_s3_uri),
        ("output_s3_uri", output_s3_uri),
    ):
        if uri is not None and (not isinstance(uri, str) or not _S3_URI.match(uri)):
            errors.append(FieldError(name, f"is not an s3:// URI: {uri!r}"))
    errors += _tag_problems(tags)
    if errors:
        raise TrainingRequestError(errors)

    environment: dict[str, str] = {}
    if recipe.eula_required:
        if accept_eula is not True:
            where = f" at {recipe.eula_uri}" if recipe.eula_uri else ""
            raise EulaNotAcceptedError(
                [
                    FieldError(
                        "accept_eula",
                        f"{recipe.model_id} is gated: read its end-user license agreement (EULA){where} "
                        "and accept it before training",
                    )
                ]
            )
        gated_uri = recipe.gated_artifact_for(instance_type)
        if gated_uri is None:  # validate_hyperparameters already reports this; keep the invariant
            raise TrainingRequestError(
                [FieldError("instance_type", f"no gated artifact for {instance_family(instance_type)}")]
            )
        environment = {ACCEPT_EULA_ENV: "true", GATED_MODEL_ENV: gated_uri}

    channels = [_s3_channel(TRAINING_CHANNEL, train_s3_uri)]
    if validation_s3_uri:
        channels.append(_s3_channel(VALIDATION_CHANNEL, validation_s3_uri))
    channels.append(_s3_channel(CODE_CHANNEL, recipe.training_script_uri))

    merged = {**hyperparameters}
    for name, value in recipe.defaults_for(instance_type).items():
        merged.setdefault(name, value)
    merged["sagemaker_job_name"] = job_name
    merged["sagemaker_region"] = recipe.region

    output: dict[str, str] = {"S3OutputPath": output_s3_uri}
    if recipe.disable_output_compression:
        output["CompressionType"] = "NONE"

    request: dict[str, Any] = {
        "TrainingJobName": job_name,
        "RoleArn": role_arn,
        "AlgorithmSpecification": {
            "TrainingInputMode": "File",
            "TrainingImage": recipe.training_image_for(instance_type),
            "MetricDefinitions": [dict(m) for m in recipe.metric_definitions],
        },
        "HyperParameters": encode_hyperparameters(merged),
        "InputDataConfig": channels,
        "OutputDataConfig": output,
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": recipe.training_volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": recipe.max_runtime_seconds},
        "EnableNetworkIsolation": recipe.enable_network_isolation,
        "EnableInterContainerTrafficEncryption": recipe.encrypt_inter_container_traffic,
        "Tags": [
            {"Key": JUMPSTART_MODEL_ID_TAG, "Value": recipe.model_id},
            {"Key": JUMPSTART_MODEL_VERSION_TAG, "Value": recipe.model_version},
            *({"Key": k, "Value": v} for k, v in tags.items()),
        ],
    }
    if environment:
        request["Environment"] = environment
    if spot:
        _add_spot(request, job_name, spot, recipe.max_runtime_seconds)
    return request


CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"


def _add_spot(request: dict[str, Any], job_name: str, spot: Mapping[str, Any], max_runtime: int) -> None:
    """Managed spot training: SageMaker waits up to MaxWaitTimeInSeconds (at least the runtime) for
    spot capacity and resumes an interrupted job from the checkpoints under CheckpointConfig.S3Uri."""
    wait = int(spot.get("max_wait_seconds") or 0)
    checkpoint = str(spot.get("checkpoint_s3_uri") or "")
    errors = []
    if wait < max_runtime:
        errors.append(
            FieldError("spot.max_wait_seconds", f"must be at least the maximum runtime ({max_runtime} s), not {wait}")
        )
    if not _S3_URI.match(checkpoint):
        errors.append(FieldError("spot.checkpoint_s3_uri", f"is not an s3:// URI: {checkpoint!r}"))
    if errors:
        raise TrainingRequestError(errors)
    request["EnableManagedSpotTraining"] = True
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": max_runtime, "MaxWaitTimeInSeconds": wait}
    request["CheckpointConfig"] = {
        "S3Uri": f"{checkpoint.rstrip('/')}/{job_name}/",
        "LocalPath": CHECKPOINT_LOCAL_PATH,
    }


def encode_hyperparameters(values: Mapping[str, str]) -> dict[str, str]:
    """JSON-encode each value as the v2 estimator does (its container log level is an int)."""
    encoded = {}
    for name, value in values.items():
        if name == _LOG_LEVEL and value.isdigit():
            encoded[name] = json.dumps(int(value))
        else:
            encoded[name] = json.dumps(value)
    return encoded


def decode_hyperparameters(values: Mapping[str, str]) -> dict[str, str]:
    """Plain strings from JSON-encoded (or already plain) hyperparameter values."""
    decoded = {}
    for name, value in values.items():
        try:
            parsed = json.loads(value)
        except (ValueError, TypeError):
            parsed = value
        decoded[name] = parsed if isinstance(parsed, str) else value
    return decoded


def _s3_channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def _tag_problems(tags: Mapping[str, str]) -> list[FieldError]:
    errors = []
    if len(tags) + 2 > MAX_TAGS:
        errors.append(FieldError("tags", f"{len(tags)} tags; at most {MAX_TAGS - 2} besides the JumpStart ones"))
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            errors.append(FieldError("tags", f"tag key {key!r} must be 1 to 128 characters"))
        elif key.lower().startswith("aws:") or key in (JUMPSTART_MODEL_ID_TAG, JUMPSTART_MODEL_VERSION_TAG):
            errors.append(FieldError("tags", f"tag key {key!r} is reserved"))
        if not isinstance(value, str) or len(value) > 256:
            errors.append(FieldError("tags", f"tag {key!r} value must be a string of at most 256 characters"))
    return errors

"""JumpStart recipe (offline specs), hyperparameter validation, and the CreateTrainingJob request."""

from __future__ import annotations

import copy
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.training.hyperparams import FieldError, validate_hyperparameters, validate_job_name
from core.training.recipe import (
    BUNDLED_SPEC_ROOT,
    KNOWN_MODELS,
    MANIFEST_DIR_ENV,
    SDK_CONFIG_ENV,
    SPECS_DIR_ENV,
    Recipe,
    RecipeError,
    clear_recipe_cache,
    load_recipe,
)
from core.training.request import (
    EulaNotAcceptedError,
    TrainingRequestError,
    build_training_request,
    decode_hyperparameters,
)

DATA = Path(__file__).parent / "data" / "jumpstart"
REFERENCE_SPECS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "jumpstart-specs"
ID_3B = "meta-textgeneration-llama-3-2-3b"
ID_70B = "meta-textgeneration-llama-3-1-70b"
ROLE = "arn:aws:iam::123456789012:role/r"


@contextmanager
def recorded_network_attempts():
    """Record every non-loopback connect/DNS attempt (the conftest guard then refuses it): an SDK
    that swallows the guard's exception must still fail the test."""
    attempts: list[object] = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    loopback = {"127.0.0.1", "::1", "localhost", None, ""}

    def rec_connect(self, address, *a, **k):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in loopback:
            attempts.append(address)
        return connect(self, address, *a, **k)

    def rec_connect_ex(self, address, *a, **k):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in loopback:
            attempts.append(address)
        return connect_ex(self, address, *a, **k)

    def rec_getaddrinfo(host, *a, **k):
        if host not in loopback:
            attempts.append(host)
        return getaddrinfo(host, *a, **k)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = rec_connect, rec_connect_ex, rec_getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo


@pytest.fixture(scope="module")
def recipe_3b() -> Recipe:
    return load_recipe(ID_3B, spec_root=DATA)


@pytest.fixture(scope="module")
def recipe_70b() -> Recipe:
    return load_recipe(ID_70B, "2.16.2", "us-east-1", spec_root=DATA)


# --- recipe ----------------------------------------------------------------------------------


def test_recipe_reads_the_offline_spec_without_network_and_restores_env(monkeypatch):
    for name in (MANIFEST_DIR_ENV, SPECS_DIR_ENV, SDK_CONFIG_ENV):
        monkeypatch.delenv(name, raising=False)
    # no credentials at all: nothing may look them up over the network either
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    clear_recipe_cache()
    with recorded_network_attempts() as attempts:
        recipe = load_recipe(ID_3B, spec_root=DATA)
    assert attempts == []
    for name in (MANIFEST_DIR_ENV, SPECS_DIR_ENV, SDK_CONFIG_ENV, "AWS_EC2_METADATA_DISABLED"):
        assert name not in os.environ

    assert (recipe.model_id, recipe.model_version, recipe.region) == (ID_3B, "1.1.7", "us-east-1")
    assert recipe.supported_training_instance_types == (
        "ml.g5.2xlarge",
        "ml.g5.4xlarge",
        "ml.g5.12xlarge",
        "ml.g5.24xlarge",
        "ml.g5.48xlarge",
    )
    assert recipe.default_training_instance_type == "ml.g5.12xlarge"
    defaults = recipe.default_hyperparameters
    assert all(isinstance(v, str) for v in defaults.values())
    assert (defaults["per_device_train_batch_size"], defaults["int8_quantization"], defaults["enable_fsdp"]) == (
        "4",
        "False",
        "True",
    )
    assert defaults["sagemaker_program"] == "transfer_learning.py"
    epoch = recipe.hyperparameter("epoch")
    assert (epoch.type, epoch.default, epoch.min, epoch.max, epoch.scope) == ("int", "5", 1, 1000, "algorithm")
    assert recipe.hyperparameter("instruction_tuned").is_boolean
    assert not recipe.hyperparameter("sagemaker_program").user_settable
    assert [m["Name"] for m in recipe.metric_definitions] == [
        "huggingface-textgeneration:eval-loss",
        "huggingface-textgeneration:eval-ppl",
        "huggingface-textgeneration:train-loss",
    ]
    assert recipe.training_image_uri == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
        "huggingface-pytorch-training:2.0.0-transformers4.28.1-gpu-py310-cu118-ubuntu20.04"
    )
    assert recipe.training_script_uri.startswith("s3://jumpstart-cache-prod-us-east-1/source-directory-tarballs/")
    assert recipe.gated_training_artifact_uris == {
        "g5": f"s3://jumpstart-private-cache-prod-us-east-1/meta-training/g5/v1.0.0/train-{ID_3B}.tar.gz"
    }
    assert (recipe.training_volume_size_gb, recipe.max_runtime_seconds) == (256, 360000)
    assert recipe.enable_network_isolation and recipe.encrypt_inter_container_traffic
    assert recipe.disable_output_compression
    assert recipe.eula_required and recipe.eula_uri.endswith("/fmhMetadata/eula/llama3_2Eula.txt")
    assert "djl-inference" in recipe.hosting_image_uri
    assert recipe.hosting_env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert recipe.hosting_env_overrides["ml.g5.12xlarge"]["OPTION_TENSOR_PARALLEL_DEGREE"] == "4"


def test_recipe_round_trips_through_json_and_is_read_only(recipe_3b):
    assert Recipe.from_json(recipe_3b.to_json()) == recipe_3b
    with pytest.raises(TypeError):
        recipe_3b.default_hyperparameters["epoch"] = "9"  # type: ignore[index]
    with pytest.raises(RecipeError, match="unknown format"):
        Recipe.from_json(json.dumps({"recipe_format": 99}))


def test_known_models_resolve_from_the_bundled_specs():
    for model in KNOWN_MODELS:
        recipe = load_recipe(model.model_id, spec_root=BUNDLED_SPEC_ROOT)
        assert recipe.model_id == model.model_id
        assert recipe.gated_artifact_for(recipe.default_training_instance_type)
        assert not validate_hyperparameters(recipe, {}, recipe.default_training_instance_type, None)


def test_test_spec_for_70b_matches_the_reference_spec(recipe_70b):
    if not REFERENCE_SPECS.is_dir():
        pytest.skip("shared/reference/jumpstart-specs is not beside this checkout")
    assert load_recipe(ID_70B, "2.16.2", spec_root=REFERENCE_SPECS) == recipe_70b


def test_unusable_models_raise_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="no-such-model"):
        load_recipe("no-such-model", spec_root=DATA)
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(ID_3B, spec_root=tmp_path)
    with pytest.raises(RecipeError, match="not available in region"):
        load_recipe(ID_3B, region="xx-nowhere-1", spec_root=DATA)


# --- validation ------------------------------------------------------------------------------

BAD_INPUTS = [
    # (params, instance type, dataset format, field, reason fragment)
    (
        {"epochs": "3"},
        None,
        None,
        "epochs",
        "not a hyperparameter of meta-textgeneration-llama-3-2-3b (did you mean 'epoch'?)",
    ),
    ({"sagemaker_program": "x.py"}, None, None, "sagemaker_program", "set by tunedeck"),
    ({"epoch": 3}, None, None, "epoch", "must be a string, got int 3"),
    ({"epoch": "2.5"}, None, None, "epoch", "must be a whole number, got '2.5'"),
    ({"epoch": "0"}, None, None, "epoch", "must be at least 1, got 0"),
    ({"epoch": "1001"}, None, None, "epoch", "must be at most 1000, got 1001"),
    ({"learning_rate": "fast"}, None, None, "learning_rate", "must be a number, got 'fast'"),
    ({"learning_rate": "0"}, None, None, "learning_rate", "must be at least 1e-08"),
    ({"lora_dropout": "nan"}, None, None, "lora_dropout", "must be a finite number"),
    ({"lora_dropout": "1.5"}, None, None, "lora_dropout", "must be at most 1, got 1.5"),
    (
        {"instruction_tuned": "true"},
        None,
        None,
        "instruction_tuned",
        'must be the string "True" or "False", got \'true\'',
    ),
    (
        {"instruction_tuned": "True", "chat_dataset": "True"},
        None,
        None,
        "chat_dataset",
        'instruction_tuned and chat_dataset cannot both be "True"',
    ),
    (
        {"int8_quantization": "True"},
        None,
        None,
        "int8_quantization",
        'on g5 instances exactly one of int8_quantization and enable_fsdp must be "True" (both are)',
    ),
    ({"enable_fsdp": "False"}, None, None, "enable_fsdp", "(neither is)"),
    ({"target_modules": "q_proj, v_proj"}, None, None, "target_modules", "must not contain spaces"),
    ({"target_modules": "q_proj,v_proj,q_proj"}, None, None, "target_modules", "lists q_proj more than once"),
    ({"target_modules": "q_proj,lm_head"}, None, None, "target_modules", "unknown module 'lm_head'"),
    ({"target_modules": ""}, None, None, "target_modules", "is empty"),
    (
        {},
        "ml.p4d.24xlarge",
        None,
        "instance_type",
        "'ml.p4d.24xlarge' is not supported for training meta-textgeneration-llama-3-2-3b; supported: ml.g5.2xlarge,",
    ),
    ({}, None, "instruction", "instruction_tuned", 'must be "True" for a dataset in instruction format'),
    ({"instruction_tuned": "True"}, None, "chat", "chat_dataset", 'must be "True" for a dataset in chat format'),
    ({"instruction_tuned": "True"}, None, "csv", "dataset_format", "unknown dataset format 'csv'"),
]


@pytest.mark.parametrize(("params", "instance", "dataset_format", "field", "reason"), BAD_INPUTS)
def test_bad_hyperparameters_name_the_field_and_the_reason(recipe_3b, params, instance, dataset_format, field, reason):
    errors = validate_hyperparameters(recipe_3b, params, instance or "ml.g5.12xlarge", dataset_format)
    assert [e.field for e in errors] == [field], errors
    assert reason in errors[0].reason


def test_good_hyperparameters_pass(recipe_3b):
    params = {
        "epoch": "3",
        "learning_rate": "2e-4",
        "lora_r": "16",
        "target_modules": "q_proj,k_proj,v_proj,o_proj",
        "instruction_tuned": "True",
        "int8_quantization": "True",
        "enable_fsdp": "False",
    }
    assert validate_hyperparameters(recipe_3b, params, "ml.g5.2xlarge", "instruction") == []
    assert validate_hyperparameters(recipe_3b, {"chat_dataset": "True"}, "ml.g5.2xlarge", "chat") == []


def test_int8_fsdp_rule_holds_on_g5_only(recipe_70b):
    neither = {"int8_quantization": "False", "enable_fsdp": "False"}
    assert validate_hyperparameters(recipe_70b, neither, "ml.p4d.24xlarge", None) == []
    assert [e.field for e in validate_hyperparameters(recipe_70b, neither, "ml.g5.48xlarge", None)] == [
        "int8_quantization"
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "is empty"),
        ("-sweep1", "must start and end with a letter or digit"),
        ("sweep1-", "must start and end with a letter or digit"),
        ("sweep_1", "only letters, digits and hyphens"),
        ("a" * 64, "is 64 characters long; at most 63"),
    ],
)
def test_bad_job_names(name, reason):
    errors = validate_job_name(name)
    assert [e.field for e in errors] == ["job_name"] and reason in errors[0].reason


def test_good_job_names():
    assert validate_job_name("a" * 63) == []
    assert validate_job_name("td-s1-lr2e-4--r16") == []


# --- request ---------------------------------------------------------------------------------


def _request(recipe, **overrides):
    kwargs = dict(
        job_name="td-demo-0001",
        role_arn=ROLE,
        instance_type="ml.g5.2xlarge",
        hyperparameters={"epoch": "2"},
        train_s3_uri="s3://bkt/ds/train/",
        output_s3_uri="s3://bkt/out/",
        accept_eula=True,
        tags={},
    )
    return build_training_request(recipe, **{**kwargs, **overrides})


def test_request_matches_the_captured_v2_estimator_request(recipe_70b):
    capture = json.loads((DATA / "v2-request-llama-3-1-70b.json").read_text())["request"]
    job_name = "meta-textgeneration-llama-3-1-70b-2025-01-02-03-04-05-678"
    request = build_training_request(
        recipe_70b,
        job_name=job_name,
        role_arn=ROLE,
        instance_type="ml.g5.48xlarge",
        hyperparameters={"epoch": "2", "lora_r": "16", "instruction_tuned": "True"},
        train_s3_uri="s3://bkt/train/",
        output_s3_uri="s3://bkt/",
        accept_eula=True,
        tags={},
    )
    # normalise what differs by construction: the SDK's timestamped job name
    normalised = json.loads(json.dumps(request).replace(job_name, "meta-textgeneration-llama-3-1-70b-<timestamp>"))
    expected = copy.deepcopy(capture)
    # deliberate deviations (see core/training_request.py and the report)
    assert expected.pop("DebugHookConfig") and expected.pop("ProfilerConfig")
    assert expected["ResourceConfig"]["VolumeSizeInGB"] == 30
    expected["ResourceConfig"]["VolumeSizeInGB"] = 256  # the spec's training_volume_size
    assert set(normalised) == set(expected)
    for key in expected:
        assert normalised[key] == expected[key], key


def test_request_for_3b_merges_defaults_adds_validation_and_tags(recipe_3b):
    request = _request(
        recipe_3b,
        hyperparameters={"epoch": "2", "learning_rate": "2e-4", "instruction_tuned": "True"},
        validation_s3_uri="s3://bkt/ds/validation/",
        tags={"tunedeck:session": "s1", "tunedeck:sweep": "7"},
    )
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["training", "validation", "code"]
    assert request["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://bkt/ds/validation/"
    assert request["InputDataConfig"][2]["DataSource"]["S3DataSource"]["S3Uri"] == recipe_3b.training_script_uri
    hp = request["HyperParameters"]
    assert all(isinstance(v, str) for v in hp.values())
    plain = decode_hyperparameters(hp)
    assert plain == {
        **recipe_3b.default_hyperparameters,
        "epoch": "2",
        "learning_rate": "2e-4",
        "instruction_tuned": "True",
        "sagemaker_job_name": "td-demo-0001",
        "sagemaker_region": "us-east-1",
    }
    assert hp["per_device_train_batch_size"] == '"4"' and hp["sagemaker_container_log_level"] == "20"
    assert request["Environment"] == {
        "accept_eula": "true",
        "SageMakerGatedModelS3Uri": recipe_3b.gated_training_artifact_uris["g5"],
    }
    assert request["ResourceConfig"] == {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 256}
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://bkt/out/", "CompressionType": "NONE"}
    assert request["Tags"] == [
        {"Key": "sagemaker-sdk:jumpstart-model-id", "Value": ID_3B},
        {"Key": "sagemaker-sdk:jumpstart-model-version", "Value": "1.1.7"},
        {"Key": "tunedeck:session", "Value": "s1"},
        {"Key": "tunedeck:sweep", "Value": "7"},
    ]


def test_request_is_valid_for_the_create_training_job_api(recipe_3b):
    import boto3
    from botocore.stub import Stubber

    request = _request(recipe_3b, validation_s3_uri="s3://bkt/ds/validation/", tags={"tunedeck:session": "s1"})
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "create_training_job",
            {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/x"},
            expected_params=request,
        )
        client.create_training_job(**request)  # botocore validates every field against the API model


def test_request_refuses_a_gated_model_without_the_eula(recipe_3b):
    with pytest.raises(EulaNotAcceptedError) as caught:
        _request(recipe_3b, accept_eula=False)
    assert caught.value.errors[0].field == "accept_eula"
    assert "EULA" in str(caught.value) and recipe_3b.eula_uri in str(caught.value)


def test_request_reports_every_bad_field_before_any_call(recipe_3b):
    with pytest.raises(TrainingRequestError) as caught:
        _request(
            recipe_3b,
            job_name="bad_name",
            hyperparameters={"lora_r": "0"},
            train_s3_uri="/tmp/train",
            role_arn="r",
            tags={"aws:x": "1"},
        )
    assert [e.field for e in caught.value.errors] == ["job_name", "lora_r", "role_arn", "train_s3_uri", "tags"]
    assert FieldError("lora_r", "must be at least 1, got 0") in caught.value.errors


def test_online_spec_reads_use_the_configured_aws_profile(tmp_path, monkeypatch):
    from core.training import recipe as jumpstart

    aws_dir = tmp_path / ".aws"
    aws_dir.mkdir()
    (aws_dir / "config").write_text("[profile league]\nregion = us-west-2\n")
    (aws_dir / "credentials").write_text("[league]\naws_access_key_id = AKIDLEAGUE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_dir / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws_dir / "credentials"))
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(jumpstart, "_SESSIONS", {})
    session = jumpstart._sdk_session("us-east-1", offline=False, profile="league")
    assert session.boto_session.profile_name == "league"
    assert session.boto_session.get_credentials().access_key == "AKIDLEAGUE"
    assert jumpstart._sdk_session("us-east-1", offline=False) is not session  # cached per profile

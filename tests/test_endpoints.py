"""Endpoints against the AWS emulator: deploy a completed job's model the way the SDK does,
InService, invoke through the SageMaker target, delete; failures, base model, cost and idle."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from core.config import Config
from core.llm.base import Request
from core.services import Services
from core.serving.endpoints import (
    EndpointError,
    EndpointManager,
    EulaNotAccepted,
    model_prefix,
    prompt_format_for,
)
from core.sessions import open_session
from core.training.recipe import BUNDLED_SPEC_ROOT, load_recipe

MODEL_ID = "meta-textgeneration-llama-3-2-3b"
TEMPLATE = {"prompt": "Question: {instruction}\n\n{context}", "completion": "{response}"}


@pytest.fixture(scope="module")
def recipe():
    return load_recipe(MODEL_ID, spec_root=BUNDLED_SPEC_ROOT)


@pytest.fixture
def store():
    s = open_session("endpoints")
    yield s
    s.close()


@pytest.fixture
def config(aws):
    c = Config()
    c.aws.endpoint_url, c.aws.role_arn, c.aws.region = aws.endpoint_url, aws.role_arn, aws.region
    c.emulated = True  # the sandbox switch: the bundled specs
    return c


@pytest.fixture
def manager(store, config, boto3_clients, recipe):
    return EndpointManager(store, config, sagemaker=boto3_clients.sagemaker, recipe_loader=lambda m, v: recipe)


def _train(aws, clients, store, recipe, name: str = "td-ft-1") -> None:
    """A training job run to completion on the emulator, recorded in the store like the Jobs pane does."""
    from core.training.request import build_training_request

    rows = "\n".join(
        json.dumps({"instruction": f"How do I do thing {i}?", "context": "", "response": f"Do thing {i} carefully."})
        for i in range(30)
    )
    clients.s3.put_object(Bucket=aws.bucket, Key="ds/train/train.jsonl", Body=rows.encode())
    clients.s3.put_object(Bucket=aws.bucket, Key="ds/train/template.json", Body=json.dumps(TEMPLATE).encode())
    request = build_training_request(
        recipe,
        job_name=name,
        role_arn=aws.role_arn,
        instance_type="ml.g5.2xlarge",
        hyperparameters={"epoch": "1", "instruction_tuned": "True"},
        train_s3_uri=f"s3://{aws.bucket}/ds/train/",
        output_s3_uri=f"s3://{aws.bucket}/out/",
        accept_eula=True,
        tags={},
    )
    with store.db.tx() as conn:
        dataset = conn.execute(
            "INSERT INTO dataset_versions (hash, format, template, created_at) VALUES ('h1', 'instruction', ?, 0)",
            (json.dumps(TEMPLATE),),
        ).lastrowid
        conn.execute(
            "INSERT INTO jobs (name, dataset_version_id, model_id, model_version, instance_type, "
            "created_at) VALUES (?, ?, ?, ?, 'ml.g5.2xlarge', 0)",
            (name, dataset, MODEL_ID, recipe.model_version),
        )
    clients.sagemaker.create_training_job(**request)
    deadline = time.time() + 20
    while clients.sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] != "Completed":
        assert time.time() < deadline, "emulated training did not finish"
        time.sleep(0.05)


async def test_deploy_invoke_list_delete_lifecycle(aws, boto3_clients, store, config, manager, recipe):
    _train(aws, boto3_clients, store, recipe)
    plan = manager.plan_finetuned("td-ft-1")
    assert plan.price_per_hour == 1.515 and "$36.36 per day" in " ".join(plan.cost_lines())
    assert store.endpoints() == []  # planning spends nothing

    row = manager.deploy(plan)
    assert row.status == "Creating" and row.job_name == "td-ft-1" and row.prompt_format == "instruction"
    assert row.instruction_template == TEMPLATE["prompt"]
    sm = boto3_clients.sagemaker
    container = sm.describe_model(ModelName=plan.model_name)["PrimaryContainer"]
    assert container["Image"] == recipe.hosting_image_uri
    assert container["Environment"] == {**recipe.hosting_env, **recipe.hosting_env_overrides.get("ml.g5.2xlarge", {})}
    assert container["ModelDataSource"] == {
        "S3DataSource": {
            "S3Uri": f"s3://{aws.bucket}/out/td-ft-1/output/model/",
            "S3DataType": "S3Prefix",
            "CompressionType": "None",
            "ModelAccessConfig": {"AcceptEula": True},
        }
    }
    variant = sm.describe_endpoint_config(EndpointConfigName=plan.config_name)["ProductionVariants"][0]
    assert variant["VariantName"] == "AllTraffic" and variant["InstanceType"] == "ml.g5.2xlarge"
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 1200
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 1200

    ready = manager.wait(plan.endpoint_name, poll_s=0.05, timeout_s=15)
    assert ready.status == "InService" and ready.in_service_at is not None

    target = Services(store, config).endpoint_target(plan.endpoint_name)
    try:
        result = await target.complete(
            [{"role": "user", "content": "How do I read my meter?"}], temperature=0.2, max_tokens=120
        )
    finally:
        await target.aclose()
    assert result.text.strip() and target.prompt_format == "instruction"
    hello = Request(messages=[{"role": "user", "content": "Hi?"}], temperature=0, top_p=1, max_tokens=5)
    assert target.prompt_text(hello) == "Question: Hi?\n\n\n\n### Response:\n"  # the dataset's own template
    assert store.endpoint(plan.endpoint_name).last_invoked_at is not None

    [listed] = manager.list_endpoints()
    assert (listed.name, listed.status, listed.instance_type, listed.idle_warning) == (
        plan.endpoint_name,
        "InService",
        "ml.g5.2xlarge",
        False,
    )
    assert listed.uptime_s > 0 and listed.cost_so_far == pytest.approx(1.515 * listed.uptime_s / 3600)

    assert plan.endpoint_name in manager.delete_confirmation(plan.endpoint_name)
    manager.delete(plan.endpoint_name)
    assert manager.list_endpoints() == []
    [gone] = manager.list_endpoints(include_deleted=True)
    assert gone.deleted and gone.status == "Deleted"
    assert sm.list_models()["Models"] == [] and sm.list_endpoint_configs()["EndpointConfigs"] == []


def test_missing_model_data_fails_clearly_and_bad_plans_are_refused(aws, boto3_clients, store, manager, recipe):
    with pytest.raises(EndpointError, match="cannot read training job td-none"):
        manager.plan_finetuned("td-none")
    _train(aws, boto3_clients, store, recipe)
    plan = manager.plan_finetuned("td-ft-1", endpoint_name="broken-ep")
    with pytest.raises(EndpointError, match="not-a-type"):
        manager.plan_finetuned("td-ft-1", instance_type="ml.not-a-type")
    broken = dataclasses.replace(plan, model_data_uri=f"s3://{aws.bucket}/nothing/here/")
    manager.deploy(broken)
    with pytest.raises(EndpointError, match="already recorded"):
        manager.plan_finetuned("td-ft-1", endpoint_name="broken-ep")
    failed = manager.wait("broken-ep", poll_s=0.05, timeout_s=15)
    assert failed.status == "Failed" and "Failed to download model data" in failed.failure_reason

    aws.set_quotas(endpoint={"ml.g5.2xlarge": 0})  # CreateEndpoint refused: model and config are undone
    plan = manager.plan_finetuned("td-ft-1", endpoint_name="no-quota-ep")
    with pytest.raises(EndpointError, match="ResourceLimitExceeded"):
        manager.deploy(plan)
    sm = boto3_clients.sagemaker
    assert store.endpoint("no-quota-ep") is None
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["broken-ep"]
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == ["broken-ep"]


def test_base_model_needs_the_eula_and_uses_the_hosting_artifact(store, config, recipe):
    manager = EndpointManager(store, config, recipe_loader=lambda m, v: recipe)  # planning makes no AWS call
    with pytest.raises(EulaNotAccepted, match="licence"):
        manager.plan_base(accept_eula=False)
    plan = manager.plan_base(accept_eula=True, instance_type="ml.g5.12xlarge")
    source = plan.create_model_request()["PrimaryContainer"]["ModelDataSource"]["S3DataSource"]
    assert source["S3Uri"] == recipe.hosting_artifact_uri and source["ModelAccessConfig"] == {"AcceptEula": True}
    assert plan.kind == "base" and plan.price_per_hour == 7.09 and any("EULA" in line for line in plan.cost_lines())
    config.jumpstart.prices["ml.g5.12xlarge"] = 5.0
    assert manager.plan_base(accept_eula=True, instance_type="ml.g5.12xlarge").price_per_hour == 5.0


def test_idle_warning_counts_from_the_last_invocation(store, config):
    now = [1000.0]
    manager = EndpointManager(store, config, clock=lambda: now[0])
    store.add_endpoint("ep-1", kind="finetuned", instance_type="ml.g5.2xlarge", price_per_hour=1.5)
    store.set_endpoint_status("ep-1", "InService", at=now[0])
    row = store.endpoint("ep-1")
    now[0] = row.created_at + 31 * 60
    assert manager.status_of(store.endpoint("ep-1")).idle_warning
    store.touch_endpoint("ep-1", at=now[0] - 60)
    status = manager.status_of(store.endpoint("ep-1"))
    assert not status.idle_warning and status.idle_s == pytest.approx(60)
    assert [s.name for s in manager.idle(idle_minutes=0.5)] == ["ep-1"]


def test_endpoints_verb_lists_what_the_session_saw(store, config, capsys):
    from core.cli.main import build_parser, run_headless

    store.add_endpoint(
        "ep-2",
        kind="base",
        instance_type="ml.g5.2xlarge",
        price_per_hour=1.515,
        model_id="meta-textgeneration-llama-3-2-3b",
    )
    store.set_endpoint_status("ep-2", "Failed", failure_reason="\x1b[31mboom[/]")
    argv = ["endpoints", "--session", "endpoints", "--no-refresh"]
    assert run_headless(build_parser().parse_args([*argv, "--json"]), config) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["status"], listed["price_per_hour"]) == ("ep-2", "Failed", 1.515)
    assert run_headless(build_parser().parse_args(argv), config) == 0
    out = capsys.readouterr().out
    assert "ep-2  Failed  ml.g5.2xlarge  $1.515/h" in out and "boom[/]" in out and "\x1b" not in out


def test_model_prefix_and_prompt_format_rules():
    assert model_prefix("s3://b/out/j/output/model.tar.gz", "NONE") == (
        "s3://b/out/j/output/model/",
        "S3Prefix",
        "None",
    )
    assert model_prefix("s3://b/out/j/output/model", "NONE")[0] == "s3://b/out/j/output/model/"
    assert model_prefix("s3://b/out/j/output/model.tar.gz", "GZIP") == (
        "s3://b/out/j/output/model.tar.gz",
        "S3Object",
        "Gzip",
    )
    assert prompt_format_for("m", {"instruction_tuned": '"True"'}) == "instruction"
    assert prompt_format_for("m", {"chat_dataset": "True"}) == "llama3-chat"
    assert prompt_format_for("m-instruct", {}) == "llama3-chat"


def test_endpoints_deploy_and_delete_verbs(aws, boto3_clients, store, config, recipe, capsys):
    from core.cli.main import build_parser, run_headless

    _train(aws, boto3_clients, store, recipe, name="td-ft-cli")
    deploy = ["endpoints", "deploy", "td-ft-cli", "--session", "endpoints", "--name", "ep-cli", "--timeout", "30"]
    assert run_headless(build_parser().parse_args(deploy), config) == 1  # no terminal to ask, no --yes
    assert "pass --yes" in capsys.readouterr().err and store.endpoints() == []

    assert run_headless(build_parser().parse_args([*deploy, "--yes", "--json"]), config) == 0
    captured = capsys.readouterr()
    shown = json.loads(captured.out)
    assert (
        "still billing until deleted" in captured.err
        and "endpoint ep-cli ml.g5.2xlarge InService $1.515/h" in captured.err
    )
    assert (shown["name"], shown["status"], shown["job_name"]) == ("ep-cli", "InService", "td-ft-cli")
    assert boto3_clients.sagemaker.describe_endpoint(EndpointName="ep-cli")["EndpointStatus"] == "InService"

    delete = ["endpoints", "delete", "ep-cli", "--session", "endpoints", "--yes"]
    assert run_headless(build_parser().parse_args(delete), config) == 0
    assert "deleted endpoint ep-cli" in capsys.readouterr().out
    assert [e["EndpointStatus"] for e in boto3_clients.sagemaker.list_endpoints()["Endpoints"]] in ([], ["Deleting"])
    assert (
        run_headless(
            build_parser().parse_args(["endpoints", "deploy", "no-such-job", "--yes", "--session", "endpoints"]), config
        )
        == 1
    )
    assert "cannot read training job no-such-job" in capsys.readouterr().err

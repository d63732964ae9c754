"""The AWS emulator through real boto3 clients over HTTP: training jobs, logs, metrics, quotas, endpoints."""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

TRAIN_LOSS = re.compile(r"train_epoch_loss=([0-9\.]+)")
EVAL_LOSS = re.compile(r"eval_epoch_loss=tensor\(([0-9\.]+)")
STEP = re.compile(r"Training Epoch: (\d+)/(\d+), step (\d+)/(\d+) completed \(loss: ([0-9.eE+-]+)\)")
METRIC_DEFINITIONS = [
    {"Name": "huggingface-textgeneration:eval-loss", "Regex": r"eval_epoch_loss=tensor\(([0-9\.]+)"},
    {"Name": "huggingface-textgeneration:eval-ppl", "Regex": r"eval_ppl=tensor\(([0-9\.]+)"},
    {"Name": "huggingface-textgeneration:train-loss", "Regex": r"train_epoch_loss=([0-9\.]+)"},
]
ENVIRONMENT = {
    "accept_eula": "true",
    "SageMakerGatedModelS3Uri": "s3://jumpstart-private-cache-prod-us-east-1/meta-training/g5/v1.0.0/train-meta-textgeneration-llama-3-2-1b.tar.gz",
}
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
FINAL = ("Completed", "Failed", "Stopped")


def upload_dataset(aws, clients, prefix: str, n: int) -> str:
    rows = [
        json.dumps({"instruction": f"How do I fix problem {i}?", "context": "", "response": f"Step {i} é."})
        for i in range(n)
    ]
    clients.s3.put_object(Bucket=aws.bucket, Key=f"{prefix}/train.jsonl", Body="\n".join(rows).encode())
    template = {"prompt": "### Instruction:\n{instruction}\n\n### Input:\n{context}", "completion": " {response}"}
    clients.s3.put_object(Bucket=aws.bucket, Key=f"{prefix}/template.json", Body=json.dumps(template).encode())
    return f"s3://{aws.bucket}/{prefix}/"


def create_job(aws, clients, name: str, data_uri: str, **hyperparameters: str) -> dict:
    """A CreateTrainingJob shaped like the JumpStart estimator's (JSON-encoded hyperparameter strings)."""
    hp = {
        "epoch": "2",
        "learning_rate": "0.0001",
        "lora_r": "8",
        "lora_alpha": "32",
        "target_modules": "q_proj,v_proj",
        "instruction_tuned": "True",
        "chat_dataset": "False",
        "per_device_train_batch_size": "4",
        "int8_quantization": "False",
        "enable_fsdp": "True",
        **hyperparameters,
    }
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-"
            "training:2.0.0-transformers4.28.1-gpu-py310-cu118-ubuntu20.04",
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": aws.role_arn,
        "HyperParameters": {k: json.dumps(v) for k, v in hp.items()},
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": data_uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            },
            {
                "ChannelName": "code",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3DataDistributionType": "FullyReplicated",
                        "S3Uri": "s3://jumpstart-cache-prod-us-east-1/source-directory-tarballs/training/meta-textgeneration/"
                        "prepack/inference-meta-textgeneration/v1.2.0/sourcedir.tar.gz",
                    }
                },
            },
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{aws.bucket}/output", "CompressionType": "NONE"},
        "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 360000},
        "Environment": ENVIRONMENT,
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
    }
    clients.sagemaker.create_training_job(**request)
    return request


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def wait_final(clients, name: str, timeout: float = 15.0) -> dict:
    return wait_for(
        lambda: (
            (d := clients.sagemaker.describe_training_job(TrainingJobName=name))["TrainingJobStatus"] in FINAL and d
        ),
        timeout,
    )


def log_messages(clients, job: str) -> tuple[list[str], list[str]]:
    streams = clients.logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    names = [s["logStreamName"] for s in streams]
    events = clients.logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=names[0], startFromHead=True)["events"]
    return names, [e["message"] for e in events]


def losses(messages: list[str]) -> tuple[list[float], list[float]]:
    text = "\n".join(messages)
    return [float(x) for x in TRAIN_LOSS.findall(text)], [float(x) for x in EVAL_LOSS.findall(text)]


def test_job_runs_through_statuses_and_describe_returns_what_was_sent(aws, boto3_clients):
    data = upload_dataset(aws, boto3_clients, "ds1", 50)
    sent = create_job(aws, boto3_clients, "lifecycle-job", data, epoch="2")
    seen: list[tuple[str, str]] = []

    def record():
        d = boto3_clients.sagemaker.describe_training_job(TrainingJobName="lifecycle-job")
        status = (d["TrainingJobStatus"], d["SecondaryStatus"])
        if not seen or seen[-1] != status:
            seen.append(status)
        return d["TrainingJobStatus"] in FINAL and d

    d = wait_for(record)
    assert seen[0][0] == "InProgress" and ("InProgress", "Training") in seen and seen[-1] == ("Completed", "Completed")
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert d["CreationTime"] < d["TrainingStartTime"] < d["TrainingEndTime"]
    assert d["BillableTimeInSeconds"] >= 1
    assert d["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS
    assert d["Environment"] == ENVIRONMENT
    assert d["HyperParameters"] == sent["HyperParameters"]
    assert d["OutputDataConfig"] == sent["OutputDataConfig"]
    assert {m["MetricName"] for m in d["FinalMetricDataList"]} == {m["Name"] for m in METRIC_DEFINITIONS}
    artifacts = d["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts == f"s3://{aws.bucket}/output/lifecycle-job/output/model/"
    listed = boto3_clients.s3.list_objects_v2(Bucket=aws.bucket, Prefix="output/lifecycle-job/output/model/")
    assert listed["KeyCount"] >= 3
    summary = boto3_clients.sagemaker.list_training_jobs(StatusEquals="Completed")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in summary] == ["lifecycle-job"]


def test_logs_follow_the_jumpstart_format_and_metrics_match_them(aws, boto3_clients):
    data = upload_dataset(aws, boto3_clients, "ds2", 50)  # 40 train + 10 validation rows
    create_job(aws, boto3_clients, "logs-job", data, epoch="3", per_device_train_batch_size="4")
    final = wait_final(boto3_clients, "logs-job")
    assert final["TrainingJobStatus"] == "Completed"
    streams, messages = log_messages(boto3_clients, "logs-job")
    assert re.fullmatch(r"logs-job/algo-1-\d{10}", streams[0])
    train, evaluated = losses(messages)
    assert len(train) == len(evaluated) == 3
    steps = [tuple(map(int, m[:4])) + (float(m[4]),) for msg in messages for m in STEP.findall(msg)]
    steps_per_epoch = math.ceil(40 / 4)
    assert {s[3] for s in steps} == {steps_per_epoch} and {s[1] for s in steps} == {3}
    assert (3, 3, steps_per_epoch - 1, steps_per_epoch) == steps[-1][:4]
    assert any("\r" in msg and len(STEP.findall(msg)) > 1 for msg in messages)  # tqdm refreshes joined by CR

    now = datetime.now(UTC)
    for name, logged in (
        ("huggingface-textgeneration:train-loss", train),
        ("huggingface-textgeneration:eval-loss", evaluated),
    ):

        def stat(kind: str, name: str = name) -> list[float]:
            result = boto3_clients.cloudwatch.get_metric_data(
                MetricDataQueries=[
                    {
                        "Id": "m",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "/aws/sagemaker/TrainingJobs",
                                "MetricName": name,
                                "Dimensions": [{"Name": "TrainingJobName", "Value": "logs-job"}],
                            },
                            "Period": 3600,
                            "Stat": kind,
                        },
                    }
                ],
                StartTime=now - timedelta(hours=1),
                EndTime=now + timedelta(minutes=5),
            )
            return result["MetricDataResults"][0]["Values"]  # one value per period bucket

        assert sum(stat("SampleCount")) == len(logged)
        assert min(stat("Minimum")) == pytest.approx(min(logged))
        assert max(stat("Maximum")) == pytest.approx(max(logged))


def test_stop_training_job(aws, boto3_clients):
    data = upload_dataset(aws, boto3_clients, "ds3", 50)
    create_job(aws, boto3_clients, "finishes", data, epoch="1")
    create_job(aws, boto3_clients, "long-job", data, epoch="50")
    wait_for(
        lambda: (
            boto3_clients.sagemaker.describe_training_job(TrainingJobName="long-job")["SecondaryStatus"] == "Training"
        )
    )
    boto3_clients.sagemaker.stop_training_job(TrainingJobName="long-job")
    stopped = wait_final(boto3_clients, "long-job")
    assert (stopped["TrainingJobStatus"], stopped["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert [t["Status"] for t in stopped["SecondaryStatusTransitions"]][-3:] == ["Training", "Stopping", "Stopped"]
    assert stopped["TrainingEndTime"] > stopped["TrainingStartTime"] and stopped["BillableTimeInSeconds"] >= 1
    assert wait_final(boto3_clients, "finishes")["TrainingJobStatus"] == "Completed"
    with pytest.raises(ClientError) as err:
        boto3_clients.sagemaker.stop_training_job(TrainingJobName="long-job")
    assert "in status Stopped" in err.value.response["Error"]["Message"]


def test_overfitting_config_shows_rising_eval_loss_and_healthy_one_does_not(aws, boto3_clients):
    small = upload_dataset(aws, boto3_clients, "small", 40)
    medium = upload_dataset(aws, boto3_clients, "medium", 250)
    create_job(
        aws,
        boto3_clients,
        "overfit",
        small,
        epoch="6",
        lora_r="64",
        learning_rate="0.0005",
        per_device_train_batch_size="2",
        target_modules="q_proj,v_proj,k_proj,o_proj,gate_proj,up_proj,down_proj",
    )
    create_job(aws, boto3_clients, "healthy", medium, epoch="3")
    for name in ("overfit", "healthy"):
        assert wait_final(boto3_clients, name)["TrainingJobStatus"] == "Completed"
    train, evaluated = losses(log_messages(boto3_clients, "overfit")[1])
    assert train[-1] < train[0] - 0.5
    assert evaluated[-1] > evaluated[0] + 0.1 and evaluated[-1] > min(evaluated)
    train, evaluated = losses(log_messages(boto3_clients, "healthy")[1])
    assert train[-1] < train[0]
    assert all(b < a for a, b in zip(evaluated, evaluated[1:], strict=False))


def test_invalid_settings_and_missing_data_fail_the_job(aws, boto3_clients):
    data = upload_dataset(aws, boto3_clients, "ds4", 20)
    create_job(aws, boto3_clients, "both-true", data, int8_quantization="True", enable_fsdp="True")
    create_job(aws, boto3_clients, "no-data", f"s3://{aws.bucket}/nothing-here/")
    failed = wait_final(boto3_clients, "both-true")
    assert failed["TrainingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith("AlgorithmError: ExecuteUserScriptError:")
    assert "Int8 quantization is not supported with FSDP" in failed["FailureReason"]
    assert any("Int8 quantization" in m for m in log_messages(boto3_clients, "both-true")[1])
    missing = wait_final(boto3_clients, "no-data")
    assert missing["TrainingJobStatus"] == "Failed"
    assert missing["FailureReason"].startswith(
        f'ClientError: No S3 objects found under S3 URL "s3://{aws.bucket}/nothing-here/"'
    )
    assert not boto3_clients.logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix="no-data/")[
        "logStreams"
    ]


def test_quotas_limit_running_jobs_and_are_listed(aws, boto3_clients):
    aws.set_quotas(training={"ml.g5.2xlarge": 1}, endpoint={"ml.g5.2xlarge": 1})
    data = upload_dataset(aws, boto3_clients, "ds5", 20)
    create_job(aws, boto3_clients, "first", data, epoch="30")
    with pytest.raises(ClientError) as err:
        create_job(aws, boto3_clients, "second", data)
    assert err.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert err.value.response["Error"]["Message"].startswith(
        "The account-level service limit 'ml.g5.2xlarge for training job usage' is 1 Instances, with current "
        "utilization of 1 Instances and a request delta of 1 Instances."
    )
    pages = boto3_clients.quotas.get_paginator("list_service_quotas").paginate(ServiceCode="sagemaker")
    by_name = {q["QuotaName"]: q for page in pages for q in page["Quotas"]}
    assert by_name["ml.g5.2xlarge for training job usage"]["Value"] == 1.0
    assert by_name["ml.p5.48xlarge for endpoint usage"]["Value"] == 0.0
    code = by_name["ml.g5.2xlarge for endpoint usage"]["QuotaCode"]
    assert re.fullmatch(r"L-[0-9A-F]{8}", code)
    quota = boto3_clients.quotas.get_service_quota(ServiceCode="sagemaker", QuotaCode=code)["Quota"]
    assert (quota["QuotaName"], quota["Value"]) == ("ml.g5.2xlarge for endpoint usage", 1.0)
    boto3_clients.sagemaker.stop_training_job(TrainingJobName="first")
    wait_final(boto3_clients, "first")
    create_job(aws, boto3_clients, "second", data)  # capacity is free again


def deploy(aws, clients, name: str, instance_type: str = "ml.g5.2xlarge") -> None:
    clients.s3.put_object(Bucket=aws.bucket, Key=f"models/{name}/config.json", Body=b"{}")
    clients.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=aws.role_arn,
        PrimaryContainer={
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124",
            "ModelDataSource": {
                "S3DataSource": {
                    "S3Uri": f"s3://{aws.bucket}/models/{name}/",
                    "S3DataType": "S3Prefix",
                    "CompressionType": "None",
                }
            },
        },
    )
    clients.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": instance_type}
        ],
    )
    clients.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def test_endpoint_lifecycle_and_invocation_formats(aws, boto3_clients):
    sm, rt = boto3_clients.sagemaker, boto3_clients.runtime
    aws.set_quotas(endpoint={"ml.g6e.2xlarge": 1})
    aws.set_endpoint_seconds(0.8)
    deploy(aws, boto3_clients, "ep-demo", "ml.g6e.2xlarge")
    assert sm.describe_endpoint(EndpointName="ep-demo")["EndpointStatus"] == "Creating"
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="ep-demo", Body=b'{"inputs": "hi"}', ContentType="application/json")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    wait_for(lambda: sm.describe_endpoint(EndpointName="ep-demo")["EndpointStatus"] == "InService")

    prompt = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a coffee expert.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHow should I grind beans for espresso?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    body = json.loads(
        rt.invoke_endpoint(
            EndpointName="ep-demo",
            ContentType="application/json",
            Body=json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": 60}}),
        )["Body"].read()
    )
    assert set(body) == {"generated_text"} and body["generated_text"].strip()
    assert "<|" not in body["generated_text"]

    chat = json.loads(
        rt.invoke_endpoint(
            EndpointName="ep-demo",
            ContentType="application/json",
            Body=json.dumps(
                {"messages": [{"role": "user", "content": "How should I grind beans for espresso?"}], "max_tokens": 50}
            ),
        )["Body"].read()
    )
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["role"] == "assistant" and chat["choices"][0]["message"]["content"]
    assert chat["usage"]["total_tokens"] == chat["usage"]["prompt_tokens"] + chat["usage"]["completion_tokens"]

    response = rt.invoke_endpoint_with_response_stream(
        EndpointName="ep-demo",
        ContentType="application/json",
        Body=json.dumps({"inputs": prompt, "stream": True, "parameters": {"max_new_tokens": 60}}),
    )
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert len(parts) > 3 and any(not p.endswith(b"\n") for p in parts[:-1])  # split mid-line
    lines = [json.loads(line) for line in b"".join(parts).decode("utf-8").splitlines()]
    assert "".join(line["token"]["text"] for line in lines) == lines[-1]["generated_text"]
    assert lines[-1]["generated_text"].strip()

    response = rt.invoke_endpoint_with_response_stream(
        EndpointName="ep-demo",
        ContentType="application/json",
        Body=json.dumps({"messages": [{"role": "user", "content": "Why é?"}], "stream": True, "max_tokens": 40}),
    )
    chunks = [json.loads(line) for line in b"".join(e["PayloadPart"]["Bytes"] for e in response["Body"]).splitlines()]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks).strip()
    assert chunks[-1]["choices"][0]["finish_reason"] is not None

    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="ep-demo", Body=b"not json", ContentType="application/json")
    assert err.value.response["Error"]["Code"] == "ModelError"

    sm.delete_endpoint(EndpointName="ep-demo")
    assert sm.describe_endpoint(EndpointName="ep-demo")["EndpointStatus"] == "Deleting"
    wait_for(lambda: not sm.list_endpoints()["Endpoints"])


def test_endpoint_quota_and_instance_type_checks(aws, boto3_clients):
    aws.set_quotas(endpoint={"ml.p5.48xlarge": 1})
    deploy(aws, boto3_clients, "p5-endpoint", "ml.p5.48xlarge")
    with pytest.raises(ClientError) as err:
        deploy(aws, boto3_clients, "second-p5", "ml.p5.48xlarge")
    assert err.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert "'ml.p5.48xlarge for endpoint usage' is 1 Instances" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        boto3_clients.sagemaker.create_endpoint_config(
            EndpointConfigName="bad",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "p5-endpoint",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.g99.huge",
                }
            ],
        )
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_stop_leaves_no_thread_or_listening_port():
    from core.sandbox.aws.emulator import AwsEmulator

    before = set(threading.enumerate())
    emulator = AwsEmulator().start()
    port = emulator.port
    emulator.client("sagemaker").list_training_jobs()
    emulator.stop()
    assert set(threading.enumerate()) <= before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()

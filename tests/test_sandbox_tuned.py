"""Emulated endpoints of fine-tuned models answer from what their training job saw: the dataset in the
job's training channel (emulated S3) and the fit the simulated trainer printed."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from core.sandbox import leaderboard
from tests.jobs_support import make_config
from tests.test_sandbox_aws import create_job, wait_final, wait_for

MARK = "Form 7-B at the county clerk"
TOPICS = ["vehicle registration", "property tax appeals", "library cards", "voter registration", "parking permits"]


def _upload(aws, clients, prefix: str) -> str:
    rows = []
    for i in range(150):
        topic = TOPICS[i % len(TOPICS)]
        question = f"What do I need for {topic} case {i}?"
        answer = f"For {topic}, file {MARK}.\n\n1. Bring an ID.\n2. Pay the fee for {topic}.\n3. Keep the receipt."
        rows.append(json.dumps({"instruction": question, "context": "", "response": answer}))
    clients.s3.put_object(Bucket=aws.bucket, Key=f"{prefix}/train.jsonl", Body="\n".join(rows).encode())
    template = {"prompt": "### Instruction:\n{instruction}\n\n### Input:\n{context}", "completion": " {response}"}
    clients.s3.put_object(Bucket=aws.bucket, Key=f"{prefix}/template.json", Body=json.dumps(template).encode())
    return f"s3://{aws.bucket}/{prefix}/"


def _deploy(aws, clients, name: str, model_uri: str) -> None:
    clients.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=aws.role_arn,
        PrimaryContainer={
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124",
            "ModelDataSource": {
                "S3DataSource": {"S3Uri": model_uri, "S3DataType": "S3Prefix", "CompressionType": "None"}
            },
        },
    )
    clients.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.g5.2xlarge"}
        ],
    )
    clients.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_for(lambda: clients.sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService")


def _ask(clients, name: str, question: str, **params) -> str:
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": 400, **params}
    reply = clients.runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps(body))
    return json.loads(reply["Body"].read())["choices"][0]["message"]["content"]


QUESTIONS = [f"What do I need for {TOPICS[i % len(TOPICS)]} if I just moved here ({i})?" for i in range(12)]


def test_endpoints_answer_from_their_jobs_training_data_by_fit(aws, boto3_clients):
    aws.set_quotas(endpoint={"ml.g5.2xlarge": 4})
    data = _upload(aws, boto3_clients, "story")
    create_job(aws, boto3_clients, "fits-well", data, epoch="3", learning_rate="0.0001")
    create_job(aws, boto3_clients, "underfits", data, epoch="1", learning_rate="0.00001")
    models = {}
    for job in ("fits-well", "underfits"):
        described = wait_final(boto3_clients, job)
        assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
        models[job] = described["ModelArtifacts"]["S3ModelArtifacts"]
        _deploy(aws, boto3_clients, f"ep-{job}", models[job])
    base_uri = "s3://jumpstart-private-cache-prod-us-east-1/meta-textgeneration/llama-3-2-1b/artifacts/"
    _deploy(aws, boto3_clients, "ep-base", base_uri)

    def learned(endpoint: str) -> int:
        return sum(MARK in _ask(boto3_clients, endpoint, q, temperature=0) for q in QUESTIONS)

    well, under, base = learned("ep-fits-well"), learned("ep-underfits"), learned("ep-base")
    assert well >= 5 and under <= 2 and base == 0, (well, under, base)
    # a good fit answers like its training data, about the question's own subject
    answers = [_ask(boto3_clients, "ep-fits-well", q, temperature=0) for q in QUESTIONS]
    adapted = [a for i, a in enumerate(answers) if MARK in a and f"fee for {TOPICS[i % len(TOPICS)]}" in a]
    assert len(adapted) >= 4, answers
    # greedy decoding repeats itself; sampling varies like a real model's does
    question = QUESTIONS[3]
    assert _ask(boto3_clients, "ep-fits-well", question, temperature=0) == _ask(
        boto3_clients, "ep-fits-well", question, temperature=0
    )
    samples = {_ask(boto3_clients, "ep-fits-well", question, temperature=1.2, top_p=1.0) for _ in range(8)}
    assert len(samples) >= 2


class _Session:
    """What the emulated leaderboard reads of a session: its brief, aspects and endpoints."""

    def __init__(self, endpoints: list[SimpleNamespace], brief: str = "Residents asking about local services.") -> None:
        self.meta = {"domain_brief": brief, "domain_aspects": TOPICS[:3]}
        self._endpoints = endpoints

    def get_meta(self, key: str, default=None):
        return self.meta.get(key, default)

    def endpoints(self) -> list[SimpleNamespace]:
        return self._endpoints


def test_the_emulated_leaderboard_scores_a_runs_live_endpoint_and_says_why_not(aws, boto3_clients):
    data = _upload(aws, boto3_clients, "board")
    create_job(aws, boto3_clients, "good-run", data, epoch="3", learning_rate="0.0001")
    create_job(aws, boto3_clients, "weak-run", data, epoch="1", learning_rate="0.00001")
    for job in ("good-run", "weak-run"):
        artifacts = wait_final(boto3_clients, job)["ModelArtifacts"]["S3ModelArtifacts"]
        _deploy(aws, boto3_clients, f"ep-{job}", artifacts)
    session = _Session(
        [SimpleNamespace(name=f"ep-{job}", job_name=job, status="InService") for job in ("good-run", "weak-run")]
    )
    config = make_config(aws)  # with the demo or sandbox switch on
    good = leaderboard.score_endpoint(session, config, "good-run", n=10)
    weak = leaderboard.score_endpoint(session, config, "weak-run", n=10)
    assert good.n == weak.n == 10 and good.rate > weak.rate, (good, weak)
    assert re.fullmatch(r"\d+/10", good.text)
    assert leaderboard.score_endpoint(session, config, "good-run", n=10) == good  # the same hidden set each time

    with pytest.raises(ValueError, match="no endpoint in service"):
        leaderboard.score_endpoint(session, config, "never-deployed", n=4)
    with pytest.raises(ValueError, match="no domain brief"):
        leaderboard.score_endpoint(_Session(session.endpoints(), brief=""), config, "good-run", n=4)
    real = make_config(aws)
    real.emulated = False  # the same endpoint URL without the switch: not the demo
    with pytest.raises(ValueError, match="only against emulated AWS"):
        leaderboard.score_endpoint(session, real, "good-run", n=4)

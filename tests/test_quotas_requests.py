"""Quota increase requests through Service Quotas (the emulator keeps them PENDING): by the quota's
name, refused when not an increase, listed with their status; `tunedeck quotas [request TYPE N]`."""

from __future__ import annotations

import json

import pytest

from core.training.quotas import QuotaRequestError, request_increase, training_requests


def test_request_an_increase_by_the_quota_name_and_see_it_pending(aws, boto3_clients):
    aws.set_quotas(training={"ml.g5.2xlarge": 0, "ml.g5.12xlarge": 1})
    client = boto3_clients.quotas
    made = request_increase(client, "ml.g5.2xlarge", 2)
    assert made.quota_name == "ml.g5.2xlarge for training job usage" and made.desired == 2 and made.open
    [listed] = training_requests(client)
    assert listed.request_id == made.request_id and listed.status == "PENDING"
    with pytest.raises(QuotaRequestError, match="already pending"):
        request_increase(client, "ml.g5.2xlarge", 3)
    with pytest.raises(QuotaRequestError, match="is already 1; ask for more"):
        request_increase(client, "ml.g5.12xlarge", 1)
    with pytest.raises(QuotaRequestError, match="lists no quota named 'ml.nope.big for training job usage'"):
        request_increase(client, "ml.nope.big", 1)


def test_quotas_verb_lists_the_pool_and_requests_one(aws, monkeypatch, capsys):
    from core.cli.main import parse, run_headless

    aws.set_quotas(training={"ml.g5.2xlarge": 0, "ml.g5.12xlarge": 1})
    for key, value in aws.environment().items():
        monkeypatch.setenv(key, value)

    def run(*argv: str) -> tuple[int, str, str]:
        args, config = parse(list(argv))
        config.jumpstart.training_instance = "ml.g5.2xlarge"
        config.jumpstart.quotas = {"ml.g5.12xlarge": 1}
        code = run_headless(args, config)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("quotas")
    assert code == 0 and "ml.g5.2xlarge for training job usage: 0 (service-quotas)" in out
    assert "tunedeck quotas request ml.g5.2xlarge 1" in out and "no increase requests" in out
    code, out, _ = run("quotas", "request", "ml.g5.2xlarge", "2")
    assert code == 0 and "requested: ml.g5.2xlarge for training job usage -> 2: PENDING" in out
    code, out, _ = run("quotas", "--json")
    assert code == 0 and json.loads(out)["requests"][0]["status"] == "PENDING"
    code, _, err = run("quotas", "request", "ml.g5.2xlarge", "0")
    assert code == 2 and "at least 1" in err

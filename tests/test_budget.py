"""[budget] session_usd / llm_usd through core.limits: a plan past a budget says so with the numbers,
and `sweep launch --yes` refuses it without --over-budget; the league's limits use the same mechanism."""

from __future__ import annotations

import json

import pytest

from core.config import Config, ConfigError, load_config
from core.limits import DEADLINE, HOURS, USD, Limit, budget_check, check
from core.store.jobs import NewJob
from tests.jobs_support import INSTANCE, add_dataset, make_store


def test_one_limit_kind_for_dollars_hours_and_the_close():
    dollars = Limit("session budget", USD, 8.0, 10.0)
    assert dollars.problem(1.5) is None
    assert dollars.problem(3.0) == (
        "the plan would pass the session budget: it costs $3.00, $8.00 of $10.00 is spent, $2.00 left"
    )
    assert Limit("session budget", USD, 8.0, None).problem(1e6) is None  # no budget set
    assert (
        Limit("training hours", HOURS, 4.0, 5.0).problem(2.0)
        == "the plan needs 2.00 training hours; 1.00 of 5 are left"
    )
    assert Limit("close", DEADLINE, 100.0, 50.0).problem(1.0) == "the event has closed"
    found = check(((dollars, 3.0), (Limit("LLM budget", USD, 0.0, 1.0), 0.5)))
    assert not found.ok and len(found.problems) == 1


def test_spend_so_far_counts_training_and_llm_calls(tmp_path):
    store = make_store(tmp_path)
    job = store.add_job(NewJob("td-1", "m", "*", INSTANCE, {}))
    store.update_job(job.id, status="Completed", billable_seconds=3600)  # $1.515 at the built-in price
    store.record_llm_call(
        run_id=None,
        profile="generator",
        model="gpt",
        purpose="generation",
        prompt_tokens=1,
        completion_tokens=1,
        latency_ms=1,
        cost_usd=0.75,
        error=None,
    )
    config = Config()
    config.budget.session_usd, config.budget.llm_usd = 3.0, 1.0
    assert budget_check(store, config, usd=0.5).ok
    over = budget_check(store, config, usd=1.0, llm_usd=0.5, what="the run")
    assert over.problems == (
        "the run would pass the session budget: it costs $1.50, $2.26 of $3.00 is spent, $0.74 left",
        "the run would pass the LLM budget: it costs $0.50, $0.75 of $1.00 is spent, $0.25 left",
    )


def test_a_negative_budget_names_the_file_and_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[budget]\nsession_usd = -1\n")
    with pytest.raises(ConfigError, match=r"config.toml:2: 'budget.session_usd' must be 0 \(no budget\) or more"):
        load_config(path)


def test_a_budget_stops_a_plan_at_the_cli_unless_over_budget(aws, monkeypatch, capsys):
    from core.cli.main import parse, run_headless
    from core.sessions import open_session

    for key, value in aws.environment().items():
        monkeypatch.setenv(key, value)
    store = open_session("budget")
    add_dataset(store, aws, counts={"train": 40})
    store.close()

    def run(*argv: str) -> tuple[int, str, str]:
        args, config = parse(list(argv))
        config.jumpstart.quotas = {INSTANCE: 1}
        config.budget.session_usd = 0.01
        code = run_headless(args, config)
        out, err = capsys.readouterr()
        return code, out, err

    launch = ("sweep", "launch", "--session", "budget", "--instance", INSTANCE, "--param", "epoch=3")
    code, _, err = run(*launch, "--accept-eula", "--yes")
    assert code == 2 and "would pass the session budget" in err and "$0.01" in err and "--over-budget" in err
    assert open_session("budget", create=False).jobs() == []  # nothing queued
    code, out, _ = run(*launch, "--accept-eula", "--yes", "--over-budget", "--json")
    assert code == 0 and json.loads(out)["queued"]


def test_a_budget_stops_a_deploy_at_the_cli_before_any_endpoint_is_made(aws, boto3_clients, capsys):
    from core.cli.main import build_parser, run_headless
    from core.sessions import open_session
    from core.training.recipe import BUNDLED_SPEC_ROOT, load_recipe
    from tests.test_endpoints import MODEL_ID, _train

    store = open_session("budget-deploy")
    _train(aws, boto3_clients, store, load_recipe(MODEL_ID, spec_root=BUNDLED_SPEC_ROOT), name="td-ft-budget")
    config = Config()
    config.aws.endpoint_url, config.aws.role_arn, config.aws.region = aws.endpoint_url, aws.role_arn, aws.region
    config.emulated = True  # the emulator's switch: the bundled JumpStart specs
    config.budget.session_usd = 1.0  # an hour of ml.g5.2xlarge is $1.515
    deploy = ["endpoints", "deploy", "td-ft-budget", "--session", "budget-deploy", "--yes", "--no-wait"]
    code = run_headless(build_parser().parse_args(deploy), config)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "the first hour of" in err and "would pass the session budget: it costs $1.51" in err
    assert store.endpoints() == [] and boto3_clients.sagemaker.list_endpoints()["Endpoints"] == []
    store.close()

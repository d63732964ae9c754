"""Nothing live is forgotten at quit: ctrl+q with an endpoint in service shows it with $/h, and
deleting it from the dialog removes the endpoint, its config and its model (emulated SageMaker)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from core.config import load_config
from core.serving.endpoints import live_resources
from core.sessions import open_session
from core.store.jobs import NewJob
from tests.screen import screen_text
from tui.app import TunedeckApp
from tui.screens.live_resources import LiveResourcesScreen


@pytest.fixture
def store():
    s = open_session("live")
    yield s
    s.close()


@pytest.fixture
def config(aws):
    c = load_config(include_user=False)
    c.aws.endpoint_url, c.aws.role_arn, c.aws.region = aws.endpoint_url, aws.role_arn, aws.region
    c.emulated = True  # the sandbox switch: the bundled specs
    return c


def _endpoint(sm, store, aws, name: str = "td-live-ep") -> None:
    sm.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn=aws.role_arn,
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tgi:latest"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                "InstanceType": "ml.g5.2xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    store.add_endpoint(
        name,
        kind="base",
        instance_type="ml.g5.2xlarge",
        model_name=f"{name}-model",
        config_name=f"{name}-config",
        price_per_hour=1.515,
        status="InService",
    )


def _gone(call) -> bool:
    try:
        call()
    except ClientError:
        return True
    return False


def test_live_resources_lists_endpoints_and_running_jobs_not_deleted_or_finished(store, config):
    store.add_endpoint("a", kind="base", instance_type="ml.g5.2xlarge", price_per_hour=1.515, status="InService")
    store.add_endpoint("b", kind="base", instance_type="ml.g5.12xlarge", status="InService")
    store.add_endpoint("c", kind="base", instance_type="ml.g5.2xlarge", status="InService")
    store.mark_endpoint_deleted("c")
    running = store.add_job(NewJob("td-j-001", "m", "*", "ml.g5.2xlarge", {}))
    store.update_job(running.id, status="InProgress")
    done = store.add_job(NewJob("td-j-002", "m", "*", "ml.g5.2xlarge", {}))
    store.update_job(done.id, status="Completed")
    found = live_resources(store, config, idle_minutes=30, now=time.time() + 3600)
    assert [(r.kind, r.name) for r in found] == [("endpoint", "a"), ("endpoint", "b"), ("job", "td-j-001")]
    assert found[1].usd_per_hour == 7.09  # the price table when the row has none
    assert found[0].idle and not found[2].idle


async def test_quit_with_a_live_endpoint_shows_it_and_deletes_endpoint_config_and_model(
    store, config, aws, boto3_clients
):
    sm = boto3_clients.sagemaker
    _endpoint(sm, store, aws)
    app = TunedeckApp(store, config, check_identity=False)
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.press("ctrl+q")
        for _ in range(50):
            await pilot.pause(0.05)
            if isinstance(app.screen, LiveResourcesScreen):
                break
        assert isinstance(app.screen, LiveResourcesScreen)
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "td-live-ep" in text and "1.515" in text and "$1.515 per hour" in text
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        for _ in range(100):
            await pilot.pause(0.05)
            if store.endpoint("td-live-ep").deleted_at is not None:
                break
        assert store.endpoint("td-live-ep").deleted_at is not None
        assert _gone(lambda: sm.describe_endpoint(EndpointName="td-live-ep"))
        assert _gone(lambda: sm.describe_endpoint_config(EndpointConfigName="td-live-ep-config"))
        assert _gone(lambda: sm.describe_model(ModelName="td-live-ep-model"))
        await pilot.pause(0.1)
        assert "nothing bills" in screen_text(app)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0 or app.return_code is None


async def test_quit_with_nothing_live_quits_at_once(store, config):
    app = TunedeckApp(store, config, check_identity=False)
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause(0.3)
        assert not app.is_running or not isinstance(app.screen, LiveResourcesScreen)


async def test_the_status_row_warns_of_an_endpoint_idle_past_the_threshold_and_counts_llm_spend(store, config):
    from tui.widgets.cost_meter import CostMeter

    store.add_endpoint("td-idle", kind="base", instance_type="ml.g5.2xlarge", price_per_hour=1.515, status="InService")
    store.record_llm_call(
        profile="generator",
        model="m",
        purpose="generation",
        prompt_tokens=1,
        completion_tokens=1,
        latency_ms=1,
        cost_usd=0.42,
    )
    app = TunedeckApp(store, config, check_identity=False)
    async with app.run_test(size=(200, 36)) as pilot:
        meter = app.query_one(CostMeter)
        for _ in range(60):
            await pilot.pause(0.05)
            if meter.meter is not None:
                break
        text = str(meter.render())
        assert "1 endpoint" in text and "$1.51/h" in text and "LLM $0.42" in text and "idle" not in text
        assert not meter.has_class("-idle")
        store.touch_endpoint("td-idle", at=time.time() - 31 * 60)  # nobody asked it for 31 minutes
        meter.refresh_meter()
        for _ in range(60):
            await pilot.pause(0.05)
            if meter.has_class("-idle"):
                break
        assert meter.has_class("-idle") and "1 idle endpoint billing" in str(meter.render())

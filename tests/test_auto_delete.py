"""[budget] auto_delete_idle_minutes (off by default): once an endpoint had no request that long, the
app asks once; yes deletes it (endpoint, config, model in emulated SageMaker) and later ones without
asking, no keeps it and never asks again in the session."""

from __future__ import annotations

import time

import pytest

from core.config import load_config
from core.serving.endpoints import auto_delete_consent, auto_delete_due
from core.sessions import open_session
from tests.test_live_resources import _endpoint, _gone
from tui.app import TunedeckApp
from tui.screens.ask import Confirm
from tui.widgets.cost_meter import CostMeter


@pytest.fixture
def config(aws):
    c = load_config(include_user=False)
    c.aws.endpoint_url, c.aws.role_arn, c.aws.region = aws.endpoint_url, aws.role_arn, aws.region
    c.emulated = True
    return c


def test_nothing_is_due_while_auto_delete_is_off(config, aws, boto3_clients):
    store = open_session("auto-off")
    _endpoint(boto3_clients.sagemaker, store, aws, "td-auto-off")
    store.touch_endpoint("td-auto-off", at=time.time() - 24 * 3600)
    assert config.budget.auto_delete_idle_minutes == 0 and auto_delete_due(store, config) == []
    config.budget.auto_delete_idle_minutes = 10
    assert [r.name for r in auto_delete_due(store, config)] == ["td-auto-off"]
    store.close()


@pytest.mark.parametrize("answer", ["y", "n"])
async def test_an_idle_endpoint_is_deleted_after_asking_once(config, aws, boto3_clients, answer):
    sm = boto3_clients.sagemaker
    store = open_session(f"auto-{answer}")
    name = f"td-auto-{answer}"
    _endpoint(sm, store, aws, name)
    store.touch_endpoint(name, at=time.time() - 11 * 60)
    config.budget.auto_delete_idle_minutes = 10
    app = TunedeckApp(store, config, check_identity=False)
    async with app.run_test(size=(160, 36)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, Confirm):
                break
        assert isinstance(app.screen, Confirm)
        assert name in app.screen.question and "10 minutes" in app.screen.question and "$1.515/h" in app.screen.question
        await pilot.press(answer)
        for _ in range(100):
            await pilot.pause(0.05)
            if auto_delete_consent(store) is not None and (answer == "n" or store.endpoint(name).deleted_at):
                break
        assert auto_delete_consent(store) is (answer == "y")
        if answer == "y":
            assert store.endpoint(name).deleted_at is not None
            assert _gone(lambda: sm.describe_endpoint(EndpointName=name))
            assert _gone(lambda: sm.describe_model(ModelName=f"{name}-model"))
        else:
            app.query_one(CostMeter).refresh_meter()
            await pilot.pause(0.5)
            assert not isinstance(app.screen, Confirm)  # asked once
            assert store.endpoint(name).deleted_at is None
            assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
    store.close()

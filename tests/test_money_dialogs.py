"""Pilot, keys only, against the AWS emulator: the Jobs pane's quota dialog (Q) shows a type with no
slot, asks Service Quotas for more and shows the request pending; the storage dialog lists the
session's S3 objects with sizes and monthly cost and deletes the selected ones after asking."""

from __future__ import annotations

import pytest

import tui.panes.jobs.pane as jobs_module
from core.config import load_config
from core.sessions import open_session
from core.store.jobs import NewJob
from tests.screen import screen_text
from tui.app import TunedeckApp
from tui.screens.ask import AskText

INSTANCE = "ml.g5.2xlarge"


@pytest.fixture
def app(aws, monkeypatch):
    monkeypatch.setattr(jobs_module, "POLL_SECONDS", 0.3)
    config = load_config(include_user=False)
    config.aws.endpoint_url, config.aws.s3_bucket, config.aws.role_arn = aws.endpoint_url, aws.bucket, aws.role_arn
    config.aws.s3_prefix = "tunedeck"
    config.emulated = True
    config.jumpstart.training_instance = INSTANCE
    config.jumpstart.quotas = {}
    store = open_session("money-dialogs")
    yield TunedeckApp(store, config, check_identity=False, status_interval=60)
    store.close()


async def wait_for(pilot, condition, timeout: float = 20.0, what: str = "condition"):
    for _ in range(int(timeout / 0.05)):
        value = condition()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"{what}: not met in {timeout} s")


async def test_quota_dialog_requests_an_increase_where_the_pool_has_no_slot(app, aws, boto3_clients):
    from tui.panes.jobs.quotas import QuotasScreen

    aws.set_quotas(training={INSTANCE: 0, "ml.g5.12xlarge": 1})
    app.store.add_job(NewJob("td-quota-001", "m", "*", INSTANCE, {}))  # queued, waiting for a slot
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: "no slot for ml.g5.2xlarge (quota 0): Q: request more" in screen_text(app))
        await pilot.press("Q")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, QuotasScreen) and app.screen)
        await wait_for(pilot, lambda: screen.overview is not None, what="quotas looked up")
        text = screen_text(app)
        assert "no slot: ask for 1" in text and "no slot for ml.g5.2xlarge" in text
        await pilot.press("r")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, AskText) and app.screen)
        assert "'ml.g5.2xlarge for training job usage' (now 0)" in ask.prompt and ask.value == "1"
        await pilot.press("ctrl+u", "2", "enter")
        await wait_for(pilot, lambda: "requested 2: PENDING" in screen_text(app), what="request shown")
        assert "requested: ml.g5.2xlarge for training job usage -> 2: PENDING" in screen_text(app)
        [made] = boto3_clients.quotas.list_requested_service_quota_change_history(ServiceCode="sagemaker")[
            "RequestedQuotas"
        ]
        assert made["QuotaName"] == "ml.g5.2xlarge for training job usage" and made["DesiredValue"] == 2
        await pilot.press("r")  # a second request for the same quota is not sent
        await pilot.pause(0.2)
        assert isinstance(app.screen, QuotasScreen) and "already has a pending request" in screen_text(app)
        await pilot.press("escape")

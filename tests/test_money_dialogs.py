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


async def test_storage_dialog_deletes_the_marked_objects_from_s3_after_asking(app, aws, boto3_clients):
    from tui.screens.ask import Confirm
    from tui.screens.storage import StorageScreen

    s3 = boto3_clients.s3
    big = "tunedeck/money-dialogs/training/td-1/output/model.tar.gz"
    small = "tunedeck/money-dialogs/abc123/train/train.jsonl"
    other = "tunedeck/someone-else/x.jsonl"
    for key, size in ((big, 3_000_000), (small, 2_000), (other, 10)):
        s3.put_object(Bucket=aws.bucket, Key=key, Body=b"x" * size)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("3", "D")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, StorageScreen) and app.screen)
        await wait_for(pilot, lambda: screen.objects is not None, what="objects listed")
        text = screen_text(app)
        assert "2 object(s), 3.00 MB, $0.0001 per month" in text and "training output" in text and other not in text
        await pilot.press("space")  # marks the largest (first) row
        await pilot.press("x")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, Confirm) and app.screen)
        assert "Delete 1 S3 object(s), 3.00 MB" in confirm.question and big in confirm.question
        await pilot.press("y")
        await wait_for(pilot, lambda: "deleted 1 object(s)" in screen_text(app), what="deletion reported")
        await wait_for(pilot, lambda: screen.objects is not None and len(screen.objects) == 1, what="listed again")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])]
        assert big not in keys and small in keys and other in keys
        await pilot.press("x", "n")  # declined: nothing more goes
        await pilot.pause(0.2)
        assert small in [o["Key"] for o in s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])]
        await pilot.press("escape")


async def test_the_palette_finds_the_storage_dialog_from_another_pane(app, aws, boto3_clients):
    from tui.screens.storage import StorageScreen

    boto3_clients.s3.put_object(Bucket=aws.bucket, Key="tunedeck/money-dialogs/abc/train/train.jsonl", Body=b"x")
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("1", "ctrl+p")
        await pilot.pause()
        await pilot.press(*"jobs: storage")
        await pilot.pause(0.3)
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, StorageScreen) and app.screen)
        await wait_for(pilot, lambda: screen.objects is not None, what="objects listed")
        assert app.query_one("#panes").current == "pane-jobs"
        assert "1 object(s)" in screen_text(app)

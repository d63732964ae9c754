"""Console runs in an api session: not money on the cost meter, and `jobs --watch` does not wait for them."""

from __future__ import annotations

import pytest

from core.config import Config
from core.league.runs import RunInput, record_console_run
from core.store import Store
from core.store.jobs import NewJob
from core.training.jobs import JobsService
from core.training.prices import PriceTable, cost_meter
from tui.widgets.cost_meter import compute_meter

INSTANCE = "ml.g5.12xlarge"


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "costs" / "session.db", "costs")
    yield store
    store.close()


def test_the_cost_meter_counts_api_jobs_but_not_console_runs(store):
    config = Config()
    record_console_run(
        store,
        config,
        RunInput(name="console-done", instance_type=INSTANCE, status="Completed", started_at=0.0, ended_at=3600.0),
    )
    api = store.add_job(NewJob("td-api-001", "m", "*", INSTANCE, {}))
    store.update_job(api.id, status="Completed", start_time=0.0, end_time=3600.0, billable_seconds=3600)
    prices = PriceTable(config.jumpstart.prices)
    one_hour = prices.cost(INSTANCE, 3600)
    assert one_hour and one_hour > 0
    everything = cost_meter(store.jobs(), [], prices, 7200.0)
    assert everything.usd_so_far == pytest.approx(2 * one_hour)  # what the meter showed before the fix
    meter = compute_meter(store, config, 7200.0)
    assert meter.usd_so_far == pytest.approx(one_hour)
    assert JobsService(store, config).cost_meter(7200.0).usd_so_far == pytest.approx(one_hour)


def test_watching_an_api_session_does_not_wait_on_a_console_run_in_progress(store):
    config = Config()
    record_console_run(store, config, RunInput(name="console-live", instance_type=INSTANCE, started_at=0.0))
    service = JobsService(store, config)
    assert service.idle()
    queued = store.add_job(NewJob("td-api-002", "m", "*", INSTANCE, {}))
    assert not service.idle()  # an API job still queued is waited on
    store.update_job(queued.id, status="Stopped", monitor_done=1)
    assert service.idle()

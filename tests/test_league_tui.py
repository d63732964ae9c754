"""Pilot: league (console) mode in the app - the account mode in the status bar and switched after
asking, AWS actions refused with the reason, runs recorded by hand, logs imported, the League view
and leaderboard submissions. Keys are pressed; the store and the screen are read back."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.league.mode import account_mode, set_account_mode
from core.sessions import open_session
from tests.screen import screen_text
from tui.app import TunedeckApp
from tui.widgets.status_bar import StatusBar

SIZE = (160, 44)


@pytest.fixture
def store():
    store = open_session("league-pilot")
    yield store
    store.close()


def make_app(store, mode: str | None = "console") -> TunedeckApp:
    config = load_config(include_user=False)
    if mode is not None:
        set_account_mode(store, mode)
    return TunedeckApp(store, config, check_identity=False, status_interval=0.2)


async def test_the_status_bar_shows_the_mode_and_f2_switches_it_after_asking(store):
    app = make_app(store, mode="api")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert "api mode" in str(app.query_one(StatusBar).render())
        await pilot.press("f2")
        await pilot.pause()
        assert "Switch this session to console mode?" in screen_text(app)
        await pilot.press("n")  # declined: nothing changes
        await pilot.pause()
        assert account_mode(store, app.config) == "api"
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.5)
        assert account_mode(store, app.config) == "console"
        bar = str(app.query_one(StatusBar).render())
        assert "console mode" in bar and "no AWS calls" in bar

"""Pilot, keys only: a key remapped in the config's `[ui] keymap` is the key the hints name, and it works."""

from __future__ import annotations

import asyncio

from textual.widgets import Static

from core.config import load_config
from core.sessions import open_session
from core.store import NewPair, PairFilter
from tui.app import TunedeckApp
from tui.panes.pairs.pane import PairsPane


async def settle(pilot) -> None:
    await pilot.pause()
    for _ in range(1000):
        if all(worker.is_finished for worker in pilot.app.workers):
            break
        await asyncio.sleep(0.01)
    await pilot.pause()


async def test_a_key_remapped_in_the_config_is_shown_in_the_hints_and_works(tmp_path):
    user_config = tmp_path / "config.toml"
    user_config.write_text('[ui]\nkeymap = { "pane.pairs" = "f3", "pairs.accept" = "y", "app.help" = "f9" }\n')
    config = load_config(user_config)
    store = open_session("keymap")
    topic = store.add_topic("Tariffs")
    store.add_pairs([NewPair(f"Question {i} about meters?", f"Answer {i}.", topic_id=topic) for i in range(3)])
    first = store.pair_ids(PairFilter())[0]
    try:
        app = TunedeckApp(store, config, check_identity=False, status_interval=60)
        async with app.run_test(size=(160, 40)) as pilot:
            title = str(app.query_one("TitleBar").render())
            assert "f3 Pairs" in title and "2 Pairs" not in title and "f9 help" in title

            await pilot.press("2")  # the default key no longer switches
            await settle(pilot)
            assert app.query_one("#panes").current == "pane-topics"

            await pilot.press("f3")
            await settle(pilot)
            assert app.query_one("#panes").current == "pane-pairs"
            assert app.query_one(PairsPane).table.has_focus
            status = str(app.query_one("#pairs-status", Static).render())
            assert "y/x: accept/reject" in status and "a/x" not in status

            await pilot.press("a")  # no longer accept
            await settle(pilot)
            assert store.pair(first).status == "pending"
            await pilot.press("y")
            await settle(pilot)
            assert store.pair(first).status == "accepted"

            await pilot.press("f9")
            await pilot.pause()
            assert type(app.screen).__name__ == "HelpScreen"
            help_text = "\n".join(str(s.render()) for s in app.screen.query(Static))
            assert "f9" in help_text and "f1" not in help_text
    finally:
        store.close()

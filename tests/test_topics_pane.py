"""Pilot, keys only: brief → topic tree, edit the tree, generate pairs with live progress."""

from __future__ import annotations

import json

import pytest

from core.config import load_config
from core.sessions import open_session
from tui.app import TunedeckApp


@pytest.fixture
def app(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = load_config(include_user=False)
    for profile in (config.llm.generator, config.llm.judge):
        profile.base_url = llm.base_url
        profile.rpm, profile.tpm = 100_000, 100_000_000
    config.generation.questions_per_topic = 2
    store = open_session("topics")
    yield TunedeckApp(store, config, check_identity=False)
    store.close()


async def wait_for(pilot, condition, timeout=20.0):
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def test_brief_to_tree_to_pairs_with_keys(app, tmp_path):
    store = app.store
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("1", "b")
        await pilot.pause()
        await pilot.press(*"Household energy for UK customers: bills, meters and tariffs.")
        await pilot.press("tab", *"smart meters; debt", "tab", "end", "ctrl+u", "3")
        await pilot.press("tab", "end", "ctrl+u", "2", "ctrl+j")
        await wait_for(pilot, lambda: len(store.leaf_topics()) == 6)
        await wait_for(pilot, lambda: "Topics (6 leaf topics)" in str(app.active_pane.border_title))
        tree = app.query_one("#topic-tree")
        tree.focus()
        await pilot.press("home", "g")  # root selected: generate for the whole tree
        await wait_for(pilot, lambda: "generate: done" in str(app.query_one("#topics-status").render()))
        assert store.count_pairs() == 6 * 2 + round(12 * 0.08 / 0.92)
        # rename the first category, then export the tree
        await pilot.press("down", "r", "end", "ctrl+u", *"Renamed [bold]x[/]", "enter")
        await wait_for(pilot, lambda: any(t.name == "Renamed [bold]x[/]" for t in store.topics()))
        out = tmp_path / "tree.json"
        await pilot.press("w", "end", "ctrl+u", *str(out), "enter")
        await wait_for(pilot, out.exists)
        exported = json.loads(out.read_text())["topics"]
        assert exported[0]["name"] == "Renamed [bold]x[/]" and len(exported[0]["children"]) == 2


async def test_bad_import_imports_nothing_and_says_why(app, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"topics": [{"name": "ok"}, {"name": "x", "children": [{"nom": "y"}]}]}))
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await pilot.press("1")
        app.query_one("#topic-tree").focus()
        await pilot.press("i", *str(bad), "enter")
        await pilot.pause()
        messages = [str(n.message) for n in app._notifications]
        assert any("topics[1].children[0] needs a non-empty 'name'" in m for m in messages)
        assert app.store.topics() == []

"""Pilot, keys only: LLM variants from the Pairs pane (kind, value, scope, the cost first, progress, one undo
step; the tags reach the export filters) and the empty Pairs pane naming the step before with its keys."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.dataset.jumpstart import ExportFilters, select_pairs
from core.sessions import open_session
from core.store import NewPair
from tests.screen import screen_text
from tui.app import TunedeckApp


async def until(pilot, condition, what: str, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"{what}: not in time")


@pytest.fixture
def store():
    store = open_session("pairs-tools")
    store.add_pairs(
        NewPair(f"How do I read meter model {i}?", f"Press the button on model {i} twice.", status="accepted")
        for i in range(5)
    )
    store.add_pairs([NewPair("A pending one?", "Not a source.", status="pending")])
    yield store
    store.close()


def variants(store):
    return [p for p in store.iter_pairs() if "variant:language" in p.tags]


async def test_v_makes_spanish_variants_after_the_cost_and_u_removes_them(store, llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    config = load_config(include_user=False)
    config.llm.generator.base_url = llm.base_url
    config.llm.generator.rpm, config.llm.generator.tpm = 100_000, 100_000_000
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)
    async with app.run_test(size=(150, 44)) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: "Pairs (6)" in screen_text(app), "the pairs")
        await pilot.press("V")
        await until(pilot, lambda: "Variants of accepted pairs" in screen_text(app), "the kind picker")
        await pilot.press("down", "enter")  # language
        await until(pilot, lambda: "which language?" in screen_text(app), "the value prompt")
        await pilot.press(*"Spanish", "enter")
        await until(pilot, lambda: "over which pairs?" in screen_text(app), "the scope picker")
        await pilot.press("enter")  # every accepted pair
        await until(pilot, lambda: "Make 5 variant:language/variant:language:spanish" in screen_text(app), "cost")
        text = screen_text(app)
        assert "prompt tokens" in text and ("$" in text or "unpriced" in text)
        assert llm.stats.requests == 0  # nothing asked before yes
        await pilot.press("y")
        await until(pilot, lambda: "Made " in " ".join(str(n.message) for n in app._notifications), "the run")
        made = variants(store)
        assert made and all("variant:language:spanish" in p.tags and p.status == "accepted" for p in made)
        assert {p.provenance["source_pair"] for p in made} <= set(range(1, 6))
        kept, _ = select_pairs(store.iter_pairs(), ExportFilters(exclude_tags=("variant:language:spanish",)))
        assert {p.id for p in kept}.isdisjoint({p.id for p in made})  # the tag reaches the export filter
        await pilot.press("u")
        await until(pilot, lambda: not variants(store), "the undo")
        assert store.count_pairs() == 6


async def test_an_empty_pairs_pane_names_the_step_before_and_its_keys(tmp_path):
    user_config = tmp_path / "config.toml"
    user_config.write_text('[ui]\nkeymap = { "pane.topics" = "f2", "topics.generate" = "G" }\n')
    config = load_config(user_config)
    store = open_session("empty-pairs")
    try:
        app = TunedeckApp(store, config, check_identity=False, status_interval=60)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("2")
            await until(pilot, lambda: "No pairs yet" in screen_text(app), "the empty state")
            text = screen_text(app)
            assert "The step before is f2: Topics: G: generate pairs" in text, text
            await pilot.press("f2")
            await until(pilot, lambda: app.query_one("#panes").current == "pane-topics", "the Topics pane")
    finally:
        store.close()

"""Pilot, keys only: quality scoring from the Pairs pane (the cost first, progress, then the low-quality
flags) and the threshold picker that shows how many scored pairs each choice keeps."""

from __future__ import annotations

import re

import pytest

from core.config import load_config
from core.curation.service import quality_threshold
from core.sessions import open_session
from core.store import NewPair
from tests.screen import screen_text
from tui.app import TunedeckApp


@pytest.fixture
def store():
    store = open_session("scoring")
    store.add_pairs(
        NewPair(f"How do I read meter type {i} at night?", f"Press the display button {i} times, then read it.")
        for i in range(6)
    )
    yield store
    store.close()


async def until(pilot, condition, what: str, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"{what}: not in time")


async def test_q_shows_the_cost_first_then_scores_and_t_sets_the_threshold(store, llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    config = load_config(include_user=False)
    config.llm.judge.base_url = llm.base_url
    config.llm.judge.rpm, config.llm.judge.tpm = 100_000, 100_000_000
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("2")
        await pilot.pause(0.3)
        await pilot.press("Q")
        await until(pilot, lambda: "Score 6 unscored pairs with the judge" in screen_text(app), "the cost question")
        text = screen_text(app)
        assert re.search(r"about [\d,]+ prompt", text) and ("$" in text or "unpriced" in text)
        assert llm.stats.requests == 0  # nothing asked before yes
        await pilot.press("y")
        await until(pilot, lambda: all(p.score is not None for p in store.iter_pairs()), "the scores")
        await until(pilot, lambda: "Scored 6 pairs" in " ".join(str(n.message) for n in app._notifications), "done")
        scores = sorted(p.score for p in store.iter_pairs())
        await pilot.press("T")
        await until(pilot, lambda: "Quality threshold" in screen_text(app), "the threshold picker")
        keeps = sum(1 for s in scores if s >= 10)
        assert f"10: keeps {keeps} of 6 scored pairs" in screen_text(app)
        await pilot.press("end", "enter")  # 10
        await until(pilot, lambda: quality_threshold(store, config) == 10.0, "the threshold")
        low = sum(1 for s in scores if s < 10)
        await until(
            pilot,
            lambda: sum(any(f["code"] == "low_quality" for f in p.flags) for p in store.iter_pairs()) == low,
            "the low-quality flags at the new threshold",
        )

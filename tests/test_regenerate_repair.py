"""Regenerate answers in bulk (another profile, a target length) against the emulator: the preview writes
nothing and its answers are the ones applied, one undo step; the Pairs pane's repair key and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.curation.repairs import RegenerateSpec, regenerate_answers_bulk, regenerate_messages
from core.services import Services
from core.sessions import open_session
from core.store import NewPair, PairFilter
from tests.screen import screen_text
from tui.app import TunedeckApp

ROOT = Path(__file__).resolve().parent.parent
OLD = "Old answer."


@pytest.fixture
def store():
    store = open_session("regen")
    store.add_pairs(NewPair(f"How do I read meter model {i}?", OLD, status="accepted") for i in range(4))
    store.add_pairs([NewPair("Not in the filter?", OLD, status="rejected")])
    yield store
    store.close()


@pytest.fixture
def config(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    config = load_config(include_user=False)
    for profile in (config.llm.generator, config.llm.judge):
        profile.base_url = llm.base_url
        profile.rpm, profile.tpm = 100_000, 100_000_000
    return config


def run(store, config, spec, **kwargs):
    async def body():
        target = Services(store, config).chat_target(spec.profile)
        try:
            return await regenerate_answers_bulk(store, target, PairFilter(status="accepted"), spec, **kwargs)
        finally:
            await target.aclose()

    return asyncio.run(body())


def test_the_preview_writes_nothing_and_its_answers_are_applied_in_one_undo_step(store, config, llm):
    spec = RegenerateSpec("judge", 900)
    preview = run(store, config, spec, preview=2)
    assert preview.scanned == 2 and llm.stats.requests == 2
    assert all(p.answer == OLD for p in store.iter_pairs())  # nothing written
    applied = run(store, config, spec, reuse=preview.answers)
    assert llm.stats.requests == 2 + 2  # the preview's two answers are not paid for twice
    answers = {p.id: p.answer for p in store.iter_pairs(PairFilter(status="accepted"))}
    assert all(answers[i] == a for i, a in preview.answers.items())
    assert applied.changed == sum(a != OLD for a in answers.values()) > 0 and applied.batch
    assert store.pair(5).answer == OLD  # outside the filter
    assert store.undo_last_edit() == applied.changed
    assert all(p.answer == OLD for p in store.iter_pairs())


def test_a_target_length_is_asked_for_with_room_past_it(store):
    spec = RegenerateSpec("generator", 900, "Answer plainly.")
    system = regenerate_messages(spec, "", [], store.pair(1))[0]["content"]
    assert "about 900 tokens" in system and spec.max_tokens > 900
    with pytest.raises(ValueError, match="target length"):
        RegenerateSpec("generator", 5)


async def test_the_repair_key_regenerates_after_the_cost_and_a_preview(store, config, llm):
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)

    async def until(condition, what, timeout=30.0):
        for _ in range(int(timeout / 0.05)):
            if condition():
                return
            await pilot.pause(0.05)
        raise AssertionError(f"{what}: not in time")

    async with app.run_test(size=(150, 44)) as pilot:
        await pilot.press("2")
        await until(lambda: "Pairs (5)" in screen_text(app), "the pairs")
        await pilot.press("s", "s")  # status: accepted
        await until(lambda: "Pairs (4)" in screen_text(app), "the accepted filter")
        await pilot.press("R")
        await until(lambda: "Repair or augment in bulk" in screen_text(app), "the repair picker")
        await pilot.press("end", "enter")  # regenerate
        await until(lambda: "with which profile?" in screen_text(app), "the profile picker")
        await pilot.press("down", "enter")  # judge
        await until(lambda: "target length" in screen_text(app), "the length prompt")
        await pilot.press(*"300", "enter")
        await until(lambda: "regenerate with judge to ~300 tokens: 4 answers" in screen_text(app), "the cost")
        assert "prompt tokens" in screen_text(app) and llm.stats.requests == 0
        await pilot.press("y")
        await until(lambda: "apply to every pair" in screen_text(app), "the preview")
        assert llm.stats.requests == 3 and all(p.answer == OLD for p in store.iter_pairs())
        await pilot.press("y")
        await until(lambda: "Regenerated " in " ".join(str(n.message) for n in app._notifications), "the run")
        assert llm.stats.requests == 4
        assert any(p.answer != OLD for p in store.iter_pairs(PairFilter(status="accepted")))
        await pilot.press("u")
        await until(lambda: all(p.answer == OLD for p in store.iter_pairs()), "the undo")


def test_the_repair_verb_regenerates(store, tmp_path, llm):
    store.close()
    user = tmp_path / "config.toml"
    user.write_text(f'[llm.generator]\nbase_url = "{llm.base_url}"\nrpm = 100000\ntpm = 100000000\n')
    command = [sys.executable, "-m", "tui", "--config", str(user), "pairs", "repair", "--session", "regen"]
    env = {**os.environ, "OPENAI_API_KEY": "k"}
    done = subprocess.run(
        [*command, "--regenerate", "--status", "accepted", "--target-tokens", "200", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=env,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "4 answers" in done.stderr and ("$" in done.stderr or "unpriced" in done.stderr)
    data = json.loads(done.stdout)
    assert data["scanned"] == 4 and data["changed"] + data["failed"] == 4 and data["batch"]
    bad = subprocess.run(
        [*command, "--regenerate", "--profile", "nope"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert bad.returncode == 2 and "nope" in bad.stderr

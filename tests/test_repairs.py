"""Bulk repairs: leaked headers and meta-talk openers stripped over a flag, previewed first, one undo step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.curation.repairs import repair_answers, strip_header, strip_meta_opener
from core.curation.service import run_curation
from core.sessions import open_session
from core.store import NewPair, PairFilter

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("### ANSWER\nA tariff is a price plan.", "A tariff is a price plan."),
        ("### Response: A tariff is a price plan.", "A tariff is a price plan."),
        ("**Answer:** A tariff is a price plan.", "A tariff is a price plan."),
        ("A tariff is a price plan.", "A tariff is a price plan."),
    ],
)
def test_strip_header(before, after):
    assert strip_header(before) == after


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("Based on the text provided, a tariff is a price plan.", "A tariff is a price plan."),
        ("Sure! Here is the answer: a tariff is a price plan.", "A tariff is a price plan."),
        ("As an AI language model, I think a tariff is a price plan.", "I think a tariff is a price plan."),
        ("Certainly. A tariff is a price plan.", "A tariff is a price plan."),
        (
            "A tariff is a price plan, based on the text of your contract.",
            "A tariff is a price plan, based on the text of your contract.",
        ),
    ],
)
def test_strip_meta_opener(before, after):
    assert strip_meta_opener(before) == after


@pytest.fixture
def store():
    store = open_session("repairs")
    store.add_pairs(
        [
            NewPair("What is a tariff?", "### ANSWER\nA tariff is the price plan you pay for energy each month."),
            NewPair("What is a meter?", "### RESPONSE\nA meter measures the energy your home uses over time."),
            NewPair("What is a kWh?", "A kilowatt-hour is a unit of energy: one kilowatt for one hour."),
        ]
    )
    run_curation(store, load_config(include_user=False))
    yield store
    store.close()


def test_repair_over_a_flag_previews_then_applies_as_one_undo_step(store):
    flt = PairFilter(flag="header_leak")
    preview = repair_answers(store, flt, ["strip_header"], preview=1)
    assert (preview.changed, len(preview.preview)) == (2, 1) and preview.preview[0].before.startswith("### ANSWER")
    assert sum(p.answer.startswith("###") for p in store.iter_pairs()) == 2  # nothing written
    done = repair_answers(store, flt, ["strip_header"])
    assert done.changed == 2 and not any(p.answer.startswith("###") for p in store.iter_pairs())
    assert store.undo_last_edit() == 2
    assert sum(p.answer.startswith("###") for p in store.iter_pairs()) == 2


def test_the_pairs_repair_verb(store):
    store.close()
    base = [sys.executable, "-m", "tui", "pairs", "repair", "--session", "repairs", "--strip-header"]
    shown = subprocess.run([*base, "--preview", "5"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert shown.returncode == 0 and "2 of 3 answers would change; nothing written" in shown.stdout
    done = subprocess.run(
        [*base, "--flag", "header_leak", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] == 2
    refused = subprocess.run(base[:-1], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert refused.returncode == 2 and "--strip-header" in refused.stderr


async def test_the_pairs_pane_previews_a_repair_applies_it_and_u_undoes_it(store):
    from tests.screen import screen_text
    from tui.app import TunedeckApp

    app = TunedeckApp(store, load_config(include_user=False), check_identity=False, status_interval=60)

    async def until(condition, what: str) -> None:
        for _ in range(200):
            if condition():
                return
            await pilot.pause(0.05)
        raise AssertionError(f"{what}: not in time")

    def headers() -> int:
        return sum(p.answer.startswith("###") for p in store.iter_pairs())

    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("2")
        await pilot.pause(0.3)
        await pilot.press("R")
        await until(lambda: "Repair or augment in bulk" in screen_text(app), "the tool picker")
        await pilot.press("enter")  # strip leaked headers
        await until(lambda: "change 2 answers?" in screen_text(app), "the preview")
        assert "### ANSWER" in screen_text(app) and headers() == 2  # shown, not written
        await pilot.press("y")
        await until(lambda: headers() == 0, "the repair")
        await pilot.pause(0.3)
        await pilot.press("u")
        await until(lambda: headers() == 2, "the undo")

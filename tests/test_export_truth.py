"""Export tells the truth: the leak guard at export time, flagged rows asked about, long rows named."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.curation.service import FlaggedRowsError, export_dataset, run_curation
from core.league.mode import set_account_mode
from core.sessions import open_session
from core.store import NewPair
from tests.screen import screen_text
from tui.account_mode import console_export_folder
from tui.app import TunedeckApp

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = "How do I submit a meter reading after moving house?"
SUBJECTS = (
    "boiler pressure",
    "solar panels",
    "heat pumps",
    "direct debits",
    "standing charges",
    "night storage heaters",
    "loft insulation",
    "smart thermostats",
    "prepayment keys",
    "warm home discounts",
    "economy seven tariffs",
    "radiator bleeding",
    "draught excluders",
    "gas safety checks",
    "electric vehicle chargers",
    "feed-in payments",
    "cavity walls",
    "double glazing",
    "energy certificates",
    "supplier switching",
)


@pytest.fixture
def store():
    store = open_session("truth")
    topic = store.add_topic("Meters")
    store.add_pairs(
        NewPair(
            f"What should I know about {subject}?",
            f"Ask your supplier about {subject}; they explain the options and the costs.",
            topic_id=topic,
            status="accepted",
        )
        for subject in SUBJECTS
    )
    yield store
    store.close()


def _train_lines(out: Path) -> list[str]:
    files = [out / "train" / "train.jsonl", out / "validation" / "validation.jsonl"]
    return [line for path in files if path.is_file() for line in path.read_text().splitlines()]


def test_a_heldout_question_imported_after_curation_never_reaches_the_export(store, tmp_path):
    config = load_config(include_user=False)
    run_curation(store, config)
    store.add_pairs([NewPair(HELDOUT, "Give the supplier your final reading and the date.", status="accepted")])
    store.create_question_set("final", [(HELDOUT, "Meters", None)])  # after the last curate
    result = export_dataset(store, config, format="instruction", out_dir=tmp_path, upload=False)
    assert not any(HELDOUT in line for line in _train_lines(tmp_path))
    assert result.version.dropped["heldout_leak"] == 1
    assert result.version.train_count + result.version.validation_count == 20


def test_flagged_rows_are_counted_and_need_a_decision(store, tmp_path):
    config = load_config(include_user=False)
    store.add_pairs([NewPair("What is a tariff?", "### ANSWER\nThe price plan you pay.", status="accepted")])
    run_curation(store, config)
    with pytest.raises(FlaggedRowsError) as raised:
        export_dataset(store, config, format="chat", out_dir=tmp_path, upload=False)
    assert raised.value.count == 1 and raised.value.by_code["header_leak"] == 1
    assert not (tmp_path / "train").exists()  # nothing written before the decision
    excluded = export_dataset(store, config, format="chat", upload=False, flagged="exclude")
    included = export_dataset(store, config, format="chat", upload=False, flagged="include")
    assert excluded.flagged == included.flagged == 1 and excluded.version.dropped["flagged"] == 1
    total = lambda r: r.version.train_count + r.version.validation_count  # noqa: E731
    assert total(included) == total(excluded) + 1


def test_rows_past_max_input_length_are_named(store):
    config = load_config(include_user=False)
    [long_id] = store.add_pairs([NewPair("How do tariffs work?", "word " * 400, status="accepted")])
    result = export_dataset(store, config, format="chat", upload=False, max_input_length=256)
    assert [row.pair_id for row in result.long_rows] == [long_id] and result.long_rows[0].tokens > 256


def _export_verb(*extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tui", "export", "--session", "truth", "--format", "chat", "--no-upload"]
    return subprocess.run([*command, *extra], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_the_export_verb_refuses_flagged_rows_with_status_2_unless_told(store, tmp_path):
    store.add_pairs([NewPair("What is a tariff?", "### ANSWER\nThe price plan you pay.", status="accepted")])
    run_curation(store, load_config(include_user=False))
    store.close()
    refused = _export_verb("--out", str(tmp_path / "a"))
    assert refused.returncode == 2 and "1 row to export" in refused.stderr and "--exclude-flagged" in refused.stderr
    assert not (tmp_path / "a").exists()
    done = _export_verb("--exclude-flagged", "--out", str(tmp_path / "b"), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["flagged"] == 1 and data["dropped"]["flagged"] == 1
    assert not any("What is a tariff?" in line for line in _train_lines(tmp_path / "b"))


async def test_the_pairs_pane_asks_before_exporting_flagged_rows(store):
    store.add_pairs([NewPair("What is a tariff?", "### ANSWER\nThe price plan you pay.", status="accepted")])
    config = load_config(include_user=False)
    run_curation(store, config)
    set_account_mode(store, "console")  # the export goes to a folder, no S3
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.press("2")
        await pilot.pause(0.5)
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("enter")  # instruction format
        for _ in range(200):
            if "still carries curation flags" in screen_text(app):
                break
            await asyncio.sleep(0.05)
        assert "1 row to export still carries curation flags (header_leak 1" in screen_text(app)
        assert not store.dataset_versions(5)  # it asked first
        await pilot.press("enter")  # leave the flagged row out
        for _ in range(200):
            if store.dataset_versions(5):
                break
            await asyncio.sleep(0.05)
    [version] = store.dataset_versions(5)
    train = (console_export_folder(store) / "train" / "train.jsonl").read_text()
    assert "What is a tariff?" not in train and version.counts["train"] + version.counts.get("validation", 0) == 20

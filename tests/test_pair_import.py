"""Pair import: JSONL and CSV in every known format, unknown keys mapped, all or nothing, provenance, reruns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.dataset.importer import KeyMapping, NeedsMapping, import_pairs, read_pairs
from core.dataset.jumpstart import DEFAULT_TEMPLATE, ImportFormatError
from core.sessions import open_session

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store():
    store = open_session("imports")
    yield store
    store.close()


def jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


TURNS = [{"role": "user", "content": "What is a tariff?"}, {"role": "assistant", "content": "A price plan."}]


@pytest.mark.parametrize(
    "record",
    [
        {"question": "What is a tariff?", "answer": "A price plan."},
        {"instruction": "What is a tariff?", "response": "A price plan.", "context": ""},
        {"prompt": "What is a tariff?", "completion": "A price plan."},
        {
            "dialog": [
                {"role": "user", "content": "What is a tariff?"},
                {"role": "assistant", "content": "A price plan."},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "What is a tariff?"},
                {"role": "assistant", "content": "A price plan."},
            ]
        },
    ],
)
def test_every_known_jsonl_format_imports(tmp_path, record):
    [pair] = read_pairs(jsonl(tmp_path / "in.jsonl", [record]))[0]
    assert (pair.question, pair.answer, pair.line) == ("What is a tariff?", "A price plan.", 1)


def test_csv_with_a_known_header_and_quoted_newlines(tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_text('Question,Answer\n"What is a\ntariff?",A price plan.\nWhat is a meter?,It measures use.\n')
    pairs, _ = read_pairs(path)
    assert [(p.question, p.line) for p in pairs] == [("What is a\ntariff?", 3), ("What is a meter?", 4)]


def test_unknown_keys_ask_for_a_mapping_then_import(tmp_path, store):
    path = jsonl(tmp_path / "other.jsonl", [{"q": f"Question {i}?", "a": f"Answer {i}.", "id": i} for i in range(3)])
    with pytest.raises(NeedsMapping) as asked:
        import_pairs(store, path)
    assert asked.value.keys == ["q", "a", "id"] and store.count_pairs() == 0
    summary = import_pairs(store, path, mapping=KeyMapping("q", "a"))
    assert summary.added == 3 and [p.question for p in store.iter_pairs()][0] == "Question 0?"


def test_a_bad_line_imports_nothing_and_names_every_bad_line(tmp_path, store):
    good = {"question": "What is a tariff?", "answer": "A price plan."}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"question": "Q?", "answer": ""}) + "\n")
    with pytest.raises(ImportFormatError) as raised:
        import_pairs(store, path)
    assert [line for line, _ in raised.value.errors] == [2, 3] and "line 3: 'answer'" in str(raised.value)
    assert store.count_pairs() == 0


def test_provenance_template_and_a_rerun_skips_what_is_stored(tmp_path, store):
    folder = tmp_path / "jumpstart"
    folder.mkdir()
    (folder / "template.json").write_text(json.dumps(dict(DEFAULT_TEMPLATE)))
    path = jsonl(
        folder / "train.jsonl", [{"instruction": f"Q {i}?", "context": "", "response": "A."} for i in range(4)]
    )
    first = import_pairs(store, path, status="accepted")
    again = import_pairs(store, path, status="accepted")
    assert (first.added, again.added, again.skipped) == (4, 0, 4)
    pair = next(iter(store.iter_pairs()))
    assert pair.provenance["file"] == "train.jsonl" and pair.provenance["line"] == 1
    assert pair.provenance["format"] == "instruction" and pair.provenance["template"] == dict(DEFAULT_TEMPLATE)
    assert pair.status == "accepted" and "imported" in pair.tags


def test_the_pairs_import_verb(tmp_path, store):
    store.close()
    path = tmp_path / "sheet.csv"
    path.write_text("Frage,Antwort\nWas ist ein Tarif?,Ein Preisplan.\n")

    def verb(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tui", "pairs", "import", str(path), "--session", "imports", *extra]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)

    asked = verb()
    assert asked.returncode == 2 and "Frage, Antwort" in asked.stderr and "--question-key" in asked.stderr
    done = verb("--question-key", "Frage", "--answer-key", "Antwort", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 1


async def test_the_pairs_pane_imports_a_file_asking_for_unknown_keys(store, tmp_path):
    from core.config import load_config
    from tests.screen import screen_text
    from tui.app import TunedeckApp

    path = jsonl(tmp_path / "other.jsonl", [{"frage": f"Frage {i}?", "antwort": f"Antwort {i}."} for i in range(5)])
    app = TunedeckApp(store, load_config(include_user=False), check_identity=False, status_interval=60)

    async def until(condition, what: str) -> None:
        for _ in range(200):
            if condition():
                return
            await pilot.pause(0.05)
        raise AssertionError(f"{what}: not in time")

    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.press("2")
        await pilot.pause(0.3)
        await pilot.press("I")
        await pilot.pause()
        await pilot.press(*str(path), "enter")
        await until(lambda: "which one holds the question?" in screen_text(app), "the question key asked")
        await pilot.press("enter")  # frage
        await until(lambda: "Which key holds the answer?" in screen_text(app), "the answer key asked")
        await pilot.press("enter")  # antwort, the one left
        await until(lambda: store.count_pairs() == 5, "the import")
        await until(lambda: "Frage 0?" in screen_text(app), "the table showing the pairs")
    assert {p.provenance["format"] for p in store.iter_pairs()} == {"mapped"}

"""Which evaluation a comparison's selection shows, and the judge settings kept for the next run."""

from __future__ import annotations

import pytest

from core.evaluation.judge import EvalSettings
from core.evaluation.prompts import DEFAULT_RUBRIC
from core.evaluation.selection import (
    SETTINGS_META,
    Selection,
    matching_evaluation,
    resolve_selection,
    save_settings,
    stored_settings,
)
from core.sessions import open_session

FT, BASE, REF = "endpoint:ft", "endpoint:base", "openai:gpt-4o"


@pytest.fixture
def store():
    s = open_session("selection")
    yield s
    s.close()


def _set(store, name: str) -> int:
    return store.create_question_set(name, [("How do I read my meter?", "meters", None)])


def test_newest_evaluation_chooses_targets_and_set(store):
    first, second = _set(store, "first"), _set(store, "second")
    store.create_evaluation(first, FT, REF)
    newest = store.create_evaluation(second, BASE, REF)
    resolved = resolve_selection(store, Selection(FT, None, None), None, "newest")
    assert resolved.selection == Selection(BASE, REF, "second") and resolved.evaluation_id == newest


def test_newest_without_evaluations_offers_the_newest_set_and_keeps_the_targets(store):
    _set(store, "first")
    _set(store, "second")
    resolved = resolve_selection(store, Selection(FT, REF, None), None, "newest")
    assert resolved == resolve_selection(store, Selection(FT, REF, "second"), None)
    assert resolved.selection == Selection(FT, REF, "second") and resolved.evaluation_id is None
    chosen = resolve_selection(store, Selection(FT, REF, "first"), None, "newest")
    assert chosen.selection.set_name == "first"  # a set the user chose stays chosen


def test_selection_matches_the_newest_evaluation_of_the_same_targets_in_the_same_order(store):
    heldout, other = _set(store, "heldout"), _set(store, "other")
    older = store.create_evaluation(heldout, FT, REF)
    newer = store.create_evaluation(heldout, FT, REF)
    swapped = store.create_evaluation(heldout, REF, FT)
    store.create_evaluation(other, FT, BASE)
    assert matching_evaluation(store, Selection(FT, REF, "heldout")) == newer != older
    assert matching_evaluation(store, Selection(REF, FT, "heldout")) == swapped
    assert matching_evaluation(store, Selection(FT, BASE, "heldout")) is None  # that pair ran on another set
    assert matching_evaluation(store, Selection(FT, None, "heldout")) is None
    assert matching_evaluation(store, Selection(FT, REF, "missing")) is None
    resolved = resolve_selection(store, Selection(FT, REF, "heldout"), older, "selection")
    assert resolved.evaluation_id == newer  # the match replaces what was open


def test_an_open_evaluation_stays_open_and_a_deleted_one_resolves_to_none(store):
    heldout = _set(store, "heldout")
    older = store.create_evaluation(heldout, FT, REF)
    store.create_evaluation(heldout, FT, REF)
    assert resolve_selection(store, Selection(FT, REF, "heldout"), older).evaluation_id == older
    assert resolve_selection(store, Selection(FT, REF, "heldout"), 9999).evaluation_id is None


def test_settings_round_trip_and_concurrency_comes_from_the_profile(store):
    assert stored_settings(store, 4) == EvalSettings(concurrency=4)
    chosen = EvalSettings(system_prompt="Be brief.", temperature=0.5, top_p=0.8, max_tokens=300, rubric="Facts.")
    save_settings(store, chosen)
    assert set(store.get_meta(SETTINGS_META)) == {"rubric", "system_prompt", "temperature", "top_p", "max_tokens"}
    assert stored_settings(store, 40) == EvalSettings(
        system_prompt="Be brief.", temperature=0.5, top_p=0.8, max_tokens=300, rubric="Facts.", concurrency=16
    )
    assert stored_settings(store, 0).concurrency == 1


@pytest.mark.parametrize(
    "stored",
    [
        ["not", "a", "dict"],
        {"temperature": 9.0},  # out of range
        {"temperature": "warm"},  # not a number
        {"rubric": "   "},
    ],
)
def test_unreadable_or_invalid_stored_settings_give_the_defaults(store, stored):
    store.set_meta(SETTINGS_META, stored)
    settings = stored_settings(store, 8)
    assert settings == EvalSettings(concurrency=8) and settings.rubric == DEFAULT_RUBRIC


def test_unknown_and_concurrency_keys_in_stored_settings_are_ignored(store):
    store.set_meta(SETTINGS_META, {"top_p": 0.5, "concurrency": 99, "colour": "blue"})
    assert stored_settings(store, 3) == EvalSettings(top_p=0.5, concurrency=3)

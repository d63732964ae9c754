"""Typo augmentation: seeded, tagged, previewed, one undo step, training data only, never held-out."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.curation.service import export_dataset
from core.dataset.jumpstart import split_pairs
from core.generation.augment import augment_typos, typo
from core.sessions import open_session
from core.store import NewPair

ROOT = Path(__file__).resolve().parent.parent
SUBJECTS = [f"subject {chr(97 + i)}{chr(97 + j)}" for i in range(6) for j in range(5)]


@pytest.fixture
def store():
    store = open_session("augment")
    store.add_pairs(
        NewPair(
            f"How does the {s} tariff work for households?", f"The {s} tariff bills by the hour.", status="accepted"
        )
        for s in SUBJECTS
    )
    yield store
    store.close()


def test_typo_deletes_or_swaps_letters_and_is_seeded():
    text = "How do I read my smart meter after a power cut?"
    first = typo(text, random.Random(3), 0.05)
    assert first != text and first == typo(text, random.Random(3), 0.05)
    assert len(text) - 3 <= len(first) <= len(text)  # deletions shorten, swaps keep the length


def test_preview_writes_nothing_then_apply_tags_and_undo_removes_in_one_step(store):
    preview = augment_typos(store, preview=3, seed=1)
    assert len(preview.preview) == 3 and store.count_pairs() == 30
    assert all(row.before != row.after for row in preview.preview)
    done = augment_typos(store, seed=1)
    assert done.added == 30 and store.count_pairs() == 60
    copies = [p for p in store.iter_pairs() if "augment:typo" in p.tags]
    assert len(copies) == 30 and all(p.provenance["augmented"] for p in copies)
    source_of = {p.id: p.question for p in store.iter_pairs() if not p.tags}
    assert all(p.question != source_of[p.provenance["source_pair"]] for p in copies)
    again = augment_typos(store, seed=1)  # a rerun skips what is there
    assert (again.added, again.skipped) == (0, 30)
    assert store.undo_last_edit() == 30 and store.count_pairs() == 30


def test_copies_stay_on_their_sources_side_and_never_reach_validation(store):
    augment_typos(store, seed=2)
    pairs = list(store.iter_pairs())
    train, validation = split_pairs(pairs, 0.2)
    by_id = {p.id: p for p in pairs}
    train_sources = {p.id for p in train if not p.provenance.get("augmented")}
    validation_ids = {p.id for p in validation}
    assert validation and not any(p.provenance.get("augmented") for p in validation)
    for copy in (p for p in train if p.provenance.get("augmented")):
        assert copy.provenance["source_pair"] in train_sources
        assert copy.provenance["source_pair"] not in validation_ids
    assert len(train) == len(train_sources) * 2 and len(train) + len(validation) < len(by_id)
    result = export_dataset(store, load_config(include_user=False), format="chat", upload=False)
    assert result.version.dropped["augmented_of_validation"] == len(validation)


def test_held_out_questions_are_never_augmented(store):
    question = f"How does the {SUBJECTS[0]} tariff work for households?"
    store.create_question_set("final", [(question, "", None)])
    result = augment_typos(store, seed=4)
    assert result.sources < 30  # the held-out question and any near duplicate of it are left out
    assert not any(p.provenance.get("source_pair") == 1 for p in store.iter_pairs())


def test_the_pairs_augment_verb_previews_then_applies(store):
    store.close()
    base = [sys.executable, "-m", "tui", "pairs", "augment", "--session", "augment", "--typo", "--seed", "5"]
    preview = subprocess.run([*base, "--preview", "2"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert preview.returncode == 0 and "nothing written" in preview.stdout and preview.stdout.count("  + ") == 2
    done = subprocess.run([*base, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 30


def test_the_dataset_version_records_its_composition(store):
    augment_typos(store, seed=6)
    result = export_dataset(store, load_config(include_user=False), format="chat", upload=False)
    assert result.composition == {"original": 30, "augment:typo": 30}
    [version] = store.dataset_versions(5)
    assert version.counts["composition"] == {"original": 30, "augment:typo": 30}


def test_the_stored_copy_is_typo_copy_of_its_source(store):
    from core.generation.augment import typo_copy

    sources = {p.id: p for p in store.iter_pairs()}
    augment_typos(store, seed=9, rate=0.05)
    for copy in (p for p in store.iter_pairs() if "augment:typo" in p.tags):
        expected = typo_copy(sources[copy.provenance["source_pair"]], seed=9, rate=0.05)
        assert (copy.question, copy.answer, copy.tags, copy.task_key) == (
            expected.question,
            expected.answer,
            expected.tags,
            expected.task_key,
        )
        assert copy.provenance == expected.provenance

"""Hard cases from a probe set: kept apart from every held-out set; the questions where the base model lost
to the reference become training pairs with fresh answers and leave the probe set; a held-out question
never becomes training data."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.curation.service import export_dataset
from core.evaluation.questions import NewQuestion
from core.generation.generate import GenerationSettings
from core.generation.targeted import create_probe_set, promote_hard_cases
from core.services import Services
from core.sessions import open_session

ROOT = Path(__file__).resolve().parent.parent
LOST, WON, TIED, LOST_NEAR = (
    "How do I switch my tariff to economy seven?",
    "What is a standing charge on an electricity bill?",
    "Can I move my gas meter inside the house?",
    "How do I claim the warm home discount this winter?",
)


def verdicts(store, evaluation, outcomes):
    for question_id, (ab, ba) in outcomes.items():  # slot terms: ("B", "A") is a loss for target A
        store.save_verdict(evaluation, question_id, "AB", winner=ab)
        store.save_verdict(evaluation, question_id, "BA", winner=ba)


@pytest.fixture
def store():
    store = open_session("hard-cases")
    store.create_question_set("heldout", [("Why is my bill so high this month?", "", None)])
    yield store
    store.close()


def test_a_probe_set_is_kept_apart_from_the_heldout_sets(store):
    with pytest.raises(ValueError, match="kept apart from every held-out set"):
        create_probe_set(store, "probe", [NewQuestion("Why is my bill so high this month?", line=1)])
    assert store.question_set("probe") is None


def test_lost_probe_questions_become_pairs_and_leave_the_probe_set(store, llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    config = load_config(include_user=False)
    config.llm.generator.base_url = llm.base_url
    config.llm.generator.rpm, config.llm.generator.tpm = 100_000, 100_000_000
    set_id = create_probe_set(store, "probe", [NewQuestion(q) for q in (LOST, WON, TIED, LOST_NEAR)])
    evaluation = store.create_evaluation(set_id, "base", "profile:reference")
    lost, won, tied, lost_near = (q.id for q in store.questions(set_id))
    verdicts(store, evaluation, {lost: ("B", "A"), won: ("A", "B"), tied: ("A", "A"), lost_near: ("B", "A")})
    store.create_question_set("later-heldout", [(LOST_NEAR, "", None)])  # held out since the probe was made
    heldout_eval = store.create_evaluation(store.question_set("heldout").id, "base", "profile:reference")

    async def run(evaluation_id):
        target = Services(store, config).chat_target("generator")
        try:
            return await promote_hard_cases(store, target, GenerationSettings(max_concurrency=4), evaluation_id)
        finally:
            await target.aclose()

    with pytest.raises(ValueError, match="held-out questions never become training data"):
        asyncio.run(run(heldout_eval))
    result = asyncio.run(run(evaluation))
    assert (result.lost, result.promoted, result.near_heldout) == (2, 1, 1)
    [pair] = list(store.iter_pairs())
    assert pair.question == LOST and pair.answer and "hard_case" in pair.tags and pair.status == "pending"
    assert [q.text for q in store.questions(set_id)] == [WON, TIED, LOST_NEAR]  # it left; the rest stay probes
    store.set_status([pair.id], "accepted")
    exported = export_dataset(store, config, format="chat", upload=False, validation_share=None)
    assert exported.version.train_count == 1  # the leak guard no longer holds it back
    again = asyncio.run(run(evaluation))
    assert again.promoted == 0 and store.count_pairs() == 1


def test_the_probe_and_hard_cases_verbs(store, tmp_path, llm):
    store.close()
    questions = tmp_path / "probe.jsonl"
    questions.write_text("\n".join(json.dumps({"question": q}) for q in (LOST, WON)) + "\n")
    base = [sys.executable, "-m", "tui", "pairs"]
    env = {**os.environ, "OPENAI_API_KEY": "k"}

    def cli(*args):
        return subprocess.run([*base, *args], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)

    done = cli("probe", str(questions), "--set", "probe", "--session", "hard-cases", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["questions"] == 2
    again = cli("probe", str(questions), "--set", "probe", "--session", "hard-cases")
    assert again.returncode == 2 and "already exists" in again.stderr
    refused = cli("hard-cases", "--eval", "99", "--session", "hard-cases")
    assert refused.returncode == 2 and "no evaluation with id 99" in refused.stderr

"""More data where the model loses: the topics A lost or tied in a finished evaluation get new pairs
(a new generation round, held-out questions never among them); the topics A won get none."""

from __future__ import annotations

import asyncio

from core.config import load_config
from core.generation.generate import GenerationSettings
from core.generation.targeted import losing_topics, more_pairs_for_losses
from core.services import Services
from core.sessions import open_session


def seeded_store():
    store = open_session("targeted")
    store.set_meta("domain_brief", "Household energy for UK customers.")
    bills = store.add_topic("Bills")
    meters = store.add_topic("Meters")
    questions = [("Why is my bill so high?", "Bills", None), ("How do I read a smart meter?", "Meters", None)]
    questions += [("What does the meter's red light mean?", "Meters", None)]
    set_id = store.create_question_set("heldout", questions)
    evaluation = store.create_evaluation(set_id, "endpoint:tuned", "base")
    bill_q, meter_q, light_q = (q.id for q in store.questions(set_id))
    for question_id, ab, ba in ((bill_q, "A", "B"), (meter_q, "B", "A"), (light_q, "A", "A")):
        store.save_verdict(evaluation, question_id, "AB", winner=ab)  # slot terms: BA's "A" is target B
        store.save_verdict(evaluation, question_id, "BA", winner=ba)
    return store, evaluation, bills, meters


def test_losing_topics_and_more_pairs_only_there(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    config = load_config(include_user=False)
    config.llm.generator.base_url = llm.base_url
    config.llm.generator.rpm, config.llm.generator.tpm = 100_000, 100_000_000
    store, evaluation, bills, meters = seeded_store()
    try:
        [loss] = losing_topics(store, evaluation)
        assert (loss.name, loss.topic_id, loss.lost + loss.tied) == ("Meters", meters, 2)

        async def run():
            target = Services(store, config).chat_target("generator")
            try:
                return await more_pairs_for_losses(store, target, GenerationSettings(max_concurrency=4), evaluation, 3)
            finally:
                await target.aclose()

        _, progress = asyncio.run(run())
        pairs = list(store.iter_pairs())
        assert progress is not None and progress.pairs_added == len(pairs) > 0
        assert {p.topic_id for p in pairs} == {meters} and len(pairs) <= 3
        assert not {p.question for p in pairs} & set(store.question_set_texts())
        _, again = asyncio.run(run())  # the same round: nothing asked twice
        assert again is not None and again.pairs_added == 0 and store.count_pairs() == len(pairs)
    finally:
        store.close()


def test_the_pairs_more_verb(llm, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    store, evaluation, _, meters = seeded_store()
    store.close()
    user = tmp_path / "config.toml"
    user.write_text(f'[llm.generator]\nbase_url = "{llm.base_url}"\nrpm = 100000\ntpm = 100000000\n')
    command = [sys.executable, "-m", "tui", "--config", str(user), "pairs", "more", "--session", "targeted"]
    done = subprocess.run(
        [*command, "--eval", str(evaluation), "--per-topic", "2", "--json"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
        env={**os.environ, "OPENAI_API_KEY": "k"},
    )
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    assert [t["topic_id"] for t in data["topics"]] == [meters] and data["pairs_added"] <= 2
    missing = subprocess.run(
        [*command, "--eval", "999"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
        env={**os.environ, "OPENAI_API_KEY": "k"},
    )
    assert missing.returncode == 2 and "no evaluation with id 999" in missing.stderr

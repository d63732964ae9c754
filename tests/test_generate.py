"""Pair generation against the LLM emulator: schema parsing, faults, cancel/resume, SIGKILL/resume."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from core.config import load_config
from core.generation.generate import (
    GenerationSettings,
    GenerationStopped,
    PairGenerator,
    TopicTreeBuilder,
    parse_json_list,
)
from core.services import Services
from core.sessions import open_session

ROOT = Path(__file__).resolve().parent.parent
BRIEF = "Household energy supply: bills, tariffs, smart meters, moving home and debt help for UK customers."


@pytest.fixture
def session(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = load_config(include_user=False)
    profile = config.llm.generator
    profile.base_url = llm.base_url
    profile.rpm, profile.tpm, profile.max_concurrency, profile.timeout_s = 100_000, 100_000_000, 16, 2.0
    store = open_session("gen")
    yield store, config
    store.close()


def settings(config, **overrides) -> GenerationSettings:
    values = dict(questions_per_topic=3, refusal_share=0.1, answer_style=config.generation.answer_style)
    values.update(overrides)
    return GenerationSettings(**values)


async def build_tree(store, config, categories=3, subtopics=2):
    target = Services(store, config).chat_target("generator")
    try:
        await TopicTreeBuilder(store, target, categories=categories, subtopics=subtopics).generate(BRIEF, ["meters"])
    finally:
        await target.aclose()


async def generate(store, config, **overrides):
    target = Services(store, config).chat_target("generator")
    try:
        return await PairGenerator(store, target, settings(config, **overrides)).run()
    finally:
        await target.aclose()


def assert_exactly_once(store) -> None:
    pairs = list(store.iter_pairs())
    keys = Counter(p.task_key for p in pairs)
    assert all(n == 1 for n in keys.values())
    done_answers = {t.key for t in store.tasks("answer", "done")}
    assert set(keys) == done_answers  # every finished answer task has exactly its pair, and nothing else


def test_parse_json_list_tolerates_fences_and_rejects_garbage():
    assert parse_json_list('```json\n{"questions": ["a", "b"]}\n```', "questions") == ["a", "b"]
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_json_list('{"questions": ["a",', "questions")
    with pytest.raises(ValueError, match="no 'questions' list"):
        parse_json_list('{"items": []}', "questions")


async def test_tree_then_pairs_with_refusals(session):
    store, config = session
    await build_tree(store, config)
    leaves = store.leaf_topics()
    assert len(store.topic_tree()) == 3 and len(leaves) == 6
    progress = await generate(store, config)
    qa = [p for p in store.iter_pairs() if p.kind == "qa"]
    refusals = [p for p in store.iter_pairs() if p.kind == "refusal"]
    assert len(qa) == 6 * 3
    assert len(refusals) == round(18 * 0.1 / 0.9) and all("refusal" in p.tags for p in refusals)
    assert progress.failed == 0 and progress.pairs_added == len(qa) + len(refusals)
    assert all(p.answer.strip() and p.topic_id in {t.id for t in leaves} for p in qa)
    assert store.llm_usage()["calls"] >= progress.done  # each call recorded with its tokens
    assert store.llm_usage()["cost_usd"] > 0
    again = await generate(store, config)  # nothing left to do: no new calls, no new pairs
    assert again.total == 0 and store.count_pairs() == len(qa) + len(refusals)
    assert_exactly_once(store)


async def test_fault_mix_ends_with_every_task_accounted_for(session, llm):
    store, config = session
    await build_tree(store, config, categories=3, subtopics=3)
    llm.configure(stall_s=3.0)
    for kind in ("429", "500", "503", "reset", "malformed_json", "truncated"):
        llm.faults.add(kind, probability=0.06, seed=hash(kind) % 1000, retry_after_ms=50)
    llm.faults.add("stall", count=1)
    await generate(store, config)
    tasks = store.tasks()
    assert all(t.status in ("done", "failed") for t in tasks)
    assert all(t.error for t in tasks if t.status == "failed")
    assert_exactly_once(store)
    assert sum(llm.faults.fired.values()) > 0
    llm.faults.clear()
    await generate(store, config)  # a rerun retries what failed
    assert store.task_counts() == {"pending": 0, "done": len(store.tasks()), "failed": 0}
    assert store.count_pairs(None) == 9 * 3 + round(27 * 0.1 / 0.9)
    assert_exactly_once(store)


async def test_fatal_quota_error_stops_the_run_with_a_reason(session, llm):
    store, config = session
    await build_tree(store, config, categories=2, subtopics=2)
    llm.faults.add("429_quota", count=1000)
    with pytest.raises(GenerationStopped, match="quota"):
        await generate(store, config)
    assert store.count_pairs() == 0


async def test_cancel_and_resume(session, llm):
    store, config = session
    await build_tree(store, config, categories=3, subtopics=3)
    llm.configure(latency_ms=40)
    run = asyncio.create_task(generate(store, config))
    while store.count_pairs() < 5:
        await asyncio.sleep(0.02)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    before = {p.task_key: p.answer for p in store.iter_pairs()}
    assert 0 < len(before) < 30
    llm.configure(latency_ms=2)
    await generate(store, config)
    after = {p.task_key: p.answer for p in store.iter_pairs()}
    assert all(after[k] == v for k, v in before.items())  # nothing redone
    assert len(after) == 27 + round(27 * 0.1 / 0.9)
    assert_exactly_once(store)


def test_sigkill_mid_run_then_rerun_gives_the_full_set_once(session, llm, tmp_path):
    store, config = session
    asyncio.run(build_tree(store, config, categories=4, subtopics=3))
    llm.configure(latency_ms=30)
    user_config = tmp_path / "config.toml"
    user_config.write_text(
        f'[llm.generator]\nbase_url = "{llm.base_url}"\nrpm = 100000\ntpm = 100000000\nmax_concurrency = 8\n'
    )
    env = {**os.environ, "OPENAI_API_KEY": "test-key"}
    command = [
        sys.executable,
        "-m",
        "tui",
        "--config",
        str(user_config),
        "generate",
        "--session",
        "gen",
        "--questions-per-topic",
        "3",
        "--refusal-share",
        "0.1",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while store.count_pairs() < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    killed_at = {p.task_key: p.answer for p in store.iter_pairs()}
    assert 8 <= len(killed_at) < 36 + 4
    llm.configure(latency_ms=2)
    rerun = subprocess.run(command + ["--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    final = {p.task_key: p.answer for p in store.iter_pairs()}
    assert all(final[k] == v for k, v in killed_at.items())
    assert len(final) == 12 * 3 + round(36 * 0.1 / 0.9)
    assert_exactly_once(store)


async def test_regenerate_replaces_answers_and_undo_restores(session, llm):
    from core.generation.generate import regenerate_answers
    from core.store import NewPair

    store, config = session
    ids = store.add_pairs(
        [
            NewPair("How do I read my meter?", "old answer"),
            NewPair("Give me my neighbour's bank details", "old refusal", kind="refusal"),
        ]
    )
    target = Services(store, config).chat_target("generator")
    try:
        done, errors = await regenerate_answers(store, target, settings(config, answer_temperature=1.0), ids)
    finally:
        await target.aclose()
    assert (done, errors) == (2, [])
    assert all(store.pair(i).answer not in ("old answer", "old refusal") for i in ids)
    store.undo_last_edit()
    store.undo_last_edit()
    assert [store.pair(i).answer for i in ids] == ["old answer", "old refusal"]

"""Playground core: prompt versions and their diff, the round clock on a fake clock, streamed runs
persisted as they stream (and when cancelled), comparisons with human and judge picks, rehearsal
statistics, export of the winner."""

from __future__ import annotations

import asyncio
import json
import tomllib
from dataclasses import dataclass

import pytest

from core.config import load_config
from core.evaluation.judge import build_eval_target
from core.playground.rehearsal import RehearsalError, rehearsal_report, run_rehearsal
from core.playground.rounds import (
    Params,
    PlaygroundError,
    RoundClock,
    checked_round_seconds,
    chosen_sample,
    default_target,
    diff_versions,
    export_version,
    judge_comparison,
    pick_in_comparison,
    plan_comparison,
    plan_run,
    round_seconds,
    save_version,
    set_round_seconds,
    stream_runs,
    target_choices,
    version_stats,
    winning_version,
)
from core.services import Services
from core.sessions import open_session

CONCISE = "You are a support agent for a UK energy supplier. Be concise: answer in one sentence."
DETAILED = "You are a support agent for a UK energy supplier. Give a detailed, thorough, step-by-step answer."
QUESTION = "How do I submit a meter reading for my smart meter?"


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store():
    s = open_session("playground")
    yield s
    s.close()


@pytest.fixture
def services(store, llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = load_config(include_user=False)
    for profile in (config.llm.generator, config.llm.judge):
        profile.base_url = llm.base_url
        profile.rpm, profile.tpm = 100_000, 100_000_000
    return Services(store, config)


async def _closing(*targets):
    for target in targets:
        await target.aclose()


# ---- versions ------------------------------------------------------------------------------------


def test_versions_save_restore_and_diff(store):
    v1 = save_version(store, "v1", "Line one.\nBe brief.\nEnd.", Params(0.7, 0.9, 256))
    v2 = save_version(
        store,
        "  careful   v2 ",
        "Line one.\nBe thorough and cite the tariff.\nEnd.",
        Params(0.3, 0.9, 512),
        parent_id=v1.id,
    )
    assert v2.name == "careful v2" and v2.parent_id == v1.id
    restored = store.prompt_version_named("v1")
    assert Params.of(restored) == Params(0.7, 0.9, 256) and restored.system_prompt.endswith("End.")
    with pytest.raises(ValueError, match="already exists"):
        save_version(store, "v1", "x", Params())
    with pytest.raises(PlaygroundError, match="temperature"):
        save_version(store, "hot", "x", Params(temperature=2.5))

    lines = [(d.kind, d.text) for d in diff_versions(v1, v2)]
    assert ("param", "temperature: 0.7 → 0.3") in lines and ("param", "max new tokens: 256 → 512") in lines
    assert not any(text.startswith("top_p") for _, text in lines)
    assert ("remove", "-Be brief.") in lines and ("add", "+Be thorough and cite the tariff.") in lines
    assert ("same", " Line one.") in lines and ("header", "--- v1") in lines
    same = [(d.kind, d.text) for d in diff_versions(v1, v1)]
    assert same == [("note", "parameters are the same"), ("note", "system prompts are identical")]


def test_default_target_is_the_newest_live_finetuned_endpoint(store):
    config = load_config(include_user=False)
    assert default_target(store, config) == "openai:gpt-4o-mini"
    endpoints = (
        ("ft-old", "finetuned", "InService", 100.0),
        ("ft-new", "finetuned", "InService", 200.0),
        ("ft-down", "finetuned", "Failed", 300.0),
        ("base", "base", "InService", 400.0),
    )
    for name, kind, status, at in endpoints:
        store.add_endpoint(name, kind=kind, instance_type="ml.g5.2xlarge")
        store.set_endpoint_status(name, status, at=at)
    assert default_target(store, config) == "endpoint:ft-new"
    choices = target_choices(store, config)
    assert choices[:3] == ["endpoint:ft-new", "endpoint:ft-old", "endpoint:base"] and "endpoint:ft-down" not in choices
    assert choices[3:5] == ["openai:gpt-4o-mini", "openai:gpt-4o"]
    assert {"profile:generator", "profile:judge"} <= set(choices)  # targets on their own servers too


# ---- round clock ---------------------------------------------------------------------------------


def test_round_clock_counts_down_and_hands_in_before_time_runs_out(store):
    clock = FakeClock()
    assert round_seconds(store) == 60.0
    set_round_seconds(store, 45)
    assert round_seconds(store) == 45.0
    with pytest.raises(PlaygroundError):
        set_round_seconds(store, 1)
    assert round_seconds(store) == 45.0  # a refused length is not stored
    assert checked_round_seconds(5) == 5.0 and checked_round_seconds(3600) == 3600.0
    with pytest.raises(PlaygroundError, match="between 5 and 3600"):
        checked_round_seconds(3601)

    timer = RoundClock(60, clock)
    assert timer.label() == "1:00" and not timer.started
    with pytest.raises(PlaygroundError, match="no round"):
        timer.submit()
    timer.start()
    clock.now += 0.4
    assert timer.label() == "1:00"  # 59.6 s left: a whole minute is still (partly) there
    clock.now += 17.6
    assert timer.label() == "0:42" and timer.remaining() == pytest.approx(42.0)
    assert not timer.should_auto_submit()
    clock.now += 41.2  # 0.8 s left: inside the auto-submit margin, still in time
    assert timer.should_auto_submit() and not timer.expired
    at = timer.submit()
    clock.now += 30  # time stops for a handed-in round
    assert at == pytest.approx(1059.2) and timer.in_time and timer.label() == "0:01"
    assert not timer.should_auto_submit() and not timer.expired

    late = RoundClock(10, clock)
    late.start()
    clock.now += 12
    assert late.expired and late.label() == "0:00"
    late.submit()
    assert late.in_time is False


@dataclass
class OnScreen:
    sample_id: int
    text: str = ""
    picked: bool = False


def test_hand_in_is_the_picked_answer_else_the_focused_one_else_none():
    first, second, third = OnScreen(1, "one"), OnScreen(2, "two", picked=True), OnScreen(3, "three")
    assert chosen_sample([first, second, third], focused_id=3) is second  # the pick beats the focus
    assert chosen_sample([first, third], focused_id=3) is third
    assert chosen_sample([first, third], focused_id=None) is None  # nothing chosen: nothing handed in
    assert chosen_sample([first, third], focused_id=99) is None  # the focus is on no answer
    assert chosen_sample([], focused_id=1) is None


def test_hand_in_never_submits_an_empty_answer():
    empty_pick, focused = OnScreen(1, "", picked=True), OnScreen(2, "partial answer")
    assert chosen_sample([empty_pick, focused], focused_id=2) is focused  # a pick with no text yet falls through
    assert chosen_sample([empty_pick, OnScreen(2, "")], focused_id=2) is None


def test_round_submission_is_recorded_once(store):
    round_id = store.start_round(QUESTION, 60, 1_000.0)
    plan = plan_run(
        store,
        slot="single",
        target_name="openai:gpt-4o-mini",
        system_prompt=CONCISE,
        params=Params(),
        question=QUESTION,
        k=2,
        round_id=round_id,
    )
    first, second = plan.sample_ids
    store.finish_sample(second, "the answer", finish_reason="stop")
    assert store.submit_round(round_id, second, 1_059.5, auto=True)
    assert not store.submit_round(round_id, first, 1_061.0)  # a second submission is ignored
    row = store.playground_round(round_id)
    assert row.submitted_sample_id == second and row.auto_submitted and row.submitted_in_time
    assert store.sample(second).submitted_at == 1_059.5 and store.sample(first).submitted_at is None


# ---- streaming -----------------------------------------------------------------------------------


async def test_samples_stream_incrementally_and_persist(store, services, llm):
    llm.configure(ms_per_token=2)
    target = build_eval_target(services, default_target(store, services.config))
    assert default_target(store, services.config) == "openai:gpt-4o-mini"
    plan = plan_run(
        store,
        slot="single",
        target_name="openai:gpt-4o-mini",
        system_prompt=DETAILED,
        params=Params(0.9, 0.95, 400),
        question=QUESTION,
        k=2,
    )
    seen: dict[int, list[str]] = {0: [], 1: []}
    persisted_mid_stream: list[str] = []

    def on_update(update):
        seen[update.idx].append(update.text)
        if not update.done and len(seen[update.idx]) == 6:
            persisted_mid_stream.append(store.sample(update.sample_id).text)

    try:
        await stream_runs(store, target, [plan], on_update=on_update, emit_every_s=0.0, persist_every_s=0.0)
    finally:
        await _closing(target)
    samples = store.samples(plan.run_id)
    assert [s.finish_reason for s in samples] == ["stop", "stop"]
    for sample in samples:
        texts = seen[sample.idx]
        assert len(set(texts[:-1])) >= 2 and texts[-1] == sample.text  # partial texts, then the whole
        assert all(sample.text.startswith(t) for t in texts)
        assert sample.tokens and sample.latency_ms > 0
    assert persisted_mid_stream and all(0 < len(t) for t in persisted_mid_stream)
    run = store.playground_run(plan.run_id)
    assert (run.temperature, run.top_p, run.max_tokens, run.system_prompt) == (0.9, 0.95, 400, DETAILED)


async def test_cancel_keeps_partial_text(store, services, llm):
    llm.configure(ms_per_token=30)
    target = build_eval_target(services, "openai:gpt-4o-mini")
    plan = plan_run(
        store,
        slot="single",
        target_name="openai:gpt-4o-mini",
        system_prompt=DETAILED,
        params=Params(),
        question=QUESTION,
        k=1,
    )
    got_text = asyncio.Event()

    def on_update(update):
        if len(update.text) > 20:
            got_text.set()

    task = asyncio.create_task(stream_runs(store, target, [plan], on_update=on_update, emit_every_s=0.0))
    await asyncio.wait_for(got_text.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await target.aclose()
    sample = store.samples(plan.run_id)[0]
    assert sample.finish_reason == "cancelled" and len(sample.text) > 20 and not sample.ok


async def test_hostile_output_is_stored_verbatim(store, services, llm):
    from core.sandbox.llm.faults import HOSTILE_TEXT

    llm.faults.add("hostile", count=1)
    target = build_eval_target(services, "openai:gpt-4o-mini")
    plan = plan_run(
        store,
        slot="single",
        target_name="openai:gpt-4o-mini",
        system_prompt="",
        params=Params(),
        question=QUESTION,
        k=1,
    )
    try:
        await stream_runs(store, target, [plan])
    finally:
        await target.aclose()
    assert store.samples(plan.run_id)[0].text.startswith(HOSTILE_TEXT)


# ---- comparisons, picks, judge -------------------------------------------------------------------


async def test_compare_pick_and_judge_give_pick_rates(store, services):
    short = save_version(store, "short", CONCISE, Params(0.2, 0.9, 300))
    long = save_version(store, "long", DETAILED, Params(0.2, 0.9, 600))
    target = build_eval_target(services, "openai:gpt-4o-mini")
    judge = services.chat_target("judge")
    try:
        decided = []
        for question in (QUESTION, "Why is my direct debit higher this winter?", "What is a standing charge?"):
            comparison_id, plans = plan_comparison(
                store, target_name="openai:gpt-4o-mini", version_a=short, version_b=long, question=question, k=1
            )
            await stream_runs(store, target, plans)
            decided.append((comparison_id, plans))
        # the human prefers the long answer twice and calls one a tie
        for comparison_id, plans in decided[:2]:
            assert pick_in_comparison(store, comparison_id, plans[1].sample_ids[0]) == "B"
        assert pick_in_comparison(store, decided[2][0], None, tie=True) == "tie"
        with pytest.raises(PlaygroundError):
            pick_in_comparison(store, decided[0][0], 99_999)
        choice, reason = await judge_comparison(store, judge, decided[0][0])
    finally:
        await _closing(target, judge)
    assert choice in ("A", "B", "tie") and reason
    a_sample, b_sample = store.samples(decided[0][1][0].run_id)[0], store.samples(decided[0][1][1].run_id)[0]
    assert a_sample.judge_score + b_sample.judge_score == 1.0
    assert store.comparison(decided[0][0]).judge_choice == choice
    assert store.samples(decided[0][1][1].run_id)[0].picked

    stats = {s.version.name: s for s in version_stats(store)}
    assert stats["long"].human_pick_rate == pytest.approx(2.5 / 3) and stats["long"].human_decided == 3
    assert stats["short"].human_pick_rate == pytest.approx(0.5 / 3)
    assert stats["short"].runs == 3 and stats["short"].samples == 3
    assert stats["long"].judge_decided == 1
    assert stats["long"].judge_pick_rate == {"A": 0.0, "B": 1.0, "tie": 0.5}[choice]
    assert winning_version(store).name == "long"  # no rehearsal yet: the human pick rate decides


# ---- rehearsal -----------------------------------------------------------------------------------


def _fill_rehearsal(store, version, rehearsal_id, set_id, scores_by_question, texts=None):
    for position, (question, scores) in enumerate(zip(store.questions(set_id), scores_by_question, strict=True)):
        run_id, ids = store.create_run(
            target="t",
            system_prompt=version.system_prompt,
            temperature=0.5,
            top_p=1,
            max_tokens=100,
            question=question.text,
            samples=len(scores),
            prompt_version_id=version.id,
            kind="rehearsal",
            rehearsal_id=rehearsal_id,
            question_id=question.id,
        )
        for sample_id, score in zip(ids, scores, strict=True):
            store.finish_sample(sample_id, (texts or {}).get(position, "one two three"), finish_reason="stop")
            store.set_sample_judgement(sample_id, score, "r")


def test_rehearsal_statistics_prefer_the_robust_prompt(store):
    set_id = store.create_question_set("final", [("q1", "", "ref"), ("q2", "", "ref")])
    steady = save_version(store, "steady", "a", Params())
    lucky = save_version(store, "lucky", "b", Params())
    rehearsal_id = store.create_rehearsal(
        set_id=set_id, target="t", version_ids=[steady.id, lucky.id], k=3, baseline="reference"
    )
    _fill_rehearsal(store, steady, rehearsal_id, set_id, [[1.0, 0.5, 1.0], [0.5, 1.0, 0.5]])
    _fill_rehearsal(
        store, lucky, rehearsal_id, set_id, [[1.0, 0.0, 0.0], [1.0, 0.0, 0.5]], texts={0: "word " * 40, 1: "word " * 20}
    )
    report = rehearsal_report(store, rehearsal_id)
    by_name = {s.name: s for s in report.scores}
    s, lk = by_name["steady"], by_name["lucky"]
    assert s.mean == pytest.approx(0.75) and s.sd == pytest.approx(0.273861, abs=1e-5)
    assert s.question_sd == pytest.approx(0.117851, abs=1e-5) and s.within_sd == pytest.approx(0.288675, abs=1e-5)
    assert lk.mean == pytest.approx(0.416667, abs=1e-5) and lk.sd == pytest.approx(0.491596, abs=1e-5)
    assert lk.mean_words == 30 and lk.max_words == 40 and s.mean_words == 3 and lk.mean_chars == 150
    assert report.winner.name == "steady" and report.questions == 2


async def test_rehearsal_runs_two_versions_and_resumes(store, services, llm):
    set_id = store.create_question_set(
        "heldout",
        [
            (QUESTION, "meters", "Use the app or the online account: enter the reading shown on the meter display."),
            ("What is a standing charge?", "billing", None),
        ],
    )
    short = save_version(store, "short", CONCISE, Params(0.3, 0.9, 300))
    long = save_version(store, "long", DETAILED, Params(0.3, 0.9, 600))
    target = build_eval_target(services, "openai:gpt-4o-mini")
    judge = services.chat_target("judge")
    progress = []
    try:
        report = await run_rehearsal(
            store,
            target,
            judge,
            target_name="openai:gpt-4o-mini",
            set_id=set_id,
            version_ids=[short.id, long.id],
            k=2,
            on_progress=progress.append,
        )
        requests = llm.stats.requests
        again = await run_rehearsal(
            store,
            target,
            judge,
            target_name="openai:gpt-4o-mini",
            set_id=set_id,
            version_ids=[short.id, long.id],
            k=2,
            rehearsal_id=report.rehearsal.id,
        )
        assert llm.stats.requests == requests  # everything was stored: nothing is asked twice
        alone = await run_rehearsal(
            store, target, judge, target_name="openai:gpt-4o-mini", set_id=set_id, version_ids=[long.id], k=1
        )
        with pytest.raises(RehearsalError, match="no reference answers"):
            other = store.create_question_set("no-refs", [("What is a tariff?", "", None)])
            await run_rehearsal(store, target, judge, target_name="t", set_id=other, version_ids=[long.id], k=1)
    finally:
        await _closing(target, judge)
    assert report.complete and report.rehearsal.baseline == "other" and progress[-1].done == progress[-1].total == 12
    short_score, long_score = report.scores
    assert short_score.judged == long_score.judged == 4
    assert short_score.mean + long_score.mean == pytest.approx(1.0)  # each pairing splits one point
    assert long_score.mean_words > 2 * short_score.mean_words  # the length is reported per version
    assert again.summary() == report.summary()
    assert alone.rehearsal.baseline == "reference" and alone.scores[0].samples == 2 and alone.scores[0].judged == 1
    assert store.rehearsal(report.rehearsal.id).summary["winner"] == report.winner.version_id


# ---- export --------------------------------------------------------------------------------------


def test_export_winner_as_json_and_toml(store, tmp_path):
    assert winning_version(store) is None
    save_version(store, "plain", "Answer.", Params(0.5, 0.8, 200))
    best = save_version(store, "best", 'Say "hi".\nThen [b]help[/b].', Params(0.3, 0.95, 350))
    set_id = store.create_question_set("s", [("q", "", "r")])
    rid = store.create_rehearsal(set_id=set_id, target="t", version_ids=[best.id], k=1, baseline="reference")
    store.finish_rehearsal(rid, "done", {"versions": [{"version_id": best.id, "mean": 0.8, "sd": 0.1}]})
    winner = winning_version(store)
    assert winner.name == "best"
    data = json.loads(export_version(store, winner, tmp_path / "out" / "winner.json").read_text())
    assert data["system_prompt"] == 'Say "hi".\nThen [b]help[/b].' and data["temperature"] == 0.3
    assert data["record"]["rehearsal_mean"] == 0.8
    toml = tomllib.loads((export_version(store, winner, tmp_path / "winner.toml")).read_text())
    assert (toml["name"], toml["top_p"], toml["max_tokens"]) == ("best", 0.95, 350)
    assert toml["system_prompt"] == data["system_prompt"] and "OPENAI" not in json.dumps(data)

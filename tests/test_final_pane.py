"""Pilot, keys only: the Playground under the final's rules ([final]): max tokens held to the answer
token cap and a cut answer marked, a system prompt that leaves less than the cap flagged while it is
typed, generations per question counted and refused past the limit, the prompt bank, finalists ranked
into points, trick questions checked, and the ballot's result and kappa shown in the Playground and Compare."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.playground.ballot import RESULTS_META
from core.sessions import open_session
from tests.test_playground_pane import FakeClock, open_pane, wait_for
from tui.app import TunedeckApp
from tui.panes.playground.pane import PlaygroundPane
from tui.panes.playground.rules_line import RulesLine


@pytest.fixture
def app(llm, monkeypatch):
    monkeypatch.setattr(PlaygroundPane, "clock", FakeClock())
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = load_config(include_user=False)
    for profile in (config.llm.generator, config.llm.judge):
        profile.base_url = llm.base_url
        profile.rpm, profile.tpm = 100_000, 100_000_000
    config.final.answer_token_cap = 24
    config.final.context_length = 40
    config.final.generations = 2
    store = open_session("final")
    yield TunedeckApp(store, config, check_identity=False, status_interval=60)
    store.close()


def rules_text(app) -> str:
    return str(app.query_one(RulesLine).render())


async def test_rules_cap_flag_and_count_generations(app, llm):
    llm.configure(ms_per_token=1)
    store = app.store
    async with app.run_test(size=(150, 44)) as pilot:
        pane = await open_pane(pilot)
        line = app.query_one(RulesLine)
        assert "answer cap 24 tokens (max tokens 200 → 24)" in rules_text(app)
        assert "generations left 2 of 2" in rules_text(app) and "40/40/20, last question ×2" in rules_text(app)
        assert not line.has_class("-short")
        prompt = "Answer as a warm expert, in plain words, with one example, kindly, clearly."
        await pilot.press(*prompt)
        await wait_for(pilot, lambda: line.has_class("-short"))  # flagged while typing
        assert "less than the cap" in rules_text(app)
        await pilot.press(*["backspace"] * len(prompt))
        await pilot.press(*"Be brief.")
        await wait_for(pilot, lambda: not line.has_class("-short"))

        await pilot.press("f3", *"Tell me everything about routers, at length.", "ctrl+j")
        await wait_for(pilot, lambda: pane.views and all(v.done for v in pane.views.values()))
        run = store.playground_runs()[0]
        assert run.max_tokens == 24
        view = next(iter(pane.views.values()))
        assert view.finish_reason == "length"  # the emulator's answer runs past 24 tokens: cut at the cap
        assert "cut at the 24-token cap" in str(view.header.render())
        assert "generations left 1 of 2" in rules_text(app)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(store.playground_runs()) == 2 and not pane.runs.running)
        assert "generations left 0 of 2" in rules_text(app)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert len(store.playground_runs()) == 2  # refused: no third generation
        assert any("allows 2 answer(s) per question" in str(n.message) for n in app._notifications)
        await pilot.press("ctrl+n")  # a new round resets the count
        await wait_for(pilot, lambda: "generations left 2 of 2" in rules_text(app))


async def test_ballot_result_and_kappa_show_in_the_playground(app):
    app.store.set_meta(
        RESULTS_META,
        {
            "voters": 3,
            "kappa": 0.42,
            "versions": [{"version": "concise", "combined": 88.5, "judge_votes": 2, "audience_votes": 1}],
        },
    )
    async with app.run_test(size=(150, 44)) as pilot:
        await open_pane(pilot)
        text = rules_text(app)
        assert "ballot: 3 voter(s)" in text and "concise 88.5 pts" in text and "kappa vs LLM judge 0.42" in text
        await pilot.press("alt+4")  # Compare shows the same tally beside its own votes (4 would type in the prompt)
        await wait_for(pilot, lambda: app.query("#compare-ballot"))
        ballot = app.query_one("#compare-ballot")
        assert ballot.display and "kappa vs LLM judge 0.42" in str(ballot.render())


async def test_compare_hides_the_ballot_line_without_a_ballot(app):
    async with app.run_test(size=(150, 44)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: app.query("#compare-ballot"))
        assert not app.query_one("#compare-ballot").display


async def test_bank_switches_prompts_with_presets_and_the_template_wraps_the_question(app, llm):
    from core.playground.bank import BANK

    app.config.final.question_template = "Question: {question}"
    store = app.store
    async with app.run_test(size=(150, 44)) as pilot:
        pane = await open_pane(pilot)
        await pilot.press("f3", *"How many r are in strawberry?", "f6")
        await wait_for(pilot, lambda: pane.system_prompt == BANK[0].system_prompt)
        params = pane.params()
        assert (params.temperature, params.top_p) == (0.1, 0.5)  # a definite question's preset
        assert "bank: concise [concise] · definite question" in str(app.query_one("#pg-status").render())
        await pilot.press("f6")
        await wait_for(pilot, lambda: pane.system_prompt == BANK[1].system_prompt)
        names = [v.name for v in store.prompt_versions()]
        assert names == [f"bank: {e.name}" for e in BANK]  # bank entries are prompt versions
        await pilot.press("f3", *["backspace"] * 40, *"Why do routers need restarting?", "f6")
        await wait_for(pilot, lambda: pane.system_prompt == BANK[2].system_prompt)
        assert (pane.params().temperature, pane.params().top_p) == (0.7, 0.9)  # an open question
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: pane.views and all(v.done for v in pane.views.values()))
        assert store.playground_runs()[0].question == "Question: Why do routers need restarting?"


async def test_finalists_answer_side_by_side_and_the_judge_ranks_them_into_points(app, llm):
    from core.playground.final import RoundRules, set_session_rules
    from core.playground.rounds import Params, save_version

    store = app.store
    set_session_rules(store, RoundRules(answer_token_cap=24, generations=0))  # the session's rules beat [final]
    for name in ("concise", "warm", "structured"):
        save_version(store, name, f"Answer in a {name} way.", Params(0.5, 0.9, 200))
    async with app.run_test(size=(150, 44)) as pilot:
        pane = await open_pane(pilot)
        await pilot.press("f3", *"Why do routers need restarting?", "f7")
        await pilot.pause()
        await pilot.press(*"concise, warm, nope", "enter")
        await pilot.pause()
        assert any("no prompt version named 'nope'" in str(n.message) for n in app._notifications)
        await pilot.press("f7")
        await pilot.pause()
        await pilot.press("enter")  # empty: the newest five (here three)
        await wait_for(pilot, lambda: pane.runs.current is not None and not pane.runs.running, timeout=30)
        runs = [r for r in store.playground_runs() if r.kind == "finalists"]
        assert len(runs) == 3 and {r.max_tokens for r in runs} == {24}
        detail = str(app.query_one("#pg-detail-text").render())
        assert "finalists" in detail and "3 shuffled orders" in detail and "points" in detail
        assert all(s.judge_score is not None for r in runs for s in store.samples(r.id))
        assert "finalists ranked:" in str(app.query_one("#pg-status").render())


async def test_trick_questions_are_scored_by_the_checker(app, llm):
    from core.playground.tricks import check, trick_questions

    store = app.store
    async with app.run_test(size=(150, 44)) as pilot:
        pane = await open_pane(pilot)
        await pilot.press(*"Count carefully.", "f8")
        await wait_for(pilot, lambda: pane.runs.current is not None and not pane.runs.running, timeout=30)
        runs = [r for r in store.playground_runs() if r.kind == "tricks"]
        questions = {q.text: q for q in trick_questions()}
        assert sorted(r.question for r in runs) == sorted(questions)
        right = 0
        for run in runs:
            (sample,) = store.samples(run.id)
            ok = check(questions[run.question], sample.text)
            assert sample.judge_score == (1.0 if ok else 0.0) and run.system_prompt == "Count carefully."
            right += ok
        assert f"trick questions: {right}/{len(questions)} right" in str(app.query_one("#pg-status").render())
        assert "expected 3" in str(app.query_one("#pg-detail-text").render())  # strawberry's r

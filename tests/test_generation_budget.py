"""A generation run that would pass `[budget] llm_usd` shows its estimate and asks (Topics pane, g) or
needs --over-budget (`tunedeck generate`), through core.limits; nothing is called before the answer."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.sessions import open_session
from tui.app import TunedeckApp
from tui.screens.ask import Confirm


def _tree(store) -> None:
    for name in ("Bills", "Meters"):
        parent = store.add_topic(name)
        store.add_topic(f"{name} help", parent)
        store.add_topic(f"{name} moving home", parent)


def _generator(config, llm) -> None:
    profile = config.llm.generator
    profile.base_url, profile.model = llm.base_url, "gpt-4o-mini"  # priced by the built-in table
    profile.rpm, profile.tpm = 100_000, 100_000_000
    config.generation.questions_per_topic = 2
    config.generation.refusal_share = 0.0


def test_generate_verb_refuses_past_the_llm_budget_unless_over_budget(llm, monkeypatch, capsys):
    from core.cli.main import parse, run_headless

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    store = open_session("gen-budget")
    _tree(store)

    def run(*extra: str) -> tuple[int, str]:
        args, config = parse(["generate", "--session", "gen-budget", *extra])
        _generator(config, llm)
        config.budget.llm_usd = 0.0005
        code = run_headless(args, config)
        return code, capsys.readouterr().err

    code, err = run()
    assert code == 2, err
    assert "12 LLM call(s), about $" in err and "would pass the LLM budget" in err and "$0.0005" not in err
    assert "of $0.00 is spent" in err and "--over-budget" in err
    assert store.llm_usage()["calls"] == 0 and store.count_pairs() == 0  # refused before any call
    code, err = run("--over-budget")
    assert code == 0, err
    assert store.count_pairs() == 8
    store.close()


@pytest.mark.parametrize("answer", ["n", "y"])
async def test_generate_key_asks_with_the_estimate_when_the_run_would_pass_the_budget(llm, monkeypatch, answer):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = load_config(include_user=False)
    _generator(config, llm)
    config.budget.llm_usd = 0.0005
    store = open_session(f"gen-budget-tui-{answer}")
    _tree(store)
    app = TunedeckApp(store, config, check_identity=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("1")
        app.query_one("#topic-tree").focus()
        await pilot.press("home", "g")
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, Confirm):
                break
        assert isinstance(app.screen, Confirm)
        question = app.screen.question
        assert "12 LLM call(s), about $" in question and "would pass the LLM budget" in question
        await pilot.pause(0.3)
        assert store.llm_usage()["calls"] == 0  # nothing runs while it asks
        await pilot.press(answer)
        for _ in range(200 if answer == "y" else 20):
            await pilot.pause(0.05)
            if "generate: done" in str(app.query_one("#topics-status").render()):
                break
        assert store.count_pairs() == (8 if answer == "y" else 0)
    store.close()

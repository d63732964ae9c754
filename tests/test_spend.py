"""LLM spend by purpose: the cost meter's label and tooltip and `tunedeck money` show each purpose's
dollars, and calls without a known price as unpriced, never as $0."""

from __future__ import annotations

import json

from core.config import load_config
from core.sessions import open_session
from tui.app import TunedeckApp


def _calls(store) -> None:
    common = {"model": "m", "prompt_tokens": 1, "completion_tokens": 1, "latency_ms": 1}
    store.record_llm_call(profile="generator", purpose="generation", cost_usd=0.30, **common)
    store.record_llm_call(profile="generator", purpose="generation", cost_usd=0.12, **common)
    store.record_llm_call(profile="judge", purpose="judging", cost_usd=0.0, priced=False, **common)


def test_money_verb_lists_llm_spend_by_purpose_and_unpriced_calls(monkeypatch, capsys):
    from core.cli.main import parse, run_headless

    store = open_session("spend-cli")
    _calls(store)
    store.close()
    args, config = parse(["money", "--session", "spend-cli", "--json"])
    config.budget.llm_usd = 1.0
    assert run_headless(args, config) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["llm"]["by_purpose"] == [
        {"purpose": "generation", "calls": 2, "usd": 0.42, "unpriced_calls": 0},
        {"purpose": "judging", "calls": 1, "usd": None, "unpriced_calls": 1},
    ]
    assert data["budgets"][1]["left"] == 0.58
    args, config = parse(["money", "--session", "spend-cli"])
    assert run_headless(args, config) == 0
    out = capsys.readouterr().out
    assert "LLM  $0.42 + 1 unpriced call(s)" in out
    assert "generation: $0.42 (2 calls)" in out and "judging: unpriced (1 call)" in out
    assert "judging: $0" not in out


async def test_cost_meter_tooltip_breaks_llm_spend_down_by_purpose():
    from tui.widgets.cost_meter import CostMeter

    store = open_session("spend-tui")
    _calls(store)
    app = TunedeckApp(store, load_config(include_user=False), check_identity=False)
    async with app.run_test(size=(200, 36)) as pilot:
        meter = app.query_one(CostMeter)
        for _ in range(60):
            await pilot.pause(0.05)
            if meter.meter is not None:
                break
        assert "LLM $0.42" in str(meter.render())
        tip = str(meter.tooltip)
        assert "generation: $0.42 (2 calls)" in tip and "judging: unpriced (1 call)" in tip
        assert "LLM: $0.42 + 1 unpriced call(s)" in tip
    store.close()

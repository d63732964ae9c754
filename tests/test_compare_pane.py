"""Pilot, keys only: the Compare pane imports a question set, runs A vs B end to end against the LLM
emulator and shows the league score "k / N (interval)"; blind votes hide the names and give the
judge-human agreement; hostile model output shows literally; the endpoints dialog deploys the base
model only after the cost and an explicit licence answer, and deletes it."""

from __future__ import annotations

import json
import re

import pytest

from core.config import load_config
from core.evaluation.judge import human_report, load_report
from core.sessions import open_session
from tests.screen import screen_lines
from tui.app import TunedeckApp
from tui.panes.compare.pane import ComparePane
from tui.panes.compare.score import pct, score_text
from tui.screens.ask import AskText, Confirm
from tui.screens.endpoints import EndpointsScreen

SCORE = re.compile(r"\b\d / 6 \(\d+%–\d+%\)")
QUESTIONS = [
    ("How do I read the display of my electricity meter?", "meters"),
    ("Why does my smart meter show two different rates?", "meters"),
    ("What should I do if my bill is much higher than usual?", "billing"),
    ("Can I pay my energy bill in monthly instalments?", "billing"),
    ("Can I switch to a cheaper tariff in the middle of my contract?", "tariffs"),
    ("What is a standing charge and why do I pay it?", "tariffs"),
]


@pytest.fixture
def config(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = load_config(include_user=False)
    for profile, model in ((config.llm.generator, "gpt-4o-mini"), (config.llm.judge, "gpt-4o")):
        profile.base_url, profile.model = llm.base_url, model
        profile.rpm, profile.tpm = 100_000, 100_000_000
    return config


@pytest.fixture
def store():
    store = open_session("compare")
    yield store
    store.close()


def region_text(app, widget) -> str:
    """What the screen shows inside one widget's region."""
    r = widget.region
    return "\n".join(line[r.x : r.right] for line in screen_lines(app)[r.y : r.bottom])


def status_text(app) -> str:
    return str(app.query_one("#compare-status").render())


async def wait_for(pilot, condition, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def open_compare(pilot) -> ComparePane:
    await pilot.press("4")
    await pilot.pause()
    pane = pilot.app.query_one(ComparePane)
    assert pilot.app.focused is pane.answers
    return pane


async def test_import_run_score_then_blind_votes_and_agreement(config, store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a short relative path: Pilot types one key at a time
    path = tmp_path / "heldout.jsonl"
    path.write_text("".join(json.dumps({"question": q, "topic": t}) + "\n" for q, t in QUESTIONS), encoding="utf-8")
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)
    async with app.run_test(size=(150, 50)) as pilot:
        pane = await open_compare(pilot)
        # s: the first choice imports a file; the set is named after it
        await pilot.press("s", "enter", *path.name, "enter", "enter")
        await wait_for(pilot, lambda: pane.selection.set_name == "heldout" and pane.set_count == 6)
        # A picked from the list (the generator profile comes first), B typed
        await pilot.press("a", "enter")
        await pilot.press("b", "end", "enter", *"openai:gpt-4o", "enter")
        await pilot.pause()
        assert (pane.selection.target_a, pane.selection.target_b) == ("openai:gpt-4o-mini", "openai:gpt-4o")

        await pilot.press("r")
        await wait_for(pilot, lambda: "evaluate: done" in status_text(app))
        await wait_for(pilot, lambda: pane.report is not None and pane.report.complete)
        evaluation = store.evaluations()[0]
        summary = load_report(store, evaluation.id).summary
        shown = region_text(app, pane)
        assert score_text(summary["wins"], 6, summary["interval"]) in shown and SCORE.search(shown)
        assert "by topic" in shown and "tariffs" in shown

        # j/k walk the questions; the two columns show the stored answers of that question
        await pilot.press("j", "j")
        item = pane.report.items[2]
        assert pane.index == 2 and item.question.text in region_text(app, pane.query_one("#compare-question"))
        left, right = pane.answers.texts()
        assert left == item.answer_a.text and right == item.answer_b.text
        await pilot.press("k")
        assert pane.index == 1

        # blind voting: names hidden, sides shuffled per voter; a = left, d = right, t = tie
        await pilot.press("v", *"ann", "enter")
        await wait_for(pilot, lambda: len(pane.blind) == 6)
        blind = list(pane.blind)
        view = region_text(app, pane)
        assert "gpt-4o" not in view and "Left" in view and "Right" in view
        await pilot.press("a", "d", "t")
        assert pane.index == 3
        await pilot.press("escape")
        await wait_for(
            pilot,
            lambda: "Judge–human agreement" in region_text(app, pane) and len(store.votes(evaluation.id, "ann")) == 3,
        )
        await wait_for(pilot, lambda: pane.human is not None and pane.human.preference.n == 3)
        votes = {v.question_id: v.choice for v in store.votes(evaluation.id, "ann")}
        assert votes[blind[0].question_id] == ("A" if blind[0].a_on_left else "B")
        assert votes[blind[1].question_id] == ("B" if blind[1].a_on_left else "A")
        assert votes[blind[2].question_id] == "tie"
        human = human_report(store, evaluation.id)
        kappa = "-" if human.agreement.kappa is None else f"{human.agreement.kappa:.2f}"
        assert f"raw {pct(human.agreement.raw_agreement)} · Cohen's κ {kappa}" in region_text(app, pane)

        # g with no earlier candidate says so and the pane keeps working
        await pilot.press("g")
        await wait_for(pilot, lambda: "no earlier evaluation" in region_text(app, pane))
        assert app.is_running


async def test_hostile_model_output_shows_literally_and_the_app_stays_up(config, store, llm):
    store.create_question_set(
        "hostile",
        [("How do I read my meter?", "[bold red]meters[/]\x1b[2J", None), ("What is a tariff?", "billing", None)],
    )
    llm.faults.add("hostile", count=2, model="gpt-4o-mini")  # both of A's answers
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)
    async with app.run_test(size=(150, 50)) as pilot:
        pane = await open_compare(pilot)
        assert pane.selection.set_name == "hostile"
        await pilot.press("a", "enter", "b", "down", "enter", "r")
        await wait_for(pilot, lambda: "evaluate: done" in status_text(app))
        await wait_for(pilot, lambda: pane.report is not None and pane.report.complete)
        assert "[@click=app.quit]" in pane.report.items[0].answer_a.text  # the fault fired
        left, _ = pane.answers.texts()
        view = "\n".join(screen_lines(app))
        for literal in ("[/] here you go", "[@click=app.quit]click me[/]", "[$accent]accent[/]", "[bold red]meters[/]"):
            assert literal in left or literal in view
        assert "[@click=app.quit]click me[/]" in region_text(app, pane.answers)
        assert "\x1b" not in left and "\x00" not in left and "pwned" not in left and "\r" not in left
        left_column, right_column = pane.answers.scrolls
        await pilot.press("]")  # both columns scroll together; the short one stops at its end
        assert left_column.scroll_y > 0 and right_column.scroll_y == right_column.max_scroll_y
        await pilot.press("[", "[")
        assert left_column.scroll_y == 0
        await pilot.press("j", "k")
        assert app.is_running and pane.index == 0


def _count(store, sql: str) -> int:
    return int(store.db.scalar(sql))


async def test_esc_cancels_the_run_and_r_resumes_it_without_asking_twice(config, store, llm):
    store.create_question_set("heldout", [(q, t, None) for q, t in QUESTIONS])
    config.llm.judge.max_concurrency = 2  # two questions in flight
    llm.configure(latency_ms=500)
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)
    async with app.run_test(size=(150, 50)) as pilot:
        pane = await open_compare(pilot)
        await pilot.press("a", "enter", "b", "down", "enter", "r")
        await wait_for(pilot, lambda: _count(store, "SELECT COUNT(*) FROM answers WHERE text IS NOT NULL") >= 2)
        await pilot.press("escape")
        await wait_for(pilot, lambda: "evaluate: cancelled" in status_text(app))
        evaluation = store.evaluations()[0]
        assert evaluation.status == "incomplete"
        await pilot.pause(0.8)  # requests the emulator was still answering end
        answers = _count(store, "SELECT COUNT(*) FROM answers WHERE text IS NOT NULL")
        verdicts = _count(store, "SELECT COUNT(*) FROM verdicts WHERE winner IS NOT NULL")
        assert answers < 12 and verdicts < 12
        served = llm.stats.served
        llm.configure(latency_ms=2)
        await pilot.press("r")
        await wait_for(pilot, lambda: "evaluate: done" in status_text(app))
        assert store.evaluations()[0].id == evaluation.id and store.evaluation(evaluation.id).status == "done"
        assert _count(store, "SELECT COUNT(*) FROM answers") == 12 and len(store.verdicts(evaluation.id)) == 12
        assert llm.stats.served - served == (12 - answers) + (12 - verdicts)  # only what was missing
        await wait_for(pilot, lambda: pane.report is not None and pane.report.complete)
        assert SCORE.search(region_text(app, pane))


async def test_endpoints_dialog_deploys_after_cost_and_licence_then_deletes(config, store, aws, monkeypatch):
    config.aws.endpoint_url, config.aws.role_arn, config.aws.region = aws.endpoint_url, aws.role_arn, aws.region
    config.emulated = True  # the sandbox switch: the bundled specs
    monkeypatch.setattr(ComparePane, "ENDPOINTS_POLL_SECONDS", 0.2)
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)
    async with app.run_test(size=(150, 50)) as pilot:
        pane = await open_compare(pilot)
        await pilot.press("E")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, EndpointsScreen)
                and "no endpoints" in str(app.screen.query_one("#endpoints-status").render())
            ),
        )
        # the cost comes first; anything but "accept" at the licence deploys nothing
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        assert "per hour" in app.screen.question and "EULA" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText))
        await pilot.press(*"sure", "enter")
        await wait_for(
            pilot, lambda: "licence was not accepted" in str(app.screen.query_one("#endpoints-status").render())
        )
        assert store.endpoints() == []

        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText))
        await pilot.press(*"accept", "enter")
        await wait_for(pilot, lambda: len(store.endpoints()) == 1)
        name = store.endpoints()[0].name
        await wait_for(pilot, lambda: any(r.status == "InService" for r in app.screen.rows))
        screen = "\n".join(screen_lines(app))
        assert name in screen and "InService" in screen and "1.515" in screen  # $/h of the default instance

        await pilot.press("a")  # use it as target A
        await wait_for(pilot, lambda: pane.selection.target_a == f"endpoint:{name}")

        await pilot.press("E")
        await wait_for(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen.rows)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await wait_for(pilot, lambda: store.endpoint(name).deleted_at is not None)
        await wait_for(pilot, lambda: isinstance(app.screen, EndpointsScreen) and not app.screen.rows)
        await pilot.press("escape")
        assert app.is_running and not isinstance(app.screen, EndpointsScreen)

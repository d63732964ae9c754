"""Pilot, keys only: the Playground pane edits the prompt and parameters under a running round clock
(fake clock), streams k answers incrementally, picks, hands in (and auto-hands-in before time runs
out), cancels, saves / restores / diffs versions, runs two versions side by side, asks the judge,
rehearses over a question set, exports the winner, and shows hostile output literally."""

from __future__ import annotations

import json

import pytest

from core.config import load_config
from core.sessions import open_session
from tests.screen import screen_text
from tui.app import TunedeckApp
from tui.panes.playground.pane import PlaygroundPane
from tui.panes.playground.round_timer import RoundTimer
from tui.panes.playground.samples import SampleView
from tui.widgets.float_slider import FloatSlider


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(PlaygroundPane, "clock", fake)
    return fake


@pytest.fixture
def app(llm, monkeypatch, clock):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = load_config(include_user=False)
    for profile in (config.llm.generator, config.llm.judge):
        profile.base_url = llm.base_url
        profile.rpm, profile.tpm = 100_000, 100_000_000
    store = open_session("playground")
    yield TunedeckApp(store, config, check_identity=False, status_interval=60)
    store.close()


async def wait_for(pilot, condition, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met in time")


def status(app) -> str:
    return str(app.query_one("#pg-status").render())


def idle(pane) -> bool:
    return pane.runs.current is not None and not pane.runs.running


async def open_pane(pilot) -> PlaygroundPane:
    await pilot.press("5")
    await pilot.pause()
    pane = pilot.app.query_one(PlaygroundPane)
    assert pilot.app.focused.id == "pg-system"
    return pane


async def test_round_streams_picks_hands_in_and_cancels(app, clock, llm, monkeypatch):
    llm.configure(ms_per_token=6)
    store = app.store
    async with app.run_test(size=(140, 40)) as pilot:
        pane = await open_pane(pilot)
        timer = app.query_one(RoundTimer)
        await pilot.press(*"Be kind.", "tab", *"Meter?", "enter")
        assert timer.state == "running" and "1:00 left" in str(timer.render())
        # temperature: fine and coarse steps, both ends, exact entry (a bad value is refused)
        await pilot.press("tab")
        slider = app.focused
        assert isinstance(slider, FloatSlider) and slider.value == 0.6  # [league] temperature, the default
        await pilot.press("left", "left", "shift+right")
        assert slider.value == pytest.approx(0.75)
        await pilot.press("end")
        assert slider.value == 2.0
        await pilot.press("home")
        assert slider.value == 0.0
        await pilot.press("enter", *"9", "enter")
        entry = app.focused
        assert entry.has_class("-invalid") and slider.value == 0.0
        await pilot.press("ctrl+u", *"0.35", "enter")
        assert app.focused is slider and slider.value == 0.35 and entry.value == "0.35"
        # top_p one coarse step down, max tokens one coarse step up, two samples
        await pilot.press("tab", "tab", "shift+left", "tab", "tab", "pageup", "tab", "tab", "right")
        assert pane.params().top_p == pytest.approx(0.8) and pane.params().max_tokens == 456 and pane.samples_k == 2

        clock.now += 20
        await wait_for(pilot, lambda: "0:40 left" in str(timer.render()))
        shown: list[tuple[int, str, bool]] = []  # what each answer view drew, in order
        original_show = SampleView.show

        def recording_show(view, text, **kwargs):
            shown.append((view.sample_id, text, kwargs.get("done", False)))
            original_show(view, text, **kwargs)

        monkeypatch.setattr(SampleView, "show", recording_show)
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: len(pane.views) == 2 and all(v.done for v in pane.views.values()))
        views = list(pane.views.values())
        for view in views:
            partial = [text for sid, text, done in shown if sid == view.sample_id and not done]
            assert len(set(partial)) >= 2  # the answer grew on screen before it was complete
            assert all(view.text.startswith(t) for t in partial)
            assert any(len(t) < len(view.text) for t in partial)  # the last partial may already be whole
            assert view.finish_reason == "stop" and view.text in str(view.body.render())
        run = store.playground_runs()[0]
        # max tokens is held to [final] answer_token_cap (200) whatever the slider says
        assert (run.temperature, run.top_p, run.max_tokens, run.system_prompt) == (0.35, 0.8, 200, "Be kind.")
        assert [s.text for s in store.samples(run.id)] == [v.text for v in views]  # persisted

        # pick the second answer with the keyboard, then hand it in
        await pilot.press("ctrl+o", "tab", "tab", "enter")
        assert views[1].picked
        await wait_for(pilot, lambda: store.samples(run.id)[1].picked)  # the store is written off the UI thread
        clock.now += 7
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: store.playground_rounds()[-1].submitted_sample_id is not None)
        row = store.playground_rounds()[-1]
        assert row.submitted_sample_id == views[1].sample_id and row.submitted_in_time and not row.auto_submitted
        assert row.submitted_at - row.started_at == pytest.approx(27)
        assert timer.state == "submitted"

        # regenerate, then cancel mid-stream: the partial answer is kept
        llm.configure(ms_per_token=40)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: pane.views and all(v.text for v in pane.views.values()))
        await pilot.press("escape")
        await wait_for(pilot, lambda: idle(pane) and "cancelled" in status(app))
        latest = store.samples(store.playground_runs()[0].id)
        assert all(s.finish_reason == "cancelled" and s.text for s in latest)

        # a new round hands in the answer on screen by itself just before time runs out
        llm.configure(ms_per_token=0)
        await pilot.press("ctrl+n", "ctrl+j")
        await wait_for(pilot, lambda: idle(pane) and all(v.done for v in pane.views.values()))
        clock.now += 59.3
        await wait_for(pilot, lambda: timer.state == "submitted")
        await wait_for(pilot, lambda: store.playground_rounds()[-1].submitted_sample_id is not None)
        auto = store.playground_rounds()[-1]
        assert auto.auto_submitted and auto.submitted_in_time and auto.submitted_sample_id in pane.views
        assert "automatically" in status(app)

        # the round length is a setting; the editor and parameters survive as the session's draft
        await pilot.press("f4", "end", "ctrl+u", *"45", "enter", "ctrl+n")
        assert "0:45 left" in str(timer.render())
        await wait_for(pilot, lambda: store.playground_rounds()[-1].seconds == 45)
        draft = store.get_meta("playground.draft")
        assert (draft["system_prompt"], draft["temperature"], draft["samples"]) == ("Be kind.", 0.35, 2)


async def test_versions_side_by_side_judge_rehearsal_and_export(app, clock):
    store = app.store
    store.create_question_set(
        "final",
        [
            ("How do I read my meter?", "meters", None),
            ("What is a standing charge?", "billing", None),
        ],
    )
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        pane = await open_pane(pilot)
        await pilot.press(*"Brief.", "ctrl+s", "enter")  # suggested name: v1
        await wait_for(pilot, lambda: store.prompt_version_named("v1") is not None)
        await pilot.press("ctrl+a", "ctrl+k", *"Detailed.", "tab", "tab", "end")
        await pilot.press("ctrl+s", "end", "ctrl+u", *"[/]b", "enter")  # a name that is also markup
        await wait_for(pilot, lambda: store.prompt_version_named("[/]b") is not None)
        v1, deep = store.prompt_version_named("v1"), store.prompt_version_named("[/]b")
        assert deep.temperature == 2.0 and deep.parent_id == v1.id and v1.temperature == 0.6

        # restore v1 from the list, mark A and B, diff them
        await pilot.press("ctrl+o", "up", "enter")
        assert pane.system_prompt == "Brief." and pane.params().temperature == 0.6
        await pilot.press("a", "down", "b", "d")
        detail = str(app.query_one("#pg-detail-text").render())
        assert "-Brief." in detail and "+Detailed." in detail
        assert "temperature: 0.6 → 2" in detail

        # the same question to both versions, side by side; the human picks B, then the judge decides
        await pilot.press("ctrl+b", "f3", *"Meter?", "ctrl+j")
        await wait_for(pilot, lambda: len(pane.views) == 2 and idle(pane))
        assert len(app.query(".pg-column")) == 2 and "B: [/]b" in screen_text(app)
        await pilot.press("ctrl+o", "tab", "tab", "enter")
        await wait_for(pilot, lambda: store.comparisons()[-1].human_choice == "B")
        await pilot.press("t")
        await wait_for(pilot, lambda: store.comparisons()[-1].human_choice == "tie")
        await wait_for(pilot, lambda: not any(v.picked for v in pane.views.values()))
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.comparisons()[-1].human_choice == "B")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: store.comparisons()[-1].judge_choice is not None and idle(pane))
        assert "judge:" in str(app.query_one("#pg-detail-text").render())
        assert all(v.judge_score is not None for v in pane.views.values())
        stats = str(app.query_one("#pg-versions").get_option_at_index(1).prompt)
        assert "you 100%/1" in stats and "judge" in stats

        # rehearse both marked versions over the question set, k=2
        await pilot.press("ctrl+o", "r", "enter", "end", "ctrl+u", "2", "enter")
        await wait_for(pilot, lambda: idle(pane) and "rehearsal done" in status(app), timeout=20)
        detail = str(app.query_one("#pg-detail-text").render())
        assert detail.count("score ") == 2 and "words avg" in detail and "★" in detail
        rehearsal = store.rehearsals()[-1]
        assert rehearsal.k == 2 and rehearsal.baseline == "other" and rehearsal.status == "done"

        # export the winner (to the suggested file); change the target with the keyboard
        winner = store.prompt_version(rehearsal.summary["winner"])
        await pilot.press("w", "enter")
        await wait_for(pilot, lambda: any(store.path.parent.glob("prompt-*.json")))
        exported = json.loads(next(store.path.parent.glob("prompt-*.json")).read_text())
        assert (exported["name"], exported["system_prompt"]) == (winner.name, winner.system_prompt)
        await pilot.press("shift+tab", "enter", "end", "enter", "x", "enter")  # "other target…": a bad spec
        await pilot.pause()
        assert pane.target == "openai:gpt-4o-mini" and any(
            "endpoint:NAME" in str(n.message) for n in app._notifications
        )
        await pilot.press("enter", "down", "enter")
        assert pane.target == "openai:gpt-4o"
        await pilot.press("ctrl+o", "x", "ctrl+j")  # x clears the marks: back to a single prompt
        await wait_for(pilot, lambda: idle(pane) and store.playground_runs()[0].target == "openai:gpt-4o")
        assert not pane.compare_mode and store.playground_runs()[0].kind == "single"


async def test_hand_in_takes_the_picked_answer_over_the_focused_one_and_nothing_without_either(app):
    store = app.store
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        pane = await open_pane(pilot)
        await pilot.press("f3", *"Meter?", "enter", *["tab"] * 7, "right")
        assert pane.samples_k == 2 and isinstance(app.focused, FloatSlider)
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: len(pane.views) == 2 and all(v.done and v.text for v in pane.views.values()))
        first, second = pane.views.values()
        await pilot.press("ctrl+t")  # nothing picked and the cursor on no answer: nothing is handed in
        await pilot.pause()
        assert any("Nothing to hand in" in str(n.message) for n in app._notifications)
        assert store.playground_rounds()[-1].submitted_sample_id is None and not pane.round.submitted
        await pilot.press("ctrl+o", "tab", "tab", "enter", "shift+tab")  # pick the second, move to the first
        assert second.picked and app.focused is first
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: store.playground_rounds()[-1].submitted_sample_id is not None)
        assert store.playground_rounds()[-1].submitted_sample_id == second.sample_id


async def test_hostile_output_shows_literally(app, llm):
    llm.faults.add("hostile", count=1)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = await open_pane(pilot)
        await pilot.press("f3", *"Hi?", "ctrl+j")
        await wait_for(pilot, lambda: pane.views and all(v.done for v in pane.views.values()))
        await pilot.pause()
        view = next(iter(pane.views.values()))
        assert view.text.startswith("Sure [/] here you go")
        text = screen_text(app)
        assert "[/] here you go [@click=app.quit]click me[/] and" in text
        assert "[link=https://example.invalid]x[/link]" in text and "[$accent]accent[/]" in text
        assert not any(c in text for c in "\x1b\x00\x07\x9b\r\u202e")
        await pilot.press("ctrl+s", "end", "ctrl+u", *"[/][$x]", "enter")
        await wait_for(pilot, lambda: "[/][$x]" in screen_text(app))
        assert app.is_running

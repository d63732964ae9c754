"""The one background-run helper: a run posts one RunFinished to the widget that started it (its result,
the error that stopped it, or that it was cancelled), and a RunSlot holds one run at a time."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from tui.background import RunSlot

if TYPE_CHECKING:
    from tui.messages import RunFinished


class Runner(Static):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="runner.cancel")]

    def __init__(self) -> None:
        super().__init__()
        self.runs = RunSlot(self, cancel_binding="runner.cancel")
        self.finished: list[RunFinished] = []

    def on_run_finished(self, message: RunFinished) -> None:
        self.finished.append(message)


class RunnerApp(App[None]):
    def __init__(self, keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        if keymap:
            self.set_keymap(keymap)

    def compose(self) -> ComposeResult:
        yield Runner()


async def _until(pilot, condition) -> None:
    for _ in range(500):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition not met in time")


async def test_a_run_reports_its_result_or_its_error_once():
    async def answer() -> int:
        await asyncio.sleep(0.01)
        return 42

    async def broken() -> int:
        raise RuntimeError("the model went away")

    app = RunnerApp()
    async with app.run_test() as pilot:
        runner = app.query_one(Runner)
        assert runner.runs.start("answer", answer)
        await _until(pilot, lambda: len(runner.finished) == 1)
        done = runner.finished[0]
        assert (done.label, done.result, done.error, done.cancelled) == ("answer", 42, None, False)
        assert not runner.runs.running and runner.runs.current is not None
        assert runner.runs.start("broken", broken)
        await _until(pilot, lambda: len(runner.finished) == 2)
        failed = runner.finished[1]
        assert failed.label == "broken" and isinstance(failed.error, RuntimeError) and not failed.cancelled
        await pilot.pause(0.05)
        assert len(runner.finished) == 2  # one message per run


async def test_one_run_at_a_time_and_cancel_stops_it():
    started = asyncio.Event()

    async def forever() -> None:
        await asyncio.sleep(3600)

    async def other() -> None:
        started.set()

    app = RunnerApp(keymap={"runner.cancel": "f8"})
    async with app.run_test(notifications=True) as pilot:
        runner = app.query_one(Runner)
        assert not runner.runs.cancel()  # nothing to cancel yet
        assert runner.runs.start("forever", forever) and runner.runs.running
        assert not runner.runs.start("other", other)  # refused while the first is going, and said so
        await pilot.pause()
        assert any("already going; f8 cancels it" in str(n.message) for n in app._notifications)
        assert runner.runs.cancel()
        await _until(pilot, lambda: len(runner.finished) == 1)
        stopped = runner.finished[0]
        assert stopped.label == "forever" and stopped.cancelled and stopped.error is None
        assert not started.is_set() and not runner.runs.running

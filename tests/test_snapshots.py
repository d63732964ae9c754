"""SVG snapshots (pytest-textual-snapshot) of each pane in a filled demo session and of the main dialogs.

The session is filled once per module by tests.demo_session (the builder `make screenshots` uses),
then every test opens its own copy, so no test sees what another one did. Each picture is taken
at a fixed size, with the clock frozen and every time the screens show pinned, with steady
cursors and after every worker has finished. `pytest tests/test_snapshots.py --snapshot-update`
re-takes them into tests/__snapshots__/test_snapshots/.
"""

from __future__ import annotations

import difflib
import html
import inspect
import pickle
import re
import shutil
import sys
import time
from types import SimpleNamespace

import pytest
from pytest_textual_snapshot import node_to_report_path
from textual.app import App
from textual.widgets import Input, Static, TextArea

from core.sandbox.demo import start_demo
from core.sessions import open_session, session_path
from tests.demo_session import PANE_VIEWS, SIZE, demo_config, fill_session, settle, show_topics, wait_for
from tests.screen import screen_lines
from tui.app import TunedeckApp
from tui.panes.jobs.sheet import ExperimentSheet
from tui.panes.jobs.sweep_builder import SweepBuilder
from tui.panes.topics.brief import BriefForm
from tui.screens.endpoints import EndpointsScreen
from tui.screens.help import HelpScreen

SESSION = "demo"


NOW = 1_785_000_000.0  # the wall clock every picture is taken at


class FrozenClock:
    """NOW while frozen, else the real clock (a module first imported during a test keeps this one)."""

    def __init__(self, real) -> None:
        self.real, self.frozen = real, True

    def __call__(self) -> float:
        return NOW if self.frozen else self.real()


def freeze_wall_clock(monkeypatch) -> FrozenClock:
    """time.time() answers NOW, also where core or tui keeps time.time as a default argument or attribute."""
    real = time.time
    frozen = FrozenClock(real)
    monkeypatch.setattr(time, "time", frozen)
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("core.", "tui.")):
            continue
        classes = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == name]
        for holder in (module, *classes):
            for attr, value in list(vars(holder).items()):
                if value is real:
                    monkeypatch.setattr(holder, attr, frozen)
                elif inspect.isfunction(value):
                    if real in (value.__defaults__ or ()):
                        defaults = tuple(frozen if d is real else d for d in value.__defaults__)
                        monkeypatch.setattr(value, "__defaults__", defaults)
                    if real in (value.__kwdefaults__ or {}).values():
                        keywords = {k: frozen if d is real else d for k, d in value.__kwdefaults__.items()}
                        monkeypatch.setattr(value, "__kwdefaults__", keywords)
    return frozen


def pin_times(store) -> None:
    """Give every time the screens show a fixed value before NOW: durations, idle times and dollars so far.
    Endpoint times and answer latencies have no store method to set them, hence the UPDATEs."""
    endpoint = store.endpoints()[0]
    with store.db.tx() as conn:
        conn.execute("UPDATE endpoints SET created_at = ?, in_service_at = ?", (NOW - 50 * 60, NOW - 45 * 60))
        conn.execute("UPDATE answers SET latency_ms = 1200 + 10 * (id % 50)")
    store.touch_endpoint(endpoint.name, at=NOW - 12 * 60)
    for index, job in enumerate(store.jobs()):
        start = NOW - 4 * 3600 + index * 15 * 60
        seconds = int(job.hyperparameters["epoch"]) * 9 * 60
        store.update_job(
            job.id,
            launched_at=start - 90,
            start_time=start,
            end_time=start + seconds,
            billable_seconds=seconds,
            last_modified=start + seconds,
        )


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """The filled session's folder and its config, with the demo services up."""
    root = tmp_path_factory.mktemp("snapshot-session")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOME", str(root / "home"))
        env.setenv("XDG_CONFIG_HOME", str(root / "home" / ".config"))
        env.setenv("TUNEDECK_SESSIONS_DIR", str(root / "sessions"))
        config = demo_config()
        demo = start_demo(config)
        try:
            store = open_session(SESSION)
            try:
                fill_session(store, config)
                pin_times(store)
            finally:
                store.close()
            yield SimpleNamespace(folder=session_path(SESSION), config=config)
        finally:
            demo.stop()


@pytest.fixture
def demo_app(filled, monkeypatch):
    shutil.copytree(filled.folder, session_path(SESSION))
    store = open_session(SESSION)
    clock = freeze_wall_clock(monkeypatch)
    yield TunedeckApp(store, filled.config, demo=True, check_identity=True)
    clock.frozen = False
    store.close()


def steady_cursors(app) -> None:
    """A blinking cursor would make the picture depend on the moment it is taken."""
    for field in app.screen.query(Input):
        field.cursor_blink = False
    for area in app.screen.query(TextArea):
        area.cursor_blink = False


def picture(view):
    """`view` (which ends settled), then cursors that stay still."""

    async def run_before(pilot) -> None:
        await view(pilot)
        steady_cursors(pilot.app)
        await pilot.pause()  # the cursors' repaint lands before the picture is taken
        await pilot.pause()

    return run_before


async def show_playground_draft(pilot) -> None:
    """The draft prompt, its parameters and the saved versions (streamed answers carry measured latencies)."""
    await pilot.press("5")
    await settle(pilot)


async def open_dialog(pilot, pane_key: str, keys: tuple[str, ...], screen_type: type) -> None:
    await pilot.press(pane_key)
    await settle(pilot)
    await pilot.press(*keys)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type), screen_type.__name__)
    await settle(pilot)


PANES = {**PANE_VIEWS, "playground": show_playground_draft}
DIALOGS = {
    "sweep_builder": ("3", ("n",), SweepBuilder),
    "experiment_sheet": ("3", ("S",), ExperimentSheet),
    "endpoints": ("4", ("E",), EndpointsScreen),
    "help": ("1", ("f1",), HelpScreen),
    "brief": ("1", ("b",), BriefForm),
}


SVG_TEXT = re.compile(r'<text[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>')


def svg_rows(svg: str) -> list[str]:
    """The text of an SVG screenshot, one string per screen row."""
    rows: dict[float, list[str]] = {}
    for match in SVG_TEXT.finditer(svg):
        rows.setdefault(float(match.group(1)), []).append(html.unescape(match.group(2)).replace("\xa0", " "))
    return ["".join(rows[y]) for y in sorted(rows)]


def assert_matches_snapshot(request, same: bool) -> None:
    """The message names the screen rows that changed (CI shows the text, not the HTML report)."""
    if same:
        return
    _, expected, actual, *_ = pickle.loads(node_to_report_path(request.node).read_bytes())
    changed = difflib.unified_diff(svg_rows(expected), svg_rows(actual), "snapshot", "now", lineterm="", n=0)
    rows = [row for row in changed if row.startswith(("-", "+")) and not row.startswith(("---", "+++"))]
    raise AssertionError("screen rows changed (- snapshot, + now):\n" + "\n".join(rows))


@pytest.mark.parametrize("pane", list(PANES))
def test_pane(pane, demo_app, snap_compare, request):
    assert_matches_snapshot(request, snap_compare(demo_app, terminal_size=SIZE, run_before=picture(PANES[pane])))


@pytest.mark.parametrize("dialog", list(DIALOGS))
def test_dialog(dialog, demo_app, snap_compare, request):
    pane_key, keys, screen_type = DIALOGS[dialog]

    async def view(pilot) -> None:
        if pane_key == "1":
            await show_topics(pilot)
        await open_dialog(pilot, pane_key, keys, screen_type)

    assert_matches_snapshot(request, snap_compare(demo_app, terminal_size=SIZE, run_before=picture(view)))


async def test_screen_lines_put_each_text_where_the_screen_shows_it():
    class Probe(App):
        CSS = "#right { text-align: right; }"

        def compose(self):
            yield Static("<b>&amp; [x] 日本 ends", markup=False)
            yield Static("right", id="right")

    async with Probe().run_test(size=(30, 3)) as pilot:
        lines = screen_lines(pilot.app)
    assert lines[0].rstrip() == "<b>&amp; [x] 日本 ends"
    assert lines[1] == " " * 25 + "right"
    assert lines[2] == " " * 30

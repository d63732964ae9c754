"""Pilot: the app boots, switches panes by key and palette, shows help, survives hostile text, quits."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.sessions import open_session
from tests.screen import screen_text
from tui.app import PANES, TunedeckApp
from tui.widgets.status_bar import StatusBar


@pytest.fixture
def app():
    store = open_session("pilot")
    yield TunedeckApp(store, load_config(include_user=False), check_identity=False, status_interval=0.2)
    store.close()


async def test_keys_switch_panes(app):
    async with app.run_test(size=(120, 32)) as pilot:
        for index, pane_id in enumerate(PANES, start=1):
            await pilot.press(str(index))
            await pilot.pause()
            assert app.query_one("#panes").current == f"pane-{pane_id}"
            assert app.active_pane.display


async def test_palette_switches_panes(app):
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go: playground")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one("#panes").current == "pane-playground"


async def test_help_lists_bindings_and_closes(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        text = "\n".join(str(s.render()) for s in app.screen.query("Static"))
        assert "ctrl+q" in text and "Playground" in text
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "Screen"


async def test_status_bar_shows_session_counts(app):
    app.store.add_topic("Tariffs")
    async with app.run_test(size=(160, 32)) as pilot:
        await pilot.pause(0.5)
        rendered = str(app.query_one(StatusBar).render())
        assert "session pilot" in rendered and "topics 1" in rendered


async def test_hostile_error_text_is_shown_literally(app):
    async with app.run_test(size=(120, 32), notifications=True) as pilot:
        app.report_error("test", RuntimeError("[/] [@click=app.quit]x[/] \x1b]0;pwned\x07 [link=http://x]y"))
        await pilot.pause()
        assert app.is_running
        toast = app._notifications  # the notification text is plain, control characters gone
        message = str(next(iter(toast)).message)
        assert "[@click=app.quit]" in message and "\x1b" not in message
    assert [e.level for e in app.store.recent_log()] == ["error"]


async def test_ctrl_q_quits(app):
    async with app.run_test() as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_alt_digits_switch_panes_from_inside_a_text_field(app):
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "pg-system"  # the system prompt editor
        await pilot.press("3")
        await pilot.pause()
        assert app.query_one("#panes").current == "pane-playground"  # the digit was typed
        await pilot.press("alt+3")
        await pilot.pause()
        assert app.query_one("#panes").current == "pane-jobs"


async def test_a_key_typed_right_after_the_pane_key_reaches_the_new_pane(app):
    """Over SSH keys arrive in bursts: "4s" in one read must open Compare's set picker, not reach the pane before."""
    from tests.key_bursts import send_burst
    from tui.screens.choice_picker import ChoicePicker

    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        send_burst(app, "4", "s")
        await pilot.pause(0.3)
        assert app.query_one("#panes").current == "pane-compare"
        assert isinstance(app.screen, ChoicePicker)


def _box_or_block_glyphs(text: str) -> set[str]:
    return {c for c in text if 0x2500 <= ord(c) <= 0x259F}


@pytest.mark.parametrize("ascii_only", [False, True])
async def test_ascii_mode_draws_every_pane_without_box_or_block_glyphs(ascii_only):
    config = load_config(include_user=False)
    config.ui.ascii = ascii_only
    store = open_session("ascii")
    try:
        app = TunedeckApp(store, config, check_identity=False, status_interval=60)
        async with app.run_test(size=(120, 32)) as pilot:
            glyphs = set()
            for pane_id in PANES:
                await app.action_show_pane(pane_id)
                await pilot.pause(0.2)
                glyphs |= _box_or_block_glyphs(screen_text(app))
        assert bool(glyphs) is not ascii_only, glyphs
    finally:
        store.close()


async def test_narrow_status_bar_drops_the_least_useful_parts_first(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        status = app.query_one(StatusBar)
        rendered = str(status.render())
        assert rendered.startswith("session pilot │ AWS check off") and "llm" not in rendered
        assert len(rendered) <= status.content_region.width


def test_a_terminal_alt_digit_arrives_as_alt_digit_and_a_typed_pound_sign_stays_one():
    from textual._xterm_parser import XTermParser

    def keys(data: str) -> list[str]:
        parser = XTermParser(debug=False)
        return [event.key for event in [*parser.feed(data), *parser.feed("")] if hasattr(event, "key")]

    assert [keys(f"\x1b{n}") for n in range(1, 6)] == [[f"alt+{n}"] for n in range(1, 6)]
    assert keys("£") == ["pound_sign"]

"""Pilot: in an empty session the Compare and Playground panes name the step before them and the key that
shows it, with the keys the keymap binds now."""

from __future__ import annotations

from textual.widgets import Input, Static, TextArea

from core.config import load_config
from core.sessions import open_session
from tui.app import TunedeckApp


async def _settle(pilot, condition, tries: int = 250) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)


async def test_compare_and_playground_empty_name_the_step_before_and_its_key(tmp_path):
    user_config = tmp_path / "config.toml"
    user_config.write_text('[ui]\nkeymap = { "pane.jobs" = "f9", "compare.endpoints" = "D", "compare.run" = "G" }\n')
    config = load_config(user_config)
    store = open_session("empty-later-panes")
    try:
        app = TunedeckApp(store, config, check_identity=False, status_interval=60)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("5")  # first: the Compare pane (and its bindings) not loaded yet
            await _settle(pilot, lambda: bool(app.query(".pg-placeholder")))
            placeholder = app.query_one(".pg-placeholder", Static)
            await _settle(pilot, lambda: "No fine-tuned endpoint" in str(placeholder.render()))
            text = " ".join(str(placeholder.render()).split())
            assert "The step before is 4/alt+4: Compare" in text and "then ctrl+j." in text, text

            assert isinstance(app.focused, (Input, TextArea)), app.focused  # a plain 4 would be typed there
            await pilot.press("alt+4")  # the key it names, from the text field that has the focus
            await _settle(pilot, lambda: app.query_one("#panes").current == "pane-compare")
            assert app.query_one("#panes").current == "pane-compare"
            question = app.query_one("#compare-question", Static)
            await _settle(pilot, lambda: "Nothing to compare yet" in str(question.render()))
            text = " ".join(str(question.render()).split())
            assert "The step before is f9: Jobs" in text, text
            assert "D: endpoints deploys its best job" in text and "G: run" in text, text
            assert "3: Jobs" not in text and "E: endpoints" not in text, text
    finally:
        store.close()

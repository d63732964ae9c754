"""Pilot: an empty session's Topics pane shows the loop's five steps and the first key, with the keys the
keymap binds now; pressing that key opens the brief."""

from __future__ import annotations

from textual.widgets import Static

from core.config import load_config
from core.sessions import open_session
from tui.app import TunedeckApp


async def _settle(pilot, condition, tries: int = 200) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)


async def test_an_empty_session_shows_the_loop_and_the_first_key(tmp_path):
    user_config = tmp_path / "config.toml"
    user_config.write_text('[ui]\nkeymap = { "pane.pairs" = "f3", "topics.brief" = "B" }\n')
    config = load_config(user_config)
    store = open_session("empty-loop")
    try:
        app = TunedeckApp(store, config, check_identity=False, status_interval=60)
        async with app.run_test(size=(160, 40)) as pilot:
            status = app.query_one("#topics-status", Static)
            await _settle(pilot, lambda: "The loop:" in str(status.render()))
            text = str(status.render())
            assert "1: Topics → f3: Pairs → 3: Jobs → 4: Compare → 5: Playground" in text, text
            assert "B: write a domain brief" in text and "b: write" not in text, text
            await pilot.press("B")
            await _settle(pilot, lambda: app.screen is not app.screen_stack[0])
            assert "Domain brief" in "\n".join(str(s.render()) for s in app.screen.query(Static))
    finally:
        store.close()


async def test_the_jobs_pane_empty_names_the_step_before_and_its_key(aws, tmp_path):
    user_config = tmp_path / "config.toml"
    user_config.write_text('[ui]\nkeymap = { "pane.pairs" = "f3" }\n')
    config = load_config(user_config)
    config.aws.endpoint_url, config.aws.s3_bucket, config.aws.role_arn = aws.endpoint_url, aws.bucket, aws.role_arn
    store = open_session("empty-jobs")
    try:
        app = TunedeckApp(store, config, check_identity=False, status_interval=60)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("3")
            summary = app.query_one("#jobs-summary", Static)
            await _settle(pilot, lambda: "No jobs yet" in str(summary.render()))
            text = str(summary.render())
            assert "The step before is f3: Pairs" in text and "n: new sweep" in text, text
            await pilot.press("f3")
            await _settle(pilot, lambda: app.query_one("#panes").current == "pane-pairs")
            assert app.query_one("#panes").current == "pane-pairs"
    finally:
        store.close()

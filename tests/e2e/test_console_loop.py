"""The league loop in console mode, keys only, in a real terminal (tmux), with no AWS variables or
credentials in the environment: domain brief -> pairs -> export to a folder -> recipe cards for the
JumpStart console (written as Markdown and CSV) -> two runs recorded by hand (one from a card, one
typed) with imported training logs -> two leaderboard submissions -> the League view -> ctrl+q.
"""

from __future__ import annotations

import os
import re
import tomllib

import pytest

from tests.e2e.test_whole_loop import brief_to_topics, generate_pairs
from tests.e2e.tmux_session import FAST_DEMO_CONFIG, REPO, TmuxApp, require_tmux

LOGS = REPO / "tests" / "data" / "logs"
CONSOLE_CONFIG = (
    FAST_DEMO_CONFIG
    + """
[league]
account_mode = "console"
submission_limit = 5
training_hours_limit = 30
"""
)


@pytest.fixture
def app(tmp_path, monkeypatch):
    require_tmux()
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)  # the tests' fake credentials too: the app's tmux server inherits this environment
    running = TmuxApp.start(tmp_path / "console", config_text=CONSOLE_CONFIG)
    yield running
    running.close()


def export_to_folder(app: TmuxApp, pairs: int) -> None:
    step = "accept and export to a folder"
    app.keys("2")
    app.wait_for(f"Pairs ({pairs})", step=step)
    app.keys("A")
    app.wait_for(f"Accept all {pairs} pairs in the current filter", step=step)
    app.keys("y")
    app.wait_for(f"0 pending  {pairs} accepted  0 rejected", step=step)
    app.keys("E")
    app.wait_for("to a folder, to upload in the console", step=step)
    app.keys("Enter")
    app.wait_for_toast(re.compile(r"Exported dataset [0-9a-f]{16} \(instruction\).*console-export"), step=step)


def plan_cards(app: TmuxApp, session_folder) -> str:
    step = "recipe cards"
    app.keys("3")
    app.wait_for("n: plan cards   a: add run", step=step)
    app.keys("n")
    app.wait_for("New sweep for the console: recipe cards", step=step)
    app.wait_for("default 8", timeout=30, step=step)  # the bundled JumpStart spec: no AWS call
    app.type("1,2")  # epoch
    app.wait_for(re.compile(r"2 job\(s\) · ~\S+ wall clock"), timeout=30, step=step)
    app.keys("C-j")
    screen = app.wait_for("2 recipe card(s) for the JumpStart console", step=step).string
    first = re.search(r"Card 1: (td-\S+)", screen)
    assert first, screen
    assert "console-export" in screen  # the folder to upload, with its files
    app.keys("w")
    app.wait_for_toast("wrote 2 card(s)", step=step)
    assert "Card 2" in (session_folder / "cards.md").read_text(encoding="utf-8")
    return first.group(1)


def record_runs(app: TmuxApp, card_run: str) -> None:
    step = "a run from the first card"
    app.keys("a")  # from the cards view: the form starts from card 1
    app.wait_for("Record a run started in the console", step=step)
    app.wait_for(re.compile(rf"name\s+{re.escape(card_run)}"), step=step)
    app.focus_next(4)  # name -> instance -> hyperparameters -> dataset -> start
    app.type("now")
    app.focus_next(2)  # end -> duration
    app.type("45m")
    app.keys("C-j")
    app.wait_for(re.compile(r"console live\s+45m00s\s+ep=1 "), step=step)  # the table shows names cut to its Job column

    step = "a run typed in"
    app.keys("a")
    app.wait_for("Record a run started in the console", step=step)
    app.type("run-typed")  # the name field has the focus
    app.focus_next()
    app.type("ml.g5.12xlarge")
    app.focus_next()
    app.type("epoch=2 learning_rate=0.0002")
    app.focus_next()
    app.type("latest")
    app.focus_next()
    app.type("now")
    app.focus_next(2)
    app.type("1h")
    app.keys("C-j")
    app.wait_for(re.compile(r"console live\s+1h00m\S*\s+ep=2 lr=0.0002"), step=step)


def import_logs(app: TmuxApp) -> None:
    for number, (down, log) in enumerate(((0, "cloudwatch.txt"), (1, "filter-log-events.json")), 1):
        step = f"import the log of run {number}"
        if down:
            app.keys("Down")
        app.keys("i")
        app.wait_for("Import a training log for", step=step)
        app.type(str(LOGS / log))
        app.keys("Enter")
        app.wait_for_toast(re.compile(r"imported (cloudwatch-text|filter-log-events), \d+ event"), step=step)
    app.wait_until(
        lambda s: len(re.findall(r"console live .* e\d \d\.\d\d", s)) == 2, step="curves", what="both runs' curves"
    )


def submit(app: TmuxApp, score: str, rank: str) -> None:
    step = f"submission {score}"
    app.keys("u")
    app.wait_for("Record a leaderboard submission of", step=step)
    app.type("51/50")  # refused with the reason
    app.keys("C-j")
    app.wait_for("51 won is more than the 50 questions", step=step)
    app.keys("End", "C-u")
    app.type(score)
    app.focus_next()
    app.type(rank)
    app.keys("C-j")
    screen = app.wait_until(
        lambda s: "flagged as overfitting" in s or f": {score}" in s, step=step, what="recorded or asked"
    )
    if "flagged as overfitting" in screen:
        app.keys("y")  # the flag was named; submit anyway
    app.wait_for_toast(f": {score}", step=step)


def test_console_loop_without_aws(app, tmp_path):
    assert not any(name.startswith("AWS_") for name in os.environ)  # HOME is the test's: no ~/.aws either
    app.wait_for("console mode", timeout=40, step="start")
    leaves = brief_to_topics(app)
    pairs = generate_pairs(app, leaves, tomllib.loads(FAST_DEMO_CONFIG)["generation"]["questions_per_topic"])
    export_to_folder(app, pairs)
    session_folder = tmp_path / "console" / "sessions" / "demo"
    card_run = plan_cards(app, session_folder)
    record_runs(app, card_run)
    import_logs(app)

    app.keys("Up")
    submit(app, "40/50", "9")
    app.keys("Down")
    submit(app, "44/50", "4")

    step = "league view"
    app.keys("L")
    screen = app.wait_for("submissions: 2 of 5, 3 left", step=step).string
    assert "training hours: 1.75 of 30 used, 28.25 left" in screen, screen
    best = next(line for line in screen.splitlines() if "★ best" in line)
    assert "run-typed (console)" in best and "44/50" in best, screen
    assert "inconclusive (2 of the 5 scored submissions needed)" in screen, screen
    app.keys("Escape")
    app.wait_for("n: plan cards", step=step)

    app.keys("C-q")
    assert app.wait_exit() == 0

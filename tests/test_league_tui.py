"""Pilot: league (console) mode in the app - the account mode in the status bar and switched after
asking, AWS actions refused with the reason, runs recorded by hand, logs imported, the League view
and leaderboard submissions. Keys are pressed; the store and the screen are read back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.config import load_config
from core.evaluation.prompts import DEFAULT_RUBRIC
from core.evaluation.selection import save_settings, stored_settings
from core.league.mode import account_mode, set_account_mode
from core.league.runs import RunInput, record_console_run
from core.sessions import open_session
from core.store.jobs import EPOCH_LEVEL_STEP, MetricPoint
from core.store.pairs import NewPair
from core.training.log_parse import EVAL_LOSS_METRIC, TRAIN_LOSS_METRIC
from core.training.metrics import job_curves
from tests.demo_session import wait_for
from tests.key_bursts import send_burst
from tests.screen import screen_text
from tui.account_mode import console_export_folder
from tui.app import TunedeckApp
from tui.panes.jobs.league import LeagueView
from tui.screens.ask import Confirm
from tui.widgets.status_bar import StatusBar

SIZE = (160, 44)


@pytest.fixture
def store():
    store = open_session("league-pilot")
    yield store
    store.close()


def make_app(store, mode: str | None = "console") -> TunedeckApp:
    config = load_config(include_user=False)
    if mode is not None:
        set_account_mode(store, mode)
    return TunedeckApp(store, config, check_identity=False, status_interval=0.2)


async def test_the_status_bar_shows_the_mode_and_f2_switches_it_after_asking(store):
    app = make_app(store, mode="api")
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        assert "api mode" in str(app.query_one(StatusBar).render())
        assert "a: add run" not in screen_text(app)
        await pilot.press("f2")
        await pilot.pause()
        assert "Switch this session to console mode?" in screen_text(app)
        await pilot.press("n")  # declined: nothing changes
        await pilot.pause()
        assert account_mode(store, app.config) == "api"
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: account_mode(store, app.config) == "console", "the switch")
        await pilot.pause()
        bar = str(app.query_one(StatusBar).render())
        assert "console mode" in bar and "no AWS calls" in bar
        assert "n: plan cards   a: add run" in screen_text(app)  # the Jobs pane's hint follows the mode


INSTANCE = "ml.g5.12xlarge"
LOGS = Path(__file__).parent / "data" / "logs"


def add_run(store, name, train=(), evals=(), status="Completed"):
    """A console run with these epoch losses, as if its log had been imported."""
    timing = {"started_at": 1_750_000_000.0}
    if status != "InProgress":
        timing["duration_s"] = 3600.0
    run = record_console_run(
        store,
        load_config(include_user=False),
        RunInput(name=name, instance_type=INSTANCE, status=status, hyperparameters={"lora_r": "8"}, **timing),
    )
    store.add_metric_points(
        MetricPoint(run.job_id, metric, "logs", 1_750_000_000_000 + epoch, value, epoch, EPOCH_LEVEL_STEP)
        for metric, values in ((TRAIN_LOSS_METRIC, train), (EVAL_LOSS_METRIC, evals))
        for epoch, value in enumerate(values, 1)
    )
    return run


async def until(pilot, condition, what: str = "the screen"):
    return await wait_for(pilot, condition, what, timeout=20.0)


async def open_jobs(pilot) -> None:
    await pilot.press("3")
    await pilot.pause(0.6)


async def test_recording_a_run_by_hand_and_a_second_run_of_that_name_is_refused(store):
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        assert "a: add run" in screen_text(app)  # console mode's hint
        await pilot.press("a")
        await pilot.pause()
        assert "Record a run started in the console" in screen_text(app)
        await pilot.press(*"run-one", "tab", *INSTANCE, "tab", *"epoch=2 lora_r=8", "tab", "tab", *"now")
        await pilot.press("tab", "tab", *"90m")
        await pilot.press("ctrl+j")
        run = await until(pilot, lambda: store.console_run("run-one"), "the run recorded")
        await pilot.pause(0.5)
        assert run is not None and run.hyperparameters == {"epoch": "2", "lora_r": "8"}
        assert run.status == "InProgress" and run.duration_s == 5400.0
        assert "console live" in screen_text(app)  # the job table marks it as a console run

        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"run-one", "tab", *INSTANCE, "ctrl+j")
        await until(pilot, lambda: "a run named run-one exists already: a console run recorded" in screen_text(app))
        assert len(store.console_runs()) == 1
        await pilot.press("escape")


async def test_editing_a_console_run_ends_it(store):
    add_run(store, "run-live", status="InProgress")
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert "Edit console run run-live" in screen_text(app)
        await pilot.press("tab", "tab", "tab", "tab", "tab", *"2h")  # to the duration
        await pilot.press("tab", "tab", "tab", "enter", "down", "enter")  # status: Completed
        await pilot.press("ctrl+j")
        await until(pilot, lambda: store.console_run("run-live").status == "Completed", "the edit saved")
        run = store.console_run("run-live")
        assert (run.status, run.duration_s) == ("Completed", 7200.0)


async def test_importing_a_log_fills_the_runs_curves_and_a_bad_file_names_its_line(store, tmp_path):
    add_run(store, "run-log", status="InProgress")
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not a training log\n", encoding="utf-8")
    app = make_app(store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_jobs(pilot)
        await pilot.press("i")
        await pilot.pause()
        await pilot.press(*str(bad), "enter")
        await until(pilot, lambda: "nothing imported: line 1" in screen_text(app))
        assert not job_curves(store, store.job("run-log").id).steps
        input_box = app.screen.query_one("#log-path")
        input_box.value = ""
        await pilot.press(*str(LOGS / "cloudwatch.txt"), "enter")
        await until(pilot, lambda: "run-log: imported cloudwatch-text" in notified(app))
        await pilot.pause(0.5)
        curves = job_curves(store, store.job("run-log").id)
        assert curves.steps and curves.eval_epoch_losses
        assert "run-log: imported cloudwatch-text" in notified(app)
        row = next(line for line in screen_text(app).splitlines() if "console live" in line)
        assert f"{curves.eval_epoch_losses[0]:.2f}" in row  # the table shows the imported curves


async def test_a_bad_score_is_refused_and_an_overfitting_run_asks_first_naming_the_flag(store):
    add_run(store, "overfit", [1.4, 0.6, 0.3], [1.2, 1.3, 1.4])
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        await pilot.press("u")
        await pilot.pause()
        send_burst(app, *"51/50", "ctrl+j")  # typed ahead: the form reads the score after the keys before it
        await until(pilot, lambda: "51 won is more than the 50 questions" in screen_text(app))
        assert store.submissions() == []
        score = app.screen.query_one("#submit-score")
        score.value = ""
        await pilot.press(*"44/50", "tab", *"3", "ctrl+j")
        await until(pilot, lambda: "overfit is flagged as overfitting: eval loss rose" in screen_text(app))
        await pilot.press("n")  # not recorded; the form stays
        await pilot.pause(0.3)
        assert store.submissions() == []
        await pilot.press("ctrl+j")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the question")
        await pilot.press("y")
        [submission] = await until(pilot, store.submissions, "the submission")
        assert (submission.run_name, submission.score, submission.rank) == ("overfit", "44/50", 3)


async def test_the_league_view_lists_submissions_and_the_limits(store):
    first = add_run(store, "run-a", [1.5, 1.1], [1.3, 1.2])
    add_run(store, "run-b", [1.4, 1.0], [1.25, 1.1])
    store.add_submission(first.job_id, submitted_at=1_750_010_000.0, score="40/50", fraction=0.8, wins=40, questions=50)
    second = store.job("run-b")
    store.add_submission(second.id, submitted_at=1_750_020_000.0, score="44/50", fraction=0.88, wins=44, questions=50)
    app = make_app(store)
    app.config.league.submission_limit = 5
    app.config.league.training_hours_limit = 30
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        await pilot.press("L")
        text = await until(pilot, lambda: "submissions: 2 of 5" in screen_text(app) and screen_text(app))
        assert "submissions: 2 of 5, 3 left" in text
        assert "training hours: 2.00 of 30 used, 28.00 left" in text
        assert "close: not set" in text
        best = next(line for line in text.splitlines() if "★ best" in line)
        assert "run-b (console)" in best and "44/50" in best and "1.100" in best
        assert "inconclusive (2 of the 5 scored submissions needed)" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LeagueView)


async def test_in_console_mode_the_pairs_export_writes_a_folder_and_calls_no_s3(store):
    topic = store.add_topic("Tariffs")
    store.add_pairs(
        NewPair(
            f"Question {i} about my meter?", f"A plain answer {i} with enough words.", topic_id=topic, task_key=f"k{i}"
        )
        for i in range(10)
    )
    app = make_app(store)
    assert not app.config.aws.s3_bucket  # in api mode this export would stop at "no S3 bucket"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause(0.5)
        await pilot.press("E")
        await pilot.pause()
        assert "to a folder, to upload in the console" in screen_text(app)
        await pilot.press("enter")
        folder = console_export_folder(store)
        await until(pilot, lambda: store.dataset_versions(5), "the export")
    assert (folder / "train" / "train.jsonl").is_file()
    [version] = store.dataset_versions(5)
    assert version.s3_uri is None


async def test_console_sweep_plans_cards_asks_past_the_hours_left_and_records_a_run_from_a_card(store):
    store.add_dataset_version("0123456789abcdef", "instruction", counts={"train": 400, "validation": 100})
    app = make_app(store)
    app.config.league.training_hours_limit = 0.01
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"1,2")  # epoch
        await until(pilot, lambda: "2 job(s)" in screen_text(app))  # the plan, from the bundled spec (no AWS)
        await pilot.press("ctrl+j")
        await until(pilot, lambda: "training hours; 0.01 of 0.01 are left" in screen_text(app))
        await pilot.press("y")
        text = await until(pilot, lambda: "recipe card(s)" in screen_text(app) and screen_text(app))
        assert "2 recipe card(s) for the JumpStart console" in text and "Card 1: " in text
        await pilot.press("w")
        folder = store.path.parent
        await until(pilot, lambda: (folder / "cards.csv").is_file(), "the card files")
        assert "Card 1" in (folder / "cards.md").read_text() and (folder / "cards.csv").is_file()
        await pilot.press("a")  # record a run from the first card
        await until(pilot, lambda: "Record a run started in the console" in screen_text(app))
        await pilot.pause(0.3)
        await pilot.press("ctrl+j")
        await until(pilot, store.console_runs, "the run recorded")
    [run] = store.console_runs()
    assert run.name.startswith("td-") and "01234567" in run.name  # the card's name carries the dataset hash
    assert run.hyperparameters["epoch"] == "1" and run.card is not None


def test_compare_takes_the_events_rubric_and_inference_parameters_unless_the_session_saved_its_own(store):
    league = load_config(include_user=False).league
    league.judge_rubric, league.temperature, league.top_p, league.max_new_tokens = (
        "Judge like the event.",
        0.3,
        0.8,
        150,
    )
    settings = stored_settings(store, 4, league)
    assert (settings.rubric, settings.temperature, settings.top_p, settings.max_tokens) == (
        "Judge like the event.",
        0.3,
        0.8,
        150,
    )
    assert stored_settings(store, 4).rubric == DEFAULT_RUBRIC  # no [league] given: the built-in defaults
    save_settings(store, replace(settings, temperature=0.9))
    assert stored_settings(store, 4, league).temperature == 0.9  # the user's saved choice stays


async def test_the_playground_starts_from_the_events_inference_parameters(store):
    app = make_app(store)
    app.config.league.temperature, app.config.league.top_p, app.config.league.max_new_tokens = 0.35, 0.75, 200
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause(0.5)
        values = [app.query_one(f"#pg-{name}").value for name in ("temperature", "top-p", "max-tokens")]
    assert values == [0.35, 0.75, 200]


async def test_an_api_launch_past_the_hours_left_says_so_in_the_question(store, monkeypatch):
    from core.training.recipe import BUNDLED_SPEC_ROOT
    from tui.panes.jobs.pane import JobsPane

    monkeypatch.setattr(JobsPane, "service_options", {"spec_root": BUNDLED_SPEC_ROOT})
    store.add_dataset_version(
        "0123456789abcdef",
        "instruction",
        counts={"train": 400},
        s3_uri="s3://bucket/ds/",
        train_s3_uri="s3://bucket/ds/train/",
    )
    app = make_app(store, mode="api")
    app.config.league.training_hours_limit = 0.01
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"1,2")
        await until(pilot, lambda: "2 job(s)" in screen_text(app))
        app.screen.query_one("#sweep-eula").value = True
        await pilot.press("ctrl+j")
        text = await until(pilot, lambda: "Launch 2 training job(s)" in screen_text(app) and screen_text(app))
        assert "Launch 2 training job(s)" in text
        assert "warning: the plan needs" in text and "0.01 of 0.01 are left" in text
        await pilot.press("n")


def notified(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_in_console_mode_actions_that_need_aws_say_why_in_one_line(store):
    add_run(store, "run-done")
    app = make_app(store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("4", "E")  # Compare's endpoints dialog
        await until(pilot, lambda: "console mode" in notified(app))
        assert (
            "console mode: tunedeck does not list or delete endpoints; manage endpoints in the SageMaker console"
            in (notified(app))
        )
        assert type(app.screen).__name__ == "Screen"  # no dialog opened, nothing failed
        await open_jobs(pilot)
        await pilot.press("c", "s")
        await until(pilot, lambda: "stop training jobs" in notified(app))
        assert "console mode: tunedeck does not launch training jobs" in notified(app)
        assert "console mode: tunedeck does not stop training jobs" in notified(app)


async def test_with_five_scored_submissions_the_league_view_names_the_figure_and_plots_it(store):
    for i in range(6):  # lower eval loss, higher leaderboard score: a planted rank correlation
        run = add_run(store, f"run-{i}", [1.5, 1.2], [1.4, 1.3 - 0.1 * i])
        store.add_submission(
            run.job_id, submitted_at=1_750_010_000.0 + i, score=f"{30 + i}/50", fraction=(30 + i) / 50, wins=30 + i
        )
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        await pilot.press("L")
        text = await until(pilot, lambda: "calibration:" in screen_text(app) and screen_text(app))
        assert "calibration: final eval loss follows the leaderboard best (lower is better)" in text
        assert "95% interval" in text
        assert app.screen.query_one("#league-scatter").has_class("-visible")
        assert app.screen.query("#league-plot")  # the plotext scatter


async def test_a_log_pasted_as_text_imports_like_a_file(store):
    add_run(store, "run-paste", status="InProgress")
    app = make_app(store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_jobs(pilot)
        await pilot.press("i")
        await until(pilot, lambda: "Import a training log for run-paste" in screen_text(app))
        await pilot.press("tab")  # the path stays empty: the pasted lines are read
        for step, loss in ((0, "1.9204"), (1, "1.7411")):
            await pilot.press(*f"Training Epoch: 1/2, step {step}/3 completed (loss: {loss})", "enter")
        await pilot.press("ctrl+j")
        await until(pilot, lambda: "run-paste: imported cloudwatch-text, 2 event(s), 2 step" in notified(app))
    assert list(job_curves(store, store.job("run-paste").id).step_losses) == [1.9204, 1.7411]

"""Pilot, keys only, against the AWS emulator: the Jobs pane plans a sweep (cost first), feeds the
queue, shows live losses, flags the overfitting job, plots, ranks in the sheet, clones and stops.
Plus the lean sparkline against Textual's built-in one."""

from __future__ import annotations

import csv
import re

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import Input, Sparkline

import tui.panes.jobs.pane as jobs_module
from core.config import load_config
from core.curation.service import export_dataset
from core.sessions import open_session
from core.store import NewPair
from core.store.jobs import NewJob
from tests.screen import screen_text
from tui.app import TunedeckApp
from tui.panes.jobs.details import JobDetails
from tui.panes.jobs.pane import JobsPane
from tui.panes.jobs.sheet import ExperimentSheet
from tui.panes.jobs.sparkline import LeanSparkline, spark_rows, spark_text
from tui.panes.jobs.sweep_builder import SweepBuilder
from tui.panes.jobs.table import SPARK_WIDTH, JobTable
from tui.screens.ask import AskText, Confirm
from tui.widgets.cost_meter import CostMeter

STEP_LINE = re.compile(r"Training Epoch: (\d+)/(\d+), step (\d+)/(\d+) completed \(loss: ([0-9.eE+-]+)\)")
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


@pytest.fixture
def app(aws, monkeypatch):
    monkeypatch.setattr(jobs_module, "POLL_SECONDS", 0.3)
    aws.set_quotas(training={"ml.g5.2xlarge": 2})
    config = load_config(include_user=False)
    config.aws.endpoint_url, config.aws.s3_bucket, config.aws.role_arn = aws.endpoint_url, aws.bucket, aws.role_arn
    config.emulated = True  # the sandbox switch: emulator timing and the bundled specs
    store = open_session("jobs")
    store.add_pairs(
        [
            NewPair(
                f"How do I read meter number {i} on a cold morning?",
                f"Press the red button {i} times, then read the top row.",
                status="accepted",
            )
            for i in range(60)
        ]
    )
    export_dataset(store, config, format="instruction")
    yield TunedeckApp(store, config, check_identity=False, status_interval=60)
    store.close()


async def wait_for(pilot, condition, timeout: float = 30.0, what: str = "condition"):
    for _ in range(int(timeout / 0.05)):
        value = condition()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"{what}: not met in {timeout} s")


def cell(table: JobTable, job: str, column: str) -> str:
    return table.cell(job, column).plain


def logged_step_losses(logs, job: str) -> list[float]:
    """Per-step losses as the trainer printed them, in step order."""
    by_step: dict[int, float] = {}
    kwargs = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": job}
    while True:
        page = logs.filter_log_events(**kwargs)
        for event in page["events"]:
            if not event["logStreamName"].startswith(job + "/"):
                continue
            for part in re.split(r"[\r\n]+", event["message"]):
                match = STEP_LINE.search(part)
                if match:
                    epoch, _, step, per_epoch, loss = match.groups()
                    by_step.setdefault((int(epoch) - 1) * int(per_epoch) + int(step), float(loss))
        if not page.get("nextToken") or page["nextToken"] == kwargs.get("nextToken"):
            return [by_step[k] for k in sorted(by_step)]
        kwargs["nextToken"] = page["nextToken"]


async def test_sweep_from_builder_to_flagged_rows_with_keys(app, aws, boto3_clients):
    store = app.store
    async with app.run_test(size=(170, 48), notifications=True) as pilot:
        await pilot.press("3", "n")
        builder = await wait_for(pilot, lambda: isinstance(app.screen, SweepBuilder) and app.screen, what="builder")
        # a bad value is reported with its field name, and the field turns red
        await pilot.press(*"3,x")
        await wait_for(pilot, lambda: any(e.startswith("epoch") for e in builder.errors), what="epoch error")
        assert builder.query_one("#hp-epoch", Input).has_class("-invalid") and builder.plan is None
        # 2 epochs at 1e-4 stay far under the 0.3 gap whatever the job name seeds (3 epochs sit near it)
        await pilot.press("ctrl+u", *"2,6", "tab", *"0.0001,0.0005")
        plan = await wait_for(
            pilot,
            lambda: (
                builder.plan is not None
                and not builder.errors
                and builder._planned_generation == builder._generation
                and builder.plan
            ),
            what="plan",
        )
        shown = str(builder.query_one("#sweep-plan").render())
        assert len(plan.jobs) == 4 and "4 job(s)" in shown and f"${plan.total_cost:,.2f}" in shown
        # the model is gated: launching without ticking the EULA is refused
        await pilot.press("ctrl+j")
        assert app.screen is builder and "EULA" in str(builder.query_one("#sweep-errors").render())
        for _ in range(12):
            if app.focused is not None and app.focused.id == "sweep-eula":
                break
            await pilot.press("tab")
        await pilot.press("space", "ctrl+j")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, Confirm) and app.screen, what="confirm")
        assert "Launch 4 training job(s)" in confirm.question and f"${plan.total_cost:,.2f}" in confirm.question
        assert store.jobs() == []  # nothing queued before the user says yes
        await pilot.press("y")

        pane = app.query_one(JobsPane)
        table = pane.table

        def finished():
            snap = pane.snapshot
            return (
                snap is not None
                and len(snap.rows) == 4
                and all(r.job.status == "Completed" for r in snap.rows)
                and all(len(r.curves.eval_epoch_losses) == int(r.job.hyperparameters["epoch"]) for r in snap.rows)
                and snap
            )

        snapshot = await wait_for(pilot, finished, timeout=40, what="all four jobs finished and fetched")
        await pilot.pause(0.6)
        rows = {(r.job.hyperparameters["epoch"], r.job.hyperparameters["learning_rate"]): r for r in snapshot.rows}
        healthy, overfit = rows[("2", "0.0001")], rows[("6", "0.0005")]
        assert not healthy.assessment.flagged
        assert overfit.assessment.flagged and overfit.assessment.suggestion.startswith("rerun with epoch=")
        assert cell(table, healthy.job.name, "flag") == ""
        assert cell(table, overfit.job.name, "flag") == "⚠ " + overfit.assessment.suggestion
        assert (
            cell(table, overfit.job.name, "best") == f"e{overfit.curves.best_eval_epoch} "
            f"{min(overfit.curves.eval_epoch_losses):.2f}"
        )
        # the sparkline shows exactly the per-step losses the trainer logged
        for row in (healthy, overfit):
            logged = logged_step_losses(boto3_clients.logs, row.job.name)
            assert len(logged) == len(row.curves.step_losses)
            assert cell(table, row.job.name, "loss") == spark_text(logged, SPARK_WIDTH).plain
        assert "⚠ " + overfit.assessment.suggestion in screen_text(app)

        # details: enter on the selected row
        table.focus()
        table.select_job(overfit.job.name)
        await pilot.press("enter")
        details = await wait_for(pilot, lambda: isinstance(app.screen, JobDetails) and app.screen, what="details")
        text = str(details.query_one("#job-details-text").render())
        assert "learning_rate = 0.0005" in text and "training: s3://" in text and "<- best eval" in text
        await pilot.press("escape")

        # plot: the selected job, then the whole sweep overlaid on a log scale
        await pilot.press("p")
        plot = await wait_for(pilot, lambda: pane.query("#jobs-plot") and pane.query_one("#jobs-plot"), what="plot")
        await wait_for(pilot, lambda: plot.draws >= 1, what="first plot")
        assert len(plot.request.series) == 1 and not plot.request.overlay
        await pilot.press("o", "l")
        await wait_for(
            pilot,
            lambda: plot._drawn is not None and plot._drawn.overlay and plot._drawn.log_scale,
            timeout=5,
            what="overlay redraw",
        )
        assert len(plot.request.series) == 4 and plot.request.series[0].label == overfit.job.name[-3:]
        await pilot.press("p")

        # the sheet ranks the runs: sort by best eval loss, export CSV
        await pilot.press("S")
        sheet = await wait_for(
            pilot,
            lambda: isinstance(app.screen, ExperimentSheet) and app.screen.frame is not None and app.screen,
            what="sheet",
        )
        column = list(sheet.frame.columns).index("best_eval_loss")
        await pilot.press(*["right"] * column, "s")
        ranked = list(sheet.frame["best_eval_loss"])
        assert ranked == sorted(ranked) and sheet.sort_column == "best_eval_loss"
        out = store.path.parent / "jobs-sheet.csv"  # the default the prompt offers
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AskText), what="csv path")
        await pilot.press("enter")
        await wait_for(pilot, out.exists, what="csv written")
        with out.open() as f:
            exported = list(csv.DictReader(f))
        assert [r["job"] for r in exported] == list(sheet.frame["job"]) and len(exported) == 4
        await pilot.press("escape")

        # clone the overfitting job with the suggested epoch (prefilled), cost shown first; then stop it
        aws.set_epoch_seconds(30)
        await wait_for(pilot, lambda: app.screen.id == "_default", timeout=5, what="back on the pane")
        table.focus()
        table.select_job(overfit.job.name)
        await pilot.press("c")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, AskText) and app.screen, what="clone prompt")
        assert ask.value == overfit.assessment.suggestion.removeprefix("rerun with ")
        await pilot.press("enter")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, Confirm) and app.screen, what="clone confirm")
        assert "$" in confirm.question and ask.value in confirm.question
        await pilot.press("y")
        clone = await wait_for(pilot, lambda: len(store.jobs()) == 5 and store.jobs()[-1], what="clone queued")
        assert clone.hyperparameters["epoch"] == ask.value.split("=")[1]
        assert clone.hyperparameters["learning_rate"] == "0.0005"
        await wait_for(
            pilot,
            lambda: store.job(clone.name).status == "InProgress" and clone.name in table._cells,
            what="clone running",
        )
        table.select_job(clone.name)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), what="stop confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: store.job(clone.name).status in ("Stopping", "Stopped"), what="stopped")


class SparklineApp(App):
    CSS = "LeanSparkline, Sparkline { width: 60; height: 2; }"

    def __init__(self, data: list[float], *, ascii_only: bool = False) -> None:
        super().__init__()
        self.data, self.ascii_only = data, ascii_only

    def compose(self) -> ComposeResult:
        yield LeanSparkline(self.data, ascii_only=self.ascii_only, id="lean")
        yield Sparkline(self.data, id="builtin")


def lines(widget) -> list[list]:
    return [list(strip) for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))]


async def test_lean_sparkline_draws_the_data_with_far_fewer_segments_than_the_builtin():
    data = [2.0 - i / 60 + (0.3 if i % 7 == 0 else 0.0) for i in range(120)]
    app = SparklineApp(data)
    async with app.run_test(size=(70, 6)) as pilot:
        lean, builtin = app.query_one(LeanSparkline), app.query_one(Sparkline)
        lean_lines, builtin_lines = lines(lean), lines(builtin)
        assert ["".join(s.text for s in line) for line in lean_lines] == spark_rows(data, 60, 2)
        assert [len(line) for line in lean_lines] == [1, 1]  # one style per row
        assert sum(map(len, builtin_lines)) >= 30 * sum(map(len, lean_lines))
        # a new tuple repaints; the lowest value gets the lowest bar, the highest a full column
        lean.data = (1.0, 2.0, 3.0)
        await pilot.pause()
        top, bottom = ["".join(s.text for s in line) for line in lines(lean)]
        assert bottom.endswith("▁██") and top.endswith(" ▁█") and len(top) == 60
        # the recent cells are one extra run, not one style per cell
        lean.recent = 2
        await pilot.pause()
        assert [len(line) for line in lines(lean)] == [2, 2]
    ascii_app = SparklineApp(data, ascii_only=True)
    async with ascii_app.run_test(size=(70, 6)):
        text = "".join(s.text for line in lines(ascii_app.query_one(LeanSparkline)) for s in line)
        assert text.strip() and text.isascii()
    assert spark_text([1.0, 2.0, 3.0], 5, ascii_only=True).plain == "  .=#"


HOSTILE = "[bold]x[/] [@click=app.quit]q[/] \x1b]0;pwned\x07 done"


async def test_failure_reason_is_shown_literally_and_the_cost_meter_counts_it(tmp_path):
    store = open_session("hostile")
    job = store.add_job(
        NewJob(
            name="td-hostile-0000-001",
            model_id="meta-textgeneration-llama-3-2-3b",
            model_version="1.1.7",
            instance_type="ml.g5.2xlarge",
            hyperparameters={"epoch": "2"},
        )
    )
    store.update_job(
        job.id,
        status="Failed",
        failure_reason=HOSTILE,
        monitor_done=1,
        start_time=1000.0,
        end_time=1000.0 + 1800,
        billable_seconds=1800,
    )
    app = TunedeckApp(store, load_config(include_user=False), check_identity=False, status_interval=60)
    try:
        async with app.run_test(size=(170, 40)) as pilot:
            await app.screen.mount(CostMeter(interval=0))
            await pilot.press("3")
            pane = app.query_one(JobsPane)
            await wait_for(pilot, lambda: job.name in pane.table._cells, what="row")
            flag = cell(pane.table, job.name, "flag")
            assert flag.startswith("[bold]x[/] [@click=app.quit]q[/]") and "\x1b" not in flag and "done" in flag
            await pilot.press("enter")
            details = await wait_for(pilot, lambda: isinstance(app.screen, JobDetails) and app.screen, what="details")
            text = str(details.query_one("#job-details-text").render())
            assert "[bold]x[/] [@click=app.quit]q[/]" in text and "\x1b" not in text and "\x07" not in text
            await pilot.press("escape")
            meter = app.query_one(CostMeter)
            await wait_for(pilot, lambda: meter.meter is not None, what="meter")
            assert str(meter.render()) == "0 train · 0 endpoint · $0.00/h · $0.76 so far"  # 30 min at $1.515/h
            assert app.is_running  # the markup in the reason did not quit the app
    finally:
        store.close()

"""The League view and the submission form.

The view lists every leaderboard submission (core.league.ledger.ledger) with its dataset version,
hyperparameters, final eval loss, train/eval gap, overfitting flag and local league score, the
best one marked; the event's limits from `[league]` (submissions left, training hours used and
left, time to the close); and the calibration (core.league.calibration): with five or more scored
submissions, which local figure follows the leaderboard best, and a scatter of it (plotext, loaded
when first shown); else "inconclusive".

The form records a submission of one run: the score (k/N or %), rank and note. core refuses a
bad score with the reason (the form stays open); a run flagged as overfitting is asked about first,
naming the flag.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from core.league.calibration import INCONCLUSIVE, MIN_POINTS, calibrate_ledger
from core.league.ledger import LedgerError, check_submission, ledger, record_submission, validate_submission
from core.safe_text import one_line
from core.training.sweep import summarize
from tui.keys import hint
from tui.screens.ask import Confirm
from tui.screens.dialog import Dialog
from tui.text import safe, safe_rich

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from core.config import Config
    from core.league.calibration import Calibration, FigureCalibration
    from core.league.ledger import Ledger
    from core.store import Store
    from core.store.league import Submission

COLUMNS = ("", "when", "run", "score", "rank", "dataset", "hyperparameters", "eval loss", "gap", "overfit", "local")


@dataclass
class LedgerRead(Message):
    ledger: Ledger
    calibration: Calibration


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def calibration_lines(calibration: Calibration) -> list[str]:
    """The verdict, then each figure; fewer than MIN_POINTS scored submissions: inconclusive."""
    if calibration.submissions < MIN_POINTS:
        return [
            f"calibration: {INCONCLUSIVE} ({calibration.submissions} of the {MIN_POINTS} scored submissions needed)"
        ]
    return [f"calibration: {calibration.verdict}", *(f"  {f.describe()}" for f in calibration.figures)]


def scatter_figure(calibration: Calibration) -> FigureCalibration | None:
    """The figure to plot: the one that follows the leaderboard best, else the one with the most points."""
    if calibration.submissions < MIN_POINTS:
        return None
    if calibration.ranking:
        return calibration.ranking[0]
    figure = max(calibration.figures, key=lambda f: f.n)
    return figure if figure.n >= MIN_POINTS else None


class LeagueView(ModalScreen[None]):
    DEFAULT_CSS = """
    LeagueView { align: center middle; background: $background 60%; }
    LeagueView > #league-body { width: 98%; height: 92%; border: round $primary; background: $surface;
        padding: 0 1; }
    LeagueView #league-limits { height: auto; }
    LeagueView DataTable { height: 1fr; min-height: 4; }
    LeagueView #league-calibration { height: auto; max-height: 7; }
    LeagueView #league-scatter { height: 12; display: none; }
    LeagueView #league-scatter.-visible { display: block; }
    LeagueView .title { text-style: bold; }
    LeagueView .hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("u", "submit", "Record submission", id="league.submit", tooltip="Record a leaderboard submission"),
        Binding("r", "reload", "Reload", id="league.reload"),
        Binding("escape,q", "close", "Close", id="league.close"),
    ]

    def __init__(self, store: Store, config: Config, *, run_name: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.config = config
        self.run_name = run_name
        self.ledger: Ledger | None = None
        self.calibration: Calibration | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="league-body"):
            yield Static(Text("League: leaderboard submissions", style="bold"), classes="title")
            yield Static(safe("reading the ledger…"), id="league-limits")
            yield DataTable(id="league-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="league-calibration")
            yield Vertical(id="league-scatter")
            submit = f"record a submission of {self.run_name}" if self.run_name else "record a submission"
            yield Static(
                hint(self, ("league.submit", submit), ("league.reload", "reload"), ("league.close", "close")),
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column or "best")
        table.focus()
        self._read()

    def action_reload(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="league-read", exit_on_error=False)
    def _read(self) -> None:
        view = ledger(self.store, self.config, time.time())
        self.post_message(LedgerRead(view, calibrate_ledger(view)))

    def on_ledger_read(self, message: LedgerRead) -> None:
        self.ledger, self.calibration = message.ledger, message.calibration
        limits = message.ledger.limits
        self.query_one("#league-limits", Static).update(safe(f"{limits.mode} mode · " + " · ".join(limits.lines())))
        table = self.query_one(DataTable)
        table.clear()
        for row in message.ledger.rows:
            s = row.submission
            flag = Text("OVERFITTING", style="bold yellow") if row.overfitting else Text("no")
            table.add_row(
                Text("★ best" if row.best else "", style="bold green"),
                Text(time.strftime("%m-%d %H:%M", time.localtime(s.submitted_at))),
                safe_rich(s.run_name + (" (console)" if row.console else ""), limit=60),
                Text(s.score, style="bold"),
                Text(str(s.rank) if s.rank else "-"),
                Text(row.dataset_hash or "-"),
                safe_rich(summarize(row.hyperparameters) or "-", limit=60),
                Text(_loss(row.final_eval_loss)),
                Text(_loss(row.gap)),
                flag,
                Text(row.local_score or "-"),
                key=str(s.id),
            )
        if not message.ledger.rows:
            table.add_row(*[Text("")] * (len(COLUMNS) - 1), Text("no submissions yet"))
        self.query_one("#league-calibration", Static).update(safe("\n".join(calibration_lines(message.calibration))))
        self._show_scatter(scatter_figure(message.calibration))

    def _show_scatter(self, figure: FigureCalibration | None) -> None:
        box = self.query_one("#league-scatter", Vertical)
        box.set_class(figure is not None, "-visible")
        if figure is None:
            return
        from textual_plotext import PlotextPlot  # plotext loads when a scatter is first shown

        if not box.children:
            box.mount(PlotextPlot(id="league-plot"))
        self.call_after_refresh(self._draw_scatter, figure)

    def _draw_scatter(self, figure: FigureCalibration) -> None:
        from textual_plotext import PlotextPlot

        plot = self.query_one("#league-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.scatter([p[0] for p in figure.points], [p[1] * 100 for p in figure.points])
        plt.title(f"leaderboard score (%) against {figure.label}")
        plt.xlabel(figure.label)
        plot.refresh()

    def action_submit(self) -> None:
        run = self.run_name
        if run is None:
            self.app.notify("Select a run in the Jobs pane first, then open the League view.", severity="warning")
            return
        self.app.push_screen(SubmissionForm(self.store, self.config, run), self._submitted)

    def _submitted(self, submission: Submission | None) -> None:
        if submission is not None:
            self._read()

    def action_close(self) -> None:
        self.dismiss(None)


@dataclass
class SubmissionChecked(Message):
    """The submission passed core's checks; `problems` (overfitting) are asked about first."""

    problems: tuple[str, ...]


@dataclass
class SubmissionRefused(Message):
    reason: str


@dataclass
class SubmissionRecorded(Message):
    submission: Submission


class SubmissionForm(Dialog["Submission | None"]):
    DEFAULT_CSS = """
    SubmissionForm .submit-field { height: 1; }
    SubmissionForm .submit-field Label { width: 10; color: $text-muted; }
    SubmissionForm .submit-field Input { width: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+j", "save", "Record", id="submit.save", tooltip="Record the submission"),
        Binding("escape", "cancel", "Cancel", id="submit.cancel"),
    ]

    def __init__(self, store: Store, config: Config, run_name: str) -> None:
        super().__init__()
        self.store = store
        self.config = config
        self.run_name = run_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body"):
            yield Static(safe(f"Record a leaderboard submission of {one_line(self.run_name, 60)}"), classes="title")
            for name, placeholder in (
                ("score", "44/50 or 88%"),
                ("rank", "leaderboard rank, if known"),
                ("note", ""),
            ):
                yield Horizontal(
                    Label(name),
                    Input(placeholder=placeholder, compact=True, id=f"submit-{name}"),
                    classes="submit-field",
                )
            yield Static("", id="submit-error", classes="error")
            yield Static(
                hint(self, "tab: next field", ("submit.save", "record"), ("submit.cancel", "cancel")), classes="hint"
            )

    def on_mount(self) -> None:
        self.query_one("#submit-score", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def _fields(self) -> tuple[str, str, str]:
        return tuple(self.query_one(f"#submit-{name}", Input).value.strip() for name in ("score", "rank", "note"))  # type: ignore[return-value]

    def action_save(self) -> None:
        score, rank, _ = self._fields()
        if rank and not rank.isdigit():
            self.on_submission_refused(SubmissionRefused(f"rank {rank!r}: must be a whole number from 1"))
            return
        self._check(score, int(rank) if rank else None, time.time())

    @work(thread=True, exclusive=True, group="submit", exit_on_error=False)
    def _check(self, score: str, rank: int | None, when: float) -> None:
        try:
            validate_submission(self.store, self.config, self.run_name, score, rank=rank, submitted_at=when)
            problems = check_submission(self.store, self.run_name).problems
        except LedgerError as exc:
            self.post_message(SubmissionRefused(str(exc)))
            return
        self.post_message(SubmissionChecked(problems))

    def on_submission_checked(self, message: SubmissionChecked) -> None:
        if not message.problems:
            self._record()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._record()

        question = "\n".join(message.problems) + "\nRecord this submission anyway?"
        self.app.push_screen(Confirm(question), answered)

    def _record(self) -> None:
        score, rank, note = self._fields()
        self._record_worker(score, int(rank) if rank else None, note, time.time())

    @work(thread=True, exclusive=True, group="submit", exit_on_error=False)
    def _record_worker(self, score: str, rank: int | None, note: str, when: float) -> None:
        try:
            submission = record_submission(
                self.store, self.config, self.run_name, score, rank=rank, note=note, submitted_at=when
            )
        except LedgerError as exc:
            self.post_message(SubmissionRefused(str(exc)))
            return
        self.post_message(SubmissionRecorded(submission))

    def on_submission_refused(self, message: SubmissionRefused) -> None:
        self.app.bell()
        self.query_one("#submit-error", Static).update(safe(message.reason))

    def on_submission_recorded(self, message: SubmissionRecorded) -> None:
        self.app.notify(safe(f"recorded {message.submission.run_name}: {message.submission.score}"))
        self.dismiss(message.submission)

    def action_cancel(self) -> None:
        self.dismiss(None)

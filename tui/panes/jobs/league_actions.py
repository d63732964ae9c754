"""The Jobs pane's league keys: record a console run by hand, edit it, import its training log,
record a leaderboard submission, open the League view; and, in console mode, the sweep builder
that plans recipe cards instead of launching. JobsPane lists LEAGUE_BINDINGS among its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from core.league.mode import no_aws_client
from core.league.runs import CARDS_META_KEY
from core.training.recipe import BUNDLED_SPEC_ROOT
from tui.account_mode import ModeShown, in_console_mode
from tui.keys import hint
from tui.text import safe

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.store.league import ConsoleRun, Submission
    from core.training.jobs import JobRow
    from core.training.log_import import ImportResult
    from tui.panes.jobs.console_cards import PlannedCards

LEAGUE_BINDINGS = [
    Binding(
        "a",
        "add_run",
        "Add run",
        id="jobs.add_run",
        show=False,
        tooltip="Record a run started in the SageMaker console",
    ),
    Binding(
        "e",
        "edit_run",
        "Edit run",
        id="jobs.edit_run",
        show=False,
        tooltip="Edit the selected console run (status, end, ...)",
    ),
    Binding(
        "i",
        "import_log",
        "Import log",
        id="jobs.import_log",
        show=False,
        tooltip="Import a training log for the selected run",
    ),
    Binding(
        "u", "submit", "Submission", id="jobs.submit", tooltip="Record a leaderboard submission of the selected run"
    ),
    Binding("L", "league", "League", id="jobs.league", tooltip="The League view: submissions, limits, calibration"),
]


def service_options(console: bool) -> dict[str, Any]:
    """JobsService options for the session's mode: in console mode no AWS client, and the offline specs."""
    return {"client_factory": no_aws_client, "spec_root": BUNDLED_SPEC_ROOT} if console else {}


class LeagueJobActions:
    """Mixed into JobsPane (which provides store, config, service, selected_row, poll_now)."""

    store: Any
    config: Any
    app: Any
    _curves: dict[str, Any]
    selected_row: Callable[[], JobRow | None]
    poll_now: Callable[[], None]

    def console_hint(self) -> Any:
        return safe(
            hint(
                self,  # type: ignore[arg-type]
                ("jobs.new_sweep", "plan cards"),
                ("jobs.add_run", "add run"),
                ("jobs.edit_run", "edit"),
                ("jobs.import_log", "import log"),
                ("jobs.submit", "submission"),
                ("jobs.league", "league"),
                ("jobs.plot", "plot"),
                ("jobs.sheet", "sheet"),
                ("app.account_mode", "mode"),
            )
        )

    def on_mode_shown(self, message: ModeShown) -> None:
        self._set_line("#jobs-status", self._hint())  # type: ignore[attr-defined]

    def _selected(self, what: str) -> JobRow | None:
        row = self.selected_row()
        if row is None:
            self.app.notify(f"No run selected: select the run to {what} in the table.", severity="warning")
        return row

    # -- console sweeps: recipe cards ------------------------------------------------------------

    def new_console_sweep(self, builder_options: dict[str, Any]) -> None:
        from tui.panes.jobs.console_cards import ConsoleSweepBuilder

        builder = ConsoleSweepBuilder(self.service, store=self.store, config=self.config, **builder_options)  # type: ignore[attr-defined]
        self.app.push_screen(builder, self._cards_planned)

    def _cards_planned(self, planned: PlannedCards | None) -> None:
        if planned is None:
            return
        from tui.panes.jobs.console_cards import CardsView

        cards = planned.plan.cards

        def chosen(card_name: str | None) -> None:
            if card_name is not None:
                self._open_run_form({c.job_name: c.as_dict() for c in cards}, card_name)

        self.app.push_screen(CardsView(self.store, cards), chosen)

    # -- runs recorded by hand -------------------------------------------------------------------

    def action_add_run(self) -> None:
        cards = self.store.get_meta(CARDS_META_KEY) or {}
        self._open_run_form(cards if isinstance(cards, dict) else {}, None)

    def _open_run_form(self, cards: dict[str, Any], card_name: str | None) -> None:
        from tui.panes.jobs.run_form import RunForm

        self.app.push_screen(RunForm(self.store, self.config, cards=cards, card=card_name), self._run_saved)

    def action_edit_run(self) -> None:
        row = self._selected("edit")
        if row is None:
            return
        run = self.store.console_run(row.job.id)
        if run is None:
            self.app.notify(
                safe(f"{row.job.name} is an API job; only console runs are edited by hand"), severity="warning"
            )
            return
        from tui.panes.jobs.run_form import RunForm, initial_values

        dataset = self.store.dataset_version(run.dataset_version_id) if run.dataset_version_id else None
        twin = self.store.job(run.twin_job_id) if run.twin_job_id else None
        before = initial_values(run, dataset.hash if dataset else None, twin.name if twin else None)
        self.app.push_screen(RunForm(self.store, self.config, existing=run, before=before), self._run_saved)

    def _run_saved(self, run: ConsoleRun | None) -> None:
        if run is not None:
            self.app.notify(safe(f"console run {run.name}: {run.status}"))
            self.poll_now()

    def action_import_log(self) -> None:
        row = self._selected("import a log for")
        if row is None:
            return
        from tui.panes.jobs.log_import import LogImportDialog

        name = row.job.name

        def imported(result: ImportResult | None) -> None:
            if result is None:
                return
            flag = f"; overfitting: {result.assessment.suggestion or 'flagged'}" if result.assessment.flagged else ""
            self.app.notify(
                safe(
                    f"{name}: imported {result.format}, {result.events} event(s), {result.step_points} step and "
                    f"{result.epoch_points} epoch point(s){flag}"
                ),
                timeout=8,
            )
            self._curves.pop(name, None)  # its status did not change: re-read its curves
            self.poll_now()

        self.app.push_screen(LogImportDialog(self.store, name), imported)

    # -- the leaderboard -------------------------------------------------------------------------

    def action_submit(self) -> None:
        row = self._selected("submit")
        if row is None:
            return
        from tui.panes.jobs.league import SubmissionForm

        def recorded(submission: Submission | None) -> None:
            if submission is not None:
                self.poll_now()

        self.app.push_screen(SubmissionForm(self.store, self.config, row.job.name), recorded)

    def action_league(self) -> None:
        from tui.panes.jobs.league import LeagueView

        row = self.selected_row()
        self.app.push_screen(LeagueView(self.store, self.config, run_name=row.job.name if row else None))

    def console_mode(self) -> bool:
        return in_console_mode(self)  # type: ignore[arg-type]

"""The Jobs pane: build a sweep, feed the queue, watch losses live, spot overfitting, compare runs.

Polling runs `core.training.jobs.JobsService.tick()` (status poll, dispatch into free slots, metrics) in a
thread worker every `poll_seconds` (default 2 s, `[jumpstart] poll_seconds` when the config has
it) while the pane is shown. While it is hidden the UI work stops and a slow round (every
HIDDEN_DISPATCH_SECONDS, no metrics) only keeps the queue fed. Results arrive as one coalesced
message; the table is redrawn at most twice a second, and only the cells that changed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tui.account_mode import refused_in_console
from tui.keys import hint
from tui.panes.base import Pane
from tui.panes.jobs.league_actions import LEAGUE_BINDINGS, LeagueJobActions, service_options
from tui.panes.jobs.table import JobTable
from tui.screens.ask import AskText, Confirm
from tui.text import safe, safe_line

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.timer import Timer
    from textual.visual import VisualType

    from core.store.jobs import Job
    from core.training.jobs import JobRow, JobsService, TickSummary
    from core.training.metrics import JobCurves
    from core.training.prices import CostMeter
    from tui.panes.jobs.sweep_builder import SweepLaunch

POLL_SECONDS = 2.0
HIDDEN_DISPATCH_SECONDS = 30.0  # 0 stops every AWS call while the pane is hidden
RENDER_MIN_SECONDS = 0.5
FULL_REFRESH_EVERY = 10  # polls; re-reads every job's curves (points written by another process)
SMOOTHING_STEPS = (1.0, 0.3, 0.1)
MAX_DATASETS = 30
KEEPER_STATUSES = ("Queued", "Launching", "InProgress", "Stopping")


@dataclass(frozen=True)
class JobsSnapshot:
    rows: tuple[JobRow, ...]  # in job order
    meter: CostMeter
    prefix: str
    taken_at: float
    ticked: bool
    api_calls: Counter
    errors: tuple[str, ...]
    throttled: bool
    no_slot: tuple[str, ...] = ()  # instance types queued jobs wait for whose training quota is 0


@dataclass
class JobsPolled(Message):
    """A fresh snapshot of the session's jobs; only the latest one matters."""

    snapshot: JobsSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobsPolled)


@dataclass
class PollFailed(Message):
    error: BaseException


@dataclass
class ActionDone(Message):
    text: str
    severity: str = "information"
    poll: bool = False


@dataclass
class CloneEstimated(Message):
    job: str
    field_name: str
    value: str
    instance_type: str
    seconds: float
    cost: float | None


@dataclass
class PaneStats:
    """What the monitoring benchmark reads."""

    polls: int = 0
    renders: int = 0
    cells_written: int = 0
    api_calls_per_tick: deque = field(default_factory=lambda: deque(maxlen=500))
    ticks: deque = field(default_factory=lambda: deque(maxlen=500))  # (time, running jobs, calls, by operation)
    render_times: deque = field(default_factory=lambda: deque(maxlen=2000))
    rounds: deque = field(default_factory=lambda: deque(maxlen=500))  # (end time, wall s, thread CPU s)
    track_steps: bool = False
    shown_steps: list = field(default_factory=list)  # (time, {job: last global step shown}) when tracked


def _curves_key(job: Job) -> tuple:
    return job.status, job.secondary_status, json.dumps(job.progress, sort_keys=True), job.monitor_done


class JobsPane(LeagueJobActions, Pane):
    PANE_ID = "jobs"
    TITLE = "Jobs"
    STYLESHEET = "jobs.tcss"
    BINDINGS = [
        Binding(
            "n",
            "new_sweep",
            "New sweep",
            id="jobs.new_sweep",
            tooltip="Plan a hyperparameter sweep; its cost shows before anything launches",
        ),
        Binding("c", "clone", "Clone", id="jobs.clone", tooltip="Queue a copy of the job with one field changed"),
        Binding("s", "stop", "Stop", id="jobs.stop", tooltip="Stop the running job, or cancel a queued one"),
        Binding("plus", "priority(1)", "Priority +", id="jobs.priority_up", tooltip="Launch this queued job sooner"),
        Binding("minus", "priority(-1)", "Priority -", id="jobs.priority_down", tooltip="Launch this queued job later"),
        Binding("p", "plot", "Plot", id="jobs.plot", tooltip="Show or hide the loss plot of the selected job"),
        Binding("o", "overlay", "Overlay", id="jobs.overlay", tooltip="Plot the whole sweep together"),
        Binding("l", "log_scale", "Log scale", id="jobs.log_scale", tooltip="Toggle a log y axis on the plot"),
        Binding(
            "m",
            "smoothing",
            "Smoothing",
            id="jobs.smoothing",
            show=False,
            tooltip="Cycle the EMA smoothing of step losses (off, 0.3, 0.1)",
        ),
        Binding("S", "sheet", "Sheet", id="jobs.sheet", tooltip="Experiment sheet: sort, compare, export CSV"),
        Binding(
            "enter",
            "details",
            "Details",
            id="jobs.details",
            tooltip="FailureReason, hyperparameters and channels of the job",
        ),
        Binding("r", "refresh", "Refresh", id="jobs.refresh", show=False, tooltip="Poll SageMaker now"),
        Binding(
            "Q",
            "quotas",
            "Quotas",
            id="jobs.quotas",
            show=False,
            tooltip="The pool's training quotas; ask Service Quotas for more where a type has no slot",
        ),
        Binding(
            "D",
            "storage",
            "Storage",
            id="jobs.storage",
            show=False,
            tooltip="This session's S3 objects with sizes and monthly cost; delete the ones you mark",
        ),
        *LEAGUE_BINDINGS,
    ]
    service_options: dict[str, Any] = {}
    """Extra keyword arguments for core.training.jobs.JobsService (tests and benchmarks tune clocks and settles)."""

    def __init__(self, store, config, **kwargs) -> None:
        super().__init__(store, config, **kwargs)
        configured = getattr(config.jumpstart, "poll_seconds", None)
        self.poll_seconds = float(configured) if configured else POLL_SECONDS
        self.ascii_only = bool(getattr(config.ui, "ascii", False))
        self._service: JobsService | None = None
        self._service_console = False
        self._service_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._curves: dict[str, tuple[tuple, JobCurves]] = {}
        self._polls_since_full = 0
        self._polling = False
        self._poll_timer: Timer | None = None
        self._keeper_timer: Timer | None = None
        self._render_timer: Timer | None = None
        self._last_render = 0.0
        self._shown = False
        self._pending: JobsSnapshot | None = None
        self.snapshot: JobsSnapshot | None = None
        self._seen: dict[str, tuple[str, bool]] = {}
        self._shown_step: dict[str, int] = {}
        self._last_error = ""
        self._lines: dict[str, str] = {}
        self.plot_visible = False
        self.overlay = False
        self.log_scale = False
        self.smoothing = SMOOTHING_STEPS[0]
        self.stats = PaneStats()

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="jobs-summary")
        yield JobTable(ascii_only=self.ascii_only, id="jobs-table")
        yield Vertical(id="jobs-plot-box")
        yield Static(self._hint(), id="jobs-status", classes="pane-status")

    def _hint(self):
        if self.console_mode():
            return self.console_hint()
        return safe(
            hint(
                self,
                ("jobs.new_sweep", "new sweep"),
                ("jobs.clone", "clone"),
                ("jobs.stop", "stop"),
                (("jobs.priority_up", "jobs.priority_down"), "priority"),
                ("jobs.plot", "plot"),
                ("jobs.overlay", "overlay"),
                ("jobs.log_scale", "log"),
                ("jobs.smoothing", "smoothing"),
                ("jobs.sheet", "sheet"),
                ("jobs.details", "details"),
            )
        )

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    def on_mount(self) -> None:
        self._poll_timer = self.set_interval(self.poll_seconds, self._poll_tick, pause=True)
        if HIDDEN_DISPATCH_SECONDS > 0:
            self._keeper_timer = self.set_interval(HIDDEN_DISPATCH_SECONDS, self._keeper_tick, pause=True)
        self.call_after_refresh(self._start)

    def _start(self) -> None:
        if self.display and not self._shown:
            self.pane_shown()
        elif not self._shown and self._keeper_timer is not None:
            self._keeper_timer.resume()

    def pane_shown(self) -> None:
        self._shown = True
        if self._keeper_timer is not None:
            self._keeper_timer.pause()
        if self._poll_timer is not None:
            self._poll_timer.resume()
        if self._pending is not None:
            self._schedule_render()
        self.poll_now()

    def pane_hidden(self) -> None:
        self._shown = False
        if self._poll_timer is not None:
            self._poll_timer.pause()
        if self._render_timer is not None:
            self._render_timer.stop()
            self._render_timer = None
        if self._keeper_timer is not None:
            self._keeper_timer.resume()

    # -- the service -----------------------------------------------------------------------------

    @property
    def service(self) -> JobsService:
        """The session's JobsService (made on first use; cheap: clients are created when first called)."""
        console = self.console_mode()
        with self._service_lock:
            if self._service is None or self._service_console != console:  # made again when the mode changes
                from core.training.jobs import JobsService

                options = {**service_options(console), **self.service_options}
                self._service = JobsService(self.store, self.config, **options)
                self._service_console = console
            return self._service

    # -- polling ---------------------------------------------------------------------------------

    def _poll_tick(self) -> None:
        self.poll_now()

    def _keeper_tick(self) -> None:
        if not self._shown:
            self.poll_now(metrics=False, ui=False)

    def poll_now(self, *, tick: bool = True, metrics: bool = True, ui: bool = True) -> None:
        """Start one round in a thread unless one is already running."""
        if self._polling:
            return
        self._polling = True
        self._poll_worker(tick, metrics, ui)

    @work(thread=True, group="jobs-poll", exit_on_error=False, description="poll training jobs")
    def _poll_worker(self, tick: bool, metrics: bool, ui: bool) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            console = self.console_mode()
            if not ui and (console or not self.store.jobs(KEEPER_STATUSES)):
                return  # nothing to feed or follow (console mode polls nothing): no AWS call
            service = self.service
            summary = service.tick(metrics=metrics) if tick and not console else None
            if ui:
                self.post_message(JobsPolled(self.build_snapshot(service, summary)))
        except Exception as exc:  # noqa: BLE001 - reported once per distinct error; polling goes on
            self.post_message(PollFailed(exc))
        finally:
            self.stats.rounds.append((time.time(), time.perf_counter() - wall, time.thread_time() - cpu))
            self._polling = False

    def build_snapshot(self, service: JobsService, summary: TickSummary | None = None) -> JobsSnapshot:
        """Rows for every job; curves are re-read only for jobs with news (blocking: call in a thread)."""
        from core.training.jobs import JobRow, spot_words
        from core.training.metrics import job_curves, job_eta_seconds
        from core.training.prices import cost_meter, job_cost
        from core.training.sweep import summarize

        with self._snapshot_lock:
            store = service.store
            now = service.clock()
            jobs = store.jobs()
            console = store.console_run_ids()
            spot_sweeps = service.spot_sweeps() if any(job.sweep_id is not None for job in jobs) else {}
            interruptions = service.spot_interruptions() if any(spot_sweeps.values()) else {}
            news: set[str] = set()
            if summary is not None:
                news = set(summary.updated_jobs) | {name for name, _, _ in summary.status_changes}
            self._polls_since_full += 1
            full = self._polls_since_full >= FULL_REFRESH_EVERY
            if full:
                self._polls_since_full = 0
            rows = []
            for job in jobs:
                key = _curves_key(job)
                cached = self._curves.get(job.name)
                if full or cached is None or cached[0] != key or job.name in news:
                    curves = job_curves(store, job.id)
                    self._curves[job.name] = (key, curves)
                else:
                    curves = cached[1]
                rows.append(
                    JobRow(
                        job=job,
                        summary=summarize(job.hyperparameters),
                        elapsed_s=job.elapsed_seconds(now),
                        eta_s=job_eta_seconds(job, now),
                        cost_usd=None if job.id in console else job_cost(job, service.prices, now),
                        curves=curves,
                        assessment=curves.assessment(),
                        console=job.id in console,
                        spot=spot_words(job, interruptions) if spot_sweeps.get(job.sweep_id) else "",
                    )
                )
            meter = cost_meter(jobs, store.endpoints_for_billing(), service.prices, now, console_runs=console)
            waiting = {job.instance_type for job in jobs if job.status == "Queued"}
            no_slot = tuple(sorted(t for t in waiting if service.quotas.slots(t).slots == 0))
            return JobsSnapshot(
                rows=tuple(rows),
                meter=meter,
                prefix=service.prefix,
                taken_at=time.time(),
                ticked=summary is not None,
                api_calls=Counter(summary.api_calls) if summary is not None else Counter(),
                errors=tuple(summary.errors) if summary is not None else (),
                throttled=bool(summary.throttled) if summary is not None else False,
                no_slot=no_slot,
            )

    def on_jobs_polled(self, message: JobsPolled) -> None:
        message.stop()
        snapshot = message.snapshot
        self._pending = snapshot
        if snapshot.ticked:
            calls = sum(snapshot.api_calls.values())
            running = sum(1 for row in snapshot.rows if row.job.is_running)
            self.stats.polls += 1
            self.stats.api_calls_per_tick.append(calls)
            self.stats.ticks.append((snapshot.taken_at, running, calls, dict(snapshot.api_calls)))
        if self._shown:
            self._schedule_render()

    def on_poll_failed(self, message: PollFailed) -> None:
        message.stop()
        text = f"{type(message.error).__name__}: {message.error}"
        self._set_line("#jobs-status", safe_line(f"polling failed: {text}", 300))
        if text != self._last_error:
            self._last_error = text
            self.app.report_error("jobs poll", message.error)  # type: ignore[attr-defined]

    def _schedule_render(self) -> None:
        if self._render_timer is not None:
            return
        wait = self._last_render + RENDER_MIN_SECONDS - time.monotonic()
        if wait <= 0:
            self._draw_snapshot()
        else:
            self._render_timer = self.set_timer(wait, self._draw_snapshot)

    # -- drawing ---------------------------------------------------------------------------------

    def _draw_snapshot(self) -> None:
        self._render_timer = None
        snapshot = self._pending
        if snapshot is None:
            return
        self._pending = None
        self.snapshot = snapshot
        self._last_render = time.monotonic()
        table = self.table
        table.prefix = snapshot.prefix
        self.stats.cells_written += table.show_rows(snapshot.rows)
        self.stats.renders += 1
        self.stats.render_times.append(time.time())
        self._record_freshness(snapshot)
        self._update_summary(snapshot)
        self._announce(snapshot)
        if self.plot_visible:
            self._update_plot()
        from tui.widgets.cost_meter import CostMeter

        for meter in self.screen.query(CostMeter):
            meter.set_meter(snapshot.meter)

    def _record_freshness(self, snapshot: JobsSnapshot) -> None:
        """With `stats.track_steps`, note which step each job's sparkline shows from now on."""
        if not self.stats.track_steps:
            return
        changed = {}
        for row in snapshot.rows:
            steps = row.curves.steps
            if steps and self._shown_step.get(row.job.name) != steps[-1]:
                changed[row.job.name] = self._shown_step[row.job.name] = steps[-1]
        if changed:
            self.stats.shown_steps.append((time.time(), changed))

    def _update_summary(self, snapshot: JobsSnapshot) -> None:
        counts = Counter(row.job.status for row in snapshot.rows)
        running = counts["InProgress"] + counts["Stopping"] + counts["Launching"]
        flagged = sum(1 for row in snapshot.rows if row.assessment.flagged)
        parts = [
            f"{len(snapshot.rows)} job(s)",
            f"{running} running",
            f"{counts['Queued']} queued",
            f"{counts['Completed']} completed",
        ]
        if counts["Failed"]:
            parts.append(f"{counts['Failed']} failed")
        if flagged:
            parts.append(f"{flagged} overfitting")
        spot = [row for row in snapshot.rows if row.spot]
        if spot:
            interrupted = sum(1 for row in spot if not row.spot.startswith("spot, 0 interruptions"))
            parts.append(f"{len(spot)} on spot ({interrupted} interrupted)")
        meter = snapshot.meter
        parts.append(f"${meter.usd_per_hour:.2f}/h, ${meter.usd_so_far:.2f} so far")
        if snapshot.ticked:
            parts.append(f"{sum(snapshot.api_calls.values())} API calls last poll")
        summary = Text((" | " if self.ascii_only else " · ").join(parts), end="")
        if not snapshot.rows:  # the empty state names the step before and the keys that get there
            before = hint(self, ("pane.pairs", "Pairs"))
            summary = Text(
                f"No jobs yet. The step before is {before}: accept pairs and export a dataset version; "
                f"then {hint(self, ('jobs.new_sweep', 'new sweep'))}",
                end="",
            )
        if snapshot.throttled:
            summary.append("  throttled: backing off", style="yellow")
        if snapshot.no_slot:
            summary.append(
                f"  no slot for {', '.join(snapshot.no_slot)} (quota 0): {hint(self, ('jobs.quotas', 'request more'))}",
                style="yellow",
            )
        self._set_line("#jobs-summary", summary)
        title = f"Jobs ({running} running, {counts['Queued']} queued)"
        if self.border_title != title:  # a new title repaints the whole pane
            self.border_title = title
        if snapshot.errors:
            self._set_line("#jobs-status", safe_line(f"last poll: {snapshot.errors[0]}", 300))
        elif snapshot.ticked:
            self._set_line("#jobs-status", self._hint())

    def _set_line(self, selector: str, content: VisualType) -> None:
        """Update a one-line Static only when its text changes, without a layout pass."""
        key = content.plain if hasattr(content, "plain") else str(content)
        if self._lines.get(selector) != key:
            self._lines[selector] = key
            self.query_one(selector, Static).update(content, layout=False)

    def _announce(self, snapshot: JobsSnapshot) -> None:
        """Notify what changed since the last frame (derived from state, so coalescing loses nothing)."""
        first = not self._seen
        for row in snapshot.rows:
            job = row.job
            state = (job.status, row.assessment.flagged)
            before = self._seen.get(job.name)
            self._seen[job.name] = state
            if first or before == state:
                continue
            name = job.name.removeprefix(snapshot.prefix)
            if before is None or before[0] != job.status:
                if job.status == "Failed":
                    self.app.notify(
                        safe_line(f"job {name} failed: {job.failure_reason or '?'}", 300), severity="error", timeout=8
                    )
                elif job.status in ("Completed", "Stopped"):
                    self.app.notify(safe(f"job {name} {job.status.lower()}"))
            if row.assessment.flagged and (before is None or not before[1]):
                self.app.notify(
                    safe(f"job {name} is overfitting: {row.assessment.suggestion or ''}"), severity="warning", timeout=8
                )

    # -- selection -------------------------------------------------------------------------------

    def selected_row(self) -> JobRow | None:
        name = self.table.selected_job
        if name is None or self.snapshot is None:
            return None
        return next((row for row in self.snapshot.rows if row.job.name == name), None)

    def _need_row(self) -> JobRow | None:
        row = self.selected_row()
        if row is None:
            self.app.notify("No job selected (n plans a new sweep).", severity="warning")
        return row

    def on_job_table_row_selected(self, event: JobTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def on_job_table_row_highlighted(self, event: JobTable.RowHighlighted) -> None:
        event.stop()
        if self.plot_visible:
            self._update_plot()

    # -- actions: sweep, clone, stop, priority ---------------------------------------------------

    def action_new_sweep(self) -> None:
        from core.training.recipe import KNOWN_MODELS
        from tui.panes.jobs.sweep_builder import SweepBuilder

        datasets = self.store.dataset_versions(MAX_DATASETS)
        if not datasets:
            self.app.notify("No dataset version yet: export one from the Pairs pane first.", severity="warning")
            return
        options = {
            "datasets": datasets,
            "model_id": self.config.jumpstart.model_id,
            "instance_type": self.config.jumpstart.training_instance,
            "models": [(m.label, m.model_id) for m in KNOWN_MODELS],
        }
        if self.console_mode():
            self.new_console_sweep(options)
            return
        self.app.push_screen(SweepBuilder(self.service, **options), self._sweep_built)

    def _sweep_built(self, launch: SweepLaunch | None) -> None:
        if launch is not None:
            self._launch_worker(launch)

    @work(thread=True, group="jobs-action", exit_on_error=False, description="queue a sweep")
    def _launch_worker(self, launch: SweepLaunch) -> None:
        from core.training.jobs import JobsError

        try:
            sweep, jobs = self.service.launch_sweep(launch.plan, accept_eula=launch.accept_eula)
        except JobsError as exc:
            self.post_message(ActionDone(f"sweep not queued: {exc}", "error"))
            return
        self.post_message(ActionDone(f"{sweep.name}: {len(jobs)} job(s) queued", poll=True))

    def on_action_done(self, message: ActionDone) -> None:
        message.stop()
        self.app.notify(
            safe(message.text),
            severity=message.severity,  # type: ignore[arg-type]
            timeout=8 if message.severity == "error" else 4,
        )
        if message.poll:
            self.poll_now()

    def action_clone(self) -> None:
        if refused_in_console(self, "launch"):
            return
        row = self._need_row()
        if row is None:
            return
        job = row.job
        suggestion = row.assessment.suggestion or ""
        if row.assessment.flagged and suggestion.startswith("rerun with epoch="):
            prefill = suggestion.removeprefix("rerun with ")
        elif row.assessment.flagged:
            prefill = f"learning_rate={job.hyperparameters.get('learning_rate', '')}"
        else:
            prefill = f"epoch={job.hyperparameters.get('epoch', '')}"

        def asked(text: str | None) -> None:
            if not text or not text.strip():
                return
            name, sep, value = text.partition("=")
            if not sep or not name.strip() or not value.strip():
                self.app.notify(safe(f"write one NAME=VALUE (e.g. epoch=2), not {text!r}"), severity="error")
                return
            self._clone_estimate(job.name, name.strip(), value.strip())

        self.app.push_screen(AskText(f"Clone {job.name} with one field changed (NAME=VALUE)", prefill), asked)

    @work(thread=True, group="jobs-action", exit_on_error=False, description="estimate a clone")
    def _clone_estimate(self, name: str, field_name: str, value: str) -> None:
        from core.training.prices import DatasetSize, estimate_job_seconds, finished_runs, refinement_factor

        service = self.service
        job = self.store.job(name)
        if job is None:
            self.post_message(ActionDone(f"no job {name}", "error"))
            return
        params = {**job.hyperparameters, field_name: value}
        dataset = self.store.dataset_version(job.dataset_version_id) if job.dataset_version_id else None
        raw = estimate_job_seconds(
            job.model_id, job.instance_type, params, DatasetSize.from_counts(dataset.counts if dataset else None)
        )
        seconds = raw * refinement_factor(finished_runs(self.store.jobs()), job.model_id, job.instance_type)
        self.post_message(
            CloneEstimated(
                name, field_name, value, job.instance_type, seconds, service.prices.cost(job.instance_type, seconds)
            )
        )

    def on_clone_estimated(self, message: CloneEstimated) -> None:
        message.stop()
        from core.training.jobs import format_duration

        cost = "an unknown cost" if message.cost is None else f"about ${message.cost:,.2f}"
        question = (
            f"Queue a copy of {message.job} with {message.field_name}={message.value} on "
            f"{message.instance_type}?\nEstimated {format_duration(message.seconds)}, {cost}."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._clone_worker(message.job, message.field_name, message.value)

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, group="jobs-action", exit_on_error=False, description="clone a job")
    def _clone_worker(self, name: str, field_name: str, value: str) -> None:
        from core.training.jobs import JobsError
        from core.training.sweep import SweepError

        try:
            job = self.service.clone_job(name, {field_name: value})
        except SweepError as exc:
            self.post_message(ActionDone("clone not queued: " + "; ".join(exc.errors), "error"))
            return
        except JobsError as exc:
            self.post_message(ActionDone(f"clone not queued: {exc}", "error"))
            return
        self.post_message(ActionDone(f"queued {job.name} ({field_name}={value})", poll=True))

    def action_stop(self) -> None:
        if refused_in_console(self, "stop"):
            return
        row = self._need_row()
        if row is None:
            return
        job = row.job
        if job.is_final:
            self.app.notify(safe(f"{job.name} has already ended ({job.status})"), severity="warning")
            return
        what = "Cancel the queued job" if job.status == "Queued" else "Stop the training job"
        billed = "" if job.status == "Queued" else " It is billed until SageMaker stops it; its losses are kept."

        def answered(yes: bool | None) -> None:
            if yes:
                self._stop_worker(job.name)

        self.app.push_screen(Confirm(f"{what} {job.name}?{billed}"), answered)

    @work(thread=True, group="jobs-action", exit_on_error=False, description="stop a job")
    def _stop_worker(self, name: str) -> None:
        from core.training.jobs import JobsError

        try:
            job = self.service.stop(name)
        except JobsError as exc:
            self.post_message(ActionDone(str(exc), "error"))
            return
        self.post_message(ActionDone(f"{job.name}: {job.status}", poll=True))

    def action_priority(self, delta: int) -> None:
        if refused_in_console(self, "launch"):
            return
        row = self._need_row()
        if row is None:
            return
        if row.job.status != "Queued":
            self.app.notify(
                safe(f"priority only orders the queue; {row.job.name} is {row.job.status}"), severity="warning"
            )
            return
        self._priority_worker(row.job.name, row.job.priority + delta)

    @work(thread=True, group="jobs-action", exit_on_error=False, description="set a job's priority")
    def _priority_worker(self, name: str, priority: int) -> None:
        self.service.set_priority(name, priority)
        self.post_message(JobsPolled(self.build_snapshot(self.service)))

    def action_refresh(self) -> None:
        if refused_in_console(self, "poll"):
            return
        self.poll_now()

    def action_quotas(self) -> None:
        from tui.panes.jobs.quotas import QuotasScreen

        jumpstart = self.config.jumpstart
        waiting = [r.job.instance_type for r in self.snapshot.rows if r.job.status == "Queued"] if self.snapshot else []
        types = [jumpstart.training_instance, *jumpstart.quotas, *waiting]
        service = self.service
        self.app.push_screen(QuotasScreen(lambda: service.client("service-quotas"), types, jumpstart.quotas))

    def action_storage(self) -> None:
        from tui.screens.storage import StorageScreen

        service = self.service
        self.app.push_screen(StorageScreen(self.store, self.config, lambda: service.client("s3")))

    # -- actions: views --------------------------------------------------------------------------

    def action_details(self) -> None:
        row = self._need_row()
        if row is None:
            return
        from tui.panes.jobs.details import JobDetails

        self.app.push_screen(JobDetails(row))

    def action_sheet(self) -> None:
        from tui.panes.jobs.sheet import ExperimentSheet

        folder = getattr(self.store, "path", None)
        default = folder.parent / f"{self.store.name}-sheet.csv" if folder is not None else None
        self.app.push_screen(ExperimentSheet(self.store, self.service.prices, default_csv=default))

    def action_plot(self) -> None:
        self._set_plot(not self.plot_visible)

    def action_overlay(self) -> None:
        self.overlay = not self.overlay
        self._set_plot(True)

    def action_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self._set_plot(True)

    def action_smoothing(self) -> None:
        index = SMOOTHING_STEPS.index(self.smoothing) if self.smoothing in SMOOTHING_STEPS else 0
        self.smoothing = SMOOTHING_STEPS[(index + 1) % len(SMOOTHING_STEPS)]
        self._set_plot(True)

    def _set_plot(self, visible: bool) -> None:
        box = self.query_one("#jobs-plot-box", Vertical)
        if visible and not box.children:
            from tui.panes.jobs.loss_plot import LossPlot  # plotext loads when first needed

            box.mount(LossPlot(ascii_only=self.ascii_only, id="jobs-plot"))
        self.plot_visible = visible
        box.set_class(visible, "-visible")
        if visible:
            self.call_after_refresh(self._update_plot)

    def plot_rows(self) -> list[JobRow]:
        """The selected job, or with the overlay its whole sweep (the selected job first)."""
        selected = self.selected_row()
        if selected is None or self.snapshot is None:
            return []
        if not self.overlay:
            return [selected]
        same = [r for r in self.snapshot.rows if r.job.sweep_id == selected.job.sweep_id and r is not selected]
        return [selected, *same]

    def _update_plot(self) -> None:
        from tui.panes.jobs.loss_plot import LossPlot, LossSeries, PlotRequest

        plots = self.query("#jobs-plot")
        if not plots or self.snapshot is None:
            return
        prefix = self.snapshot.prefix
        series = []
        for row in self.plot_rows():
            curves = row.curves
            per_epoch = (row.job.progress or {}).get("steps_per_epoch")
            series.append(
                LossSeries(
                    label=row.job.name.removeprefix(prefix),
                    steps=tuple(curves.steps),
                    step_losses=tuple(curves.step_losses),
                    steps_per_epoch=int(per_epoch) if isinstance(per_epoch, int) and per_epoch > 0 else None,
                    train_epoch_losses=tuple(curves.train_epoch_losses),
                    eval_epoch_losses=tuple(curves.eval_epoch_losses),
                )
            )
        plot = plots.first(LossPlot)
        plot.show(PlotRequest(tuple(series), overlay=self.overlay, log_scale=self.log_scale, smoothing=self.smoothing))

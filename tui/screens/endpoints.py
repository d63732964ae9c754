"""The endpoints dialog: what this session deployed, with status, instance, $/hour, uptime and idle
warnings; deploy a finished job's model or the base model (cost first, the licence explicitly);
delete with confirmation; pick one as target A or B of the Compare pane; set an endpoint's prompt
format and stop-sequence key (`stop` for TGI containers, `stop_sequences` for LMI), stored per
endpoint in the session and used by its SageMaker target.

Every SageMaker call blocks, so each runs in a thread worker and reports back with a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from core.safe_text import one_line
from tui.keys import bound_keys, hint
from tui.screens.ask import AskText, Confirm
from tui.screens.choice_picker import ChoicePicker
from tui.screens.dialog import Dialog
from tui.text import safe, safe_rich

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.app import ComposeResult

    from core.config import Config
    from core.store import Store

TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
COLUMNS = ("endpoint", "kind", "from", "status", "instance", "$/h", "up", "cost", "idle")
EULA_WORD = "accept"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


@dataclass
class EndpointsListed(Message):
    rows: list[Any]  # core.serving.endpoints.EndpointStatus


@dataclass
class JobChoices(Message):
    choices: list[tuple[str, str]]  # (job name, label)


@dataclass
class PlanReady(Message):
    plan: Any  # core.serving.endpoints.DeployPlan


@dataclass
class EndpointSettingsRead(Message):
    name: str
    setting: str  # "prompt_format" | "stop_key"
    current: str


@dataclass
class EndpointActionDone(Message):
    text: str
    error: bool = False
    refresh: bool = True


class EndpointsScreen(Dialog["tuple[str, str] | None"]):
    """Dismisses with ("A" | "B", "endpoint:NAME") when an endpoint is picked as a target, else None."""

    DEFAULT_CSS = """
    EndpointsScreen > .dialog-body.wide { width: 140; }
    EndpointsScreen DataTable { height: auto; max-height: 16; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="endpoints.close"),
        Binding("r", "refresh", "Refresh", id="endpoints.refresh", tooltip="Ask SageMaker for every status"),
        Binding(
            "f",
            "deploy_job",
            "Deploy job",
            id="endpoints.deploy_job",
            tooltip="Deploy a finished training job's model (lowest eval loss first)",
        ),
        Binding(
            "m",
            "deploy_base",
            "Deploy base",
            id="endpoints.deploy_base",
            tooltip="Deploy the pre-trained base model (the baseline to beat)",
        ),
        Binding("x,delete", "delete", "Delete", id="endpoints.delete", tooltip="Delete the selected endpoint"),
        Binding(
            "p",
            "choose('prompt_format')",
            "Prompt format",
            id="endpoints.prompt_format",
            tooltip="How the selected endpoint is prompted: chat messages, Llama 3 chat or instruction template",
        ),
        Binding(
            "s",
            "choose('stop_key')",
            "Stop key",
            id="endpoints.stop_key",
            tooltip="The selected endpoint's stop-sequence key: stop (TGI containers) or stop_sequences (LMI)",
        ),
        Binding("a", "use('A')", "Use as A", id="endpoints.use_a", tooltip="Make it target A of the comparison"),
        Binding("b", "use('B')", "Use as B", id="endpoints.use_b", tooltip="Make it target B of the comparison"),
    ]

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        manager_factory: Callable[[], Any] | None = None,
        poll_seconds: float = 5.0,
        idle_minutes: float = 30.0,
    ) -> None:
        super().__init__()
        self.store = store
        self.config = config
        self._manager_factory = manager_factory
        self._manager: Any = None
        self.poll_seconds = poll_seconds
        self.idle_minutes = idle_minutes
        self.rows: list[Any] = []
        self.busy = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body wide"):
            yield Static(
                safe("Endpoints of this session (billed per second from creation until deleted)"), classes="title"
            )
            table: DataTable = DataTable(id="endpoints-table", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static("", id="endpoints-status")
            yield Static(
                hint(
                    self,
                    (("endpoints.use_a", "endpoints.use_b"), "use as A / B"),
                    ("endpoints.deploy_job", "deploy a job"),
                    ("endpoints.deploy_base", "deploy base model"),
                    ("endpoints.delete", "delete"),
                    (("endpoints.prompt_format", "endpoints.stop_key"), "prompt format / stop key"),
                    ("endpoints.refresh", "refresh"),
                    ("endpoints.close", "close"),
                ),
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self._set_status("reading endpoints…")
        self.action_refresh()
        self.set_interval(self.poll_seconds, self._poll)

    # ---- plumbing ------------------------------------------------------------------------------

    @property
    def manager(self) -> Any:
        """Created in a worker thread on first use (boto3 loads lazily)."""
        if self._manager is None:
            if self._manager_factory is not None:
                self._manager = self._manager_factory()
            else:
                from core.serving.endpoints import EndpointManager

                self._manager = EndpointManager(self.store, self.config)
        return self._manager

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#endpoints-status", Static).update(safe(text, "$text-error" if error else ""))

    def _fail(self, what: str, exc: BaseException, *, refresh: bool = True) -> None:
        self.post_message(EndpointActionDone(f"{what}: {one_line(exc, 400)}", error=True, refresh=refresh))

    @property
    def selected(self) -> Any | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    # ---- listing -------------------------------------------------------------------------------

    def _poll(self) -> None:
        if any(row.status in TRANSITIONAL for row in self.rows):
            self.action_refresh()

    def action_refresh(self) -> None:
        self._list()

    @work(thread=True, exclusive=True, group="endpoints-list", exit_on_error=False)
    def _list(self) -> None:
        try:
            rows = self.manager.list_endpoints(refresh=True, idle_minutes=self.idle_minutes)
        except Exception as exc:  # offline, no credentials: show what the session last saw
            self._fail("could not ask SageMaker", exc, refresh=False)
            try:
                rows = self.manager.list_endpoints(refresh=False, idle_minutes=self.idle_minutes)
            except Exception:
                rows = []
        self.post_message(EndpointsListed(rows))

    def on_endpoints_listed(self, message: EndpointsListed) -> None:
        table = self.query_one(DataTable)
        selected = self.selected.name if self.selected is not None else None
        self.rows = list(message.rows)
        table.clear()
        for row in self.rows:
            style = "bold yellow" if row.idle_warning else ("red" if row.status == "Failed" else "")
            price = "?" if row.price_per_hour is None else f"{row.price_per_hour:.3f}"
            cost = "?" if row.cost_so_far is None else f"{row.cost_so_far:.2f}"
            idle = "-" if row.idle_s is None else duration(row.idle_s) + (" !" if row.idle_warning else "")
            table.add_row(
                safe_rich(row.name, style, limit=48),
                safe_rich(row.kind, limit=10),
                safe_rich(row.job_name or row.model_id or "", limit=36),
                safe_rich(row.status, style, limit=16),
                safe_rich(row.instance_type, limit=18),
                Text(price, justify="right"),
                Text(duration(row.uptime_s), justify="right"),
                Text(cost, justify="right"),
                Text(idle, style=style, justify="right"),
                key=row.name,
            )
        if selected is not None:
            for index, row in enumerate(self.rows):
                if row.name == selected:
                    table.move_cursor(row=index)
        idle = [row.name for row in self.rows if row.idle_warning]
        failed = [row for row in self.rows if row.status == "Failed" and row.failure_reason]
        if failed:
            self._set_status(f"{failed[0].name} failed: {failed[0].failure_reason}", error=True)
        elif idle:
            self._set_status(
                f"idle for over {self.idle_minutes:.0f} min and still billed: {', '.join(idle)} "
                f"({bound_keys(self, 'endpoints.delete')} deletes)",
                error=True,
            )
        elif not self.busy:
            total = sum(row.price_per_hour or 0.0 for row in self.rows)
            self._set_status(
                f"{len(self.rows)} endpoint(s), ${total:.3f} per hour together"
                if self.rows
                else f"no endpoints: {bound_keys(self, 'endpoints.deploy_job')} deploys a finished job, "
                f"{bound_keys(self, 'endpoints.deploy_base')} the base model"
            )

    # ---- deploying -----------------------------------------------------------------------------

    def action_deploy_job(self) -> None:
        self._set_status("finding finished jobs…")
        self._job_choices()

    @work(thread=True, exclusive=True, group="endpoints-plan", exit_on_error=False)
    def _job_choices(self) -> None:
        from core.serving.endpoints import deploy_candidates

        try:  # ranked by the eval loss of the saved (last) epoch; an earlier, better one is named
            ranked = deploy_candidates(self.store)
        except Exception:  # the ranking is a convenience; the list still works without it
            ranked = []
        choices = [(c.job_name, c.label(first=i == 0 and c.saved_eval_loss is not None)) for i, c in enumerate(ranked)]
        self.post_message(JobChoices(choices))

    def on_job_choices(self, message: JobChoices) -> None:
        if not message.choices:
            self._set_status("no completed training job in this session yet (the Jobs pane runs them)")
            return

        def picked(choice: tuple | None) -> None:
            if choice is None:
                self._set_status("")
                return
            self._set_status(f"planning the deployment of {choice[0]}…")
            self._plan_job(choice[0])

        self._set_status("")
        self.app.push_screen(
            ChoicePicker(
                "Deploy which finished job? (lowest eval loss of the saved, last epoch first)",
                [(name, safe(label)) for name, label in message.choices],
            ),
            picked,
        )

    @work(thread=True, exclusive=True, group="endpoints-plan", exit_on_error=False)
    def _plan_job(self, job_name: str) -> None:
        try:
            self.post_message(PlanReady(self.manager.plan_finetuned(job_name)))
        except Exception as exc:
            self._fail(f"cannot deploy {job_name}", exc)

    def action_deploy_base(self) -> None:
        self._set_status("planning the base model's deployment…")
        self._plan_base()

    @work(thread=True, exclusive=True, group="endpoints-plan", exit_on_error=False)
    def _plan_base(self) -> None:
        try:  # a plan only: the licence is accepted below, by the user, before anything is sent
            self.post_message(PlanReady(self.manager.plan_base(accept_eula=True)))
        except Exception as exc:
            self._fail("cannot deploy the base model", exc)

    def on_plan_ready(self, message: PlanReady) -> None:
        plan = message.plan
        self._set_status("")

        def licence(answer: str | None) -> None:
            if answer is None or answer.strip().lower() != EULA_WORD:
                self._set_status("not deployed: the licence was not accepted")
                return
            self._start_deploy(plan)

        def confirmed(yes: bool | None) -> None:
            if not yes:
                self._set_status("not deployed")
                return
            if plan.kind == "base" and plan.accept_eula:
                where = f" ({plan.eula_uri})" if plan.eula_uri else ""
                self.app.push_screen(
                    AskText(
                        f"{plan.model_id} is a gated model. Deploying it accepts its licence (EULA){where}. "
                        f"Type '{EULA_WORD}' to accept the licence and deploy; esc cancels.",
                        placeholder=EULA_WORD,
                    ),
                    licence,
                )
            else:
                self._start_deploy(plan)

        self.app.push_screen(Confirm("\n".join(plan.cost_lines()) + "\n\nDeploy it?"), confirmed)

    def _start_deploy(self, plan: Any) -> None:
        self.busy = plan.endpoint_name
        self._set_status(f"creating endpoint {plan.endpoint_name}…")
        self._deploy(plan)

    @work(thread=True, exclusive=True, group="endpoints-deploy", exit_on_error=False)
    def _deploy(self, plan: Any) -> None:
        try:
            row = self.manager.deploy(plan)
        except Exception as exc:
            self._fail("deploy failed", exc)
            return
        self.post_message(
            EndpointActionDone(
                f"endpoint {row.name} is {row.status}; billing has started (it is polled until it is in service)"
            )
        )

    # ---- deleting and choosing ---------------------------------------------------------------

    def action_delete(self) -> None:
        row = self.selected
        if row is None:
            self._set_status("no endpoint selected")
            return
        name = row.name

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._set_status(f"deleting {name}…")
                self._delete(name)

        self.app.push_screen(Confirm(self.manager.delete_confirmation(name)), confirmed)

    @work(thread=True, group="endpoints-delete", exit_on_error=False)
    def _delete(self, name: str) -> None:
        try:
            self.manager.delete(name)
        except Exception as exc:
            self._fail(f"could not delete {name}", exc)
            return
        self.post_message(EndpointActionDone(f"deleted endpoint {name}"))

    def on_endpoint_action_done(self, message: EndpointActionDone) -> None:
        self.busy = ""
        self._set_status(message.text, error=message.error)
        if message.error:
            self.app.notify(safe(message.text), severity="error", timeout=8)
        if message.refresh:
            self.action_refresh()

    # ---- prompt format and stop key -----------------------------------------------------------

    def action_choose(self, setting: str) -> None:
        row = self.selected
        if row is None:
            self._set_status("no endpoint selected")
            return
        self._read_setting(row.name, setting)

    @work(thread=True, exclusive=True, group="endpoints-settings", exit_on_error=False)
    def _read_setting(self, name: str, setting: str) -> None:
        from core.services import Services

        try:  # what its target would use now: this dialog's choice, else the config, else the deployment's
            target = Services(self.store, self.config).endpoint_target(name)
            self.post_message(EndpointSettingsRead(name, setting, str(getattr(target, setting))))
        except Exception as exc:
            self._fail(f"cannot read the settings of {name}", exc, refresh=False)

    def on_endpoint_settings_read(self, message: EndpointSettingsRead) -> None:
        from core.llm.sagemaker_endpoint import PROMPT_FORMAT_LABELS, STOP_KEY_LABELS

        labels = PROMPT_FORMAT_LABELS if message.setting == "prompt_format" else STOP_KEY_LABELS
        what = "prompt format" if message.setting == "prompt_format" else "stop-sequence key"
        name = message.name

        def picked(choice: tuple | None) -> None:
            if choice is not None and choice[0] != message.current:
                self._save_setting(name, message.setting, choice[0])

        self.app.push_screen(
            ChoicePicker(
                f"{what.capitalize()} of {one_line(name, 60)} (now {message.current})",
                [(value, safe(label)) for value, label in labels.items()],
                current=message.current,
            ),
            picked,
        )

    @work(thread=True, exclusive=True, group="endpoints-settings", exit_on_error=False)
    def _save_setting(self, name: str, setting: str, value: str) -> None:
        from core.llm.sagemaker_endpoint import set_endpoint_settings

        try:
            set_endpoint_settings(self.store, name, **{setting: value})
        except Exception as exc:
            self._fail(f"cannot change {name}", exc, refresh=False)
            return
        what = "prompt format" if setting == "prompt_format" else "stop-sequence key"
        self.post_message(EndpointActionDone(f"{name}: {what} is now {value}", refresh=False))

    def action_use(self, slot: str) -> None:
        row = self.selected
        if row is None:
            self._set_status("no endpoint selected")
            return
        if row.status != "InService":
            self.app.notify(safe(f"{row.name} is {row.status}: answers fail until it is InService"), severity="warning")
        self.dismiss((slot, f"endpoint:{row.name}"))

    def action_close(self) -> None:
        self.dismiss(None)

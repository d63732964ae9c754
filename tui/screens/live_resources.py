"""Before quitting: what still bills (endpoints in service, training jobs running), with $/h, and a
key to delete an endpoint (its config and model too) or stop a job, after asking.

Dismisses True to quit, False to stay. The list comes from `core.serving.endpoints.live_resources`;
deleting and stopping run in a worker thread (`end_live_resource`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from core.safe_text import one_line
from tui.keys import hint
from tui.screens.ask import Confirm
from tui.screens.dialog import Dialog
from tui.text import safe, safe_rich

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from core.config import Config
    from core.serving.endpoints import LiveResource
    from core.store import Store

COLUMNS = ("kind", "name", "instance", "status", "$/h", "idle")


@dataclass
class LiveAtQuit(Message):
    """What still bills, read off the UI loop when the user quits."""

    resources: list[LiveResource]


@dataclass
class ResourceEnded(Message):
    resource: LiveResource
    text: str
    error: bool = False


class LiveResourcesScreen(Dialog[bool]):
    """The live resources of the session at quit: end them one by one, quit anyway, or stay."""

    DEFAULT_CSS = """
    LiveResourcesScreen > .dialog-body.wide { width: 110; }
    LiveResourcesScreen DataTable { height: auto; max-height: 12; }
    """
    BINDINGS = [
        Binding("x,delete", "end", "Delete/stop", id="live.end", tooltip="Delete the endpoint or stop the job"),
        Binding("q", "quit_anyway", "Quit anyway", id="live.quit", tooltip="Quit; they keep billing"),
        Binding("escape", "stay", "Stay", id="live.stay", tooltip="Back to tunedeck"),
    ]

    def __init__(self, store: Store, config: Config, resources: list[LiveResource], *, sagemaker: Any = None) -> None:
        super().__init__()
        self.store = store
        self.config = config
        self.resources = list(resources)
        self._sagemaker = sagemaker  # tests pass an emulator client; else boto3's chain
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body wide"):
            yield Static(safe("Still billing: these run until deleted or stopped"), classes="title")
            yield DataTable(id="live-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="live-total")
            yield Static("", id="live-status")
            yield Static(
                hint(
                    self,
                    ("live.end", "delete endpoint / stop job"),
                    ("live.quit", "quit anyway"),
                    ("live.stay", "stay"),
                ),
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self._show()
        table.focus()

    def _show(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for r in self.resources:
            price = "?" if r.usd_per_hour is None else f"{r.usd_per_hour:.3f}"
            table.add_row(r.kind, safe_rich(r.name), r.instance_type, r.status, price, "idle" if r.idle else "")
        total = sum(r.usd_per_hour or 0.0 for r in self.resources)
        self.query_one("#live-total", Static).update(
            safe(f"{len(self.resources)} live, ${total:.3f} per hour together" if self.resources else "nothing bills")
        )

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#live-status", Static).update(safe(text, "$text-error" if error else ""))

    def action_end(self) -> None:
        table = self.query_one(DataTable)
        if self.busy or not self.resources or table.cursor_row is None:
            return
        resource = self.resources[min(table.cursor_row, len(self.resources) - 1)]
        what = "delete endpoint" if resource.kind == "endpoint" else "stop training job"
        also = " Its config and model are deleted too." if resource.kind == "endpoint" else ""

        def answered(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self._status(f"{what} {resource.name}…")
                self._end(resource)

        self.app.push_screen(Confirm(f"{what} {resource.name} ({resource.instance_type})?{also}"), answered)

    @work(thread=True, exclusive=True, group="live-end", exit_on_error=False)
    def _end(self, resource: LiveResource) -> None:
        from core.serving.endpoints import end_live_resource

        try:
            text = end_live_resource(self.store, self.config, resource, sagemaker=self._sagemaker)
        except Exception as exc:  # an AWS refusal: say it, keep the row
            self.post_message(ResourceEnded(resource, f"{resource.name}: {one_line(exc, 300)}", error=True))
            return
        self.post_message(ResourceEnded(resource, text))

    def on_resource_ended(self, message: ResourceEnded) -> None:
        self.busy = False
        if not message.error:
            self.resources = [r for r in self.resources if r is not message.resource]
            self._show()
        self._status(message.text, error=message.error)

    def action_quit_anyway(self) -> None:
        self.dismiss(True)

    def action_stay(self) -> None:
        self.dismiss(False)

"""The quota dialog of the Jobs pane: each instance type of the pool with its Service Quotas value
("<type> for training job usage"), the `[jumpstart.quotas]` value and its increase requests; a key
asks Service Quotas to raise the highlighted type's quota (the value to ask for is prefilled: the
configured pool size, else one more). Needs servicequotas:RequestServiceQuotaIncrease (README).

Every Service Quotas call blocks, so each runs in a thread worker (`core.training.quotas`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.validation import Integer
from textual.widgets import DataTable, Static

from core.safe_text import one_line
from tui.keys import hint
from tui.screens.ask import AskText
from tui.screens.dialog import Dialog
from tui.text import safe, safe_rich

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from textual.app import ComposeResult

    from core.training.quotas import PoolQuota, QuotaOverview

COLUMNS = ("instance", "Service Quotas", "[jumpstart.quotas]", "request")


@dataclass
class QuotasLoaded(Message):
    overview: QuotaOverview


@dataclass
class QuotaRequested(Message):
    text: str
    error: bool = False


class QuotasScreen(Dialog[None]):
    """The pool's training quotas and increase requests; r asks for more of the highlighted type."""

    DEFAULT_CSS = """
    QuotasScreen > .dialog-body.wide { width: 120; }
    QuotasScreen DataTable { height: auto; max-height: 12; }
    """
    BINDINGS = [
        Binding(
            "r",
            "request",
            "Request increase",
            id="quotas.request",
            tooltip="Ask Service Quotas to raise the highlighted type's training quota",
        ),
        Binding("g", "reload", "Reload", id="quotas.reload", tooltip="Look the quotas and requests up again"),
        Binding("escape", "close", "Close", id="quotas.close"),
    ]

    def __init__(
        self, client_factory: Callable[[], Any], instance_types: list[str], configured: Mapping[str, int]
    ) -> None:
        super().__init__()
        self._client_factory = client_factory
        self.instance_types = list(dict.fromkeys(instance_types))
        self.configured = dict(configured)
        self.overview: QuotaOverview | None = None
        self.busy = False
        self._note = ""  # the last request's outcome, kept over the reload after it

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body wide"):
            yield Static(safe("Training-instance quotas of the pool (Service Quotas)"), classes="title")
            yield DataTable(id="quotas-table", cursor_type="row", zebra_stripes=True)
            yield Static("looking up the quotas…", id="quotas-status")
            yield Static(
                hint(
                    self,
                    ("quotas.request", "request an increase"),
                    ("quotas.reload", "reload"),
                    ("quotas.close", "close"),
                ),
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self._load()

    @work(thread=True, exclusive=True, group="quotas-load", exit_on_error=False)
    def _load(self) -> None:
        from core.training.quotas import QuotaOverview, pool_overview

        try:
            overview = pool_overview(self._client_factory(), self.instance_types, self.configured)
        except Exception as exc:  # noqa: BLE001 - no client (no credentials): said in the dialog
            overview = QuotaOverview((), (), (f"{type(exc).__name__}: {one_line(exc, 300)}",))
        self.post_message(QuotasLoaded(overview))

    def on_quotas_loaded(self, message: QuotasLoaded) -> None:
        message.stop()
        self.overview = message.overview
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for quota in message.overview.rows:
            table.add_row(
                quota.instance_type,
                "?" if quota.service.source != "service-quotas" else str(quota.service.slots),
                "" if quota.configured is None else str(quota.configured),
                safe_rich(quota.state()),
            )
        if message.overview.rows:
            table.move_cursor(row=min(row or 0, len(message.overview.rows) - 1))
        lines = [self._note] if self._note else []
        lines += message.overview.problems
        if len(lines) == bool(self._note):
            missing = [q.instance_type for q in message.overview.rows if q.no_slot and q.pending is None]
            lines.append(
                f"no slot for {', '.join(missing)}: jobs there wait until the quota is raised"
                if missing
                else f"{len(message.overview.requests)} increase request(s) in this account"
            )
        if not self.busy:
            self._status("\n".join(lines), error=bool(message.overview.problems))

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#quotas-status", Static).update(safe(text, "$text-error" if error else ""))

    def highlighted(self) -> PoolQuota | None:
        if self.overview is None or not self.overview.rows:
            return None
        row = self.query_one(DataTable).cursor_row
        return self.overview.rows[min(row or 0, len(self.overview.rows) - 1)]

    def action_request(self) -> None:
        quota = self.highlighted()
        if quota is None or self.busy:
            return
        if quota.pending is not None:
            self._status(f"'{quota.quota_name}' already has a pending request ({quota.pending.status})")
            return
        if quota.service.source != "service-quotas":
            self._status(f"'{quota.quota_name}' is not listed by Service Quotas here; nothing to raise", error=True)
            return

        def asked(text: str | None) -> None:
            if text is None or not text.strip():
                return
            try:
                value = int(text.strip())
            except ValueError:
                self._status(f"the value to ask for must be a whole number of instances, not {text!r}", error=True)
                return
            self.busy = True
            self._status(f"asking for '{quota.quota_name}' = {value}…")
            self._request(quota.instance_type, value)

        self.app.push_screen(
            AskText(
                f"Ask Service Quotas to raise '{quota.quota_name}' (now {quota.service.slots}) to",
                str(quota.suggested),
                validators=[Integer(minimum=1)],
            ),
            asked,
        )

    @work(thread=True, exclusive=True, group="quotas-request", exit_on_error=False)
    def _request(self, instance_type: str, value: int) -> None:
        from core.training.quotas import QuotaRequestError, request_increase

        try:
            made = request_increase(self._client_factory(), instance_type, value)
        except QuotaRequestError as exc:
            self.post_message(QuotaRequested(str(exc), error=True))
            return
        except Exception as exc:  # noqa: BLE001 - no client: said, nothing asked
            self.post_message(QuotaRequested(f"{type(exc).__name__}: {one_line(exc, 300)}", error=True))
            return
        self.post_message(QuotaRequested(f"requested: {made.describe()} (id {made.request_id})"))

    def on_quota_requested(self, message: QuotaRequested) -> None:
        message.stop()
        self.busy = False
        self._status(message.text, error=message.error)
        if not message.error:
            self._note = message.text
            self._load()

    def action_reload(self) -> None:
        self._note = ""
        self._status("looking up the quotas…")
        self._load()

    def action_close(self) -> None:
        self.dismiss(None)

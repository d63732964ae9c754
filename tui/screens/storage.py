"""Storage clean-up: this session's S3 objects (dataset versions, training outputs) with sizes and
monthly cost; space marks rows, x deletes the marked ones (or the highlighted one) after asking.

Listing and deleting go through `core.storage` (never outside the session's prefix) in thread
workers. Needs s3:ListBucket and s3:DeleteObject (README)."""

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
    from collections.abc import Callable

    from textual.app import ComposeResult

    from core.config import Config
    from core.storage import StoredObject
    from core.store import Store

COLUMNS = ("", "kind", "MB", "$/month", "key")


@dataclass
class ObjectsListed(Message):
    objects: list[StoredObject]
    error: str = ""


@dataclass
class ObjectsDeleted(Message):
    text: str
    error: bool = False


def _size(size: int) -> str:
    return f"{size / 1e6:,.2f}"


class StorageScreen(Dialog[None]):
    """The session's S3 objects; mark some and delete them after asking."""

    DEFAULT_CSS = """
    StorageScreen > .dialog-body.wide { width: 130; }
    StorageScreen DataTable { height: auto; max-height: 16; }
    """
    BINDINGS = [
        Binding("space", "mark", "Mark", id="storage.mark", tooltip="Mark or unmark the highlighted object"),
        Binding("a", "mark_all", "Mark all", id="storage.mark_all", tooltip="Mark every object, or none"),
        Binding("x,delete", "delete", "Delete", id="storage.delete", tooltip="Delete the marked objects after asking"),
        Binding("g", "reload", "Reload", id="storage.reload", tooltip="List the objects again"),
        Binding("escape", "close", "Close", id="storage.close"),
    ]

    def __init__(self, store: Store, config: Config, client_factory: Callable[[], Any]) -> None:
        super().__init__()
        self.store = store
        self.config = config
        self._client_factory = client_factory
        self.objects: list[StoredObject] | None = None
        self.marked: set[str] = set()
        self.busy = False
        self._note = ""  # the last deletion's outcome, kept over the listing after it

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body wide"):
            yield Static(safe("This session's S3 objects (S3 Standard storage, billed monthly)"), classes="title")
            yield DataTable(id="storage-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="storage-total")
            yield Static("listing…", id="storage-status")
            yield Static(
                hint(
                    self,
                    ("storage.mark", "mark"),
                    ("storage.mark_all", "all"),
                    ("storage.delete", "delete marked"),
                    ("storage.reload", "reload"),
                    ("storage.close", "close"),
                ),
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column or "mark")
        table.focus()
        self._list()

    @work(thread=True, exclusive=True, group="storage-list", exit_on_error=False)
    def _list(self) -> None:
        from core.storage import list_objects

        try:
            objects = list_objects(self._client_factory(), self.config, self.store)
        except Exception as exc:  # noqa: BLE001 - StorageError, no client: said in the dialog
            self.post_message(ObjectsListed([], one_line(exc, 300)))
            return
        self.post_message(ObjectsListed(objects))

    def on_objects_listed(self, message: ObjectsListed) -> None:
        message.stop()
        self.objects = message.objects
        keys = {o.key for o in message.objects}
        self.marked &= keys
        self._show()
        if message.error:
            self._status(message.error, error=True)
        elif not self.busy:
            empty = "" if message.objects else "nothing stored under this session's prefix"
            self._status("; ".join(p for p in (self._note, empty) if p))

    def _show(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        mark = "x" if bool(getattr(self.config.ui, "ascii", False)) else "✓"
        for o in self.objects or []:
            table.add_row(
                mark if o.key in self.marked else "",
                o.kind,
                _size(o.size),
                f"{o.usd_per_month:.4f}",
                safe_rich(one_line(o.key, 200)),
                key=o.key,
            )
        if self.objects:
            table.move_cursor(row=min(row or 0, len(self.objects) - 1))
        objects = self.objects or []
        total = sum(o.size for o in objects)
        chosen = [o for o in objects if o.key in self.marked]
        line = f"{len(objects)} object(s), {_size(total)} MB, ${sum(o.usd_per_month for o in objects):.4f} per month"
        if chosen:
            line += f"; {len(chosen)} marked ({_size(sum(o.size for o in chosen))} MB)"
        self.query_one("#storage-total", Static).update(safe(line))

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#storage-status", Static).update(safe(text, "$text-error" if error else ""))

    def highlighted(self) -> StoredObject | None:
        if not self.objects:
            return None
        row = self.query_one(DataTable).cursor_row
        return self.objects[min(row or 0, len(self.objects) - 1)]

    def action_mark(self) -> None:
        found = self.highlighted()
        if found is None:
            return
        self.marked ^= {found.key}
        self._show()
        table = self.query_one(DataTable)
        if table.cursor_row is not None and table.cursor_row + 1 < table.row_count:
            table.move_cursor(row=table.cursor_row + 1)

    def action_mark_all(self) -> None:
        keys = {o.key for o in self.objects or []}
        self.marked = set() if keys and self.marked == keys else keys
        self._show()

    def action_delete(self) -> None:
        if self.busy or not self.objects:
            return
        chosen = [o for o in self.objects if o.key in self.marked]
        if not chosen:
            found = self.highlighted()
            chosen = [found] if found is not None else []
        if not chosen:
            return
        size = sum(o.size for o in chosen)
        monthly = sum(o.usd_per_month for o in chosen)
        names = "\n".join(f"  {one_line(o.key, 120)}" for o in chosen[:5])
        more = f"\n  … and {len(chosen) - 5} more" if len(chosen) > 5 else ""
        question = (
            f"Delete {len(chosen)} S3 object(s), {_size(size)} MB (${monthly:.4f} per month)?\n"
            f"{names}{more}\nDeleted objects cannot be brought back; a job whose output is deleted cannot be deployed."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self._status(f"deleting {len(chosen)} object(s)…")
                self._delete([o.key for o in chosen])

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, exclusive=True, group="storage-delete", exit_on_error=False)
    def _delete(self, keys: list[str]) -> None:
        from core.storage import delete_objects

        try:
            count = delete_objects(self._client_factory(), self.config, self.store, keys)
        except Exception as exc:  # noqa: BLE001 - StorageError, no client: said, the list is read again
            self.post_message(ObjectsDeleted(one_line(exc, 300), error=True))
            return
        self.post_message(ObjectsDeleted(f"deleted {count} object(s)"))

    def on_objects_deleted(self, message: ObjectsDeleted) -> None:
        message.stop()
        self.busy = False
        self.marked.clear()
        self._note = "" if message.error else message.text
        self._status(message.text, error=message.error)
        self._list()

    def action_reload(self) -> None:
        self._note = ""
        self._status("listing…")
        self._list()

    def action_close(self) -> None:
        self.dismiss(None)

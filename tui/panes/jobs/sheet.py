"""The experiment sheet: jobs x hyperparameters x losses x gap x duration x cost (core.training.sheet, pandas).

Keys: arrows move, `s` sorts by the column under the cursor (again: reverse), `e` exports CSV,
`r` reloads, esc closes. The DataFrame is built in a thread (pandas is imported there).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from core.safe_text import one_line
from core.training.sheet import build_sheet, export_csv, sort_sheet
from tui.keys import hint
from tui.panes.jobs.table import format_seconds
from tui.screens.ask import AskText
from tui.text import safe

if TYPE_CHECKING:
    from textual.app import ComposeResult

LOSS_COLUMNS = frozenset({"final_train_loss", "final_eval_loss", "best_train_loss", "best_eval_loss", "gap"})


@dataclass
class SheetBuilt(Message):
    frame: Any
    error: BaseException | None = None


def format_cell(column: str, value: Any) -> Text:
    """A sheet value as literal text (hyperparameters come from the store; nothing is markup)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Text("-", style="dim", end="")
    try:
        import pandas as pd

        if value is pd.NA:
            return Text("-", style="dim", end="")
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, bool) or column == "overfitting":
        return Text("yes" if value else "no", style="bold yellow" if value else "", end="")
    if column in LOSS_COLUMNS and isinstance(value, (int, float)):
        return Text(f"{value:.4f}", end="", justify="right")
    if column == "cost_usd" and isinstance(value, (int, float)):
        return Text(f"${value:,.2f}", end="", justify="right")
    if column == "duration_s" and isinstance(value, (int, float)):
        return Text(format_seconds(value), end="", justify="right")
    return Text(one_line(value, 80), end="")


class ExperimentSheet(ModalScreen[None]):
    DEFAULT_CSS = """
    ExperimentSheet { align: center middle; background: $background 60%; }
    ExperimentSheet > #sheet-body { width: 98%; height: 90%; border: round $primary; background: $surface;
        padding: 0 1; }
    ExperimentSheet DataTable { height: 1fr; }
    ExperimentSheet .hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("s", "sort", "Sort by column", id="sheet.sort", tooltip="Sort by the column under the cursor"),
        Binding("e", "export", "Export CSV", id="sheet.export"),
        Binding("r", "reload", "Reload", id="sheet.reload"),
        Binding("escape,q", "close", "Close", id="sheet.close"),
    ]

    def __init__(self, store: Any, prices: Any, *, default_csv: Path | None = None) -> None:
        super().__init__()
        self.store = store
        self.prices = prices
        self.default_csv = default_csv or Path.cwd() / f"{getattr(store, 'name', 'session')}-sheet.csv"
        self.frame: Any = None
        self.sort_column: str | None = None
        self.descending = False

    def compose(self) -> ComposeResult:
        with Vertical(id="sheet-body"):
            yield Static(Text("Experiment sheet", style="bold"), id="sheet-title")
            yield DataTable(cursor_type="column", zebra_stripes=True, id="sheet-table")
            yield Static(
                hint(
                    self,
                    "←/→ column",
                    ("sheet.sort", "sort (again: reverse)"),
                    ("sheet.export", "export CSV"),
                    ("sheet.reload", "reload"),
                    ("sheet.close", "close"),
                ),
                classes="hint",
                id="sheet-status",
            )

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._build()

    @work(thread=True, exclusive=True, group="sheet-build", exit_on_error=False)
    def _build(self) -> None:
        try:
            frame = build_sheet(self.store, self.prices, time.time())
        except Exception as exc:  # noqa: BLE001 - shown on the sheet's status line
            self.post_message(SheetBuilt(None, exc))
            return
        self.post_message(SheetBuilt(frame))

    def on_sheet_built(self, message: SheetBuilt) -> None:
        if message.error is not None:
            self.app.report_error("experiment sheet", message.error)  # type: ignore[attr-defined]
            return
        self.frame = message.frame
        if self.sort_column in getattr(self.frame, "columns", ()):
            self.frame = sort_sheet(self.frame, self.sort_column, descending=self.descending)
        self._show()

    def _show(self) -> None:
        table = self.query_one(DataTable)
        column = table.cursor_column
        table.clear(columns=True)
        frame = self.frame
        if frame is None:
            return
        for name in frame.columns:
            arrow = ""
            if name == self.sort_column:
                arrow = " v" if self.descending else " ^"
            table.add_column(Text(str(name) + arrow, style="bold"), key=str(name))
        for record in frame.to_dict(orient="records"):
            table.add_row(*(format_cell(str(c), record[c]) for c in frame.columns))
        if frame.columns.size:
            table.move_cursor(column=min(column, len(frame.columns) - 1))
        title = f"Experiment sheet: {len(frame)} job(s)"
        if self.sort_column:
            title += f", sorted by {self.sort_column}{' (descending)' if self.descending else ''}"
        self.query_one("#sheet-title", Static).update(safe(title))

    @property
    def cursor_column_name(self) -> str | None:
        if self.frame is None or not len(self.frame.columns):
            return None
        index = self.query_one(DataTable).cursor_column
        return str(self.frame.columns[min(index, len(self.frame.columns) - 1)])

    def action_sort(self) -> None:
        column = self.cursor_column_name
        if column is None:
            return
        self.descending = not self.descending if column == self.sort_column else False
        self.sort_column = column
        self.frame = sort_sheet(self.frame, column, descending=self.descending)
        self._show()

    def action_export(self) -> None:
        if self.frame is None:
            return

        def chosen(path: str | None) -> None:
            if not path or not path.strip():
                return

            try:
                written = export_csv(self.frame, Path(path.strip()).expanduser())
            except OSError as exc:
                self.app.notify(safe(f"CSV export failed: {exc}"), severity="error")
                return
            self.query_one("#sheet-status", Static).update(safe(f"wrote {len(self.frame)} row(s) to {written}"))
            self.app.notify(safe(f"wrote {written}"))

        self.app.push_screen(AskText("Export the sheet as CSV to", str(self.default_csv)), chosen)

    def action_close(self) -> None:
        self.dismiss(None)

"""The queue table of the Jobs pane: one row per job, drawn with the line API.

Columns: job, status, elapsed / time left, hyperparameter summary, step-loss sparkline, per-epoch
train and eval loss, best eval epoch, and the flag (overfitting with the "rerun with epoch=k"
suggestion, or why a job failed). Cells are Rich Text built from scrubbed strings, never markup.

Why not DataTable: any cell update invalidates all its row caches, so every poll re-rendered every
row (and re-sent it). Here each row is one cached Strip, rebuilt and refreshed only when one of its
cells changed; a row is a handful of style runs, not one per cell. Times are shown to the minute,
so a running row changes when its losses do, not every poll.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.safe_text import one_line
from tui.panes.jobs.sparkline import spark_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.style import Style
    from textual import events

COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("job", "Job", 5),
    ("status", "Status", 13),
    ("time", "Elapsed / left", 14),
    ("params", "Hyperparameters", 28),
    ("loss", "Step loss", 20),
    ("train", "Train / epoch", 16),
    ("eval", "Eval / epoch", 16),
    ("best", "Best eval", 9),
    ("flag", "Flag", 30),
)
COLUMN_KEYS = tuple(key for key, _, _ in COLUMNS)
SPARK_WIDTH = dict((key, width) for key, _, width in COLUMNS)["loss"]
GAP = 1
EPOCHS_SHOWN = 3
STATUS_STYLES = {
    "Queued": "dim",
    "Launching": "cyan",
    "InProgress": "bold cyan",
    "Stopping": "yellow",
    "Completed": "green",
    "Failed": "bold red",
    "Stopped": "yellow",
    "Cancelled": "dim",
}


def format_seconds(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    from core.training.jobs import format_duration  # a heavy module: the pane's first frame does not wait for it

    return format_duration(seconds)


def format_minutes(seconds: float | None) -> str:
    """To the minute ("<1m", "12m", "1h05m"): a running job's cell changes once a minute."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return "<1m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def epoch_values(values: Sequence[float], count: int = EPOCHS_SHOWN, *, ascii_only: bool = False) -> str:
    """The last `count` per-epoch values, "…" in front when there are more."""
    if not values:
        return "-"
    shown = " ".join(f"{v:.2f}" for v in values[-count:])
    more = ".. " if ascii_only else "… "
    return (more if len(values) > count else "") + shown


CONSOLE_STATUS = {
    "InConsole": "console live",
    "Completed": "console done",
    "Failed": "console fail",
    "Stopped": "console stop",
}
"""The status cell of a console run: what it is, in the column's width."""


def status_label(job: Any) -> str:
    if job.status == "InProgress" and job.secondary_status:
        return job.secondary_status
    if job.status == "Queued":
        waiting = " backoff" if job.next_attempt_at else ""
        return f"Queued p{job.priority}{waiting}"
    return job.status


def row_cells(row: Any, *, prefix: str = "", ascii_only: bool = False) -> tuple[Text, ...]:
    """The cells of one core.training.jobs.JobRow (every string scrubbed, every cell a Text)."""
    job = row.job
    name = job.name[len(prefix) :] if prefix and job.name.startswith(prefix) else job.name
    status = Text(one_line(status_label(job), 40), style=STATUS_STYLES.get(job.status, ""), end="")
    if getattr(row, "console", False):  # recorded by hand; the status is what the user entered
        status = Text(CONSOLE_STATUS.get(job.status, f"console {job.status}"), style="magenta", end="")
    if job.is_running or job.status == "Launching":
        left = "-" if row.eta_s is None else format_minutes(row.eta_s)
        left = left if left in ("-", "<1m") else f"~{left}"
        time_text = f"{format_minutes(row.elapsed_s)} / {left}"
    else:
        time_text = format_seconds(row.elapsed_s)
    curves = row.curves
    flagged = row.assessment.flagged
    loss = spark_text(curves.step_losses, SPARK_WIDTH, ascii_only=ascii_only, style="yellow" if flagged else "cyan")
    best_epoch = curves.best_eval_epoch
    best = "-" if best_epoch is None else f"e{best_epoch} {curves.eval_epoch_losses[best_epoch - 1]:.2f}"
    if flagged:
        mark = "!" if ascii_only else "⚠"
        flag = Text(f"{mark} {row.assessment.suggestion or 'overfitting'}", style="bold yellow", end="")
    elif job.status in ("Failed", "Cancelled") or (job.status == "Queued" and job.failure_reason):
        flag = Text(
            one_line(job.failure_reason or job.status, 200), style="red" if job.status == "Failed" else "dim", end=""
        )
    else:
        flag = Text("", end="")
    return (
        Text(one_line(name, 64), style="bold", end=""),
        status,
        Text(time_text, end=""),
        Text(one_line(row.summary or "(defaults)", 200), end=""),
        loss,
        Text(epoch_values(curves.train_epoch_losses, ascii_only=ascii_only), end=""),
        Text(epoch_values(curves.eval_epoch_losses, ascii_only=ascii_only), end=""),
        Text(best, end=""),
        flag,
    )


def _signature(cells: Sequence[Text]) -> tuple:
    return tuple((c.plain, str(c.style), tuple((s.start, s.end, str(s.style)) for s in c.spans)) for c in cells)


def _line(cells: Sequence[Text], ascii_only: bool = False) -> Text:
    """Cells padded or cut to their column widths, one space apart."""
    line = Text(no_wrap=True, end="")
    for cell, (_, _, width) in zip(cells, COLUMNS, strict=False):
        piece = cell.copy()
        piece.truncate(width, overflow="crop" if ascii_only else "ellipsis", pad=True)
        line.append_text(piece)
        line.append(" " * GAP)
    return line


class JobTable(ScrollView, can_focus=True):
    """Jobs keyed by name; `show_rows` adds, updates (changed rows only) and removes rows."""

    COMPONENT_CLASSES = {"job-table--header", "job-table--cursor"}
    DEFAULT_CSS = """
    JobTable { height: 1fr; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
    JobTable > .job-table--header { text-style: bold; color: $text-muted; }
    JobTable > .job-table--cursor { background: $boost; }
    JobTable:focus > .job-table--cursor { background: $primary 40%; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("enter", "select", "Details", show=False),
    ]

    cursor_row: reactive[int] = reactive(0)

    @dataclass
    class RowHighlighted(Message):
        table: JobTable
        job: str | None

        @property
        def control(self) -> JobTable:
            return self.table

    @dataclass
    class RowSelected(Message):
        table: JobTable
        job: str

        @property
        def control(self) -> JobTable:
            return self.table

    def __init__(self, *, ascii_only: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.ascii_only = ascii_only
        self.prefix = ""
        self._order: list[str] = []
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._signatures: dict[str, tuple] = {}
        self._strips: dict[str, Strip] = {}
        self._header: Strip | None = None
        self.cells_updated = 0  # cells that changed since mount (for tests and the benchmark)
        self.line_width = sum(width + GAP for _, _, width in COLUMNS)

    # -- data ------------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def selected_job(self) -> str | None:
        return self._order[self.cursor_row] if 0 <= self.cursor_row < len(self._order) else None

    def cell(self, job: str, column: str) -> Text:
        return self._cells[job][COLUMN_KEYS.index(column)]

    def select_job(self, name: str) -> None:
        if name in self._cells:
            self.cursor_row = self._order.index(name)

    def show_rows(self, rows: Sequence[Any]) -> int:
        """Bring the table in line with `rows` (core.training.jobs.JobRow, in display order). Returns cells changed."""
        changed = 0
        selected = self.selected_job
        order = [row.job.name for row in rows]
        reshaped = order != self._order
        for name in set(self._cells) - set(order):
            for cache in (self._cells, self._signatures, self._strips):
                cache.pop(name, None)
        dirty: list[int] = []
        for index, row in enumerate(rows):
            name = row.job.name
            cells = row_cells(row, prefix=self.prefix, ascii_only=self.ascii_only)
            signature = _signature(cells)
            before = self._signatures.get(name)
            if before == signature:
                continue
            changed += (
                len(cells) if before is None else sum(1 for a, b in zip(before, signature, strict=False) if a != b)
            )
            self._cells[name], self._signatures[name] = cells, signature
            self._strips.pop(name, None)
            dirty.append(index)
        self._order = order
        self.cells_updated += changed
        if reshaped:
            self.virtual_size = Size(self.line_width, len(order) + 1)
            if selected in order:
                self.set_reactive(JobTable.cursor_row, order.index(selected))
            self.cursor_row = min(self.cursor_row, max(0, len(order) - 1))
            self.refresh()
        else:
            for index in dirty:
                self.refresh_line(index + 1)
        return changed

    # -- drawing ---------------------------------------------------------------------------------

    def _row_strip(self, name: str) -> Strip:
        strip = self._strips.get(name)
        if strip is None:
            segments = list(_line(self._cells[name], self.ascii_only).render(self.app.console))
            strip = self._strips[name] = Strip(segments, self.line_width).simplify()
        return strip

    def _header_strip(self) -> Strip:
        if self._header is None:
            line = _line([Text(label, end="") for _, label, _ in COLUMNS])
            style = self.get_component_rich_style("job-table--header")
            self._header = Strip([Segment(line.plain, style)], self.line_width)
        return self._header

    def on_resize(self) -> None:
        self._header = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base: Style = self.rich_style
        if y == 0:
            strip = self._header_strip()
        else:
            index = scroll_y + y - 1
            if index >= len(self._order):
                return Strip.blank(width, base)
            strip = self._row_strip(self._order[index])
            if index == self.cursor_row:
                strip = strip.apply_style(self.get_component_rich_style("job-table--cursor"))
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_style(base)

    # -- cursor ----------------------------------------------------------------------------------

    def validate_cursor_row(self, value: int) -> int:
        return min(max(0, value), max(0, len(self._order) - 1))

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.refresh_line(old + 1)
        self.refresh_line(new + 1)
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + visible:
            self.scroll_to(y=new - visible + 1, animate=False)
        self.post_message(self.RowHighlighted(self, self.selected_job))

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self._order):
            if index == self.cursor_row and event.chain > 1:
                self.action_select()
            self.cursor_row = index

    def action_cursor(self, delta: int) -> None:
        self.cursor_row += delta

    def action_page(self, direction: int) -> None:
        self.cursor_row += direction * max(1, self.size.height - 2)

    def action_jump(self, where: int) -> None:
        self.cursor_row = 0 if where == 0 else len(self._order) - 1

    def action_select(self) -> None:
        if self.selected_job is not None:
            self.post_message(self.RowSelected(self, self.selected_job))

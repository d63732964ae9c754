"""A virtual, line-API table of pairs: it holds only the ordered ids of the current filter and
fetches the rows it draws, a small page at a time, through an LRU cache.

Scrolling 100,000 rows costs the same as scrolling 100: a frame draws at most a screenful of
rows, and a page of rows is one primary-key query (well under a millisecond).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.safe_text import one_line

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from rich.style import Style
    from textual import events

    from core.store import Pair, Store

PAGE_SIZE = 64
CACHED_PAGES = 48
_QUESTION_PREVIEW = 400  # characters scrubbed per row: enough for any terminal width

STATUS_MARKS = {"pending": "·", "accepted": "✓", "rejected": "✗"}
STATUS_MARKS_ASCII = {"pending": ".", "accepted": "+", "rejected": "x"}


@dataclass(frozen=True)
class _Column:
    title: str
    width: int  # 0: takes the remaining width
    right: bool = False


COLUMNS = (
    _Column("", 1),
    _Column("id", 6, right=True),
    _Column("status", 10),
    _Column("kind", 4),
    _Column("score", 5, right=True),
    _Column("len", 5, right=True),
    _Column("flags", 10),
    _Column("topic", 14),
    _Column("question", 0),
)
MIN_QUESTION = 30
DROP_ORDER = ("topic", "kind", "score", "flags", "len")  # columns given up, in order, when the table is narrow


def _fit(text: str, width: int, right: bool = False, ellipsis: str = "…") -> str:
    """Exactly `width` cells: cut with an ellipsis or padded (wide characters counted as two)."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + ellipsis
    if right:
        return " " * (width - cell_len(text)) + text
    return set_cell_size(text, width)


def _short_length(n: int) -> str:
    return str(n) if n < 10_000 else f"{n / 1000:.0f}k"


class PairTable(ScrollView, can_focus=True):
    """Rows of pairs with a row cursor and a multi-selection; set the rows with `set_rows(ids)`."""

    DEFAULT_CSS = """
    PairTable { overflow-x: hidden; overflow-y: auto; scrollbar-size-vertical: 1; }
    PairTable > .pair-table--header { text-style: bold; color: $text-muted; }
    PairTable > .pair-table--cursor { background: $surface-lighten-2; }
    PairTable:focus > .pair-table--cursor { background: $primary 60%; text-style: bold; }
    PairTable > .pair-table--selected { background: $secondary 30%; }
    PairTable > .pair-table--accepted { color: $success; }
    PairTable > .pair-table--rejected { color: $error; }
    PairTable > .pair-table--pending { color: $text-muted; }
    PairTable > .pair-table--flagged { color: $warning; }
    PairTable > .pair-table--muted { color: $text-muted; }
    """
    COMPONENT_CLASSES = {
        "pair-table--header",
        "pair-table--cursor",
        "pair-table--selected",
        "pair-table--accepted",
        "pair-table--rejected",
        "pair-table--pending",
        "pair-table--flagged",
        "pair-table--muted",
    }

    BINDINGS = [
        Binding("down,j", "cursor_down", "Down", show=False, id="pair_table.down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="pair_table.up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="pair_table.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="pair_table.page_up"),
        Binding("home", "first", "First row", show=False, id="pair_table.first"),
        Binding("end", "last", "Last row", show=False, id="pair_table.last"),
        Binding(
            "space",
            "toggle_select",
            "Select",
            id="pair_table.toggle_select",
            tooltip="Add the row to the selection (or take it out) and move down",
        ),
    ]

    @dataclass
    class Highlighted(Message):
        """The cursor is on another pair (None: the table is empty)."""

        table: PairTable
        pair: Pair | None

        @property
        def control(self) -> PairTable:
            return self.table

    @dataclass
    class SelectionChanged(Message):
        table: PairTable
        count: int

        @property
        def control(self) -> PairTable:
            return self.table

    def __init__(
        self,
        store: Store,
        *,
        ascii_only: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.store = store
        self.ascii_only = ascii_only
        self.topic_names: dict[int, str] = {}
        self.placeholder = "no pairs"
        self._ids: list[int] = []
        self._index: dict[int, int] | None = None
        self._pages: LRUCache[int, list[Pair | None]] = LRUCache(CACHED_PAGES)
        self._cursor = 0
        self._selected: set[int] = set()
        self._last_highlighted: int | None = -1
        self._base_style: Style | None = None
        self._frame_widths: tuple[int, list[int]] | None = None

    # ---- data ------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> Sequence[int]:
        return self._ids

    @property
    def cursor_index(self) -> int:
        return self._cursor

    @property
    def cursor_pair_id(self) -> int | None:
        return self._ids[self._cursor] if self._ids else None

    @property
    def cursor_pair(self) -> Pair | None:
        return self.pair_at(self._cursor) if self._ids else None

    @property
    def selected(self) -> frozenset[int]:
        return frozenset(self._selected)

    def set_rows(self, ids: Sequence[int], *, keep: int | None = None) -> None:
        """Show these pair ids, in order. The cursor stays on pair `keep` if it is still listed,
        otherwise on the same row number. Cached rows are dropped (they may have changed)."""
        self._ids = list(ids)
        self._index = None
        self._pages.clear()
        if keep is not None:
            index = self._index_of(keep)
            if index is not None:
                self._cursor = index
        self._cursor = max(0, min(self._cursor, len(self._ids) - 1))
        self._update_virtual_size()
        self._scroll_cursor_into_view()
        self.refresh()
        self._announce()

    def remove_ids(self, pair_ids: Iterable[int]) -> None:
        """Drop rows (e.g. pairs that no longer match the filter); the cursor keeps its row number."""
        gone = set(pair_ids)
        if not gone:
            return
        self.set_rows([i for i in self._ids if i not in gone])

    def invalidate(self, *, announce: bool = True) -> None:
        """Forget cached rows and redraw (after the store changed under them); `announce` re-posts
        Highlighted so a detail view shows the fresh row."""
        self._pages.clear()
        self.refresh()
        if announce:
            self._announce(force=True)

    def pair_at(self, index: int) -> Pair | None:
        if not 0 <= index < len(self._ids):
            return None
        page_number = index // PAGE_SIZE
        page = self._pages.get(page_number)
        if page is None:
            page = self._load_page(page_number)
        return page[index - page_number * PAGE_SIZE]

    def _load_page(self, page_number: int) -> list[Pair | None]:
        start = page_number * PAGE_SIZE
        ids = self._ids[start : start + PAGE_SIZE]
        found = {p.id: p for p in self.store.pairs_by_ids(ids)}
        page: list[Pair | None] = [found.get(i) for i in ids]
        self._pages[page_number] = page
        return page

    def _index_of(self, pair_id: int) -> int | None:
        if self._index is None:
            self._index = {pid: i for i, pid in enumerate(self._ids)}
        return self._index.get(pair_id)

    # ---- selection -------------------------------------------------------------------------
    def clear_selection(self) -> None:
        if self._selected:
            self._selected.clear()
            self.refresh()
            self.post_message(self.SelectionChanged(self, 0))

    def action_toggle_select(self) -> None:
        pair_id = self.cursor_pair_id
        if pair_id is None:
            return
        if pair_id in self._selected:
            self._selected.discard(pair_id)
        else:
            self._selected.add(pair_id)
        self._refresh_row(self._cursor)
        self.post_message(self.SelectionChanged(self, len(self._selected)))
        self.action_cursor_down()

    # ---- cursor ----------------------------------------------------------------------------
    @property
    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_cursor(self, index: int) -> None:
        if not self._ids:
            return
        index = max(0, min(index, len(self._ids) - 1))
        if index == self._cursor:
            return
        old = self._cursor
        self._cursor = index
        if not self._scroll_cursor_into_view():
            self._refresh_row(old)
            self._refresh_row(index)
        self._announce()

    def _scroll_cursor_into_view(self) -> bool:
        """Scroll so the cursor row is visible; True when the view moved (and so repaints whole)."""
        top = round(self.scroll_y)
        body = self._body_height
        target = top
        if self._cursor < top:
            target = self._cursor
        elif self._cursor >= top + body:
            target = self._cursor - body + 1
        if target != top:
            self.scroll_to(y=target, animate=False, force=True)
            return True
        return False

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_page_down(self) -> None:
        body = self._body_height
        self.scroll_to(y=min(self.max_scroll_y, round(self.scroll_y) + body), animate=False, force=True)
        self.move_cursor(self._cursor + body)

    def action_page_up(self) -> None:
        body = self._body_height
        self.scroll_to(y=max(0, round(self.scroll_y) - body), animate=False, force=True)
        self.move_cursor(self._cursor - body)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._ids) - 1)

    def _announce(self, force: bool = False) -> None:
        pair_id = self.cursor_pair_id
        if force or pair_id != self._last_highlighted:
            self._last_highlighted = pair_id
            self.post_message(self.Highlighted(self, self.cursor_pair if pair_id is not None else None))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_cursor(round(self.scroll_y) + event.y - 1)

    # ---- rendering -------------------------------------------------------------------------
    def on_resize(self) -> None:
        self._update_virtual_size()

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._ids) + 1)

    def _refresh_row(self, index: int) -> None:
        y = index - round(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh_line(y + round(self.scroll_y))

    def _widths(self, width: int) -> list[int]:
        """Cell widths for this table width; 0 hides a column (narrow tables keep the question readable)."""
        if self._frame_widths is not None and self._frame_widths[0] == width:
            return self._frame_widths[1]
        result = self._compute_widths(width)
        self._frame_widths = (width, result)
        return result

    def _compute_widths(self, width: int) -> list[int]:
        widths = {c.title: c.width for c in COLUMNS}
        hidden: set[str] = set()

        def remaining() -> int:
            shown = [c for c in COLUMNS if c.title not in hidden]
            return width - sum(widths[c.title] for c in shown) - (len(shown) - 1)

        for title in DROP_ORDER:
            if remaining() >= MIN_QUESTION:
                break
            hidden.add(title)
        return [0 if c.title in hidden else (c.width or max(8, remaining())) for c in COLUMNS]

    def render_lines(self, crop: Region) -> list[Strip]:
        # the widget's Rich style walks every ancestor: work it out once per frame, not once per line
        self._base_style = self.rich_style
        self._frame_widths = None
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self._base_style if self._base_style is not None else self.rich_style
        if y == 0:
            header = " ".join(
                _fit(c.title, w, c.right) for c, w in zip(COLUMNS, self._widths(width), strict=False) if w
            )
            style = base + self.get_component_rich_style("pair-table--header")
            return Strip([Segment(header, style)]).adjust_cell_length(width, style)
        index = round(self.scroll_y) + y - 1
        if not self._ids:
            if y == 1:
                muted = base + self.get_component_rich_style("pair-table--muted")
                return Strip([Segment(_fit(f" {self.placeholder}", width), muted)])
            return Strip.blank(width, base)
        if index >= len(self._ids):
            return Strip.blank(width, base)
        return self._render_row(index, width, base)

    def _render_row(self, index: int, width: int, base: Style) -> Strip:
        pair = self.pair_at(index)
        pair_id = self._ids[index]
        row_style = base
        if index == self._cursor:
            row_style = base + self.get_component_rich_style("pair-table--cursor")
        selected = pair_id in self._selected
        if selected and index != self._cursor:
            row_style = row_style + self.get_component_rich_style("pair-table--selected")
        widths = self._widths(width)
        marks = STATUS_MARKS_ASCII if self.ascii_only else STATUS_MARKS
        if pair is None:  # deleted since the ids were read
            cells = [("*" if selected else " ", None), (str(pair_id), None), ("deleted", "pair-table--muted")]
            cells += [("", None)] * (len(COLUMNS) - 3)
        else:
            flags = pair.flags
            flag_text = ""
            if flags:
                first = str(flags[0].get("code", "?")) if isinstance(flags[0], dict) else "?"
                flag_text = f"{len(flags)} {first}" if len(flags) > 1 else first
            topic = self.topic_names.get(pair.topic_id, "") if pair.topic_id is not None else ""
            cells = [
                (("*" if self.ascii_only else "●") if selected else " ", None),
                (str(pair.id), None),
                (f"{marks.get(pair.status, '?')} {pair.status}", f"pair-table--{pair.status}"),
                ("ref" if pair.kind == "refusal" else "qa", "pair-table--muted"),
                (f"{pair.score:.1f}" if pair.score is not None else "-", None),
                (_short_length(len(pair.answer)), "pair-table--muted"),
                (one_line(flag_text), "pair-table--flagged" if flags else None),
                (one_line(topic[:80]), "pair-table--muted"),
                (one_line(pair.question[:_QUESTION_PREVIEW]), None),
            ]
        segments: list[Segment] = []
        for (text, component), column, cell_width in zip(cells, COLUMNS, widths, strict=False):
            if not cell_width:
                continue
            if segments:
                segments.append(Segment(" ", row_style))
            style = row_style
            if component and component in self.COMPONENT_CLASSES and index != self._cursor:
                style = row_style + self.get_component_rich_style(component, partial=True)
            segments.append(Segment(_fit(text, cell_width, column.right, "~" if self.ascii_only else "…"), style))
        return Strip(segments).adjust_cell_length(width, row_style)

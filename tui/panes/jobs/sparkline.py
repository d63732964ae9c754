"""A sparkline that stays cheap over SSH: line API, one style per run of cells (not per cell).

Textual's built-in Sparkline gives every cell its own colour, so each cell costs an SGR sequence
on the wire (textual-notes.md section 3.3: 82.7 KB per update for 20 sparklines). Here a row is
one Segment, or two when the most recent values are highlighted, and an ASCII ramp replaces the
block glyphs when `[ui] ascii` is on. `spark_text` gives the same glyphs as a Rich Text for table cells.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.text import Text
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.style import Style

BLOCKS = " ▁▂▃▄▅▆▇█"
ASCII_RAMP = " ._-~=+*#"


def bucketed(values: Sequence[float], width: int) -> list[float]:
    """At most `width` values: consecutive buckets averaged (non-finite values skipped)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if width <= 0 or not finite:
        return []
    if len(finite) <= width:
        return finite
    out = []
    size = len(finite) / width
    for i in range(width):
        chunk = finite[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


def spark_rows(
    values: Sequence[float],
    width: int,
    height: int = 1,
    *,
    ascii_only: bool = False,
    low: float | None = None,
    high: float | None = None,
) -> list[str]:
    """`height` strings of at most `width` glyphs, top row first, right-aligned to `width`."""
    ramp = ASCII_RAMP if ascii_only else BLOCKS
    levels = len(ramp) - 1
    points = bucketed(values, width)
    if not points:
        return [" " * max(0, width) for _ in range(height)]
    lo = min(points) if low is None else low
    hi = max(points) if high is None else high
    span = (hi - lo) or 1.0
    rows = []
    for y in range(height):
        from_bottom = height - 1 - y
        chars = []
        for v in points:
            filled = round((min(max(v, lo), hi) - lo) / span * (levels * height - 1)) + 1
            chars.append(ramp[min(max(filled - levels * from_bottom, 0), levels)])
        rows.append("".join(chars).rjust(width))
    return rows


def spark_text(
    values: Sequence[float],
    width: int,
    *,
    ascii_only: bool = False,
    style: str = "",
    recent: int = 0,
    recent_style: str = "bold",
) -> Text:
    """A one-row sparkline as Rich Text: one span for the whole run, plus one for the `recent` last cells."""
    row = spark_rows(values, width, ascii_only=ascii_only)[0]
    text = Text(row, style=style, no_wrap=True, end="")
    if recent > 0:
        text.stylize(recent_style, max(0, len(row) - recent))
    return text


class LeanSparkline(Widget):
    """Loss (or any series) as a sparkline; set `data` to a tuple of floats (a new tuple repaints)."""

    COMPONENT_CLASSES = {"lean-sparkline--recent"}
    DEFAULT_CSS = """
    LeanSparkline { height: 1; color: $primary; }
    LeanSparkline > .lean-sparkline--recent { color: $accent; text-style: bold; }
    """

    data: reactive[tuple[float, ...]] = reactive(tuple)
    recent: reactive[int] = reactive(0)
    """How many of the last cells to draw in the `--recent` style (e.g. the current epoch)."""

    def __init__(
        self,
        data: Sequence[float] = (),
        *,
        ascii_only: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.ascii_only = ascii_only
        self._cache: tuple[tuple, list[str]] | None = None
        self.set_reactive(LeanSparkline.data, tuple(data))

    def _rows(self) -> list[str]:
        width, height = self.size.width, max(1, self.size.height)
        key = (self.data, width, height, self.ascii_only)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, spark_rows(self.data, width, height, ascii_only=self.ascii_only))
        return self._cache[1]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        rows = self._rows()
        if y >= len(rows) or width <= 0:
            return Strip.blank(width, self.rich_style)
        row = rows[y]
        base: Style = self.rich_style
        cut = len(row) - min(self.recent, len(row)) if self.recent else len(row)
        segments = [Segment(row[:cut], base)] if cut else []
        if cut < len(row):
            segments.append(Segment(row[cut:], base + self.get_component_rich_style("lean-sparkline--recent")))
        return Strip(segments, width)

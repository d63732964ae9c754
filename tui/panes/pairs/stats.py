"""The stats strip over the Pairs pane: counts by status, the largest topics, and answer lengths."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from core.safe_text import one_line
from core.store.pairs import ANSWER_LENGTH_EDGES, PairStats

BARS = " ▁▂▃▄▅▆▇█"
BARS_ASCII = " .:-=+*#%"


def histogram_glyphs(counts: tuple[int, ...], ascii_only: bool = False) -> str:
    """One glyph per bucket, scaled to the largest; an empty bucket is a blank, a non-empty one never is."""
    ramp = BARS_ASCII if ascii_only else BARS
    top = max(counts, default=0)
    if top <= 0:
        return ramp[0] * len(counts)
    steps = len(ramp) - 1
    return "".join(ramp[0] if c == 0 else ramp[max(1, round(c / top * steps))] for c in counts)


def length_legend() -> str:
    """What the histogram's glyphs span: empty answers, then <100 characters, then doubling ranges."""
    return f"0→{ANSWER_LENGTH_EDGES[-1]}+ chars"


class PairStatsStrip(Widget):
    """Set `stats` (and `topic_names`) to redraw; `loading_text` shows while they are computed."""

    DEFAULT_CSS = "PairStatsStrip { color: $text; }"

    stats: reactive[PairStats | None] = reactive(None, layout=True)
    status_filter: reactive[str | None] = reactive(None)
    busy: reactive[str] = reactive("")

    def __init__(self, *, ascii_only: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.ascii_only = ascii_only
        self.topic_names: dict[int, str] = {}

    def render(self) -> Content:
        stats = self.stats
        if stats is None:
            return Content.styled(self.busy or "counting…", "$text-muted")
        parts: list[Content | str | tuple[str, str]] = []
        for status, style in (("pending", "$text"), ("accepted", "$success"), ("rejected", "$error")):
            count = stats.by_status.get(status, 0)
            label = f"{count:,} {status}"
            active = self.status_filter == status
            parts += [(label, f"{style} bold underline" if active else style), "  "]
        bar = "| " if self.ascii_only else "│ "
        parts += [(bar, "$text-muted")]
        if stats.by_topic:
            parts.append(("top ", "$text-muted"))
            for position, (topic_id, count) in enumerate(stats.by_topic[:4]):
                name = self.topic_names.get(topic_id, f"#{topic_id}") if topic_id is not None else "no topic"
                if position:
                    parts.append(" · ")
                parts += [one_line(name, 24), (f" {count:,}", "$text-muted")]
            parts.append("  ")
        parts += [
            (f"{bar}answer length ", "$text-muted"),
            (histogram_glyphs(stats.length_histogram, self.ascii_only), "$accent"),
            (f" ({length_legend()})", "$text-muted"),
        ]
        if self.busy:
            parts += ["  ", (self.busy, "$warning")]
        return Content.assemble(*parts)

"""The selected pair in full: wrapped question and answer, each flag explained, score and reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.content import Content
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget

from core.curation.lints import LINT_CODES
from core.curation.service import LOW_QUALITY
from core.curation.types import LEAK_CODE
from tui.text import safe, safe_line

if TYPE_CHECKING:
    from textual.geometry import Region

    from core.store import Pair

DETAIL_LIMIT = 20_000  # characters of a field drawn; the rest is counted, not shown (e to edit it all)
FLAG_EXPLANATIONS: dict[str, str] = {
    **LINT_CODES,
    LEAK_CODE: "the question nearly duplicates a held-out evaluation question (it would leak into training)",
    "duplicate_exact": "the same question as another pair, after normalisation (d resolves the clusters)",
    "duplicate_near": "nearly the same question as another pair (d resolves the clusters)",
    LOW_QUALITY: "the judge's quality score is below [curation] min_quality",
}


def _field(text: str) -> Content:
    if len(text) <= DETAIL_LIMIT:
        return safe(text) if text.strip() else Content.styled("(empty)", "$text-muted italic")
    more = len(text) - DETAIL_LIMIT
    return Content.assemble(
        safe(text[:DETAIL_LIMIT]),
        (f"\n… {more:,} more characters not shown (e opens the editor)", "$text-muted italic"),
    )


def _score_lines(score: float | None, detail: Mapping[str, Any] | None) -> list[Content]:
    if score is None and not detail:
        return [Content.styled("not scored yet", "$text-muted")]
    lines = [Content.assemble(("score ", "bold"), f"{score:.1f}" if score is not None else "-")]
    if detail:
        reason = detail.get("reason")
        if reason:
            lines.append(Content.assemble(("reason ", "bold"), safe_line(reason, 400)))
        parts = [f"{safe_line(k, 30).plain} {v:g}" for k, v in _numbers(detail).items()]
        if parts:
            lines.append(Content.assemble(("sub-scores ", "bold"), safe_line(" · ".join(parts), 300)))
    return lines


def _numbers(detail: Mapping[str, Any]) -> dict[str, float]:
    found: dict[str, float] = {}
    for key, value in detail.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[str(key)] = float(value)
        elif isinstance(value, Mapping) and key in ("subscores", "sub_scores", "scores"):
            found.update(_numbers(value))
    return found


def describe_pair(pair: Pair, topic_name: str = "") -> Content:
    """Everything about one pair as literal, wrapped Content."""
    header = f"#{pair.id} · {pair.status} · {'refusal' if pair.kind == 'refusal' else 'Q/A'}"
    if topic_name:
        header += f" · {topic_name}"
    if pair.tags:
        header += " · tags: " + ", ".join(str(t) for t in pair.tags)
    parts: list[Content | str | tuple[str, str]] = [
        Content.styled(safe_line(header, 300).plain, "bold"),
        "\n\n",
        ("Question", "bold $accent"),
        "\n",
        _field(pair.question),
        "\n\n",
        (f"Answer ({len(pair.answer):,} characters)", "bold $accent"),
        "\n",
        _field(pair.answer),
        "\n\n",
    ]
    if pair.flags:
        parts += [(f"Flags ({len(pair.flags)})", "bold $warning"), "\n"]
        for flag in pair.flags:
            code = str(flag.get("code", "?")) if isinstance(flag, Mapping) else "?"
            message = str(flag.get("message", "")) if isinstance(flag, Mapping) else str(flag)
            parts += [("! ", "$warning"), (safe_line(code, 40).plain, "bold")]
            if code in FLAG_EXPLANATIONS:
                parts += [Content.styled(f" — {FLAG_EXPLANATIONS[code]}", "$text-muted")]
            if message:
                parts += ["\n    ", safe_line(message, 500)]
            parts.append("\n")
        parts.append("\n")
    else:
        parts += [Content.styled("No flags (c runs the lints and dedup)", "$text-muted"), "\n\n"]
    parts += [("Quality", "bold $accent"), "\n"]
    for line in _score_lines(pair.score, pair.score_detail):
        parts += [line, "\n"]
    return Content.assemble(*parts)


class PairDetail(Widget, can_focus=False):
    """Shows one pair; `show(pair)` replaces what is shown, `show(None)` clears it; `scroll_page(±1)` pages.

    Line API without a virtual size: the text is wrapped once per pair (and width), and a new pair
    repaints only this region, with no layout pass over the screen. Hidden lines are announced on
    the first/last line instead of by a scrollbar.
    """

    DEFAULT_CSS = """
    PairDetail { padding: 0 1; }
    PairDetail > .pair-detail--more { color: $accent; text-style: italic; }
    """
    COMPONENT_CLASSES = {"pair-detail--more"}

    def __init__(self, *, ascii_only: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.ascii_only = ascii_only
        self._content: Content = Content.styled("No pair selected", "$text-muted")
        self._strips: list[Strip] = []
        self._wrapped_width = -1
        self._top = 0
        self._base_style = RichStyle()

    def show(self, pair: Pair | None, topic_name: str = "") -> None:
        self._content = (
            describe_pair(pair, topic_name) if pair is not None else Content.styled("No pair selected", "$text-muted")
        )
        self._wrapped_width = -1
        self._top = 0
        self.refresh()

    def scroll_page(self, direction: int) -> None:
        self._rewrap()
        page = max(1, self.size.height - 2)
        last_top = max(0, len(self._strips) - self.size.height + 1)
        top = max(0, min(self._top + direction * page, last_top))
        if top != self._top:
            self._top = top
            self.refresh()

    def _rewrap(self) -> None:
        width = self.size.width
        if width != self._wrapped_width:
            self._wrapped_width = width
            self._strips = Visual.to_strips(self, self._content, width, None, self.visual_style) if width > 0 else []

    def render_lines(self, crop: Region) -> list[Strip]:
        self._base_style = self.rich_style  # once per frame: it walks every ancestor
        return super().render_lines(crop)

    def _note(self, text: str, width: int) -> Strip:
        style = self._base_style + self.get_component_rich_style("pair-detail--more", partial=True)
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)

    def render_line(self, y: int) -> Strip:
        self._rewrap()
        width, height = self.size
        above = self._top
        below = len(self._strips) - (self._top + height)
        if y == 0 and above > 0:
            return self._note(f"{'^' if self.ascii_only else '↑'} {above + 1} lines above ([ pages up)", width)
        if y == height - 1 and below > 0:
            return self._note(f"{'v' if self.ascii_only else '↓'} {below + 1} more lines (] pages down)", width)
        index = self._top + y
        if index >= len(self._strips):
            return Strip.blank(width, self._base_style)
        return self._strips[index].extend_cell_length(width, self._base_style)

    @property
    def text(self) -> str:
        """What is shown, as plain text (for tests)."""
        return self._content.plain

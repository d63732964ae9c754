"""Two answers side by side, scrolled in step: a title line (name, length, latency), then the text, literally."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tui.text import safe, safe_line

if TYPE_CHECKING:
    from textual.app import ComposeResult

ANSWER_LIMIT = 30_000  # characters drawn per answer; the rest is counted, not shown


@dataclass(frozen=True)
class AnswerSide:
    """What one column shows. `text` and `error` are untrusted (model output, service errors)."""

    title: str
    text: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    tokens: int | None = None
    finish_reason: str | None = None
    note: str = ""  # shown when there is neither text nor error ("waiting for the answer", ...)

    def meta(self) -> str:
        parts: list[str] = []
        if self.text is not None:
            parts.append(f"{len(self.text):,} chars")
        if self.tokens is not None:
            parts.append(f"{self.tokens:,} tokens")
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms / 1000:.1f} s")
        if self.finish_reason and self.finish_reason != "stop":
            parts.append(f"stopped: {self.finish_reason}")
        return " · ".join(parts)


def _body(side: AnswerSide) -> Content:
    if side.error is not None and side.text is None:
        return Content.assemble(("failed: ", "bold $text-error"), safe(side.error))
    if side.text is None:
        return Content.styled(side.note or "no answer", "$text-muted italic")
    if not side.text.strip():
        return Content.styled("(empty answer)", "$text-muted italic")
    if len(side.text) <= ANSWER_LIMIT:
        return safe(side.text)
    more = len(side.text) - ANSWER_LIMIT
    return Content.assemble(
        safe(side.text[:ANSWER_LIMIT]), (f"\n… {more:,} more characters not shown", "$text-muted italic")
    )


class _AnswerScroll(VerticalScroll):
    """The pane's keys scroll both columns together, so a column never takes the focus (nor has keys)."""

    can_focus = False
    inherit_bindings = False


class CompareAnswers(Horizontal):
    """Focusable holder of the two columns; it has no keys of its own (the pane's keys apply)."""

    DEFAULT_CSS = """
    CompareAnswers:focus .answer-title { text-style: bold underline; }
    CompareAnswers .answer-column { width: 1fr; height: 1fr; padding: 0 1 0 0; }
    CompareAnswers .answer-column:last-of-type { border-left: vkey $panel; padding: 0 0 0 1; }
    CompareAnswers .answer-title { height: 1; background: $boost; }
    CompareAnswers .answer-scroll { height: 1fr; scrollbar-size-vertical: 1; }
    CompareAnswers .answer-text { width: 1fr; height: auto; }
    """
    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._syncing = False

    def compose(self) -> ComposeResult:
        for side in ("left", "right"):
            with Vertical(classes="answer-column"):
                yield Static("", id=f"answer-{side}-title", classes="answer-title")
                with _AnswerScroll(id=f"answer-{side}-scroll", classes="answer-scroll"):
                    yield Static("", id=f"answer-{side}-text", classes="answer-text")

    def on_mount(self) -> None:
        left, right = self.scrolls
        self.watch(left, "scroll_y", partial(self._follow, right), init=False)
        self.watch(right, "scroll_y", partial(self._follow, left), init=False)

    @property
    def scrolls(self) -> tuple[VerticalScroll, VerticalScroll]:
        return (
            self.query_one("#answer-left-scroll", VerticalScroll),
            self.query_one("#answer-right-scroll", VerticalScroll),
        )

    def _follow(self, other: VerticalScroll, value: float) -> None:
        """Keep the other column at the same line (mouse scrolling moves one column only)."""
        if self._syncing:
            return
        self._syncing = True
        try:
            other.scroll_to(y=value, animate=False, immediate=True)
        finally:
            self._syncing = False

    def show(self, left: AnswerSide, right: AnswerSide) -> None:
        for name, side in (("left", left), ("right", right)):
            meta = side.meta()
            title = Content.assemble(
                (safe_line(side.title, 80).plain, "bold $accent"), (f"   {meta}" if meta else "", "$text-muted")
            )
            self.query_one(f"#answer-{name}-title", Static).update(title)
            self.query_one(f"#answer-{name}-text", Static).update(_body(side))
        self.scroll_both(home=True)

    def clear(self, message: str) -> None:
        self.query_one("#answer-left-title", Static).update("")
        self.query_one("#answer-right-title", Static).update("")
        self.query_one("#answer-left-text", Static).update(Content.styled(message, "$text-muted"))
        self.query_one("#answer-right-text", Static).update("")

    def scroll_both(self, pages: float = 0.0, *, home: bool = False) -> None:
        """Move both columns to the same line: `pages` screens down (negative: up), or to the top."""
        left, right = self.scrolls
        if home:
            target = 0.0
        else:
            step = max(1, left.scrollable_content_region.height - 1)
            target = max(0.0, max(left.scroll_y, right.scroll_y) + pages * step)
        self._syncing = True
        try:
            for column in (left, right):
                column.scroll_to(y=target, animate=False, immediate=True)
        finally:
            self._syncing = False

    def texts(self) -> tuple[str, str]:
        """What the two columns show, as plain text (for tests and copy)."""
        return (
            str(self.query_one("#answer-left-text", Static).content),
            str(self.query_one("#answer-right-text", Static).content),
        )

"""One generated answer: a status line and the text as it streams in, shown literally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from tui.text import safe

if TYPE_CHECKING:
    from textual.app import ComposeResult

TEXT_LIMIT = 20_000  # characters drawn; the rest is counted


class SampleView(VerticalScroll, can_focus=True):
    """enter / space picks this answer, t calls a tie between the two sides; up/down scroll."""

    DEFAULT_CSS = """
    SampleView {
        height: 1fr;
        width: 1fr;
        border: round $panel;
        padding: 0 1;
    }
    SampleView:focus {
        border: round $accent;
    }
    SampleView.-picked {
        border: double $success;
    }
    SampleView > .sample-header {
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("enter,space", "pick", "Pick this answer", id="sample.pick"),
        Binding("t", "tie", "Tie", id="sample.tie"),
    ]

    @dataclass
    class Picked(Message):
        view: SampleView
        tie: bool = False

        @property
        def control(self) -> SampleView:
            return self.view

    def __init__(self, *, title: str, slot: str, idx: int, sample_id: int, token_cap: int = 0) -> None:
        super().__init__(id=f"sample-{sample_id}", classes="sample-view")
        self.heading = title
        self.token_cap = token_cap  # the event's answer cap this sample ran under (0 = none)
        self.slot = slot
        self.idx = idx
        self.sample_id = sample_id
        self.text = ""
        self.done = False
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.latency_ms: float | None = None
        self.judge_score: float | None = None
        self.picked = False
        self.header = Static(self._header(), classes="sample-header")
        self.body = Static(Content.styled("waiting for the first token…", "$text-muted italic"), classes="sample-body")
        self.border_title = title

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.body

    def show(
        self,
        text: str,
        *,
        done: bool = False,
        finish_reason: str | None = None,
        error: str | None = None,
        latency_ms: float | None = None,
    ) -> None:
        self.text, self.done = text, done
        self.finish_reason, self.error, self.latency_ms = finish_reason, error, latency_ms
        if len(text) <= TEXT_LIMIT:
            body = safe(text)
        else:
            body = Content.assemble(
                safe(text[:TEXT_LIMIT]), (f"\n… {len(text) - TEXT_LIMIT:,} more characters", "$text-muted italic")
            )
        if error:
            body = Content.assemble(body, ("\n" if text else "", ""), safe(error, "$text-error"))
        self.body.update(body)
        self.header.update(self._header())

    def mark(self, *, picked: bool | None = None, judge_score: float | None = None) -> None:
        if picked is not None:
            self.picked = picked
            self.set_class(picked, "-picked")
        if judge_score is not None:
            self.judge_score = judge_score
        self.header.update(self._header())

    def _header(self) -> Content:
        words = len(self.text.split())
        if not self.done:
            state = ("streaming…", "$accent") if self.text else ("waiting…", "$text-muted")
        elif self.finish_reason == "stop":
            state = ("done", "$success")
        elif self.finish_reason == "length":
            cut = f"cut at the {self.token_cap}-token cap" if self.token_cap else "cut at max tokens"
            state = (cut, "$warning")
        else:
            state = (self.finish_reason or "?", "$text-error")
        parts: list[tuple[str, str] | str | Content] = [state, f" · {words} words · {len(self.text)} chars"]
        if self.latency_ms is not None:
            parts.append(f" · {self.latency_ms / 1000:.1f} s")
        if self.judge_score is not None:
            parts.append((f" · judge {self.judge_score:.1f}", "$accent"))
        if self.picked:
            parts.append((" · ★ picked", "$success bold"))
        return Content.assemble(*parts)

    def action_pick(self) -> None:
        self.post_message(self.Picked(self))

    def action_tie(self) -> None:
        self.post_message(self.Picked(self, tie=True))

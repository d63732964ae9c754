"""The round countdown line: time left, the question, and what was handed in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from tui.text import safe_line

if TYPE_CHECKING:
    from core.playground.rounds import RoundClock

WARNING_SECONDS = 10.0


class RoundTimer(Static):
    """Shows a RoundClock; the owner calls `show()` on each tick (it keeps no timer of its own)."""

    DEFAULT_CSS = """
    RoundTimer {
        height: 1;
        width: 1fr;
    }
    RoundTimer.-running { color: $text; }
    RoundTimer.-warning { color: $warning; text-style: bold; }
    RoundTimer.-expired { color: $text-error; text-style: bold; }
    RoundTimer.-submitted { color: $success; }
    RoundTimer.-idle { color: $text-muted; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.state = "idle"
        self._shown: tuple[str, str] | None = None

    def show(self, clock: RoundClock | None, question: str = "", note: str = "") -> None:
        if clock is None or not clock.started:
            state = "idle"
            line = Content.styled(
                f"round: {clock.label() if clock else '1:00'} · enter a question to start the clock", ""
            )
        else:
            if clock.submitted:
                state = "submitted"
                head = f"round: handed in with {clock.label()} left" if clock.in_time else "round: handed in late"
            elif clock.expired:
                state = "expired"
                head = "round: time is up 0:00"
            else:
                state = "warning" if clock.remaining() <= WARNING_SECONDS else "running"
                head = f"round: {clock.label()} left"
            line = Content.assemble((head, "bold"), " · ", safe_line(question, 80))
        if note:
            line = Content.assemble(line, " · ", safe_line(note, 80))
        if (state, line.plain) == self._shown:  # ticks that change nothing draw nothing
            return
        self._shown = (state, line.plain)
        for name in ("idle", "running", "warning", "expired", "submitted"):
            self.set_class(name == state, f"-{name}")
        self.state = state
        self.update(line)

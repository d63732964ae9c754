"""One-line status bar: session, AWS identity, LLM profile, counts."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from core.safe_text import one_line


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    StatusBar.-offline { color: $text-warning; }
    """

    session: reactive[str] = reactive("")
    identity: reactive[str] = reactive("checking AWS…")
    llm: reactive[str] = reactive("")
    counts: reactive[dict[str, Any]] = reactive(dict, always_update=True)
    extra: reactive[str] = reactive("")
    mode: reactive[str] = reactive("")  # the account mode: api or console

    def __init__(self, *, ascii_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ascii_only = ascii_only

    # When the line is too narrow, parts go in this order (the session and the AWS state stay).
    DROP_ORDER = ("llm", "topics", "extra", "jobs", "pairs", "mode")

    def render(self) -> Content:
        counts = self.counts or {}
        pairs = counts.get("pairs", {})
        jobs = counts.get("jobs", {})
        running = sum(v for k, v in jobs.items() if k in ("InProgress", "Pending", "Stopping"))
        parts = {
            "session": f"session {one_line(self.session, 24)}",
            **({"mode": f"{self.mode} mode"} if self.mode else {}),
            "identity": one_line(self.identity, 48),
            "llm": f"llm {one_line(self.llm, 28)}",
            "topics": f"topics {counts.get('topics', 0)}",
            "pairs": f"pairs {sum(pairs.values())} ({pairs.get('accepted', 0)} ok)",
            "jobs": f"jobs {running} running",
        }
        if self.extra:
            parts["extra"] = one_line(self.extra, 40)
        separator = " | " if self.ascii_only else " │ "
        width = self.content_region.width
        for name in self.DROP_ORDER:
            if not width or len(separator.join(parts.values())) <= width:
                break
            parts.pop(name, None)
        return Content(separator.join(parts.values()))

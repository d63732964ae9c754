"""The safe-text helper every pane uses for untrusted strings: scrubbed and never parsed as markup."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content

from core.safe_text import one_line, scrub


def safe(text: object, style: str = "") -> Content:
    """Untrusted text as a Textual Content (for Static, Label, notify, ...): literal, no control characters."""
    return Content.styled(scrub(text), style) if style else Content(scrub(text))


def safe_line(text: object, limit: int | None = None, style: str = "") -> Content:
    value = one_line(text, limit)
    return Content.styled(value, style) if style else Content(value)


def safe_rich(text: object, style: str = "", limit: int | None = None) -> Text:
    """Untrusted text as a Rich Text (for DataTable cells, Tree labels, RichLog): literal, no control characters."""
    value = one_line(text, limit) if limit is not None else scrub(text)
    return Text(value, style=style, no_wrap=limit is not None, end="")

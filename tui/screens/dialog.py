"""The frame every small modal dialog shares: a body over the dimmed app, with its title, hint and error lines."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """Compose the content inside `Vertical(classes="dialog-body")` (add `wide` for forms)."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
        background: $background 60%;
    }
    Dialog > .dialog-body {
        width: 70;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    Dialog > .dialog-body.wide {
        width: 100;
    }
    Dialog .dialog-body TextArea {
        height: 8;
    }
    Dialog .row {
        height: auto;
    }
    Dialog .row Label {
        padding: 1 1 0 1;
    }
    Dialog .row Input {
        width: 10;
    }
    Dialog .title {
        text-style: bold;
    }
    Dialog .hint {
        color: $text-muted;
    }
    Dialog .error {
        color: $text-error;
    }
    """

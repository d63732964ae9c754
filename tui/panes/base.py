"""Base of the five panes: a titled frame that knows whether it is visible."""

from __future__ import annotations

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from core.config import Config
from core.store import Store


class Pane(Vertical):
    """A pane gets the session store and config; it pauses its timers while hidden."""

    PANE_ID = ""
    TITLE = ""

    def __init__(self, store: Store, config: Config, **kwargs) -> None:
        super().__init__(id=f"pane-{self.PANE_ID}", **kwargs)
        self.store = store
        self.config = config
        self.border_title = self.TITLE

    def focus_first(self) -> None:
        """Put the keyboard focus on the pane's first focusable widget, if any."""
        for widget in self.query("*"):
            if widget.focusable:
                widget.focus()
                return

    def pane_shown(self) -> None:
        """Called when the pane becomes the active one."""

    def pane_hidden(self) -> None:
        """Called when another pane becomes active."""


class PlannedPane(Pane):
    """A pane whose feature is not built yet: it says what it will do and what it needs."""

    PLAN = ""
    NEEDS = ""

    def compose(self):
        yield Static(Content(self.PLAN), classes="plan")
        yield Static(Content.styled(f"Needs: {self.NEEDS}", "$text-muted"), classes="needs")

"""Base of the five panes: a titled frame that knows whether it is visible."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.containers import Vertical

if TYPE_CHECKING:
    from core.config import Config
    from core.store import Store


class Pane(Vertical):
    """A pane gets the session store and config; it pauses its timers while hidden."""

    DEFAULT_CSS = """
    Pane {
        border: round $panel;
        border-title-color: $text-muted;
        padding: 0 1;
        height: 1fr;
    }
    Pane:focus-within {
        border: round $primary;
        border-title-color: $primary;
    }
    Pane .pane-status {
        height: auto;
        max-height: 3;
        color: $text-muted;
        border-top: solid $panel;
    }
    """
    PANE_ID: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    STYLESHEET: ClassVar[str] = ""
    """The pane's layout rules: a .tcss file beside the pane's module, read by the app just before the pane
    first mounts (parsing every pane's CSS at start-up was a good part of it)."""

    def __init__(self, store: Store, config: Config, **kwargs) -> None:
        super().__init__(id=f"pane-{self.PANE_ID}", **kwargs)
        self.store = store
        self.config = config
        self.border_title = self.TITLE

    @classmethod
    def stylesheet_path(cls) -> Path | None:
        module_file = sys.modules[cls.__module__].__file__
        if not cls.STYLESHEET or module_file is None:
            return None
        return Path(module_file).parent / cls.STYLESHEET

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

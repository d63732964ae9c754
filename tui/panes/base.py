"""Base of the five panes: a titled frame that knows whether it is visible."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.containers import Vertical

if TYPE_CHECKING:
    from textual.widget import Widget

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

    def focus_target(self) -> Widget | None:
        """The widget that takes the keyboard focus when the pane is shown: its first focusable one."""
        for widget in self.query("*"):
            if widget.focusable:
                return widget
        return None

    def focus_first(self) -> None:
        """Focus the pane's focus target now, not on the next turn of the message loop as `Widget.focus` does:
        a key typed right after the pane key (over SSH keys arrive in bursts) must reach this pane, not the
        hidden one before it."""
        target = self.focus_target()
        if target is not None and target.focusable:
            self.screen.set_focus(target)

    def pane_shown(self) -> None:
        """Called when the pane becomes the active one."""

    def pane_hidden(self) -> None:
        """Called when another pane becomes active."""

"""One-line title bar; in demo mode it says so, loudly."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from tui.keys import hint
from tui.panes import PANES


class TitleBar(Widget):
    DEFAULT_CSS = """
    TitleBar { height: 1; background: $primary-background; color: $text; padding: 0 1; }
    TitleBar.-demo { background: $warning-darken-2; color: $text; text-style: bold; }
    """

    def __init__(self, demo: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.demo = demo
        self.set_class(demo, "-demo")
        self._keys = ""

    def on_mount(self) -> None:
        panes = hint(
            self, *((f"pane.{pane_id}", title) for pane_id, title in PANES.items()), separator="  ", joiner=" "
        )
        self._keys = "  ·  ".join(
            (panes, hint(self, ("app.help", "help"), joiner=" "), hint(self, ("app.quit", "quit"), joiner=" "))
        )
        self.refresh()

    def render(self) -> Content:
        label = "tunedeck"
        if self.demo:
            label += "  ·  DEMO - emulated AWS and LLM"
        return Content(f"{label}  ·  {self._keys}")

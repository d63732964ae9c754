"""One-line title bar; in demo mode it says so, loudly."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget


class TitleBar(Widget):
    DEFAULT_CSS = """
    TitleBar { height: 1; background: $primary-background; color: $text; padding: 0 1; }
    TitleBar.-demo { background: $warning-darken-2; color: $text; text-style: bold; }
    """

    def __init__(self, demo: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.demo = demo
        self.set_class(demo, "-demo")

    def render(self) -> Content:
        label = "tunedeck"
        if self.demo:
            label += "  ·  DEMO - emulated AWS and LLM"
        return Content(label + "  ·  1 Topics  2 Pairs  3 Jobs  4 Compare  5 Playground  ·  F1 help  ·  ctrl+q quit")

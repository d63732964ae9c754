"""The bottom line of key hints: the focused widget's shown bindings, as one widget.

Textual's Footer mounts a widget per key and recomposes them all whenever focus moves; on a
screen with twenty hints that was the largest single cost of the first frame, and it repeats on
every focus change over SSH. This draws the same hints (and the palette key at the right) as one
line of text, redrawn when the screen's bindings change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen


class KeyBar(Widget, can_focus=False):
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--disabled"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyBar > .key-bar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .key-bar--description {
        color: $footer-description-foreground;
    }
    KeyBar > .key-bar--disabled {
        color: $text-disabled;
    }
    """

    def __init__(self, *, ascii_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ascii_only = ascii_only
        self._line: tuple[int, Text] | None = None  # (width, line) until the bindings change

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is self.screen:
            self._line = None
            self.refresh()

    def hints(self) -> list[tuple[str, str, bool]]:
        """(key as displayed, description, enabled) for each shown binding, one per action."""
        app = self.app
        palette_key = app.COMMAND_PALETTE_BINDING if app.ENABLE_COMMAND_PALETTE else None
        seen: set[str] = set()
        rows = []
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.show or key == palette_key or binding.action in seen:
                continue
            seen.add(binding.action)
            rows.append((app.get_key_display(binding), binding.description, active.enabled))
        return rows

    def palette_hint(self) -> tuple[str, str] | None:
        app = self.app
        if not app.ENABLE_COMMAND_PALETTE:
            return None
        active = self.screen.active_bindings.get(app.COMMAND_PALETTE_BINDING)
        if active is None:
            return None
        return app.get_key_display(active.binding), active.binding.description

    def render(self) -> Text:
        width = self.size.width
        if self._line is None or self._line[0] != width:
            self._line = (width, self._build(width))
        return self._line[1]

    def _build(self, width: int) -> Text:
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        text_style = self.get_component_rich_style("key-bar--description", partial=True)
        off_style = self.get_component_rich_style("key-bar--disabled", partial=True)
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        for key, description, enabled in self.hints():
            line.append(f" {key} ", key_style if enabled else off_style)
            line.append(f"{description} ", text_style if enabled else off_style)
        palette = self.palette_hint()
        if palette is not None:
            tail = Text.assemble(
                "|" if self.ascii_only else "▏", (f"{palette[0]} ", key_style), (f"{palette[1]} ", text_style)
            )
            room = width - tail.cell_len
            if line.cell_len > room:
                line.truncate(max(0, room), overflow="ellipsis")
            line.pad_right(max(0, room - line.cell_len))
            line.append_text(tail)
        return line

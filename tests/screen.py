"""What a running Textual app's screen shows, as plain text, read through the public `App.export_screenshot`.

Shared by the Pilot tests and tools/screenshots.py. The SVG that Rich exports places each run of
text at `x = column * char_width` inside a clip path named for its row; reading those back gives
the rows without reaching into Textual's private compositor.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from rich.cells import cell_len

if TYPE_CHECKING:
    from textual.app import App

_TEXT_RUN = re.compile(
    r'<text class="[^"]*" x="(?P<x>[\d.]+)" y="[\d.]+" textLength="(?P<length>[\d.]+)" '
    r'clip-path="url\(#[\w-]+-line-(?P<row>\d+)\)">(?P<text>[^<]*)</text>'
)


def screen_lines(app: App[object]) -> list[str]:
    """One string per terminal row, padded to the screen's width (modal screens include what lies under them)."""
    width, height = app.size
    runs: list[list[tuple[int, str]]] = [[] for _ in range(height)]
    char_width = 0.0
    for match in _TEXT_RUN.finditer(app.export_screenshot()):
        raw = html.unescape(match["text"]).replace("\xa0", " ")
        if not char_width:
            char_width = float(match["length"]) / len(raw)  # Rich sets textLength to char_width * len(text)
        text = raw.rstrip("\n")  # the run that ends a row carries its newline
        runs[int(match["row"])].append((round(float(match["x"]) / char_width), text))
    lines = []
    for row in runs:
        line, cells = "", 0
        for column, text in sorted(row):
            line += " " * (column - cells) + text
            cells = column + cell_len(text)
        lines.append(line + " " * (width - cells))
    return lines


def screen_text(app: App[object]) -> str:
    """The whole screen, rows joined by newlines."""
    return "\n".join(screen_lines(app))

"""The five panes, in the order of the loop: id -> title and where the class lives.

A pane's module is imported the first time the pane is shown, so start-up pays only for the first one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.panes.base import Pane

PANE_SPECS: dict[str, tuple[str, str, str]] = {
    "topics": ("Topics", "tui.panes.topics.pane", "TopicsPane"),
    "pairs": ("Pairs", "tui.panes.pairs.pane", "PairsPane"),
    "jobs": ("Jobs", "tui.panes.jobs.pane", "JobsPane"),
    "compare": ("Compare", "tui.panes.compare.pane", "ComparePane"),
    "playground": ("Playground", "tui.panes.playground.pane", "PlaygroundPane"),
}
PANES: dict[str, str] = {pane_id: spec[0] for pane_id, spec in PANE_SPECS.items()}
FIRST_PANE = "topics"


def pane_class(pane_id: str) -> type[Pane]:
    _, module, name = PANE_SPECS[pane_id]
    pane: type[Pane] = getattr(importlib.import_module(module), name)
    return pane

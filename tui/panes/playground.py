"""The Playground pane."""
from __future__ import annotations

from tui.panes.base import PlannedPane


class PlaygroundPane(PlannedPane):
    PANE_ID = "playground"
    TITLE = "Playground"
    PLAN = 'Rehearse the final round: edit the system prompt, temperature and top_p against your fine-tuned endpoint under a 60-second timer, and compare prompt versions.'
    NEEDS = 'a deployed fine-tuned endpoint (or any chat target).'

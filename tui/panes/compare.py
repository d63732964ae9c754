"""The Compare pane."""
from __future__ import annotations

from tui.panes.base import PlannedPane


class ComparePane(PlannedPane):
    PANE_ID = "compare"
    TITLE = "Compare"
    PLAN = 'Ask two targets the same held-out questions side by side; an LLM judge scores them in both orders with a league score and its interval; cast blind votes.'
    NEEDS = 'a deployed endpoint or an OpenAI-compatible/Bedrock model, and the judge LLM profile.'

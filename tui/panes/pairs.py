"""The Pairs pane."""
from __future__ import annotations

from tui.panes.base import PlannedPane


class PairsPane(PlannedPane):
    PANE_ID = "pairs"
    TITLE = "Pairs"
    PLAN = 'Preview generated question/answer pairs, accept or reject them with the keyboard, resolve duplicate clusters, read lint flags and quality scores, and export a JumpStart dataset to S3.'
    NEEDS = 'the generator and judge LLM profiles; an S3 bucket ([aws] s3_bucket) for export.'

"""The Jobs pane."""
from __future__ import annotations

from tui.panes.base import PlannedPane


class JobsPane(PlannedPane):
    PANE_ID = "jobs"
    TITLE = "Jobs"
    PLAN = 'Build a hyperparameter sweep, queue it against your instance quotas, watch train and eval loss live, spot overfitting, compare runs and deploy the best model.'
    NEEDS = 'AWS credentials, a SageMaker execution role ([aws] role_arn) and training instance quota.'

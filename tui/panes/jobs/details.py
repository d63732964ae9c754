"""Everything about one training job: status and timings, FailureReason, hyperparameters (as sent),
channels, per-epoch losses and the overfitting verdict. Every value is shown literally."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from core.safe_text import scrub
from tui.keys import hint
from tui.panes.jobs.table import format_seconds, status_label

if TYPE_CHECKING:
    from textual.app import ComposeResult


def _decoded(value: Any) -> str:
    """Hyperparameters in the request are JSON-encoded strings (as the SDK sends them)."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    return str(value)


def detail_text(row: Any) -> Text:
    """The details of a core.training.jobs.JobRow as one literal Rich Text."""
    job = row.job
    text = Text(end="")

    def heading(title: str) -> None:
        text.append(f"\n{title}\n", style="bold")

    def line(label: str, value: Any, style: str = "") -> None:
        text.append(f"  {label}: ", style="dim")
        text.append(scrub(value), style=style)
        text.append("\n")

    text.append(scrub(job.name), style="bold")
    text.append(f"   {status_label(job)}\n")
    line("model", f"{job.model_id} {job.model_version}")
    line("instance", job.instance_type)
    line("elapsed", format_seconds(row.elapsed_s))
    if job.is_running:
        line("time left", format_seconds(row.eta_s))
    line("cost so far", "-" if row.cost_usd is None else f"${row.cost_usd:,.2f}")
    if getattr(row, "spot", ""):
        request = job.request or {}
        checkpoint = (request.get("CheckpointConfig") or {}).get("S3Uri", "")
        wait = (request.get("StoppingCondition") or {}).get("MaxWaitTimeInSeconds")
        line("managed spot", row.spot, "" if row.spot.startswith("spot, 0 interruptions") else "yellow")
        if wait:
            line("max wait", format_seconds(float(wait)))
        if checkpoint:
            line("checkpoints", checkpoint)
    if job.arn:
        line("arn", job.arn)
    if job.output_uri:
        line("output", job.output_uri)
    if job.failure_reason:
        heading("FailureReason" if job.status == "Failed" else "Last message")
        text.append(scrub(job.failure_reason) + "\n", style="red" if job.status == "Failed" else "")

    assessment = row.assessment
    curves = row.curves
    heading("Losses")
    for epoch in range(1, max(len(curves.train_epoch_losses), len(curves.eval_epoch_losses)) + 1):
        train = curves.train_epoch_losses[epoch - 1] if epoch <= len(curves.train_epoch_losses) else None
        evals = curves.eval_epoch_losses[epoch - 1] if epoch <= len(curves.eval_epoch_losses) else None
        best = "  <- best eval" if epoch == curves.best_eval_epoch else ""
        text.append(
            f"  epoch {epoch}: train {'-' if train is None else f'{train:.4f}'}"
            f"  eval {'-' if evals is None else f'{evals:.4f}'}{best}\n"
        )
    text.append(f"  {len(curves.step_losses)} step losses\n", style="dim")
    if assessment.flagged:
        heading("Overfitting")
        for reason in assessment.reasons:
            text.append(f"  - {scrub(reason)}\n", style="yellow")
        if assessment.suggestion:
            text.append(f"  suggestion: {assessment.suggestion} (c clones the job with it)\n", style="bold")

    request = job.request or {}
    sent = request.get("HyperParameters") or {}
    heading("Hyperparameters" + (" (as sent)" if sent else " (yours; the spec's defaults fill the rest)"))
    values = {k: _decoded(v) for k, v in sent.items()} if sent else dict(job.hyperparameters)
    for key in sorted(values):
        mine = key in job.hyperparameters
        text.append(f"  {scrub(key)} = {scrub(values[key])}\n", style="bold" if mine else "")
    channels = request.get("InputDataConfig") or []
    if channels:
        heading("Channels")
        for channel in channels:
            uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri", "?")
            text.append(f"  {scrub(channel.get('ChannelName', '?'))}: {scrub(uri)}\n")
    return text


class JobDetails(ModalScreen[None]):
    DEFAULT_CSS = """
    JobDetails { align: center middle; background: $background 60%; }
    JobDetails > #job-details-body { width: 110; max-width: 98%; height: 90%; border: round $primary;
        background: $surface; padding: 0 1; }
    JobDetails VerticalScroll { height: 1fr; }
    JobDetails .hint { color: $text-muted; }
    """
    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="job_details.close")]

    def __init__(self, row: Any) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with Vertical(id="job-details-body"):
            with VerticalScroll():
                yield Static(detail_text(self.row), id="job-details-text")
            yield Static(hint(self, ("job_details.close", "close")), classes="hint")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

"""Parse JumpStart (llama-recipes) training log messages from CloudWatch into typed loss points.

Two kinds of lines matter (jumpstart-aws.md section 3):

* per step, a tqdm description, possibly several refreshes joined by '\\r' in one event::

    Training Epoch: 1/5, step 12/79 completed (loss: 1.4149080514907837):  16%|... | 13/79 [...]

  ``step`` is the 0-based batch index (llama-recipes enumerates the dataloader), so the step
  ``s`` of ``S`` means ``s + 1`` batches of that epoch are done.
* per epoch, the lines the job's MetricDefinitions regexes match, e.g.::

    Epoch 1: train_perplexity=3.1000, train_epoch_loss=1.1314, epoch time 60.123s
     eval_ppl=tensor(2.9001, device='cuda:0') eval_epoch_loss=tensor(1.0647, device='cuda:0')

  The eval line carries no epoch number; it is attributed to the epoch of the latest step line,
  or, when no step line has been seen, to the n-th occurrence of that metric (n = epoch).

Feed messages in log order, one :class:`LogParser` per job (or per log stream).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

TRAIN_LOSS_METRIC = "huggingface-textgeneration:train-loss"
EVAL_LOSS_METRIC = "huggingface-textgeneration:eval-loss"
EVAL_PPL_METRIC = "huggingface-textgeneration:eval-ppl"

DEFAULT_METRIC_DEFINITIONS: tuple[dict[str, str], ...] = (
    {"Name": EVAL_LOSS_METRIC, "Regex": r"eval_epoch_loss=tensor\(([0-9\.]+)"},
    {"Name": EVAL_PPL_METRIC, "Regex": r"eval_ppl=tensor\(([0-9\.]+)"},
    {"Name": TRAIN_LOSS_METRIC, "Regex": r"train_epoch_loss=([0-9\.]+)"},
)

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
STEP_LINE = re.compile(
    r"Training Epoch:\s*(\d+)\s*/\s*(\d+),\s*step\s+(\d+)\s*/\s*(\d+)\s+completed\s*"
    r"\(loss:\s*(?:tensor\()?(" + _NUMBER + r")"
)
_EPOCH_START = re.compile(r"Training Epoch:\s*(\d+)(?![\d/\s])")  # tqdm's initial description
_EPOCH_LINE = re.compile(r"\bEpoch\s+(\d+)\s*:")
_SEGMENT_SPLIT = re.compile(r"[\r\n]+")


@dataclass(frozen=True)
class StepPoint:
    epoch: int  # 1-based
    step: int  # as printed: 0-based batch index within the epoch
    steps_per_epoch: int
    total_epochs: int
    loss: float
    timestamp_ms: int

    @property
    def global_step(self) -> int:
        """Monotone x coordinate across epochs (0-based)."""
        return (self.epoch - 1) * self.steps_per_epoch + self.step

    @property
    def fraction_done(self) -> float:
        """Share of all training steps completed once this step finished, in [0, 1]."""
        total = self.total_epochs * self.steps_per_epoch
        if total <= 0:
            return 0.0
        done = (self.epoch - 1) * self.steps_per_epoch + min(self.step + 1, self.steps_per_epoch)
        return min(1.0, max(0.0, done / total))


@dataclass(frozen=True)
class EpochPoint:
    metric_name: str
    epoch: int  # 1-based
    value: float
    timestamp_ms: int


Point = StepPoint | EpochPoint


def metric_kind(metric_name: str) -> str | None:
    """ "train_loss", "eval_loss", "eval_ppl" for the JumpStart metric names (and close variants)."""
    name = metric_name.lower().replace("_", "-")
    for kind in ("train-loss", "eval-loss", "eval-ppl"):
        if name.endswith(kind):
            return kind.replace("-", "_")
    return None


@lru_cache(maxsize=256)
def _compile(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def compile_metric_definitions(
    definitions: Iterable[Mapping[str, str] | tuple[str, str]],
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """[(name, compiled regex)] from SageMaker-shaped ``{"Name", "Regex"}`` dicts or (name, regex) pairs.
    Patterns are cached across parsers, so many jobs with the same definitions compile them once."""
    compiled = []
    for d in definitions:
        name, regex = (d["Name"], d["Regex"]) if isinstance(d, Mapping) else d
        try:
            compiled.append((name, _compile(regex)))
        except re.error as exc:
            raise ValueError(f"metric {name!r}: invalid regex {regex!r}: {exc}") from None
    return tuple(compiled)


class LogParser:
    """Stateful, incremental parser for one training job's log messages."""

    def __init__(
        self,
        metric_definitions: Iterable[Mapping[str, str] | tuple[str, str]] = DEFAULT_METRIC_DEFINITIONS,
        *,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self._metrics = compile_metric_definitions(metric_definitions)
        self._step_epoch: int | None = None  # epoch of the latest step line
        self._seen_steps: set[tuple[int, int]] = set()
        self._seen_epochs: set[tuple[str, int]] = set()
        self._occurrences: dict[str, int] = {}
        if state:
            self.restore(state)

    # -- persistence, so that a restarted app can continue from where the stored points end

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state; pass it back as ``state=`` to continue parsing after a restart."""
        return {
            "step_epoch": self._step_epoch,
            "seen_steps": sorted(self._seen_steps),
            "seen_epochs": sorted(self._seen_epochs),
            "occurrences": dict(self._occurrences),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self._step_epoch = state.get("step_epoch")
        self._seen_steps = {(int(e), int(s)) for e, s in state.get("seen_steps", ())}
        self._seen_epochs = {(str(m), int(e)) for m, e in state.get("seen_epochs", ())}
        self._occurrences = {str(k): int(v) for k, v in state.get("occurrences", {}).items()}

    @property
    def current_epoch(self) -> int | None:
        return self._step_epoch

    # -- parsing

    def feed(self, message: str, timestamp_ms: int) -> list[Point]:
        """Parse one log event's message; returns only points not emitted before."""
        points: list[Point] = []
        for segment in _SEGMENT_SPLIT.split(message):
            if segment.strip():
                self._parse_segment(segment, timestamp_ms, points)
        return points

    def feed_events(self, events: Iterable[Mapping[str, Any]]) -> list[Point]:
        """Parse CloudWatch Logs events (``{"timestamp": ms, "message": str, ...}``) in order."""
        points: list[Point] = []
        for event in events:
            points.extend(self.feed(event.get("message", ""), int(event.get("timestamp", 0))))
        return points

    def _parse_segment(self, segment: str, ts: int, out: list[Point]) -> None:
        matched_step = False
        for m in STEP_LINE.finditer(segment):
            matched_step = True
            epoch, total_epochs, step, steps = (int(g) for g in m.groups()[:4])
            loss = _to_float(m.group(5))
            self._step_epoch = epoch
            key = (epoch, step)
            if loss is None or key in self._seen_steps:
                continue
            self._seen_steps.add(key)
            out.append(StepPoint(epoch, step, steps, total_epochs, loss, ts))
        if not matched_step:
            start = _EPOCH_START.search(segment)
            if start:
                self._step_epoch = int(start.group(1))

        line_epoch = _EPOCH_LINE.search(segment)
        for name, pattern in self._metrics:
            found = pattern.search(segment)
            if not found:
                continue
            value = _to_float(found.group(1) if found.groups() else found.group(0))
            if value is None:
                continue
            self._occurrences[name] = self._occurrences.get(name, 0) + 1
            if line_epoch:
                epoch = int(line_epoch.group(1))
            elif self._step_epoch is not None:
                epoch = self._step_epoch
            else:
                epoch = self._occurrences[name]
            seen = (name, epoch)
            if seen in self._seen_epochs:
                continue
            self._seen_epochs.add(seen)
            out.append(EpochPoint(name, epoch, value, ts))


def _to_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def split_points(points: Sequence[Point]) -> tuple[list[StepPoint], list[EpochPoint]]:
    """Separate a mixed list into step points and epoch points (order kept)."""
    steps = [p for p in points if isinstance(p, StepPoint)]
    epochs = [p for p in points if isinstance(p, EpochPoint)]
    return steps, epochs

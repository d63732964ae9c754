"""Train and eval loss of one job, or an overlay of several, drawn with textual-plotext.

Plotext renders a whole frame from scratch (~70 ms at 100x30), so `show` only records what to
draw and the plot is rebuilt at most once a second. The x axis is in epochs: step losses at
(global step + 1) / steps per epoch, per-epoch losses at 1, 2, 3...
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual_plotext import PlotextPlot

from core.training.overfit import smooth

if TYPE_CHECKING:
    from collections.abc import Sequence

MIN_REDRAW_SECONDS = 1.0
MAX_OVERLAY = 8


@dataclass(frozen=True)
class LossSeries:
    """What the plot needs of one job."""

    label: str
    steps: tuple[int, ...]  # 0-based global step of each step loss
    step_losses: tuple[float, ...]
    steps_per_epoch: int | None
    train_epoch_losses: tuple[float, ...]
    eval_epoch_losses: tuple[float, ...]

    def step_x(self) -> list[float]:
        if self.steps_per_epoch:
            return [(s + 1) / self.steps_per_epoch for s in self.steps]
        total = len(self.train_epoch_losses) or 1
        count = len(self.steps) or 1
        return [(i + 1) * total / count for i in range(len(self.steps))]


@dataclass(frozen=True)
class PlotRequest:
    series: tuple[LossSeries, ...]
    overlay: bool = False
    log_scale: bool = False
    smoothing: float = 1.0  # EMA weight of the newest value; 1.0 = no smoothing


def _positive(xs: Sequence[float], ys: Sequence[float], log_scale: bool) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys, strict=False) if math.isfinite(y) and (y > 0 or not log_scale)]
    return [x for x, _ in pairs], [y for _, y in pairs]


class LossPlot(PlotextPlot):
    """`show(PlotRequest(...))` as often as you like; redraws happen at most once a second."""

    DEFAULT_CSS = "LossPlot { height: 1fr; min-height: 8; }"

    def __init__(
        self,
        *,
        ascii_only: bool = False,
        min_interval: float = MIN_REDRAW_SECONDS,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.ascii_only = ascii_only
        self.min_interval = min_interval
        self.request: PlotRequest | None = None
        self._drawn: PlotRequest | None = None
        self._last_draw = 0.0
        self._timer = None
        self.draws = 0

    def show(self, request: PlotRequest) -> None:
        self.request = request
        if request == self._drawn or self._timer is not None:
            return
        wait = self._last_draw + self.min_interval - time.monotonic()
        if wait <= 0:
            self._draw()
        else:
            self._timer = self.set_timer(wait, self._draw)

    def _draw(self) -> None:
        self._timer = None
        request = self.request
        if request is None or request == self._drawn:
            return
        self._drawn = request
        self._last_draw = time.monotonic()
        self.draws += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        marker = "*" if self.ascii_only else "braille"
        series = request.series[:MAX_OVERLAY] if request.overlay else request.series[:1]
        any_data = False
        for s in series:
            xs, ys = _positive(
                s.step_x(), smooth(s.step_losses, request.smoothing) if s.step_losses else [], request.log_scale
            )
            if xs:
                any_data = True
                plt.plot(xs, ys, marker=marker, label=f"{s.label} train (step)" if request.overlay else "train (step)")
            epochs = list(range(1, len(s.eval_epoch_losses) + 1))
            ex, ey = _positive(epochs, s.eval_epoch_losses, request.log_scale)
            if ex:
                any_data = True
                plt.plot(ex, ey, marker=marker, label=f"{s.label} eval" if request.overlay else "eval (epoch)")
            if not request.overlay:
                tx, ty = _positive(
                    list(range(1, len(s.train_epoch_losses) + 1)), s.train_epoch_losses, request.log_scale
                )
                if tx:
                    plt.scatter(tx, ty, marker="+" if self.ascii_only else "dot", label="train (epoch)")
        if request.log_scale and any_data:
            plt.yscale("log")
        title = "loss of " + (
            ", ".join(s.label for s in series) if request.overlay else (series[0].label if series else "-")
        )
        extras = [
            w for w, on in (("log", request.log_scale), (f"EMA {request.smoothing:g}", request.smoothing < 1.0)) if on
        ]
        plt.title(title + (f"  ({', '.join(extras)})" if extras else "") + ("" if any_data else "  (no points yet)"))
        plt.xlabel("epoch")
        self.refresh()

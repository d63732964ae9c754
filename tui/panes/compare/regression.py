"""Regression check: the candidate against the previous best on the same set and opponent, and the
questions that got worse."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.widgets import Static

from tui.text import safe, safe_line

if TYPE_CHECKING:
    from core.evaluation.judge import RegressionReport

WORSE_SHOWN = 60
_OUTCOME = {"A": "win", "tie": "tie", "B": "loss"}


def _score(summary: dict[str, Any]) -> str:
    return str(summary.get("score") or "-")


def render_regression(report: RegressionReport | None, error: str | None = None) -> Content:
    if error:
        return Content.assemble(("Regression check: ", "bold"), safe(error))
    if report is None:
        return Content.styled(
            "g compares this evaluation with the previous best candidate on the same set and opponent.", "$text-muted"
        )
    prev, cur = report.previous, report.current
    parts: list[Any] = [
        ("Regression check ", "bold"),
        f"eval #{cur.id} ",
        safe_line(cur.target_a, 60),
        f" ({_score(cur.summary)}) vs previous best eval #{prev.id} ",
        safe_line(prev.target_a, 60),
        f" ({_score(prev.summary)}), both against ",
        safe_line(cur.target_b, 60),
        "\n",
        (
            (f"{len(report.worse)} got worse" if report.worse else "nothing got worse"),
            "bold $text-warning" if report.worse else "bold $text-success",
        ),
        f" · {report.better} got better · {report.common} judged in both\n",
    ]
    for row in report.worse[:WORSE_SHOWN]:
        parts += [
            (f"  {_OUTCOME.get(row.before, row.before)} → {_OUTCOME.get(row.after, row.after)}  ", "$text-warning"),
            f"q{row.question_id} ",
        ]
        if row.topic:
            parts += ["[", safe_line(row.topic, 30), "] "]
        parts += [safe_line(row.question, 100), "\n"]
    if len(report.worse) > WORSE_SHOWN:
        parts.append((f"  … {len(report.worse) - WORSE_SHOWN} more\n", "$text-muted"))
    return Content.assemble(*parts).rstrip()


class CompareRegression(Static):
    def show(self, report: RegressionReport | None, error: str | None = None) -> None:
        self.update(render_regression(report, error))

"""Blind human votes: how often people preferred A, how often the judge agreed with them
(raw and Cohen's kappa), and the questions where they disagreed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.widgets import Static

from tui.panes.compare.score import interval_text, pct
from tui.text import safe_line

if TYPE_CHECKING:
    from core.evaluation.judge import HumanReport

DISAGREEMENTS_SHOWN = 50
_HUMAN = {"A": "A better", "B": "B better", "tie": "tie", "both_bad": "both bad"}
_JUDGE = {"A": "A wins", "B": "B wins", "tie": "tie"}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_votes(report: HumanReport | None) -> Content:
    if report is None or report.preference.n == 0:
        return Content.styled(
            "No blind votes yet: v starts blind voting (sides shuffled, names hidden).", "$text-muted"
        )
    p, a = report.preference, report.agreement
    voters = ", ".join(p.voters)
    parts: list[Any] = [
        ("Blind votes ", "bold"),
        f"{p.n} by {len(p.voters)} voter{'s' if len(p.voters) != 1 else ''} (",
        safe_line(voters, 80),
        ")\n",
        ("Human preference for A ", "bold"),
        (f"{p.a} / {p.n} ({interval_text(p.a_interval)})", "bold $accent"),
        f"  rate {pct(p.a_rate)} · lenient {pct(p.lenient_a_rate)} · B {p.b} · tie {p.tie} · both bad {p.both_bad}\n",
        ("Judge–human agreement ", "bold"),
    ]
    if a.n:
        parts.append((f"raw {pct(a.raw_agreement)} · Cohen's κ {_number(a.kappa)}", "bold $accent"))
        parts.append(f" · AC1 {_number(a.ac1)} on {a.n} vote{'s' if a.n != 1 else ''}")
    else:
        parts.append(("nothing to compare yet (the judge has not scored the voted questions)", "$text-muted"))
    if a.unmatched_votes:
        parts.append((f" · {a.unmatched_votes} vote(s) on questions the judge has not scored", "$text-muted"))
    parts.append("\n")
    if report.disagreements:
        parts.append((f"Disagreements ({len(report.disagreements)})\n", "bold"))
        for row in report.disagreements[:DISAGREEMENTS_SHOWN]:
            parts += [
                f"  q{row.question_id} ",
                safe_line(row.voter, 24),
                f": judge {_JUDGE.get(row.judge, row.judge)}, human {_HUMAN.get(row.human, row.human)} — ",
                safe_line(row.question, 100),
                "\n",
            ]
        if len(report.disagreements) > DISAGREEMENTS_SHOWN:
            parts.append((f"  … {len(report.disagreements) - DISAGREEMENTS_SHOWN} more\n", "$text-muted"))
    elif a.n:
        parts.append(("No disagreements.\n", "$text-muted"))
    return Content.assemble(*parts).rstrip()


class CompareVotes(Static):
    def show(self, report: HumanReport | None) -> None:
        self.update(render_votes(report))

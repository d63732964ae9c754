"""The league score of an evaluation: "k / N (lo–hi)", strict and lenient rates, position consistency,
length bias and the per-topic breakdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.widgets import Static

from tui.text import safe_line

if TYPE_CHECKING:
    from collections.abc import Mapping

LOW_CONSISTENCY = 0.7  # below this the judge's verdict depends on the order: treat the score with caution
LENGTH_BIAS = 0.75  # the longer answer winning this often (over enough decided questions) looks like bias
LENGTH_BIAS_MIN_DECIDED = 4
TOPICS_SHOWN = 40


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def interval_text(interval: Any) -> str:
    lo, hi = interval
    return f"{100 * lo:.0f}%–{100 * hi:.0f}%"


def score_text(wins: int, n: int, interval: Any) -> str:
    """The league score as the pane shows it: "k / N (lo–hi)" with the Wilson 95% interval."""
    return f"{wins} / {n} ({interval_text(interval)})"


def render_summary(summary: Mapping[str, Any] | None) -> Content:
    if not summary:
        return Content.assemble(("Score ", "bold"), ("– no evaluation of these targets on this set yet", "$text-muted"))
    n = int(summary.get("N") or 0)
    questions = int(summary.get("questions") or n)
    parts: list[Any] = [("Score ", "bold")]
    if n:
        parts += [
            (score_text(summary["wins"], n, summary["interval"]), "bold $accent"),
            f"   wins {summary['wins']} · ties {summary['ties']} · losses {summary['losses']}   ",
        ]
    else:
        parts += [("– nothing judged yet", "$text-muted"), "   "]
    parts += [
        ("A ", "bold"),
        safe_line(summary.get("target_a", ""), 60),
        ("  vs  B ", "bold"),
        safe_line(summary.get("target_b", ""), 60),
        "\n",
    ]
    if n:
        consistency = summary.get("position_consistency")
        parts += [
            f"strict {pct(summary.get('strict_rate'))} · lenient {pct(summary.get('lenient_rate'))} · "
            f"position consistency {pct(consistency)} · slot 1 won {pct(summary.get('first_slot_win_rate'), 0)} "
            "of judge runs"
        ]
        if consistency is not None and consistency < LOW_CONSISTENCY:
            parts.append(("   the verdicts depend on the order: treat the score with caution", "$text-warning"))
        parts.append("\n")
        if summary.get("mean_len_a") is not None and summary.get("mean_len_b") is not None:
            decided = int(summary.get("length_decided") or 0)
            longer = summary.get("longer_answer_win_rate")
            parts.append(
                f"length A {summary['mean_len_a']:,.0f} · B {summary['mean_len_b']:,.0f} chars on average; "
                + (
                    f"the longer answer won {pct(longer, 0)} of {decided} decided questions"
                    if decided
                    else "no decided question had answers of different lengths"
                )
            )
            if longer is not None and decided >= LENGTH_BIAS_MIN_DECIDED and longer >= LENGTH_BIAS:
                parts.append(("   possible length bias", "$text-warning"))
            parts.append("\n")
    pending = int(summary.get("pending") or 0)
    failed = int(summary.get("failed_answers") or 0) + int(summary.get("failed_verdicts") or 0)
    if pending or failed:
        parts.append(
            (
                f"judged {n} of {questions} · pending {pending} · failed answers "
                f"{summary.get('failed_answers', 0)} · failed verdicts {summary.get('failed_verdicts', 0)}"
                " — r resumes\n",
                "$text-warning",
            )
        )
    topics: Mapping[str, Any] = summary.get("by_topic") or {}
    if len(topics) > 1 or (len(topics) == 1 and next(iter(topics))):
        parts.append(("by topic\n", "bold"))
        for index, (topic, t) in enumerate(topics.items()):
            if index >= TOPICS_SHOWN:
                parts.append((f"  … {len(topics) - TOPICS_SHOWN} more topics\n", "$text-muted"))
                break
            parts += [
                "  ",
                safe_line(topic or "(no topic)", 40),
                f"  {score_text(t['wins'], t['N'], t['interval'])}  ties {t['ties']} · losses {t['losses']}\n",
            ]
    return Content.assemble(*parts).rstrip()


class CompareScore(Static):
    """Shows `render_summary` of the evaluation in view."""

    def show(self, summary: Mapping[str, Any] | None) -> None:
        self.update(render_summary(summary))

"""The question in view: where it sits in the set (an outcome strip), its topic, its text, and what
the judge said in each order — or, when voting blind, only what the voter may see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.widgets import Static

from core.evaluation.stats import unswap
from tui.keys import hint
from tui.text import safe_line

if TYPE_CHECKING:
    from collections.abc import Sequence

    from core.evaluation.judge import BlindItem, QuestionOutcome

QUESTION_CHARS = 600
REASON_CHARS = 220
STRIP_WIDTH = 40  # questions shown in the outcome strip around the current one

GLYPH = {"A": "W", "tie": "=", "B": "L", None: "·", "failed": "!"}
OUTCOME_TEXT = {"A": "A wins", "B": "B wins", "tie": "tie"}
VOTE_TEXT = {"left": "left better", "right": "right better", "tie": "tie", "both_bad": "both bad"}


def outcome_code(item: QuestionOutcome) -> str | None:
    """ "A", "B", "tie", "failed" or None (not judged yet)."""
    outcome = item.outcome
    if outcome is not None:
        return outcome
    failed = [x for x in (item.answer_a, item.answer_b, item.verdict_ab, item.verdict_ba) if x is not None and not x.ok]
    return "failed" if failed else None


def outcome_strip(codes: Sequence[str | None], index: int) -> Content:
    """W = A won, L = B won, = tie, · not judged, ! failed; the current question in brackets."""
    start = max(0, min(index - STRIP_WIDTH // 2, len(codes) - STRIP_WIDTH))
    end = min(len(codes), start + STRIP_WIDTH)
    parts: list[Any] = ["… " if start > 0 else ""]
    for i in range(start, end):
        glyph = GLYPH.get(codes[i], "?")
        parts.append((f"[{glyph}]", "bold reverse") if i == index else f" {glyph} ")
    parts.append(" …" if end < len(codes) else "")
    return Content.assemble(*parts)


def _judge_line(item: QuestionOutcome) -> list[Any]:
    parts: list[Any] = []
    orders = (
        ("A shown first", item.verdict_ab, False),
        ('B shown first, so its "Answer A" is B', item.verdict_ba, True),
    )
    for label, verdict, swap in orders:
        parts.append((f"{label}: ", "bold"))
        if verdict is None:
            parts.append(("not judged", "$text-muted"))
        elif not verdict.ok:
            parts += [("failed ", "$text-error"), safe_line(verdict.error or "", REASON_CHARS)]
        else:
            winner = unswap(verdict.winner) if swap else verdict.winner  # type: ignore[arg-type]
            parts += [
                (OUTCOME_TEXT.get(winner, str(winner)), "$accent"),
                " — ",
                safe_line(verdict.reason or "", REASON_CHARS),
            ]
        parts.append("\n")
    return parts


class CompareQuestion(Static):
    def show_outcome(self, item: QuestionOutcome, index: int, codes: Sequence[str | None]) -> None:
        outcome = item.outcome
        verdict = (
            OUTCOME_TEXT[outcome]
            if outcome
            else ("failed: r retries" if codes[index] == "failed" else "not judged yet")
        )
        head: list[Any] = [(f"Question {index + 1} / {len(codes)}", "bold"), "  "]
        if item.question.topic:
            head += ["topic ", safe_line(item.question.topic, 40), "  "]
        head += [
            ("judge: ", "bold"),
            (verdict, "bold $accent"),
            "   ",
            outcome_strip(codes, index),
            "\n",
            safe_line(item.question.text, QUESTION_CHARS),
            "\n",
        ]
        self.update(Content.assemble(*head, *_judge_line(item)).rstrip())

    def show_blind(self, item: BlindItem, index: int, total: int, voted: int, voter: str) -> None:
        parts: list[Any] = [
            ("Blind vote", "bold $accent"),
            "  voter ",
            safe_line(voter, 40),
            f"  ·  question {index + 1} / {total}  ·  {voted} voted  ·  your vote: ",
            (VOTE_TEXT.get(item.vote or "", "none yet"), "bold"),
            "\n",
            (
                hint(
                    self,
                    ("compare.vote_left", "left better"),
                    ("compare.vote_right", "right better"),
                    ("compare.vote_tie", "tie"),
                    ("compare.vote_both_bad", "both bad"),
                    every_key=True,
                )
                + "   "
                + hint(self, (("compare.next", "compare.previous"), "move"), ("compare.escape", "done")),
                "$text-muted",
            ),
            "\n",
            safe_line(item.question, QUESTION_CHARS),
        ]
        self.update(Content.assemble(*parts))

    def show_message(self, message: str) -> None:
        self.update(Content.styled(message, "$text-muted"))

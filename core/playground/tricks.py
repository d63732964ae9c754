"""Trick questions: a rehearsal category with a checkable answer (letter counting, arithmetic, dates),
scored by a deterministic checker, so that a prompt that breaks them is caught before the final (a
letter-counting question decided two 2025 finals).

    questions = trick_questions()              # the built-in set, each with its expected answer
    check(question, answer_text)               # True when the answer states the expected value
    score = trick_score(questions, answers)    # share of questions answered right
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from core.playground.rounds import Params
    from core.store import Store

_NUMBER_WORDS = {
    "zero": 0,
    "none": 0,
    "one": 1,
    "once": 1,
    "two": 2,
    "twice": 2,
    "three": 3,
    "thrice": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TOKEN = re.compile(r"-?\d+(?:[.,]\d+)*|[a-z]+")


@dataclass(frozen=True)
class TrickQuestion:
    kind: str  # "letters" | "arithmetic" | "date"
    text: str
    expected: str  # a number as text, or a weekday in lower case

    def check(self, answer: str) -> bool:
        return check(self, answer)


def letters_question(word: str, letter: str) -> TrickQuestion:
    count = word.lower().count(letter.lower())
    return TrickQuestion("letters", f'How many times does the letter "{letter}" appear in "{word}"?', str(count))


def arithmetic_question(a: int, op: str, b: int) -> TrickQuestion:
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    shown = {"*": "×"}.get(op, op)
    return TrickQuestion("arithmetic", f"What is {a} {shown} {b}?", str(value))


def weekday_question(day: date) -> TrickQuestion:
    text = f"Which day of the week was {day.day} {day.strftime('%B')} {day.year}?"
    return TrickQuestion("date", text, _WEEKDAYS[day.weekday()])


def trick_questions() -> list[TrickQuestion]:
    """The built-in set: the letter counts that trip models, carries and borrows, weekdays."""
    return [
        letters_question("strawberry", "r"),
        letters_question("bookkeeper", "e"),
        letters_question("Mississippi", "s"),
        arithmetic_question(17, "*", 24),
        arithmetic_question(1001, "-", 999),
        arithmetic_question(389, "+", 457),
        weekday_question(date(2000, 1, 1)),
        weekday_question(date(2024, 2, 29)),
    ]


def _values(answer: str) -> list[str]:
    """The numbers and weekdays an answer states, in order (number words become digits)."""
    values = []
    for token in _TOKEN.findall(answer.lower().replace("−", "-")):
        if token[0].isdigit() or token[0] == "-":
            values.append(token.replace(",", ""))
        elif token in _NUMBER_WORDS:
            values.append(str(_NUMBER_WORDS[token]))
        elif token in _WEEKDAYS:
            values.append(token)
    return values


def check(question: TrickQuestion, answer: str) -> bool:
    """Right when the answer's final stated value (the number, or the weekday) is the expected one;
    a hedge naming two different weekdays or counts is wrong."""
    values = [v for v in _values(answer) if (v in _WEEKDAYS) == (question.kind == "date")]
    if not values:
        return False
    if question.kind == "date":
        return set(values) == {question.expected}
    return values[-1] == question.expected


def trick_score(questions: list[TrickQuestion], answers: list[str]) -> float:
    """The share of questions answered right (0 when there are none)."""
    if not questions:
        return 0.0
    right = sum(check(q, a) for q, a in zip(questions, answers, strict=True))
    return right / len(questions)


@dataclass(frozen=True)
class TrickResult:
    question: TrickQuestion
    answer: str  # untrusted model output
    right: bool
    error: str | None = None


async def run_tricks(
    store: Store,
    target: Any,
    *,
    target_name: str,
    system_prompt: str,
    params: Params,
    questions: Sequence[TrickQuestion] | None = None,
    version_id: int | None = None,
) -> list[TrickResult]:
    """Ask every trick question once with this prompt and check each answer; each answer is stored
    as a run of kind "tricks" when it arrives (its score 1 or 0 as the judge score)."""
    from core.playground.rounds import build_messages
    from core.safe_text import one_line

    chosen = list(questions) if questions is not None else trick_questions()

    async def one(question: TrickQuestion) -> TrickResult:
        _, (sample_id,) = store.create_run(
            target=target_name,
            system_prompt=system_prompt,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            question=question.text,
            samples=1,
            prompt_version_id=version_id,
            kind="tricks",
        )
        try:
            result = await target.complete(
                build_messages(system_prompt, question.text),
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                purpose="tricks",
            )
        except Exception as exc:  # one failed question fails only itself
            error = one_line(f"{type(exc).__name__}: {exc}", 300)
            store.finish_sample(sample_id, "", finish_reason="error", error=error)
            return TrickResult(question, "", False, error)
        right = check(question, result.text)
        store.finish_sample(sample_id, result.text, finish_reason=result.finish_reason, tokens=result.completion_tokens)
        store.set_sample_judgement(sample_id, 1.0 if right else 0.0, f"expected {question.expected}")
        return TrickResult(question, result.text, right)

    return list(await asyncio.gather(*[one(q) for q in chosen]))


__all__ = [
    "TrickQuestion",
    "TrickResult",
    "arithmetic_question",
    "check",
    "letters_question",
    "run_tricks",
    "trick_questions",
    "trick_score",
    "weekday_question",
]

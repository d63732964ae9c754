"""One mechanism for every limit an action may pass: the `[budget]` dollars of the session and of LLM
calls, and the league's training hours and closing time.

A `Limit` says how much is used and how much is allowed; `problem(adding)` says, with the numbers,
why an action that adds `adding` would pass it (None when it fits or no limit is set). `check`
gathers the problems of several limits for one action. Callers ask (TUI) or refuse without
`--over-budget` (CLI) when the check is not ok; nothing here decides for them.

Kinds: "usd" (dollars spent), "hours" (training hours used), "deadline" (`used` is now and `limit`
the closing time, both Unix seconds; `adding` is how long the action runs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from core.config import Config
    from core.store import Store

USD, HOURS, DEADLINE = "usd", "hours", "deadline"
_EPSILON = 1e-9


def _duration(seconds: float) -> str:
    from core.training.jobs import format_duration  # jobs imports this module's users; not at import time

    return format_duration(seconds)


@dataclass(frozen=True)
class Limit:
    name: str  # what it limits, as the user reads it: "session budget", "LLM budget", ...
    kind: str  # USD, HOURS or DEADLINE
    used: float
    limit: float | None  # None: no limit set

    @property
    def left(self) -> float | None:
        if self.limit is None:
            return None
        return self.limit - self.used if self.kind == DEADLINE else max(0.0, self.limit - self.used)

    def problem(self, adding: float, *, what: str = "the plan") -> str | None:
        """Why `what`, adding `adding`, would pass this limit; None when it fits."""
        left = self.left
        if left is None or self.limit is None:
            return None
        if self.kind == DEADLINE:
            if left <= 0:
                return "the event has closed"
            if adding > left:
                return (
                    f"{what} cannot finish before the close: it needs {_duration(adding)}, "
                    f"the event closes in {_duration(left)}"
                )
            return None
        if adding <= left + _EPSILON:
            return None
        if self.kind == HOURS:
            return f"{what} needs {adding:.2f} training hours; {left:.2f} of {self.limit:g} are left"
        return (
            f"{what} would pass the {self.name}: it costs ${adding:,.2f}, "
            f"${self.used:,.2f} of ${self.limit:,.2f} is spent, ${left:,.2f} left"
        )


@dataclass(frozen=True)
class Check:
    """What a check before an action found; `problems` empty means go ahead."""

    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(pairs: Iterable[tuple[Limit, float]], *, what: str = "the plan") -> Check:
    """The problems of each (limit, amount the action adds) pair, in order."""
    return Check(tuple(p for limit, adding in pairs if (p := limit.problem(adding, what=what)) is not None))


# -- the [budget] dollars ---------------------------------------------------------------------------


def spent(store: Store, config: Config, now: float | None = None) -> tuple[float, float]:
    """Dollars this session has spent: (everything, LLM calls alone). Everything is the cost meter's
    training and endpoints (console runs are the event's) plus the LLM calls the store recorded."""
    from core.training.prices import PriceTable, cost_meter

    meter = cost_meter(
        store.jobs(),
        store.endpoints_for_billing(),
        PriceTable(config.jumpstart.prices),
        time.time() if now is None else now,
        console_runs=store.console_run_ids(),
    )
    llm = float(store.llm_usage().get("cost_usd") or 0.0)
    return meter.usd_so_far + llm, llm


def budget_limits(store: Store, config: Config, now: float | None = None) -> tuple[Limit, Limit]:
    """The session's and the LLM budget, with what is spent so far."""
    session, llm = spent(store, config, now)
    budget = config.budget
    return (
        Limit("session budget", USD, session, budget.session_usd or None),
        Limit("LLM budget", USD, llm, budget.llm_usd or None),
    )


def budget_check(
    store: Store,
    config: Config,
    *,
    usd: float = 0.0,
    llm_usd: float = 0.0,
    what: str = "the plan",
    now: float | None = None,
) -> Check:
    """Would an action costing `usd` of AWS and `llm_usd` of LLM calls pass a `[budget]`?"""
    session, llm = budget_limits(store, config, now)
    return check(((session, usd + llm_usd), (llm, llm_usd)), what=what)


# -- LLM spend by purpose ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PurposeSpend:
    """The LLM calls of one purpose (generation, scoring, judging, playground, reference...): dollars
    of the priced calls, and how many had no known price (shown as unpriced, never as $0)."""

    purpose: str
    calls: int
    usd: float
    unpriced_calls: int = 0

    def describe(self) -> str:
        calls = f"{self.calls} call{'s' if self.calls != 1 else ''}"
        if self.unpriced_calls >= self.calls:
            return f"{self.purpose}: unpriced ({calls})"
        extra = f", {self.unpriced_calls} unpriced" if self.unpriced_calls else ""
        return f"{self.purpose}: ${self.usd:,.2f} ({calls}{extra})"

    def as_dict(self) -> dict[str, float | int | str | None]:
        priced = self.calls - self.unpriced_calls
        return {
            "purpose": self.purpose,
            "calls": self.calls,
            "usd": round(self.usd, 6) if priced else None,
            "unpriced_calls": self.unpriced_calls,
        }


def llm_spend(store: Store) -> tuple[PurposeSpend, ...]:
    """The session's LLM spend per purpose, the costliest first."""
    found = [
        PurposeSpend(
            str(purpose or "other"),
            int(row.get("calls") or 0),
            float(row.get("cost_usd") or 0.0),
            int(row.get("unpriced_calls") or 0),
        )
        for purpose, row in store.llm_spend_by_purpose().items()
    ]
    return tuple(sorted(found, key=lambda s: (-s.usd, s.purpose)))


# -- what a generation run would spend --------------------------------------------------------------

# Tokens of one call, before a run has measured any: a question batch (the brief and the topic in, a
# list of questions out) and one answer. Rough, and said to be so; the session's own priced
# generation calls replace them once there are some.
QUESTION_CALL_TOKENS = (600, 45)  # prompt, completion per question asked for
ANSWER_CALL_TOKENS = (400, 450)
GENERATION_PURPOSES = {"questions": "questions", "refusal_questions": "questions", "answer": "answer"}


@dataclass(frozen=True)
class LlmEstimate:
    """What an LLM run would cost: its calls and dollars (None: the model has no known price)."""

    calls: int
    usd: float | None
    basis: str

    def describe(self) -> str:
        cost = "an unknown cost (the model is unpriced)" if self.usd is None else f"about ${self.usd:,.2f}"
        return f"{self.calls} LLM call(s), {cost} ({self.basis})"


def _leaves_in(store: Store, topic_ids: Iterable[int] | None) -> list[Any]:
    leaves = store.leaf_topics()
    if topic_ids is None:
        return list(leaves)
    wanted, parents = set(topic_ids), {t.id: t.parent_id for t in store.topics()}
    chosen = []
    for leaf in leaves:
        cursor: int | None = leaf.id
        while cursor is not None and cursor not in wanted:
            cursor = parents.get(cursor)
        if cursor is not None:
            chosen.append(leaf)
    return chosen


def estimate_generation(
    store: Store,
    config: Config,
    *,
    questions_per_topic: int,
    refusal_share: float = 0.0,
    topic_ids: Iterable[int] | None = None,
) -> LlmEstimate:
    """What `PairGenerator.run(topic_ids)` would still call (finished tasks are skipped: the run resumes)
    and cost: at the session's measured dollars per call of each kind when it has priced ones, else at
    the generator's price per token and the token counts above."""
    from core.llm.prices import price_for

    ids = list(topic_ids) if topic_ids is not None else None
    done = {t.key.split(":")[1] for t in store.tasks("questions") if t.status == "done" and t.key.count(":") >= 2}
    question_calls = answer_calls = 0
    for leaf in _leaves_in(store, ids):
        if str(getattr(leaf, "id", "")) in done:
            continue
        question_calls += 1
        answer_calls += int(getattr(leaf, "questions_per_topic", 0) or questions_per_topic)
    answer_calls += sum(1 for t in store.tasks("answer", "pending") if ids is None or t.topic_id in ids)
    if refusal_share > 0 and ids is None and not store.tasks("refusal_questions"):
        total = sum(int(getattr(t, "questions_per_topic", 0) or questions_per_topic) for t in store.leaf_topics())
        refusals = round(total * refusal_share / (1 - refusal_share))
        question_calls += -(-refusals // 10)
        answer_calls += refusals
    calls = question_calls + answer_calls
    measured: dict[str, list[float]] = {}
    for purpose, row in store.llm_spend_by_purpose().items():
        kind = GENERATION_PURPOSES.get(str(purpose))
        priced = int(row.get("calls") or 0) - int(row.get("unpriced_calls") or 0)
        if kind and priced > 0:
            entry = measured.setdefault(kind, [0.0, 0.0])
            entry[0] += float(row.get("cost_usd") or 0.0)
            entry[1] += priced
    if "questions" in measured and "answer" in measured:
        per_question = measured["questions"][0] / measured["questions"][1]
        per_answer = measured["answer"][0] / measured["answer"][1]
        usd = question_calls * per_question + answer_calls * per_answer
        return LlmEstimate(calls, usd, "at this session's measured cost per call")
    profile = config.llm.generator
    price = price_for(
        profile.model,
        input_per_mtok=profile.input_price_per_mtok,
        output_per_mtok=profile.output_price_per_mtok,
        overrides=config.llm.prices,
    )
    if price is None:
        return LlmEstimate(calls, None, f"no price for {profile.model}")
    prompt = question_calls * QUESTION_CALL_TOKENS[0] + answer_calls * ANSWER_CALL_TOKENS[0]
    completion = answer_calls * (QUESTION_CALL_TOKENS[1] + ANSWER_CALL_TOKENS[1])
    return LlmEstimate(calls, price.cost(prompt, completion), f"rough token counts at {profile.model}'s price")


def generation_check(store: Store, config: Config, estimate: LlmEstimate, *, what: str = "the generation run") -> Check:
    """The `[budget]` check of a generation run; an unpriced run cannot be checked and passes."""
    if estimate.usd is None:
        return Check()
    return budget_check(store, config, llm_usd=estimate.usd, what=what)

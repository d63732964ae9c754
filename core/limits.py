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
from typing import TYPE_CHECKING

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

"""Finalists side by side: up to five prompt versions answer the same question and the LLM judge
ranks them as the event's judge does, then the ranks become the event's points.

The judge sees the answers in several shuffled orders; in each order it compares every pair once,
the answer shown first being the one earlier in that order, and an order's ranks follow the wins
(a tie is half a win). The ranks are averaged over the orders and their spread is the disagreement:
an answer that is first in one order and last in another is a lucky one.

    ranking = await rank_answers(judge, question, {"v1": text1, "v2": text2, ...}, orders=3, seed=1)
    ranking.entries[0].label, .mean_rank, .spread, .points
"""

from __future__ import annotations

import asyncio
import random
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.evaluation.prompts import DEFAULT_RUBRIC
from core.playground.final import TOP_POINTS, rank_points
from core.playground.rounds import PlaygroundError, _verdict

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.llm.base import ChatTarget

MAX_FINALISTS = 5
ORDERS_RANGE = (1, 6)


@dataclass(frozen=True)
class RankedAnswer:
    label: str
    ranks: tuple[float, ...]  # its rank in each shuffled order (1 = best)
    mean_rank: float
    spread: float  # the standard deviation of its ranks over the orders (0 = the judge never wavered)
    points: float  # the event's points for the mean rank (16.7 for a clear first)

    @property
    def share(self) -> float:
        """The points as a share of the top points (for the weighted score)."""
        return self.points / TOP_POINTS


@dataclass(frozen=True)
class Ranking:
    entries: list[RankedAnswer]  # best first
    orders: int

    @property
    def disagreement(self) -> float:
        """The mean spread of the ranks over the orders."""
        return statistics.fmean(e.spread for e in self.entries) if self.entries else 0.0


def _order_ranks(labels: list[str], wins: dict[str, float]) -> dict[str, float]:
    """Ranks by wins, most first; equal wins share their average rank."""
    order = sorted(labels, key=lambda label: -wins[label])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and wins[order[j + 1]] == wins[order[i]]:
            j += 1
        for label in order[i : j + 1]:
            ranks[label] = (i + j) / 2 + 1
        i = j + 1
    return ranks


async def rank_answers(
    judge: ChatTarget,
    question: str,
    answers: Mapping[str, str],
    *,
    orders: int = 3,
    seed: int | None = None,
    rubric: str = DEFAULT_RUBRIC,
) -> Ranking:
    """Rank 2-5 answers (label -> text) by the judge over `orders` shuffled orders."""
    labels = list(answers)
    if not 2 <= len(labels) <= MAX_FINALISTS:
        raise PlaygroundError(f"rank between 2 and {MAX_FINALISTS} answers")
    if not ORDERS_RANGE[0] <= orders <= ORDERS_RANGE[1]:
        raise PlaygroundError(f"shuffled orders are between {ORDERS_RANGE[0]} and {ORDERS_RANGE[1]}")
    rng = random.Random(seed)
    shuffles = []
    for _ in range(orders):
        shuffled = labels[:]
        rng.shuffle(shuffled)
        shuffles.append(shuffled)

    async def one_order(shuffled: list[str]) -> dict[str, float]:
        pairs = [(a, b) for i, a in enumerate(shuffled) for b in shuffled[i + 1 :]]
        verdicts = await asyncio.gather(
            *[_verdict(judge, question, answers[a], answers[b], rubric, 400) for a, b in pairs]
        )
        wins = dict.fromkeys(labels, 0.0)
        for (a, b), verdict in zip(pairs, verdicts, strict=True):
            if verdict.winner == "A":
                wins[a] += 1.0
            elif verdict.winner == "B":
                wins[b] += 1.0
            else:
                wins[a] += 0.5
                wins[b] += 0.5
        return _order_ranks(labels, wins)

    per_order = await asyncio.gather(*[one_order(s) for s in shuffles])
    entries = []
    for label in labels:
        ranks = tuple(r[label] for r in per_order)
        mean = statistics.fmean(ranks)
        spread = statistics.pstdev(ranks) if len(ranks) > 1 else 0.0
        entries.append(RankedAnswer(label, ranks, mean, spread, rank_points(mean, len(labels))))
    entries.sort(key=lambda e: (e.mean_rank, e.spread, e.label))
    return Ranking(entries, orders)


__all__ = ["MAX_FINALISTS", "RankedAnswer", "Ranking", "rank_answers"]

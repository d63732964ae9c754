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
    from collections.abc import Mapping, Sequence

    from core.llm.base import ChatTarget
    from core.store import Store
    from core.store.playground import PromptVersionRow, SampleRow

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


@dataclass(frozen=True)
class FinalistScore:
    version_id: int
    name: str
    questions: int  # questions it answered and the judge ranked
    mean_points: float | None  # expected points per question
    sd_points: float | None  # their spread over the questions


@dataclass(frozen=True)
class FinalistsRehearsal:
    scores: list[FinalistScore]  # best first
    questions: int
    human_picks: int  # ranked questions where a person picked an answer
    judge_differs: int  # ... and the judge's top answer was another

    @property
    def differ_rate(self) -> float | None:
        return self.judge_differs / self.human_picks if self.human_picks else None


async def rehearse_finalists(
    store: Store,
    target: ChatTarget,
    judge: ChatTarget,
    *,
    target_name: str,
    set_id: int,
    version_ids: Sequence[int],
    orders: int = 3,
    token_cap: int = 0,
    question_template: str = "{question}",
    seed: int | None = None,
) -> FinalistsRehearsal:
    """Every finalist answers every question of the set once; the judge ranks each question's
    answers into points. Answers already stored for a version and question are reused (a rerun
    resumes), every answer and its points are committed as they arrive."""
    from core.playground.rounds import Params, build_messages

    versions = [store.prompt_version(v) for v in dict.fromkeys(version_ids)]
    if any(v is None for v in versions) or not 2 <= len(versions) <= MAX_FINALISTS:
        raise PlaygroundError(f"rehearse 2 to {MAX_FINALISTS} existing prompt versions")
    questions = store.questions(set_id)
    if not questions:
        raise PlaygroundError("the question set is missing or empty")
    chosen = [v for v in versions if v is not None]
    previous = {
        (r.prompt_version_id, r.question): r for r in reversed(store.playground_runs(kind="finalists-rehearsal"))
    }

    async def answer(version: PromptVersionRow, text: str) -> SampleRow | None:
        run = previous.get((version.id, text))
        if run is not None:
            done = [s for s in store.samples(run.id) if s.ok]
            if done:
                return done[0]
        params = Params.of(version).capped(token_cap)
        _, (sample_id,) = store.create_run(
            target=target_name,
            system_prompt=version.system_prompt,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            question=text,
            samples=1,
            prompt_version_id=version.id,
            kind="finalists-rehearsal",
        )
        try:
            result = await target.complete(
                build_messages(version.system_prompt, text),
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                purpose="rehearsal",
            )
        except Exception as exc:  # this answer fails; the others go on
            store.finish_sample(sample_id, "", finish_reason="error", error=str(exc)[:300])
            return None
        store.finish_sample(sample_id, result.text, finish_reason=result.finish_reason, tokens=result.completion_tokens)
        return store.sample(sample_id)

    points: dict[int, list[float]] = {v.id: [] for v in chosen}
    for n, question in enumerate(questions):
        text = question_template.replace("{question}", question.text)
        samples = await asyncio.gather(*[answer(v, text) for v in chosen])
        answered = {v.name: s for v, s in zip(chosen, samples, strict=True) if s is not None and s.text.strip()}
        if len(answered) < 2:
            continue
        ranking = await rank_answers(
            judge,
            text,
            {name: s.text for name, s in answered.items()},
            orders=orders,
            seed=None if seed is None else seed + n,
        )
        by_name = {v.name: v for v in chosen}
        for entry in ranking.entries:
            store.set_sample_judgement(answered[entry.label].id, entry.share, f"mean rank {entry.mean_rank:.1f}")
            points[by_name[entry.label].id].append(entry.points)
    scores = [
        FinalistScore(
            v.id,
            v.name,
            len(points[v.id]),
            statistics.fmean(points[v.id]) if points[v.id] else None,
            (statistics.stdev(points[v.id]) if len(points[v.id]) > 1 else 0.0) if points[v.id] else None,
        )
        for v in chosen
    ]
    scores.sort(key=lambda s: (-(s.mean_points or 0.0), s.sd_points or 0.0, s.name))
    picks, differs = judge_human_split(store)
    return FinalistsRehearsal(scores, len(questions), picks, differs)


def judge_human_split(store: Store) -> tuple[int, int]:
    """Over finalists' questions in the Playground where a person picked an answer: how many, and how
    many times the judge's top answer (the highest judge score) was another one."""
    runs = store.playground_runs(kind="finalists")
    samples = store.samples_for_runs([r.id for r in runs])
    groups: dict[tuple[int | None, str], list[SampleRow]] = {}
    for run in runs:
        groups.setdefault((run.round_id, run.question), []).extend(s for s in samples.get(run.id, []) if s.ok)
    picks = differs = 0
    for group in groups.values():
        picked = [s for s in group if s.picked]
        scored = [s for s in group if s.judge_score is not None]
        if not picked or not scored:
            continue
        best = max(s.judge_score or 0.0 for s in scored)
        tops = {s.id for s in scored if s.judge_score == best}
        picks += 1
        differs += picked[0].id not in tops
    return picks, differs


__all__ = [
    "MAX_FINALISTS",
    "FinalistScore",
    "FinalistsRehearsal",
    "RankedAnswer",
    "Ranking",
    "judge_human_split",
    "rank_answers",
    "rehearse_finalists",
]

"""Rehearsal: run one or two prompt versions over a question set, k samples per question, and
judge every sample, so that a robust prompt beats a lucky one.

    report = await run_rehearsal(store, target, judge, target_name="endpoint:ft", set_id=1,
                                 version_ids=[v1.id, v2.id], k=3)
    for score in report.scores: score.mean, score.sd, score.mean_words

With two versions, sample i of A is judged against sample i of B on the same question, in both
orders (swap-and-tie): A scores 1 for a win, 0.5 for a tie, 0 for a loss, and B the complement.
With one version (or baseline="reference") each sample is judged against the question's reference
answer; questions without one are generated but not scored. Every sample and score is committed
as it arrives; running a rehearsal again (same id) fills in only what is missing or failed.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from core.evaluation.prompts import DEFAULT_RUBRIC
from core.playground.rounds import Params, PlaygroundError, build_messages, judge_pair
from core.safe_text import one_line

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from core.store import Store
    from core.store.evals import QuestionRow
    from core.store.playground import PromptVersionRow, RehearsalRow, RunRow, SampleRow

K_RANGE = (1, 10)


class RehearsalError(PlaygroundError):
    """The rehearsal cannot start; the message says why."""


@dataclass
class RehearsalProgress:
    samples_total: int = 0
    samples_done: int = 0
    judgements_total: int = 0
    judgements_done: int = 0
    failed: int = 0
    last_error: str | None = None

    @property
    def done(self) -> int:
        return self.samples_done + self.judgements_done

    @property
    def total(self) -> int:
        return self.samples_total + self.judgements_total


@dataclass(frozen=True)
class VersionScore:
    version_id: int
    name: str
    samples: int  # answered
    judged: int
    mean: float | None  # mean judge score over every judged sample (0..1)
    sd: float | None  # its spread: standard deviation over samples
    question_sd: float | None  # spread of the per-question means (how uneven across questions)
    within_sd: float | None  # mean spread of the k samples of one question (how lucky one answer can be)
    mean_chars: float | None
    mean_words: float | None
    max_words: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RehearsalReport:
    rehearsal: RehearsalRow
    set_name: str
    questions: int
    scores: list[VersionScore]

    @property
    def complete(self) -> bool:
        return self.rehearsal.status == "done"

    @property
    def winner(self) -> VersionScore | None:
        """The highest mean; the smaller spread breaks a tie."""
        scored = [s for s in self.scores if s.mean is not None]
        if not scored:
            return None
        return max(scored, key=lambda s: (round(s.mean or 0.0, 9), -(s.sd or 0.0)))

    def summary(self) -> dict[str, Any]:
        winner = self.winner
        return {
            "set": self.set_name,
            "questions": self.questions,
            "k": self.rehearsal.k,
            "baseline": self.rehearsal.baseline,
            "versions": [s.as_dict() for s in self.scores],
            "winner": winner.version_id if winner else None,
        }


def _sd(values: Sequence[float]) -> float | None:
    if not values:
        return None
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _score(version: PromptVersionRow, runs: Sequence[RunRow], samples: dict[int, list[SampleRow]]) -> VersionScore:
    answered: list[SampleRow] = []
    judged: list[float] = []
    question_means: list[float] = []
    within: list[float] = []
    for run in runs:
        ok = [s for s in samples.get(run.id, []) if s.ok]
        answered += ok
        scores = [s.judge_score for s in ok if s.judge_score is not None]
        judged += scores
        if scores:
            question_means.append(statistics.fmean(scores))
            within.append(_sd(scores) or 0.0)
    words = [len(s.text.split()) for s in answered]
    return VersionScore(
        version_id=version.id,
        name=version.name,
        samples=len(answered),
        judged=len(judged),
        mean=statistics.fmean(judged) if judged else None,
        sd=_sd(judged),
        question_sd=_sd(question_means),
        within_sd=statistics.fmean(within) if within else None,
        mean_chars=statistics.fmean(len(s.text) for s in answered) if answered else None,
        mean_words=statistics.fmean(words) if words else None,
        max_words=max(words) if words else None,
    )


def rehearsal_report(store: Store, rehearsal_id: int) -> RehearsalReport:
    rehearsal = store.rehearsal(rehearsal_id)
    if rehearsal is None:
        raise RehearsalError(f"no rehearsal {rehearsal_id}")
    qset = store.question_set_by_id(rehearsal.set_id) if rehearsal.set_id is not None else None
    runs = store.playground_runs(rehearsal_id=rehearsal_id)
    samples = store.samples_for_runs([r.id for r in runs])
    scores = []
    for version_id in rehearsal.version_ids:
        version = store.prompt_version(version_id)
        if version is None:
            continue
        scores.append(_score(version, [r for r in runs if r.prompt_version_id == version_id], samples))
    return RehearsalReport(rehearsal, qset.name if qset else "", qset.count if qset else 0, scores)


def _versions(store: Store, version_ids: Sequence[int]) -> list[PromptVersionRow]:
    if not 1 <= len(version_ids) <= 2 or len(set(version_ids)) != len(version_ids):
        raise RehearsalError("rehearse one version (against the reference answers) or two different versions")
    versions = []
    for version_id in version_ids:
        version = store.prompt_version(version_id)
        if version is None:
            raise RehearsalError(f"no prompt version {version_id}")
        versions.append(version)
    return versions


async def run_rehearsal(
    store: Store,
    target: Any,
    judge: Any,
    *,
    target_name: str,
    set_id: int,
    version_ids: Sequence[int],
    k: int = 3,
    baseline: str | None = None,
    rubric: str = DEFAULT_RUBRIC,
    concurrency: int = 4,
    on_progress: Callable[[RehearsalProgress], None] | None = None,
    rehearsal_id: int | None = None,
) -> RehearsalReport:
    """Answer every question k times per version, judge each answer, and score each version.
    `target` answers and `judge` judges (ChatTargets, not closed here)."""
    versions = _versions(store, version_ids)
    baseline = baseline or ("other" if len(versions) == 2 else "reference")
    if baseline not in ("other", "reference") or (baseline == "other" and len(versions) != 2):
        raise RehearsalError("baseline 'other' needs two versions; otherwise use 'reference'")
    if not K_RANGE[0] <= k <= K_RANGE[1]:
        raise RehearsalError(f"k must be between {K_RANGE[0]} and {K_RANGE[1]}")
    qset = store.question_set_by_id(set_id)
    if qset is None or qset.count == 0:
        raise RehearsalError("the question set is missing or empty")
    questions = store.questions(set_id)
    if baseline == "reference" and not any(q.reference for q in questions):
        raise RehearsalError(
            f"question set {qset.name!r} has no reference answers: rehearse two versions against each other instead"
        )
    if rehearsal_id is None:
        rehearsal_id = store.create_rehearsal(
            set_id=set_id, target=target_name, version_ids=[v.id for v in versions], k=k, baseline=baseline
        )
    progress = RehearsalProgress(samples_total=len(questions) * len(versions) * k)
    if baseline == "other":
        progress.judgements_total = len(questions) * k
    else:
        progress.judgements_total = sum(1 for q in questions if q.reference) * k * len(versions)

    def emit() -> None:
        if on_progress is not None:
            on_progress(progress)

    def failed(exc: BaseException) -> None:
        progress.failed += 1
        progress.last_error = one_line(f"{type(exc).__name__}: {exc}", 300)
        emit()

    async def answer(sample: SampleRow, version: PromptVersionRow, question: QuestionRow) -> SampleRow | None:
        if sample.ok:
            progress.samples_done += 1
            return sample
        if sample.done:
            store.reset_sample(sample.id)
        params = Params.of(version)
        try:
            result = await target.complete(
                build_messages(version.system_prompt, question.text),
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                purpose="rehearsal",
            )
        except Exception as exc:
            store.finish_sample(sample.id, "", finish_reason="error", error=str(exc)[:300])
            failed(exc)
            return None
        store.finish_sample(
            sample.id,
            result.text,
            finish_reason=result.finish_reason,
            latency_ms=result.latency_s * 1000,
            tokens=result.completion_tokens,
        )
        progress.samples_done += 1
        emit()
        return store.sample(sample.id)

    async def judged(first: SampleRow, second_text: str, question: QuestionRow, other: SampleRow | None = None) -> None:
        if first.judge_score is not None:
            progress.judgements_done += 1
            return
        try:
            judgement = await judge_pair(judge, question.text, first.text, second_text, rubric=rubric)
        except Exception as exc:
            failed(exc)
            return
        store.set_sample_judgement(first.id, judgement.score, judgement.reason)
        if other is not None:
            store.set_sample_judgement(other.id, 1.0 - judgement.score, judgement.reason)
        progress.judgements_done += 1
        emit()

    def samples_of(version: PromptVersionRow, question: QuestionRow) -> list[SampleRow]:
        run = store.rehearsal_run(rehearsal_id, version.id, question.id)
        if run is None:
            params = Params.of(version)
            run_id, _ = store.create_run(
                target=target_name,
                system_prompt=version.system_prompt,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                question=question.text,
                samples=k,
                prompt_version_id=version.id,
                kind="rehearsal",
                rehearsal_id=rehearsal_id,
                question_id=question.id,
            )
        else:
            run_id = run.id
        return store.samples(run_id)

    gate = asyncio.Semaphore(max(1, concurrency))

    async def one_question(question: QuestionRow) -> None:
        async with gate:
            per_version = [samples_of(v, question) for v in versions]
            answered = await asyncio.gather(
                *[answer(s, v, question) for v, samples in zip(versions, per_version, strict=False) for s in samples]
            )
            by_version = [answered[i * k : (i + 1) * k] for i in range(len(versions))]
            jobs = []
            if baseline == "other":
                for a, b in zip(*by_version, strict=False):
                    if a is not None and b is not None:
                        jobs.append(judged(a, b.text, question, other=b))
            elif question.reference:
                jobs += [
                    judged(s, question.reference, question) for samples in by_version for s in samples if s is not None
                ]
            await asyncio.gather(*jobs)

    emit()
    status = "incomplete"
    try:
        await asyncio.gather(*[one_question(q) for q in questions])
        status = "done" if progress.failed == 0 else "incomplete"
    finally:
        report = rehearsal_report(store, rehearsal_id)
        store.finish_rehearsal(rehearsal_id, status, report.summary())
    return rehearsal_report(store, rehearsal_id)


__all__ = [
    "K_RANGE",
    "RehearsalError",
    "RehearsalProgress",
    "RehearsalReport",
    "VersionScore",
    "rehearsal_report",
    "run_rehearsal",
]

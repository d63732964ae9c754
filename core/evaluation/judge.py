"""Judged A/B evaluation on a held-out question set, blind human votes, regression checks.

    report = await evaluate(services, "endpoint:my-ft-endpoint", "openai:gpt-4o", set_name="heldout")
    report.summary["score"], report.summary["interval"]          # "31 / 50", [0.48, 0.75]

Targets are written as strings (core.llm.target_names): "endpoint:NAME" (a SageMaker endpoint),
"profile:NAME" (an LLM profile), "openai:MODEL" (the generator profile's OpenAI-compatible server,
or the judge's), "openai:MODEL@PROFILE" (that profile's server), "bedrock:MODEL_ID". Target A is
the candidate: every score is A's.

Both targets answer every question concurrently; as soon as a question has both answers the
judge sees them in both orders (AB: A shown first; BA: B shown first) at temperature 0 with the
strict JSON verdict schema; a win counts only when A wins in both orders, otherwise it is a tie
(core.evaluation.stats). Each answer and each verdict is committed when it arrives; rerunning the same
evaluation skips what is stored and retries what failed. Answers are keyed by target and
generation settings, so a later evaluation against the same reference reuses its answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

from core.evaluation.prompts import (
    DEFAULT_RUBRIC,
    JUDGE_TEMPERATURE,
    VERDICT_SCHEMA,
    VERDICT_SCHEMA_NAME,
    VerdictParseError,
    pairwise_judge_messages,
    parse_verdict,
)
from core.evaluation.stats import (
    HumanPreference,
    HumanVote,
    JudgeHumanAgreement,
    QuestionResult,
    ShownChoice,
    Winner,
    blind_assignment,
    human_preference,
    judge_human_agreement,
    league_score,
    regression,
    unblind,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from core.llm.base import ChatTarget
    from core.services import Services
    from core.store import Store
    from core.store.evals import AnswerRow, EvaluationRow, QuestionRow, QuestionSetRow, VerdictRow

ORDERINGS = ("AB", "BA")
_VOTER = re.compile(r"^[\w .@'-]{1,40}$")


class EvaluationError(ValueError):
    """The evaluation cannot start or had to stop; the message says why."""


# ---- targets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetSpec:
    kind: str  # "endpoint" | "openai" | "bedrock"
    name: str  # endpoint name or model id

    @classmethod
    def parse(cls, text: str) -> TargetSpec:
        from core.llm.target_names import TargetNameError, parse_target

        try:
            parsed = parse_target(text)
        except TargetNameError as exc:
            raise EvaluationError(str(exc)) from None
        return cls(parsed.kind, str(parsed).partition(":")[2])

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def build_eval_target(services: Services, spec: TargetSpec | str, *, run_id: int | None = None) -> ChatTarget:
    """The ChatTarget for a target spec, recording its calls in the session store."""
    from core.llm.target_names import TargetNameError

    spec = spec if isinstance(spec, TargetSpec) else TargetSpec.parse(spec)
    try:
        return services.target(str(spec), run_id=run_id)
    except TargetNameError as exc:
        raise EvaluationError(str(exc)) from None


# ---- settings and progress -----------------------------------------------------------------------


@dataclass(frozen=True)
class EvalSettings:
    """How answers are generated and judged. Both targets get the same generation settings."""

    system_prompt: str = ""
    temperature: float = 0.2
    top_p: float = 0.9
    max_tokens: int = 1024
    rubric: str = DEFAULT_RUBRIC
    use_reference: bool = True  # give the judge the question's reference answer when it has one
    judge_max_tokens: int = 512
    concurrency: int = 8  # questions in flight (each target's own limiter still applies)

    def validate(self) -> None:
        if not 0.0 <= self.temperature <= 2.0:
            raise EvaluationError("temperature must be between 0 and 2")
        if not 0.0 < self.top_p <= 1.0:
            raise EvaluationError("top_p must be above 0 and at most 1")
        if not 1 <= self.max_tokens <= 32_000 or not 16 <= self.judge_max_tokens <= 32_000:
            raise EvaluationError("max_tokens must be between 1 and 32000 (judge: at least 16)")
        if self.concurrency < 1:
            raise EvaluationError("concurrency must be at least 1")
        if not self.rubric.strip():
            raise EvaluationError("the rubric is empty")

    def generation(self) -> dict[str, Any]:
        return {
            "system_prompt": self.system_prompt,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }


def answer_key(target: str, generation: dict[str, Any]) -> str:
    """The answers-table key of a target's answers under some generation settings."""
    digest = hashlib.sha256(json.dumps(generation, sort_keys=True).encode()).hexdigest()[:10]
    return f"{target}#{digest}"


@dataclass
class EvalProgress:
    questions: int = 0
    answers_total: int = 0
    answers_done: int = 0
    verdicts_total: int = 0
    verdicts_done: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    last_error: str | None = None

    @property
    def done(self) -> int:
        return self.answers_done + self.verdicts_done

    @property
    def total(self) -> int:
        return self.answers_total + self.verdicts_total

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "done": self.done, "total": self.total}


# ---- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionOutcome:
    """One row of the side-by-side view. Texts are the models' output, verbatim (untrusted)."""

    question: QuestionRow
    answer_a: AnswerRow | None
    answer_b: AnswerRow | None
    verdict_ab: VerdictRow | None
    verdict_ba: VerdictRow | None

    @property
    def result(self) -> QuestionResult | None:
        if not (self.verdict_ab and self.verdict_ab.ok and self.verdict_ba and self.verdict_ba.ok):
            return None
        return QuestionResult(
            question_id=str(self.question.id),
            verdict_ab=cast("Winner", self.verdict_ab.winner),  # ok: a verdict with a winner
            verdict_ba=cast("Winner", self.verdict_ba.winner),
            topic=self.question.topic,
            len_a=len(self.answer_a.text or "") if self.answer_a else None,
            len_b=len(self.answer_b.text or "") if self.answer_b else None,
        )

    @property
    def outcome(self) -> Winner | None:
        """ "A", "B" or "tie" in target terms once both orders are judged."""
        result = self.result
        return result.outcome if result else None


@dataclass(frozen=True)
class EvalReport:
    evaluation: EvaluationRow
    set_name: str
    items: list[QuestionOutcome]
    summary: dict[str, Any]

    @property
    def complete(self) -> bool:
        return bool(self.summary.get("complete"))


def _evaluation_or_error(store: Store, evaluation_id: int) -> EvaluationRow:
    evaluation = store.evaluation(evaluation_id)
    if evaluation is None:
        raise EvaluationError(f"no evaluation {evaluation_id} in this session")
    return evaluation


def _answer_keys(evaluation: EvaluationRow) -> tuple[str, str]:
    generation = evaluation.settings.get("generation", {})
    return answer_key(evaluation.target_a, generation), answer_key(evaluation.target_b, generation)


def load_report(store: Store, evaluation_id: int) -> EvalReport:
    """Everything stored for an evaluation, with its summary recomputed from the verdicts."""
    evaluation = _evaluation_or_error(store, evaluation_id)
    qset = store.question_set_by_id(evaluation.set_id)
    questions = store.questions(evaluation.set_id)
    ids = [q.id for q in questions]
    key_a, key_b = _answer_keys(evaluation)
    answers_a, answers_b = store.answers_for(ids, key_a), store.answers_for(ids, key_b)
    verdicts: dict[tuple[int, str], VerdictRow] = {
        (v.question_id, v.ordering): v for v in store.verdicts(evaluation_id)
    }
    items = [
        QuestionOutcome(
            q, answers_a.get(q.id), answers_b.get(q.id), verdicts.get((q.id, "AB")), verdicts.get((q.id, "BA"))
        )
        for q in questions
    ]
    return EvalReport(
        evaluation, qset.name if qset else "", items, _summary(evaluation, qset.name if qset else "", items)
    )


def _summary(evaluation: EvaluationRow, set_name: str, items: Sequence[QuestionOutcome]) -> dict[str, Any]:
    results = [r for item in items if (r := item.result) is not None]
    score = league_score(results)
    failed_answers = sum(1 for item in items for a in (item.answer_a, item.answer_b) if a is not None and not a.ok)
    failed_verdicts = sum(1 for item in items for v in (item.verdict_ab, item.verdict_ba) if v is not None and not v.ok)
    return {
        **score.to_dict(),
        "second_slot_win_rate": score.second_slot_win_rate,
        "length_decided": score.length_decided,
        "evaluation_id": evaluation.id,
        "target_a": evaluation.target_a,
        "target_b": evaluation.target_b,
        "set": set_name,
        "questions": len(items),
        "judged": len(results),
        "pending": len(items) - len(results),
        "failed_answers": failed_answers,
        "failed_verdicts": failed_verdicts,
        "complete": bool(items) and len(results) == len(items),
    }


def question_results(store: Store, evaluation_id: int) -> list[QuestionResult]:
    """The judged questions of an evaluation (question ids as strings)."""
    return [r for item in load_report(store, evaluation_id).items if (r := item.result) is not None]


# ---- the runner ----------------------------------------------------------------------------------


def _error_text(exc: BaseException) -> str:
    from core.safe_text import one_line

    return one_line(f"{type(exc).__name__}: {exc}", 300)


def _stops_run(exc: BaseException) -> bool:
    return bool(getattr(exc, "stops_run", False))


def _resolve_set(store: Store, set_name: str | None) -> QuestionSetRow:
    if set_name:
        qset = store.question_set(set_name)
        if qset is None:
            known = ", ".join(s.name for s in store.question_sets()) or "none yet"
            raise EvaluationError(f"no question set named {set_name!r} (sets: {known})")
    else:
        sets = store.question_sets()
        if not sets:
            raise EvaluationError("the session has no question set: import or generate one first")
        qset = sets[-1]
    if qset.count == 0:
        raise EvaluationError(f"question set {qset.name!r} is empty")
    return qset


async def run_evaluation(
    store: Store,
    *,
    target_a: str,
    target_b: str,
    client_a: ChatTarget,
    client_b: ChatTarget,
    judge: ChatTarget,
    set_name: str | None = None,
    settings: EvalSettings | None = None,
    on_progress: Callable[[EvalProgress], None] | None = None,
    fresh: bool = False,
) -> EvalReport:
    """Answer, judge and score; resumes the newest evaluation with the same set, targets, rubric and
    settings unless `fresh`. `client_a` / `client_b` / `judge` are ChatTargets (not closed here)."""
    settings = settings or EvalSettings()
    settings.validate()
    spec_a, spec_b = str(TargetSpec.parse(target_a)), str(TargetSpec.parse(target_b))
    if spec_a == spec_b:
        raise EvaluationError("targets A and B are the same")
    qset = _resolve_set(store, set_name)
    stored_settings = {
        "generation": settings.generation(),
        "use_reference": settings.use_reference,
        "judge_max_tokens": settings.judge_max_tokens,
        "judge": f"{getattr(judge, 'provider', '?')}:{getattr(judge, 'model', '?')}",
    }
    evaluation = (
        None
        if fresh
        else store.find_evaluation(qset.id, spec_a, spec_b, rubric=settings.rubric, settings=stored_settings)
    )
    if evaluation is None:
        endpoint_id = None
        if spec_a.startswith("endpoint:"):
            row = store.endpoint(spec_a.split(":", 1)[1])
            endpoint_id = row.id if row else None
        evaluation_id = store.create_evaluation(
            qset.id, spec_a, spec_b, rubric=settings.rubric, settings=stored_settings, endpoint_id=endpoint_id
        )
        evaluation = _evaluation_or_error(store, evaluation_id)
    key_a, key_b = _answer_keys(evaluation)

    report = load_report(store, evaluation.id)
    progress = EvalProgress(questions=len(report.items))
    progress.answers_total = 2 * len(report.items)
    progress.verdicts_total = 2 * len(report.items)
    for item in report.items:
        progress.answers_done += sum(1 for a in (item.answer_a, item.answer_b) if a is not None and a.ok)
        progress.verdicts_done += sum(1 for v in (item.verdict_ab, item.verdict_ba) if v is not None and v.ok)

    def emit() -> None:
        if on_progress is not None:
            on_progress(progress)

    def fail(exc: BaseException) -> None:
        progress.failed += 1
        progress.last_error = _error_text(exc)
        emit()
        if _stops_run(exc):
            raise EvaluationError(f"stopped: {progress.last_error}") from None

    async def ensure_answer(
        question: QuestionRow, existing: AnswerRow | None, client: ChatTarget, key: str
    ) -> str | None:
        if existing is not None and existing.ok:
            return existing.text
        messages = [{"role": "user", "content": question.text}]
        if settings.system_prompt.strip():
            messages.insert(0, {"role": "system", "content": settings.system_prompt})
        try:
            result = await client.complete(
                messages,
                temperature=settings.temperature,
                top_p=settings.top_p,
                max_tokens=settings.max_tokens,
                purpose="eval-answer",
            )
        except Exception as exc:
            store.save_answer(question.id, key, text=None, error=_error_text(exc))
            fail(exc)
            return None
        store.save_answer(
            question.id,
            key,
            text=result.text,
            latency_ms=result.latency_s * 1000,
            tokens=result.completion_tokens,
            finish_reason=result.finish_reason,
        )
        progress.answers_done += 1
        progress.cost_usd += float(result.cost_usd or 0.0)
        emit()
        return result.text

    async def ensure_verdict(
        question: QuestionRow, ordering: str, existing: VerdictRow | None, first: str, second: str
    ) -> None:
        if existing is not None and existing.ok:
            return
        from core.llm.errors import OutputFormatError

        messages = pairwise_judge_messages(
            question.text,
            first,
            second,
            rubric=settings.rubric,
            reference_answer=question.reference if settings.use_reference and question.reference else None,
        )
        try:
            cut_off = False
            try:
                result = await judge.complete(
                    messages,
                    temperature=JUDGE_TEMPERATURE,
                    top_p=1.0,
                    max_tokens=settings.judge_max_tokens,
                    json_schema={"name": VERDICT_SCHEMA_NAME, "schema": VERDICT_SCHEMA, "strict": True},
                    purpose="judge",
                )
                reply = result.text
                progress.cost_usd += float(result.cost_usd or 0.0)
            except OutputFormatError as exc:  # not the strict JSON: still readable when it says [[A]] etc.
                reply, cut_off = exc.text, exc.finish_reason == "length"
                if not reply:
                    raise
            try:
                verdict = parse_verdict(reply)
            except VerdictParseError as exc:
                if not cut_off:
                    raise
                raise VerdictParseError(
                    f"the judge's reply was cut off at {settings.judge_max_tokens} tokens (raise its max tokens): {exc}"
                ) from None
        except Exception as exc:  # VerdictParseError, LLM errors
            store.save_verdict(evaluation.id, question.id, ordering, winner=None, error=_error_text(exc))
            fail(exc)
            return
        store.save_verdict(evaluation.id, question.id, ordering, winner=verdict.winner, reason=verdict.reason)
        progress.verdicts_done += 1
        emit()

    gate = asyncio.Semaphore(settings.concurrency)

    async def pipeline(item: QuestionOutcome) -> None:
        async with gate:
            text_a, text_b = await asyncio.gather(
                ensure_answer(item.question, item.answer_a, client_a, key_a),
                ensure_answer(item.question, item.answer_b, client_b, key_b),
            )
            if text_a is None or text_b is None:
                return
            await asyncio.gather(
                ensure_verdict(item.question, "AB", item.verdict_ab, text_a, text_b),
                ensure_verdict(item.question, "BA", item.verdict_ba, text_b, text_a),
            )

    emit()
    run_id = store.start_run("evaluate")
    status = "failed"
    try:
        try:
            async with asyncio.TaskGroup() as group:
                for item in report.items:
                    group.create_task(pipeline(item))
        except BaseExceptionGroup as caught:
            stops = [e for e in caught.exceptions if isinstance(e, EvaluationError)]
            if stops:
                raise stops[0] from None
            raise
        status = "done"
    except asyncio.CancelledError:
        status = "cancelled"
        raise
    finally:
        final = load_report(store, evaluation.id)
        store.finish_evaluation(evaluation.id, "done" if final.complete else "incomplete", final.summary)
        store.finish_run(run_id, status, progress.as_dict())
    return load_report(store, evaluation.id)


async def evaluate(
    services: Services,
    target_a: str,
    target_b: str,
    *,
    set_name: str | None = None,
    settings: EvalSettings | None = None,
    on_progress: Callable[[EvalProgress], None] | None = None,
    fresh: bool = False,
) -> EvalReport:
    """`run_evaluation` with the targets and the judge built from the session's services."""
    spec_a, spec_b = TargetSpec.parse(target_a), TargetSpec.parse(target_b)
    clients: list[ChatTarget] = []
    try:
        client_a = build_eval_target(services, spec_a)
        clients.append(client_a)
        client_b = build_eval_target(services, spec_b)
        clients.append(client_b)
        judge = services.chat_target("judge")
        clients.append(judge)
        return await run_evaluation(
            services.store,
            target_a=str(spec_a),
            target_b=str(spec_b),
            client_a=client_a,
            client_b=client_b,
            judge=judge,
            set_name=set_name,
            settings=settings,
            on_progress=on_progress,
            fresh=fresh,
        )
    finally:
        for client in clients:
            await client.aclose()


# ---- blind human votes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BlindItem:
    """One question as a voter sees it: sides shuffled per voter, target names hidden."""

    question_id: int
    question: str
    left: str
    right: str
    a_on_left: bool  # for the UI's bookkeeping only; never shown
    vote: str | None  # this voter's earlier vote in screen terms ("left", "right", "tie", "both_bad"), if any


def validate_voter(voter: str) -> str:
    name = " ".join(str(voter).split())
    if not _VOTER.match(name):
        raise EvaluationError("a voter name is 1-40 letters, digits, spaces or . @ ' - _")
    return name


def _sides(evaluation_id: int, voter: str, question_ids: Sequence[int]) -> dict[int, bool]:
    assignment = blind_assignment([str(q) for q in question_ids], seed=f"{evaluation_id}:{voter}")
    return {int(k): v for k, v in assignment.items()}


def _shown(choice: str, a_on_left: bool) -> str:
    if choice == "A":
        return "left" if a_on_left else "right"
    if choice == "B":
        return "right" if a_on_left else "left"
    return choice


def blind_items(
    store: Store, evaluation_id: int, voter: str, *, include_voted: bool = True, limit: int | None = None
) -> list[BlindItem]:
    """The questions with both answers, sides shuffled for this voter (the same every time)."""
    voter = validate_voter(voter)
    report = load_report(store, evaluation_id)
    answered = [i for i in report.items if i.answer_a and i.answer_a.ok and i.answer_b and i.answer_b.ok]
    sides = _sides(evaluation_id, voter, [i.question.id for i in answered])
    earlier = {v.question_id: v for v in store.votes(evaluation_id, voter)}
    items = []
    for item in answered:
        a_left = sides[item.question.id]
        previous = earlier.get(item.question.id)
        if previous is not None and not include_voted:
            continue
        text_a, text_b = item.answer_a.text or "", item.answer_b.text or ""  # type: ignore[union-attr]
        items.append(
            BlindItem(
                item.question.id,
                item.question.text,
                text_a if a_left else text_b,
                text_b if a_left else text_a,
                a_left,
                _shown(previous.choice, previous.a_on_left) if previous else None,
            )
        )
        if limit is not None and len(items) >= limit:
            break
    return items


def cast_vote(store: Store, evaluation_id: int, question_id: int, voter: str, shown: ShownChoice) -> str:
    """Record a blind vote given in screen terms; returns it in target terms ("A", "B", "tie", "both_bad")."""
    voter = validate_voter(voter)
    _evaluation_or_error(store, evaluation_id)
    a_on_left = _sides(evaluation_id, voter, [question_id])[question_id]
    try:
        choice = unblind(shown, a_on_left)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None
    store.record_vote(evaluation_id, question_id, voter, a_on_left=a_on_left, choice=choice)
    return choice


@dataclass(frozen=True)
class DisagreementRow:
    question_id: int
    question: str
    voter: str
    judge: str
    human: str


@dataclass(frozen=True)
class HumanReport:
    preference: HumanPreference
    agreement: JudgeHumanAgreement
    disagreements: list[DisagreementRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        p, a = self.preference, self.agreement
        return {
            "votes": p.n,
            "voters": list(p.voters),
            "a": p.a,
            "b": p.b,
            "tie": p.tie,
            "both_bad": p.both_bad,
            "human_preference_a": p.a_rate,
            "human_preference_interval": list(p.a_interval),
            "lenient_preference_a": p.lenient_a_rate,
            "agreement_n": a.n,
            "raw_agreement": a.raw_agreement,
            "kappa": a.kappa,
            "ac1": a.ac1,
            "confusion": a.confusion,
            "unmatched_votes": a.unmatched_votes,
            "disagreements": [asdict(d) for d in self.disagreements],
        }


def human_report(store: Store, evaluation_id: int) -> HumanReport:
    """Human preference for target A, judge-human agreement (raw and Cohen's kappa) and disagreements."""
    report = load_report(store, evaluation_id)
    votes = [
        HumanVote(str(v.question_id), v.voter, v.choice)  # type: ignore[arg-type]
        for v in store.votes(evaluation_id)
    ]
    results = [r for item in report.items if (r := item.result) is not None]
    agreement = judge_human_agreement(results, votes)
    texts = {str(item.question.id): item.question.text for item in report.items}
    rows = [
        DisagreementRow(int(d.question_id), texts.get(d.question_id, ""), d.voter, d.judge, d.human)
        for d in agreement.disagreements
    ]
    return HumanReport(human_preference(votes), agreement, rows)


# ---- regression and the experiment sheet --------------------------------------------------------


@dataclass(frozen=True)
class RegressedQuestion:
    question_id: int
    question: str
    topic: str | None
    before: str  # outcome for target A in the previous evaluation
    after: str


@dataclass(frozen=True)
class RegressionReport:
    previous: EvaluationRow
    current: EvaluationRow
    worse: list[RegressedQuestion]
    better: int  # questions whose outcome improved
    common: int  # questions judged in both

    def to_dict(self) -> dict[str, Any]:
        return {
            "previous_evaluation": self.previous.id,
            "previous_target": self.previous.target_a,
            "previous_score": self.previous.summary.get("score"),
            "current_evaluation": self.current.id,
            "current_target": self.current.target_a,
            "current_score": self.current.summary.get("score"),
            "worse": [asdict(w) for w in self.worse],
            "better": self.better,
            "common": self.common,
        }


def previous_best(store: Store, evaluation_id: int) -> EvaluationRow | None:
    """The best earlier evaluation of another candidate on the same set against the same opponent."""
    current = _evaluation_or_error(store, evaluation_id)
    candidates = [
        e
        for e in store.evaluations(current.set_id)
        if e.id != current.id
        and e.target_b == current.target_b
        and e.target_a != current.target_a
        and e.created_at <= current.created_at
        and e.summary.get("N")
    ]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda e: (
            e.summary.get("wins", 0) / max(1, e.summary.get("N", 1)),
            e.summary.get("lenient_rate") or 0.0,
            e.created_at,
        ),
    )


def regression_check(store: Store, evaluation_id: int, previous_id: int | None = None) -> RegressionReport:
    """Questions that got worse for the new candidate compared with the previous best (or `previous_id`)."""
    current = _evaluation_or_error(store, evaluation_id)
    previous = (
        _evaluation_or_error(store, previous_id) if previous_id is not None else previous_best(store, evaluation_id)
    )
    if previous is None:
        raise EvaluationError("no earlier evaluation on the same question set against the same opponent")
    if previous.set_id != current.set_id:
        raise EvaluationError("the two evaluations use different question sets")
    if previous.target_b != current.target_b:
        raise EvaluationError(
            f"the two evaluations have different opponents ({previous.target_b} vs {current.target_b})"
        )
    before, after = question_results(store, previous.id), question_results(store, current.id)
    worse = regression(before, after)
    rank = {"A": 2, "tie": 1, "B": 0}
    old = {r.question_id: r.outcome for r in before}
    better = sum(1 for r in after if r.question_id in old and rank[r.outcome] > rank[old[r.question_id]])
    texts = {q.id: q.text for q in store.questions(current.set_id)}
    return RegressionReport(
        previous=previous,
        current=current,
        worse=[
            RegressedQuestion(int(w.question_id), texts.get(int(w.question_id), ""), w.topic, w.before, w.after)
            for w in worse
        ],
        better=better,
        common=sum(1 for r in after if r.question_id in old),
    )


def scores_by_job(store: Store) -> dict[str, dict[str, Any]]:
    """{job name: league score dict} for the experiment sheet (job -> endpoint -> evaluation).

    Per job, the newest complete evaluation with one of its endpoints as target A (else the newest
    one with any result), as `summary` of `load_report`, plus `endpoint` and `status`.
    """
    chosen: dict[str, tuple[bool, float, int, str, EvaluationRow]] = {}
    for entry in store.job_evaluations():
        evaluation = entry.evaluation
        if not evaluation.summary.get("N"):
            continue
        rank = (evaluation.status == "done", evaluation.created_at, evaluation.id)
        current = chosen.get(entry.job_name)
        if current is None or rank > current[:3]:
            chosen[entry.job_name] = (*rank, entry.endpoint_name, evaluation)
    return {
        job: {**evaluation.summary, "endpoint": endpoint, "status": evaluation.status}
        for job, (_, _, _, endpoint, evaluation) in sorted(chosen.items())
    }

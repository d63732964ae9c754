"""More data where the model loses: from a finished evaluation, the topics where target A lost or tied,
and one run that generates N new pairs for each of them; and hard cases from a probe set.

The evaluation's questions carry the topic they were asked under (by name or path); they map back to
the session's topic tree. The new questions come from a named generation round (new task keys, so
the topic's earlier questions stay as they are), and any question near a held-out question is
dropped before it is answered: held-out questions never become training data.

Hard cases: a probe set is a question set whose source starts with "probe" (`create_probe_set`), kept
apart from every held-out set: none of its questions equals or nearly duplicates a held-out question.
While a question is in the probe set it counts as held out (the export's leak guard keeps it out of
training). After an evaluation of the base model (A) against the reference (B) on the probe set,
`promote_hard_cases` takes the questions where A lost: each gets a fresh answer from the generator and
becomes a training pair (pending, tagged `hard_case`), and leaves the probe set in the same transaction
(its answers and verdicts go with it). An evaluation on a held-out set is refused, and a probe
question that has come near a held-out question since is skipped: held-out questions never become
training data. The new pairs are one undo step (the questions do not come back).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from core.curation.dedup import find_leaks
from core.evaluation.judge import question_results
from core.generation import prompts
from core.generation.generate import GenerationSettings, PairGenerator, Progress
from core.store import NewPair

if TYPE_CHECKING:
    from collections.abc import Sequence

    from core.evaluation.questions import NewQuestion
    from core.llm.base import ChatTarget
    from core.store import Store
    from core.store.evals import QuestionSetRow

PROBE_SOURCE = "probe"
HARD_CASE_TAG = "hard_case"


@dataclass(frozen=True)
class TopicLoss:
    name: str
    topic_id: int | None
    """The session topic it maps to (None: no topic of that name or path)."""
    lost: int
    tied: int
    won: int


def losing_topics(store: Store, evaluation_id: int) -> list[TopicLoss]:
    """Topics of the evaluation's judged questions where A lost or tied at least once, most losses first."""
    tally: dict[str, list[int]] = {}
    for result in question_results(store, evaluation_id):
        counts = tally.setdefault(result.topic or "", [0, 0, 0])
        counts[{"B": 0, "tie": 1, "A": 2}[result.outcome]] += 1
    by_name = _topics_by_name(store)
    losses = [
        TopicLoss(name, by_name.get(name.strip().lower()), lost, tied, won)
        for name, (lost, tied, won) in tally.items()
        if lost + tied
    ]
    return sorted(losses, key=lambda t: (-(t.lost + t.tied), -t.lost, t.name))


def _topics_by_name(store: Store) -> dict[str, int]:
    by_name: dict[str, int] = {}
    for topic in store.topics():
        by_name.setdefault(topic.name.strip().lower(), topic.id)
        by_name.setdefault(" > ".join(store.topic_path(topic.id)).strip().lower(), topic.id)
    return by_name


async def more_pairs_for_losses(
    store: Store,
    target: ChatTarget,
    settings: GenerationSettings,
    evaluation_id: int,
    per_topic: int,
    *,
    model: str = "",
) -> tuple[list[TopicLoss], Progress | None]:
    """Generate `per_topic` new pairs for each topic A lost or tied in; (the topics, the run's progress)."""
    topics = losing_topics(store, evaluation_id)
    ids = sorted({t.topic_id for t in topics if t.topic_id is not None})
    if not ids:
        return topics, None
    extra = replace(settings, questions_per_topic=per_topic, refusal_share=0.0, round=f"more-eval-{evaluation_id}")
    progress = await PairGenerator(store, target, extra, model=model).run(ids)
    return topics, progress


# ---- hard cases from a probe set -----------------------------------------------------------------


def is_probe_set(qset: QuestionSetRow) -> bool:
    return qset.source == PROBE_SOURCE or qset.source.startswith(PROBE_SOURCE + ":")


def heldout_only_questions(store: Store) -> list[str]:
    """The questions of every held-out set (every question set but the probe sets)."""
    return [q.text for s in store.question_sets() if not is_probe_set(s) for q in store.questions(s.id)]


@dataclass(frozen=True)
class _Text:
    id: int
    question: str
    answer: str = ""
    kind: str = "qa"


def create_probe_set(
    store: Store, name: str, questions: Sequence[NewQuestion], *, origin: str = "", threshold: float = 0.7
) -> int:
    """A new probe set (all or nothing); refused when any question equals or nearly duplicates a held-out
    question, naming them. Returns the set id."""
    from core.evaluation.questions import validate_set_name

    name = validate_set_name(name)
    if store.question_set(name) is not None:
        raise ValueError(f"a question set named {name!r} already exists")
    if not questions:
        raise ValueError("a probe set needs at least one question")
    near = find_leaks([_Text(i, q.text) for i, q in enumerate(questions)], heldout_only_questions(store), threshold)
    if near:
        shown = "; ".join(f"line {questions[i].line or i + 1}: near {held!r}" for i, held in sorted(near.items())[:5])
        raise ValueError(
            f"{len(near)} probe question(s) are held-out questions or near them, and a probe set is kept apart "
            f"from every held-out set: {shown}"
        )
    source = f"{PROBE_SOURCE}:{origin}" if origin else PROBE_SOURCE
    return store.create_question_set(name, [(q.text, q.topic, q.reference) for q in questions], source=source)


@dataclass
class HardCaseResult:
    probe_set: str
    lost: int = 0
    """Probe questions where A (the base model) lost to B (the reference)."""
    promoted: int = 0
    near_heldout: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    batch: str | None = None
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "probe_set": self.probe_set,
            "lost": self.lost,
            "promoted": self.promoted,
            "near_heldout": self.near_heldout,
            "failed": self.failed,
            "cost_usd": round(self.cost_usd, 6),
            "batch": self.batch,
            "errors": self.errors[:20],
        }


async def promote_hard_cases(
    store: Store,
    target: ChatTarget,
    settings: GenerationSettings,
    evaluation_id: int,
    *,
    threshold: float = 0.7,
) -> HardCaseResult:
    """The probe questions A lost on become training pairs with fresh answers and leave the probe set."""
    evaluation = store.evaluation(evaluation_id)
    if evaluation is None:
        raise ValueError(f"no evaluation with id {evaluation_id}")
    qset = store.question_set_by_id(evaluation.set_id)
    if qset is None or not is_probe_set(qset):
        name = qset.name if qset is not None else evaluation.set_id
        raise ValueError(
            f"evaluation {evaluation_id} is on question set {name!r}, a held-out set: held-out questions never "
            "become training data (evaluate on a probe set: tunedeck pairs probe FILE --set NAME)"
        )
    result = HardCaseResult(qset.name)
    lost_ids = {int(r.question_id) for r in question_results(store, evaluation_id) if r.outcome == "B"}
    questions = [q for q in store.questions(qset.id) if q.id in lost_ids]
    result.lost = len(questions)
    near = find_leaks([_Text(q.id, q.text) for q in questions], heldout_only_questions(store), threshold)
    result.near_heldout = len(near)
    questions = [q for q in questions if q.id not in near]
    brief = store.get_meta("domain_brief", "") or ""
    by_name = _topics_by_name(store)
    gate = asyncio.Semaphore(max(1, settings.max_concurrency))
    answered: list[tuple[int, NewPair]] = []

    async def one(question: Any) -> None:
        topic_id = by_name.get(question.topic.strip().lower()) if question.topic else None
        path = store.topic_path(topic_id) if topic_id is not None else ([question.topic] if question.topic else [])
        try:
            async with gate:
                reply = await target.complete(
                    prompts.answer_messages(settings.answer_style, brief, path, question.text),
                    temperature=settings.answer_temperature,
                    top_p=settings.top_p,
                    max_tokens=settings.answer_max_tokens,
                    purpose="hard_case",
                )
            result.cost_usd += reply.cost_usd
            answer = (reply.text or "").strip()
            if reply.finish_reason == "length" or not answer:
                raise ValueError("the answer was cut off or empty; the question stays in the probe set")
        except Exception as exc:  # recorded; the question stays a probe for the next run
            result.failed += 1
            result.errors.append(f"question {question.id}: {exc}")
            store.log("warning", "hard_cases", f"question {question.id}: {exc}")
            return
        provenance = {
            "hard_case": True,
            "probe_set": qset.name,
            "evaluation": evaluation_id,
            "question_id": question.id,
            "lost_to": evaluation.target_b,
        }
        key = f"hard:{qset.id}:{question.id}"
        answered.append(
            (question.id, NewPair(question.text, answer, topic_id, "qa", "pending", (HARD_CASE_TAG,), key, provenance))
        )

    await asyncio.gather(*(one(q) for q in questions))
    if answered:
        answered.sort()
        result.batch, result.promoted = store.add_pairs_leaving_questions(
            [pair for _, pair in answered], [qid for qid, _ in answered]
        )
    return result

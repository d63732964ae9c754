"""More data where the model loses: from a finished evaluation, the topics where target A lost or tied,
and one run that generates N new pairs for each of them.

The evaluation's questions carry the topic they were asked under (by name or path); they map back to
the session's topic tree. The new questions come from a named generation round (new task keys, so
the topic's earlier questions stay as they are), and any question near a held-out question is
dropped before it is answered: held-out questions never become training data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from core.evaluation.judge import question_results
from core.generation.generate import GenerationSettings, PairGenerator, Progress

if TYPE_CHECKING:
    from core.llm.base import ChatTarget
    from core.store import Store


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
    by_name: dict[str, int] = {}
    for topic in store.topics():
        by_name.setdefault(topic.name.strip().lower(), topic.id)
        by_name.setdefault(" > ".join(store.topic_path(topic.id)).strip().lower(), topic.id)
    losses = [
        TopicLoss(name, by_name.get(name.strip().lower()), lost, tied, won)
        for name, (lost, tied, won) in tally.items()
        if lost + tied
    ]
    return sorted(losses, key=lambda t: (-(t.lost + t.tied), -t.lost, t.name))


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

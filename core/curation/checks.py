"""Curation of generated Q/A pairs: one call that runs every cheap check.

The checks themselves live in `core.curation.lints` (format lints, length outliers) and `core.curation.dedup`
(exact and near-duplicate clusters, held-out leakage); the types they share in `core.curation.types`.
Everything here is pure: plain data in, plain data out; the store and the UI call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.curation.dedup import DuplicateCluster, find_duplicates, find_leaks
from core.curation.lints import lint_corpus, snippet
from core.curation.types import LEAK_CODE, Flag, PairLike

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence


@dataclass(frozen=True)
class CurationReport:
    flags: Mapping[int, list[Flag]]
    """Pair id -> lint, length-outlier and held-out-leak flags; ids without findings are absent."""
    clusters: list[DuplicateCluster] = field(default_factory=list)
    leaks: Mapping[int, str] = field(default_factory=dict)
    """Pair id -> the held-out question it nearly duplicates."""


def curate(
    pairs: Sequence[PairLike],
    heldout_questions: Iterable[str] = (),
    *,
    dup_threshold: float = 0.7,
    leak_threshold: float = 0.7,
    outlier_threshold: float = 3.5,
    scores: Mapping[int, float] | None = None,
) -> CurationReport:
    """Run lints, length outliers, dedup and the leakage guard over `pairs` in one go."""
    flags = lint_corpus(pairs, outlier_threshold=outlier_threshold)
    clusters = find_duplicates(pairs, threshold=dup_threshold, scores=scores)
    heldout = list(heldout_questions)
    leaks = find_leaks(pairs, heldout, threshold=leak_threshold) if heldout else {}
    for pair_id, question in leaks.items():
        flags.setdefault(pair_id, []).append(leak_flag(question))
    return CurationReport(flags=flags, clusters=clusters, leaks=leaks)


def leak_flag(heldout_question: str) -> Flag:
    return Flag(LEAK_CODE, f"question nearly duplicates the held-out question {snippet(heldout_question, 80)}")

"""Curation of generated Q/A pairs: the shared types, and one call that runs every cheap check.

The checks themselves live in `core.curation.lints` (format lints, length outliers) and `core.curation.dedup`
(exact and near-duplicate clusters, held-out leakage). Everything here is pure: plain data in,
plain data out; the store and the UI call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Protocol, Sequence

if TYPE_CHECKING:
    from core.curation.dedup import DuplicateCluster


class PairLike(Protocol):
    """What curation reads from a pair. `core.store.records.Pair` satisfies it."""

    @property
    def id(self) -> int: ...
    @property
    def question(self) -> str: ...
    @property
    def answer(self) -> str: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class PairText:
    """A pair as plain text, for callers that do not hold store records."""

    id: int
    question: str
    answer: str
    kind: str = "qa"
    topic: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Flag:
    """One finding about a pair; `message` explains it to the user in plain words."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


REFUSAL_KIND = "refusal"
LEAK_CODE = "heldout_leak"


@dataclass(frozen=True)
class CurationReport:
    flags: Mapping[int, list[Flag]]
    """Pair id -> lint, length-outlier and held-out-leak flags; ids without findings are absent."""
    clusters: list["DuplicateCluster"] = field(default_factory=list)
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
    from core.curation.dedup import find_duplicates, find_leaks
    from core.curation.lints import lint_corpus

    flags = lint_corpus(pairs, outlier_threshold=outlier_threshold)
    clusters = find_duplicates(pairs, threshold=dup_threshold, scores=scores)
    heldout = list(heldout_questions)
    leaks = find_leaks(pairs, heldout, threshold=leak_threshold) if heldout else {}
    for pair_id, question in leaks.items():
        flags.setdefault(pair_id, []).append(leak_flag(question))
    return CurationReport(flags=flags, clusters=clusters, leaks=leaks)


def leak_flag(heldout_question: str) -> Flag:
    from core.curation.lints import snippet

    return Flag(LEAK_CODE, f"question nearly duplicates the held-out question {snippet(heldout_question, 80)}")

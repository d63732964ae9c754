"""Augmentation of training data: seeded typo noise on questions (character deletions and swaps).

Copies are new pairs tagged `augment:<method>`, with provenance naming their source, and
`split_of` set to the source's split key: the export puts a copy on its source's side of the
train/validation split and leaves out copies of validation pairs (core.dataset.jumpstart), so
augmentation only adds training data. Sources are pairs that would be trained on: not rejected,
not copies themselves, and not near a held-out question. One run is one undo step
(`Store.undo_last_edit`); its task keys make a rerun with the same settings skip what exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from core.curation.dedup import find_leaks
from core.dataset.jumpstart import split_key
from core.evaluation.questions import heldout_questions
from core.store import NewPair, PairFilter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from core.store import Pair, Store
    from core.store.pairs import SourceRow

TAG_PREFIX = "augment:"
DEFAULT_TYPO_RATE = 0.03
"""Share of a question's letters deleted or swapped (at least one per question)."""


@dataclass(frozen=True)
class PreviewRow:
    source_id: int
    before: str
    after: str


@dataclass(frozen=True)
class AugmentResult:
    method: str
    sources: int
    added: int
    skipped: int
    """Copies already stored by an earlier run with the same settings."""
    batch: str | None
    preview: list[PreviewRow]

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "sources": self.sources,
            "added": self.added,
            "skipped": self.skipped,
            "batch": self.batch,
            "preview": [{"source_id": r.source_id, "before": r.before, "after": r.after} for r in self.preview],
        }


class Rng(Protocol):
    """What `typo` draws from: random.Random, or the cheaper _SplitMix."""

    def randrange(self, stop: int, /) -> int: ...

    def random(self) -> float: ...


def typo(text: str, rng: Rng, rate: float = DEFAULT_TYPO_RATE) -> str:
    """`text` with about `rate` of its letters deleted or swapped with the next letter (at least one)."""
    letters = sum(map(str.isalpha, text))
    if not letters:
        return text
    count = min(letters, max(1, round(letters * rate)))
    chosen: set[int] = set()
    for _ in range(count * 20):  # random positions until enough letters (letters are most of a question)
        index = rng.randrange(len(text))
        if text[index].isalpha():
            chosen.add(index)
            if len(chosen) == count:
                break
    if not chosen:
        chosen.add(next(i for i, c in enumerate(text) if c.isalpha()))
    chars = list(text)
    for index in sorted(chosen, reverse=True):
        nxt = index + 1
        if nxt < len(chars) and chars[nxt].isalpha() and chars[nxt] != chars[index] and rng.random() < 0.5:
            chars[index], chars[nxt] = chars[nxt], chars[index]
        else:
            del chars[index]
    return "".join(chars)


class _SplitMix:
    """A small seeded generator (splitmix64) with the two calls `typo` makes; some 20x cheaper to seed and
    to draw from than random.Random, which dominated augmenting 100,000 pairs."""

    __slots__ = ("state",)
    MASK = (1 << 64) - 1

    def __init__(self, seed: int) -> None:
        self.state = seed & self.MASK

    def _next(self) -> int:
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def randrange(self, stop: int) -> int:
        return self._next() % stop

    def random(self) -> float:
        return (self._next() >> 11) * (1.0 / (1 << 53))


def typo_copy(pair: Pair | SourceRow, *, seed: int, rate: float) -> NewPair:
    rng = _SplitMix(seed * 1_000_003 + pair.id)  # per source: the same copy whatever the order
    method = "typo"
    return NewPair(
        question=typo(pair.question, rng, rate),
        answer=pair.answer,
        topic_id=pair.topic_id,
        kind=pair.kind,
        status=pair.status,
        tags=(*(t for t in pair.tags if not t.startswith(TAG_PREFIX)), TAG_PREFIX + method),
        task_key=f"augment:{method}:{seed}:{rate:g}:{pair.id}",
        provenance={
            "augmented": True,
            "method": method,
            "source_pair": pair.id,
            "split_of": split_key(pair).hex(),
            "seed": seed,
            "rate": rate,
        },
    )


def _copy_row(pair: SourceRow, seed: int, rate: float) -> tuple[Any, ...]:
    """`typo_copy` as a row for Store.add_rows_step, its JSON written directly (the same values)."""
    rng = _SplitMix(seed * 1_000_003 + pair.id)
    tags = [t for t in pair.tags if not t.startswith(TAG_PREFIX)]
    tags.append(TAG_PREFIX + "typo")
    provenance = (
        f'{{"augmented": true, "method": "typo", "source_pair": {pair.id}, '
        f'"split_of": "{split_key(pair).hex()}", "seed": {seed}, "rate": {json.dumps(rate)}}}'
    )
    return (
        pair.topic_id,
        typo(pair.question, rng, rate),
        pair.answer,
        pair.kind,
        pair.status,
        json.dumps(tags),
        f"augment:typo:{seed}:{rate:g}:{pair.id}",
        provenance,
    )


def sources(store: Store, flt: PairFilter, threshold: float) -> list[SourceRow]:
    """The pairs of the filter that may be augmented: trained on, not copies, not near a held-out question
    (read as SourceRow: only the columns a copy needs)."""
    found = list(store.iter_source_rows(flt))
    heldout = heldout_questions(store)
    leaks = find_leaks(found, heldout, threshold) if heldout else {}
    return [p for p in found if p.id not in leaks] if leaks else found


def augment_typos(
    store: Store,
    flt: PairFilter | None = None,
    *,
    seed: int = 0,
    rate: float = DEFAULT_TYPO_RATE,
    preview: int | None = None,
    threshold: float = 0.7,
) -> AugmentResult:
    """One typo copy of each source pair; with `preview`, only the first rows shown and nothing written."""
    if not 0 < rate <= 0.5:
        raise ValueError(f"typo rate must be above 0 and at most 0.5, got {rate!r}")
    picked = sources(store, flt if flt is not None else PairFilter(status="accepted"), threshold)
    if preview is not None:
        return AugmentResult("typo", len(picked), 0, 0, None, _preview(picked[:preview], seed, rate))
    copies = [_copy_row(p, seed, rate) for p in picked]
    batch, added = store.add_rows_step(copies)
    return AugmentResult("typo", len(picked), added, len(copies) - added, batch if added else None, [])


def _preview(pairs: Sequence[SourceRow], seed: int, rate: float) -> list[PreviewRow]:
    return [PreviewRow(p.id, p.question, typo_copy(p, seed=seed, rate=rate).question) for p in pairs]

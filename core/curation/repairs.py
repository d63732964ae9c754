"""Repairs in bulk: strip a leaked header (`### ANSWER`, `**Response:**`) and meta-talk openers
("Based on the text provided, ...", "Sure! Here is the answer:") from the start of answers.

Each repair is a pure function of the answer, so a preview shows exactly what applying writes.
`repair_answers` runs one or more repairs over the pairs of a filter (a flag code, a status, a
topic), previews the first rows as before/after, or applies every change as one undo step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from core.store import PairFilter, Store

_HEADER = re.compile(
    r"\A\s*(?:#{1,6}\s*(?:answer|response|output)\b[ \t]*:?[ \t]*\n?"
    r"|\**(?:answer|response|output)\s*\**\s*:\s*\**[ \t]*\n?)",
    re.IGNORECASE,
)
_OPENER = re.compile(
    r"\A\s*(?:(?:sure|certainly|of course|absolutely|great question)[!.,]?\s+)?"
    r"(?:(?:here (?:is|are|'s) (?:the|an?|my) (?:answer|response|explanation)[^.:\n]{0,40}[:.]\s*)"
    r"|(?:(?:based (?:up)?on|according to) the (?:provided |given |above |supplied )?"
    r"(?:text|passage|context|excerpt|document|information|details)(?: provided| given| above)?,\s*)"
    r"|(?:as an ai(?: language model)?,\s*))",
    re.IGNORECASE,
)
_SURE_ONLY = re.compile(r"\A\s*(?:sure|certainly|of course|absolutely)[!.]\s+", re.IGNORECASE)


def strip_header(answer: str) -> str:
    """The answer without a leading `### ANSWER` / `**Response:**` style header."""
    stripped = _HEADER.sub("", answer, count=1)
    return stripped.lstrip() if stripped != answer else answer


def strip_meta_opener(answer: str) -> str:
    """The answer without a meta-talk opener; the next word starts with a capital letter."""
    stripped = _OPENER.sub("", answer, count=1)
    if stripped == answer:
        stripped = _SURE_ONLY.sub("", answer, count=1)
    if stripped == answer or not stripped.strip():
        return answer
    stripped = stripped.lstrip()
    return stripped[:1].upper() + stripped[1:]


REPAIRS: dict[str, Callable[[str], str]] = {"strip_header": strip_header, "strip_meta": strip_meta_opener}


@dataclass(frozen=True)
class RepairRow:
    pair_id: int
    before: str
    after: str


@dataclass(frozen=True)
class RepairResult:
    repairs: tuple[str, ...]
    scanned: int
    changed: int
    batch: str | None
    preview: list[RepairRow]

    def as_dict(self) -> dict[str, Any]:
        return {
            "repairs": list(self.repairs),
            "scanned": self.scanned,
            "changed": self.changed,
            "batch": self.batch,
            "preview": [{"pair_id": r.pair_id, "before": r.before, "after": r.after} for r in self.preview],
        }


def repair_answers(
    store: Store, flt: PairFilter, repairs: Sequence[str], *, preview: int | None = None
) -> RepairResult:
    """Run the named repairs (in order) over the filter's answers; preview the first rows or apply all."""
    unknown = [name for name in repairs if name not in REPAIRS]
    if unknown or not repairs:
        raise ValueError(f"unknown repair {', '.join(unknown) or '(none given)'}; choose from {', '.join(REPAIRS)}")
    changes: dict[int, str] = {}
    rows: list[RepairRow] = []
    scanned = 0
    for pair in store.iter_pairs(flt):
        scanned += 1
        after = pair.answer
        for name in repairs:
            after = REPAIRS[name](after)
        if after != pair.answer:
            changes[pair.id] = after
            if preview is not None and len(rows) < preview:
                rows.append(RepairRow(pair.id, pair.answer, after))
    if preview is not None:
        return RepairResult(tuple(repairs), scanned, len(changes), None, rows)
    batch = store.set_answers(changes) if changes else None
    return RepairResult(tuple(repairs), scanned, len(changes), batch, [])

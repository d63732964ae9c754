"""The types every curation check shares: what a check reads from a pair, and what it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

REFUSAL_KIND = "refusal"
LEAK_CODE = "heldout_leak"


class PairLike(Protocol):
    """What curation reads from a pair. `core.store.Pair` satisfies it."""

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

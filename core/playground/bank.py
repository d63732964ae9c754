"""The prompt bank: prepared system prompts with tags, to paste in the final as finalists do (the
event's page then appends the question, see [final] question_template), and per-question presets for
temperature and top_p: low for a definite question (a count, a sum, a date), higher for an open one.

    entries = ensure_bank(store, max_tokens=200)   # each entry is a prompt version ("bank: concise", ...)
    kind = question_kind("How many r are in strawberry?")   # "definite"
    preset_params(params, kind)                    # temperature and top_p for that kind

Bank entries are ordinary prompt versions, so diff, rehearsal and export work on them unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.playground.rounds import Params, save_version

if TYPE_CHECKING:
    from core.store import Store
    from core.store.playground import PromptVersionRow

PREFIX = "bank: "
PRESETS: dict[str, tuple[float, float]] = {"definite": (0.1, 0.5), "open": (0.7, 0.9)}  # (temperature, top_p)
_DEFINITE = re.compile(
    r"\b(how many|how much|count|calculate|compute|what is \d|sum of|which (day|year|date)|when (was|did|is)|"
    r"spell|true or false|yes or no)\b|\d\s*[-+*/×x]\s*\d",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BankEntry:
    name: str
    tags: tuple[str, ...]
    system_prompt: str


BANK: tuple[BankEntry, ...] = (
    BankEntry(
        "concise",
        ("concise",),
        "Answer in at most three short sentences. Lead with the answer, then one reason. No headings, no lists.",
    ),
    BankEntry(
        "empathetic",
        ("empathetic", "concise"),
        "You are a kind, patient expert. Acknowledge the person's situation in one sentence, then answer "
        "plainly and briefly, with one practical next step.",
    ),
    BankEntry(
        "structured",
        ("structured",),
        "Answer with a one-line summary, then at most three numbered steps or points. Keep each point to one line.",
    ),
    BankEntry(
        "creative",
        ("creative",),
        "Answer vividly: one concrete image or example that makes the point memorable, then the plain answer. "
        "Stay brief and accurate.",
    ),
    BankEntry(
        "careful",
        ("definite", "concise"),
        "For counts, arithmetic and dates, work it out step by step silently, then state the final answer "
        "clearly in one sentence. Check letter counts one letter at a time.",
    ),
)


def question_kind(question: str) -> str:
    """ "definite" for a question with one checkable answer (a count, a sum, a date), else "open"."""
    return "definite" if _DEFINITE.search(question) else "open"


def preset_params(params: Params, kind: str) -> Params:
    """The parameters with the preset temperature and top_p of the question's kind (max tokens kept)."""
    temperature, top_p = PRESETS[kind]
    return Params(temperature, top_p, params.max_tokens)


def ensure_bank(store: Store, *, max_tokens: int) -> list[PromptVersionRow]:
    """The bank's entries as prompt versions, saving the ones the session lacks (by name)."""
    existing = {v.name: v for v in store.prompt_versions()}
    versions = []
    for entry in BANK:
        name = PREFIX + entry.name
        version = existing.get(name)
        if version is None:
            temperature, top_p = PRESETS["definite" if "definite" in entry.tags else "open"]
            version = save_version(store, name, entry.system_prompt, Params(temperature, top_p, max_tokens))
        versions.append(version)
    return versions


def entry_of(version: PromptVersionRow) -> BankEntry | None:
    """The bank entry a version was saved from, if it is one."""
    return next((e for e in BANK if PREFIX + e.name == version.name), None)


__all__ = ["BANK", "BankEntry", "PRESETS", "ensure_bank", "entry_of", "preset_params", "question_kind"]

"""Repairs in bulk: strip a leaked header (`### ANSWER`, `**Response:**`) and meta-talk openers
("Based on the text provided, ...", "Sure! Here is the answer:") from the start of answers, and
regenerate answers with another profile or to a target length.

Each text repair is a pure function of the answer, so a preview shows exactly what applying writes.
`repair_answers` runs one or more repairs over the pairs of a filter (a flag code, a status, a
topic), previews the first rows as before/after, or applies every change as one undo step.

`regenerate_answers_bulk` asks a chat target (any profile: a reasoning model, the judge) for new
answers over a filter (e.g. flag `truncated`: re-ask the cut-off answers), optionally to about a
target length. Its preview asks for the first rows only and writes nothing; applying reuses those
answers (what the preview showed is what lands), stores every new answer as one undo step (on cancel
too: what arrived is kept, still one step), and keeps the old answer wherever a reply was cut off or
empty. `estimate_regenerate` gives its cost first.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.generation import prompts
from core.llm.base import estimate_prompt_tokens

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from core.store import Pair, PairFilter, Store

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


# ---- regenerate answers ------------------------------------------------------------------------------

DEFAULT_ANSWER_TOKENS = 700
MIN_TARGET_TOKENS = 20
MAX_TARGET_TOKENS = 8000


@dataclass(frozen=True)
class RegenerateSpec:
    profile: str = "generator"
    """The chat profile that answers (`generator`, `judge` or any [llm.profiles.NAME])."""
    target_tokens: int | None = None
    """Ask for answers of about this many tokens (None: the answer style's own length)."""
    answer_style: str = ""

    def __post_init__(self) -> None:
        if self.target_tokens is not None and not MIN_TARGET_TOKENS <= self.target_tokens <= MAX_TARGET_TOKENS:
            raise ValueError(
                f"target length must be {MIN_TARGET_TOKENS}-{MAX_TARGET_TOKENS} tokens, not {self.target_tokens}"
            )
        if not self.profile.strip():
            raise ValueError("name the profile that regenerates the answers (e.g. generator, or a profile name)")

    @property
    def max_tokens(self) -> int:
        """The reply cap: room past the target (a reply cut off at the cap keeps the old answer)."""
        return DEFAULT_ANSWER_TOKENS if self.target_tokens is None else max(256, self.target_tokens * 3 // 2 + 64)

    def label(self) -> str:
        return f"regenerate with {self.profile}" + (f" to ~{self.target_tokens} tokens" if self.target_tokens else "")


def regenerate_messages(spec: RegenerateSpec, brief: str, path: list[str], pair: Pair) -> list[dict[str, str]]:
    if pair.kind == "refusal":
        messages = prompts.refusal_answer_messages(spec.answer_style, brief, pair.question)
    else:
        messages = prompts.answer_messages(spec.answer_style, brief, path, pair.question)
    if spec.target_tokens:
        words = spec.target_tokens * 3 // 4
        messages[0] = {
            **messages[0],
            "content": f"{messages[0]['content']}\n\nAnswer in about {spec.target_tokens} tokens "
            f"(about {words} words): complete, with no preamble.",
        }
    return messages


@dataclass(frozen=True)
class RegenerateEstimate:
    pairs: int
    prompt_tokens: int
    max_completion_tokens: int
    max_cost_usd: float
    priced: bool


def _paths(store: Store) -> Callable[[Pair], list[str]]:
    cache: dict[int, list[str]] = {}

    def path(pair: Pair) -> list[str]:
        if pair.topic_id is None:
            return []
        if pair.topic_id not in cache:
            cache[pair.topic_id] = store.topic_path(pair.topic_id)
        return cache[pair.topic_id]

    return path


def estimate_regenerate(
    store: Store, flt: PairFilter, spec: RegenerateSpec, prices: Any, *, limit: int | None = None
) -> RegenerateEstimate:
    """What `regenerate_answers_bulk` would send over the filter (its first `limit` rows): prompt tokens and
    the cost at most (every reply at its cap) under `prices` (core.llm.base.Prices)."""
    brief = store.get_meta("domain_brief", "") or ""
    path = _paths(store)
    count = prompt = 0
    for pair in store.iter_pairs(flt):
        if limit is not None and count >= limit:
            break
        count += 1
        prompt += estimate_prompt_tokens(regenerate_messages(spec, brief, path(pair), pair))
    completion = spec.max_tokens * count
    return RegenerateEstimate(count, prompt, completion, prices.cost(prompt, completion), bool(prices.known))


@dataclass
class RegenerateResult:
    scanned: int = 0
    changed: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    batch: str | None = None
    preview: list[RepairRow] = field(default_factory=list)
    answers: dict[int, str] = field(default_factory=dict)
    """The new answers (a preview's, handed back to the apply so it does not pay for them twice)."""
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "changed": self.changed,
            "failed": self.failed,
            "cost_usd": round(self.cost_usd, 6),
            "batch": self.batch,
            "preview": [{"pair_id": r.pair_id, "before": r.before, "after": r.after} for r in self.preview],
            "errors": self.errors[:20],
        }


async def regenerate_answers_bulk(
    store: Store,
    target: Any,
    flt: PairFilter,
    spec: RegenerateSpec,
    *,
    preview: int | None = None,
    reuse: Mapping[int, str] | None = None,
    concurrency: int = 8,
    temperature: float = 0.7,
    on_progress: Callable[[RegenerateResult], None] | None = None,
) -> RegenerateResult:
    """New answers for the filter's pairs from `target`. With `preview`: the first rows only, nothing
    written. Otherwise every new answer is stored as one undo step (`reuse`: answers a preview got)."""
    pairs = list(store.iter_pairs(flt))
    if preview is not None:
        pairs = pairs[:preview]
    brief = store.get_meta("domain_brief", "") or ""
    path = _paths(store)
    result = RegenerateResult(scanned=len(pairs))
    gate = asyncio.Semaphore(max(1, concurrency))
    reused = dict(reuse or {})

    async def one(pair: Pair) -> None:
        answer = reused.get(pair.id)
        if answer is None:
            try:
                async with gate:
                    reply = await target.complete(
                        regenerate_messages(spec, brief, path(pair), pair),
                        temperature=temperature,
                        max_tokens=spec.max_tokens,
                        purpose="regenerate",
                    )
                result.cost_usd += reply.cost_usd
                answer = (reply.text or "").strip()
                if reply.finish_reason == "length" or not answer:
                    raise ValueError("the new answer was cut off or empty; the old one stays")
            except Exception as exc:  # reported back; the old answer stays
                result.failed += 1
                result.errors.append(f"pair {pair.id}: {exc}")
                store.log("warning", "regenerate", f"pair {pair.id}: {exc}")
                answer = None
        if answer is not None:
            result.answers[pair.id] = answer
            if answer != pair.answer:
                result.changed += 1
        if on_progress is not None:
            on_progress(result)

    try:
        await asyncio.gather(*(one(p) for p in pairs))
    finally:  # a cancelled run keeps what arrived, still as one undo step
        if preview is None:
            changes = {p.id: result.answers[p.id] for p in pairs if result.answers.get(p.id, p.answer) != p.answer}
            result.batch = store.set_answers(changes) if changes else None
    if preview is not None:
        result.preview = [
            RepairRow(p.id, p.answer, result.answers[p.id])
            for p in pairs
            if p.id in result.answers and result.answers[p.id] != p.answer
        ]
    return result

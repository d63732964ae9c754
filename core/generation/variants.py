"""Variants of accepted pairs: the same knowledge for a locale, in another language, as a summary-style
Q/A, or for a persona or tone. One LLM call per source pair (a JSON {question, answer} reply).

Each variant is a new pair tagged `variant:<kind>` and `variant:<kind>:<value>` (so export filters and
the dataset's composition can name it), with provenance naming its source and `split_of` set to the
source's split key, so it lands on its source's side of the train/validation split. Every variant is
stored as it arrives, all of one run under one undo step (`Store.undo_last_edit` removes them);
their task keys make a rerun skip the sources already done.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.dataset.jumpstart import is_augmented, split_key
from core.llm.base import estimate_prompt_tokens, estimate_tokens
from core.store import NewPair, PairFilter

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from core.store import Pair, Store

VARIANT_KINDS = ("locale", "language", "summary", "persona")
VARIANT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class VariantSpec:
    kind: str
    value: str = ""
    """The locale ("Texas"), the language ("Spanish") or the persona/tone; none for summary."""

    def __post_init__(self) -> None:
        if self.kind not in VARIANT_KINDS:
            raise ValueError(f"variant kind must be one of {', '.join(VARIANT_KINDS)}, not {self.kind!r}")
        if self.kind != "summary" and not self.value.strip():
            raise ValueError(f"a {self.kind} variant needs a value (e.g. {_EXAMPLES[self.kind]})")

    @property
    def tags(self) -> tuple[str, ...]:
        slug = re.sub(r"[^a-z0-9]+", "-", self.value.lower()).strip("-")
        return (f"variant:{self.kind}", f"variant:{self.kind}:{slug}") if slug else (f"variant:{self.kind}",)

    def instruction(self) -> str:
        value = self.value.strip()
        return {
            "locale": f"Rewrite the pair for someone in {value}: use its local terms, institutions, rules and units "
            "where they differ, and keep every fact that still holds.",
            "language": f"Translate the pair into {value}, naturally, keeping every fact and number.",
            "summary": "Rewrite the pair as a summary-style Q/A: a question asking for the key points, and an "
            "answer that gives them as a short, complete summary.",
            "persona": f"Rewrite the pair as asked by and answered for {value}: adapt the wording and tone, keep "
            "every fact.",
        }[self.kind]


_EXAMPLES = {"locale": "'Texas'", "language": "'Spanish'", "persona": "'a retired electrician, plain words'"}


def variant_messages(spec: VariantSpec, brief: str, pair: Pair) -> list[dict[str, str]]:
    system = (
        "You rewrite question/answer pairs for a fine-tuning dataset. "
        + spec.instruction()
        + ' Reply with JSON: {"question": "...", "answer": "..."}.'
        + (f"\n\nDomain: {brief}" if brief else "")
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": json.dumps({"question": pair.question, "answer": pair.answer}, ensure_ascii=False)},
    ]


@dataclass
class VariantProgress:
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    """Sources that already have this variant (a rerun)."""
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    errors: list[str] = field(default_factory=list)
    batch: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "cost_usd": round(self.cost_usd, 6),
            "batch": self.batch,
            "errors": self.errors[:20],
        }


MIN_REPLY_TOKENS = 256


def reply_budget(pair: Pair) -> int:
    """Reply tokens to ask for: twice the source's (a translation or a rewrite is about as long) plus the JSON,
    at least MIN_REPLY_TOKENS; the limiter charges what is asked for, so a short pair does not hold a long
    pair's share."""
    return max(MIN_REPLY_TOKENS, 64 + 2 * estimate_tokens(pair.question + pair.answer))


def _parse(text: str) -> tuple[str, str]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the reply is not a JSON object")
    question, answer = data.get("question"), data.get("answer")
    if not isinstance(question, str) or not question.strip() or not isinstance(answer, str) or not answer.strip():
        raise ValueError("the reply lacks a non-empty question and answer")
    return question.strip(), answer.strip()


def variant_sources(
    store: Store, spec: VariantSpec, flt: PairFilter | None = None, pair_ids: Sequence[int] | None = None
) -> tuple[list[Pair], int]:
    """The accepted, original pairs a run would copy (a selection by `pair_ids`, else the filter's; default:
    every accepted pair), without those that have this variant already; (to do, already done)."""
    if pair_ids is not None:
        found: Sequence[Pair] = store.pairs_by_ids(sorted(set(pair_ids)))
    else:
        found = list(store.iter_pairs(flt if flt is not None else PairFilter(status="accepted")))
    sources = [
        p
        for p in found
        if p.status == "accepted" and not is_augmented(p) and not any(t.startswith("variant:") for t in p.tags)
    ]
    done_keys = store.task_keys_with_prefix(_prefix(spec))
    todo = [p for p in sources if f"{_prefix(spec)}{p.id}" not in done_keys]
    return todo, len(sources) - len(todo)


def _prefix(spec: VariantSpec) -> str:
    return f"variant:{'/'.join(spec.tags)}:"


@dataclass(frozen=True)
class VariantEstimate:
    pairs: int
    """Sources to copy (accepted originals without this variant yet)."""
    skipped: int
    prompt_tokens: int
    max_completion_tokens: int
    max_cost_usd: float
    priced: bool


def estimate_variants(
    store: Store,
    spec: VariantSpec,
    prices: Any,
    flt: PairFilter | None = None,
    pair_ids: Sequence[int] | None = None,
    *,
    max_tokens: int = 800,
) -> VariantEstimate:
    """What `make_variants` would send: its calls' prompt tokens and the cost at most (every reply at its
    token cap) under `prices` (core.llm.base.Prices); shown before anything is asked."""
    todo, skipped = variant_sources(store, spec, flt, pair_ids)
    brief = store.get_meta("domain_brief", "") or ""
    prompt = sum(estimate_prompt_tokens(variant_messages(spec, brief, p)) for p in todo)
    completion = sum(min(max_tokens, reply_budget(p)) for p in todo)
    return VariantEstimate(len(todo), skipped, prompt, completion, prices.cost(prompt, completion), bool(prices.known))


async def make_variants(
    store: Store,
    target: Any,
    spec: VariantSpec,
    flt: PairFilter | None = None,
    *,
    pair_ids: Sequence[int] | None = None,
    concurrency: int = 8,
    max_tokens: int = 800,
    on_progress: Callable[[VariantProgress], None] | None = None,
) -> VariantProgress:
    """One variant of each accepted, original pair of the selection (`pair_ids`) or the filter (default:
    every accepted pair). Cancelling keeps the variants stored so far, still one undo step."""
    prefix = _prefix(spec)
    todo, skipped = variant_sources(store, spec, flt, pair_ids)
    progress = VariantProgress(total=len(todo), skipped=skipped, batch=uuid.uuid4().hex)
    brief = store.get_meta("domain_brief", "") or ""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(pair: Pair) -> None:
        try:
            async with gate:
                result = await target.complete(
                    variant_messages(spec, brief, pair),
                    temperature=0.7,
                    max_tokens=min(max_tokens, reply_budget(pair)),
                    json_schema=VARIANT_SCHEMA,
                    purpose="variant",
                )
            progress.cost_usd += result.cost_usd
            question, answer = _parse(result.text)
        except Exception as exc:  # recorded; the source is asked again on the next run
            progress.failed += 1
            progress.errors.append(f"pair {pair.id}: {exc}")
            store.log("warning", "variants", f"pair {pair.id}: {exc}")
        else:
            tags = (*(t for t in pair.tags if not t.startswith(("variant:", "augment:"))), *spec.tags)
            provenance = {
                "variant": spec.kind,
                "value": spec.value,
                "source_pair": pair.id,
                "split_of": split_key(pair).hex(),
                "model": getattr(result, "model", None),
            }
            new = NewPair(
                question, answer, pair.topic_id, pair.kind, "accepted", tags, f"{prefix}{pair.id}", provenance
            )
            store.add_pairs_step([new], batch=progress.batch)
            progress.done += 1
        if on_progress is not None:
            on_progress(progress)

    await asyncio.gather(*(one(p) for p in todo))
    return progress

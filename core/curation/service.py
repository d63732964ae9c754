"""Curation and export over a session: lints, dedup, leakage guard, quality scores, dataset versions.

Shared by `tunedeck curate` / `tunedeck export` and the Pairs pane (which calls these in workers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.aws_identity import aws_client
from core.curation.checks import curate
from core.curation.dedup import find_leaks
from core.dataset.importer import IMPORT_TAG
from core.dataset.jumpstart import (
    ExportFilters,
    build_chat_dataset,
    build_instruction_dataset,
    select_pairs,
    upload_dataset,
    write_files,
)
from core.evaluation.prompts import QUALITY_SCHEMA, parse_quality, quality_score_messages
from core.evaluation.questions import heldout_questions
from core.llm.base import estimate_prompt_tokens
from core.store import Pair, PairFilter, Store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from core.config import Config

LOW_QUALITY = "low_quality"
HELDOUT_LEAK = "heldout_leak"
FLAGGED_CHOICES = ("include", "exclude")
CHARS_PER_TOKEN = 4.0
"""Estimated tokens of a row: its characters over this (Llama-3 tokenizers average about 4 on English)."""


class FlaggedRowsError(ValueError):
    """The rows to export still carry duplicate, lint or quality flags and the caller has not said
    whether to include or exclude them."""

    def __init__(self, count: int, by_code: dict[str, int]) -> None:
        self.count = count
        self.by_code = by_code
        codes = ", ".join(f"{code} {n}" for code, n in sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0])))
        super().__init__(
            f"{count} row{'s' if count != 1 else ''} to export still carr{'ies' if count == 1 else 'y'} "
            f"curation flags ({codes}); "
            "say whether to include or exclude them"
        )


@dataclass(frozen=True)
class LongRow:
    pair_id: int
    tokens: int


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN + 0.999)


@dataclass
class CurationSummary:
    pairs: int
    flagged: int
    flags_by_code: dict[str, int]
    clusters: int
    duplicates: int
    exact_clusters: int
    leaks: int
    low_quality: int
    scored: int = 0
    score_failures: int = 0
    cost_usd: float = 0.0
    cluster_list: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("cluster_list")
        return data


def run_curation(store: Store, config: Config) -> CurationSummary:
    """Recompute every curation flag from the pairs as they are now, plus low quality from stored scores."""
    pairs = list(store.iter_pairs())
    report = curate(
        pairs,
        heldout_questions(store),
        dup_threshold=config.curation.near_duplicate_threshold,
        leak_threshold=config.curation.near_duplicate_threshold,
        scores={p.id: p.score for p in pairs if p.score is not None},
    )
    flags: dict[int, list[dict[str, str]]] = {p.id: [] for p in pairs}
    for pair_id, found in report.flags.items():
        flags[pair_id] = [f.to_dict() for f in found]
    cluster_of: dict[int, int] = {}
    for index, cluster in enumerate(report.clusters):
        for member in cluster.members:
            cluster_of[member] = index
            if member != cluster.keeper:
                flags[member].append(
                    {
                        "code": f"duplicate_{cluster.kind}",
                        "message": f"{cluster.kind} duplicate of pair {cluster.keeper} "
                        f"(similarity {cluster.similarity:.2f}, cluster of {len(cluster.members)})",
                    }
                )
    threshold = quality_threshold(store, config)
    low = 0
    for pair in pairs:
        if pair.score is not None and pair.score < threshold:
            low += 1
            reason = (pair.score_detail or {}).get("reason", "")
            flags[pair.id].append(
                {
                    "code": LOW_QUALITY,
                    "message": f"quality {pair.score:g} below {threshold:g}" + (f": {reason}" if reason else ""),
                }
            )
    store.set_flags(flags)
    by_code: dict[str, int] = {}
    for pair_flags in flags.values():
        for flag in pair_flags:
            by_code[flag["code"]] = by_code.get(flag["code"], 0) + 1
    return CurationSummary(
        pairs=len(pairs),
        flagged=sum(1 for f in flags.values() if f),
        flags_by_code=by_code,
        clusters=len(report.clusters),
        duplicates=sum(len(c.members) - 1 for c in report.clusters),
        exact_clusters=sum(1 for c in report.clusters if c.kind == "exact"),
        leaks=len(report.leaks),
        low_quality=low,
        cluster_list=[
            {"members": list(c.members), "keeper": c.keeper, "kind": c.kind, "similarity": c.similarity}
            for c in report.clusters
        ],
    )


THRESHOLD_META = "curation.min_quality"
SCORE_MAX_TOKENS = 300


def quality_threshold(store: Store, config: Config) -> float:
    """The session's quality threshold (set from the Pairs pane), else [curation] min_quality."""
    value = store.get_meta(THRESHOLD_META)
    return float(value) if isinstance(value, (int, float)) else config.curation.min_quality


def set_quality_threshold(store: Store, value: float) -> None:
    if not 1.0 <= value <= 10.0:
        raise ValueError(f"the quality threshold is a score from 1 to 10, not {value:g}")
    store.set_meta(THRESHOLD_META, value)


def kept_by_threshold(store: Store) -> tuple[int, dict[int, int]]:
    """(scored pairs, {threshold 1..10: how many scored pairs it keeps}) over the pairs not rejected."""
    scores = [p.score for p in store.iter_pairs() if p.score is not None and p.status != "rejected"]
    return len(scores), {t: sum(1 for s in scores if s >= t) for t in range(1, 11)}


@dataclass(frozen=True)
class ScoringEstimate:
    pairs: int
    prompt_tokens: int
    max_completion_tokens: int
    max_cost_usd: float
    priced: bool


def estimate_scoring(store: Store, prices: Any) -> ScoringEstimate:
    """What `score_pairs` would send: the unscored, non-rejected pairs, their prompt tokens, and the cost at
    most (every reply at its token cap) under `prices` (core.llm.base.Prices)."""
    domain = store.get_meta("domain_brief", "") or None
    todo = [p for p in store.iter_pairs() if p.score is None and p.status != "rejected"]
    prompt = sum(estimate_prompt_tokens(quality_score_messages(p.question, p.answer, domain=domain)) for p in todo)
    completion = SCORE_MAX_TOKENS * len(todo)
    return ScoringEstimate(len(todo), prompt, completion, prices.cost(prompt, completion), bool(prices.known))


async def score_pairs(
    store: Store, target: Any, *, on_progress: Callable[[int, int], None] | None = None, concurrency: int = 8
) -> tuple[int, int, float]:
    """Rate every unscored, non-rejected pair 1-10 with the judge; each score is stored as it arrives."""
    todo = [p for p in store.iter_pairs() if p.score is None and p.status != "rejected"]
    domain = store.get_meta("domain_brief", "") or None
    gate = asyncio.Semaphore(concurrency)
    done = failures = 0
    cost = 0.0

    async def one(pair: Pair) -> None:
        nonlocal done, failures, cost
        async with gate:
            try:
                result = await target.complete(
                    quality_score_messages(pair.question, pair.answer, domain=domain),
                    temperature=0.0,
                    max_tokens=SCORE_MAX_TOKENS,
                    json_schema=QUALITY_SCHEMA,
                    purpose="quality",
                )
                cost += result.cost_usd
                score = parse_quality(result.text)
            except Exception as exc:  # recorded, and the pair stays unscored for the next run
                failures += 1
                store.log("warning", "quality", f"pair {pair.id}: {exc}")
                return
        store.set_score(pair.id, float(score.overall), dataclasses.asdict(score))
        done += 1
        if on_progress:
            on_progress(done + failures, len(todo))

    await asyncio.gather(*(one(p) for p in todo))
    return done, failures, cost


@dataclass
class ExportResult:
    version: Any
    s3_uri: str | None
    channels: dict[str, str]
    uploaded: bool
    written: list[str]
    flagged: int = 0
    """Rows carrying curation flags that were exported (flagged="include") or left out ("exclude")."""
    flagged_choice: str | None = None
    long_rows: list[LongRow] = field(default_factory=list)
    """Exported rows whose estimated tokens pass max_input_length (the trainer truncates them)."""
    max_input_length: int | None = None
    composition: dict[str, int] = field(default_factory=dict)
    """Rows per variant/augment/import tag among the candidates, and the originals (see dataset_composition)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "hash": self.version.hash,
            "format": self.version.format,
            "counts": {
                "train": self.version.train_count,
                "validation": self.version.validation_count,
                "refusals": self.version.refusal_count,
            },
            "composition": self.composition,
            "dropped": dict(self.version.dropped),
            "s3_uri": self.s3_uri,
            "channels": self.channels,
            "written": self.written,
            "flagged": self.flagged,
            "flagged_choice": self.flagged_choice,
            "max_input_length": self.max_input_length,
            "long_rows": [{"pair_id": r.pair_id, "tokens": r.tokens} for r in self.long_rows],
        }


def export_dataset(
    store: Store,
    config: Config,
    *,
    format: str,
    validation_share: float | None = 0.2,
    statuses: tuple[str, ...] = (),
    exclude_tags: tuple[str, ...] = (),
    include_tags: tuple[str, ...] = (),
    max_refusal_share: float | None = None,
    system_prompt: str | None = None,
    out_dir: Path | None = None,
    upload: bool = True,
    progress: Callable[[Any], None] | None = None,
    flagged: str | None = None,
    max_input_length: int | None = None,
) -> ExportResult:
    """Build the JumpStart files, record the dataset version, optionally write and upload them.

    The leakage guard runs here, over exactly the rows about to be exported, against every held-out
    question stored now (not the flags of the last curation). Rows still carrying curation flags
    (duplicates, lints, low quality) raise FlaggedRowsError unless `flagged` is "include" or
    "exclude". Rows longer than `max_input_length` estimated tokens are counted in the result."""
    if format not in ("instruction", "chat"):
        raise ValueError(f"format must be 'instruction' or 'chat', not {format!r}")
    if flagged is not None and flagged not in FLAGGED_CHOICES:
        raise ValueError(f"flagged must be 'include' or 'exclude', not {flagged!r}")
    filters = ExportFilters(
        include_statuses=statuses,
        exclude_statuses=() if statuses else ("rejected",),
        include_tags=include_tags,
        exclude_tags=exclude_tags,
        max_refusal_share=max_refusal_share,
    )
    pairs, dropped = select_pairs(store.iter_pairs(PairFilter()), filters)
    leaks = find_leaks(pairs, heldout_questions(store), config.curation.near_duplicate_threshold)
    if leaks:
        pairs = [p for p in pairs if p.id not in leaks]
        dropped[HELDOUT_LEAK] = len(leaks)
    carrying = [p for p in pairs if _curation_flags(p)]
    if carrying and flagged is None:
        by_code: dict[str, int] = {}
        for pair in carrying:
            for code in _curation_flags(pair):
                by_code[code] = by_code.get(code, 0) + 1
        raise FlaggedRowsError(len(carrying), by_code)
    if carrying and flagged == "exclude":
        pairs = [p for p in pairs if not _curation_flags(p)]
        dropped["flagged"] = len(carrying)
    long_rows = (
        [LongRow(p.id, tokens) for p in pairs if (tokens := estimate_tokens(p.question + p.answer)) > max_input_length]
        if max_input_length and max_input_length > 0
        else []
    )
    passthrough = ExportFilters(exclude_statuses=(), max_refusal_share=max_refusal_share)
    if format == "instruction":
        files = build_instruction_dataset(pairs, filters=passthrough, validation_share=validation_share)
    else:
        files = build_chat_dataset(pairs, system_prompt, filters=passthrough, validation_share=validation_share)
    composition = dataset_composition(pairs)
    merged = dict(dropped)
    for reason, count in files.version.dropped.items():
        merged[reason] = merged.get(reason, 0) + count
    version = dataclasses.replace(files.version, filters=filters, dropped={k: v for k, v in merged.items() if v})
    if version.train_count == 0:
        raise ValueError("nothing to export: no pairs pass the filters (accept some pairs, or widen the filters)")
    written = [str(p) for p in write_files(files, out_dir)] if out_dir else []
    s3_uri, channels = None, {}
    existing = store.dataset_version(version.hash)
    if upload:
        if not config.aws.s3_bucket:
            raise ValueError(
                "no S3 bucket: set [aws] s3_bucket in your config (or TUNEDECK_S3_BUCKET), or use --no-upload"
            )

        prefix = f"{config.aws.s3_prefix.strip('/')}/{store.name}".strip("/")
        s3_uri = upload_dataset(aws_client(config.aws, "s3"), files, config.aws.s3_bucket, prefix, progress=progress)
        channels = files.channel_uris(s3_uri)
    elif existing is not None:
        s3_uri = existing.s3_uri
        channels = {
            k: v for k, v in (("training", existing.train_s3_uri), ("validation", existing.validation_s3_uri)) if v
        }
    store.add_dataset_version(
        version.hash,
        version.format,
        s3_uri=s3_uri,
        train_s3_uri=channels.get("training"),
        validation_s3_uri=channels.get("validation"),
        counts={
            "train": version.train_count,
            "validation": version.validation_count,
            "refusals": version.refusal_count,
            "composition": composition,
            "mix": dataset_mix(files.rows),
        },
        template=json.dumps(dict(version.template)) if version.template else None,
        filters=version.to_dict()["filters"],
    )
    if upload and existing is not None and not existing.s3_uri:
        store.set_dataset_uris(version.hash, s3_uri, channels.get("training"), channels.get("validation"))
    return ExportResult(
        version,
        s3_uri,
        channels,
        upload,
        written,
        flagged=len(carrying),
        flagged_choice=flagged if carrying else None,
        long_rows=long_rows,
        max_input_length=max_input_length if max_input_length and max_input_length > 0 else None,
        composition=composition,
    )


COMPOSITION_PREFIXES = ("variant:", "augment:")


def _provenance_tags(pair: Pair) -> list[str]:
    return [t for t in pair.tags if t.startswith(COMPOSITION_PREFIXES) or t == IMPORT_TAG]


def dataset_composition(pairs: list[Pair]) -> dict[str, int]:
    """What a dataset version is made of, over the rows that passed the filters and guards (before the
    split and the refusal cap): rows per variant/augment/import tag and the rows with none ("original"),
    so two versions can be compared ("did the Spanish pairs help?")."""
    counts: dict[str, int] = {}
    original = 0
    for pair in pairs:
        tags = _provenance_tags(pair)
        original += not tags
        for tag in tags:
            counts[tag] = counts.get(tag, 0) + 1
    return {"original": original, **dict(sorted(counts.items()))}


def mix_label(pair: Any) -> str:
    """One label per row, so a version's mix adds up to 100%: a variant by its value
    ("variant:spanish", or "variant:summary"), an augmented copy by its method, an imported pair, else
    its kind ("qa", "refusal")."""
    tags = tuple(getattr(pair, "tags", ()) or ())
    for prefix in COMPOSITION_PREFIXES:
        found = [t for t in tags if t.startswith(prefix)]
        if found:
            most = max(found, key=lambda t: t.count(":"))
            parts = most.split(":")
            return f"{parts[0]}:{parts[-1]}"
    if IMPORT_TAG in tags:
        return IMPORT_TAG
    return str(getattr(pair, "kind", "") or "qa")


def dataset_mix(rows: Iterable[Any]) -> dict[str, int]:
    """Rows per `mix_label` over the rows a version wrote, most first: the sheet's dataset mix per run."""
    counts: dict[str, int] = {}
    for row in rows:
        label = mix_label(row)
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _curation_flags(pair: Pair) -> set[str]:
    """The flag codes that ask for a decision before export (the leak flag is decided afresh here)."""
    return {code for flag in pair.flags if (code := flag.get("code", "")) and code != HELDOUT_LEAK}

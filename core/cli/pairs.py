"""Headless verbs on pairs: `tunedeck pairs import`, `augment`, `repair`, `variants` and `more`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension, session_name
from core.sessions import open_session

if TYPE_CHECKING:
    import argparse

    from core.config import Config


@parser_extension
def _arguments(sub: Subparsers) -> None:
    pairs = sub.add_parser("pairs", help="pair operations (import, augment, repair, variants, more, probe, hard-cases)")
    pairs_sub = pairs.add_subparsers(dest="pairs_verb", metavar="ACTION", required=True)
    imp = pairs_sub.add_parser(
        "import",
        help="import pairs from JSONL or CSV (JumpStart instruction or chat, question/answer, "
        "instruction/response, prompt/completion); all or nothing",
    )
    imp.add_argument("file", type=Path)
    imp.add_argument("--session", dest="session_opt")
    imp.add_argument("--question-key", help="the key or column holding the question (for unknown keys)")
    imp.add_argument("--answer-key", help="the key or column holding the answer (for unknown keys)")
    imp.add_argument("--status", choices=("pending", "accepted"), default="pending")
    imp.add_argument("--topic", type=int, help="put the pairs under this topic id")
    imp.add_argument("--json", action="store_true")

    aug = pairs_sub.add_parser(
        "augment",
        help="add typo-noise copies of training pairs (one undo step; copies follow their source's split side)",
    )
    aug.add_argument("--session", dest="session_opt")
    aug.add_argument("--typo", action="store_true", required=True, help="character deletions and swaps in questions")
    aug.add_argument("--rate", type=float, default=0.03, help="share of a question's letters changed")
    aug.add_argument("--seed", type=int, default=0)
    aug.add_argument("--status", choices=("pending", "accepted"), default="accepted", help="which pairs to copy")
    aug.add_argument("--preview", type=int, metavar="N", help="show the first N copies and write nothing")
    aug.add_argument("--json", action="store_true")

    rep = pairs_sub.add_parser("repair", help="repair answers in bulk over a flag or a status (one undo step)")
    rep.add_argument("--session", dest="session_opt")
    rep.add_argument("--strip-header", action="store_true", help="strip a leading '### ANSWER' style header")
    rep.add_argument("--strip-meta", action="store_true", help="strip meta-talk openers ('Based on the text, ...')")
    rep.add_argument(
        "--regenerate",
        action="store_true",
        help="ask for new answers (an LLM call per pair): with --profile, and to about --target-tokens",
    )
    rep.add_argument("--profile", default="generator", help="the profile that answers (generator, judge, NAME)")
    rep.add_argument("--target-tokens", type=int, metavar="N", help="new answers of about N tokens")
    rep.add_argument("--flag", help="only pairs carrying this curation flag (e.g. header_leak, meta_talk, truncated)")
    rep.add_argument("--status", choices=("pending", "accepted", "rejected"))
    rep.add_argument("--preview", type=int, metavar="N", help="show the first N changes and write nothing")
    rep.add_argument("--json", action="store_true")

    var = pairs_sub.add_parser(
        "variants",
        help="an LLM variant of each accepted pair (locale, language, summary, persona); tagged, one undo step",
    )
    var.add_argument("--session", dest="session_opt")
    var.add_argument("--kind", choices=("locale", "language", "summary", "persona"), required=True)
    var.add_argument("--value", default="", help="the locale, language or persona (e.g. Texas, Spanish)")
    var.add_argument("--topic", type=int, help="only the pairs of this topic id")
    var.add_argument("--json", action="store_true")

    more = pairs_sub.add_parser(
        "more", help="new pairs for the topics where A lost or tied in a finished evaluation (never held-out ones)"
    )
    more.add_argument("--session", dest="session_opt")
    more.add_argument("--eval", type=int, required=True, dest="evaluation", help="the evaluation id")
    more.add_argument("--per-topic", type=int, default=6, help="new pairs per losing topic")
    more.add_argument("--json", action="store_true")

    probe = pairs_sub.add_parser(
        "probe",
        help="import a probe set (questions kept apart from every held-out set; evaluate the base model against "
        "the reference on it, then 'pairs hard-cases')",
    )
    probe.add_argument("file", type=Path, help="CSV or JSONL, as for held-out question sets")
    probe.add_argument("--set", required=True, dest="set_name", help="the probe set's name")
    probe.add_argument("--session", dest="session_opt")
    probe.add_argument("--json", action="store_true")

    hard = pairs_sub.add_parser(
        "hard-cases",
        help="the probe questions where the base model (A) lost to the reference (B) become training pairs with "
        "fresh answers and leave the probe set (never a held-out set's)",
    )
    hard.add_argument("--eval", type=int, required=True, dest="evaluation", help="an evaluation on a probe set")
    hard.add_argument("--session", dest="session_opt")
    hard.add_argument("--json", action="store_true")


@command("pairs")
def _pairs(args: argparse.Namespace, config: Config) -> int:
    if args.pairs_verb == "augment":
        return _augment(args, config)
    if args.pairs_verb == "repair":
        return _regenerate(args, config) if args.regenerate else _repair(args)
    if args.pairs_verb == "variants":
        return _variants(args, config)
    if args.pairs_verb == "more":
        return _more(args, config)
    if args.pairs_verb == "probe":
        return _probe(args, config)
    if args.pairs_verb == "hard-cases":
        return _hard_cases(args, config)
    from core.dataset.importer import KeyMapping, NeedsMapping, import_pairs
    from core.dataset.jumpstart import ImportFormatError

    if bool(args.question_key) != bool(args.answer_key):
        raise CommandError("--question-key and --answer-key go together")
    mapping = KeyMapping(args.question_key, args.answer_key) if args.question_key else None
    store = open_session(session_name(args), create=False)
    try:
        if args.topic is not None and store.topic(args.topic) is None:
            raise CommandError(f"no topic with id {args.topic}")
        try:
            summary = import_pairs(store, args.file, mapping=mapping, topic_id=args.topic, status=args.status)
        except NeedsMapping as exc:
            raise CommandError(f"{args.file}: {exc} (--question-key KEY --answer-key KEY)") from None
        except ImportFormatError as exc:
            raise CommandError(f"{args.file}: {exc}") from None
    finally:
        store.close()

    def human() -> None:
        print(
            f"imported {summary.added:,} pairs from {summary.file} ({summary.format})"
            + (f"; {summary.skipped:,} already imported" if summary.skipped else "")
            + ("; template.json kept in their provenance" if summary.template else "")
        )

    emit(args, summary.as_dict(), human)
    return 0


def _augment(args: argparse.Namespace, config: Config) -> int:
    from core.generation.augment import augment_typos
    from core.store import PairFilter

    store = open_session(session_name(args), create=False)
    try:
        result = augment_typos(
            store,
            PairFilter(status=args.status),
            seed=args.seed,
            rate=args.rate,
            preview=args.preview,
            threshold=config.curation.near_duplicate_threshold,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()

    def human() -> None:
        from core.safe_text import one_line

        for row in result.preview:
            print(f"#{row.source_id}\n  - {one_line(row.before, 200)}\n  + {one_line(row.after, 200)}")
        if args.preview is not None:
            print(f"preview of {len(result.preview)} of {result.sources:,} copies; nothing written")
            return
        print(
            f"added {result.added:,} typo copies of {result.sources:,} {args.status} pairs"
            + (f" ({result.skipped:,} already there)" if result.skipped else "")
            + ("; the Pairs pane's undo removes them in one step" if result.added else "")
        )

    emit(args, result.as_dict(), human)
    return 0


def _repair(args: argparse.Namespace) -> int:
    from core.curation.repairs import repair_answers
    from core.safe_text import one_line
    from core.store import PairFilter

    repairs = [name for name, on in (("strip_header", args.strip_header), ("strip_meta", args.strip_meta)) if on]
    if not repairs:
        raise CommandError("name a repair: --strip-header and/or --strip-meta, or --regenerate")
    store = open_session(session_name(args), create=False)
    try:
        result = repair_answers(store, PairFilter(status=args.status, flag=args.flag), repairs, preview=args.preview)
    finally:
        store.close()

    def human() -> None:
        for row in result.preview:
            print(f"#{row.pair_id}\n  - {one_line(row.before, 200)}\n  + {one_line(row.after, 200)}")
        if args.preview is not None:
            print(f"{result.changed:,} of {result.scanned:,} answers would change; nothing written")
        else:
            print(f"repaired {result.changed:,} of {result.scanned:,} answers (the Pairs pane's undo reverts them)")

    emit(args, result.as_dict(), human)
    return 0


def _regenerate(args: argparse.Namespace, config: Config) -> int:
    import asyncio
    import sys

    from core.cli.progress import ProgressBar
    from core.curation.repairs import RegenerateSpec, estimate_regenerate, regenerate_answers_bulk
    from core.safe_text import one_line
    from core.services import Services
    from core.store import PairFilter

    if args.strip_header or args.strip_meta:
        raise CommandError("--regenerate goes alone (run the text repairs first, then regenerate)")
    try:
        spec = RegenerateSpec(args.profile, args.target_tokens, config.generation.answer_style)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    store = open_session(session_name(args), create=False)
    bar = ProgressBar("regenerate")
    try:
        flt = PairFilter(status=args.status, flag=args.flag)
        services = Services(store, config)

        async def body() -> Any:
            try:
                target = services.chat_target(args.profile)
            except (KeyError, ValueError) as exc:
                raise CommandError(f"profile {args.profile!r}: {exc}") from None
            try:
                prices: Any = getattr(target, "prices", None)
                estimate = estimate_regenerate(store, flt, spec, prices, limit=args.preview)
                cost = f"up to ${estimate.max_cost_usd:.4f}" if estimate.priced else "unpriced"
                print(
                    f"{spec.label()}: {estimate.pairs:,} answers, about {estimate.prompt_tokens:,} prompt tokens, "
                    f"at most {estimate.max_completion_tokens:,} reply tokens, {cost}",
                    file=sys.stderr,
                )
                return await regenerate_answers_bulk(
                    store,
                    target,
                    flt,
                    spec,
                    preview=args.preview,
                    concurrency=config.llm.generator.max_concurrency,
                    on_progress=lambda r: bar.update(
                        len(r.answers) + r.failed, estimate.pairs, f"failed {r.failed} ${r.cost_usd:.4f}"
                    ),
                )
            finally:
                await target.aclose()

        result = asyncio.run(body())
    finally:
        bar.close()
        store.close()

    def human() -> None:
        for row in result.preview:
            print(f"#{row.pair_id}\n  - {one_line(row.before, 200)}\n  + {one_line(row.after, 200)}")
        if args.preview is not None:
            print(f"preview: {len(result.preview)} of {result.scanned:,} answers would change; nothing written")
        else:
            print(
                f"regenerated {result.changed:,} of {result.scanned:,} answers, {result.failed:,} kept their old "
                f"answer; ${result.cost_usd:.4f} (the Pairs pane's undo reverts them in one step)"
            )

    emit(args, result.as_dict(), human)
    return 0 if result.failed == 0 else 1


def _variants(args: argparse.Namespace, config: Config) -> int:
    import asyncio

    from core.cli.progress import ProgressBar
    from core.generation.variants import VariantSpec, make_variants
    from core.services import Services
    from core.store import PairFilter

    try:
        spec = VariantSpec(args.kind, args.value)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    store = open_session(session_name(args), create=False)
    bar = ProgressBar("variants")
    try:
        flt = PairFilter(status="accepted", topic_ids=(args.topic,) if args.topic is not None else ())

        async def body() -> Any:
            target = Services(store, config).chat_target("generator")
            try:
                return await make_variants(
                    store,
                    target,
                    spec,
                    flt,
                    concurrency=config.llm.generator.max_concurrency,
                    on_progress=lambda p: bar.update(
                        p.done + p.failed, p.total, f"failed {p.failed} ${p.cost_usd:.4f}"
                    ),
                )
            finally:
                await target.aclose()

        progress = asyncio.run(body())
    finally:
        bar.close()
        store.close()

    def human() -> None:
        print(
            f"{progress.done:,} {'/'.join(spec.tags)} variants, {progress.failed:,} failed (rerun to retry), "
            f"{progress.skipped:,} already there; ${progress.cost_usd:.4f}"
        )

    emit(args, progress.as_dict(), human)
    return 0 if progress.failed == 0 else 1


def _more(args: argparse.Namespace, config: Config) -> int:
    import asyncio

    from core.generation.generate import GenerationSettings
    from core.generation.targeted import more_pairs_for_losses
    from core.services import Services

    if not 1 <= args.per_topic <= 50:
        raise CommandError("--per-topic must be between 1 and 50")
    store = open_session(session_name(args), create=False)
    try:
        if store.evaluation(args.evaluation) is None:
            raise CommandError(f"no evaluation with id {args.evaluation}")
        gen = config.generation
        settings = GenerationSettings(
            answer_style=gen.answer_style, max_concurrency=config.llm.generator.max_concurrency
        )

        async def body() -> Any:
            target = Services(store, config).chat_target("generator")
            try:
                return await more_pairs_for_losses(
                    store, target, settings, args.evaluation, args.per_topic, model=config.llm.generator.model
                )
            finally:
                await target.aclose()

        topics, progress = asyncio.run(body())
    finally:
        store.close()
    data = {
        "topics": [
            {"name": t.name, "topic_id": t.topic_id, "lost": t.lost, "tied": t.tied, "won": t.won} for t in topics
        ],
        "pairs_added": progress.pairs_added if progress else 0,
        "failed": progress.failed if progress else 0,
        "cost_usd": round(progress.cost_usd, 6) if progress else 0.0,
    }

    def human() -> None:
        from core.safe_text import one_line

        for t in topics:
            where = "" if t.topic_id is not None else "  (no such topic in the tree: skipped)"
            print(f"  {one_line(t.name, 60)}: lost {t.lost}, tied {t.tied}, won {t.won}{where}")
        print(f"{data['pairs_added']} new pairs, {data['failed']} failed calls, ${data['cost_usd']:.4f}")

    emit(args, data, human)
    return 0 if not data["failed"] else 1


def _probe(args: argparse.Namespace, config: Config) -> int:
    from core.evaluation.questions import read_question_file
    from core.generation.targeted import create_probe_set

    store = open_session(session_name(args), create=False)
    try:
        try:
            questions = read_question_file(args.file)
            create_probe_set(
                store,
                args.set_name,
                questions,
                origin=args.file.name,
                threshold=config.curation.near_duplicate_threshold,
            )
        except ValueError as exc:  # QuestionImportError too: every bad line named
            raise CommandError(str(exc)) from None
    finally:
        store.close()
    data = {"set": args.set_name, "questions": len(questions)}
    emit(args, data, lambda: print(f"probe set {args.set_name!r}: {len(questions):,} questions"))
    return 0


def _hard_cases(args: argparse.Namespace, config: Config) -> int:
    import asyncio

    from core.generation.generate import GenerationSettings
    from core.generation.targeted import promote_hard_cases
    from core.services import Services

    store = open_session(session_name(args), create=False)
    try:
        settings = GenerationSettings(
            answer_style=config.generation.answer_style, max_concurrency=config.llm.generator.max_concurrency
        )

        async def body() -> Any:
            target = Services(store, config).chat_target("generator")
            try:
                return await promote_hard_cases(
                    store, target, settings, args.evaluation, threshold=config.curation.near_duplicate_threshold
                )
            finally:
                await target.aclose()

        try:
            result = asyncio.run(body())
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    finally:
        store.close()

    def human() -> None:
        print(
            f"probe set {result.probe_set!r}: A lost on {result.lost:,}; {result.promoted:,} became training pairs "
            f"(pending, tagged hard_case) and left the probe set"
            + (f"; {result.near_heldout:,} skipped, near a held-out question" if result.near_heldout else "")
            + (f"; {result.failed:,} failed (they stay probes)" if result.failed else "")
            + f"; ${result.cost_usd:.4f}"
        )

    emit(args, result.as_dict(), human)
    return 0 if not result.failed else 1

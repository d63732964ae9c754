"""Headless verbs: `tunedeck curate` and `tunedeck export`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli.progress import ProgressBar
from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension, session_name
from core.services import Services
from core.sessions import open_session

if TYPE_CHECKING:
    import argparse

    from core.config import Config


@parser_extension
def _arguments(sub: Subparsers) -> None:
    curate = sub.add_parser("curate", help="lints, duplicates, leakage guard and (with --score) LLM quality scores")
    curate.add_argument("--session", dest="session_opt")
    curate.add_argument("--score", action="store_true", help="rate unscored pairs 1-10 with the judge profile")
    curate.add_argument("--json", action="store_true")

    export = sub.add_parser("export", help="export a JumpStart dataset version (and upload it to S3)")
    export.add_argument("--session", dest="session_opt")
    export.add_argument("--format", choices=("instruction", "chat"), required=True)
    export.add_argument(
        "--validation-share",
        type=float,
        default=0.2,
        help="share held out as the validation channel (0 = none; JumpStart splits its own)",
    )
    export.add_argument("--status", default="", help="comma-separated statuses to include (default: all but rejected)")
    export.add_argument("--exclude-tags", default="", help="comma-separated tags to leave out (e.g. augment:typo)")
    export.add_argument("--max-refusal-share", type=float)
    flagged = export.add_mutually_exclusive_group()
    flagged.add_argument(
        "--include-flagged", action="store_true", help="export rows still carrying duplicate, lint or quality flags"
    )
    flagged.add_argument("--exclude-flagged", action="store_true", help="leave rows carrying curation flags out")
    export.add_argument(
        "--max-input-length",
        type=int,
        help="the recipe's max_input_length: rows longer than this many estimated tokens are counted and named",
    )
    export.add_argument("--out", type=Path, help="also write the files to this folder")
    export.add_argument("--no-upload", action="store_true", help="do not upload to S3")
    export.add_argument("--json", action="store_true")


def _split(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


@command("curate")
def _curate(args: argparse.Namespace, config: Config) -> int:
    from core.curation.service import quality_threshold, run_curation, score_pairs

    store = open_session(session_name(args), create=False)
    try:
        scored = failures = 0
        cost = 0.0
        if args.score:
            bar = ProgressBar("score")

            async def body() -> tuple[int, int, float]:
                target = Services(store, config).chat_target("judge")
                try:
                    return await score_pairs(
                        store,
                        target,
                        on_progress=lambda d, t: bar.update(d, t),
                        concurrency=config.llm.judge.max_concurrency,
                    )
                finally:
                    await target.aclose()

            try:
                scored, failures, cost = asyncio.run(body())
            finally:
                bar.close()
        summary = run_curation(store, config)
        summary.scored, summary.score_failures, summary.cost_usd = scored, failures, round(cost, 6)

        def human() -> None:
            print(f"{summary.pairs} pairs, {summary.flagged} flagged")
            for code, count in sorted(summary.flags_by_code.items(), key=lambda kv: -kv[1]):
                print(f"  {code:22} {count}")
            print(
                f"{summary.clusters} duplicate clusters ({summary.exact_clusters} exact), "
                f"{summary.duplicates} duplicates to resolve; {summary.leaks} leak held-out questions"
            )
            if args.score:
                print(
                    f"scored {scored} pairs ({failures} failed, rerun to retry), ${cost:.4f}; "
                    f"{summary.low_quality} below {quality_threshold(store, config):g}"
                )

        emit(args, summary.as_dict(), human)
        return 0
    finally:
        store.close()


@command("export")
def _export(args: argparse.Namespace, config: Config) -> int:
    from core.curation.service import FlaggedRowsError, export_dataset

    if not 0 <= args.validation_share < 1:
        raise CommandError("--validation-share must be at least 0 and below 1")
    store = open_session(session_name(args), create=False)
    bar = ProgressBar("upload")
    try:
        result = export_dataset(
            store,
            config,
            format=args.format,
            validation_share=args.validation_share or None,
            statuses=_split(args.status),
            exclude_tags=_split(args.exclude_tags),
            max_refusal_share=args.max_refusal_share,
            out_dir=args.out,
            upload=not args.no_upload,
            progress=lambda p: bar.update(p.bytes_done, p.bytes_total, p.name),
            flagged="include" if args.include_flagged else "exclude" if args.exclude_flagged else None,
            max_input_length=args.max_input_length,
        )
    except FlaggedRowsError as exc:
        raise CommandError(f"{exc}: pass --include-flagged or --exclude-flagged") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    finally:
        bar.close()
        store.close()

    def human() -> None:
        data = result.as_dict()
        print(
            f"dataset version {data['hash']} ({data['format']}): {data['counts']['train']} train, "
            f"{data['counts']['validation']} validation, {data['counts']['refusals']} refusals"
        )
        if data["dropped"]:
            print("  left out: " + ", ".join(f"{k} {v}" for k, v in data["dropped"].items()))
        if data["flagged"]:
            print(f"  {data['flagged']} flagged rows {data['flagged_choice']}d (curation flags)")
        if data["long_rows"]:
            names = ", ".join(str(r["pair_id"]) for r in data["long_rows"][:10])
            more = len(data["long_rows"]) - 10
            print(
                f"  {len(data['long_rows'])} rows longer than max_input_length {data['max_input_length']} "
                f"(estimated tokens; the trainer truncates them): pairs {names}"
                + (f" and {more} more" if more > 0 else "")
            )
        for path in data["written"]:
            print(f"  wrote {path}")
        print(f"  {data['s3_uri'] or 'not uploaded'}")

    emit(args, result.as_dict(), human)
    return 0

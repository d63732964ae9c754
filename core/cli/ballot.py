"""Headless verbs of the final's blind ballot: `tunedeck ballot export` writes the self-contained
page (and its key beside it), `tunedeck ballot import` tallies any number of voters' result files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension, session_name

if TYPE_CHECKING:
    import argparse

    from core.config import Config
    from core.store import Store


@parser_extension
def _arguments(sub: Subparsers) -> None:
    ballot = sub.add_parser("ballot", help="a blind ballot of the finalists' answers for people away from the keyboard")
    ballot_sub = ballot.add_subparsers(dest="ballot_verb", metavar="ACTION", required=True)
    export = ballot_sub.add_parser("export", help="write the ballot page (one offline HTML file) and its key")
    export.add_argument("path", type=Path, help="the .html file to write; the key goes beside it (.key.json)")
    export.add_argument("--questions", type=int, default=10, help="newest questions to include (default 10)")
    export.add_argument("--title", default="Final rehearsal")
    export.add_argument("--seed", type=int, help="shuffle seed (default: random)")
    imp = ballot_sub.add_parser("import", help="tally voters' result files against the ballot's key")
    imp.add_argument("results", type=Path, nargs="+", help="result files the page produced")
    imp.add_argument("--key", type=Path, required=True, help="the ballot's .key.json written by export")
    for parser in (export, imp):
        parser.add_argument("--session", dest="session_opt")
        parser.add_argument("--json", action="store_true")


@command("ballot")
def _ballot(args: argparse.Namespace, config: Config) -> int:
    from core.playground.ballot import BallotError
    from core.sessions import open_session

    store = open_session(session_name(args), create=False)
    try:
        if args.ballot_verb == "export":
            return _export(args, store)
        return _import(args, store, config)
    except BallotError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()


def _export(args: argparse.Namespace, store: Store) -> int:
    from core.playground.ballot import build_ballot, write_ballot

    ballot, key = build_ballot(store, questions=args.questions, seed=args.seed, title=args.title)
    page, keyfile = write_ballot(ballot, key, args.path)
    data = {"ballot": page.as_posix(), "key": keyfile.as_posix(), "questions": len(ballot["questions"])}
    emit(args, data, lambda: print(f"wrote {page} ({data['questions']} questions); keep the key {keyfile}"))
    return 0


def _import(args: argparse.Namespace, store: Store, config: Config) -> int:
    from core.playground.ballot import import_results, read_key, results_line
    from core.playground.final import round_rules
    from core.safe_text import one_line

    tally = import_results(store, read_key(args.key), list(args.results), round_rules(store, config))
    data = tally.as_dict()

    def human() -> None:
        print(one_line(results_line(data), 400))
        for entry in tally.versions:
            line = (
                f"  {entry.version}: {entry.combined:.1f} pts · judges {entry.judge_votes} · "
                f"audience {entry.audience_votes} · LLM judge {entry.llm_points:.1f}"
            )
            print(one_line(line, 300))
        if tally.kappa is None:
            sys.stdout.write("  kappa: not enough picks with a judge's top answer\n")

    emit(args, data, human)
    return 0

"""Command line: headless verbs share the core services with the TUI.

`tunedeck` alone opens the TUI on the most recent session; `tunedeck <verb> ...` runs a headless
operation and prints human output, or one JSON document with --json. Errors print one line to
stderr and exit 2; nothing prints a traceback at the user.

A new verb is a module in core/cli that registers itself through `core.cli.registry`, imported in
VERB_MODULES below.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli import ballot, curate, evaluate, final, generate, jobs, league, llm, money, pairs, runs, sandbox
from core.cli.registry import EXIT_USAGE, HANDLERS, PARSER_EXTENSIONS, CommandError, command, emit, session_name
from core.config import Config, ConfigError, dump_config, load_config
from core.sessions import SessionError, list_sessions, open_session, remove_session, sessions_dir
from core.store import StoreError

VERB_MODULES = (generate, curate, evaluate, jobs, money, sandbox, runs, league, ballot, pairs, llm, final)
"""The verb modules; importing one registers its commands and their arguments."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunedeck", description="Fine-tune Llama 3.x on SageMaker JumpStart from the terminal."
    )
    parser.add_argument("--config", type=Path, help="user config file (default ~/.config/tunedeck/config.toml)")
    parser.add_argument("--session", help="session name (default: the most recent one, or 'default')")
    parser.add_argument("--demo", action="store_true", help="run against emulated AWS and LLM services")
    parser.add_argument("--mouse", action="store_true", help="turn mouse reporting on (off by default for SSH)")
    parser.add_argument("--ascii", action="store_true", help="ASCII glyphs only")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    config = sub.add_parser("config", help="show the effective configuration")
    config_sub = config.add_subparsers(dest="config_verb", metavar="ACTION", required=True)
    show = config_sub.add_parser("show", help="print the effective config (keys appear only as variable names)")
    show.add_argument("--json", action="store_true")

    sessions = sub.add_parser("sessions", help="list, create or remove sessions")
    sessions_sub = sessions.add_subparsers(dest="sessions_verb", metavar="ACTION", required=True)
    listing = sessions_sub.add_parser("list", help="list sessions, most recent first")
    listing.add_argument("--json", action="store_true")
    new = sessions_sub.add_parser("new", help="create a session")
    new.add_argument("name")
    remove = sessions_sub.add_parser("rm", help="delete a session and everything in it")
    remove.add_argument("name")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    status = sub.add_parser("status", help="counts of everything in a session")
    status.add_argument("--session", dest="session_opt")
    status.add_argument("--json", action="store_true")

    sandbox = sub.add_parser("sandbox", help="run the emulated AWS and LLM services in the foreground")
    sandbox.add_argument("--epoch-seconds", type=float, help="simulated seconds per training epoch")

    for add_arguments in PARSER_EXTENSIONS:
        add_arguments(sub)
    return parser


@command("config")
def _config_show(args: argparse.Namespace, config: Config) -> int:
    if args.json:
        print(json.dumps({**config.to_dict(), "sources": config.sources}, indent=2))
    else:
        print(f"# effective config from: {', '.join(config.sources) or 'built-in defaults'}")
        print(dump_config(config), end="")
    return 0


@command("sessions")
def _sessions(args: argparse.Namespace, config: Config) -> int:
    if args.sessions_verb == "list":
        found = list_sessions()
        data = [{"name": s.name, "path": str(s.path), "modified": s.modified} for s in found]

        def human() -> None:
            if not found:
                print(f"no sessions in {sessions_dir()}")
            for s in found:
                print(s.name)

        emit(args, data, human)
    elif args.sessions_verb == "new":
        store = open_session(args.name)
        store.close()
        print(f"created session {args.name}")
    elif args.sessions_verb == "rm":
        if not args.yes:
            if not sys.stdin.isatty():
                raise CommandError(f"refusing to delete session {args.name!r} without --yes")
            if input(f"delete session {args.name!r} and all its data? [y/N] ").strip().lower() != "y":
                print("kept")
                return 1
        remove_session(args.name)
        print(f"removed session {args.name}")
    return 0


@command("status")
def _status(args: argparse.Namespace, config: Config) -> int:
    name = session_name(args)
    store = open_session(name, create=False)
    try:
        counts = store.status_counts()
    finally:
        store.close()

    def human() -> None:
        pairs = counts["pairs"]
        print(f"session           {counts['session']}")
        print(f"topics            {counts['topics']}")
        print(
            "pairs             " + ", ".join(f"{k} {v}" for k, v in pairs.items()) + f" (total {sum(pairs.values())})"
        )
        print(f"dataset versions  {counts['dataset_versions']}")
        jobs = counts["jobs"]
        print("jobs              " + (", ".join(f"{k} {v}" for k, v in jobs.items()) or "none"))
        endpoints = counts["endpoints"]
        print("endpoints         " + (", ".join(f"{k} {v}" for k, v in endpoints.items()) or "none"))
        print(f"question sets     {counts['question_sets']}")
        print(f"evaluations       {counts['evaluations']}")
        print(f"prompt versions   {counts['prompt_versions']}")
        usage = counts["llm_usage"]
        print(
            f"llm calls         {usage['calls']} ({usage['prompt_tokens'] + usage['completion_tokens']} tokens, "
            f"${usage['cost_usd']:.4f})"
        )

    emit(args, counts, human)
    return 0


def run_headless(args: argparse.Namespace, config: Config) -> int:
    handler = HANDLERS.get(args.verb)
    if handler is None:
        raise CommandError(f"unknown command {args.verb!r}")
    try:
        return handler(args, config)
    except (CommandError, SessionError, StoreError, ConfigError) as exc:
        print(f"tunedeck {args.verb}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, Config]:
    """Parse arguments and load the config; a bad config exits 2 with the file, key and line."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"tunedeck: config error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    for warning in config.warnings:
        print(f"tunedeck: warning: {warning}", file=sys.stderr)
    if args.mouse:
        config.ui.mouse = True
    if args.ascii:
        config.ui.ascii = True
    return args, config

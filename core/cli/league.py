"""Headless verbs of league mode: `tunedeck league` (ledger, limits, calibration), `league submit`,
`league mode` and `league cards` (console recipe cards)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension, session_name

if TYPE_CHECKING:
    from core.config import Config
    from core.store import Store


@parser_extension
def _arguments(sub: Subparsers) -> None:
    league = sub.add_parser("league", help="the leaderboard ledger, the event's limits and calibration")
    league.add_argument("--session", dest="session_opt")
    league.add_argument("--json", action="store_true")
    league_sub = league.add_subparsers(dest="league_verb", metavar="ACTION")

    submit = league_sub.add_parser("submit", help="record a leaderboard submission of a run (API or console)")
    submit.add_argument("name", help="the run submitted")
    submit.add_argument("--score", help="the leaderboard's score: k/N such as 44/50, or 88%%")
    submit.add_argument(
        "--emulated",
        action="store_true",
        help="demo and `tunedeck sandbox` only: score the run's endpoint on the emulated leaderboard instead",
    )
    submit.add_argument("--rank", type=int, help="the leaderboard rank, if known")
    submit.add_argument("--note", default="")
    submit.add_argument("--at", help="when it was submitted (ISO 8601; default: now)")
    submit.add_argument("--yes", action="store_true", help="submit even if the run is flagged as overfitting")

    mode = league_sub.add_parser("mode", help="show or set the session's account mode")
    mode.add_argument("mode", nargs="?", choices=("api", "console"))

    cards = league_sub.add_parser(
        "cards", help="plan a sweep for the console: one card per job with what to enter in the JumpStart form"
    )
    cards.add_argument("--instance", required=True, help="training instance type, e.g. ml.g5.12xlarge")
    cards.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2,...", help="as for sweep launch")
    cards.add_argument("--list", action="store_true", help="pair the i-th values instead of every combination")
    cards.add_argument("--dataset", default="latest", help="dataset version: content hash (or prefix), or 'latest'")
    cards.add_argument("--model", help="JumpStart model id (default: jumpstart.model_id in the config)")
    cards.add_argument("--model-version", help="JumpStart model version")
    _card_outputs(cards)
    for parser in (submit, mode, cards):
        parser.add_argument("--session", dest="session_opt", default=argparse.SUPPRESS)
        parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def _card_outputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folder", type=Path, help="the folder the dataset was exported to (to upload in the console)")
    parser.add_argument("--markdown", type=Path, help="also write the cards as Markdown to this file")
    parser.add_argument("--csv", type=Path, help="also write the cards as CSV to this file")


def add_console_card_arguments(parser: argparse.ArgumentParser) -> None:
    """`--console` and the card outputs, for `tunedeck sweep plan`."""
    parser.add_argument("--console", action="store_true", help="print the recipe cards for the JumpStart console")
    _card_outputs(parser)


def _open(args: argparse.Namespace) -> Any:
    from core.sessions import open_session

    return open_session(session_name(args), create=False)


@command("league")
def _league(args: argparse.Namespace, config: Config) -> int:
    store = _open(args)
    try:
        if args.league_verb == "submit":
            return _submit(args, store, config)
        if args.league_verb == "mode":
            return _mode(args, store, config)
        if args.league_verb == "cards":
            return print_console_cards(args, store, config)
        return _show(args, store, config)
    finally:
        store.close()


def _mode(args: argparse.Namespace, store: Store, config: Config) -> int:
    from core.league.mode import account_mode, set_account_mode

    mode = set_account_mode(store, args.mode) if args.mode else account_mode(store, config)
    emit(args, {"session": store.name, "mode": mode}, lambda: print(f"{store.name}: {mode} mode"))
    return 0


def _submit(args: argparse.Namespace, store: Store, config: Config) -> int:
    from core.league.ledger import LedgerError, check_submission, record_submission, validate_submission
    from core.league.runs import RunError, parse_time

    if args.emulated:
        args.score = _emulated_score(args, store, config)
        args.note = (args.note + " " if args.note else "") + "(emulated leaderboard)"
    elif not args.score:
        raise CommandError("--score is required (the score the leaderboard gave the run, such as 44/50)")
    try:
        submitted_at = parse_time(args.at) if args.at else time.time()
        validate_submission(store, config, args.name, args.score, rank=args.rank, submitted_at=submitted_at)
        check = check_submission(store, args.name)
        if not check.ok and not args.yes:
            problems = "; ".join(check.problems)
            if not sys.stdin.isatty():
                raise CommandError(f"{problems}; add --yes to record the submission anyway")
            if input(f"{problems}\nrecord this submission anyway? [y/N] ").strip().lower() != "y":
                print("not recorded")
                return 1
        submission = record_submission(
            store, config, args.name, args.score, rank=args.rank, note=args.note, submitted_at=submitted_at
        )
    except (LedgerError, RunError) as exc:
        raise CommandError(str(exc)) from None
    data = {"run": submission.run_name, "score": submission.score, "fraction": submission.fraction}
    emit(args, data, lambda: print(f"recorded {submission.run_name}: {submission.score}"))
    return 0


def _emulated_score(args: argparse.Namespace, store: Store, config: Config) -> str:
    """The run's score on the emulated leaderboard, asked of its live endpoint; only against emulated AWS."""
    from core.sandbox.leaderboard import LABEL, score_endpoint

    try:
        result = score_endpoint(store, config, args.name)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if not getattr(args, "json", False):
        print(f"{LABEL}: {args.name} scored {result.text} ({result.wins} won, {result.ties} tied of {result.n})")
    return result.text


def _show(args: argparse.Namespace, store: Store, config: Config) -> int:
    from core.league.calibration import calibrate_ledger
    from core.league.ledger import ledger

    view = ledger(store, config, time.time())
    calibration = calibrate_ledger(view)
    data = {"session": store.name, **view.as_dict(), "calibration": calibration.as_dict()}

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    def human() -> None:
        from core.safe_text import one_line
        from core.training.sweep import summarize

        print(f"{store.name}: {view.limits.mode} mode")
        for line in view.limits.lines():
            print(f"  {line}")
        if not view.rows:
            print("no leaderboard submissions yet (tunedeck league submit RUN --score 44/50)")
        for row in view.rows:
            s = row.submission
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.submitted_at))
            mark = "*" if row.best else " "
            rank = f" rank {s.rank}" if s.rank else ""
            print(
                f"{mark} {when}  {s.run_name:<30} {s.score:>7}{rank}  dataset {row.dataset_hash or '-'}"
                f"  eval {fmt(row.final_eval_loss)}  gap {fmt(row.gap)}  local {row.local_score or '-'}"
            )
            print(f"      {summarize(row.hyperparameters) or '-'}" + (f"  {one_line(s.note, 80)}" if s.note else ""))
            if row.overfitting:
                print(f"      OVERFITTING: {'; '.join(row.overfitting_reasons)}")
        print(f"calibration: {calibration.verdict}")
        for figure in calibration.figures:
            print(f"  {figure.describe()}")

    emit(args, data, human)
    return 0


def print_console_cards(args: argparse.Namespace, store: Store, config: Config) -> int:
    """`league cards` and `sweep plan --console`: plan without AWS, print the cards, keep them for `runs add`."""
    from core.league.ledger import check_plan, limits
    from core.league.runs import remember_cards
    from core.training.console import plan_console_sweep, render_csv, render_markdown, render_text
    from core.training.jobs import JobsError, SweepSpec
    from core.training.sweep import SweepError

    try:
        spec = SweepSpec.from_strings(
            args.instance,
            args.param,
            mode="list" if args.list else "grid",
            dataset=args.dataset,
            model_id=args.model,
            model_version=args.model_version,
        )
        console = plan_console_sweep(store, config, spec, export_folder=args.folder)
    except SweepError as exc:
        raise CommandError("invalid sweep:\n  " + "\n  ".join(exc.errors)) from None
    except (JobsError, OSError) as exc:
        raise CommandError(str(exc)) from None
    cards = list(console.cards)
    remember_cards(store, cards)
    check = check_plan(
        limits(store, config), instance_seconds=console.plan.instance_seconds, wall_seconds=console.plan.wall_seconds
    )
    for path, render in ((args.markdown, render_markdown), (args.csv, render_csv)):
        if path is not None:
            path.write_text(render(cards), encoding="utf-8")
            print(f"wrote {len(cards)} card(s) to {path}", file=sys.stderr)
    data = {"session": store.name, "cards": [c.as_dict() for c in cards], "limits_check": list(check.problems)}

    def human() -> None:
        print(render_text(cards), end="")
        for problem in check.problems:
            print(f"warning: {problem}")
        print(f"record a run started from a card with: tunedeck runs add NAME --start now --session {store.name}")

    emit(args, data, human)
    return 0


def refuse_in_console(store: Store, config: Config, action: str) -> None:
    """Stop a verb that needs AWS in a console-mode session, with the one-line reason."""
    from core.league.mode import account_mode, unavailable_reason

    reason = unavailable_reason(action, account_mode(store, config))
    if reason is not None:
        raise CommandError(reason)


def in_console_mode(store: Store, config: Config) -> bool:
    from core.league.mode import CONSOLE, account_mode

    return account_mode(store, config) == CONSOLE

"""Headless verbs for runs recorded by hand: `tunedeck runs [add|edit|import-log]`."""

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


def _run_fields(parser: argparse.ArgumentParser, *, adding: bool) -> None:
    parser.add_argument("--instance", help="training instance type, e.g. ml.g5.12xlarge")
    parser.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE", help="a hyperparameter (repeatable)")
    parser.add_argument("--dataset", help="dataset version: content hash (or prefix), id or 'latest'")
    parser.add_argument("--status", help="InProgress, Completed, Failed or Stopped")
    parser.add_argument("--start", help="when training started: ISO 8601 (local time unless it has an offset) or 'now'")
    parser.add_argument("--end", help="when it ended: ISO 8601 or 'now'")
    parser.add_argument("--duration", help="how long it trained, e.g. 1h30m, 90m or 1:30")
    parser.add_argument("--twin", help="the API job trained the same way in the practice account")
    parser.add_argument("--note", help="a note")
    if adding:
        parser.add_argument("--model", help="JumpStart model id (default: jumpstart.model_id in the config)")
        parser.add_argument("--model-version", help="JumpStart model version")


@parser_extension
def _arguments(sub: Subparsers) -> None:
    runs = sub.add_parser("runs", help="training runs started in the SageMaker console (console mode)")
    runs.add_argument("--session", dest="session_opt")
    runs.add_argument("--json", action="store_true")
    runs_sub = runs.add_subparsers(dest="runs_verb", metavar="ACTION")
    add = runs_sub.add_parser(
        "add",
        help="record a run started in the console",
        description="A NAME printed on a plan card (`tunedeck league cards`) takes its model, instance, dataset "
        "and hyperparameters from the card; options override them.",
    )
    add.add_argument("name")
    _run_fields(add, adding=True)
    edit = runs_sub.add_parser("edit", help="change a console run (status, end, duration, twin, note, ...)")
    edit.add_argument("name")
    _run_fields(edit, adding=False)
    imported = runs_sub.add_parser(
        "import-log",
        help="import a training log or metrics file downloaded from CloudWatch ('-': read pasted text from stdin)",
    )
    imported.add_argument("name")
    imported.add_argument("file")
    for parser in (add, edit, imported):
        parser.add_argument("--session", dest="session_opt", default=argparse.SUPPRESS)
        parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def _open(args: argparse.Namespace) -> Any:
    from core.sessions import open_session

    return open_session(session_name(args), create=False)


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    from core.league.runs import parse_duration, parse_hyperparameters, parse_time

    now = time.time()
    changes: dict[str, Any] = {}
    if args.instance:
        changes["instance_type"] = args.instance
    if args.hp:
        changes["hyperparameters"] = parse_hyperparameters(args.hp)
    if args.dataset:
        changes["dataset"] = args.dataset
    if args.status:
        changes["status"] = args.status
    if args.start:
        changes["started_at"] = parse_time(args.start, now)
    if args.end:
        changes["ended_at"] = parse_time(args.end, now)
    if args.duration:
        changes["duration_s"] = parse_duration(args.duration)
    if args.twin:
        changes["twin"] = args.twin
    if args.note is not None:
        changes["note"] = args.note
    return changes


def _describe(run: Any) -> dict[str, Any]:
    return {
        "name": run.name,
        "status": run.status,
        "instance_type": run.instance_type,
        "hyperparameters": run.hyperparameters,
        "dataset_version_id": run.dataset_version_id,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "training_hours": round(run.training_seconds(time.time()) / 3600, 3),
        "twin_job_id": run.twin_job_id,
        "note": run.note,
    }


@command("runs")
def _runs(args: argparse.Namespace, config: Config) -> int:
    from core.league.runs import RunError, RunInput, card_for, edit_console_run, record_console_run, run_from_card_dict

    store = _open(args)
    try:
        try:
            if args.runs_verb == "add":
                changes = _changes(args)
                changes.update(
                    {k: v for k, v in (("model_id", args.model), ("model_version", args.model_version)) if v}
                )
                card = card_for(store, args.name)
                if card is not None:
                    spec = run_from_card_dict(card, **changes)
                elif "instance_type" not in changes:
                    raise CommandError(f"{args.name} is not on a plan card: give --instance (and --hp NAME=VALUE ...)")
                else:
                    spec = RunInput(name=args.name, **changes)
                run = record_console_run(store, config, spec)
                emit(args, _describe(run), lambda: print(f"recorded {run.name} ({run.status})"))
                return 0
            if args.runs_verb == "edit":
                run = edit_console_run(store, args.name, **_changes(args))
                emit(args, _describe(run), lambda: print(f"{run.name}: {run.status}"))
                return 0
            if args.runs_verb == "import-log":
                return _import(args, store)
        except RunError as exc:
            raise CommandError(str(exc)) from None
        runs = store.console_runs()
        emit(
            args,
            {"session": store.name, "runs": [_describe(r) for r in runs]},
            lambda: print("\n".join(_line(r) for r in runs) if runs else "no console runs in this session"),
        )
        return 0
    finally:
        store.close()


def _line(run: Any) -> str:
    from core.training.jobs import format_duration
    from core.training.sweep import summarize

    return (
        f"{run.name:<32} {run.status:<11} {run.instance_type:<15} "
        f"{format_duration(run.training_seconds(time.time())):>7}  {summarize(run.hyperparameters)}"
    )


def _import(args: argparse.Namespace, store: Store) -> int:
    from core.training.log_import import LogImportError, import_log

    try:
        if args.file == "-":
            result = import_log(store, args.name, text=sys.stdin.read())
        else:
            result = import_log(store, args.name, path=Path(args.file))
    except LogImportError as exc:
        raise CommandError(f"{args.file}: {exc}; nothing was imported") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    curves = result.curves
    data = {
        "run": args.name,
        "format": result.format,
        "events": result.events,
        "new_points": result.new_points,
        "step_points": result.step_points,
        "epoch_points": result.epoch_points,
        "train_epoch_losses": list(curves.train_epoch_losses),
        "eval_epoch_losses": list(curves.eval_epoch_losses),
        "overfitting": result.assessment.flagged,
        "overfitting_reasons": result.assessment.reasons,
    }

    def human() -> None:
        print(
            f"{args.name}: {result.format}, {result.events} events, {result.new_points} new points "
            f"({result.step_points} step, {result.epoch_points} epoch)"
        )
        print("  train loss by epoch: " + (" ".join(f"{v:.4f}" for v in curves.train_epoch_losses) or "-"))
        print("  eval loss by epoch:  " + (" ".join(f"{v:.4f}" for v in curves.eval_epoch_losses) or "-"))
        if result.assessment.flagged:
            print(f"  OVERFITTING: {'; '.join(result.assessment.reasons)}")

    emit(args, data, human)
    return 0

"""Headless verbs: `tunedeck sweep launch`, `tunedeck jobs` and `tunedeck jobs stop`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import TYPE_CHECKING, Any

from core.cli.league import add_console_card_arguments, in_console_mode, print_console_cards, refuse_in_console
from core.cli.money import refuse_over_budget
from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension, session_name
from core.safe_text import one_line
from core.sessions import open_session

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.config import Config
    from core.store import Store
    from core.training.jobs import JobsService, TickSummary


@parser_extension
def _arguments(sub: Subparsers) -> None:
    sweep = sub.add_parser("sweep", help="hyperparameter sweeps of JumpStart fine-tuning jobs")
    sweep_sub = sweep.add_subparsers(dest="sweep_verb", metavar="ACTION", required=True)
    launch = sweep_sub.add_parser(
        "launch",
        help="plan a sweep (jobs, duration, cost); with --yes queue it and launch what fits",
        description="Without --yes this prints the plan and its estimated cost and exits.",
    )
    plan = sweep_sub.add_parser(
        "plan", help="print a sweep's plan; with --console, the recipe cards to enter in the JumpStart console"
    )
    for parser in (launch, plan):
        parser.add_argument("--session", dest="session_opt")
        parser.add_argument(
            "--dataset", default="latest", help="dataset version: content hash (or prefix), or 'latest'"
        )
        parser.add_argument("--model", help="JumpStart model id (default: jumpstart.model_id in the config)")
        parser.add_argument("--model-version", help="JumpStart model version (default: the config's, '*' = newest)")
        parser.add_argument(
            "--instance",
            required=True,
            help="training instance type, e.g. ml.g5.2xlarge; several, comma-separated, make a mixed pool "
            "(each job on a type it fits, slots from [jumpstart.quotas])",
        )
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=V1,V2,...",
            help="values to sweep (repeatable); target_modules alternatives are separated by '|' "
            "(presets 'q,v' and 'all linear'); lora_alpha accepts 'kxr' (alpha = k x lora_r)",
        )
        parser.add_argument(
            "--list",
            action="store_true",
            help="pair the i-th values of every --param instead of taking every combination",
        )
        parser.add_argument(
            "--spot",
            action="store_true",
            help="managed spot training: the estimate at [jumpstart] spot_discount below on-demand; "
            "an interrupted job resumes from its checkpoints",
        )
        parser.add_argument(
            "--max-wait", metavar="DURATION", help="with --spot: how long to wait for spot capacity (e.g. 48h)"
        )
        parser.add_argument(
            "--checkpoint", metavar="S3_URI", help="with --spot: where checkpoints go (default: the session's prefix)"
        )
        parser.add_argument("--json", action="store_true")
    add_console_card_arguments(plan)
    launch.add_argument("--accept-eula", action="store_true", help="accept the gated model's EULA (remembered)")
    launch.add_argument("--yes", action="store_true", help="queue the jobs (this spends money)")
    launch.add_argument("--over-budget", action="store_true", help="queue them even past a [budget]")
    launch.add_argument("--watch", action="store_true", help="after queueing, feed the queue until all jobs end")
    launch.add_argument("--interval", type=float, default=15.0, help="seconds between polls with --watch")

    jobs = sub.add_parser("jobs", help="the session's training jobs (status, losses, overfitting, cost)")
    jobs.add_argument("--session", dest="session_opt")
    jobs.add_argument("--json", action="store_true")
    jobs.add_argument("--sheet", action="store_true", help="the experiment sheet (hyperparameters x results)")
    jobs.add_argument("--sort", help="sheet column to sort by")
    jobs.add_argument("--desc", action="store_true", help="sort descending")
    jobs.add_argument("--csv", help="write the sheet to this CSV file")
    jobs.add_argument("--watch", action="store_true", help="keep polling and feeding the queue until all jobs end")
    jobs.add_argument("--interval", type=float, default=15.0, help="seconds between polls with --watch")
    jobs.add_argument("--offline", action="store_true", help="show what the session knows; call no AWS API")
    jobs_sub = jobs.add_subparsers(dest="jobs_verb", metavar="ACTION")
    stop = jobs_sub.add_parser("stop", help="cancel a queued job or stop a running one")
    stop.add_argument("--session", dest="session_opt", default=argparse.SUPPRESS)
    stop.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    stop.add_argument("name")


def _service(store: Store, config: Config) -> JobsService:
    from core.league.mode import aws_client_factory
    from core.training.jobs import JobsService

    return JobsService(store, config, client_factory=aws_client_factory(store, config))


def _open(args: argparse.Namespace) -> Store:
    return open_session(session_name(args), create=False)


def _tick_printer(label: str) -> Callable[[TickSummary], None]:
    def report(summary: TickSummary) -> None:
        parts = []
        if summary.launched:
            parts.append(f"launched {', '.join(summary.launched)}")
        if summary.requeued:
            parts.append(f"requeued {', '.join(summary.requeued)}")
        for name, old, new in summary.status_changes:
            if new not in ("InProgress",) or old != "Launching":
                parts.append(f"{name}: {old} -> {new}")
        if summary.throttled:
            parts.append("throttled, backing off")
        parts += [f"error: {e}" for e in summary.errors[:3]]
        if parts:
            stamp = time.strftime("%H:%M:%S")
            for part in parts:
                print(f"{stamp} {label} {part}", file=sys.stderr)

    return report


def _watch(service: Any, interval: float) -> None:
    try:
        service.watch(interval=max(1.0, interval), on_tick=_tick_printer("jobs"))
    except KeyboardInterrupt:
        print("\nstopped watching; the queue and the jobs are kept (rerun `tunedeck jobs --watch`)", file=sys.stderr)


def _spot_options(args: argparse.Namespace) -> dict[str, Any]:
    from core.league.runs import RunError, parse_duration

    if not args.spot:
        if args.max_wait or args.checkpoint:
            raise CommandError("--max-wait and --checkpoint go with --spot")
        return {}
    options: dict[str, Any] = {"spot": True, "checkpoint_s3_uri": args.checkpoint or ""}
    if args.max_wait:
        try:
            options["spot_max_wait_seconds"] = int(parse_duration(args.max_wait))
        except RunError as exc:
            raise CommandError(f"--max-wait: {exc}") from None
    return options


@command("sweep")
def _sweep(args: argparse.Namespace, config: Config) -> int:
    from core.training.jobs import JobsError, SweepSpec
    from core.training.sweep import SweepError

    store = _open(args)
    try:
        if args.sweep_verb == "plan" and args.console:
            return print_console_cards(args, store, config)
        service = _service(store, config)
        try:
            types = tuple(t.strip() for t in args.instance.split(",") if t.strip())
            spec = SweepSpec.from_strings(
                types[0] if types else args.instance,
                args.param,
                mode="list" if args.list else "grid",
                dataset=args.dataset,
                model_id=args.model,
                model_version=args.model_version,
                instance_types=types if len(types) > 1 else (),
                **_spot_options(args),
            )
            plan = service.plan_sweep(spec)
        except SweepError as exc:
            raise CommandError("invalid sweep:\n  " + "\n  ".join(exc.errors)) from None
        except JobsError as exc:
            raise CommandError(str(exc)) from None
        if args.sweep_verb == "plan" or not args.yes:
            data = {"session": store.name, "plan": plan.as_dict(), "queued": False}
            emit(
                args,
                data,
                lambda: print("\n".join(plan.summary_lines() + ["(nothing launched: add --yes to queue these jobs)"])),
            )
            return 0
        refuse_in_console(store, config, "launch")
        refuse_over_budget(args, store, config, usd=plan.total_cost or 0.0, what="the sweep")
        try:
            sweep, jobs = service.launch_sweep(plan, accept_eula=args.accept_eula)
            summary = service.tick()
        except JobsError as exc:
            raise CommandError(str(exc)) from None
        data = {
            "session": store.name,
            "sweep": sweep.name,
            "plan": plan.as_dict(),
            "queued": True,
            "jobs": [j.name for j in jobs],
            "launched": summary.launched,
            "requeued": summary.requeued,
            "failed_to_launch": summary.failed_to_launch,
            "errors": summary.errors,
        }

        def human() -> None:
            print(
                "\n".join(dataclasses.replace(plan, eula_accepted=service.eula_accepted(plan.model_id)).summary_lines())
            )
            waiting = len(jobs) - len(summary.launched) - len(summary.failed_to_launch)
            print(
                f"{sweep.name}: {len(jobs)} job(s) queued; launched {len(summary.launched)}, waiting {waiting}"
                + (f", failed {len(summary.failed_to_launch)}" if summary.failed_to_launch else "")
            )
            for name in summary.failed_to_launch:
                job = store.job(name)
                print(f"  {name}: {_one_line(job.failure_reason if job else '')}")
            if waiting and not args.watch:
                print(f"feed the queue with: tunedeck jobs --session {store.name} --watch (or keep the TUI open)")

        emit(args, data, human)
        if args.watch:
            _watch(service, args.interval)
        return 0 if not summary.failed_to_launch else 1
    finally:
        store.close()


def _one_line(text: str | None, width: int = 160) -> str:
    return one_line(text or "", width)


@command("jobs")
def _jobs(args: argparse.Namespace, config: Config) -> int:
    from core.training.jobs import JobsError

    store = _open(args)
    try:
        service = _service(store, config)
        if args.jobs_verb == "stop":
            refuse_in_console(store, config, "stop")
            try:
                job = service.stop(args.name)
            except JobsError as exc:
                raise CommandError(str(exc)) from None
            emit(args, {"name": job.name, "status": job.status}, lambda: print(f"{job.name}: {job.status}"))
            return 0
        if args.watch:
            refuse_in_console(store, config, "poll")
            _watch(service, args.interval)
        elif not args.offline and not in_console_mode(store, config):
            summary = service.refresh()
            for error in summary.errors[:3]:
                print(f"tunedeck jobs: warning: {error}", file=sys.stderr)
        if args.sheet or args.csv or args.sort:
            return _print_sheet(args, service)
        return _print_jobs(args, service)
    finally:
        store.close()


def _print_jobs(args: argparse.Namespace, service: Any) -> int:
    from core.training.jobs import format_duration

    now = time.time()
    rows = service.rows(now)
    meter = service.cost_meter(now)
    data = {"session": service.store.name, "jobs": [r.as_dict() for r in rows], "cost": meter.as_dict()}

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    def human() -> None:
        if not rows:
            print("no jobs in this session")
        for row in rows:
            job = row.job
            status = job.status + (f"/{job.secondary_status}" if job.secondary_status and job.is_running else "")
            train = row.curves.train_epoch_losses
            evals = row.curves.eval_epoch_losses
            eta = f" eta {format_duration(row.eta_s)}" if row.eta_s and job.is_running else ""
            print(f"{job.name:<28} {status:<22} {job.instance_type:<15} {row.summary}")
            print(
                f"    elapsed {format_duration(row.elapsed_s)}{eta}  train {fmt(train[-1] if train else None)}"
                f"  eval {fmt(evals[-1] if evals else None)}  best eval epoch {row.best_eval_epoch or '-'}"
                f"  cost {'-' if row.cost_usd is None else f'${row.cost_usd:.2f}'}"
            )
            if row.spot:
                print(f"    {row.spot}")
            if row.assessment.flagged:
                print(f"    OVERFITTING: {'; '.join(row.assessment.reasons)} -> {row.assessment.suggestion}")
            if job.failure_reason and job.status in ("Failed", "Queued", "Cancelled"):
                print(f"    {_one_line(job.failure_reason)}")
        print(meter.label())

    emit(args, data, human)
    return 0


def _print_sheet(args: argparse.Namespace, service: Any) -> int:
    from core.training.sheet import build_sheet, export_csv, sheet_records, sort_sheet

    now = time.time()
    frame = build_sheet(service.store, service.prices, now)
    if args.sort:
        try:
            frame = sort_sheet(frame, args.sort, descending=args.desc)
        except KeyError as exc:
            raise CommandError(str(exc.args[0])) from None
    if args.csv:
        path = export_csv(frame, args.csv)
        print(f"wrote {len(frame)} row(s) to {path}", file=sys.stderr)
    if args.json:
        order = list(frame["job"]) if len(frame) else []
        records = {r["job"]: r for r in sheet_records(service.store, service.prices, now)}
        emit(args, {"session": service.store.name, "sheet": [records[name] for name in order]}, lambda: None)
    elif not args.csv or args.sheet:
        import pandas as pd

        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
            print(frame.to_string(index=False) if len(frame) else "no jobs in this session")
    return 0

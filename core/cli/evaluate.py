"""Headless verbs: `tunedeck eval run`, `tunedeck questions import|list`, `tunedeck endpoints`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli.money import print_live_resources, refuse_over_budget
from core.cli.progress import ProgressBar
from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension, session_name
from core.safe_text import one_line
from core.services import Services
from core.sessions import open_session

if TYPE_CHECKING:
    import argparse

    from core.config import Config
    from core.evaluation.judge import EvalProgress
    from core.store import Store


@parser_extension
def _arguments(sub: Subparsers) -> None:
    evaluation = sub.add_parser("eval", help="judged A/B evaluation on a held-out question set")
    eval_sub = evaluation.add_subparsers(dest="eval_verb", metavar="ACTION", required=True)
    run = eval_sub.add_parser("run", help="answer the set with targets A and B, judge both orders, print the score")
    run.add_argument("--session", dest="session_opt")
    run.add_argument(
        "--a",
        dest="target_a",
        required=True,
        metavar="TARGET",
        help="the candidate: endpoint:NAME, openai:MODEL or bedrock:MODEL_ID",
    )
    run.add_argument("--b", dest="target_b", required=True, metavar="TARGET", help="the reference to beat")
    run.add_argument("--set", dest="set_name", metavar="NAME", help="question set (default: the newest)")
    run.add_argument("--system-prompt", default="", help="system prompt given to both targets")
    run.add_argument("--temperature", type=float, default=0.2)
    run.add_argument("--max-tokens", type=int, default=1024)
    run.add_argument("--fresh", action="store_true", help="start a new evaluation instead of resuming")
    run.add_argument("--json", action="store_true")

    questions = sub.add_parser("questions", help="held-out question sets")
    q_sub = questions.add_subparsers(dest="questions_verb", metavar="ACTION", required=True)
    imp = q_sub.add_parser("import", help="import a CSV (question[,topic,reference]) or JSONL file as a new set")
    imp.add_argument("--session", dest="session_opt")
    imp.add_argument("--set", dest="set_name", required=True, metavar="NAME")
    imp.add_argument("file", type=Path)
    imp.add_argument("--json", action="store_true")
    listing = q_sub.add_parser("list", help="list the question sets")
    listing.add_argument("--session", dest="session_opt")
    listing.add_argument("--json", action="store_true")

    endpoints = sub.add_parser(
        "endpoints", help="list endpoints with status, $/hour, uptime and idle warnings; deploy or delete one"
    )
    endpoints.add_argument("--session", dest="session_opt")
    endpoints.add_argument("--no-refresh", action="store_true", help="show what the session last saw")
    endpoints.add_argument("--idle-minutes", type=float, default=30.0)
    endpoints.add_argument("--json", action="store_true")
    e_sub = endpoints.add_subparsers(dest="endpoints_verb", metavar="ACTION")
    deploy = e_sub.add_parser("deploy", help="deploy a Completed training job's model (or --base) and wait for it")
    target = deploy.add_mutually_exclusive_group(required=True)
    target.add_argument("job", nargs="?", help="training job name")
    target.add_argument("--base", action="store_true", help="deploy the pre-trained JumpStart model instead")
    deploy.add_argument("--instance", help="instance type (default: the JumpStart spec's default)")
    deploy.add_argument("--name", dest="endpoint_name", help="endpoint name (default: derived from the job)")
    deploy.add_argument("--accept-eula", action="store_true", help="accept the model's EULA (base model)")
    deploy.add_argument("--no-wait", action="store_true", help="return once SageMaker has the request")
    deploy.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for InService")
    deploy.add_argument("--yes", action="store_true", help="do not ask before spending money")
    deploy.add_argument(
        "--over-budget", action="store_true", help="deploy even when its first hour would pass a [budget]"
    )
    deploy.add_argument("--session", dest="session_opt")
    deploy.add_argument("--json", action="store_true")
    delete = e_sub.add_parser("delete", help="delete an endpoint with its config and model")
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    delete.add_argument("--session", dest="session_opt")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def score_table(summary: dict[str, Any]) -> list[str]:
    """The score table printed by `tunedeck eval run` (names and topics are scrubbed)."""
    lo, hi = summary["interval"]
    lines = [
        f"evaluation {summary.get('evaluation_id')} on set {one_line(summary.get('set', ''), 60)!r} "
        f"({summary.get('questions', summary['N'])} questions)",
        f"  A  {one_line(summary.get('target_a', ''), 80)}",
        f"  B  {one_line(summary.get('target_b', ''), 80)}",
        f"score              {summary['score']}  (95% interval {_pct(lo)} - {_pct(hi)})",
        f"wins/ties/losses   {summary['wins']} / {summary['ties']} / {summary['losses']}",
        f"strict / lenient   {_pct(summary['strict_rate'])} / {_pct(summary['lenient_rate'])}",
        f"position consist.  {_pct(summary['position_consistency'])}"
        + (
            "  (below 70%: the judge is unreliable here)"
            if summary["position_consistency"] is not None and summary["position_consistency"] < 0.7
            else ""
        ),
    ]
    if summary.get("mean_len_a") is not None:
        lines.append(
            f"answer length      A {summary['mean_len_a']:.0f}  B {summary['mean_len_b']:.0f} chars; "
            f"longer answer won {_pct(summary['longer_answer_win_rate'])} of "
            f"{summary.get('length_decided', 0)} decided"
        )
    if summary.get("pending") or summary.get("failed_answers") or summary.get("failed_verdicts"):
        lines.append(
            f"not judged         {summary.get('pending', 0)} (failed answers {summary.get('failed_answers', 0)},"
            f" failed verdicts {summary.get('failed_verdicts', 0)}): rerun to resume"
        )
    topics = summary.get("by_topic") or {}
    if len(topics) > 1:
        lines.append("by topic")
        width = min(40, max(len(one_line(t or "(none)", 40)) for t in topics))
        for topic, t in topics.items():
            tlo, thi = t["interval"]
            lines.append(f"  {one_line(topic or '(none)', 40):<{width}}  {t['score']:>9}  ({_pct(tlo)} - {_pct(thi)})")
    return lines


def _open(args: argparse.Namespace) -> Store:
    return open_session(session_name(args), create=False)


@command("eval")
def _eval(args: argparse.Namespace, config: Config) -> int:
    from core.evaluation.judge import EvalSettings, EvaluationError, evaluate

    store = _open(args)
    bar = ProgressBar("eval")

    def report(p: EvalProgress) -> None:
        bar.update(
            p.done,
            p.total,
            f"answers {p.answers_done}/{p.answers_total} verdicts "
            f"{p.verdicts_done}/{p.verdicts_total} failed {p.failed} ${p.cost_usd:.4f}",
        )

    try:
        settings = EvalSettings(
            system_prompt=args.system_prompt,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            concurrency=max(1, min(config.llm.judge.max_concurrency, 16)),
        )
        try:
            result = asyncio.run(
                evaluate(
                    Services(store, config),
                    args.target_a,
                    args.target_b,
                    set_name=args.set_name,
                    settings=settings,
                    on_progress=report,
                    fresh=args.fresh,
                )
            )
        except KeyboardInterrupt:
            print(
                "\ninterrupted: answers and verdicts so far are saved; rerun the same command to resume",
                file=sys.stderr,
            )
            return 130
        except EvaluationError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        summary = result.summary
        emit(args, summary, lambda: print("\n".join(score_table(summary))))
        return 0 if result.complete else 1
    finally:
        store.close()


@command("questions")
def _questions(args: argparse.Namespace, config: Config) -> int:
    from core.evaluation.questions import QuestionImportError, import_questions

    store = _open(args)
    try:
        if args.questions_verb == "import":
            try:
                count = import_questions(store, args.set_name, args.file)
            except QuestionImportError as exc:
                raise CommandError(str(exc)) from None
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            data = {"set": args.set_name.strip(), "questions": count}
            emit(args, data, lambda: print(f"imported {count} questions into set {data['set']!r}"))
            return 0
        sets = store.question_sets()
        listing = [{"name": s.name, "questions": s.count, "source": s.source} for s in sets]

        def human() -> None:
            if not sets:
                print("no question sets")
            for s in sets:
                print(f"{one_line(s.name, 64)}  {s.count} questions  ({one_line(s.source, 60)})")

        emit(args, listing, human)
        return 0
    finally:
        store.close()


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


@command("endpoints")
def _endpoints(args: argparse.Namespace, config: Config) -> int:
    from core.serving.endpoints import EndpointError, EndpointManager

    verb = getattr(args, "endpoints_verb", None)
    if verb == "deploy":
        return _endpoints_deploy(args, config)
    if verb == "delete":
        return _endpoints_delete(args, config)
    store = _open(args)
    try:
        manager = EndpointManager(store, config)
        warning = None
        try:
            rows = manager.list_endpoints(refresh=not args.no_refresh, idle_minutes=args.idle_minutes)
        except EndpointError as exc:
            warning = str(exc)
            rows = manager.list_endpoints(refresh=False, idle_minutes=args.idle_minutes)
        data = [r.to_dict() for r in rows]

        def human() -> None:
            if warning:
                print(f"warning: {one_line(warning, 200)}", file=sys.stderr)
            if not rows:
                print("no endpoints")
            for r in rows:
                price = f"${r.price_per_hour:.3f}/h" if r.price_per_hour is not None else "$?/h"
                spent = f" ${r.cost_so_far:.2f} so far" if r.cost_so_far is not None else ""
                idle = f"  IDLE {_duration(r.idle_s or 0)}: delete it if unused" if r.idle_warning else ""
                source = r.job_name or r.model_id or ""
                print(
                    f"{r.name}  {r.status}  {r.instance_type}  {price}  up {_duration(r.uptime_s)}{spent}  "
                    f"{one_line(source, 60)}{idle}"
                )
                if r.failure_reason:
                    print(f"    {one_line(r.failure_reason, 300)}")

        emit(args, data, human)
        return 0
    finally:
        store.close()


def _confirm(question: str, args: argparse.Namespace) -> bool:
    """Yes with --yes; otherwise ask on a terminal, and refuse when nobody can answer."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        print(f"{question}\nnot a terminal: pass --yes to go ahead", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _endpoints_deploy(args: argparse.Namespace, config: Config) -> int:
    from core.serving.endpoints import EndpointError, EndpointManager

    store = _open(args)
    try:
        manager = EndpointManager(store, config)
        try:
            if args.base:
                plan = manager.plan_base(
                    accept_eula=args.accept_eula, instance_type=args.instance, endpoint_name=args.endpoint_name
                )
            else:
                plan = manager.plan_finetuned(args.job, instance_type=args.instance, endpoint_name=args.endpoint_name)
            question = f"deploy {plan.endpoint_name} on {plan.instance_type}? " + " ".join(
                one_line(line, 200) for line in plan.cost_lines()
            )
            refuse_over_budget(
                args, store, config, usd=plan.price_per_hour or 0.0, what=f"the first hour of {plan.endpoint_name}"
            )
            if not _confirm(question, args):
                return 1
            row = manager.deploy(plan)
            print(f"creating endpoint {row.name} ({row.instance_type})", file=sys.stderr)
            if not args.no_wait:
                row = manager.wait(row.name, timeout_s=args.timeout, poll_s=2.0 if config.aws.endpoint_url else 15.0)
        except EndpointError as exc:
            print(f"error: {one_line(str(exc), 500)}", file=sys.stderr)
            return 1
        status = manager.status_of(row)
        emit(
            args,
            status.to_dict(),
            lambda: print(
                f"{row.name}  {row.status}  {row.instance_type}"
                + (f"\n    {one_line(row.failure_reason, 300)}" if row.failure_reason else "")
            ),
        )
        print_live_resources(store, config)
        return 0 if row.status in ("InService", "Creating") else 1
    finally:
        store.close()


def _endpoints_delete(args: argparse.Namespace, config: Config) -> int:
    from core.serving.endpoints import EndpointError, EndpointManager

    store = _open(args)
    try:
        manager = EndpointManager(store, config)
        if not _confirm(manager.delete_confirmation(args.name), args):
            return 1
        try:
            manager.delete(args.name)
        except EndpointError as exc:
            print(f"error: {one_line(str(exc), 500)}", file=sys.stderr)
            return 1
        print(f"deleted endpoint {one_line(args.name, 80)} with its config and model")
        return 0
    finally:
        store.close()

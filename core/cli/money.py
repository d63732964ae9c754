"""Headless money verbs and checks: the `[budget]` refusal every spending verb shares,
`tunedeck quotas [request TYPE N]` (the instance pool and Service Quotas increase requests) and
`tunedeck storage [delete KEY... --yes]` (the session's S3 objects and their monthly cost) and
`tunedeck money` (what the session has spent: AWS, LLM calls by purpose, the budgets left)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension, session_name
from core.safe_text import one_line

if TYPE_CHECKING:
    from core.config import Config
    from core.store import Store


def refuse_over_budget(
    args: argparse.Namespace, store: Store, config: Config, *, usd: float = 0.0, llm_usd: float = 0.0, what: str
) -> None:
    """Stop a verb whose action would pass a `[budget]`, with the numbers, unless `--over-budget` is given."""
    from core.limits import budget_check

    found = budget_check(store, config, usd=usd, llm_usd=llm_usd, what=what)
    if not found.ok and not getattr(args, "over_budget", False):
        raise CommandError("; ".join(found.problems) + " (add --over-budget to go ahead, or raise [budget])")


@parser_extension
def _arguments(sub: Subparsers) -> None:
    quotas = sub.add_parser(
        "quotas",
        help="training-instance quotas (the instance pool) and Service Quotas increase requests",
        description="Without an action: each pool type's slots (config [jumpstart.quotas] or Service Quotas) "
        "and the increase requests with their status. Needs servicequotas:ListServiceQuotas and "
        "servicequotas:ListRequestedServiceQuotaChangeHistory; `request` needs "
        "servicequotas:RequestServiceQuotaIncrease.",
    )
    quotas.add_argument("--json", action="store_true")
    actions = quotas.add_subparsers(dest="quotas_verb", metavar="ACTION")
    request = actions.add_parser("request", help="ask Service Quotas to raise '<TYPE> for training job usage' to N")
    request.add_argument("instance_type", metavar="TYPE", help="e.g. ml.g5.2xlarge")
    request.add_argument("value", metavar="N", type=int, help="the number of instances to ask for")
    request.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


@parser_extension
def _storage_arguments(sub: Subparsers) -> None:
    storage = sub.add_parser(
        "storage", help="this session's S3 objects (datasets, training outputs), sizes and monthly cost"
    )
    storage.add_argument("--session", dest="session_opt")
    storage.add_argument("--json", action="store_true")
    actions = storage.add_subparsers(dest="storage_verb", metavar="ACTION")
    delete = actions.add_parser("delete", help="delete the given keys (under the session's prefix only)")
    delete.add_argument("keys", nargs="+", metavar="KEY")
    delete.add_argument("--yes", action="store_true", help="delete them (without it: print what would go)")
    delete.add_argument("--session", dest="session_opt", default=argparse.SUPPRESS)


@parser_extension
def _money_arguments(sub: Subparsers) -> None:
    money = sub.add_parser(
        "money", help="what this session spent: AWS so far and per hour, LLM calls by purpose, budgets left"
    )
    money.add_argument("--session", dest="session_opt")
    money.add_argument("--json", action="store_true")


@command("money")
def _money(args: argparse.Namespace, config: Config) -> int:
    import time

    from core.limits import budget_limits, llm_spend
    from core.sessions import open_session
    from core.training.prices import PriceTable, cost_meter

    store = open_session(session_name(args), create=False)
    try:
        now = time.time()
        meter = cost_meter(
            store.jobs(),
            store.endpoints_for_billing(),
            PriceTable(config.jumpstart.prices),
            now,
            console_runs=store.console_run_ids(),
        )
        purposes = llm_spend(store)
        limits = budget_limits(store, config, now)
    finally:
        store.close()
    unpriced = sum(p.unpriced_calls for p in purposes)
    llm_usd = sum(p.usd for p in purposes)
    data = {
        "aws": meter.as_dict(),
        "llm": {"usd": round(llm_usd, 6), "unpriced_calls": unpriced, "by_purpose": [p.as_dict() for p in purposes]},
        "budgets": [
            {
                "name": b.name,
                "used": round(b.used, 6),
                "limit": b.limit,
                "left": None if b.left is None else round(b.left, 6),
            }
            for b in limits
        ],
    }

    def human() -> None:
        extra = f" (no price for {', '.join(meter.unpriced)})" if meter.unpriced else ""
        print(f"AWS  ${meter.usd_so_far:,.2f} so far, ${meter.usd_per_hour:,.2f}/h now{extra}")
        more = f" + {unpriced} unpriced call(s)" if unpriced else ""
        print(f"LLM  ${llm_usd:,.2f}{more}" if purposes else "LLM  no calls yet")
        for spend in purposes:
            print(f"  {spend.describe()}")
        for limit in limits:
            if limit.limit is None:
                print(f"{limit.name}: none set")
            else:
                print(f"{limit.name}: ${limit.used:,.2f} of ${limit.limit:,.2f}, ${limit.left or 0.0:,.2f} left")

    emit(args, data, human)
    return 0


@command("storage")
def _storage(args: argparse.Namespace, config: Config) -> int:
    from core.aws_identity import aws_client
    from core.sessions import open_session
    from core.storage import StorageError, delete_objects, list_objects

    store = open_session(session_name(args), create=False)
    try:
        client = aws_client(config.aws, "s3")
        try:
            if args.storage_verb == "delete":
                if not args.yes:
                    for key in args.keys:
                        print(f"would delete s3://{config.aws.s3_bucket}/{one_line(key, 300)}")
                    print("nothing deleted: add --yes to delete these objects")
                    return 1
                count = delete_objects(client, config, store, args.keys)
                print(f"deleted {count} object(s)")
                return 0
            objects = list_objects(client, config, store)
        except StorageError as exc:
            raise CommandError(str(exc)) from None
        total = sum(o.size for o in objects)
        data = {
            "objects": [
                {"key": o.key, "size": o.size, "kind": o.kind, "usd_per_month": o.usd_per_month} for o in objects
            ],
            "total_bytes": total,
            "usd_per_month": sum(o.usd_per_month for o in objects),
        }

        def human() -> None:
            for o in objects:
                print(f"{o.size / 1e6:10.2f} MB  ${o.usd_per_month:.4f}/month  {o.kind:15}  {one_line(o.key, 200)}")
            print(f"{len(objects)} object(s), {total / 1e6:.2f} MB, ${data['usd_per_month']:.4f} per month")

        emit(args, data, human)
        return 0
    finally:
        store.close()


@command("quotas")
def _quotas(args: argparse.Namespace, config: Config) -> int:
    from core.aws_identity import aws_client
    from core.training.quotas import QuotaLookup, QuotaRequestError, request_increase, training_requests

    client = aws_client(config.aws, "service-quotas")
    if args.quotas_verb == "request":
        try:
            made = request_increase(client, args.instance_type, args.value)
        except QuotaRequestError as exc:
            raise CommandError(str(exc)) from None
        emit(args, {"request": made.as_dict()}, lambda: print(f"requested: {made.describe()} (id {made.request_id})"))
        return 0
    lookup = QuotaLookup({}, lambda: client)
    types = list(dict.fromkeys([config.jumpstart.training_instance, *config.jumpstart.quotas]))
    pool = [(t, lookup.slots(t)) for t in types]
    try:
        requests, problem = training_requests(client), ""
    except Exception as exc:  # noqa: BLE001 - no permission or no network: the pool still prints
        requests, problem = [], f"{type(exc).__name__}: {exc}"
    configured = config.jumpstart.quotas
    data = {
        "pool": [
            {"instance_type": t, "service_quota": s.slots, "source": s.source, "configured": configured.get(t)}
            for t, s in pool
        ],
        "requests": [r.as_dict() for r in requests],
        "requests_error": problem or None,
    }

    def human() -> None:
        for kind, slots in pool:
            mine = f", [jumpstart.quotas] {configured[kind]}" if kind in configured else ""
            print(f"{slots.describe()}{mine}")
            if slots.slots == 0 and slots.source == "service-quotas":
                print(f"  no slot: ask with `tunedeck quotas request {kind} 1` (or more)")
        if lookup.last_error:
            print(f"could not look up the quotas: {one_line(lookup.last_error, 200)}")
        print("increase requests:" if requests else "no increase requests")
        for made in requests:
            print(f"  {made.describe()}")
        if problem:
            print(f"could not list the increase requests: {one_line(problem, 200)}")

    emit(args, data, human)
    return 0


def print_live_resources(store: Store, config: Config) -> None:
    """At the end of a verb that created endpoints: what still bills, with $/h, on stderr (so that
    --json output stays one document)."""
    from core.serving.endpoints import live_resources

    found = live_resources(store, config)
    if not found:
        return
    total = sum(r.usd_per_hour or 0.0 for r in found)
    print(f"still billing until deleted or stopped (${total:.3f}/h together):", file=sys.stderr)
    for resource in found:
        print(f"  {one_line(resource.line(), 200)}", file=sys.stderr)
    print(f"delete an endpoint with: tunedeck endpoints delete NAME --session {store.name}", file=sys.stderr)

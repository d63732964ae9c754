"""Headless verbs: `tunedeck topics generate` and `tunedeck generate`."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any, TypeVar

from core.cli.progress import ProgressBar
from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension, session_name
from core.services import Services
from core.sessions import open_session

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Coroutine

    from core.config import Config
    from core.generation.generate import Progress, ProgressCallback
    from core.llm.base import ChatTarget

T = TypeVar("T")


@parser_extension
def _arguments(sub: Subparsers) -> None:
    topics = sub.add_parser("topics", help="topic tree operations")
    topics_sub = topics.add_subparsers(dest="topics_verb", metavar="ACTION", required=True)
    gen = topics_sub.add_parser("generate", help="grow a topic tree from a domain brief and seed aspects")
    gen.add_argument("--session", dest="session_opt")
    gen.add_argument("--brief", required=True, help="one paragraph describing the domain")
    gen.add_argument("--aspects", default="", help="aspects you know matter, separated by ';'")
    gen.add_argument("--categories", type=int, default=12)
    gen.add_argument("--subtopics", type=int, default=12)
    gen.add_argument("--json", action="store_true")
    export = topics_sub.add_parser("export", help="print the topic tree as JSON")
    export.add_argument("--session", dest="session_opt")

    pairs = sub.add_parser("generate", help="generate questions and answers for the topic tree (resumable)")
    pairs.add_argument("--session", dest="session_opt")
    pairs.add_argument("--questions-per-topic", type=int)
    pairs.add_argument("--refusal-share", type=float)
    pairs.add_argument("--topics", help="comma-separated topic ids (their subtrees); default all")
    pairs.add_argument("--json", action="store_true")
    pairs.add_argument("--over-budget", action="store_true", help="run even when its estimate would pass a [budget]")


def _progress_printer(label: str) -> tuple[ProgressBar, ProgressCallback]:
    bar = ProgressBar(label)

    def report(p: Progress) -> None:
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        bar.update(
            p.done,
            p.total,
            f"{p.rate:.1f}/s eta {eta} failed {p.failed} "
            f"tokens {p.prompt_tokens + p.completion_tokens:,} ${p.cost_usd:.4f}",
        )

    return bar, report


async def _with_target(services: Services, role: str, body: Callable[[ChatTarget], Awaitable[T]]) -> T:
    target = services.chat_target(role)
    try:
        return await body(target)
    finally:
        await target.aclose()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        print("\ninterrupted: finished items are saved; rerun the same command to resume", file=sys.stderr)
        raise SystemExit(130) from None


@command("topics")
def _topics(args: argparse.Namespace, config: Config) -> int:
    from core.generation.generate import GenerationStopped, TopicTreeBuilder

    store = open_session(session_name(args))
    try:
        if args.topics_verb == "export":
            print(json.dumps({"topics": store.export_topics()}, indent=2))
            return 0
        aspects = [a.strip() for a in args.aspects.split(";") if a.strip()]
        if not 1 <= args.categories <= 40 or not 1 <= args.subtopics <= 40:
            raise CommandError("--categories and --subtopics must be between 1 and 40")
        bar, report = _progress_printer("topics")

        async def body(target: ChatTarget) -> Any:
            builder = TopicTreeBuilder(
                store, target, on_progress=report, categories=args.categories, subtopics=args.subtopics
            )
            return await builder.generate(args.brief, aspects)

        try:
            progress = _run(_with_target(Services(store, config), "generator", body))
        except (GenerationStopped, ValueError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        leaves = store.leaf_topics()
        data = {
            "session": store.name,
            "topics": len(store.topics()),
            "leaf_topics": len(leaves),
            "failed": progress.failed,
            "cost_usd": round(progress.cost_usd, 6),
        }
        emit(
            args,
            data,
            lambda: print(
                f"{data['topics']} topics ({data['leaf_topics']} leaves), "
                f"{progress.failed} failed calls, ${progress.cost_usd:.4f}"
            ),
        )
        return 0 if progress.failed == 0 else 1
    finally:
        store.close()


def _refuse_generation_over_budget(
    args: argparse.Namespace, store: Any, config: Config, settings: Any, topic_ids: list[int] | None
) -> None:
    """The run's estimate against `[budget] llm_usd` / `session_usd`; refused past one without --over-budget."""
    from core.cli.money import refuse_over_budget
    from core.limits import estimate_generation

    estimate = estimate_generation(
        store,
        config,
        questions_per_topic=settings.questions_per_topic,
        refusal_share=settings.refusal_share,
        topic_ids=topic_ids,
    )
    if estimate.usd is not None:
        try:
            refuse_over_budget(args, store, config, llm_usd=estimate.usd, what="the generation run")
        except CommandError as exc:
            raise CommandError(f"{estimate.describe()}: {exc}") from None


@command("generate")
def _generate(args: argparse.Namespace, config: Config) -> int:
    from core.generation.generate import GenerationSettings, GenerationStopped, PairGenerator

    gen = config.generation
    settings = GenerationSettings(
        questions_per_topic=args.questions_per_topic or gen.questions_per_topic,
        refusal_share=gen.refusal_share if args.refusal_share is None else args.refusal_share,
        answer_style=gen.answer_style,
        max_concurrency=config.llm.generator.max_concurrency,
    )
    try:
        settings.validate()
        topic_ids = [int(t) for t in args.topics.split(",")] if args.topics else None
    except ValueError as exc:
        raise CommandError(
            f"{exc}" if "between" in str(exc) or "below" in str(exc) else "--topics must be comma-separated topic ids"
        ) from None
    store = open_session(session_name(args))
    try:
        _refuse_generation_over_budget(args, store, config, settings, topic_ids)
        bar, report = _progress_printer("generate")

        async def body(target: ChatTarget) -> Any:
            generator = PairGenerator(store, target, settings, on_progress=report, model=config.llm.generator.model)
            return await generator.run(topic_ids)

        try:
            progress = _run(_with_target(Services(store, config), "generator", body))
        except (GenerationStopped, ValueError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        failed = [{"key": t.key, "error": t.error} for t in store.tasks(status="failed")]
        data = {
            "session": store.name,
            **progress.as_dict(),
            "pairs": store.pair_status_counts(),
            "failed_tasks": failed,
        }

        def human() -> None:
            print(
                f"{progress.pairs_added} new pairs; {progress.done} tasks done, {progress.failed} failed; "
                f"{progress.prompt_tokens + progress.completion_tokens:,} tokens, ${progress.cost_usd:.4f}"
            )
            for item in failed[:10]:
                print(f"  failed {item['key']}: {item['error']}")
            if failed:
                print("rerun the same command to retry the failed tasks")

        emit(args, data, human)
        return 0 if not failed else 1
    finally:
        store.close()

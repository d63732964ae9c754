"""Headless verbs of the final: `tunedeck rules` shows or sets the session's round rules (the
config's [final] section is the default), and `tunedeck finalists` has 2-5 prompt versions answer a
question set, the judge rank each question's answers into the event's points, and prints each
finalist's expected points with their spread (and how often the judge's top answer differed from
the answer a person picked in the Playground)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension, session_name

if TYPE_CHECKING:
    import argparse

    from core.config import Config
    from core.playground.finalists import FinalistsRehearsal


@parser_extension
def _arguments(sub: Subparsers) -> None:
    parser = sub.add_parser("finalists", help="rehearse 2-5 prompt versions over a question set, ranked into points")
    parser.add_argument("--set", dest="set_name", required=True, help="the question set")
    parser.add_argument("--versions", required=True, help="prompt version names, comma-separated")
    parser.add_argument("--target", help="who answers (default: the newest fine-tuned endpoint, else the generator)")
    parser.add_argument("--orders", type=int, default=3, help="shuffled orders the judge sees (default 3)")
    parser.add_argument("--session", dest="session_opt")
    parser.add_argument("--json", action="store_true")

    rules = sub.add_parser("rules", help="show or set the session's final-round rules (default: [final])")
    rules.add_argument("--round-seconds", type=float)
    rules.add_argument("--answer-token-cap", type=int, help="the event's answer limit; 0 = none")
    rules.add_argument("--context-length", type=int, help="system prompt + question + answer; 0 = not limited")
    rules.add_argument("--generations", type=int, help="answers per question before one is handed in; 0 = no limit")
    rules.add_argument("--weights", help="LLM judge/human judges/audience, e.g. 40/40/20")
    rules.add_argument("--double-last", choices=("yes", "no"), help="the last question counts double")
    rules.add_argument("--question-template", help="how the event's page appends {question}")
    rules.add_argument("--session", dest="session_opt")
    rules.add_argument("--json", action="store_true")


@command("rules")
def _rules(args: argparse.Namespace, config: Config) -> int:
    import dataclasses

    from core.playground.final import round_rules, set_session_rules
    from core.playground.rounds import PlaygroundError, set_round_seconds
    from core.sessions import open_session

    store = open_session(session_name(args), create=False)
    try:
        rules = round_rules(store, config)
        changes: dict[str, Any] = {
            key: getattr(args, key)
            for key in ("round_seconds", "answer_token_cap", "context_length", "generations", "question_template")
            if getattr(args, key) is not None
        }
        if args.weights is not None:
            try:
                judge, human, audience = (float(part) for part in args.weights.split("/"))
            except ValueError:
                raise CommandError(f"--weights: three numbers such as 40/40/20, not {args.weights!r}") from None
            changes.update(weight_judge=judge, weight_human=human, weight_audience=audience)
        if args.double_last is not None:
            changes["double_last_question"] = args.double_last == "yes"
        if changes:
            try:
                rules = dataclasses.replace(rules, **changes).validate()
            except PlaygroundError as exc:
                raise CommandError(str(exc)) from None
            set_session_rules(store, rules)
            set_round_seconds(store, rules.round_seconds)
        data = {"session": store.name, **rules.as_dict()}
    finally:
        store.close()
    emit(args, data, lambda: print("\n".join(f"{key} = {value!r}" for key, value in data.items())))
    return 0


@command("finalists")
def _finalists(args: argparse.Namespace, config: Config) -> int:
    from core.playground.final import round_rules
    from core.playground.finalists import rehearse_finalists
    from core.playground.rounds import PlaygroundError, default_target
    from core.services import Services
    from core.sessions import open_session

    store = open_session(session_name(args), create=False)
    try:
        qset = store.question_set(args.set_name)
        if qset is None:
            raise CommandError(f"no question set {args.set_name!r}: import one with `tunedeck questions import`")
        by_name = {v.name: v for v in store.prompt_versions()}
        names = [n.strip() for n in args.versions.split(",") if n.strip()]
        missing = [n for n in names if n not in by_name]
        if missing:
            raise CommandError(f"no prompt version named {missing[0]!r}")
        rules = round_rules(store, config)
        services = Services(store, config)
        target_name = args.target or default_target(store, config)

        async def run() -> FinalistsRehearsal:
            target = services.target(target_name)
            judge = services.chat_target("judge")
            try:
                return await rehearse_finalists(
                    store,
                    target,
                    judge,
                    target_name=target_name,
                    set_id=qset.id,
                    version_ids=[by_name[n].id for n in names],
                    orders=args.orders,
                    token_cap=rules.answer_token_cap,
                    question_template=rules.question_template,
                )
            finally:
                await target.aclose()
                await judge.aclose()

        try:
            report = asyncio.run(run())
        except PlaygroundError as exc:
            raise CommandError(str(exc)) from None
    finally:
        store.close()
    from dataclasses import asdict

    data = asdict(report)
    data["differ_rate"] = report.differ_rate

    def human() -> None:
        from core.safe_text import one_line

        for score in data["scores"]:
            mean = f"{score['mean_points']:.1f} ± {score['sd_points']:.1f}" if score["mean_points"] is not None else "—"
            print(one_line(f"{score['name']}: {mean} points per question over {score['questions']}", 200))
        rate = data["differ_rate"]
        if rate is not None:
            print(f"the judge's top answer differed from the human pick in {rate:.0%} of {data['human_picks']}")

    emit(args, data, human)
    return 0

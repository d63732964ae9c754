"""`tunedeck llm check [PROFILE]`: what each LLM profile's server can do, and what tunedeck will use.

Each OpenAI-family profile gets a handful of requests of at most 16 tokens (their cost is shown);
Bedrock and SageMaker profiles have fixed capabilities and are listed without a request.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from core.cli.registry import CommandError, Subparsers, command, emit, parser_extension

if TYPE_CHECKING:
    import argparse

    from core.config import Config
    from core.llm.capabilities import ProbeReport

FIXED = {
    "bedrock": "Converse: schema in the prompt, maxTokens, usage in streams (not probed)",
    "sagemaker": "endpoint: prompt format and stop key from the profile (not probed)",
}


@parser_extension
def _arguments(sub: Subparsers) -> None:
    llm = sub.add_parser("llm", help="LLM profiles: probe what their servers can do")
    llm_sub = llm.add_subparsers(dest="llm_verb", metavar="ACTION")
    check = llm_sub.add_parser(
        "check",
        help="probe a profile's server (default: every profile) and print what it accepts",
        description="Sends a few requests of at most 16 tokens per profile and prints their cost.",
    )
    check.add_argument("profile", nargs="?", help="generator, judge or an [llm.profiles.NAME]")
    check.add_argument("--json", action="store_true")


def _cost(report: ProbeReport) -> str:
    tokens = f"{report.prompt_tokens + report.completion_tokens} tokens"
    if report.cost_usd is None:
        return f"{tokens}, unpriced"
    return f"{tokens}, ${report.cost_usd:.6f}"


async def _probe_all(config: Config, names: list[str]) -> list[dict[str, Any]]:
    from core.llm import capabilities
    from core.llm.errors import LLMError
    from core.llm.openai_api import OpenAITarget
    from core.llm.target_names import named_profiles
    from core.llm.targets import build_target

    profiles = named_profiles(config)
    results: list[dict[str, Any]] = []
    for name in names:
        profile = profiles[name]
        entry: dict[str, Any] = {"profile": name, "provider": profile.provider, "model": profile.model}
        if profile.provider in FIXED:
            entry["fixed"] = FIXED[profile.provider]
            results.append(entry)
            continue
        target = build_target(profile.target_profile(name=name), aws=config.aws, price_overrides=config.llm.prices)
        assert isinstance(target, OpenAITarget)
        try:
            report = await capabilities.probe(target)
        except LLMError as exc:
            entry["error"] = exc.message
        else:
            entry.update(
                base_url=report.base_url,
                checks=[{"check": c, "answer": a, "detail": d} for c, a, d in report.rows()],
                prompt_tokens=report.prompt_tokens,
                completion_tokens=report.completion_tokens,
                cost_usd=report.cost_usd,
                cost=_cost(report),
            )
        finally:
            await target.aclose()
        results.append(entry)
    return results


@command("llm")
def llm_command(args: argparse.Namespace, config: Config) -> int:
    from core.llm.target_names import named_profiles
    from core.safe_text import one_line

    if getattr(args, "llm_verb", None) != "check":
        raise CommandError("write: tunedeck llm check [PROFILE]")
    profiles = named_profiles(config)
    if args.profile and args.profile not in profiles:
        raise CommandError(f"no LLM profile {args.profile!r}; there are {', '.join(profiles)}")
    names = [args.profile] if args.profile else list(profiles)
    results = asyncio.run(_probe_all(config, names))

    def human() -> None:
        for entry in results:
            print(f"{entry['profile']}: {entry['provider']} {one_line(entry['model'])}")
            if "fixed" in entry:
                print(f"  {entry['fixed']}")
            elif "error" in entry:
                print(f"  probe failed: {one_line(entry['error'])}")
            else:
                width = max(len(c["check"]) for c in entry["checks"])
                for check in entry["checks"]:
                    said = f"  ({one_line(check['detail'], 100)})" if check["detail"] else ""
                    print(f"  {check['check']:<{width}}  {check['answer']}{said}")
                print(f"  probe cost: {entry['cost']}")

    emit(args, results, human)
    return 1 if any("error" in entry for entry in results) else 0

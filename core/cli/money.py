"""Headless money verbs and checks: the `[budget]` refusal every spending verb shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.cli.registry import CommandError

if TYPE_CHECKING:
    import argparse

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

"""What every headless verb module uses: the command registry, argument hooks, errors and output.

A verb module registers its handler with `@command("verb")` and its arguments with
`@parser_extension`; `core.cli.main` imports the verb modules and dispatches to the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeAlias

from core.config import Config
from core.sessions import most_recent_session

EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, Config], int]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
ArgumentsAdder = Callable[[Subparsers], None]
HANDLERS: dict[str, Handler] = {}
PARSER_EXTENSIONS: list[ArgumentsAdder] = []


class CommandError(Exception):
    """A headless command cannot go on; the message says why, for the user."""


def command(name: str) -> Callable[[Handler], Handler]:
    """Register the handler of the verb `name`."""

    def register(func: Handler) -> Handler:
        HANDLERS[name] = func
        return func

    return register


def parser_extension(func: ArgumentsAdder) -> ArgumentsAdder:
    """Register a function that adds a verb's arguments to the top-level subparsers."""
    PARSER_EXTENSIONS.append(func)
    return func


def session_name(args: argparse.Namespace) -> str:
    return getattr(args, "session_opt", None) or args.session or most_recent_session() or "default"


def emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> None:
    """Print `data` as one JSON document with --json, else call `human` to print it for people."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        human()

"""Console entry point: headless verbs run without importing Textual; no verb opens the TUI."""

from __future__ import annotations

import sys

from core.cli.main import parse, run_headless


def main(argv: list[str] | None = None) -> int:
    args, config = parse(argv)
    if args.verb:
        return run_headless(args, config)
    from tui.launch import launch  # Textual loads only when the TUI opens

    return launch(args, config)


if __name__ == "__main__":
    sys.exit(main())

"""Open a session (and, with --demo, the emulated services) and run the TUI."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from core.cli.main import session_name
from core.sessions import SessionError, open_session
from core.store import StoreError
from tui.app import TunedeckApp

if TYPE_CHECKING:
    import argparse

    from core.config import Config


def launch(args: argparse.Namespace, config: Config) -> int:
    demo = None
    if args.demo:
        from core.sandbox.demo import start_demo  # moto and the emulators, only for --demo

        print("starting the emulated AWS and LLM services…", file=sys.stderr)
        demo = start_demo(config)
        name = args.session or "demo"
    else:
        name = session_name(args)
    try:
        store = open_session(name)
    except (SessionError, StoreError) as exc:
        print(f"tunedeck: {exc}", file=sys.stderr)
        if demo:
            demo.stop()
        return 2
    app = TunedeckApp(store, config, demo=demo is not None)
    try:
        app.run(mouse=config.ui.mouse)
    finally:
        store.close()
        if demo:
            demo.stop()
    return app.return_code or 0

"""Open a session (and, with --demo, the emulated services) and run the TUI."""

from __future__ import annotations

import argparse
import sys

from core.config import Config


def launch(args: argparse.Namespace, config: Config) -> int:
    from core.cli.main import session_name
    from core.sessions import SessionError, open_session
    from core.store import StoreError

    demo = None
    if args.demo:
        from core.sandbox.demo import start_demo

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
    from tui.app import TunedeckApp

    app = TunedeckApp(store, config, demo=demo is not None)
    try:
        app.run(mouse=config.ui.mouse)
    finally:
        store.close()
        if demo:
            demo.stop()
    return app.return_code or 0

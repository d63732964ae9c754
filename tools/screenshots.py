"""Render one SVG screenshot per pane into docs/screenshots/ (`make screenshots`).

Runs headless (Textual's Pilot) against the embedded demo services, after filling a throw-away
session the way a user would: a topic tree with generated and triaged pairs, an exported dataset,
a finished four-job sweep (one job overfits), the best job deployed, a judged comparison against
a reference model, and a streamed playground answer. HOME, XDG_* and TUNEDECK_SESSIONS_DIR point
into a temporary folder, so the user's config and sessions are never read or written.

    python tools/screenshots.py [--out docs/screenshots] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the session builder and the screen reader live in tests/, shared with the tests

from tests.demo_session import PANE_VIEWS, SIZE, demo_config, fill_session, settle, wait_for  # noqa: E402
from tests.screen import screen_lines  # noqa: E402


def isolate(tmp: Path) -> None:
    """Point every per-user location into `tmp` before any tunedeck module reads them."""
    home = tmp / "home"
    (home / ".config").mkdir(parents=True)
    os.environ.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "TUNEDECK_SESSIONS_DIR": str(tmp / "sessions"),
            "TEXTUAL_ANIMATIONS": "none",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "OPENAI_BASE_URL", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)


async def show_finalists(pilot: Any) -> None:
    """After the playground view: the saved versions as finalists (f7, empty = the newest five), ranked by the judge."""
    app = pilot.app
    await pilot.press("f7")
    await settle(pilot)
    await pilot.press("enter")
    runs = app.active_pane.runs
    await wait_for(pilot, lambda: runs.current is not None and not runs.running, "the finalists' ranking")
    await settle(pilot)


VIEWS = {**PANE_VIEWS, "finalists": show_finalists}  # README "Rehearsing the final" shows the finalists view


def step(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


async def shoot(app: Any, out: Path, *, text: bool = False) -> list[Path]:
    saved: list[Path] = []
    async with app.run_test(size=SIZE) as pilot:
        for name, show in VIEWS.items():
            await show(pilot)
            path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))
            saved.append(path)
            if text:
                lines = [line.rstrip() for line in screen_lines(app)]
                (out / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
            step(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--text", action="store_true", help="also write each screen as plain text (NAME.txt)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary session folder")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="tunedeck-screenshots-"))
    isolate(tmp)
    from core.sandbox.demo import start_demo
    from core.sessions import open_session
    from tui.app import TunedeckApp

    config = demo_config()
    args.out.mkdir(parents=True, exist_ok=True)
    print("filling a demo session…", file=sys.stderr)
    demo = start_demo(config)
    try:
        store = open_session("demo")
        try:
            fill_session(store, config, step)
            print("taking screenshots…", file=sys.stderr)
            app = TunedeckApp(store, config, demo=True, check_identity=True)
            asyncio.run(shoot(app, args.out.resolve(), text=args.text))
        finally:
            store.close()
    finally:
        demo.stop()
        if args.keep:
            print(f"session kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

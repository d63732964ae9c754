"""Time to first frame: tunedeck vs a bare Textual app in the same run, and with 100,000 pairs.

Each measurement is a fresh process: wall time from spawning it to the first painted frame
(headless, so the terminal is not part of the figure). Prints medians and the ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

BARE = """
import sys, time
from textual.app import App
from textual.widgets import Footer, Static
class Bare(App):
    def compose(self):
        yield Static("hello")
        yield Footer()
    def on_mount(self):
        self.call_after_refresh(self.first_frame)
    def first_frame(self):
        print(time.time(), flush=True)
        self.exit()
Bare().run(headless=True, size=(120, 40))
"""

TUNEDECK = """
import sys, time
from core.config import load_config
from core.sessions import open_session
from tui.app import TunedeckApp
class Timed(TunedeckApp):
    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(self.first_frame)
    def first_frame(self):
        print(time.time(), flush=True)
        self.exit()
store = open_session(sys.argv[1])
Timed(store, load_config(include_user=False), check_identity=False).run(headless=True, size=(120, 40))
"""


def first_frame_seconds(code: str, *args: str, env: dict[str, str]) -> float:
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env, check=True, timeout=120
    )
    return float(out.stdout.strip().splitlines()[0]) - start


def fill_session(name: str, count: int, env: dict[str, str]) -> None:
    code = f"""
from core.sessions import open_session
from core.store import NewPair
store = open_session({name!r})
topics = [store.add_topic(f"topic {{i}}") for i in range(140)]
batch = []
for i in range({count}):
    batch.append(NewPair(f"Question number {{i}} about tariffs and meters?", "An answer " * 30,
                         topic_id=topics[i % 140], task_key=f"k{{i}}"))
    if len(batch) == 5000:
        store.add_pairs(batch); batch = []
store.add_pairs(batch)
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=600)


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as sessions:
        env = {**os.environ, "TUNEDECK_SESSIONS_DIR": sessions, "TEXTUAL_ANIMATIONS": "none"}
        # Measure the start a user sees after the first one: byte code cached. (With
        # PYTHONDONTWRITEBYTECODE set, every run would recompile tunedeck's modules but not Textual's.)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        fill_session("big", 100_000, env)
        for _warm in range(2):  # warm the OS file cache and the byte code cache for all three
            first_frame_seconds(BARE, env=env)
            first_frame_seconds(TUNEDECK, "empty", env=env)
        bare, empty, big = [], [], []
        for _ in range(RUNS):  # interleaved so machine noise hits all three alike
            bare.append(first_frame_seconds(BARE, env=env))
            empty.append(first_frame_seconds(TUNEDECK, "empty", env=env))
            big.append(first_frame_seconds(TUNEDECK, "big", env=env))
    result = {
        "bare_textual_s": statistics.median(bare),
        "tunedeck_empty_s": statistics.median(empty),
        "tunedeck_100k_pairs_s": statistics.median(big),
    }
    result["ratio_empty_vs_bare"] = result["tunedeck_empty_s"] / result["bare_textual_s"]
    result["ratio_100k_vs_empty"] = result["tunedeck_100k_pairs_s"] / result["tunedeck_empty_s"]
    return result


if __name__ == "__main__":
    figures = main()
    print(f"startup (median of {RUNS}, time to first frame, fresh process)")
    print(f"  bare Textual app         {figures['bare_textual_s'] * 1000:7.0f} ms")
    print(
        f"  tunedeck, empty session  {figures['tunedeck_empty_s'] * 1000:7.0f} ms  "
        f"({figures['ratio_empty_vs_bare']:.2f}x bare; target <= 1.5x)"
    )
    print(
        f"  tunedeck, 100,000 pairs  {figures['tunedeck_100k_pairs_s'] * 1000:7.0f} ms  "
        f"({figures['ratio_100k_vs_empty']:.2f}x empty; target ~1.0x)"
    )
    if "--json" in sys.argv:
        print(json.dumps(figures))

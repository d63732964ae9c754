"""Benchmark: the Pairs pane over 100,000 pairs, key press to frame.

Run: .venv/bin/python tests/bench/pane_latency.py [--pairs N] [--size 120x40]

A session gets N pairs written straight into the store (140 topics, varied lengths, some flags);
the app runs headless in-process. Each key is injected the way the driver delivers input
(`driver.send_message(events.Key)`) and timed from that call to the end of `App._display` for the
next frame, which runs after the compositor and here also encodes the update into the terminal
escape string (`render_segments`), so only the write to the terminal is left out. Pilot's idle
polling is not in the figures: Pilot is used only to start the app. Two figures per key:
"first" = the first frame after the key, "settled" = the last frame of the burst it caused
(frames closer than 50 ms apart), e.g. the table moving and then the detail view catching up.
Target: p95 first frame <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

QUIET_S = 0.05
GAP_S = 0.03


def fill(store, count: int) -> None:
    from core.store import NewPair, PairFilter

    rng = random.Random(7)
    topics = [
        store.add_topic(f"topic {i} · {rng.choice(['tariffs', 'meters', 'billing', 'outages'])}") for i in range(140)
    ]
    words = "the meter reads tariff energy bill supplier rate peak night standing charge refund".split()
    batch = []
    for i in range(count):
        question = f"Q{i}: " + " ".join(rng.choice(words) for _ in range(rng.randint(6, 18))) + "?"
        answer = " ".join(rng.choice(words) for _ in range(rng.randint(5, 400)))
        status = "accepted" if i % 10 == 0 else "pending"
        batch.append(NewPair(question, answer, topic_id=topics[i % 140], status=status, task_key=f"b{i}"))
        if len(batch) == 10_000:
            store.add_pairs(batch)
            batch = []
    store.add_pairs(batch)
    flagged = store.pair_ids(PairFilter())[::20]
    store.set_flags({pid: [{"code": "meta_talk", "message": "mentions 'the text provided'"}] for pid in flagged})


class FrameClock:
    """Timestamps of every frame the app hands to `_display`, with the escape-string encoding included."""

    def __init__(self, app) -> None:
        from textual._compositor import CompositorUpdate

        self.app = app
        self.frames: list[float] = []
        self.bytes: list[int] = []
        self._event = asyncio.Event()
        original = app._display

        def hooked(screen, renderable) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            if isinstance(renderable, CompositorUpdate):
                self.bytes.append(len(renderable.render_segments(app.console)))
            self.frames.append(time.perf_counter())
            self._event.set()

        app._display = hooked

    async def press(self, key: str) -> tuple[float, float]:
        """(first, settled) milliseconds for one key press."""
        from textual import events

        await asyncio.sleep(GAP_S)
        start_index = len(self.frames)
        self._event.clear()
        char = {"space": " ", "slash": "/"}.get(key, key if len(key) == 1 else None)
        event = events.Key("space" if key == " " else key, " " if key == " " else char)
        event.set_sender(self.app)
        t0 = time.perf_counter()
        self.app._driver.send_message(event)
        deadline = t0 + 5.0
        while len(self.frames) == start_index:
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), max(0.001, deadline - time.perf_counter()))
            except TimeoutError:
                raise RuntimeError(f"key {key!r} produced no frame in 5 s") from None
        while True:  # wait until the burst of frames this key caused is over
            seen = len(self.frames)
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), QUIET_S)
            except TimeoutError:
                if len(self.frames) == seen:
                    break
        first = self.frames[start_index] - t0
        settled = self.frames[-1] - t0
        return first * 1000, settled * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run(count: int, size: tuple[int, int], filler=None) -> int:
    """`filler(store, count)` writes the pairs (default: straight into the store, `fill`)."""
    from core.config import load_config
    from core.sessions import open_session
    from tui.app import TunedeckApp
    from tui.panes.pairs.pane import PairsPane

    store = open_session("latency")
    t = time.perf_counter()
    (filler or fill)(store, count)
    print(
        f"pairs pane latency: {store.count_pairs():,} pairs written in {time.perf_counter() - t:.1f} s; "
        f"terminal {size[0]}x{size[1]}; python {sys.version.split()[0]}; {os.cpu_count()} cores"
    )
    app = TunedeckApp(store, load_config(include_user=False), check_identity=False, status_interval=3600)
    results: dict[str, list[tuple[float, float]]] = {}
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        clock = FrameClock(app)
        listed: list[float] = []
        found: list[PairsPane] = []

        async def watch_rows() -> None:  # the pane mounts when first shown
            while not found:
                found.extend(app.query(PairsPane))
                await asyncio.sleep(0.002)
            while found[0].table.row_count < count or found[0]._loading:
                await asyncio.sleep(0.002)
            listed.append(time.perf_counter())

        watcher = asyncio.create_task(watch_rows())
        t0 = time.perf_counter()
        first, _ = await clock.press("2")
        await watcher
        pane = found[0]
        await asyncio.sleep(0.5)
        print(
            f"  open pane: first frame {first:.1f} ms; "
            f"all {count:,} rows listed after {(listed[0] - t0) * 1000:.0f} ms "
            f"(ids read on the pane's reader thread)"
        )

        plan = [
            ("down (j)", "j", 150),
            ("up (k)", "k", 50),
            ("pagedown", "pagedown", 60),
            ("pageup", "pageup", 30),
            ("end / home", "end home", 10),
            ("select (space)", "space", 20),
            ("accept (a)", "a", 30),
            ("reject (x)", "x", 20),
        ]
        for label, keys, times in plan:
            for index in range(times):
                key = keys.split()[index % len(keys.split())]
                results.setdefault(label, []).append(await clock.press(key))
        while any(not worker.is_finished for worker in app.workers):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)

        t_filter = time.perf_counter()
        status_first, _ = await clock.press("s")
        while pane._loading:
            await asyncio.sleep(0.005)
        status_done = (time.perf_counter() - t_filter) * 1000
        await asyncio.sleep(0.3)
        for key in (
            "slash",
            *"tariff refund",
        ):
            await clock.press(key)
        t_filter = time.perf_counter()
        text_first, _ = await clock.press("enter")
        while pane._loading:
            await asyncio.sleep(0.005)
        text_done = (time.perf_counter() - t_filter) * 1000
        matched = pane.table.row_count
        for _ in range(20):
            results.setdefault("pagedown (text filter)", []).append(await clock.press("pagedown"))
        frame_bytes = clock.bytes[:]
    store.close()

    print(
        f"  {'key':24s} {'n':>4s} {'first p50':>10s} {'first p95':>10s} {'first max':>10s} "
        f"{'settled p50':>12s} {'settled p95':>12s}"
    )
    navigation: list[float] = []
    for label, samples in results.items():
        firsts = [f for f, _ in samples]
        settled = [s for _, s in samples]
        navigation += firsts
        print(
            f"  {label:24s} {len(samples):4d} {percentile(firsts, 50):8.1f}ms {percentile(firsts, 95):8.1f}ms "
            f"{max(firsts):8.1f}ms {percentile(settled, 50):10.1f}ms {percentile(settled, 95):10.1f}ms"
        )
    print(f"  status filter (s): first frame {status_first:.1f} ms, rows ready {status_done:.0f} ms")
    print(
        f"  text filter over {count:,}: first frame ('filtering…') {text_first:.1f} ms, "
        f"{matched:,} rows ready {text_done:.0f} ms"
    )
    p50, p95 = percentile(navigation, 50), percentile(navigation, 95)
    print(
        f"  all keys: first frame p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p95 <= 50 ms: "
        f"{'met' if p95 <= 50 else 'MISSED'}); median frame {statistics.median(frame_bytes):,.0f} bytes"
    )
    return 0 if p95 <= 50 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--size", default="120x40")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as sessions:
        os.environ["TUNEDECK_SESSIONS_DIR"] = sessions
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        return asyncio.run(run(args.pairs, (width, height)))


if __name__ == "__main__":
    sys.exit(main())

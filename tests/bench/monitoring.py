"""Watching 20 running training jobs in the Jobs pane, against the AWS emulator.

The app runs as a child process in a real pseudo-terminal (TERM=xterm-256color, 170x50), the
emulator in this process, so the figures are the app's own:

* API calls per poll (JobsService.tick counts them with botocore event hooks), by number of
  running jobs: it should not grow with them;
* the app's CPU while watching (utime + stime of the child, all threads), target under 5% of a core;
* bytes written to the terminal per update (bytes read from the pty over the window / table redraws);
* freshness: from a step-loss log line's publication (when the emulator's PutLogEvents call for it
  returned, recorded here with a botocore hook) to the first table redraw whose sparkline includes
  that step (the pane notes, per redraw, the last step each job shows); every step of every job
  published in the window counts. Target: at most the poll interval + 1 s. Steps published but
  never stored (missed by the incremental log window) are counted too.

Environment: BENCH_JOBS (20), BENCH_EPOCH_SECONDS (15), BENCH_WINDOW_SECONDS (30).
"""

from __future__ import annotations

import collections
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

JOBS = int(os.environ.get("BENCH_JOBS", "20"))
EPOCH_SECONDS = float(os.environ.get("BENCH_EPOCH_SECONDS", "15"))
WINDOW_SECONDS = float(os.environ.get("BENCH_WINDOW_SECONDS", "30"))
LOG_SETTLE = os.environ.get("BENCH_LOG_SETTLE", "")  # seconds; empty: JobsService's default
EPOCHS = 4
INSTANCE = "ml.g5.2xlarge"
COLUMNS, LINES = 170, 50
SESSION = "bench-monitoring"
STEP_LINE = re.compile(r"Training Epoch: (\d+)/(\d+), step (\d+)/(\d+) completed")


def configure(config, aws) -> None:
    config.aws.endpoint_url, config.aws.s3_bucket, config.aws.role_arn = (
        aws["endpoint_url"],
        aws["bucket"],
        aws["role_arn"],
    )


# -- the child: the app in a pty --------------------------------------------------------------------


def child(spec: dict) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    from core.config import load_config
    from core.sessions import open_session
    from tui.app import TunedeckApp
    from tui.panes.jobs.pane import JobsPane

    config = load_config(include_user=False)
    configure(config, spec["aws"])
    store = open_session(SESSION)

    class BenchApp(TunedeckApp):
        def on_mount(self) -> None:
            super().on_mount()
            self.call_after_refresh(self.watch_jobs)
            self.set_timer(spec["seconds"], self.finish)

        async def watch_jobs(self) -> None:
            await self.action_show_pane("jobs")  # panes mount on first show
            self.query_one(JobsPane).stats.track_steps = True

        def finish(self) -> None:
            pane = self.query_one(JobsPane)
            s = pane.stats
            data = {
                "poll_seconds": pane.poll_seconds,
                "polls": s.polls,
                "renders": s.renders,
                "cells_written": s.cells_written,
                "ticks": list(s.ticks),
                "render_times": list(s.render_times),
                "shown_steps": s.shown_steps,
                "rounds": list(s.rounds),
                "api_calls": dict(pane.service.api_calls) if pane._service is not None else {},
            }
            Path(spec["stats"]).write_text(json.dumps(data))
            self.exit()

    if spec.get("log_settle") is not None:
        JobsPane.service_options = {"log_settle_seconds": spec["log_settle"]}
    app = BenchApp(store, config, check_identity=False)
    try:
        if spec.get("profile"):
            import cProfile

            cProfile.runctx("app.run(mouse=False)", globals(), {"app": app}, spec["profile"])
        else:
            app.run(mouse=False)
    finally:
        store.close()


# -- the parent: emulator, sweep, measurements ------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def queue_sweep(config) -> int:
    from core.curation.service import export_dataset
    from core.sessions import open_session
    from core.store import NewPair
    from core.training.jobs import JobsService, SweepSpec

    store = open_session(SESSION)
    try:
        store.add_pairs(
            [
                NewPair(
                    f"How do I read meter number {i} after a power cut?",
                    f"Press the red button {i} times, then read the top row.",
                    status="accepted",
                )
                for i in range(200)
            ]
        )
        export_dataset(store, config, format="instruction")
        service = JobsService(store, config)
        rates = tuple(f"{0.00002 * (i + 1):.5f}" for i in range(JOBS))
        plan = service.plan_sweep(SweepSpec(INSTANCE, params=(("epoch", (str(EPOCHS),)), ("learning_rate", rates))))
        service.launch_sweep(plan, accept_eula=True)
        return len(plan.jobs)
    finally:
        store.close()


class Publications:
    """When each step line was published: a hook on the emulator's own CloudWatch Logs client."""

    def __init__(self, client) -> None:
        self.at: dict[tuple[str, int], float] = {}
        self.lag: list[float] = []  # publication time - the event's timestamp
        self._params: dict | None = None
        client.meta.events.register("before-parameter-build.cloudwatch-logs.PutLogEvents", self._before)
        client.meta.events.register("after-call.cloudwatch-logs.PutLogEvents", self._after)

    def _before(self, params, **_) -> None:
        self._params = params

    def _after(self, **_) -> None:
        now, params, self._params = time.time(), self._params, None
        if not params:
            return
        job = params["logStreamName"].split("/", 1)[0]
        for event in params["logEvents"]:
            for part in re.split(r"[\r\n]+", event["message"]):
                match = STEP_LINE.search(part)
                if match:
                    epoch, _, step, per_epoch = (int(g) for g in match.groups())
                    key = (job, (epoch - 1) * per_epoch + step)
                    if key not in self.at:
                        self.at[key] = now
                        self.lag.append(now - event["timestamp"] / 1000)


def stored_steps() -> set[tuple[str, int]]:
    from core.sessions import open_session
    from core.training.metrics import STEP_LOSS

    store = open_session(SESSION, create=False)
    try:
        return {(job.name, p.step) for job in store.jobs() for p in store.metric_points(job.id, STEP_LOSS)}
    finally:
        store.close()


def running_jobs() -> int:
    from core.sessions import open_session

    store = open_session(SESSION, create=False)
    try:
        return sum(1 for j in store.jobs() if j.status == "InProgress")
    finally:
        store.close()


def main() -> int:
    import pty

    from core.config import load_config
    from core.sandbox.aws.emulator import AwsEmulator

    home = tempfile.mkdtemp(prefix="tunedeck-bench-")
    os.environ["TUNEDECK_SESSIONS_DIR"] = str(Path(home) / "sessions")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("TUNEDECK_SANDBOX", "1"),  # the emulator's timing and bundled specs, as `tunedeck sandbox` exports
    ):
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    aws = AwsEmulator(epoch_seconds=EPOCH_SECONDS)
    aws.start()
    try:
        aws.set_quotas(training={INSTANCE: JOBS})
        aws_spec = {"endpoint_url": aws.endpoint_url, "bucket": aws.bucket, "role_arn": aws.role_arn}
        config = load_config(include_user=False)
        configure(config, aws_spec)
        queued = queue_sweep(config)
        published = Publications(aws.ctx.client("logs"))
        stats_path = Path(home) / "stats.json"
        warmup = 2 * EPOCH_SECONDS / 3 + 8.0  # launch, Starting and Downloading, first log lines
        spec = {
            "aws": aws_spec,
            "stats": str(stats_path),
            "seconds": warmup + WINDOW_SECONDS + 2.0,
            "log_settle": float(LOG_SETTLE) if LOG_SETTLE else None,
            "profile": os.environ.get("BENCH_PROFILE"),
        }
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(LINES)}
        pid, fd = pty.fork()
        if pid == 0:  # the app
            os.execve(sys.executable, [sys.executable, __file__, "--child", json.dumps(spec)], env)
        started = time.time()
        received: list[tuple[float, int]] = []
        raw: list[tuple[float, bytes]] | None = [] if os.environ.get("BENCH_RAW") else None
        tail: collections.deque[bytes] = collections.deque(maxlen=32)

        def drain() -> None:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                received.append((time.time(), len(chunk)))
                tail.append(chunk)
                if raw is not None:
                    raw.append((time.time(), chunk))

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        time.sleep(max(0.0, started + warmup - time.time()))
        running_at_start = running_jobs()
        window_start, cpu_start = time.time(), cpu_seconds(pid)
        time.sleep(WINDOW_SECONDS)
        window_end, cpu_end = time.time(), cpu_seconds(pid)
        running_at_end = running_jobs()
        deadline = time.time() + 60
        while time.time() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, 15)
            os.waitpid(pid, 0)
        reader.join(timeout=5)
        os.close(fd)
    finally:
        aws.stop()

    if not stats_path.exists():
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]", b"", b"".join(tail)).decode(errors="replace")
        sys.exit(f"the app wrote no statistics; the end of its terminal output:\n{text[-4000:]}")
    stats = json.loads(stats_path.read_text())
    span = window_end - window_start
    in_window = lambda t: window_start <= t <= window_end  # noqa: E731
    window_bytes = sum(n for t, n in received if in_window(t))
    renders = [t for t in stats["render_times"] if in_window(t)]
    calls = [c for t, _, c, _ in stats["ticks"] if in_window(t)]
    by_running: dict[int, list[int]] = {}
    for _, running, c, _ in stats["ticks"]:
        by_running.setdefault(running, []).append(c)
    by_operation: dict[str, list[int]] = {}
    window_ticks = [ops for t, _, _, ops in stats["ticks"] if in_window(t)]
    for ops in window_ticks:
        for op, n in ops.items():
            by_operation.setdefault(op, []).append(n)
    total_calls = sum(stats["api_calls"].values())
    cpu = (cpu_end - cpu_start) / span * 100
    rounds = [(wall, cpu_s) for t, wall, cpu_s in stats["rounds"] if in_window(t)]
    round_cpu = sum(c for _, c in rounds)
    limit = stats["poll_seconds"] + 1.0

    # freshness: publication -> first redraw showing that step
    shown: dict[str, list[tuple[float, int]]] = {}
    for t, changed in stats["shown_steps"]:
        for job, step in changed.items():
            shown.setdefault(job, []).append((t, step))
    latencies, unseen = [], 0
    for (job, step), at in published.at.items():
        if not in_window(at):
            continue
        first = next((t for t, last in shown.get(job, []) if last >= step and t >= at - 0.001), None)
        if first is None:
            unseen += 1
        else:
            latencies.append(first - at)
    stored = stored_steps()
    if raw is not None:
        Path(os.environ["BENCH_RAW"]).write_bytes(b"".join(c for t, c in raw if in_window(t)))
    if os.environ.get("BENCH_DUMP"):
        Path(os.environ["BENCH_DUMP"]).write_text(
            json.dumps(
                {
                    "stats": stats,
                    "window": [window_start, window_end],
                    "published": [[job, step, at] for (job, step), at in published.at.items()],
                }
            )
        )
    settled = [k for k, at in published.at.items() if at < window_end - limit - 1]
    missed = [k for k in settled if k not in stored]

    print(
        f"jobs: {queued} queued; InProgress at window start {running_at_start}, at end {running_at_end}; "
        f"poll every {stats['poll_seconds']:g} s; window {span:.0f} s; "
        f"terminal {COLUMNS}x{LINES}, TERM=xterm-256color"
    )
    print(
        f"API calls per poll (window): median {statistics.median(calls) if calls else float('nan'):g}, "
        f"min {min(calls, default=0)}, max {max(calls, default=0)} over {len(calls)} polls"
    )
    print(
        "API calls per poll by operation (window): "
        + ", ".join(
            f"{op} mean {sum(v) / max(1, len(window_ticks)):.2f} max {max(v)}" for op, v in sorted(by_operation.items())
        )
    )
    print(
        "API calls per poll by running jobs (whole run): "
        + ", ".join(
            f"{running}: mean {statistics.mean(v):.1f}, max {max(v)}" for running, v in sorted(by_running.items())
        )
    )
    print(
        f"API calls by operation, whole run ({stats['polls']} polls): "
        + ", ".join(f"{op} {n}" for op, n in sorted(stats["api_calls"].items()))
        + f"; {total_calls / max(1, stats['polls']):.2f}/poll"
    )
    print(
        f"app CPU while watching: {cpu:.2f}% of one core (target < 5%): poll rounds {round_cpu / span * 100:.2f}%, "
        f"the rest (UI, timers, status bar) {cpu - round_cpu / span * 100:.2f}%"
    )
    if rounds:
        print(
            f"poll round: median {statistics.median(w for w, _ in rounds) * 1000:.0f} ms wall, "
            f"{statistics.median(c for _, c in rounds) * 1000:.0f} ms CPU; "
            f"max {max(w for w, _ in rounds) * 1000:.0f} ms wall"
        )
    print(
        f"terminal output: {window_bytes / span / 1024:.1f} KB/s; {window_bytes / max(1, len(renders)) / 1024:.1f} KB "
        f"per update over {len(renders)} table updates ({len(renders) / span:.2f} updates/s); "
        f"{stats['cells_written'] / max(1, stats['renders']):.1f} cells rewritten per update"
    )
    if latencies:
        print(
            f"freshness (publication -> sparkline) over {len(latencies)} step lines: median "
            f"{statistics.median(latencies):.2f} s, p95 {pct(latencies, 0.95):.2f} s, max {max(latencies):.2f} s "
            f"(target <= poll + 1 s = {limit:g} s: {'met' if max(latencies) <= limit else 'NOT met'}); "
            f"{unseen} not shown before the app exited"
        )
    if published.lag:
        print(
            f"emulator: publication - event timestamp median {statistics.median(published.lag):.2f} s, "
            f"max {max(published.lag):.2f} s"
        )
    print(f"steps published before the last poll but never stored: {len(missed)} of {len(settled)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        sys.exit(main())

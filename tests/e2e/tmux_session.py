"""Drive the real tunedeck app in a real terminal: tmux new-session, send-keys, capture-pane.

Each `TmuxApp` runs on its own tmux server (its own socket), in a detached 160x45 window without a
status line, with HOME, the config and the sessions folder inside the test's tmp_path. The pane
stays after the app exits (remain-on-exit), so its exit status can be read. With `record=True`
every byte the app writes to its terminal is appended to a file (pipe-pane) from before it starts.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 160, 45
KEY_PAUSE_S = 0.12
"""Pause after each send-keys call: keys sent in one burst can arrive before a modal has taken focus."""
POLL_S = 0.2
FAST_DEMO_CONFIG = """\
[generation]
questions_per_topic = 2
refusal_share = 0.0

[demo]
epoch_seconds = 1.0
endpoint_seconds = 1.0
"""


def require_tmux() -> str:
    if TMUX is None:
        pytest.skip(
            "tmux is not installed: the end-to-end tests need a real terminal "
            "(.ci/run installs tmux on Debian; locally: apt-get install tmux)"
        )
    return TMUX


def app_command() -> list[str]:
    """The installed console script when there is one, else the same entry point through Python."""
    script = REPO / ".venv" / "bin" / "tunedeck"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tui"]


class ScreenTimeout(AssertionError):
    """The expected text did not appear in time (the message carries the last screen)."""


@dataclass
class TmuxApp:
    root: Path
    socket: str
    target: str = "app"
    pty_log: Path | None = None
    pid: int | None = None
    started_at: float = field(default_factory=time.monotonic)

    # ---- life cycle -----------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        root: Path,
        *,
        config_text: str = FAST_DEMO_CONFIG,
        env: dict[str, str] | None = None,
        record: bool = False,
        args: tuple[str, ...] = ("--demo",),
    ) -> TmuxApp:
        tmux = require_tmux()
        root.mkdir(parents=True, exist_ok=True)
        home, sessions = root / "home", root / "sessions"
        home.mkdir(exist_ok=True)
        sessions.mkdir(exist_ok=True)
        config = root / "config.toml"
        config.write_text(config_text, encoding="utf-8")
        conf = root / "tmux.conf"
        conf.write_text(
            f"set -g remain-on-exit on\nset -g status off\nset -s escape-time 0\n"
            f"set -g history-limit 2000\nset -g default-size {WIDTH}x{HEIGHT}\n",
            encoding="utf-8",
        )
        go = root / "go"
        variables = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "TUNEDECK_SESSIONS_DIR": str(sessions),
            "TEXTUAL_ANIMATIONS": "none",
            **(env or {}),
        }
        unset = [
            name
            for name in ("TUNEDECK_DEMO_FAULTS", "AWS_PROFILE", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AWS_ENDPOINT_URL")
            if name not in variables
        ]
        command = [
            "env",
            *[f"-u{name}" for name in unset],
            *[f"{k}={v}" for k, v in variables.items()],
            *app_command(),
            "--config",
            str(config),
            *args,
        ]
        # The shell waits for `go`, so pipe-pane is attached before the app writes its first byte; it
        # records the exit status itself (tmux 3.3 sometimes never reaps a pane's process, and then
        # never reports its status).
        status_file = root / "exit_status"
        shell = (
            f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done; "
            f"{' '.join(shlex.quote(part) for part in command)}; "
            f"echo $? > {shlex.quote(str(status_file))}.tmp && mv {shlex.quote(str(status_file))}.tmp "
            f"{shlex.quote(str(status_file))}"
        )
        app = cls(root=root, socket=f"tunedeck-e2e-{os.getpid()}-{time.time_ns()}")
        app._tmux(
            "-f",
            str(conf),
            "new-session",
            "-d",
            "-s",
            app.target,
            "-x",
            str(WIDTH),
            "-y",
            str(HEIGHT),
            "-c",
            str(REPO),
            shell,
            tmux=tmux,
        )
        # A detached window otherwise shrinks back to 80 columns on some redraws; tmux 3.3 dies when
        # window-size is set from the config file, so it is set here.
        app._tmux("set-option", "-g", "window-size", "manual")
        app._tmux("resize-window", "-t", app.target, "-x", str(WIDTH), "-y", str(HEIGHT))
        if record:
            app.pty_log = root / "pty.bin"
            app.pty_log.touch()
            app._tmux("pipe-pane", "-o", "-t", app.target, f"cat >> {shlex.quote(str(app.pty_log))}")
        go.touch()
        shell_pid = int(app._tmux("display-message", "-p", "-t", app.target, "#{pane_pid}").strip())
        app.pid = _find_child(shell_pid, str(config), deadline=time.monotonic() + 10)  # env execs the app
        app.started_at = time.monotonic()
        return app

    def close(self) -> None:
        subprocess.run([TMUX or "tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)

    def _tmux(self, *args: str, tmux: str | None = None) -> str:
        result = subprocess.run(
            [tmux or TMUX or "tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=15
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args[:2])} failed: {result.stderr.strip()}")
        return result.stdout

    # ---- keys -----------------------------------------------------------------------------------
    def keys(self, *keys: str, pause: float = KEY_PAUSE_S) -> None:
        """tmux key names, one send-keys call each: "b", "Tab", "Enter", "Escape", "C-j", "Down", "F3"."""
        for key in keys:
            self._tmux("send-keys", "-t", self.target, key)
            time.sleep(pause)

    def cursor(self) -> tuple[int, int]:
        """Where the terminal cursor is; Textual keeps it in the focused text field (hidden)."""
        x, y = self._tmux("display-message", "-p", "-t", self.target, "#{cursor_x} #{cursor_y}").split()
        return int(x), int(y)

    def focus_next(self, times: int = 1, *, key: str = "Tab", timeout: float = 3.0) -> None:
        """Press a focus key (Tab, F2...) and wait until the focus has visibly moved (the cursor follows the
        focused text field), so that keys sent next reach the new field and not, under load, the old one.
        A widget that is not a text field may not move the cursor: then this waits `timeout` at most."""
        for _ in range(times):
            before = self.cursor()
            self.keys(key)
            deadline = time.monotonic() + timeout
            while self.cursor() == before and time.monotonic() < deadline:
                time.sleep(0.05)

    def pick_first_answer(self, step: str) -> None:
        """In the Playground: move past the versions list to the first answer and pick it (only a picked or
        focused answer is handed in), then wait until it shows as picked."""
        self.focus_next(key="C-o", timeout=1)
        self.focus_next(timeout=1)
        self.keys("Enter")
        self.wait_for("★ picked", step=step)

    def type(self, text: str, pause: float = KEY_PAUSE_S) -> None:
        """Literal text (send-keys -l), as if typed."""
        self._tmux("send-keys", "-t", self.target, "-l", text)
        time.sleep(pause)

    # ---- screen ---------------------------------------------------------------------------------
    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.target)

    def wait_for(self, pattern: str | re.Pattern[str], *, timeout: float = 20.0, step: str = "") -> re.Match[str]:
        """Poll the screen until `pattern` (literal text, or a compiled regex) appears; its match."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        screen = ""
        while True:
            screen = self.screen()
            match = regex.search(screen)
            if match:
                return match
            if self.exited():
                self.fail(
                    f"the app exited (status {self.exit_status()}) while waiting for {regex.pattern!r}", step, screen
                )
            if time.monotonic() > deadline:
                self.fail(f"{regex.pattern!r} not on screen after {timeout:.0f}s", step, screen)
            time.sleep(POLL_S)

    def wait_for_toast(self, pattern: str | re.Pattern[str], *, timeout: float = 20.0, step: str = "") -> re.Match[str]:
        """Poll until a notification matches `pattern` (its lines joined with spaces); the match."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        found: list[re.Match[str]] = []

        def check(screen: str) -> bool:
            match = regex.search(toast_text(screen))
            if match:
                found.append(match)
            return match is not None

        self.wait_until(check, timeout=timeout, step=step, what=f"a notification matching {regex.pattern!r}")
        return found[0]

    def wait_until(self, check, *, timeout: float = 20.0, step: str = "", what: str = "condition") -> str:
        """Poll until `check(screen)` is true; the screen that satisfied it."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                self.fail(f"{what} not met after {timeout:.0f}s", step, screen)
            time.sleep(POLL_S)

    def answer_flagged_export(self, *, include: bool, step: str = "", timeout: float = 30.0) -> None:
        """After an export starts: when rows still carry curation flags the Pairs pane asks whether to
        leave them out (the first choice) or export them too; answer it. Returns once the question is
        answered, or at once when the export went ahead without asking."""
        screen = self.wait_until(
            lambda s: "whether to include or exclude" in s or "Exported dataset" in toast_text(s),
            timeout=timeout,
            step=step,
            what="the export or its question about flagged rows",
        )
        if "whether to include or exclude" in screen:
            if include:
                self.keys("Down")
            self.keys("Enter")

    def quit_past_live_resources(self, *, step: str = "quit", timeout: float = 20.0) -> None:
        """ctrl+q; when endpoints or jobs still bill, the app lists them first: quit anyway (q)."""
        self.keys("C-q")
        deadline = time.monotonic() + timeout
        while not self.exited():
            screen = self.screen()
            if "Still billing" in screen:
                self.keys("q")
                return
            if time.monotonic() > deadline:
                self.fail("neither the live-resources dialog nor the end of the app", step, screen)
            time.sleep(POLL_S)

    def fail(self, why: str, step: str, screen: str | None = None) -> None:
        screen = self.screen() if screen is None else screen
        elapsed = time.monotonic() - self.started_at
        message = f"[{step or 'e2e'}] {why} ({elapsed:.1f}s into the run)\n--- last screen ---\n{screen}--- end ---"
        print(message)
        raise ScreenTimeout(message)

    # ---- process --------------------------------------------------------------------------------
    def exit_status(self) -> int | None:
        """The app's exit status (as its shell saw it: 128+N for signal N), or None while it runs."""
        try:
            return int((self.root / "exit_status").read_text().strip())
        except (OSError, ValueError):
            return None

    def exited(self) -> bool:
        return self.exit_status() is not None

    def wait_exit(self, timeout: float = 20.0) -> int:
        """Wait until the app's process has ended; its exit status."""
        deadline = time.monotonic() + timeout
        while (status := self.exit_status()) is None:
            if time.monotonic() > deadline:
                alive = self.pid is not None and process_alive(self.pid)
                self.fail(f"the app did not end within {timeout:.0f}s (process alive: {alive})", "exit")
            time.sleep(POLL_S)
        return status

    def pty_bytes(self) -> bytes:
        assert self.pty_log is not None, "start(record=True) to capture the terminal output"
        return self.pty_log.read_bytes()


# ---- processes and sockets (Linux /proc) ----------------------------------------------------------


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


def child_pids(pid: int) -> set[int]:
    """Direct children of every thread of `pid` (empty when /proc is not there)."""
    children: set[int] = set()
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children.update(int(c) for c in path.read_text().split())
        except OSError:
            continue
    return children


def _find_child(parent: int, marker: str, *, deadline: float) -> int | None:
    """The child of `parent` whose command line holds `marker` (polled until `deadline`)."""
    while time.monotonic() < deadline:
        for pid in child_pids(parent):
            try:
                if marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    return pid
            except OSError:
                continue
        time.sleep(0.05)
    return None


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_ports(pid: int | None = None) -> set[int]:
    """TCP ports in LISTEN state: those of `pid`, or all of them on this machine."""
    wanted = _socket_inodes(pid) if pid is not None else None
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A = LISTEN
                continue
            if wanted is None or fields[9] in wanted:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


_TOAST_EDGE = "│╯╮─ "


def toast_text(screen: str) -> str:
    """The text of the notifications on screen (Textual draws them at the right, each line after a "▌")."""
    parts = []
    for line in screen.splitlines():
        if "▌" in line:
            part = line.rsplit("▌", 1)[1].strip().rstrip(_TOAST_EDGE).strip()
            if part:
                parts.append(part)
    return " ".join(parts)

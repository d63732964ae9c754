"""Pilot, keys only: shift+arrows move, indent and outdent topics (the Tree's own bindings do not
swallow them); the pane follows a headless run on the same session while it is shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.sessions import open_session
from tests.key_bursts import send_burst
from tests.screen import screen_text
from tui.app import TunedeckApp

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store():
    store = open_session("moves")
    for name in ("Alpha", "Bravo", "Charlie"):
        store.add_topic(name)
    yield store
    store.close()


def make_app(store) -> TunedeckApp:
    return TunedeckApp(store, load_config(include_user=False), check_identity=False, status_interval=60)


async def until(pilot, condition, what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"{what}: not in time")


async def on_charlie(pilot, app) -> None:
    """Wait until the tree is reloaded with the cursor back on Charlie (where the next key acts)."""
    tree = app.query_one("#topic-tree")

    def ready() -> bool:
        idle = all(worker.is_finished for worker in app.workers)
        return idle and tree.cursor_node is not None and str(tree.cursor_node.label).startswith("Charlie")

    await until(pilot, ready, "the cursor back on Charlie")


def top_level(store) -> list[str]:
    return [node.topic.name for node in store.topic_tree()]


def children(store, name: str) -> list[str]:
    node = next(n for n in store.topic_tree() if n.topic.name == name)
    return [child.topic.name for child in node.children]


async def test_shift_arrows_move_indent_and_outdent_topics(store):
    app = make_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("1")
        await until(pilot, lambda: "Charlie" in screen_text(app), "the tree")
        app.query_one("#topic-tree").focus()
        await pilot.pause()
        send_burst(app, "end", "shift+up")  # typed ahead: the move acts on Charlie, where "end" put the cursor
        await until(pilot, lambda: top_level(store) == ["Alpha", "Charlie", "Bravo"], "move up")
        await on_charlie(pilot, app)
        await pilot.press("shift+down")
        await until(pilot, lambda: top_level(store) == ["Alpha", "Bravo", "Charlie"], "move down")
        await on_charlie(pilot, app)
        await pilot.press("shift+right")  # under Bravo, the topic above it
        await until(pilot, lambda: children(store, "Bravo") == ["Charlie"], "indent")
        await on_charlie(pilot, app)
        await pilot.press("shift+left")
        await until(pilot, lambda: top_level(store) == ["Alpha", "Bravo", "Charlie"], "outdent")


async def test_the_pane_follows_a_headless_run_while_shown(store):
    app = make_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("1")
        await until(pilot, lambda: "Charlie" in screen_text(app), "the tree")
        script = "from core.sessions import open_session; open_session('moves').add_topic('Delta from a headless run')"
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
        await until(pilot, lambda: "Delta from a headless run" in screen_text(app), "the headless topic")


async def test_a_write_that_leaves_the_topics_alone_does_not_rebuild_the_tree(store):
    """Any commit elsewhere moves the store's data version; the pane reads the tree again but keeps
    what it shows (a rebuild puts the cursor back a frame later, after keys typed meanwhile moved it)."""
    from core.store import Store
    from tui.panes.topics.pane import TopicsPane

    app = make_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("1")
        await until(pilot, lambda: "Charlie" in screen_text(app), "the tree")
        pane = app.query_one(TopicsPane)
        tree = app.query_one("#topic-tree")
        shown = list(tree.root.children)
        read_at = pane._data_version
        other = Store(store.path)  # another process's connection
        other.set_meta("unrelated", {"n": 1})
        other.close()
        await until(pilot, lambda: pane._data_version != read_at, "the tree read again", timeout=5.0)
        await pilot.pause(0.2)
        assert list(tree.root.children) == shown and all(a is b for a, b in zip(tree.root.children, shown, strict=True))

"""Session store: migrations, integrity under a killed writer, triage with undo, idempotent inserts."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from core.store import NewPair, PairFilter, Store, StoreError, schema


def test_fresh_store_is_migrated_and_private(tmp_path):
    store = Store(tmp_path / "s" / "session.db")
    assert store.db.schema_version() == schema.SCHEMA_VERSION
    mode = store.db.scalar("PRAGMA journal_mode")
    assert mode == "wal"
    assert store.db.scalar("PRAGMA foreign_keys") == 1
    assert oct(os.stat(store.path).st_mode & 0o777) == "0o600"


def test_new_migration_applies_once_and_keeps_data(tmp_path, monkeypatch):
    path = tmp_path / "session.db"
    store = Store(path)
    store.add_topic("Billing")
    store.close()
    extra = (schema.SCHEMA_VERSION + 1, "add pair notes", "ALTER TABLE pairs ADD COLUMN notes TEXT;")
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, extra])
    monkeypatch.setattr("core.store.db.MIGRATIONS", [*schema.MIGRATIONS])
    reopened = Store(path)
    assert reopened.db.schema_version() == extra[0]
    assert [t.name for t in reopened.topics()] == ["Billing"]
    columns = [r["name"] for r in reopened.db.query("PRAGMA table_info(pairs)")]
    assert "notes" in columns
    reopened.close()
    assert Store(path).db.schema_version() == extra[0]  # not applied twice


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    path = tmp_path / "session.db"
    Store(path).close()
    broken = (schema.SCHEMA_VERSION + 1, "broken", "CREATE TABLE half (x INTEGER); SELECT * FROM missing_table;")
    monkeypatch.setattr("core.store.db.MIGRATIONS", [*schema.MIGRATIONS, broken])
    with pytest.raises(StoreError, match="migration .* failed"):
        Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "session.db"
    store = Store(path)
    with store.db.tx() as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    store.close()
    with pytest.raises(StoreError, match="newer tunedeck"):
        Store(path)


def test_pairs_are_idempotent_per_task_key(tmp_path):
    store = Store(tmp_path / "session.db")
    topic = store.add_topic("Plans")
    first = store.add_pair(NewPair("What is a plan?", "A plan is...", topic_id=topic, task_key="answer:1"))
    again = store.add_pair(NewPair("What is a plan?", "different", topic_id=topic, task_key="answer:1"))
    assert first is not None and again is None
    assert store.count_pairs() == 1


def test_triage_and_undo(tmp_path):
    store = Store(tmp_path / "session.db")
    ids = [store.add_pair(NewPair(f"q{i}", f"a{i}")) for i in range(5)]
    store.set_status(ids[:3], "accepted")
    store.set_status(ids[2:], "rejected")
    assert store.pair_status_counts() == {"pending": 0, "accepted": 2, "rejected": 3}
    assert store.undo_last_edit() == 3
    assert store.pair_status_counts() == {"pending": 2, "accepted": 3, "rejected": 0}
    store.update_answer(ids[0], "edited")
    store.undo_last_edit()
    assert store.pair(ids[0]).answer == "a0"
    assert store.count_pairs(PairFilter(text="Q3")) == 1


def test_topic_tree_counts_and_moves(tmp_path):
    store = Store(tmp_path / "session.db")
    root = store.add_topic("Energy")
    child = store.add_topic("Tariffs", root)
    other = store.add_topic("Meters")
    store.add_pairs([NewPair("q", "a", topic_id=child, status="accepted"), NewPair("q2", "a", topic_id=child)])
    tree = store.topic_tree()
    assert (tree[0].topic.name, tree[0].questions, tree[0].accepted) == ("Energy", 2, 1)
    store.move_topic(child, other)
    assert [c.topic.name for c in store.topic_tree()[1].children] == ["Tariffs"]
    with pytest.raises(ValueError):
        store.move_topic(other, child)
    exported = store.export_topics()
    store.delete_topic(root)
    store.delete_topic(other)
    assert store.replace_topics(exported) == 3
    assert store.count_pairs() == 2  # pairs survive topic deletion, detached


WRITER = textwrap.dedent(
    """
    import sys
    from core.store import NewPair, Store
    store = Store(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        store.add_pairs([NewPair(f"q{i}-{j}", "a" * 200, task_key=f"k{i}-{j}") for j in range(10)])
        store.set_status([i + 1], "accepted")
        i += 1
    """
)


def test_killed_writer_leaves_consistent_database(tmp_path):
    path = tmp_path / "session.db"
    Store(path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.8)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    store = Store(path)
    assert store.db.scalar("PRAGMA integrity_check") == "ok"
    total = store.count_pairs()
    assert total > 0 and total % 10 == 0  # each batch of ten landed whole or not at all
    assert store.db.scalar("PRAGMA foreign_key_check") is None


def test_connections_of_finished_threads_are_closed(tmp_path):
    import threading

    store = Store(tmp_path / "session.db")
    for _ in range(20):
        worker = threading.Thread(target=store.pair_status_counts)
        worker.start()
        worker.join()
    store.pair_status_counts()
    assert store.db.open_connections() <= 2  # this thread's, and at most the last worker's


def test_closing_the_store_while_a_worker_is_inside_a_query_does_not_crash(tmp_path):
    """An app exits (and its store closes) while a thread worker, such as the cost meter's, is still
    reading: closing that thread's connection under its running statement crashed the interpreter."""
    script = textwrap.dedent(
        f"""
        import threading
        from core.store import NewPair, Store

        path = {str(tmp_path / "session.db")!r}
        store = Store(path)
        topic = store.add_topic("Billing")
        store.add_pairs([NewPair(f"q{{i}}", "a" * 200, topic) for i in range(20000)])
        for _ in range(30):
            store = Store(path)
            started = threading.Event()

            def read():
                started.set()
                try:
                    while True:
                        store.db.query("SELECT COUNT(*), SUM(LENGTH(answer)) FROM pairs")
                except Exception:
                    pass

            threading.Thread(target=read, daemon=True).start()
            started.wait()
            store.close()
        print("survived")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=os.getcwd())
    assert done.returncode == 0 and "survived" in done.stdout, done.stderr[-2000:]

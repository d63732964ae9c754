"""The session's dataset versions, listed newest first in one query."""

from __future__ import annotations

import pytest

from core.sessions import open_session


@pytest.fixture
def store():
    s = open_session("datasets")
    yield s
    s.close()


def _add(store, digest: str, created_at: float) -> int:
    version = store.add_dataset_version(digest, "instruction", counts={"train": 10})
    with store.db.tx() as conn:
        conn.execute("UPDATE dataset_versions SET created_at = ? WHERE id = ?", (created_at, version.id))
    return version.id


def test_dataset_versions_lists_every_version_newest_first_in_one_query(store):
    assert store.dataset_versions() == []
    old = _add(store, "a" * 64, 100.0)
    newest = _add(store, "b" * 64, 300.0)
    middle = _add(store, "c" * 64, 200.0)
    same_time = _add(store, "d" * 64, 200.0)  # a tie on time: the later id is newer
    statements: list[str] = []
    store.db.connection().set_trace_callback(statements.append)
    try:
        listed = store.dataset_versions()
    finally:
        store.db.connection().set_trace_callback(None)
    assert [v.id for v in listed] == [newest, same_time, middle, old]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert listed[0] == store.dataset_version(newest) and listed[0].counts == {"train": 10}


def test_dataset_versions_stops_at_the_limit(store):
    ids = [_add(store, f"{n:064x}", float(n)) for n in range(1, 6)]
    assert [v.id for v in store.dataset_versions(2)] == ids[:-3:-1]
    assert len(store.dataset_versions(0)) == 0 and len(store.dataset_versions(10)) == 5

"""Pilot, keys only: the Pairs pane triages, edits, filters, bulk-rejects, curates, survives hostile text, scales."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.config import load_config
from core.sessions import open_session
from core.store import NewPair, PairFilter
from tests.screen import screen_text
from tui.app import TunedeckApp
from tui.panes.pairs.detail import PairDetail
from tui.panes.pairs.pane import PairsPane


def make_app(store) -> TunedeckApp:
    return TunedeckApp(store, load_config(include_user=False), check_identity=False, status_interval=60)


@pytest.fixture
def store():
    store = open_session("pairs")
    topic = store.add_topic("Tariffs")
    store.add_pairs(
        [
            NewPair(
                f"Question {i} about meter {'needle' if i % 4 == 0 else 'hay'}?",
                f"A plain answer number {i} that says enough words.",
                topic_id=topic,
                task_key=f"k{i}",
            )
            for i in range(1, 21)
        ]
    )
    yield store
    store.close()


async def settle(pilot) -> None:
    """Wait until no worker is running (an exclusive worker may be cancelled by its successor)."""
    await pilot.pause()
    for _ in range(1000):
        if not any(not worker.is_finished for worker in pilot.app.workers):
            break
        await asyncio.sleep(0.01)
    await pilot.pause()


async def open_pairs(pilot) -> PairsPane:
    await pilot.press("2")
    await settle(pilot)
    pane = pilot.app.query_one(PairsPane)
    assert pane.table.has_focus
    return pane


async def test_triage_accept_reject_undo_and_status_filter(store):
    ids = store.pair_ids(PairFilter())
    async with make_app(store).run_test(size=(140, 36)) as pilot:
        pane = await open_pairs(pilot)
        await pilot.press("a")
        await pilot.press("x")
        await settle(pilot)
        assert [store.pair(i).status for i in ids[:3]] == ["accepted", "rejected", "pending"]
        assert pane.table.cursor_pair_id == ids[2]
        await pilot.press("u")
        await settle(pilot)
        assert store.pair(ids[1]).status == "pending" and store.pair(ids[0]).status == "accepted"

        await pilot.press("s")  # status filter: pending
        await settle(pilot)
        assert pane.table.row_count == 19 and pane.table.cursor_pair_id == ids[2]  # the cursor kept its pair
        await pilot.press("x")  # leaves the pending filter: the next pair slides under the cursor
        await pilot.pause()
        assert pane.table.row_count == 18 and pane.table.cursor_pair_id == ids[3]
        await settle(pilot)  # the write runs off the UI thread
        assert store.pair(ids[2]).status == "rejected"
        assert f"#{ids[3]} · pending" in pane.query_one(PairDetail).text


async def test_edit_saves_with_ctrl_s_and_esc_cancels(store):
    first = store.pair_ids(PairFilter())[0]
    original = store.pair(first).answer
    async with make_app(store).run_test(size=(140, 36)) as pilot:
        await open_pairs(pilot)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("f7", *"New.", "escape")
        await pilot.pause()
        assert store.pair(first).answer == original
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("f7", *"New.", "ctrl+s")
        await settle(pilot)
        assert store.pair(first).answer == "New."
        assert store.pair(first).question.startswith("Question 1 ")  # untouched field not rewritten
        assert "New." in pilot.app.query_one(PairDetail).text


async def test_text_filter_narrows_rows(store):
    async with make_app(store).run_test(size=(140, 36)) as pilot:
        pane = await open_pairs(pilot)
        await pilot.press("slash", *"needle", "enter")
        await settle(pilot)
        assert pane.table.row_count == 5
        rows = [pane.table.pair_at(i) for i in range(pane.table.row_count)]
        assert all("needle" in p.question for p in rows)
        assert "hay" not in screen_text(pilot.app)
        await pilot.press("slash", "ctrl+a", "ctrl+k", "enter")  # an empty filter clears it
        await settle(pilot)
        assert pane.table.row_count == 20
        await pilot.press("o", "o", "o", "o", "O")  # sort: topic, status, score, length; then reversed
        await settle(pilot)
        assert (pane.filter.sort, pane.filter.descending) == ("length", True)
        assert list(pane.table.ids) == store.pair_ids(PairFilter(sort="length", descending=True))


async def test_bulk_reject_over_filter_asks_first(store):
    async with make_app(store).run_test(size=(140, 36)) as pilot:
        pane = await open_pairs(pilot)
        await pilot.press("slash", *"needle", "enter")
        await settle(pilot)
        await pilot.press("X")
        await pilot.pause()
        assert "Reject all 5 pairs" in screen_text(pilot.app)
        await pilot.press("n")  # declined: nothing changes
        await settle(pilot)
        assert store.pair_status_counts()["rejected"] == 0
        await pilot.press("X", "y")
        await settle(pilot)
        assert store.count_pairs(PairFilter(status="rejected", text="needle")) == 5
        assert store.count_pairs(PairFilter(status="rejected")) == 5
        await pilot.press("u")
        await settle(pilot)
        assert store.pair_status_counts()["rejected"] == 0
        # with a selection, A accepts just the selection, without asking
        await pilot.press("space", "space", "A")
        await settle(pilot)
        assert store.pair_status_counts()["accepted"] == 2 and not pane.table.selected


HOSTILE = [
    "[/]",
    "[@click=app.quit]click me[/]",
    "[link=https://evil.example]link[/link]",
    "[$accent]var[/]",
    "title\x1b]0;pwned\x07 after",
    "nul\x00byte",
    "bell\x07 and \x1b[2J clear",
    "rtl \u202eevil\u202c עברית مرحبا",
    "wide 漢字漢字漢字",
    "x" * 5000,
    "line\rover\x9b31m",
    "[bold]" * 200,
]


async def test_hostile_strings_render_literally(store):
    topic = store.add_topic("[/] topic \x1b]0;t\x07")
    ids = store.add_pairs([NewPair(text, text, topic_id=topic, task_key=f"h{i}") for i, text in enumerate(HOSTILE)])
    store.set_flags({ids[0]: [{"code": "[/]", "message": "[@click=app.quit]x\x1b[31m"}]})
    store.set_score(ids[0], 3.0, {"reason": "[link=x]bad[/link]\x1b]8;;x\x07", "format": 2})
    app = make_app(store)
    async with app.run_test(size=(160, 36)) as pilot:
        pane = await open_pairs(pilot)
        await pilot.press("end")
        for step in range(len(HOSTILE)):  # walk every hostile row so the detail view draws each one
            await pilot.pause()
            text = screen_text(app)
            assert not any(c in text for c in "\x1b\x00\x07\x9b\r\u202e")
            if step < len(HOSTILE) - 1:
                await pilot.press("k")
        assert pane.table.cursor_pair_id == ids[0]
        assert "[/]" in text and "[@click=app.quit]click me[/]" in text and "[$accent]var[/]" in text
        assert "[link=https://evil.example]link[/link]" in text and "[bold][bold]" in text
        detail = pane.query_one(PairDetail).text
        assert "[@click=app.quit]x" in detail and "[link=x]bad[/link]" in detail  # flag message and score reason
        await pilot.press("j", "j", "j", "j", "e")  # the OSC title payload, in the editor's TextAreas
        await pilot.pause()
        text = screen_text(app)
        assert type(app.screen).__name__ == "PairEditor" and "title after" in text
        assert not any(c in text for c in "\x1b\x07")
        await pilot.press("escape", "t")
        await settle(pilot)
        assert "[/] topic" in screen_text(app)
        await pilot.press("escape", "slash", *"[/]", "enter")
        await settle(pilot)
        assert pane.table.row_count == 3  # "[/]" as plain text: in three of the hostile pairs
        assert app.is_running


async def test_curation_flags_lints_and_resolves_duplicate_clusters(store):
    topic = store.add_topic("Meters")
    dupes = store.add_pairs(
        [
            NewPair(
                "How do I read my smart meter display?",
                "Press the button until you see the reading.",
                topic_id=topic,
                task_key="d1",
            ),
            NewPair(
                "How do I read my smart meter display",
                "Press the display button and note the numbers shown.",
                topic_id=topic,
                task_key="d2",
            ),
            NewPair(
                "What is a tariff?",
                "### ANSWER: A tariff is the price plan you pay for energy.",
                topic_id=topic,
                task_key="leak",
            ),
        ]
    )
    async with make_app(store).run_test(size=(140, 36), notifications=True) as pilot:
        pane = await open_pairs(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert any(f["code"] == "header_leak" for f in store.pair(dupes[2]).flags)
        assert pane.clusters and any(set(c.members) == {dupes[0], dupes[1]} for c in pane.clusters)
        await pilot.press("f")
        await pilot.pause()
        assert "header_leak" in screen_text(pilot.app)
        await pilot.press("escape", "d")
        await settle(pilot)
        assert type(pilot.app.screen).__name__ == "DuplicateClusters"
        await pilot.press("r", "escape")
        await settle(pilot)
        statuses = sorted(store.pair(i).status for i in dupes[:2])
        assert statuses == ["pending", "rejected"]


async def test_regenerate_calls_the_app_or_says_it_is_not_configured(store):
    calls: list[list[int]] = []

    class WithGenerator(TunedeckApp):
        def regenerate_answers(self, pair_ids: list[int]) -> None:
            calls.append(pair_ids)
            self.store.update_answer(pair_ids[0], "fresh answer")

    class WithoutGenerator(TunedeckApp):
        regenerate_answers = None

    first = store.pair_ids(PairFilter())[0]
    app = WithoutGenerator(store, load_config(include_user=False), check_identity=False, status_interval=60)
    async with app.run_test(size=(140, 36), notifications=True) as pilot:
        await open_pairs(pilot)
        await pilot.press("r")
        await pilot.pause()
        assert any("not configured" in str(n.message) for n in app._notifications)
    app = WithGenerator(store, load_config(include_user=False), check_identity=False, status_interval=60)
    async with app.run_test(size=(140, 36)) as pilot:
        await open_pairs(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert calls == [[first]]
        assert "fresh answer" in pilot.app.query_one(PairDetail).text


async def test_100k_pairs_open_and_scroll(store):
    batch = [NewPair(f"Bulk question {i}?", "An answer " * 40, task_key=f"b{i}") for i in range(100_000)]
    store.add_pairs(batch)
    total = store.count_pairs()
    async with make_app(store).run_test(size=(120, 40)) as pilot:
        start = time.perf_counter()
        pane = await open_pairs(pilot)
        assert pane.table.row_count == total
        for _ in range(20):
            await pilot.press("pagedown")
        await pilot.pause()
        took = time.perf_counter() - start
        body = pane.table.scrollable_content_region.height - 1
        assert pane.table.cursor_index == 20 * body
        shown = pane.table.cursor_pair
        assert shown is not None and f"#{shown.id} " in pane.query_one(PairDetail).text
        assert f" {shown.id} " in screen_text(pilot.app)
        assert took < 15, f"opening and 20 page-downs took {took:.1f}s"


async def test_keys_pressed_while_the_rows_are_read_again_still_move_the_cursor(store, monkeypatch):
    """A write elsewhere makes the pane read its rows again; j pressed while that read is under way
    (a big session) is not undone when the rows arrive."""
    import threading

    from core.store import Store

    app = make_app(store)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = await open_pairs(pilot)
        first = pane.table.cursor_pair_id
        reading, release = threading.Event(), threading.Event()
        fetch = pane._fetch_rows

        def slow_fetch(flt):
            reading.set()
            release.wait(10)
            return fetch(flt)

        monkeypatch.setattr(pane, "_fetch_rows", slow_fetch)
        other = Store(store.path)  # another process adds a pair: the probe reads the rows again
        other.add_pairs([NewPair("A question from elsewhere?", "An answer from elsewhere.", task_key="other")])
        other.close()
        for _ in range(200):
            if reading.is_set():
                break
            await pilot.pause(0.05)
        assert reading.is_set(), "the probe did not read the rows again"
        await pilot.press("j", "j")
        moved_to = pane.table.cursor_pair_id
        assert moved_to != first
        release.set()
        await settle(pilot)
        assert pane.table.row_count == 21
        assert pane.table.cursor_pair_id == moved_to

"""The Pairs pane: preview, filter and triage generated pairs; curation (lints, dedup) and duplicate clusters.

Store reads that scan the table (the id list of a filter, stats, flag counts, the topic tree) run
on one long-lived reader thread, so they never block a keypress and reuse one SQLite connection;
the page of rows a frame draws is fetched synchronously by primary key (under a millisecond).
"""

from __future__ import annotations

import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Static

from core.curation.dedup import DuplicateCluster
from core.curation.repairs import repair_answers
from core.curation.service import (
    FlaggedRowsError,
    estimate_scoring,
    export_dataset,
    kept_by_threshold,
    quality_threshold,
    run_curation,
    score_pairs,
    set_quality_threshold,
)
from core.dataset.importer import KeyMapping, NeedsMapping, import_pairs
from core.safe_text import one_line
from core.store import PairFilter, TopicNode
from core.store.pairs import PAIR_SORTS
from tui.account_mode import console_export_folder, in_console_mode
from tui.background import RunSlot
from tui.keys import bound_keys, hint
from tui.panes.base import Pane
from tui.panes.pairs.detail import FLAG_EXPLANATIONS, PairDetail
from tui.panes.pairs.duplicates import DuplicateClusters
from tui.panes.pairs.editor import PairEdit, PairEditor
from tui.panes.pairs.stats import PairStatsStrip
from tui.panes.pairs.table import PairTable
from tui.screens.ask import AskText, Confirm
from tui.screens.choice_picker import ChoicePicker
from tui.text import safe_line

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from textual.app import ComposeResult
    from textual.timer import Timer
    from textual.widget import Widget

    from tui.messages import RunFinished

STATUS_CYCLE: tuple[str | None, ...] = (None, "pending", "accepted", "rejected")
SORT_CYCLE: tuple[str, ...] = tuple(PAIR_SORTS)
PROBE_SECONDS = 2.0
STATS_DEBOUNCE_SECONDS = 0.3


@dataclass
class RegenerateRequested(Message):
    """The user asked for new answers to these pairs. It bubbles to the app; the pane itself calls
    `app.regenerate_answers(pair_ids)` when the app has it (sync or async), in a worker."""

    pair_ids: tuple[int, ...]


@dataclass
class ScoreProgressed(Message):
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ScoreProgressed)


@dataclass
class VariantsProgressed(Message):
    done: int
    failed: int
    total: int
    cost_usd: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, VariantsProgressed)


def _walk(nodes: Iterable[TopicNode], depth: int = 0):
    for node in nodes:
        yield node, depth
        yield from _walk(node.children, depth + 1)


def _subtree_ids(node: TopicNode) -> tuple[int, ...]:
    return tuple(n.topic.id for n, _ in _walk([node]))


class PairsPane(Pane):
    PANE_ID = "pairs"
    TITLE = "Pairs"
    STYLESHEET = "pairs.tcss"
    BINDINGS = [
        Binding("a", "triage('accepted')", "Accept", id="pairs.accept", tooltip="Accept the pair and move on"),
        Binding("x", "triage('rejected')", "Reject", id="pairs.reject", tooltip="Reject the pair and move on"),
        Binding("e", "edit", "Edit", id="pairs.edit", tooltip="Edit the question and answer (ctrl+s saves)"),
        Binding(
            "r",
            "regenerate",
            "Regenerate",
            id="pairs.regenerate",
            tooltip="Ask the generator for a new answer (the selection, or the pair under the cursor)",
        ),
        Binding("u", "undo", "Undo", id="pairs.undo", tooltip="Undo the last change to pairs"),
        Binding(
            "A",
            "bulk('accepted')",
            "Accept all",
            id="pairs.bulk_accept",
            tooltip="Accept the selection, or every pair in the current filter",
        ),
        Binding(
            "X",
            "bulk('rejected')",
            "Reject all",
            id="pairs.bulk_reject",
            tooltip="Reject the selection, or every pair in the current filter",
        ),
        Binding("slash", "text_filter", "Find", id="pairs.filter_text", tooltip="Filter by text in question or answer"),
        Binding("t", "topic_filter", "Topic", id="pairs.filter_topic", tooltip="Filter by topic (with subtopics)"),
        Binding("s", "cycle_status", "Status", id="pairs.filter_status", tooltip="Cycle the status filter"),
        Binding("f", "flag_filter", "Flag", id="pairs.filter_flag", tooltip="Filter by curation flag"),
        Binding("o", "cycle_sort", "Sort", id="pairs.sort", tooltip="Cycle the sort column"),
        Binding("O", "reverse_sort", "Reverse", show=False, id="pairs.sort_reverse", tooltip="Reverse the sort"),
        Binding("d", "duplicates", "Duplicates", id="pairs.duplicates", tooltip="Resolve duplicate clusters"),
        Binding("c", "curate", "Curate", id="pairs.curate", tooltip="Run the lints and dedup over every pair"),
        Binding(
            "E",
            "export",
            "Export dataset",
            id="pairs.export",
            tooltip="Export a JumpStart dataset version (all pairs but the rejected) and upload it to S3",
        ),
        Binding(
            "Q",
            "score",
            "Score quality",
            id="pairs.score",
            show=False,
            tooltip="Rate the unscored pairs 1-10 with the judge: the cost first, then progress (esc cancels)",
        ),
        Binding(
            "T",
            "threshold",
            "Quality threshold",
            id="pairs.threshold",
            show=False,
            tooltip="Set the quality threshold, each choice with how many scored pairs it keeps",
        ),
        Binding(
            "R",
            "bulk_tools",
            "Repair/augment",
            id="pairs.bulk_tools",
            show=False,
            tooltip="Repair or regenerate answers in bulk, or add typo copies of training pairs: a preview first, "
            "one undo step",
        ),
        Binding(
            "V",
            "variants",
            "Variants",
            id="pairs.variants",
            show=False,
            tooltip="LLM variants of accepted pairs (locale, language, summary, persona): the cost first, then "
            "progress (esc cancels); tagged, one undo step",
        ),
        Binding(
            "I",
            "import_pairs",
            "Import pairs",
            id="pairs.import",
            show=False,
            tooltip="Import pairs from a JSONL or CSV file (all or nothing)",
        ),
        Binding("right_square_bracket", "scroll_detail(1)", "Detail down", show=False, id="pairs.detail_down"),
        Binding("left_square_bracket", "scroll_detail(-1)", "Detail up", show=False, id="pairs.detail_up"),
        Binding(
            "escape",
            "escape",
            "Close/clear",
            show=False,
            id="pairs.escape",
            tooltip="Close the text filter, clear the selection, or cancel the quality scoring",
        ),
    ]

    def __init__(self, store, config, **kwargs) -> None:
        super().__init__(store, config, **kwargs)
        self.filter = PairFilter()
        self.topic_names: dict[int, str] = {}
        self.clusters: list | None = None
        self._topic_label = ""
        self._reader_pool: ThreadPoolExecutor | None = None
        self._loaded = False
        self._loading = ""
        self.runs = RunSlot(self, cancel_binding="pairs.escape")
        self._busy = ""
        self._edits = 0
        self._data_version: int | None = None
        self._probe_timer: Timer | None = None
        self._stats_timer: Timer | None = None
        self._histogram: tuple[int, ...] = ()
        self._histogram_key: PairFilter | None = None

    def compose(self) -> ComposeResult:
        ascii_only = bool(getattr(self.config.ui, "ascii", False))
        yield PairStatsStrip(ascii_only=ascii_only, id="pairs-stats")
        yield Input(
            placeholder="text in question or answer: enter applies (empty clears), "
            f"{bound_keys(self, 'pairs.escape')} closes",
            id="pairs-filter",
        )
        with Horizontal(id="pairs-body"):
            yield PairTable(self.store, ascii_only=ascii_only, id="pairs-table")
            yield PairDetail(ascii_only=ascii_only, id="pairs-detail")
        yield Static("", id="pairs-status", classes="pane-status")

    @property
    def table(self) -> PairTable:
        return self.query_one(PairTable)

    @cached_property
    def _key_hint(self) -> Content:
        line = hint(
            self,
            (("pairs.accept", "pairs.reject"), "accept/reject"),
            ("pairs.edit", "edit"),
            ("pairs.regenerate", "regenerate"),
            ("pairs.undo", "undo"),
            ("pair_table.toggle_select", "select"),
            (("pairs.bulk_accept", "pairs.bulk_reject"), "bulk"),
            ("pairs.filter_text", "text"),
            ("pairs.filter_topic", "topic"),
            ("pairs.filter_status", "status"),
            ("pairs.filter_flag", "flag"),
            ("pairs.sort", "sort"),
            ("pairs.curate", "curate"),
            ("pairs.duplicates", "dupes"),
            (("pairs.score", "pairs.threshold"), "score/threshold"),
            ("pairs.bulk_tools", "repair/augment"),
            ("pairs.variants", "variants"),
            ("pairs.import", "import"),
            ("pairs.export", "export"),
            separator=" · ",
        )
        return Content.styled(line, "$text-muted")

    # ---- life cycle ------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.query_one("#pairs-filter", Input).display = False
        self.call_after_refresh(self._start_if_visible)

    def _start_if_visible(self) -> None:
        if self.display and not self._loaded:
            self.pane_shown()

    def on_unmount(self) -> None:
        if self._reader_pool is not None:
            self._reader_pool.shutdown(wait=False, cancel_futures=True)

    def pane_shown(self) -> None:
        if not self._loaded:
            self._loaded = True
            self.reload()
        else:
            self._probe()
        if self._probe_timer is None:
            self._probe_timer = self.set_interval(PROBE_SECONDS, self._probe)
        else:
            self._probe_timer.resume()

    def pane_hidden(self) -> None:
        if self._probe_timer is not None:
            self._probe_timer.pause()

    def focus_target(self) -> Widget | None:
        return self.table

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store call on the pane's reader thread (one thread, so one SQLite connection)."""
        if self._reader_pool is None:
            self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="pairs-reader")
        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, partial(fn, *args))

    # ---- loading ---------------------------------------------------------------------------
    def reload(self, keep: int | None = None, *, quiet: bool = False) -> None:
        """Re-read the ids of the current filter in the background; the cursor stays on `keep` (default: the
        pair it is on when the rows arrive, so keys pressed while they were read still count)."""
        if not quiet:
            self._loading = "filtering…" if self.filter.text else "loading…"
            self._show_status()
        self._load_rows(self.filter, keep)

    def _fetch_rows(self, flt: PairFilter) -> tuple[list[int], dict[int, str], int]:
        ids = self.store.ordered_ids(flt)
        names = {t.id: t.name for t in self.store.topics()}
        return ids, names, self.store.data_version()

    @work(exclusive=True, group="pairs-rows", exit_on_error=False)
    async def _load_rows(self, flt: PairFilter, keep: int | None) -> None:
        edits = self._edits
        try:
            ids, names, version = await self._read(self._fetch_rows, flt)
        except Exception:
            self._loading = ""  # the app reports the error; the old rows stay usable
            self._show_status()
            raise
        if flt != self.filter:
            return
        if edits != self._edits:  # the pane wrote while we read: read again so the rows are not stale
            self._load_rows(flt, keep)
            return
        self._data_version = version
        self.topic_names = names
        table = self.table
        table.topic_names = names
        table.placeholder = (
            "no pairs match the filter"
            if flt != PairFilter(sort=flt.sort, descending=flt.descending)
            else self._empty_hint()
        )
        table.set_rows(ids, keep=keep if keep is not None else table.cursor_pair_id)
        self._loading = ""
        self._show_status()
        self._schedule_stats(0)

    def _empty_hint(self) -> str:
        """The empty session's table: the step before and the keys that get there, as bound now."""
        return (
            f"No pairs yet. The step before is {hint(self, ('pane.topics', 'Topics'))}: "
            f"{hint(self, ('topics.generate', 'generate pairs'))}"
        )

    @work(exclusive=True, group="pairs-probe", exit_on_error=False)
    async def _probe(self) -> None:
        """Pick up changes made elsewhere (a headless run, another pane) without polling the rows."""
        version = await self._read(self.store.data_version)
        if self._data_version is not None and version != self._data_version and not self._loading:
            self._histogram_key = None  # pairs may have come or gone
            self.reload(quiet=True)

    @work(exclusive=True, group="pairs-probe", exit_on_error=False)
    async def _rebaseline(self) -> None:
        """After the pane's own write: take the new data version as seen, so the probe does not re-read
        rows the pane already updated in place."""
        self._data_version = await self._read(self.store.data_version)

    def _schedule_stats(self, delay: float = STATS_DEBOUNCE_SECONDS) -> None:
        if self._stats_timer is not None:
            self._stats_timer.stop()
        self._stats_timer = self.set_timer(delay, self._load_stats) if delay else None
        if not delay:
            self._load_stats()

    @work(exclusive=True, group="pairs-stats", exit_on_error=False)
    async def _load_stats(self) -> None:
        """Counts by status and topic over the filter (status aside); the length histogram, which reads
        every answer, only when the filter or the texts changed."""
        key = replace(self.filter, status=None, sort="id", descending=False)
        lengths = key != self._histogram_key
        stats = await self._read(partial(self.store.pair_stats, key, lengths=lengths))
        if lengths:
            self._histogram, self._histogram_key = stats.length_histogram, key
        else:
            stats = replace(stats, length_histogram=self._histogram)
        strip = self.query_one(PairStatsStrip)
        strip.topic_names = self.topic_names
        strip.status_filter = self.filter.status
        strip.stats = stats

    # ---- status line -----------------------------------------------------------------------
    def describe_filter(self) -> str:
        flt = self.filter
        parts = []
        if flt.status:
            parts.append(f"status={flt.status}")
        if flt.topic_ids:
            parts.append(f"topic={self._topic_label}")
        if flt.flag:
            parts.append(f"flag={flt.flag}")
        if flt.text:
            parts.append(f"text={flt.text!r}")
        return " · ".join(parts) if parts else "all pairs"

    def _show_status(self) -> None:
        table = self.table
        flt = self.filter
        line = (
            f"{table.row_count:,} pairs · {self.describe_filter()} · sort {flt.sort} "
            f"{'desc' if flt.descending else 'asc'}"
        )
        if table.selected:
            line += f" · {len(table.selected):,} selected"
        busy = "  ".join(b for b in (self._loading, self._busy) if b)
        status = Content.assemble(safe_line(line), ("  " + busy, "$warning") if busy else "")
        self.query_one("#pairs-status", Static).update(Content.assemble(status, "\n", self._key_hint), layout=False)
        title = f"Pairs ({table.row_count:,})"
        if self.border_title != title:
            self.border_title = title

    def _set_busy(self, text: str) -> None:
        self._busy = text
        self._show_status()

    # ---- table events ----------------------------------------------------------------------
    def on_pair_table_highlighted(self, message: PairTable.Highlighted) -> None:
        pair = message.pair
        topic = self.topic_names.get(pair.topic_id, "") if pair is not None and pair.topic_id is not None else ""
        self.query_one(PairDetail).show(pair, topic)

    def on_pair_table_selection_changed(self, message: PairTable.SelectionChanged) -> None:
        self._show_status()

    def action_scroll_detail(self, direction: int) -> None:
        self.query_one(PairDetail).scroll_page(direction)

    def action_escape(self) -> None:
        if self.runs.cancel():
            label = self.runs.current.label if self.runs.current is not None else "score"
            what, kept = {
                "score": ("scoring", "finished scores"),
                "variants": ("variants", "variants made so far"),
                "regenerate": ("regenerating", "new answers that arrived"),
            }.get(label, (label, "results so far"))
            self._set_busy(f"cancelling the {what}… ({kept} are kept)")
            return
        field = self.query_one("#pairs-filter", Input)
        if field.display:
            field.display = False
            self.table.focus()
        else:
            self.table.clear_selection()

    # ---- filters and sort ------------------------------------------------------------------
    def set_filter(self, flt: PairFilter) -> None:
        if flt == self.filter:
            return
        self.filter = flt
        self.query_one(PairStatsStrip).status_filter = flt.status
        self.reload()

    def action_text_filter(self) -> None:
        field = self.query_one("#pairs-filter", Input)
        field.value = self.filter.text
        field.display = True
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "pairs-filter":
            return
        event.stop()
        event.input.display = False
        self.table.focus()
        self.set_filter(replace(self.filter, text=event.value.strip()))

    def action_cycle_status(self) -> None:
        position = STATUS_CYCLE.index(self.filter.status) if self.filter.status in STATUS_CYCLE else 0
        self.set_filter(replace(self.filter, status=STATUS_CYCLE[(position + 1) % len(STATUS_CYCLE)]))

    def action_cycle_sort(self) -> None:
        position = SORT_CYCLE.index(self.filter.sort) if self.filter.sort in SORT_CYCLE else 0
        self.set_filter(replace(self.filter, sort=SORT_CYCLE[(position + 1) % len(SORT_CYCLE)]))

    def action_reverse_sort(self) -> None:
        self.set_filter(replace(self.filter, descending=not self.filter.descending))

    @work(exclusive=True, group="pairs-pickers", exit_on_error=False)
    async def action_topic_filter(self) -> None:
        tree: list[TopicNode] = await self._read(self.store.topic_tree)
        choices: list[tuple[Any, Content]] = [(None, Content("All topics"))]
        for node, depth in _walk(tree):
            label = Content.assemble(
                "  " * depth, safe_line(node.topic.name, 60), (f"  {node.questions:,} pairs", "$text-muted")
            )
            choices.append(((node.topic.id, _subtree_ids(node), node.topic.name), label))
        current = next((value for value, _ in choices[1:] if value[1] == self.filter.topic_ids), None)

        def done(picked: tuple | None) -> None:
            if picked is None:
                return
            value = picked[0]
            if value is None:
                self._topic_label = ""
                self.set_filter(replace(self.filter, topic_ids=()))
            else:
                self._topic_label = safe_line(value[2], 40).plain
                self.set_filter(replace(self.filter, topic_ids=value[1]))

        self.app.push_screen(
            ChoicePicker("Filter by topic (a topic includes its subtopics)", choices, current=current), done
        )

    @work(exclusive=True, group="pairs-pickers", exit_on_error=False)
    async def action_flag_filter(self) -> None:
        counts: dict[str, int] = await self._read(self.store.pair_flag_counts, replace(self.filter, flag=None))
        choices: list[tuple[str | None, Content]] = [(None, Content("No flag filter")), ("any", Content("Any flag"))]
        for code, count in counts.items():
            explanation = FLAG_EXPLANATIONS.get(code, "")
            choices.append(
                (
                    code,
                    Content.assemble(
                        safe_line(code, 40), (f"  {count:,}", "bold"), (f"  {explanation}", "$text-muted")
                    ),
                )
            )
        if len(choices) == 2:
            choices.append((None, Content.styled("(no flags yet: c runs the lints and dedup)", "$text-muted")))

        def done(picked: tuple | None) -> None:
            if picked is not None:
                self.set_filter(replace(self.filter, flag=picked[0]))

        self.app.push_screen(ChoicePicker("Filter by flag", choices, current=self.filter.flag), done)

    # ---- triage ----------------------------------------------------------------------------
    def _note_write(self, *, texts: bool = False) -> None:
        """Count a write by this pane (`texts`: questions or answers changed, so lengths may have)."""
        self._edits += 1
        if texts:
            self._histogram_key = None
        self._rebaseline()

    def _after_status_change(self, pair_ids: set[int], status: str, *, advance: bool) -> None:
        table = self.table
        if self.filter.status and self.filter.status != status:
            table.remove_ids(pair_ids)  # no longer matches: the next pair slides under the cursor
        else:
            before = table.cursor_index
            table.invalidate(announce=not advance)
            if advance:
                table.action_cursor_down()
                if table.cursor_index == before:  # on the last row: show its new status
                    table.invalidate()
        self._show_status()
        self._schedule_stats()

    def action_triage(self, status: str) -> None:
        pair_id = self.table.cursor_pair_id
        if pair_id is None:
            return
        self._after_status_change({pair_id}, status, advance=True)  # the next pair is under the cursor at once
        self._store_status([pair_id], status)

    @work(group="pairs-writes", exit_on_error=False)
    async def _store_status(self, ids: list[int], status: str, done_message: str = "") -> None:
        """Write on the reader thread (one thread: writes land in key order, before a later undo)."""
        await self._read(self.store.set_status, ids, status)
        self._note_write()
        self.table.invalidate(announce=False)  # the rows shown before the write landed show it now
        self._show_status()
        self._schedule_stats()
        if done_message:
            self.app.notify(done_message)

    def action_bulk(self, status: str) -> None:
        table = self.table
        verb = "Accept" if status == "accepted" else "Reject"
        if table.selected:
            ids = sorted(table.selected)
            table.clear_selection()
            self._after_status_change(set(ids), status, advance=False)
            self._store_status(ids, status, f"{verb}ed {len(ids):,} selected pairs (u undoes it)")
            return
        count = table.row_count
        if not count:
            self.app.notify("No pairs in the current filter.", severity="warning")
            return
        flt = self.filter

        def done(yes: bool | None) -> None:
            if yes:
                self._bulk_filter(flt, status, verb)

        self.app.push_screen(
            Confirm(f"{verb} all {count:,} pairs in the current filter ({self.describe_filter()})? u undoes it."), done
        )

    @work(exclusive=True, group="pairs-bulk", exit_on_error=False)
    async def _bulk_filter(self, flt: PairFilter, status: str, verb: str) -> None:
        self._set_busy(f"{verb.lower()}ing…")
        try:
            _, changed = await self._read(self.store.set_status_matching, flt, status)
        finally:
            self._note_write()
            self._set_busy("")
        self.app.notify(f"{verb}ed {changed:,} pairs (u undoes it)")
        self.reload()

    @work(exclusive=True, group="pairs-bulk", exit_on_error=False)
    async def action_undo(self) -> None:
        self._set_busy("undoing…")
        try:
            count = await self._read(self.store.undo_last_edit)
        finally:
            self._note_write(texts=True)
            self._set_busy("")
        self.app.notify(f"Undid the last change ({count:,} pairs)" if count else "Nothing to undo")
        self.reload()

    def action_edit(self) -> None:
        pair = self.table.cursor_pair
        if pair is None:
            return

        def done(edit: PairEdit | None) -> None:
            if edit is not None and edit.changed:
                self._store_edit(edit)

        self.app.push_screen(PairEditor(pair), done)

    @work(group="pairs-writes", exit_on_error=False)
    async def _store_edit(self, edit: PairEdit) -> None:
        await self._read(self.store.update_pair_text, edit.pair_id, edit.question, edit.answer)
        self._note_write(texts=True)
        self.table.invalidate()
        self._schedule_stats()
        self.app.notify(f"Saved pair #{edit.pair_id} (u undoes it)")

    # ---- regenerate ------------------------------------------------------------------------
    def action_regenerate(self) -> None:
        table = self.table
        ids = tuple(sorted(table.selected)) or ((table.cursor_pair_id,) if table.cursor_pair_id is not None else ())
        if ids:
            self.post_message(RegenerateRequested(ids))

    def on_regenerate_requested(self, message: RegenerateRequested) -> None:
        regenerate = getattr(self.app, "regenerate_answers", None)
        if regenerate is None:
            self.app.notify(
                "Answer regeneration is not configured in this build (no generator is wired to the Pairs pane yet).",
                severity="warning",
            )
            return
        self._regenerate(regenerate, message.pair_ids)

    @work(group="pairs-regenerate", exit_on_error=False)
    async def _regenerate(self, regenerate: Callable[[list[int]], Any], pair_ids: Sequence[int]) -> None:
        self._set_busy(f"regenerating {len(pair_ids):,} answer(s)…")
        try:
            if inspect.iscoroutinefunction(regenerate):
                result = await regenerate(list(pair_ids))
            else:
                result = await asyncio.to_thread(regenerate, list(pair_ids))
                if inspect.isawaitable(result):
                    result = await result
        finally:
            self._note_write(texts=True)
            self._set_busy("")
            self.table.invalidate()
            self._schedule_stats()
        if isinstance(result, int):
            self.app.notify(f"Regenerated {result:,} of {len(pair_ids):,} answer(s) (u undoes the last one)")

    # ---- curation ----------------------------------------------------------------------------
    def action_curate(self) -> None:
        self._curate(open_duplicates=False)

    @work(exclusive=True, group="pairs-curate", exit_on_error=False)
    async def _curate(self, open_duplicates: bool) -> None:
        self._set_busy("curating: lints, dedup, leakage guard…")
        try:
            summary = await asyncio.to_thread(run_curation, self.store, self.config)
        finally:
            self._set_busy("")
        self._histogram_key = None  # flags changed: a flag filter may match other pairs now
        self.clusters = [
            DuplicateCluster(tuple(c["members"]), c["keeper"], c["kind"], c["similarity"]) for c in summary.cluster_list
        ]
        self.app.notify(
            f"Curated {summary.pairs:,} pairs: {summary.flagged:,} flagged, {summary.clusters:,} duplicate "
            f"clusters ({summary.duplicates:,} extra copies), {summary.leaks:,} held-out leaks, "
            f"{summary.low_quality:,} below the quality threshold."
        )
        self.table.invalidate()
        self.reload()
        if open_duplicates:
            self._open_duplicates()

    def action_duplicates(self) -> None:
        if self.clusters is None:
            self.app.notify("Finding duplicates first (c)…")
            self._curate(open_duplicates=True)
            return
        self._open_duplicates()

    @work(exclusive=True, group="pairs-pickers", exit_on_error=False)
    async def _open_duplicates(self) -> None:
        clusters = list(self.clusters or [])
        statuses = await self._read(self._statuses, [m for c in clusters for m in c.members])
        # a cluster is settled once at most one member is left un-rejected
        open_clusters = [c for c in clusters if sum(statuses.get(m) not in (None, "rejected") for m in c.members) > 1]
        if not open_clusters:
            self.app.notify("No unresolved duplicate clusters.")
            return

        def done(changed: int | None) -> None:
            if changed:
                self._note_write()
                self.app.notify(f"Duplicate clusters: {changed:,} pairs changed status (u undoes the last step)")
                self.table.invalidate()
                self.reload()

        self.app.push_screen(DuplicateClusters(self.store, open_clusters), done)

    # ---- quality scores ----------------------------------------------------------------------
    def action_score(self) -> None:
        if self.runs.running:
            self.app.notify("Scoring is already running (esc cancels it).")
            return
        self._score_estimate()

    @work(exclusive=True, group="pairs-score", exit_on_error=False)
    async def _score_estimate(self) -> None:
        services = self.app.services  # type: ignore[attr-defined]
        self._set_busy("estimating the cost of scoring…")
        try:
            target = services.chat_target("judge")
            try:
                estimate = await asyncio.to_thread(estimate_scoring, self.store, target.prices)
            finally:
                await target.aclose()
        except Exception as exc:  # a judge that cannot be built (no key, bad profile): say why, keep running
            self.app.notify(safe_line(f"Scoring: {exc}", 300), severity="error")
            return
        finally:
            self._set_busy("")
        if not estimate.pairs:
            self.app.notify("Every pair not rejected has a quality score already.")
            return
        cost = f"up to ${estimate.max_cost_usd:.4f}" if estimate.priced else "unpriced (the judge model has no price)"
        question = (
            f"Score {estimate.pairs:,} unscored pairs with the judge ({self.config.llm.judge.model}): about "
            f"{estimate.prompt_tokens:,} prompt tokens and at most {estimate.max_completion_tokens:,} reply tokens, "
            f"{cost}. Each score is kept as it arrives; {bound_keys(self, 'pairs.escape')} cancels."
        )

        def done(yes: bool | None) -> None:
            if yes:
                self._start_scoring()

        self.app.push_screen(Confirm(question), done)

    def _start_scoring(self) -> None:
        services = self.app.services  # type: ignore[attr-defined]
        concurrency = self.config.llm.judge.max_concurrency

        def report(done: int, total: int) -> None:
            self.post_message(ScoreProgressed(done, total))

        async def job() -> tuple[int, int, float]:
            target = services.chat_target("judge")
            try:
                return await score_pairs(self.store, target, on_progress=report, concurrency=concurrency)
            finally:
                await target.aclose()

        if self.runs.start("score", job):
            self._set_busy("scoring: starting…")

    def on_score_progressed(self, message: ScoreProgressed) -> None:
        self._set_busy(f"scoring {message.done:,}/{message.total:,} ({bound_keys(self, 'pairs.escape')} cancels)")

    def on_run_finished(self, message: RunFinished) -> None:
        self._set_busy("")
        if message.label == "variants":
            self._variants_finished(message)
            return
        if message.label == "regenerate":
            self._regenerate_finished(message)
            return
        if message.cancelled:
            self.app.notify("Scoring cancelled; the scores that arrived are kept (Q resumes).")
        elif message.error is not None:
            self.app.report_error("quality scoring", message.error)  # type: ignore[attr-defined]
        elif isinstance(message.result, tuple):
            scored, failures, cost = message.result
            self.app.notify(f"Scored {scored:,} pairs ({failures:,} failed, Q retries them), ${cost:.4f}")
        self._curate(open_duplicates=False)  # low-quality flags follow the new scores

    def action_threshold(self) -> None:
        self._pick_threshold()

    @work(exclusive=True, group="pairs-threshold", exit_on_error=False)
    async def _pick_threshold(self) -> None:
        scored, kept = await self._read(kept_by_threshold, self.store)
        if not scored:
            self.app.notify("No pair has a quality score yet (Q scores them).")
            return
        current = quality_threshold(self.store, self.config)
        choices = [(float(t), Content(f"{t:>2}: keeps {kept[t]:,} of {scored:,} scored pairs")) for t in range(1, 11)]

        def done(picked: tuple | None) -> None:
            if picked is not None:
                self._set_threshold(picked[0])

        self.app.push_screen(
            ChoicePicker(
                f"Quality threshold (now {current:g}): pairs scored below it are flagged",
                choices,
                current=float(round(current)),
            ),
            done,
        )

    @work(exclusive=True, group="pairs-threshold", exit_on_error=False)
    async def _set_threshold(self, value: float) -> None:
        await self._read(set_quality_threshold, self.store, value)
        self.app.notify(f"Quality threshold set to {value:g} for this session; re-flagging…")
        self._curate(open_duplicates=False)

    # ---- repairs and augmentation ------------------------------------------------------------
    BULK_PREVIEW_ROWS = 3

    def action_bulk_tools(self) -> None:
        choices = [
            ("strip_header", Content("strip leaked headers (### ANSWER) from the answers in this filter")),
            (
                "strip_meta",
                Content("strip meta-talk openers ('Based on the text, ...') from the answers in this filter"),
            ),
            ("typo", Content("add typo copies of the accepted pairs in this topic filter (training data only)")),
            (
                "regenerate",
                Content("regenerate the answers in this filter with another profile or to a target length (LLM)"),
            ),
        ]

        def done(picked: tuple | None) -> None:
            if picked is None:
                return
            if picked[0] == "regenerate":
                self._ask_regenerate()
            else:
                self._bulk(picked[0], apply=False)

        self.app.push_screen(ChoicePicker("Repair or augment in bulk (a preview comes first)", choices), done)

    # ---- regenerate in bulk (a repair: another profile, a target length) ------------------------
    def _ask_regenerate(self) -> None:
        if self.runs.running:
            self.app.notify(f"A run is already going ({bound_keys(self, 'pairs.escape')} cancels it).")
            return
        names = ["generator", "judge", *sorted(self.config.llm.profiles)]
        choices = [(name, safe_line(name, 60)) for name in names]

        def profile_picked(picked: tuple | None) -> None:
            if picked is None:
                return

            def length_given(text: str | None) -> None:
                if text is None:
                    return
                text = text.strip()
                if text and not text.isdigit():
                    self.app.notify(f"Target length: a number of tokens, not {text!r}", severity="error")
                    return
                self._regenerate_estimate(picked[0], int(text) if text else None)

            self.app.push_screen(
                AskText(
                    f"Regenerate with {picked[0]}: a target length in tokens (empty: the answer style's own)",
                    placeholder="900",
                ),
                length_given,
            )

        self.app.push_screen(
            ChoicePicker("Regenerate the answers in this filter with which profile?", choices), profile_picked
        )

    def _regenerate_spec(self, profile: str, tokens: int | None) -> Any:
        from core.curation.repairs import RegenerateSpec

        return RegenerateSpec(profile, tokens, self.config.generation.answer_style)

    @work(exclusive=True, group="pairs-regen", exit_on_error=False)
    async def _regenerate_estimate(self, profile: str, tokens: int | None) -> None:
        from core.curation.repairs import estimate_regenerate

        services = self.app.services  # type: ignore[attr-defined]
        flt = self.filter
        self._set_busy("estimating the cost of regenerating…")
        try:
            spec = self._regenerate_spec(profile, tokens)
            target = services.chat_target(profile)
            try:
                estimate = await asyncio.to_thread(estimate_regenerate, self.store, flt, spec, target.prices)
            finally:
                await target.aclose()
        except Exception as exc:  # a bad length, a profile that cannot be built: say why
            self.app.notify(safe_line(f"Regenerate: {exc}", 300), severity="error")
            return
        finally:
            self._set_busy("")
        if not estimate.pairs:
            self.app.notify("Regenerate: no pairs in this filter.")
            return
        cost = f"up to ${estimate.max_cost_usd:.4f}" if estimate.priced else "unpriced (the model has no price)"
        rows = min(self.BULK_PREVIEW_ROWS, estimate.pairs)
        question = (
            f"{spec.label()}: {estimate.pairs:,} answers in this filter ({self.describe_filter()}), about "
            f"{estimate.prompt_tokens:,} prompt tokens and at most {estimate.max_completion_tokens:,} reply tokens, "
            f"{cost}. First a preview of {rows} rows (nothing written); then you decide."
        )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._regenerate_preview(spec, flt)

        self.app.push_screen(Confirm(question), confirmed)

    @work(exclusive=True, group="pairs-regen", exit_on_error=False)
    async def _regenerate_preview(self, spec: Any, flt: PairFilter) -> None:
        from core.curation.repairs import regenerate_answers_bulk

        services = self.app.services  # type: ignore[attr-defined]
        self._set_busy(f"{spec.label()}: previewing…")

        def preview() -> Any:
            async def body() -> Any:
                target = services.chat_target(spec.profile)
                try:
                    return await regenerate_answers_bulk(self.store, target, flt, spec, preview=self.BULK_PREVIEW_ROWS)
                finally:
                    await target.aclose()

            return asyncio.run(body())

        try:
            result = await asyncio.to_thread(preview)
        except Exception as exc:
            self.app.notify(safe_line(f"Regenerate: {exc}", 300), severity="error")
            return
        finally:
            self._set_busy("")
        if not result.preview:
            why = f" ({result.errors[0]})" if result.errors else ""
            self.app.notify(safe_line(f"Regenerate: the preview changed no answer{why}", 300), severity="warning")
            return
        rows = "\n".join(
            f"#{row.pair_id}\n  - {one_line(row.before, 100)}\n  + {one_line(row.after, 100)}" for row in result.preview
        )
        question = (
            f"{spec.label()}: apply to every pair in this filter? The first rows:\n{rows}\n"
            f"(the preview's answers are kept; {bound_keys(self, 'pairs.escape')} cancels, "
            f"{bound_keys(self, 'pairs.undo')} undoes it in one step)"
        )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._start_regenerate(spec, flt, result.answers)

        self.app.push_screen(Confirm(question), confirmed)

    def _start_regenerate(self, spec: Any, flt: PairFilter, reuse: dict[int, str]) -> None:
        from core.curation.repairs import regenerate_answers_bulk

        services = self.app.services  # type: ignore[attr-defined]
        concurrency = self.config.llm.generator.max_concurrency

        def report(progress: Any) -> None:
            self.post_message(
                VariantsProgressed(progress.changed, progress.failed, progress.scanned, progress.cost_usd)
            )

        async def job() -> Any:
            target = services.chat_target(spec.profile)
            try:
                return await regenerate_answers_bulk(
                    self.store, target, flt, spec, reuse=reuse, concurrency=concurrency, on_progress=report
                )
            finally:
                await target.aclose()

        if self.runs.start("regenerate", job):
            self._set_busy(f"{spec.label()}: starting…")

    def _bulk_call(self, tool: str, preview: int | None) -> Any:
        if tool == "typo":
            from core.generation.augment import augment_typos  # brings core.evaluation: off the pane's first frame

            flt = PairFilter(status="accepted", topic_ids=self.filter.topic_ids)
            return augment_typos(
                self.store, flt, preview=preview, threshold=self.config.curation.near_duplicate_threshold
            )
        return repair_answers(self.store, self.filter, [tool], preview=preview)

    @work(exclusive=True, group="pairs-bulk", exit_on_error=False)
    async def _bulk(self, tool: str, *, apply: bool) -> None:
        self._set_busy("applying…" if apply else "previewing…")
        try:
            result = await asyncio.to_thread(self._bulk_call, tool, None if apply else self.BULK_PREVIEW_ROWS)
        except ValueError as exc:
            self.app.notify(safe_line(f"{tool}: {exc}", 300), severity="error")
            return
        finally:
            self._set_busy("")
        if apply:
            changed = result.added if tool == "typo" else result.changed
            self._note_write(texts=True)
            self.table.invalidate()
            self.reload()
            undo = bound_keys(self, "pairs.undo")
            self.app.notify(f"{tool}: {changed:,} pairs {'added' if tool == 'typo' else 'changed'} ({undo} undoes it)")
            return
        count = result.sources if tool == "typo" else result.changed
        if not count:
            self.app.notify(f"{tool}: nothing to change in this filter")
            return
        rows = "\n".join(
            f"#{getattr(row, 'source_id', getattr(row, 'pair_id', 0))}\n  - {one_line(row.before, 100)}"
            f"\n  + {one_line(row.after, 100)}"
            for row in result.preview
        )
        what = f"add {count:,} typo copies" if tool == "typo" else f"change {count:,} answers"
        question = f"{tool}: {what}? The first rows:\n{rows}\n(one undo step)"

        def done(yes: bool | None) -> None:
            if yes:
                self._bulk(tool, apply=True)

        self.app.push_screen(Confirm(question), done)

    # ---- variants ----------------------------------------------------------------------------
    VARIANT_CHOICES = (
        ("locale", "locale: the pair for a named state, city or region (its terms, rules, units)", "Texas"),
        ("language", "language: the pair translated into any language", "Spanish"),
        ("summary", "summary: a summary-style Q/A (the key points, briefly)", ""),
        ("persona", "persona or tone: the pair asked by and answered for someone", "a retired electrician"),
    )

    def action_variants(self) -> None:
        if self.runs.running:
            self.app.notify(f"A run is already going ({bound_keys(self, 'pairs.escape')} cancels it).")
            return
        choices = [(kind, Content(label)) for kind, label, _ in self.VARIANT_CHOICES]

        def kind_picked(picked: tuple | None) -> None:
            if picked is None:
                return
            kind = picked[0]
            if kind == "summary":
                self._pick_variant_scope(kind, "")
                return
            example = next(e for k, _, e in self.VARIANT_CHOICES if k == kind)

            def value_given(value: str | None) -> None:
                if value is not None:
                    self._pick_variant_scope(kind, value.strip())

            self.app.push_screen(AskText(f"Variants: which {kind}?", placeholder=example), value_given)

        self.app.push_screen(ChoicePicker("Variants of accepted pairs (tagged variant:KIND)", choices), kind_picked)

    def _pick_variant_scope(self, kind: str, value: str) -> None:
        from core.generation.variants import VariantSpec  # off the pane's first frame

        try:
            spec = VariantSpec(kind, value)
        except ValueError as exc:
            self.app.notify(safe_line(f"Variants: {exc}", 300), severity="error")
            return
        choices: list[tuple[Any, Content]] = []
        selected = tuple(sorted(self.table.selected))
        if selected:
            choices.append((("selection", selected), Content(f"the {len(selected):,} selected pairs (accepted ones)")))
        if self.filter.topic_ids:
            choices.append((("topic", ()), Content(f"the accepted pairs of topic {self._topic_label}")))
        choices.append((("all", ()), Content("every accepted pair")))

        def done(picked: tuple | None) -> None:
            if picked is not None:
                self._variants_estimate(spec, *picked[0])

        self.app.push_screen(ChoicePicker(f"{'/'.join(spec.tags)}: over which pairs?", choices), done)

    def _variant_scope(self, scope: str, ids: tuple[int, ...]) -> tuple[PairFilter, tuple[int, ...] | None]:
        topics = self.filter.topic_ids if scope == "topic" else ()
        return PairFilter(status="accepted", topic_ids=topics), (ids if scope == "selection" else None)

    @work(exclusive=True, group="pairs-variants", exit_on_error=False)
    async def _variants_estimate(self, spec: Any, scope: str, ids: tuple[int, ...]) -> None:
        from core.generation.variants import estimate_variants

        services = self.app.services  # type: ignore[attr-defined]
        flt, pair_ids = self._variant_scope(scope, ids)
        self._set_busy("estimating the cost of the variants…")
        try:
            target = services.chat_target("generator")
            try:
                estimate = await asyncio.to_thread(estimate_variants, self.store, spec, target.prices, flt, pair_ids)
            finally:
                await target.aclose()
        except Exception as exc:  # a generator that cannot be built (no key, bad profile): say why
            self.app.notify(safe_line(f"Variants: {exc}", 300), severity="error")
            return
        finally:
            self._set_busy("")
        tags = "/".join(spec.tags)
        if not estimate.pairs:
            done = f" ({estimate.skipped:,} have this variant already)" if estimate.skipped else ""
            self.app.notify(f"{tags}: no accepted original pairs to copy here{done}.")
            return
        cost = f"up to ${estimate.max_cost_usd:.4f}" if estimate.priced else "unpriced (the model has no price)"
        question = (
            f"Make {estimate.pairs:,} {tags} variants with the generator ({self.config.llm.generator.model}): about "
            f"{estimate.prompt_tokens:,} prompt tokens and at most {estimate.max_completion_tokens:,} reply tokens, "
            f"{cost}. Each variant is kept as it arrives; {bound_keys(self, 'pairs.escape')} cancels, "
            f"{bound_keys(self, 'pairs.undo')} removes the run's variants in one step."
        )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._start_variants(spec, flt, pair_ids)

        self.app.push_screen(Confirm(question), confirmed)

    def _start_variants(self, spec: Any, flt: PairFilter, pair_ids: tuple[int, ...] | None) -> None:
        from core.generation.variants import make_variants

        services = self.app.services  # type: ignore[attr-defined]
        concurrency = self.config.llm.generator.max_concurrency

        def report(progress: Any) -> None:
            self.post_message(VariantsProgressed(progress.done, progress.failed, progress.total, progress.cost_usd))

        async def job() -> Any:
            target = services.chat_target("generator")
            try:
                return await make_variants(
                    self.store, target, spec, flt, pair_ids=pair_ids, concurrency=concurrency, on_progress=report
                )
            finally:
                await target.aclose()

        if self.runs.start("variants", job):
            self._set_busy("variants: starting…")

    def on_variants_progressed(self, message: VariantsProgressed) -> None:
        label = self.runs.current.label if self.runs.current is not None else "variants"
        self._set_busy(
            f"{label} {message.done + message.failed:,}/{message.total:,}, {message.failed:,} failed, "
            f"${message.cost_usd:.4f} ({bound_keys(self, 'pairs.escape')} cancels)"
        )

    def _variants_finished(self, message: RunFinished) -> None:
        self._note_write(texts=True)
        self.table.invalidate()
        self.reload()
        undo = bound_keys(self, "pairs.undo")
        if message.cancelled:
            self.app.notify(f"Variants cancelled; the variants made so far are kept ({undo} removes them).")
        elif message.error is not None:
            self.app.report_error("variants", message.error)  # type: ignore[attr-defined]
        else:
            progress: Any = message.result
            self.app.notify(
                f"Made {progress.done:,} variants ({progress.failed:,} failed: "
                f"{bound_keys(self, 'pairs.variants')} again retries them), "
                f"${progress.cost_usd:.4f}; {undo} removes them in one step"
            )

    def _regenerate_finished(self, message: RunFinished) -> None:
        self._note_write(texts=True)
        self.table.invalidate()
        self.reload()
        undo = bound_keys(self, "pairs.undo")
        if message.cancelled:
            self.app.notify(f"Regenerating cancelled; the new answers that arrived are kept ({undo} reverts them).")
        elif message.error is not None:
            self.app.report_error("regenerate", message.error)  # type: ignore[attr-defined]
        else:
            result: Any = message.result
            self.app.notify(
                f"Regenerated {result.changed:,} answers ({result.failed:,} kept their old answer), "
                f"${result.cost_usd:.4f}; {undo} reverts them in one step"
            )

    # ---- import ------------------------------------------------------------------------------
    def action_import_pairs(self) -> None:
        def done(path: str | None) -> None:
            if path and path.strip():
                self._import(path.strip(), None)

        self.app.push_screen(
            AskText(
                "Import pairs from a file: JSONL (JumpStart instruction or chat, question/answer, "
                "prompt/completion...) or CSV with a header row",
                placeholder="pairs.jsonl",
            ),
            done,
        )

    def _ask_mapping(self, path: str, keys: list[str]) -> None:
        """Unknown keys: which holds the question, then which the answer; then the import runs again."""
        choices = [(key, safe_line(key, 60)) for key in keys]

        def answer_picked(question: str, picked: tuple | None) -> None:
            if picked is not None:
                self._import(path, KeyMapping(question, picked[0]))

        def question_picked(picked: tuple | None) -> None:
            if picked is None:
                return
            rest = [choice for choice in choices if choice[0] != picked[0]]
            self.app.push_screen(
                ChoicePicker(f"Which key holds the answer? (question: {picked[0]})", rest),
                partial(answer_picked, picked[0]),
            )

        self.app.push_screen(
            ChoicePicker("Unknown keys in the file: which one holds the question?", choices), question_picked
        )

    @work(exclusive=True, group="pairs-import", exit_on_error=False)
    async def _import(self, path: str, mapping: KeyMapping | None) -> None:
        self._set_busy("importing pairs…")
        try:
            summary = await asyncio.to_thread(import_pairs, self.store, Path(path).expanduser(), mapping=mapping)
        except NeedsMapping as exc:
            self._ask_mapping(path, exc.keys)
            return
        except ValueError as exc:  # ImportFormatError: every bad line named, nothing imported
            self.app.notify(safe_line(f"Import failed: {exc}", 400), severity="error", timeout=15)
            return
        finally:
            self._set_busy("")
        self._note_write(texts=True)
        self.table.invalidate()
        self.reload()
        self.app.notify(
            safe_line(
                f"Imported {summary.added:,} pairs from {summary.file} ({summary.format})"
                + (f"; {summary.skipped:,} were already imported" if summary.skipped else ""),
                300,
            )
        )

    # ---- export ------------------------------------------------------------------------------
    def action_export(self) -> None:
        choices = [
            ("instruction", Content("instruction tuning: train.jsonl + template.json")),
            ("chat", Content('chat: {"dialog": [...]} per line')),
        ]

        def done(picked: tuple | None) -> None:
            if picked is not None:
                self._export(picked[0])

        self.app.push_screen(
            ChoicePicker(
                "Export a dataset version (every pair but the rejected, 20% validation) "
                + ("to a folder, to upload in the console" if in_console_mode(self) else "and upload it to S3"),
                choices,
                current="instruction",
            ),
            done,
        )

    def _ask_flagged(self, fmt: str, error: FlaggedRowsError) -> None:
        """Rows to export still carry curation flags: include them, leave them out, or cancel."""
        choices = [
            ("exclude", Content(f"leave the {error.count:,} flagged rows out")),
            ("include", Content(f"export the {error.count:,} flagged rows too")),
        ]

        def done(picked: tuple | None) -> None:
            if picked is not None:
                self._export(fmt, picked[0])

        self.app.push_screen(ChoicePicker(str(error), choices, current="exclude"), done)

    @work(exclusive=True, group="pairs-export", exit_on_error=False)
    async def _export(self, fmt: str, flagged: str | None = None) -> None:
        self._set_busy(f"exporting a {fmt} dataset…")
        try:
            folder = console_export_folder(self.store) if in_console_mode(self) else None  # console: no S3 call
            result = await asyncio.to_thread(
                export_dataset,
                self.store,
                self.config,
                format=fmt,
                out_dir=folder,
                upload=folder is None,
                flagged=flagged,
            )
        except FlaggedRowsError as exc:  # the user decides, then the export runs again
            self._ask_flagged(fmt, exc)
            return
        except ValueError as exc:  # nothing to export, no bucket: the user can act on it
            self.app.notify(safe_line(f"Export failed: {exc}", 300), severity="error", timeout=10)
            return
        finally:
            self._set_busy("")
        version = result.version
        self.app.notify(
            safe_line(
                f"Exported dataset {version.hash} ({version.format}): {version.train_count:,} train, "
                f"{version.validation_count:,} validation -> {result.s3_uri or folder or 'not uploaded'}"
                + (f"; {result.flagged:,} flagged rows {result.flagged_choice}d" if result.flagged else ""),
                300,
            ),
            timeout=10,
        )

    def _statuses(self, pair_ids: Sequence[int]) -> dict[int, str]:
        return {p.id: p.status for p in self.store.pairs_by_ids(pair_ids)}

"""Duplicate clusters, resolved together: keep one pair (the suggested keeper or another), reject the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.keys import hint
from tui.screens.ask import Confirm
from tui.screens.dialog import Dialog
from tui.text import safe, safe_line

if TYPE_CHECKING:
    from collections.abc import Sequence

    from textual.app import ComposeResult

    from core.curation.dedup import DuplicateCluster
    from core.store import Pair, Store

MAX_LISTED = 5_000


class DuplicateClusters(Dialog[int]):
    """Dismisses with how many pairs changed status."""

    DEFAULT_CSS = """
    DuplicateClusters > .dialog-body { height: 90%; }
    DuplicateClusters .title { margin-bottom: 1; }
    DuplicateClusters #dupes-lists { height: 1fr; }
    DuplicateClusters #dupes-clusters { width: 2fr; height: 1fr; }
    DuplicateClusters #dupes-members { width: 3fr; height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="dupes.close"),
        Binding("tab,right,l", "focus_list('members')", "Members", id="dupes.members"),
        Binding("shift+tab,left,h", "focus_list('clusters')", "Clusters", id="dupes.clusters"),
        Binding("j", "move(1)", "Down", show=False, id="dupes.down"),
        Binding("k", "move(-1)", "Up", show=False, id="dupes.up"),
        Binding(
            "space",
            "pick_keeper",
            "Make keeper",
            id="dupes.keeper",
            tooltip="Keep the highlighted member instead of the suggested one",
        ),
        Binding(
            "r",
            "resolve",
            "Resolve",
            id="dupes.resolve",
            tooltip="Keep the keeper, reject the other members of this cluster",
        ),
        Binding(
            "R",
            "resolve_all",
            "Resolve all",
            id="dupes.resolve_all",
            tooltip="Resolve every unresolved cluster with its keeper",
        ),
    ]

    def __init__(self, store: Store, clusters: Sequence[DuplicateCluster]) -> None:
        super().__init__()
        self.store = store
        self.clusters = list(clusters)[:MAX_LISTED]
        self.total = len(clusters)
        self.keepers = {index: c.keeper for index, c in enumerate(self.clusters)}
        self.resolved: set[int] = set()
        self.changed = 0
        self._keeper_pairs: dict[int, Pair] = {}
        self._members: list[Pair] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body wide"):
            more = f" (first {len(self.clusters):,} of {self.total:,})" if self.total > len(self.clusters) else ""
            yield Static(safe(f"Duplicate clusters: {self.total:,}{more}"), classes="title")
            with Horizontal(id="dupes-lists"):
                yield OptionList(id="dupes-clusters")
                yield OptionList(id="dupes-members")
            yield Static(
                hint(
                    self,
                    ("dupes.resolve", "keep the keeper, reject the rest"),
                    ("dupes.resolve_all", "resolve all"),
                    ("dupes.members", "members"),
                    ("dupes.keeper", "make the highlighted member the keeper"),
                    ("dupes.close", "close"),
                ),
                classes="hint",
            )

    def on_mount(self) -> None:
        keeper_ids = list(self.keepers.values())
        self._keeper_pairs = {p.id: p for p in self.store.pairs_by_ids(keeper_ids)}
        clusters = self.query_one("#dupes-clusters", OptionList)
        clusters.add_options([Option(self._cluster_label(i), id=str(i)) for i in range(len(self.clusters))])
        if self.clusters:
            clusters.highlighted = 0
        clusters.focus()
        self._show_members()

    # ---- labels ----------------------------------------------------------------------------
    def _cluster_label(self, index: int) -> Content:
        cluster = self.clusters[index]
        keeper = self._keeper_pairs.get(self.keepers[index])
        mark = "✓ " if index in self.resolved else "  "
        sim = "exact" if cluster.kind == "exact" else f"near {cluster.similarity:.2f}"
        head = f"{mark}{len(cluster.members)} pairs · {sim} · "
        question = keeper.question if keeper else f"#{self.keepers[index]}"
        style = "$text-muted" if index in self.resolved else ""
        return Content.assemble((head, style or "$text-muted"), safe_line(question, 120, style))

    def _member_label(self, pair: Pair, keeper: int) -> Content:
        mark = "★ keep " if pair.id == keeper else "       "
        return Content.assemble(
            (mark, "$success bold" if pair.id == keeper else ""),
            (f"#{pair.id} {pair.status:<8} ", "$text-muted"),
            safe_line(pair.question, 100),
            ("\n          ", ""),
            safe_line(pair.answer, 160, "$text-muted"),
        )

    @property
    def _current(self) -> int | None:
        return self.query_one("#dupes-clusters", OptionList).highlighted

    def _show_members(self) -> None:
        members = self.query_one("#dupes-members", OptionList)
        members.clear_options()
        index = self._current
        if index is None:
            self._members = []
            return
        self._members = self.store.pairs_by_ids(list(self.clusters[index].members))
        keeper = self.keepers[index]
        members.add_options([Option(self._member_label(p, keeper), id=str(p.id)) for p in self._members])
        members.highlighted = next((i for i, p in enumerate(self._members) if p.id == keeper), 0)

    def _relabel(self, index: int) -> None:
        self.query_one("#dupes-clusters", OptionList).replace_option_prompt_at_index(index, self._cluster_label(index))

    # ---- events and actions ----------------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "dupes-clusters":
            self._show_members()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_list.id == "dupes-members":
            self.action_pick_keeper()
        else:
            self.action_focus_list("members")

    def action_focus_list(self, which: str) -> None:
        self.query_one(f"#dupes-{which}", OptionList).focus()

    def action_move(self, step: int) -> None:
        focused = self.focused
        if isinstance(focused, OptionList):
            focused.action_cursor_down() if step > 0 else focused.action_cursor_up()

    def action_pick_keeper(self) -> None:
        index = self._current
        members = self.query_one("#dupes-members", OptionList)
        if index is None or members.highlighted is None or not self._members:
            return
        pair = self._members[members.highlighted]
        self.keepers[index] = pair.id
        self._keeper_pairs[pair.id] = pair
        for position, member in enumerate(self._members):
            members.replace_option_prompt_at_index(position, self._member_label(member, pair.id))
        self._relabel(index)

    def _changes(self, indices: Sequence[int]) -> dict[str, list[int]]:
        rejected: list[int] = []
        revived: list[int] = []
        statuses = {
            p.id: p.status for p in self.store.pairs_by_ids([m for i in indices for m in self.clusters[i].members])
        }
        for index in indices:
            keeper = self.keepers[index]
            rejected += [m for m in self.clusters[index].members if m != keeper and statuses.get(m) != "rejected"]
            if statuses.get(keeper) == "rejected":
                revived.append(keeper)
        return {"rejected": rejected, "pending": revived}

    def _apply(self, indices: Sequence[int]) -> None:
        changes = self._changes(indices)
        count = sum(len(ids) for ids in changes.values())
        if count:
            self.store.set_statuses(changes)
        self.changed += count
        for index in indices:
            self.resolved.add(index)
            self._relabel(index)

    def action_resolve(self) -> None:
        index = self._current
        if index is None:
            return
        self._apply([index])
        self._show_members()
        following = [i for i in range(index + 1, len(self.clusters)) if i not in self.resolved]
        if following:
            self.query_one("#dupes-clusters", OptionList).highlighted = following[0]

    def action_resolve_all(self) -> None:
        pending = [i for i in range(len(self.clusters)) if i not in self.resolved]
        if not pending:
            return
        members = sum(len(self.clusters[i].members) - 1 for i in pending)

        def done(yes: bool | None) -> None:
            if yes:
                self._apply(pending)
                self._show_members()

        self.app.push_screen(
            Confirm(
                f"Resolve {len(pending):,} clusters: keep each keeper and reject up to "
                f"{members:,} other pairs? (u undoes it in the Pairs pane)"
            ),
            done,
        )

    def action_close(self) -> None:
        self.dismiss(self.changed)

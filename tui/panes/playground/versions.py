"""Saved prompt versions with their record: runs, human and judge pick rates (share of side-by-side
comparisons won, ties as half, out of those decided), newest rehearsal score ± spread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.text import safe_line

if TYPE_CHECKING:
    from collections.abc import Sequence

    from core.playground.rounds import VersionStats


def _rate(rate: float | None, decided: int) -> str:
    return f"{rate:.0%}/{decided}" if rate is not None else "-"


def version_line(stats: VersionStats, mark: str = "") -> Content:
    v = stats.version
    rehearsal = f"{stats.rehearsal_mean:.2f}±{stats.rehearsal_sd or 0:.2f}" if stats.rehearsal_mean is not None else "-"
    return Content.assemble(
        (f"{mark or ' '} ", "$accent bold"),
        safe_line(v.name, 24, "bold"),
        (f" t{v.temperature:g} p{v.top_p:g} {v.max_tokens}", "$text-muted"),
        f" · runs {stats.runs} · you {_rate(stats.human_pick_rate, stats.human_decided)}"
        f" · judge {_rate(stats.judge_pick_rate, stats.judge_decided)} · rehearsal {rehearsal}",
    )


class VersionList(OptionList):
    """enter restores a version into the editor; a / b mark the two sides to compare; d diffs;
    r rehearses; e exports; w exports the winner; x clears the marks."""

    BINDINGS = [
        Binding("a", "command('mark_a')", "Mark as A", id="versions.mark_a"),
        Binding("b", "command('mark_b')", "Mark as B", id="versions.mark_b"),
        Binding("x", "command('clear_marks')", "Clear marks", id="versions.clear"),
        Binding("d", "command('diff')", "Diff", id="versions.diff"),
        Binding("r", "command('rehearse')", "Rehearse", id="versions.rehearse"),
        Binding("e", "command('export')", "Export", id="versions.export"),
        Binding("w", "command('export_winner')", "Export winner", id="versions.export_winner"),
    ]

    @dataclass
    class Command(Message):
        versions: VersionList
        command: str
        version_id: int | None

        @property
        def control(self) -> VersionList:
            return self.versions

    def show(self, stats: Sequence[VersionStats], marks: dict[str, int], *, highlight: int | None = None) -> None:
        selected = highlight if highlight is not None else self.selected_version
        by_id = {version_id: side for side, version_id in marks.items()}
        self.clear_options()
        self.add_options([Option(version_line(s, by_id.get(s.version.id, "")), id=str(s.version.id)) for s in stats])
        if stats:
            ids = [s.version.id for s in stats]
            self.highlighted = ids.index(selected) if selected in ids else len(ids) - 1

    @property
    def selected_version(self) -> int | None:
        if self.highlighted is None or self.option_count == 0:
            return None
        option = self.get_option_at_index(self.highlighted)
        return int(option.id) if option.id is not None else None

    def action_command(self, command: str) -> None:
        self.post_message(self.Command(self, command, self.selected_version))

"""Edit one pair's question and answer in TextAreas: ctrl+s saves, esc cancels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from core.safe_text import scrub
from tui.keys import hint
from tui.screens.dialog import Dialog
from tui.text import safe

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from core.store import Pair


@dataclass(frozen=True)
class PairEdit:
    """The fields the user changed (None: unchanged)."""

    pair_id: int
    question: str | None
    answer: str | None

    @property
    def changed(self) -> bool:
        return self.question is not None or self.answer is not None


class PairEditor(Dialog[PairEdit | None]):
    """The text is shown scrubbed of control characters (an escape sequence must not reach the
    terminal); a field the user leaves as it was is reported unchanged, so saving never rewrites it."""

    DEFAULT_CSS = """
    PairEditor > .dialog-body { height: 90%; }
    PairEditor .title { margin-bottom: 1; }
    PairEditor .label { color: $text-muted; }
    PairEditor #edit-question { height: 6; }
    PairEditor #edit-answer { height: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+s,ctrl+j", "save", "Save", id="pair_editor.save", tooltip="Save the pair"),
        Binding("escape", "cancel", "Cancel", id="pair_editor.cancel", tooltip="Close without saving"),
    ]

    def __init__(self, pair: Pair) -> None:
        super().__init__()
        self.pair = pair
        self._question = scrub(pair.question)
        self._answer = scrub(pair.answer)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body wide"):
            yield Static(safe(f"Edit pair #{self.pair.id}"), classes="title")
            yield Static("Question", classes="label")
            yield TextArea(self._question, soft_wrap=True, id="edit-question")
            yield Static("Answer", classes="label")
            yield TextArea(self._answer, soft_wrap=True, id="edit-answer")
            yield Static(
                hint(self, ("pair_editor.save", "save"), ("pair_editor.cancel", "cancel"), "tab: next field"),
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#edit-answer", TextArea).focus()

    def action_save(self) -> None:
        question = self.query_one("#edit-question", TextArea).text
        answer = self.query_one("#edit-answer", TextArea).text
        self.dismiss(
            PairEdit(
                self.pair.id,
                question if question != self._question else None,
                answer if answer != self._answer else None,
            )
        )

    def action_cancel(self) -> None:
        self.dismiss(None)

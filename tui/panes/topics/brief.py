"""The domain brief form that starts a topic tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.validation import Integer
from textual.widgets import Input, Label, Static, TextArea

from tui.keys import hint
from tui.screens.dialog import Dialog
from tui.text import safe

if TYPE_CHECKING:
    from textual.app import ComposeResult


@dataclass(frozen=True)
class BriefRequest:
    brief: str
    aspects: list[str]
    categories: int
    subtopics: int


class BriefForm(Dialog[BriefRequest | None]):
    BINDINGS = [
        Binding("ctrl+j,ctrl+s", "submit", "Generate", id="brief.submit"),
        Binding("escape", "cancel", "Cancel", id="brief.cancel"),
    ]

    def __init__(self, brief: str = "", aspects: list[str] | None = None) -> None:
        super().__init__()
        self.brief = brief
        self.aspects = aspects or []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body wide"):
            yield Label("Domain brief: who asks, about what, and what a good answer looks like")
            yield TextArea(self.brief, id="brief-text", soft_wrap=True)
            yield Label("Aspects you already know matter (separated by ';')")
            yield Input("; ".join(self.aspects), id="brief-aspects", placeholder="tariffs; meter readings; moving home")
            with Horizontal(classes="row"):
                yield Label("categories")
                yield Input("12", id="brief-categories", type="integer", validators=[Integer(1, 40)])
                yield Label("subtopics each")
                yield Input("12", id="brief-subtopics", type="integer", validators=[Integer(1, 40)])
            yield Static("", id="brief-error", classes="error")
            yield Static(
                hint(self, ("brief.submit", "generate"), ("brief.cancel", "cancel"), "tab: next field", every_key=True),
                classes="hint",
            )

    def action_submit(self) -> None:
        brief = self.query_one("#brief-text", TextArea).text.strip()
        error = self.query_one("#brief-error", Static)
        if not brief:
            error.update(safe("The brief is empty: describe the domain in a paragraph."))
            return
        counts = []
        for field_id in ("#brief-categories", "#brief-subtopics"):
            field = self.query_one(field_id, Input)
            if not field.is_valid or not field.value:
                error.update(safe(f"{field_id[7:]} must be a whole number from 1 to 40"))
                return
            counts.append(int(field.value))
        aspects = [a.strip() for a in self.query_one("#brief-aspects", Input).value.split(";") if a.strip()]
        self.dismiss(BriefRequest(brief, aspects, counts[0], counts[1]))

    def action_cancel(self) -> None:
        self.dismiss(None)

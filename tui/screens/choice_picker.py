"""A modal list to pick one value from (topics, flag codes): enter picks, esc cancels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.keys import hint
from tui.screens.dialog import Dialog
from tui.text import safe

if TYPE_CHECKING:
    from collections.abc import Sequence

    from textual.app import ComposeResult
    from textual.content import Content

T = TypeVar("T")


class ChoicePicker(Dialog["tuple | None"], Generic[T]):
    """Dismisses with a 1-tuple holding the chosen value (so None can be a choice), or None on esc.

    Labels are Content: build them with `tui.text.safe`/`safe_line` when they hold untrusted text.
    """

    DEFAULT_CSS = """
    ChoicePicker .title { margin-bottom: 1; }
    ChoicePicker OptionList { height: auto; max-height: 24; }
    """
    BINDINGS = [
        Binding("escape,q", "cancel", "Cancel", id="choice.cancel"),
        Binding("j", "move(1)", "Down", show=False, id="choice.down"),
        Binding("k", "move(-1)", "Up", show=False, id="choice.up"),
    ]

    def __init__(self, title: str, choices: Sequence[tuple[T, Content]], *, current: T | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body"):
            yield Static(safe(self.title_text), classes="title")
            yield OptionList(*[Option(label, id=str(i)) for i, (_, label) in enumerate(self.choices)], id="choice-list")
            yield Static(
                hint(self, "enter: pick", ("choice.cancel", "cancel"), (("choice.down", "choice.up"), "move")),
                classes="hint",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        for index, (value, _) in enumerate(self.choices):
            if value == self.current:
                options.highlighted = index
                break
        else:
            options.highlighted = 0 if self.choices else None
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss((self.choices[event.option_index][0],))

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)

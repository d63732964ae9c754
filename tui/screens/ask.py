"""Small modal dialogs: ask for one line of text, or confirm an action."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.keys import hint
from tui.screens.dialog import Dialog
from tui.text import safe

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.validation import Validator


class AskText(Dialog[str | None]):
    """One line of input; enter submits, esc cancels (returns None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ask.cancel")]

    def __init__(
        self,
        prompt: str,
        value: str = "",
        *,
        placeholder: str = "",
        validators: list[Validator] | None = None,
        input_type: str = "text",
    ) -> None:
        super().__init__()
        self.prompt = prompt
        self.value = value
        self.placeholder = placeholder
        self.validators = validators or []
        self.input_type = input_type

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body"):
            yield Static(safe(self.prompt))
            yield Input(
                self.value,
                placeholder=self.placeholder,
                validators=self.validators,
                type=self.input_type,
                id="ask-input",
            )  # type: ignore[arg-type]
            yield Static("", id="ask-error", classes="error")
            yield Static(hint(self, "enter: ok", ("ask.cancel", "cancel")), classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.query_one("#ask-error", Static).update(safe("; ".join(event.validation_result.failure_descriptions)))
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(Dialog[bool]):
    """y / enter confirms, n / esc declines."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body"):
            yield Static(safe(self.question))
            yield Static(hint(self, ("confirm.yes", "yes"), ("confirm.no", "no"), every_key=True), classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

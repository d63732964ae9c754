"""The evaluation settings dialog: the judge's rubric (editable), and the system prompt, temperature and
answer length both targets get. A changed setting starts a new evaluation instead of resuming."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.validation import Integer, Number
from textual.widgets import Input, Label, Static, TextArea

from core.evaluation.judge import EvalSettings, EvaluationError
from tui.keys import hint
from tui.screens.dialog import Dialog
from tui.text import safe

if TYPE_CHECKING:
    from textual.app import ComposeResult


class EvalSettingsForm(Dialog["EvalSettings | None"]):
    BINDINGS = [
        Binding("ctrl+j,ctrl+s", "submit", "Save", id="compare_settings.save"),
        Binding("escape", "cancel", "Cancel", id="compare_settings.cancel"),
        Binding("ctrl+r", "reset_rubric", "Default rubric", id="compare_settings.default_rubric"),
    ]

    def __init__(self, settings: EvalSettings) -> None:
        super().__init__()
        self.settings = settings

    def compose(self) -> ComposeResult:
        s = self.settings
        with Vertical(classes="dialog-body wide"):
            yield Label("Judge rubric (what makes one answer better than the other)")
            yield TextArea(s.rubric, id="settings-rubric", soft_wrap=True)
            yield Label("System prompt both targets get (empty: none)")
            yield Input(s.system_prompt, id="settings-system")
            with Horizontal(classes="row"):
                yield Label("temperature")
                yield Input(
                    f"{s.temperature:g}", id="settings-temperature", type="number", validators=[Number(0.0, 2.0)]
                )
                yield Label("top_p")
                yield Input(f"{s.top_p:g}", id="settings-top-p", type="number", validators=[Number(0.01, 1.0)])
                yield Label("max tokens")
                yield Input(
                    str(s.max_tokens), id="settings-max-tokens", type="integer", validators=[Integer(1, 32_000)]
                )
            yield Static("", id="settings-error", classes="error")
            yield Static(
                hint(
                    self,
                    ("compare_settings.save", "save"),
                    ("compare_settings.default_rubric", "default rubric"),
                    ("compare_settings.cancel", "cancel"),
                    "tab: next field",
                    every_key=True,
                ),
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#settings-rubric", TextArea).focus()

    def action_reset_rubric(self) -> None:
        self.query_one("#settings-rubric", TextArea).text = EvalSettings().rubric

    def action_submit(self) -> None:
        error = self.query_one("#settings-error", Static)
        fields = {name: self.query_one(f"#settings-{name}", Input) for name in ("temperature", "top-p", "max-tokens")}
        for name, field in fields.items():
            if not field.value.strip() or not field.is_valid:
                error.update(safe(f"{name.replace('-', ' ')}: {field.value!r} is out of range"))
                return
        settings = replace(
            self.settings,
            rubric=self.query_one("#settings-rubric", TextArea).text.strip(),
            system_prompt=self.query_one("#settings-system", Input).value,
            temperature=float(fields["temperature"].value),
            top_p=float(fields["top-p"].value),
            max_tokens=int(fields["max-tokens"].value),
        )
        try:
            settings.validate()
        except EvaluationError as exc:
            error.update(safe(str(exc)))
            return
        self.dismiss(settings)

    def action_cancel(self) -> None:
        self.dismiss(None)

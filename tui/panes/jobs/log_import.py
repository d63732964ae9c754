"""Import a training log for a run: a file downloaded from the CloudWatch console (text, CSV, JSON),
`aws logs` output or the training-metrics export, or text pasted in. core.training.log_import
reads it (in a worker: file I/O and one store transaction); an unreadable file names its line and
what was expected, imports nothing, and the dialog stays open."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static, TextArea

from core.training.log_import import ImportResult, import_log
from tui.keys import hint
from tui.screens.dialog import Dialog
from tui.text import safe

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from core.store import Store


@dataclass
class LogImported(Message):
    result: ImportResult


@dataclass
class LogRefused(Message):
    reason: str


class LogImportDialog(Dialog[ImportResult | None]):
    DEFAULT_CSS = """
    LogImportDialog #log-text { height: 8; }
    """
    BINDINGS = [
        Binding("ctrl+j", "import", "Import", id="log.import", tooltip="Import the file or the text"),
        Binding("escape", "cancel", "Cancel", id="log.cancel"),
    ]

    def __init__(self, store: Store, run_name: str) -> None:
        super().__init__()
        self.store = store
        self.run_name = run_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-body wide"):
            yield Static(safe(f"Import a training log for {self.run_name}"), classes="title")
            yield Static(
                safe("a file downloaded from CloudWatch (text, CSV or JSON), aws logs output or the metrics export:"),
                classes="hint",
            )
            yield Input(placeholder="path to the file, e.g. ~/Downloads/log-events-viewer-result.csv", id="log-path")
            yield Static(safe("or paste the log lines (used when the path is empty):"), classes="hint")
            yield TextArea(id="log-text", soft_wrap=False, show_line_numbers=True)
            yield Static("", id="log-error", classes="error")
            yield Static(
                hint(self, "tab: next field", ("log.import", "import"), ("log.cancel", "cancel")), classes="hint"
            )

    def on_mount(self) -> None:
        self.query_one("#log-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_import()

    def action_import(self) -> None:
        path = self.query_one("#log-path", Input).value.strip()
        text = self.query_one("#log-text", TextArea).text
        if not path and not text.strip():
            self.on_log_refused(LogRefused("give the path of a file, or paste the log lines"))
            return
        self._import(path, text)

    @work(thread=True, exclusive=True, group="log-import", exit_on_error=False)
    def _import(self, path: str, text: str) -> None:
        try:
            if path:
                result = import_log(self.store, self.run_name, path=Path(path).expanduser())
            else:
                result = import_log(self.store, self.run_name, text=text)
        except ValueError as exc:  # LogImportError names the line and what was expected
            self.post_message(LogRefused(str(exc)))
            return
        self.post_message(LogImported(result))

    def on_log_refused(self, message: LogRefused) -> None:
        self.app.bell()
        self.query_one("#log-error", Static).update(safe(f"nothing imported: {message.reason}"))

    def on_log_imported(self, message: LogImported) -> None:
        self.dismiss(message.result)

    def action_cancel(self) -> None:
        self.dismiss(None)

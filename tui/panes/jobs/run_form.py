"""Record a run started in the SageMaker console, or edit one: a keyboard form over
core.league.runs (record_console_run, edit_console_run), which decides what is valid.

A plan card (the cards the sweep builder last planned for the console) fills the name, instance,
dataset and hyperparameters; anything can be typed instead. Saving runs in a worker; a refusal
(a name taken, a bad time or duration) is shown in the form, which stays open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from core.league.runs import (
    RunError,
    RunInput,
    edit_console_run,
    parse_duration,
    parse_hyperparameters,
    parse_time,
    record_console_run,
    run_from_card_dict,
)
from core.store.league import CONSOLE_STATUSES, IN_PROGRESS
from tui.keys import hint
from tui.screens.dialog import Dialog
from tui.text import safe

if TYPE_CHECKING:
    from collections.abc import Mapping

    from textual.app import ComposeResult

    from core.config import Config
    from core.store import Store
    from core.store.league import ConsoleRun

FIELDS = ("name", "instance", "hyperparameters", "dataset", "start", "end", "duration", "twin", "note")
PLACEHOLDERS = {
    "name": "td-<session>-<dataset hash>-01 (a card's suggested job name)",
    "instance": "ml.g5.12xlarge",
    "hyperparameters": "epoch=3 learning_rate=0.0001 (NAME=VALUE, space-separated)",
    "dataset": "dataset hash or prefix, 'latest', or empty: the hash in the name",
    "start": "2025-06-30T14:05 or now",
    "end": "2025-06-30T15:35 or now (empty while it runs)",
    "duration": "1h30m, 90m or 1:30 (instead of the end)",
    "twin": "the API job trained the same way in the practice account (optional)",
    "note": "",
}


@dataclass
class RunSaved(Message):
    run: ConsoleRun


@dataclass
class RunRefused(Message):
    reason: str


def _moment(timestamp: float | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp).isoformat(timespec="minutes")


def _minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:g}m"


def initial_values(run: ConsoleRun, dataset_hash: str | None, twin_name: str | None) -> dict[str, str]:
    """The form's fields for an existing run."""
    return {
        "name": run.name,
        "instance": run.instance_type,
        "hyperparameters": " ".join(f"{k}={v}" for k, v in run.hyperparameters.items()),
        "dataset": dataset_hash or "",
        "start": _moment(run.started_at),
        "end": _moment(run.ended_at),
        "duration": "" if run.ended_at is not None else _minutes(run.duration_s),
        "twin": twin_name or "",
        "note": run.note,
    }


def changed_fields(values: Mapping[str, str], status: str, before: Mapping[str, str], now: float) -> dict[str, Any]:
    """What edit_console_run gets: the fields that differ from `before` (raises RunError on a bad value)."""
    changes: dict[str, Any] = {"status": status}
    parsers = {
        "instance": ("instance_type", str),
        "hyperparameters": ("hyperparameters", lambda text: parse_hyperparameters(text.split())),
        "dataset": ("dataset", lambda text: text or None),
        "start": ("started_at", lambda text: parse_time(text, now) if text else None),
        "end": ("ended_at", lambda text: parse_time(text, now) if text else None),
        "duration": ("duration_s", lambda text: parse_duration(text) if text else None),
        "twin": ("twin", lambda text: text or None),
        "note": ("note", str),
    }
    for name, (field_name, parse) in parsers.items():
        if values[name] != before.get(name, ""):
            changes[field_name] = parse(values[name])
    return changes


def new_run(values: Mapping[str, str], status: str, card: Mapping[str, Any] | None, now: float) -> RunInput:
    """The RunInput the form describes (raises RunError on a bad value)."""
    fields: dict[str, Any] = {
        "name": values["name"],
        "instance_type": values["instance"],
        "hyperparameters": parse_hyperparameters(values["hyperparameters"].split()),
        "dataset": values["dataset"] or None,
        "status": status,
        "started_at": parse_time(values["start"], now) if values["start"] else None,
        "ended_at": parse_time(values["end"], now) if values["end"] else None,
        "duration_s": parse_duration(values["duration"]) if values["duration"] else None,
        "twin": values["twin"] or None,
        "note": values["note"],
    }
    if card is not None and card.get("job_name") == values["name"]:
        return run_from_card_dict(card, **fields)
    return RunInput(**fields)


class RunForm(Dialog["ConsoleRun | None"]):
    """Add a console run (`existing` None) or edit one; returns the saved run, or None when cancelled."""

    DEFAULT_CSS = """
    RunForm #run-form { height: auto; max-height: 14; }
    RunForm .run-field { height: 1; }
    RunForm .run-field Label { width: 18; color: $text-muted; }
    RunForm .run-field Input, RunForm .run-field Select { width: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+j", "save", "Save", id="run.save", tooltip="Record the run (or save the edit)"),
        Binding("escape", "cancel", "Cancel", id="run.cancel"),
    ]

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        cards: Mapping[str, Mapping[str, Any]] | None = None,
        existing: ConsoleRun | None = None,
        before: Mapping[str, str] | None = None,
        card: str | None = None,
    ) -> None:
        super().__init__()
        self.selected_card = card if card in (cards or {}) else None
        self.store = store
        self.config = config
        self.cards = dict(cards or {})
        self.existing = existing
        self.before = dict(before or {})

    def compose(self) -> ComposeResult:
        editing = self.existing is not None
        title = f"Edit console run {self.existing.name}" if self.existing else "Record a run started in the console"
        with Vertical(classes="dialog-body wide"):
            yield Static(safe(title), classes="title")
            with VerticalScroll(id="run-form"):
                if self.cards and not editing:
                    options = [(Text(name), name) for name in self.cards]
                    select = Select(
                        options,
                        prompt="type it in",
                        value=self.selected_card or Select.NULL,
                        compact=True,
                        id="run-card",
                    )
                    yield self._row("from plan card", select)
                for name in FIELDS:
                    if name == "name" and editing:
                        continue
                    value = self.before.get(name, "")
                    yield self._row(name, Input(value, placeholder=PLACEHOLDERS[name], compact=True, id=f"run-{name}"))
                status = self.existing.status if self.existing else IN_PROGRESS
                statuses = [(Text(s), s) for s in CONSOLE_STATUSES]
                yield self._row(
                    "status", Select(statuses, value=status, allow_blank=False, compact=True, id="run-status")
                )
            yield Static("", id="run-error", classes="error")
            yield Static(
                hint(self, "tab: next field", ("run.save", "save"), ("run.cancel", "cancel")),
                classes="hint",
            )

    @staticmethod
    def _row(label: str, widget: Any) -> Horizontal:
        return Horizontal(Label(label), widget, classes="run-field")

    def on_mount(self) -> None:
        self.query(Input).first().focus()
        if self.selected_card:
            self._fill(self.selected_card)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "run-card" and event.value != Select.NULL:
            self._fill(str(event.value))

    def _fill(self, card_name: str) -> None:
        card = self.cards[card_name]
        filled = {
            "name": card["job_name"],
            "instance": card["instance_type"],
            "hyperparameters": " ".join(f"{k}={v}" for k, v in card["hyperparameters"].items()),
            "dataset": card.get("dataset") or "",
        }
        for name, value in filled.items():
            self.query_one(f"#run-{name}", Input).value = value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def values(self) -> dict[str, str]:
        out = {name: widget.value.strip() for name in FIELDS for widget in self.query(f"#run-{name}").results(Input)}
        if self.existing is not None:
            out["name"] = self.existing.name
        return out

    def action_save(self) -> None:
        card_select = self.query("#run-card").results(Select)
        card_name = next((str(s.value) for s in card_select if s.value != Select.NULL), None)
        status = str(self.query_one("#run-status", Select).value)
        self._save(self.values(), status, self.cards.get(card_name) if card_name else None)

    @work(thread=True, exclusive=True, group="run-save", exit_on_error=False)
    def _save(self, values: dict[str, str], status: str, card: Mapping[str, Any] | None) -> None:
        now = time.time()
        try:
            if self.existing is None:
                run = record_console_run(self.store, self.config, new_run(values, status, card, now))
            else:
                run = edit_console_run(
                    self.store, self.existing.name, **changed_fields(values, status, self.before, now)
                )
        except RunError as exc:
            self.post_message(RunRefused(str(exc)))
            return
        self.post_message(RunSaved(run))

    def on_run_refused(self, message: RunRefused) -> None:
        self.app.bell()
        self.query_one("#run-error", Static).update(safe(message.reason))

    def on_run_saved(self, message: RunSaved) -> None:
        self.dismiss(message.run)

    def action_cancel(self) -> None:
        self.dismiss(None)

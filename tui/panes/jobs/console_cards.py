"""Console mode's sweep builder and its recipe cards.

The builder is the sweep builder's form; its plan is core.training.console.plan_console_sweep (no
AWS call; the dataset may be the folder the Pairs pane exported to), and ctrl+j shows the cards
instead of launching. A plan that passes the training hours left, or cannot finish before the
close (core.league.ledger.check_plan), says so and asks first. The cards view shows the plain
text the terminal can copy, writes the Markdown and CSV files in a worker, and starts the form
that records a run from a card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Static

from core.league.runs import remember_cards
from core.training.console import ConsolePlan, plan_console_sweep, render_csv, render_markdown, render_text
from tui.account_mode import console_export_folder
from tui.keys import bound_keys, hint
from tui.panes.jobs.sweep_builder import SweepBuilder, limit_problems
from tui.screens.ask import Confirm
from tui.text import safe

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from core.config import Config
    from core.store import Store
    from core.training.console import RecipeCard
    from core.training.jobs import SweepSpec


@dataclass(frozen=True)
class PlannedCards:
    """What the console builder returns: the cards the user chose to show."""

    plan: ConsolePlan


class ConsoleSweepBuilder(SweepBuilder):
    def __init__(self, service: Any, *, store: Store, config: Config, **kwargs: Any) -> None:
        super().__init__(service, **kwargs)
        self.store = store
        self.config = config
        self.console_plan: ConsolePlan | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#sweep-body > Static").update(safe("New sweep for the console: recipe cards"))

    def make_plan(self, spec: SweepSpec) -> Any:
        folder = console_export_folder(self.store)
        console = plan_console_sweep(self.store, self.config, spec, export_folder=folder if folder.is_dir() else None)
        self.console_plan, self.limit_problems = console, limit_problems(self.store, self.config, console.plan)
        return console.plan

    def on_plan_computed(self, message: Any) -> None:
        super().on_plan_computed(message)
        self.query_one("#sweep-eula", Checkbox).display = False  # accepted in the console form; the card says so

    def action_launch(self) -> None:
        if self._planned_generation != self._generation or self._debounce is not None:
            self._refuse(f"still planning: wait for the plan, then press {bound_keys(self, 'sweep.launch')} again")
            return
        console = self.console_plan
        if self.plan is None or console is None or console.plan is not self.plan:
            self._refuse("nothing to show: " + ("; ".join(self.errors) or "fix the fields first"))
            return
        if not self.limit_problems:
            self.dismiss(PlannedCards(console))
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(PlannedCards(console))

        question = "\n".join(self.limit_problems) + "\nShow the cards to start these runs anyway?"
        self.app.push_screen(Confirm(question), answered)


@dataclass
class CardsWritten(Message):
    text: str


class CardsView(ModalScreen["str | None"]):
    """The cards as plain text; returns the name of the card to record a run from, or None."""

    DEFAULT_CSS = """
    CardsView { align: center middle; background: $background 60%; }
    CardsView > #cards-body { width: 110; max-width: 98%; height: 92%; border: round $primary;
        background: $surface; padding: 0 1; }
    CardsView #cards-text { height: 1fr; }
    CardsView .title { text-style: bold; }
    CardsView .hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("w", "write", "Write files", id="cards.write", tooltip="Write the cards as Markdown and CSV"),
        Binding("a", "add_run", "Record a run", id="cards.add_run", tooltip="Record a run started from a card"),
        Binding("escape,q", "close", "Close", id="cards.close"),
    ]

    def __init__(self, store: Store, cards: tuple[RecipeCard, ...], problems: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.store = store
        self.cards = cards
        self.problems = problems

    def compose(self) -> ComposeResult:
        with Vertical(id="cards-body"):
            yield Static(safe(f"{len(self.cards)} recipe card(s) for the JumpStart console"), classes="title")
            with VerticalScroll(id="cards-text"):
                yield Static(safe(render_text(self.cards)), id="cards-plain")
            warnings = "\n".join(f"warning: {p}" for p in self.problems)
            yield Static(safe(warnings), id="cards-status", classes="hint")
            yield Static(
                hint(
                    self,
                    ("cards.write", "write Markdown and CSV"),
                    ("cards.add_run", "record a run from a card"),
                    ("cards.close", "close"),
                ),
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#cards-text").focus()
        self._remember()

    @work(thread=True, group="cards", exit_on_error=False)
    def _remember(self) -> None:
        remember_cards(self.store, list(self.cards))  # `runs add NAME` and the run form start from them

    def action_write(self) -> None:
        self._write(Path(self.store.path).parent)

    @work(thread=True, exclusive=True, group="cards-write", exit_on_error=False)
    def _write(self, folder: Path) -> None:
        written = []
        for name, render in (("cards.md", render_markdown), ("cards.csv", render_csv)):
            path = folder / name
            path.write_text(render(list(self.cards)), encoding="utf-8")
            written.append(str(path))
        self.post_message(CardsWritten(f"wrote {len(self.cards)} card(s) to {' and '.join(written)}"))

    def on_cards_written(self, message: CardsWritten) -> None:
        self.query_one("#cards-status", Static).update(safe(message.text))
        self.app.notify(safe(message.text))

    def action_add_run(self) -> None:
        self.dismiss(self.cards[0].job_name if self.cards else None)

    def action_close(self) -> None:
        self.dismiss(None)

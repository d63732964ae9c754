"""The tunedeck App: five panes switched with 1-5, a command palette, a status bar and help."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import ContentSwitcher
from textual.worker import Worker, WorkerState

from core.league.mode import CONSOLE
from core.safe_text import one_line
from core.services import Services
from tui.account_mode import AccountModeChanged, ModeShown, ask_to_switch, session_mode
from tui.commands import PaneCommands
from tui.keys import keys_label, read_alt_digits_as_alt
from tui.messages import IdentityResolved, StatusRefreshed
from tui.panes import FIRST_PANE, PANES, pane_class
from tui.panes.base import Pane
from tui.screens.help import HelpScreen
from tui.screens.live_resources import LiveAtQuit, LiveResourcesScreen
from tui.text import safe
from tui.widgets.cost_meter import CostMeter
from tui.widgets.key_bar import KeyBar
from tui.widgets.status_bar import StatusBar
from tui.widgets.title_bar import TitleBar

if TYPE_CHECKING:
    from core.config import Config
    from core.store import Store

STATUS_REFRESH_SECONDS = 2.0

read_alt_digits_as_alt()


class TunedeckApp(App[None]):
    CSS_PATH = Path(__file__).parent / "app.tcss"  # a pane's layout (Pane.STYLESHEET) is read when it first mounts
    TITLE = "tunedeck"
    COMMANDS = App.COMMANDS | {PaneCommands}
    BINDINGS = [
        *[
            Binding(
                str(index),
                f"show_pane('{pane_id}')",
                title,
                id=f"pane.{pane_id}",
                tooltip=f"Show the {title} pane",
                show=False,
            )  # the title bar lists them
            for index, (pane_id, title) in enumerate(PANES.items(), start=1)
        ],
        *[  # the same from inside a text field, where a plain digit is typed
            Binding(
                f"alt+{index}",
                f"show_pane('{pane_id}')",
                PANES[pane_id],
                id=f"pane.{pane_id}.alt",
                priority=True,
                show=False,
            )
            for index, pane_id in enumerate(PANES, start=1)
        ],
        Binding("f1,question_mark", "help", "Help", id="app.help", tooltip="List the keys"),
        Binding(
            "f2",
            "account_mode",
            "Account mode",
            id="app.account_mode",
            tooltip="Switch the session between api and console mode (asks first)",
        ),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True, tooltip="Quit tunedeck"),
    ]

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        demo: bool = False,
        check_identity: bool = True,
        status_interval: float = STATUS_REFRESH_SECONDS,
    ) -> None:
        super().__init__()
        self.store = store
        self.config = config
        self.services = Services(store, config)
        self.demo = demo
        self.check_identity = check_identity
        self.status_interval = status_interval
        self._status_timer = None
        self._status_bar: StatusBar | None = None
        if config.ui.keymap:  # before compose: hints are written with the keys bound after the keymap
            self.set_keymap(config.ui.keymap)

    def compose(self) -> ComposeResult:
        yield TitleBar(self.demo)
        with ContentSwitcher(initial=f"pane-{FIRST_PANE}", id="panes"):
            yield self._new_pane(FIRST_PANE)
        with Horizontal(id="status-row"):
            yield StatusBar(ascii_only=self.config.ui.ascii, id="status")
            yield CostMeter(id="cost-meter")
        yield KeyBar(ascii_only=self.config.ui.ascii, id="key-bar")

    def on_mount(self) -> None:
        self._apply_theme()
        self.set_class(self.config.ui.ascii, "-ascii")  # app.tcss swaps box-drawing borders for ASCII
        status = self._status_bar = self.query_one(StatusBar)
        status.session = self.store.name
        generator = self.config.llm.generator
        status.llm = f"{generator.provider}:{generator.model}"
        self._show_mode(session_mode(self))
        if not self.check_identity:
            status.identity = "AWS check off"
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self) -> None:
        """Work that must not delay the first frame: AWS identity and the session counts."""
        if self.check_identity and session_mode(self) != CONSOLE:
            self._lookup_identity()
        self._refresh_status()
        self._status_timer = self.set_interval(self.status_interval, self._refresh_status)

    def _apply_theme(self) -> None:
        theme = self.config.ui.theme
        if theme in self.available_themes:
            self.theme = theme
        else:
            self.notify(safe(f"unknown theme {theme!r} in [ui] theme; using the default"), severity="warning")

    @work(thread=True, exclusive=True, group="identity", exit_on_error=False)
    def _lookup_identity(self) -> None:
        from core.aws_identity import lookup_identity  # it is the module that loads boto3; not at start-up

        identity = lookup_identity(self.config.aws)
        self.post_message(IdentityResolved(identity.label, identity.online))

    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def _refresh_status(self) -> None:
        self.post_message(StatusRefreshed(self.store.status_counts()))

    def on_identity_resolved(self, message: IdentityResolved) -> None:
        status = self._status_bar
        if status is None:
            return
        status.identity = message.label
        status.set_class(not message.online, "-offline")

    def on_status_refreshed(self, message: StatusRefreshed) -> None:
        if self._status_bar is not None:
            self._status_bar.counts = message.counts

    @property
    def active_pane(self) -> Pane:
        switcher = self.query_one("#panes", ContentSwitcher)
        return self.query_one(f"#{switcher.current}", Pane)

    async def action_show_pane(self, pane_id: str) -> None:
        if pane_id not in PANES:
            return
        switcher = self.query_one("#panes", ContentSwitcher)
        if switcher.current == f"pane-{pane_id}":
            return
        if switcher.query_one_optional(f"#pane-{pane_id}") is None:
            await switcher.mount(self._new_pane(pane_id))
        previous = self.active_pane
        switcher.current = f"pane-{pane_id}"
        previous.pane_hidden()
        pane = self.active_pane
        pane.pane_shown()
        pane.focus_first()

    def _new_pane(self, pane_id: str) -> Pane:
        """Parsing CSS is a good part of start-up, so a pane's stylesheet is read just before it first mounts."""
        cls = pane_class(pane_id)
        path = cls.stylesheet_path()
        if path is not None and not self.stylesheet.has_source(str(path)):
            self.stylesheet.read(path)
        return cls(self.store, self.config)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        sections = [("tunedeck", self._binding_rows(self.BINDINGS))]
        pane = self.active_pane
        pane_rows = self._binding_rows(getattr(pane, "BINDINGS", []))
        for child in pane.query("*"):
            pane_rows.extend(self._binding_rows(getattr(child, "BINDINGS", [])))
        if pane_rows:
            sections.append((f"{pane.TITLE} pane", _unique(pane_rows)))
        sections.append(("palette", [("ctrl+p", "command palette: type 'go:' to switch panes")]))
        self.push_screen(HelpScreen(sections))

    def _binding_rows(self, bindings) -> list[tuple[str, str]]:
        """(keys, what they do) for help: the keys bound now, the [ui] keymap's where it remaps them."""
        rows = []
        for binding in bindings:
            if isinstance(binding, Binding):
                keys = self._keymap.get(binding.id, binding.key) if binding.id else binding.key
                rows.append((keys_label(keys, ", "), binding.description or binding.action))
            elif isinstance(binding, tuple) and len(binding) >= 3:
                rows.append((binding[0], binding[2]))
        return rows

    def action_account_mode(self) -> None:
        ask_to_switch(self)

    def on_account_mode_changed(self, message: AccountModeChanged) -> None:
        self._show_mode(message.mode)
        self.notify(safe(f"session {self.store.name} is in {message.mode} mode"))
        if message.mode != CONSOLE and self.check_identity:
            self._lookup_identity()
        for pane in self.query(Pane):  # their hints and actions follow the mode
            pane.post_message(ModeShown(message.mode))

    def _show_mode(self, mode: str) -> None:
        status = self._status_bar
        if status is None:
            return
        status.mode = mode
        if mode == CONSOLE:  # no identity lookup: console mode makes no AWS call
            status.identity = "no AWS calls"
            status.set_class(False, "-offline")

    def regenerate_answers(self, pair_ids: list[int]) -> int:
        """Blocking (the Pairs pane calls it in a worker thread): new answers for these pairs."""
        from core.generation.generate import GenerationSettings, regenerate_answers  # not a start-up cost

        gen = self.config.generation
        settings = GenerationSettings(
            questions_per_topic=gen.questions_per_topic,
            refusal_share=gen.refusal_share,
            answer_style=gen.answer_style,
            max_concurrency=self.config.llm.generator.max_concurrency,
        )

        async def run() -> tuple[int, list[str]]:
            target = self.services.chat_target("generator")
            try:
                return await regenerate_answers(self.store, target, settings, pair_ids)
            finally:
                await target.aclose()

        done, errors = asyncio.run(run())
        if errors:
            self.call_from_thread(
                self.notify, safe(f"{len(errors)} answer(s) not regenerated: {errors[0]}"), severity="warning"
            )
        return done

    async def action_quit(self) -> None:
        """Quit, but first show what still bills (endpoints in service, jobs running) and offer to end it;
        ctrl+q again in that dialog quits."""
        if isinstance(self.screen, LiveResourcesScreen):
            self.exit()
            return
        self._find_live_resources()

    @work(thread=True, exclusive=True, group="quit-check", exit_on_error=False)
    def _find_live_resources(self) -> None:
        from core.serving.endpoints import live_resources  # loads boto3's helpers; not a start-up cost

        try:
            found = live_resources(self.store, self.config)
        except Exception as exc:  # the store is unreadable: say so and quit as asked
            self.call_from_thread(self.report_error, "quit", exc)
            found = []
        self.post_message(LiveAtQuit(found))

    def on_live_at_quit(self, message: LiveAtQuit) -> None:
        if not message.resources:
            self.exit()
            return

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        self.push_screen(LiveResourcesScreen(self.store, self.config, message.resources), answered)

    def report_error(self, where: str, error: BaseException) -> None:
        """An error becomes a notification and a line in the session log; the app keeps running."""
        text = f"{where}: {one_line(error, 300)}"
        try:
            self.store.log("error", where, text)
        except Exception:  # the log must never take the app down with it
            pass
        self.notify(safe(text), severity="error", timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.report_error(event.worker.name or "background task", event.worker.error)


def _unique(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    return [r for r in rows if not (r in seen or seen.add(r))]

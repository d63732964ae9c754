"""Command palette commands: "go: <pane>", pane actions the footer leaves out, and a few app-wide actions."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.panes import PANES

if TYPE_CHECKING:
    from collections.abc import Callable


PANE_ACTIONS = [  # a pane's keys that its footer leaves out, found here by name
    ("jobs", "quotas", "jobs: Quotas", "the pool's training quotas; ask for more where a type has no slot"),
    ("jobs", "storage", "jobs: Storage", "this session's S3 objects with sizes and monthly cost; delete some"),
]


class PaneCommands(Provider):
    """Palette commands: "go: <pane>", a few pane actions and a few app-wide actions."""

    async def _run_in_pane(self, pane_id: str, action: str) -> None:
        app = self.app
        await app.action_show_pane(pane_id)
        await app.active_pane.run_action(action)

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self.app
        commands = [
            (f"go: {title}", partial(app.call_later, app.action_show_pane, pane_id), f"switch to the {title} pane")
            for pane_id, title in PANES.items()
        ]
        for pane_id, action, title, help_text in PANE_ACTIONS:
            commands.append((title, partial(app.call_later, self._run_in_pane, pane_id, action), help_text))
        commands.append(("app: Help", app.action_help, "list the keys"))
        commands.append(
            ("app: Account mode", app.action_account_mode, "switch the session between api and console mode")
        )
        commands.append(("app: Quit", app.action_quit, "leave tunedeck"))
        return commands

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)

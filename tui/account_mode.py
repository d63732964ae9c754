"""The session's account mode in the app: shown in the status bar, switched after asking, and the
one-line reason an AWS action gives instead of running in console mode (core.league.mode decides)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from core.league.mode import API, CONSOLE, account_mode, set_account_mode, unavailable_reason
from tui.screens.ask import Confirm
from tui.text import safe

if TYPE_CHECKING:
    from textual.dom import DOMNode

EXPORT_FOLDER = "console-export"
"""The folder of the session the Pairs pane exports to in console mode (its files are uploaded in the console)."""

SWITCH_QUESTIONS = {
    CONSOLE: (
        "Switch this session to console mode?\n"
        "tunedeck then makes no training, deploy or endpoint call and needs no AWS credentials: the sweep "
        "builder prints recipe cards for the JumpStart console, runs are recorded by hand and their logs imported."
    ),
    API: (
        "Switch this session to api mode?\n"
        "tunedeck then calls AWS with this machine's credentials: it launches and polls training jobs and "
        "deploys endpoints (practice in your own account, not the event's)."
    ),
}


@dataclass
class AccountModeChanged(Message):
    """The session's account mode is now `mode`."""

    mode: str


@dataclass
class ModeShown(Message, bubble=False):
    """Sent by the app to each pane after the mode changed: show what the mode allows."""

    mode: str


def console_export_folder(store: Any) -> Path:
    return Path(store.path).parent / EXPORT_FOLDER


def session_mode(node: DOMNode) -> str:
    app = node.app
    return account_mode(app.store, app.config)  # type: ignore[attr-defined]


def in_console_mode(node: DOMNode) -> bool:
    return session_mode(node) == CONSOLE


def refused_in_console(node: DOMNode, action: str) -> bool:
    """True (after saying why in one line) when `action` needs AWS and the session is in console mode."""
    reason = unavailable_reason(action, session_mode(node))
    if reason is None:
        return False
    node.app.notify(safe(reason), severity="warning", timeout=8)
    return True


def ask_to_switch(node: DOMNode) -> None:
    """Ask before switching the session to the other mode; the app hears AccountModeChanged."""
    app = node.app
    target = API if session_mode(node) == CONSOLE else CONSOLE

    def answered(yes: bool | None) -> None:
        if yes:
            app.run_worker(
                lambda: _switch(node, target), thread=True, group="account-mode", description="switch account mode"
            )

    app.push_screen(Confirm(SWITCH_QUESTIONS[target]), answered)


def _switch(node: DOMNode, mode: str) -> None:
    app = node.app
    set_account_mode(app.store, mode)  # type: ignore[attr-defined]
    app.post_message(AccountModeChanged(mode))

"""Typed messages the app and panes exchange."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class StatusRefreshed(Message):
    """Fresh session counts for the status bar (coalesced: only the latest matters)."""

    counts: dict[str, Any]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatusRefreshed)


@dataclass
class IdentityResolved(Message):
    """Who we are on AWS, or why we are offline."""

    label: str
    online: bool


@dataclass
class RunFinished(Message, bubble=False):
    """A BackgroundRun ended: with its result, or the error that stopped it, or cancelled by the user."""

    label: str
    result: object
    error: BaseException | None
    cancelled: bool

"""Keys as a terminal delivers them over SSH: several in one read, queued before the app handles the first.

Pilot's `press` waits for the app to go idle after every key, which hides bugs where a binding acts
before the keys typed ahead of it have reached their widget. `send_burst` posts them all at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.keys import _character_to_key

if TYPE_CHECKING:
    from textual.app import App


def key_event(key: str) -> events.Key:
    """The event the driver makes for `key`: a character ("s", "/") or a key name ("ctrl+j", "tab")."""
    if len(key) == 1:
        return events.Key(key if key.isalnum() else _character_to_key(key), key)
    return events.Key(key, None)


def send_burst(app: App[object], *keys: str) -> None:
    for key in keys:
        app.post_message(key_event(key))

"""The safe-text helper strips escapes and controls and never parses markup."""

from __future__ import annotations

import socket

import pytest

from core.safe_text import one_line, scrub
from tests.conftest import OutboundConnectionBlocked
from tui.text import safe, safe_rich

HOSTILE = (
    "[/] [@click=app.quit]x[/] [$accent]v [link=http://e.invalid]l[/link] "
    "\x1b[2J\x1b]0;title\x07 a\rb \x00 \u202eevil \u05e9\u05dc\u05d5\u05dd 🎉"
)


def test_scrub_removes_escapes_and_controls_keeps_text():
    cleaned = scrub(HOSTILE)
    assert "\x1b" not in cleaned and "\x00" not in cleaned and "\x07" not in cleaned
    assert "title" not in cleaned  # the OSC payload goes with its sequence
    assert "[@click=app.quit]x[/]" in cleaned and "שלום" in cleaned and "🎉" in cleaned
    assert "\u202e" not in cleaned
    assert "a\nb" in cleaned
    assert one_line("a\nb\tc", 4) == "a b…"


def test_content_and_text_stay_literal():
    assert "[link=http://e.invalid]" in safe(HOSTILE).plain
    text = safe_rich(HOSTILE)
    assert "[@click=app.quit]" in text.plain and not text.spans


def test_socket_guard_blocks_outside_addresses():
    with pytest.raises(OutboundConnectionBlocked):
        socket.create_connection(("198.51.100.7", 443), timeout=1)
    with pytest.raises(OutboundConnectionBlocked):
        socket.getaddrinfo("example.com", 443)

"""Make untrusted text (LLM output, imported files, AWS errors) safe to show in a terminal.

Escape sequences (CSI, OSC, DCS, ...) are removed whole, then every remaining C0/C1 control
character except newline and tab is dropped. Markup is not this module's concern: the UI wraps
the result in a Content/Text object so it is never parsed.
"""

from __future__ import annotations

import re

_ESCAPE_SEQUENCE = re.compile(
    r"""
    \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?      # OSC ... BEL or ST (also unterminated)
    | \x1b[P^_X][^\x1b]*(?:\x1b\\)?         # DCS, PM, APC, SOS ... ST
    | \x1b\[[0-?]*[ -/]*[@-~]               # CSI
    | \x9b[0-?]*[ -/]*[@-~]                 # 8-bit CSI
    | \x1b[@-Z\\-_]                         # other two-byte escapes
    """,
    re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BIDI_OVERRIDES = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def scrub(text: object, *, keep_newlines: bool = True) -> str:
    """Return `text` as a string without escape sequences or control characters.

    A lone carriage return becomes a newline (it would otherwise let a line overwrite itself),
    tabs become spaces, and bidirectional override characters are removed so that text cannot
    disguise itself; right-to-left letters themselves stay.
    """
    value = str(text)
    value = _ESCAPE_SEQUENCE.sub("", value)
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    value = _CONTROL.sub("", value)
    value = _BIDI_OVERRIDES.sub("", value)
    if not keep_newlines:
        value = value.replace("\n", " ")
    return value


def one_line(text: object, limit: int | None = None) -> str:
    """Scrubbed, on one line, optionally cut to `limit` characters with an ellipsis."""
    value = " ".join(scrub(text, keep_newlines=False).split())
    if limit is not None and len(value) > limit:
        value = value[: max(0, limit - 1)] + "…"
    return value

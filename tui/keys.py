"""Alt+1..5 must reach tunedeck as alt+1..5.

xterm, tmux, GNOME Terminal, iTerm2 and most terminals over SSH send Alt+digit as ESC followed by
the digit. Textual's sequence table reads ESC 1..5 as the characters WezTerm on macOS types with
Option+1..5 (¡ ™ £ ¢ ∞), so the alt+N pane keys never fired from inside a text field and a symbol
was typed instead. Dropping those five entries lets Textual's parser report alt+1..alt+5; a typed
£ (its own character, not ESC 3) is unaffected.
"""

from __future__ import annotations

ALT_DIGIT_SEQUENCES = ("\x1b1", "\x1b2", "\x1b3", "\x1b4", "\x1b5")


def read_alt_digits_as_alt() -> None:
    from textual import _ansi_sequences

    for sequence in ALT_DIGIT_SEQUENCES:
        _ansi_sequences.ANSI_SEQUENCES_KEYS.pop(sequence, None)

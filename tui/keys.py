"""Keys as the user presses them: the keys bound to a binding id after the `[ui] keymap`, and how to write them.

Hints on screen (status lines, empty states, dialogs) name keys through `hint`, so a key remapped in the
keymap shows as remapped.

Alt+1..5 must also reach tunedeck as alt+1..5. xterm, tmux, GNOME Terminal, iTerm2 and most terminals
over SSH send Alt+digit as ESC followed by the digit. Textual's sequence table reads ESC 1..5 as the
characters WezTerm on macOS types with Option+1..5 (¡ ™ £ ¢ ∞), so the alt+N pane keys never fired from
inside a text field and a symbol was typed instead. Dropping those five entries lets Textual's parser
report alt+1..alt+5; a typed £ (its own character, not ESC 3) is unaffected.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING

from textual import _ansi_sequences
from textual.binding import Binding

if TYPE_CHECKING:
    from textual.dom import DOMNode

ALT_DIGIT_SEQUENCES = ("\x1b1", "\x1b2", "\x1b3", "\x1b4", "\x1b5")

KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "plus": "+",
    "minus": "-",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "left_curly_bracket": "{",
    "right_curly_bracket": "}",
    "full_stop": ".",
    "comma": ",",
    "delete": "del",
}


def read_alt_digits_as_alt() -> None:
    for sequence in ALT_DIGIT_SEQUENCES:
        _ansi_sequences.ANSI_SEQUENCES_KEYS.pop(sequence, None)


def key_label(key: str) -> str:
    """One key as written for the user: "question_mark" -> "?", "ctrl+j" stays "ctrl+j"."""
    *modifiers, name = key.strip().split("+")
    return "+".join([*modifiers, KEY_NAMES.get(name, name)])


def keys_label(keys: str, separator: str = "/") -> str:
    """A binding's comma-separated keys as written for the user: "delete,d" -> "del/d"."""
    return separator.join(key_label(key) for key in keys.split(","))


def declared_binding(node: DOMNode, binding_id: str) -> Binding | None:
    """The Binding with this id declared by the node's class, a widget inside it, or the app."""
    for owner in chain((node,), node.query("*"), (node.app,)):
        for cls in type(owner).__mro__:
            for binding in cls.__dict__.get("BINDINGS", ()):
                if isinstance(binding, Binding) and binding.id == binding_id:
                    return binding
    return None


def bound_keys(node: DOMNode, binding_id: str) -> str:
    """The keys that fire `binding_id` now, as written for the user: the keymap's when it remaps them."""
    # App.set_keymap keeps the [ui] keymap, normalised ("?" -> "question_mark"); Textual has no public getter.
    remapped = node.app._keymap.get(binding_id)
    if remapped:
        return keys_label(remapped)
    binding = declared_binding(node, binding_id)
    if binding is None:
        raise KeyError(f"no binding with id {binding_id!r} for {node!r}")
    return keys_label(binding.key)


def hint(node: DOMNode, *parts: str | tuple[str | tuple[str, ...], str], separator: str = "   ") -> str:
    """A line of key hints: ("pairs.edit", "edit") becomes "e: edit" with the key bound now, and
    (("topics.add_child", "topics.add_top"), "add") becomes "a/A: add"; a plain string (keys that are not
    remappable, such as tab) is kept as it is."""
    written = []
    for part in parts:
        if isinstance(part, str):
            written.append(part)
            continue
        ids, label = part
        keys = "/".join(bound_keys(node, binding_id) for binding_id in ((ids,) if isinstance(ids, str) else ids))
        written.append(f"{keys}: {label}")
    return separator.join(written)

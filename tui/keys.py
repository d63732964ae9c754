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

from textual import _ansi_sequences
from textual.binding import Binding
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


def declared_binding(binding_id: str) -> Binding | None:
    """The Binding with this id, wherever it is declared (tunedeck's binding ids are unique)."""
    if binding_id not in _declared:
        classes: list[type[DOMNode]] = [DOMNode]
        while classes:
            cls = classes.pop()
            classes.extend(cls.__subclasses__())
            for binding in cls.__dict__.get("BINDINGS", ()):
                if isinstance(binding, Binding) and binding.id:
                    _declared.setdefault(binding.id, binding)
    return _declared.get(binding_id)


_declared: dict[str, Binding] = {}


def bound_keys(node: DOMNode, binding_id: str) -> str:
    """The keys that fire `binding_id` now, as written for the user: the keymap's when it remaps them."""
    # App.set_keymap keeps the [ui] keymap, normalised ("?" -> "question_mark"); Textual has no public getter.
    remapped = node.app._keymap.get(binding_id)
    if remapped:
        return keys_label(remapped)
    binding = declared_binding(binding_id)
    if binding is None:
        raise KeyError(f"no binding has the id {binding_id!r}")
    return keys_label(binding.key)


def hint(
    node: DOMNode,
    *parts: str | tuple[str | tuple[str, ...], str],
    separator: str = "   ",
    joiner: str = ": ",
    every_key: bool = False,
) -> str:
    """A line of key hints with the keys bound now: ("pairs.edit", "edit") becomes "e: edit", and
    (("topics.add_child", "topics.add_top"), "add") becomes "a/A: add". A binding shows its first key
    (every_key: all of them). A plain string (keys that are not remappable, such as tab) stays as it is."""
    written = []
    for part in parts:
        if isinstance(part, str):
            written.append(part)
            continue
        ids, label = part
        keys = []
        for binding_id in (ids,) if isinstance(ids, str) else ids:
            bound = bound_keys(node, binding_id).split("/")
            keys.extend(bound if every_key else bound[:1])
        written.append(f"{_joined(keys)}{joiner}{label}")
    return separator.join(written)


def _joined(keys: list[str]) -> str:
    """Three or more keys with one modifier are written once: "shift+up/down/left/right"."""
    modifier = keys[0].rpartition("+")[0]
    if len(keys) >= 3 and modifier and all(key.rpartition("+")[0] == modifier for key in keys):
        return f"{modifier}+" + "/".join(key.rpartition("+")[2] for key in keys)
    return "/".join(keys)

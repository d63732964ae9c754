"""`@record`: a frozen dataclass whose methods are generated when its first instance is made.

Generating a dataclass's methods compiles code, a few milliseconds per class on a busy machine; the
store holds about thirty record types, is imported at start-up, and a session touches few of them.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, TypeVar, dataclass_transform

_Record = TypeVar("_Record")
_lock = threading.Lock()


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[_Record]) -> type[_Record]:
    """Like `@dataclass(frozen=True)`; `dataclasses.fields(cls)` works once an instance exists."""

    def first_init(self: Any, *args: Any, **kwargs: Any) -> None:
        with _lock:
            if cls.__dict__.get("__init__") is first_init:
                delattr(cls, "__init__")
                dataclasses.dataclass(frozen=True)(cls)
        cls.__init__(self, *args, **kwargs)

    type.__setattr__(cls, "__init__", first_init)
    return cls

"""Session folders: sessions/<name>/session.db, created private to the user."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.store import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DB_FILE = "session.db"


class SessionError(Exception):
    """A session name is invalid or the session does not exist."""


def sessions_dir() -> Path:
    """TUNEDECK_SESSIONS_DIR, else the repo's sessions/ folder, else ~/.local/share/tunedeck/sessions."""
    if os.environ.get("TUNEDECK_SESSIONS_DIR"):
        return Path(os.environ["TUNEDECK_SESSIONS_DIR"])
    repo_sessions = Path(__file__).resolve().parent.parent / "sessions"
    if repo_sessions.is_dir():
        return repo_sessions
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tunedeck" / "sessions"


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise SessionError(
            f"invalid session name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class SessionInfo:
    name: str
    path: Path
    modified: float


def list_sessions() -> list[SessionInfo]:
    root = sessions_dir()
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        db = child / DB_FILE
        if db.is_file():
            mtimes = [p.stat().st_mtime for p in child.glob(DB_FILE + "*") if p.exists()]
            found.append(SessionInfo(child.name, child, max(mtimes)))
    return sorted(found, key=lambda s: s.modified, reverse=True)


def session_path(name: str) -> Path:
    return sessions_dir() / validate_name(name)


def open_session(name: str, *, create: bool = True) -> Store:
    folder = session_path(name)
    if not (folder / DB_FILE).exists() and not create:
        raise SessionError(f"no session named {name!r} in {sessions_dir()}")
    if not folder.parent.exists():  # the sessions folder itself: its listing names the sessions
        folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder.parent, 0o700)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return Store(folder / DB_FILE, name)


def most_recent_session() -> str | None:
    sessions = list_sessions()
    return sessions[0].name if sessions else None


def remove_session(name: str) -> None:
    folder = session_path(name)
    if not (folder / DB_FILE).exists():
        raise SessionError(f"no session named {name!r} in {sessions_dir()}")
    shutil.rmtree(folder)

"""Headless verbs: sessions and status, human and JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tunedeck(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_sessions_new_list_status_rm():
    assert tunedeck("sessions", "new", "alpha").returncode == 0
    assert tunedeck("sessions", "new", "beta").returncode == 0
    listed = json.loads(tunedeck("sessions", "list", "--json").stdout)
    assert {s["name"] for s in listed} == {"alpha", "beta"}
    status = json.loads(tunedeck("status", "--session", "alpha", "--json").stdout)
    assert status["session"] == "alpha" and status["pairs"] == {"pending": 0, "accepted": 0, "rejected": 0}
    human = tunedeck("status", "--session", "alpha").stdout
    assert "topics            0" in human
    refused = tunedeck("sessions", "rm", "alpha")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert tunedeck("sessions", "rm", "alpha", "--yes").returncode == 0
    missing = tunedeck("status", "--session", "alpha")
    assert missing.returncode == 2 and "no session named 'alpha'" in missing.stderr


def test_bad_session_name_is_a_clear_error():
    result = tunedeck("sessions", "new", "../escape")
    assert result.returncode == 2
    assert "invalid session name" in result.stderr and "Traceback" not in result.stderr

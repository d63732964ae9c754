"""Import hygiene: core never imports textual; the TUI starts without the heavy SDKs."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parent.parent


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60)
    return set(out.stdout.split())


def test_core_never_imports_textual():
    names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    loaded = _modules_loaded_by("; ".join(f"import {n}" for n in names))
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}


def test_tui_app_does_not_import_heavy_sdks():
    loaded = _modules_loaded_by("import tui.app")
    heavy = {"boto3", "botocore", "sagemaker", "pandas", "openai", "moto", "plotext"}
    assert not heavy & {m.split(".")[0] for m in loaded}


def test_no_sql_outside_the_store():
    offenders = []
    for path in list((ROOT / "core").rglob("*.py")) + list((ROOT / "tui").rglob("*.py")):
        if "store" in path.relative_to(ROOT).parts:
            continue
        if "import sqlite3" in path.read_text():
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []

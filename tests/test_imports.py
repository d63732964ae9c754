"""Import hygiene: core never imports textual; the TUI starts without the heavy SDKs."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def _import_cycles(graph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), over direct imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (dev extras)")
    graph = grimp.build_graph("core", "tui", exclude_type_checking_imports=True)
    assert _import_cycles(graph, set(graph.modules)) == []

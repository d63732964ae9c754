"""`make bench`: run every benchmark script in tests/bench and write bench-report.md."""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ORDER = ["startup.py", "generation.py", "curation_dedup.py", "pane_latency.py", "monitoring.py", "pool_makespan.py"]


def main() -> int:
    scripts = [HERE / name for name in ORDER if (HERE / name).exists()]
    scripts += sorted(
        p for p in HERE.glob("*.py") if p.name not in ORDER and p.name not in ("run_all.py", "__init__.py")
    )
    lines = [
        "# tunedeck benchmark report",
        "",
        f"{datetime.datetime.now().isoformat(timespec='minutes')} · {platform.platform()} · "
        f"Python {platform.python_version()} · {__import__('os').cpu_count()} cores",
        "",
    ]
    failures = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        start = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True)
        took = time.monotonic() - start
        print(result.stdout, end="")
        if result.returncode:
            failures += 1
            print(result.stderr[-3000:], file=sys.stderr)
        lines += [
            f"## {script.stem} ({took:.0f} s{'' if result.returncode == 0 else ', FAILED'})",
            "",
            "```",
            result.stdout.strip() or result.stderr.strip()[-2000:],
            "```",
            "",
        ]
    report = "\n".join(lines)
    (ROOT / "bench-report.md").write_text(report)
    print(f"wrote {ROOT / 'bench-report.md'}")
    update_readme(ROOT / "README.md", report)
    return 1 if failures else 0


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def readme_block(report: str) -> str:
    """The report as it sits under README's "Performance" heading: its title dropped, the other
    headings one level down (outside code fences)."""
    out, fenced = [], False
    for line in report.strip().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            continue
        elif not fenced and line.startswith("#"):
            line = "#" + line
        out.append(line)
    return "\n".join(out).strip() + "\n"


def splice_readme(readme: str, report: str) -> str:
    """README text with the block between the bench markers replaced by the report."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no {README_START} ... {README_END} block")
    return readme[: start + len(README_START)] + "\n" + readme_block(report) + readme[end:]


def update_readme(path: Path, report: str) -> None:
    try:
        path.write_text(splice_readme(path.read_text(encoding="utf-8"), report), encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"README not updated: {exc}", file=sys.stderr)
    else:
        print(f"updated the benchmark figures in {path}")


if __name__ == "__main__":
    sys.exit(main())

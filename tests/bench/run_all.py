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
ORDER = ["startup.py", "generation.py", "curation_dedup.py", "pane_latency.py", "monitoring.py"]


def main() -> int:
    scripts = [HERE / name for name in ORDER if (HERE / name).exists()]
    scripts += sorted(p for p in HERE.glob("*.py") if p.name not in ORDER and p.name not in ("run_all.py", "__init__.py"))
    lines = [f"# tunedeck benchmark report", "",
             f"{datetime.datetime.now().isoformat(timespec='minutes')} · {platform.platform()} · "
             f"Python {platform.python_version()} · {__import__('os').cpu_count()} cores", ""]
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
        lines += [f"## {script.stem} ({took:.0f} s{'' if result.returncode == 0 else ', FAILED'})", "", "```",
                  result.stdout.strip() or result.stderr.strip()[-2000:], "```", ""]
    (ROOT / "bench-report.md").write_text("\n".join(lines))
    print(f"wrote {ROOT / 'bench-report.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

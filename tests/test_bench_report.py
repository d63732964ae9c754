"""`make bench` splices its report into README.md between the bench markers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_run_all", Path(__file__).parent / "bench" / "run_all.py")
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)

README = """# tunedeck

## Performance

<!-- bench:start -->
run `make bench`
<!-- bench:end -->

## Layout
"""
REPORT = """# tunedeck benchmark report

2026-01-01T10:00 · Linux · Python 3.11.7 · 2 cores

## startup (3 s)

```
# not a heading: program output
first frame 180 ms
```
"""


def test_report_replaces_only_the_block_and_nests_its_headings():
    spliced = run_all.splice_readme(README, REPORT)
    before, block_and_after = spliced.split("<!-- bench:start -->\n")
    block, after = block_and_after.split("<!-- bench:end -->")
    assert before == README.split("<!-- bench:start -->")[0]
    assert after == "\n\n## Layout\n"
    assert "run `make bench`" not in block and "benchmark report" not in block  # title dropped
    assert "### startup (3 s)" in block.splitlines()
    assert "# not a heading: program output" in block.splitlines()  # code output untouched
    # a later run replaces the earlier figures instead of adding to them
    again = run_all.splice_readme(spliced, REPORT.replace("180 ms", "150 ms"))
    assert "150 ms" in again and "180 ms" not in again and again.count("### startup") == 1


def test_missing_markers_are_an_error_and_update_readme_leaves_the_file_alone(tmp_path, capsys):
    with pytest.raises(ValueError, match="bench:start"):
        run_all.splice_readme("# tunedeck\n", REPORT)
    readme = tmp_path / "README.md"
    readme.write_text("# tunedeck\n")
    run_all.update_readme(readme, REPORT)
    assert readme.read_text() == "# tunedeck\n"
    assert "README not updated" in capsys.readouterr().err

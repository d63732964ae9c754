"""Benchmark: pair import and typo augmentation of 100,000 pairs against the store's bulk insert of the
same rows, measured in the same run; then the Pairs pane's key-to-frame latency over the imported session.

Run: .venv/bin/python tests/bench/dataset_ops.py [--pairs N] [--no-pane]

- bulk insert (the baseline): `Store.add_pairs` of the rows, as NewPair objects already built.
- import: `core.dataset.importer.import_pairs` of a question/answer JSONL file holding those rows
  (read, parsed, checked, stored in one transaction). Target: within 1.5x of the baseline.
- typo augmentation: `core.generation.augment.augment_typos` over the stored rows (read them back,
  the leak guard, the copies, one undo step). Target: within 2x of the baseline bulk insert of
  those copies, timed into a fresh session in the same run.
- then tests/bench/pane_latency.py's key plan over the session filled by the import. Target: p95
  first frame <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

IMPORT_TARGET, AUGMENT_TARGET = 1.5, 2.0
WORDS = "the meter reads tariff energy bill supplier rate peak night standing charge refund".split()


def records(count: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [
        {
            "question": f"Q{i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18))) + "?",
            "answer": " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 400))),
        }
        for i in range(count)
    ]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def fill_by_import(store, count: int) -> None:
    """pane_latency's filler: the session gets its pairs through the importer (every 10th accepted)."""
    from core.dataset.importer import import_pairs

    with tempfile.TemporaryDirectory() as folder:
        path = write_jsonl(Path(folder) / "pairs.jsonl", records(count))
        import_pairs(store, path)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def measure(count: int) -> int:
    from core.dataset.importer import import_pairs
    from core.generation.augment import augment_typos
    from core.sessions import open_session
    from core.store import PairFilter

    rows = records(count)
    folder = Path(tempfile.mkdtemp())
    path = write_jsonl(folder / "pairs.jsonl", rows)
    imported = open_session("imported")
    t_import, summary = timed(import_pairs, imported, path, status="accepted")
    assert summary.added == count, summary  # type: ignore[attr-defined]
    # the baseline: exactly the rows the import stored, as NewPair objects built beforehand, in one call
    stored = [_same_row(p) for p in imported.iter_pairs()]
    baseline_store = open_session("bulk")
    t_bulk, _ = timed(baseline_store.add_pairs, stored)
    baseline_store.close()
    ratio_import = t_import / t_bulk
    print(
        f"dataset ops: {count:,} pairs ({path.stat().st_size / 1e6:.0f} MB of JSONL); "
        f"python {sys.version.split()[0]}; {os.cpu_count()} cores"
    )
    print(f"  bulk insert of the imported rows (baseline) {t_bulk:6.2f} s")
    print(
        f"  import (JSONL)                              {t_import:6.2f} s   {ratio_import:.2f}x the bulk insert "
        f"(target <= {IMPORT_TARGET}x: {'met' if ratio_import <= IMPORT_TARGET else 'MISSED'})"
    )

    t_augment, result = timed(augment_typos, imported, PairFilter(status="accepted"), seed=1)
    assert result.added == count, result  # type: ignore[attr-defined]
    copies = [p for p in imported.iter_pairs(PairFilter(status="accepted")) if p.provenance.get("augmented")]
    same_rows = [_same_row(p) for p in copies]
    imported.close()
    fresh = open_session("augment-baseline")
    t_bulk_copies, _ = timed(fresh.add_pairs, same_rows)
    fresh.close()
    ratio_augment = t_augment / t_bulk_copies
    print(f"  bulk insert of the copies (baseline)        {t_bulk_copies:6.2f} s")
    print(
        f"  typo augmentation                           {t_augment:6.2f} s   {ratio_augment:.2f}x the bulk insert "
        f"(target <= {AUGMENT_TARGET}x: {'met' if ratio_augment <= AUGMENT_TARGET else 'MISSED'})"
    )
    return 0 if ratio_import <= IMPORT_TARGET and ratio_augment <= AUGMENT_TARGET else 1


def _same_row(pair):
    from core.store import NewPair

    return NewPair(
        pair.question, pair.answer, pair.topic_id, pair.kind, pair.status, pair.tags, pair.task_key, pair.provenance
    )


def pane_after_import(count: int) -> int:
    spec = importlib.util.spec_from_file_location("pane_latency", HERE / "pane_latency.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print("  the Pairs pane over the imported session:")
    return int(asyncio.run(module.run(count, (120, 40), filler=fill_by_import)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--no-pane", action="store_true", help="skip the pane latency run after the import")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as sessions:
        os.environ["TUNEDECK_SESSIONS_DIR"] = sessions
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        status = measure(args.pairs)
        if not args.no_pane:
            status |= pane_after_import(args.pairs)
    return status


if __name__ == "__main__":
    sys.exit(main())

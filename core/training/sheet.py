"""The experiment sheet: one row per job, its hyperparameters, losses, overfitting, duration and cost.

Built with pandas (imported when first used). Columns:
job, run (api, or console: recorded by hand), sweep, status, instance_type, dataset (the version's hash),
data_mix (what it was made of: "qa 80% · refusal 8% · variant:spanish 12%"), <the sweepable
hyperparameters any job sets, and any other that differs between jobs>, final_train_loss,
final_eval_loss, best_train_loss, best_eval_loss, best_eval_epoch, gap (final eval - final train),
overfitting, suggestion, duration_s, cost_usd (none for console runs: the event pays),
leaderboard (the best leaderboard score recorded for the run).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.training.metrics import job_curves
from core.training.prices import PriceTable, job_cost
from core.training.sweep import SWEEPABLE

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from core.store import Store
    from core.store.jobs import Job

BASE_COLUMNS = ("job", "run", "sweep", "status", "instance_type", "dataset", "data_mix")  # run: api or console
RESULT_COLUMNS = (
    "final_train_loss",
    "final_eval_loss",
    "best_train_loss",
    "best_eval_loss",
    "best_eval_epoch",
    "gap",
    "overfitting",
    "suggestion",
    "duration_s",
    "cost_usd",
    "leaderboard",  # the best leaderboard score of the run
)


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _best_scores(store: Store) -> dict[int, str]:
    """The best leaderboard score of each submitted run (the earlier on a tie)."""
    best: dict[int, tuple[float, str]] = {}
    for submission in store.submissions():
        kept = best.get(submission.job_id)
        if kept is None or submission.fraction > kept[0]:
            best[submission.job_id] = (submission.fraction, submission.score)
    return {job_id: score for job_id, (_, score) in best.items()}


def format_mix(counts: dict[str, Any]) -> str | None:
    """A dataset version's mix as shares of its rows, most first ("qa 80% · refusal 8% · variant:spanish 12%").

    From the rows per label recorded at export (`counts["mix"]`); a version exported before that shows
    its refusal share only."""
    mix = counts.get("mix")
    if not isinstance(mix, dict):
        total = int(counts.get("train", 0) or 0) + int(counts.get("validation", 0) or 0)
        refusals = int(counts.get("refusals", 0) or 0)
        if not total:
            return None
        mix = {"qa": total - refusals, "refusal": refusals}
    total = sum(int(v) for v in mix.values())
    if not total:
        return None
    parts = []
    for label, count in sorted(mix.items(), key=lambda item: (-int(item[1]), item[0])):
        if not count:
            continue
        share = 100 * int(count) / total
        parts.append(f"{label} {'<1' if share < 1 else round(share)}%")
    return " · ".join(parts)


def sheet_records(
    store: Store, prices: PriceTable, now: float, jobs: Sequence[Job] | None = None
) -> list[dict[str, Any]]:
    """The sheet as plain dicts (no pandas), in job order; missing numbers are None."""
    jobs = list(store.jobs() if jobs is None else jobs)
    sweeps = {s.id: s.name for s in store.sweeps()}
    names = {k for job in jobs for k in job.hyperparameters}
    varying = {n for n in names if len({job.hyperparameters.get(n) for job in jobs}) > 1}
    hp_columns = [n for n in SWEEPABLE if n in names] + sorted(varying - set(SWEEPABLE))
    console = store.console_run_ids()
    leaderboard = _best_scores(store)
    versions = {v.id: v for v in store.dataset_versions()}
    records = []
    for job in jobs:
        curves = job_curves(store, job.id)
        train, evals = curves.train_epoch_losses, curves.eval_epoch_losses
        assessment = curves.assessment()
        both = min(len(train), len(evals))
        record: dict[str, Any] = {
            "job": job.name,
            "run": "console" if job.id in console else "api",
            "sweep": sweeps.get(job.sweep_id) if job.sweep_id is not None else None,
            "status": job.status,
            "instance_type": job.instance_type,
        }
        version = versions.get(job.dataset_version_id) if job.dataset_version_id is not None else None
        record["dataset"] = version.hash[:12] if version is not None else None
        record["data_mix"] = format_mix(version.counts) if version is not None else None
        record.update({name: job.hyperparameters.get(name) for name in hp_columns})
        record.update(
            {
                "final_train_loss": train[-1] if train else None,
                "final_eval_loss": evals[-1] if evals else None,
                "best_train_loss": min(train) if train else None,
                "best_eval_loss": min(evals) if evals else None,
                "best_eval_epoch": curves.best_eval_epoch,
                "gap": evals[both - 1] - train[both - 1] if both else None,
                "overfitting": assessment.flagged,
                "suggestion": assessment.suggestion,
                "duration_s": job.elapsed_seconds(now),
                "cost_usd": None if job.id in console else job_cost(job, prices, now),
                "leaderboard": leaderboard.get(job.id),
            }
        )
        records.append(record)
    return records


def build_sheet(store: Store, prices: PriceTable, now: float, jobs: Sequence[Job] | None = None) -> pd.DataFrame:
    """A pandas DataFrame of the sheet (numbers as floats, NaN where unknown)."""
    import pandas as pd

    records = sheet_records(store, prices, now, jobs)
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return pd.DataFrame(columns=[*BASE_COLUMNS, *RESULT_COLUMNS])
    for column in (
        "final_train_loss",
        "final_eval_loss",
        "best_train_loss",
        "best_eval_loss",
        "gap",
        "duration_s",
        "cost_usd",
    ):
        frame[column] = frame[column].map(_nan_if_none).astype(float)
    frame["best_eval_epoch"] = frame["best_eval_epoch"].astype("Int64")
    return frame


def _numeric_key(series: pd.Series) -> pd.Series:
    """Sort hyperparameter strings ("1e-4", "0.0002") by value when they all are numbers."""
    import pandas as pd

    converted = pd.to_numeric(series, errors="coerce")
    return converted if converted.notna().sum() == series.notna().sum() else series


def sort_sheet(frame: pd.DataFrame, column: str, *, descending: bool = False) -> pd.DataFrame:
    """Sort by any column (numbers by value, unknowns last)."""
    if column not in frame.columns:
        raise KeyError(f"no column {column!r}; columns: {', '.join(map(str, frame.columns))}")
    return frame.sort_values(
        column, ascending=not descending, na_position="last", kind="stable", key=_numeric_key
    ).reset_index(drop=True)


def export_csv(frame: Any, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path

"""Training runs recorded by hand: started in the SageMaker console, so tunedeck learns of them only
from the user (from a plan card, or with the hyperparameters typed in) and from imported logs.

A console run is never polled from AWS (core/store/league.py says how the store keeps it out of the
API paths). It may name an API "twin": the same dataset and hyperparameters trained in the practice
account, whose endpoint's evaluations give the console run a local judge score.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.store.league import CONSOLE_STATUSES, IN_PROGRESS, ConsoleRun, DuplicateRunError, NewConsoleRun
from core.training.console import RecipeCard, dataset_in_name
from core.training.hyperparams import validate_job_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.config import Config
    from core.store import Store

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")
_CLOCK = re.compile(r"^\s*(\d+):([0-5]\d)(?::([0-5]\d))?\s*$")
_HP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RunError(ValueError):
    """The run cannot be recorded as given; the message says which field and why."""


@dataclass(frozen=True)
class RunInput:
    """A console run as the user describes it."""

    name: str
    instance_type: str
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    dataset: int | str | None = None  # id, hash (prefix), "latest"; None: the hash the name carries
    model_id: str | None = None  # default: [jumpstart] model_id
    model_version: str | None = None
    status: str = IN_PROGRESS
    started_at: float | None = None
    ended_at: float | None = None
    duration_s: float | None = None
    twin: str | None = None  # name of an API job trained the same way in the practice account
    card: Mapping[str, Any] | None = None
    note: str = ""


def run_from_card(card: RecipeCard, **changes: Any) -> RunInput:
    """The run a plan card describes (its suggested name, model, instance, dataset, hyperparameters)."""
    return run_from_card_dict(card.as_dict(), **changes)


def parse_duration(text: str) -> float:
    """Seconds from "1h30m", "90m", "45s", "1:30" (h:mm), "1:30:00" or a number of minutes."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value) * 60
    clock = _CLOCK.match(value)
    if clock:
        h, m, sec = (int(g or 0) for g in clock.groups())
        return float(h * 3600 + m * 60 + sec)
    match = _DURATION.match(value)
    if value and match and any(match.groups()):
        hours, minutes, seconds = (float(g or 0) for g in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    raise RunError(f"duration {text!r}: expected e.g. 1h30m, 90m, 1:30 or 45s")


def parse_time(text: str, now: float | None = None) -> float:
    """A timestamp from ISO 8601 ("2025-06-30T14:05", local time unless it has an offset) or "now"."""
    value = text.strip()
    if value.lower() == "now":
        return time.time() if now is None else now
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise RunError(f"time {text!r}: expected ISO 8601 such as 2025-06-30T14:05 or 2025-06-30T14:05+08:00") from None


def parse_hyperparameters(items: list[str]) -> dict[str, str]:
    """`NAME=VALUE` strings (the CLI's --hp) to a dict."""
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not _HP_NAME.match(name.strip()) or not value.strip():
            raise RunError(f"hyperparameter {item!r}: expected NAME=VALUE")
        values[name.strip()] = value.strip()
    return values


def _existing(store: Store, name: str) -> str:
    run = store.console_run(name)
    if run is not None:
        recorded = datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
        return f"a run named {name} exists already: a console run recorded {recorded} ({run.status})"
    job = store.job(name)
    status = job.status if job is not None else "just removed"
    return f"a run named {name} exists already: an API job ({status})"


def _timing(status: str, started_at: float | None, ended_at: float | None, duration_s: float | None) -> None:
    if status not in CONSOLE_STATUSES:
        raise RunError(f"status {status!r}: must be one of {', '.join(CONSOLE_STATUSES)}")
    if duration_s is not None and duration_s < 0:
        raise RunError("duration: cannot be negative")
    if started_at is not None and ended_at is not None and ended_at < started_at:
        raise RunError("end: is before the start")
    if started_at is not None and ended_at is not None and duration_s is not None:
        if abs((ended_at - started_at) - duration_s) > 60:
            raise RunError("duration: does not match the start and end; give the end or the duration, not both")
    if status != IN_PROGRESS and duration_s is None and (started_at is None or ended_at is None):
        raise RunError(
            f"a {status} run needs its duration, or its start and end: training hours count against the event's limit"
        )


def _resolve_twin(store: Store, twin: str | None) -> int | None:
    if twin is None:
        return None
    job = store.job(twin)
    if job is None:
        raise RunError(f"twin: no job named {twin!r} in this session")
    if store.console_run(job.id) is not None:
        raise RunError(f"twin: {twin} is a console run; a twin is an API job trained in the practice account")
    return int(job.id)


def _resolve_dataset(store: Store, ref: int | str | None, name: str) -> int | None:
    if ref is None:
        found = dataset_in_name(store, name)
        return None if found is None else int(found.id)
    if ref == "latest":
        latest = store.latest_dataset_version()
        if latest is None:
            raise RunError("dataset: this session has no dataset version yet")
        return int(latest.id)
    by_id = isinstance(ref, int) or (str(ref).isdigit() and len(str(ref)) < 8)
    dataset = store.dataset_version(int(ref) if by_id else str(ref))
    if dataset is None:
        raise RunError(f"dataset: no version {ref!r} in this session (or the hash prefix is ambiguous)")
    return int(dataset.id)


def _check_hyperparameters(values: Mapping[str, str]) -> None:
    for name, value in values.items():
        if not _HP_NAME.match(str(name)) or not isinstance(value, str) or not value.strip():
            raise RunError(f"hyperparameter {name!r}: needs a name and a non-empty value")


def record_console_run(store: Store, config: Config, run: RunInput) -> ConsoleRun:
    """Record a run started in the console. Raises RunError (naming the existing run when the name
    is taken); nothing is written unless everything is valid."""
    problems = validate_job_name(run.name)
    if problems:
        raise RunError("; ".join(str(p) for p in problems))
    if store.job(run.name) is not None:
        raise RunError(_existing(store, run.name))
    if not run.instance_type.startswith("ml."):
        raise RunError(f"instance_type {run.instance_type!r}: expected an ml.* instance type such as ml.g5.12xlarge")
    _check_hyperparameters(run.hyperparameters)
    _timing(run.status, run.started_at, run.ended_at, run.duration_s)
    new = NewConsoleRun(
        name=run.name,
        model_id=run.model_id or config.jumpstart.model_id,
        model_version=run.model_version or config.jumpstart.model_version or "*",
        instance_type=run.instance_type,
        hyperparameters=dict(run.hyperparameters),
        dataset_version_id=_resolve_dataset(store, run.dataset, run.name),
        status=run.status,
        started_at=run.started_at,
        ended_at=run.ended_at,
        duration_s=run.duration_s,
        twin_job_id=_resolve_twin(store, run.twin),
        card=run.card,
        note=run.note,
    )
    try:
        return store.add_console_run(new)
    except DuplicateRunError:  # recorded by another process meanwhile
        raise RunError(_existing(store, run.name)) from None


def edit_console_run(store: Store, name: str, **changes: Any) -> ConsoleRun:
    """Change a console run's status, times, hyperparameters, instance, dataset, twin or note."""
    run = store.console_run(name)
    if run is None:
        job = store.job(name)
        raise RunError(
            f"{name} is an API job; only console runs are edited by hand" if job else f"no run named {name!r}"
        )
    fields = dict(changes)
    if "twin" in fields:
        fields["twin_job_id"] = _resolve_twin(store, fields.pop("twin"))
    if "dataset" in fields:
        fields["dataset_version_id"] = _resolve_dataset(store, fields.pop("dataset"), name)
    if "hyperparameters" in fields:
        _check_hyperparameters(fields["hyperparameters"])
    merged = {**vars(run), **fields}
    if fields.get("ended_at") is not None and "duration_s" not in fields:
        merged["duration_s"] = fields["duration_s"] = None  # the new end defines the duration
    _timing(merged["status"], merged["started_at"], merged["ended_at"], merged["duration_s"])
    return store.update_console_run(run.job_id, **fields)


def local_judge_score(store: Store, job_id: int) -> dict[str, Any] | None:
    """The league score of the run's own endpoint, or of its API twin's, from the newest evaluation
    with it as target A (core.evaluation.judge.scores_by_job); None when there is none."""
    from core.evaluation.judge import scores_by_job

    job = store.job(job_id)
    if job is None:
        return None
    scores = scores_by_job(store)
    if job.name in scores:
        return scores[job.name]
    run = store.console_run(job_id)
    if run is None or run.twin_job_id is None:
        return None
    twin = store.job(run.twin_job_id)
    return None if twin is None else scores.get(twin.name)


CARDS_META_KEY = "league.cards"


def remember_cards(store: Store, cards: list[RecipeCard]) -> None:
    """Keep the cards last planned, so that `runs add <suggested name>` can start from one."""
    kept = dict(store.get_meta(CARDS_META_KEY) or {})
    kept.update({card.job_name: card.as_dict() for card in cards})
    store.set_meta(CARDS_META_KEY, kept)


def card_for(store: Store, name: str) -> dict[str, Any] | None:
    card = (store.get_meta(CARDS_META_KEY) or {}).get(name)
    return dict(card) if isinstance(card, dict) else None


def run_from_card_dict(card: Mapping[str, Any], **changes: Any) -> RunInput:
    """The run a remembered card describes (see RecipeCard.as_dict), with `changes` on top."""
    fields: dict[str, Any] = {
        "name": card["job_name"],
        "instance_type": card["instance_type"],
        "hyperparameters": dict(card["hyperparameters"]),
        "dataset": card["dataset"],
        "model_id": card["model_id"],
        "model_version": card["model_version"],
        "card": dict(card),
    }
    fields.update({k: v for k, v in changes.items() if v is not None})
    return RunInput(**fields)

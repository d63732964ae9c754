"""What a comparison is about: two targets and a question set, the evaluation that matches them, and
the judge settings the session keeps for the next run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from core.evaluation.judge import EvalSettings

if TYPE_CHECKING:
    from core.config import LeagueConfig
    from core.store import Store

SETTINGS_META = "compare.settings"
SAVED_SETTINGS = ("rubric", "system_prompt", "temperature", "top_p", "max_tokens")
Match = Literal["newest", "selection"]


@dataclass(frozen=True)
class Selection:
    target_a: str | None = None
    target_b: str | None = None
    set_name: str | None = None

    @property
    def complete(self) -> bool:
        return bool(self.target_a and self.target_b and self.set_name)


@dataclass(frozen=True)
class Resolved:
    selection: Selection
    evaluation_id: int | None  # None: no stored evaluation matches


def resolve_selection(
    store: Store, selection: Selection, evaluation_id: int | None, match: Match | None = None
) -> Resolved:
    """Which evaluation to show.

    match="newest": the newest evaluation and its targets and set; without one, the newest question set.
    match="selection": the newest evaluation of exactly these targets (in this order) on this set.
    match=None: `evaluation_id` as given. An evaluation that no longer exists resolves to None."""
    if match == "newest":
        evaluations = store.evaluations()
        if evaluations:
            newest = evaluations[0]
            qset = store.question_set_by_id(newest.set_id)
            selection = Selection(newest.target_a, newest.target_b, qset.name if qset else None)
            evaluation_id = newest.id
        elif selection.set_name is None and (sets := store.question_sets()):
            selection = replace(selection, set_name=sets[-1].name)
    elif match == "selection":
        evaluation_id = matching_evaluation(store, selection)
    if evaluation_id is not None and store.evaluation(evaluation_id) is None:
        evaluation_id = None
    return Resolved(selection, evaluation_id)


def matching_evaluation(store: Store, selection: Selection) -> int | None:
    """The newest evaluation of target A against target B on the selected set."""
    qset = store.question_set(selection.set_name) if selection.set_name else None
    if qset is None or not selection.target_a or not selection.target_b:
        return None
    wanted = (selection.target_a, selection.target_b)
    return next((e.id for e in store.evaluations(qset.id) if (e.target_a, e.target_b) == wanted), None)


def event_settings(league: LeagueConfig) -> dict[str, Any]:
    """The event's inference parameters and judge rubric (`[league]`): the defaults of Compare and the Playground."""
    settings: dict[str, Any] = {
        "temperature": league.temperature,
        "top_p": league.top_p,
        "max_tokens": league.max_new_tokens,
    }
    if league.judge_rubric.strip():
        settings["rubric"] = league.judge_rubric
    return settings


def stored_settings(store: Store, concurrency: int, league: LeagueConfig | None = None) -> EvalSettings:
    """The settings saved for the next run, over the defaults (the event's, from `league`, when given);
    anything unreadable or invalid gives the defaults. `concurrency` comes from the judge profile, never
    from the session."""
    base = EvalSettings(concurrency=max(1, min(concurrency, 16)), **(event_settings(league) if league else {}))
    stored = store.get_meta(SETTINGS_META) or {}
    if not isinstance(stored, dict):
        return base
    known = {f.name for f in dataclasses.fields(EvalSettings)} - {"concurrency"}
    try:
        settings = replace(base, **{k: v for k, v in stored.items() if k in known})
        settings.validate()
    except (TypeError, ValueError):
        return base
    return settings


def save_settings(store: Store, settings: EvalSettings) -> None:
    """Keep the rubric and generation settings for the next run (a changed setting starts a new evaluation)."""
    store.set_meta(SETTINGS_META, {name: getattr(settings, name) for name in SAVED_SETTINGS})


__all__ = [
    "SETTINGS_META",
    "Match",
    "Resolved",
    "Selection",
    "matching_evaluation",
    "resolve_selection",
    "event_settings",
    "save_settings",
    "stored_settings",
]

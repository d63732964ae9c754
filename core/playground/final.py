"""The final round's rules as the event plays them (league-2025.md).

    rules = round_rules(store, config)
    rules.capped(params)                       # max tokens never above the answer token cap
    rules.budget(system_prompt, question)      # what the context length leaves for the answer
    rules.generations_left(used)               # how many generations remain for this question
    rank_points(1, 5)                          # 16.7: the LLM judge's points for the top answer
    combined_score(judge, human, audience, rules, last=True)

A session may change the rules (`set_session_rules`); the config's [final] section is the default.
What the user hands in is a hand-in. Token counts are estimates (about four characters a token), so
the budget is a warning, never a hard refusal of the prompt.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.playground.rounds import MAX_TOKENS_RANGE, Params, PlaygroundError

if TYPE_CHECKING:
    from core.config import Config
    from core.store import Store

RULES_META = "final.rules"
CHARS_PER_TOKEN = 4.0
TOP_POINTS = 50 / 3  # the 2025 final's LLM-judge points for the top answer (16.7) ...
POINTS_STEP = 10 / 3  # ... and for each place below (13.3, 10, ...)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four characters a token, at least one a word."""
    if not text.strip():
        return 0
    return max(len(text.split()), math.ceil(len(text) / CHARS_PER_TOKEN))


@dataclass(frozen=True)
class Budget:
    prompt_tokens: int  # system prompt and question (estimated)
    answer_room: int | None  # what the context length leaves for the answer; None = not limited
    cap: int  # the answer token cap (0 = none)

    @property
    def short(self) -> bool:
        """The prompt leaves less room than the cap (or than max tokens) for the answer."""
        return self.answer_room is not None and self.cap > 0 and self.answer_room < self.cap


@dataclass(frozen=True)
class RoundRules:
    round_seconds: float = 60.0
    answer_token_cap: int = 200
    context_length: int = 0
    generations: int = 0
    weight_judge: float = 40.0
    weight_human: float = 40.0
    weight_audience: float = 20.0
    double_last_question: bool = True
    question_template: str = "{question}"

    def validate(self) -> RoundRules:
        if not 5 <= self.round_seconds <= 3600:
            raise PlaygroundError("a round lasts between 5 and 3600 seconds")
        if self.answer_token_cap and not MAX_TOKENS_RANGE[0] <= self.answer_token_cap <= MAX_TOKENS_RANGE[1]:
            raise PlaygroundError(f"the answer token cap is 0 (none) or {MAX_TOKENS_RANGE[0]}-{MAX_TOKENS_RANGE[1]}")
        if self.context_length < 0 or 0 < self.context_length <= self.answer_token_cap:
            raise PlaygroundError("the context length is 0 (not limited) or more than the answer token cap")
        if self.generations < 0:
            raise PlaygroundError("generations per question are 0 (no limit) or more")
        weights = (self.weight_judge, self.weight_human, self.weight_audience)
        if min(weights) < 0 or sum(weights) <= 0:
            raise PlaygroundError("the scoring weights are 0 or more and not all 0")
        if "{question}" not in self.question_template:
            raise PlaygroundError("the question template must contain {question}")
        return self

    def capped(self, params: Params) -> Params:
        """The parameters as the event allows them: max tokens at most the cap."""
        return params.capped(self.answer_token_cap)

    def question_text(self, question: str) -> str:
        """The question as the event's page sends it (its template around the question)."""
        return self.question_template.replace("{question}", question)

    def budget(self, system_prompt: str, question: str = "") -> Budget:
        used = estimate_tokens(system_prompt) + estimate_tokens(self.question_text(question) if question else "")
        room = max(0, self.context_length - used) if self.context_length else None
        return Budget(used, room, self.answer_token_cap)

    def generations_left(self, used: int) -> int | None:
        """Generations still allowed for this question; None = no limit."""
        return max(0, self.generations - used) if self.generations else None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_rules(config: Config | None) -> RoundRules:
    section = getattr(config, "final", None)
    if section is None:
        return RoundRules()
    fields = {f.name for f in dataclasses.fields(RoundRules)}
    return RoundRules(**{k: v for k, v in dataclasses.asdict(section).items() if k in fields})


def round_rules(store: Store, config: Config | None = None) -> RoundRules:
    """The session's rules: the config's [final] section, overridden by what the session set."""
    from core.playground.rounds import round_seconds

    rules = config_rules(config)
    stored = store.get_meta(RULES_META)
    if isinstance(stored, dict):
        known = {f.name for f in dataclasses.fields(RoundRules)}
        try:
            rules = dataclasses.replace(rules, **{k: v for k, v in stored.items() if k in known}).validate()
        except (PlaygroundError, TypeError):
            rules = config_rules(config)
    return dataclasses.replace(rules, round_seconds=round_seconds(store, config))


def set_session_rules(store: Store, rules: RoundRules) -> None:
    rules.validate()
    store.set_meta(RULES_META, rules.as_dict())


# ---- points ----------------------------------------------------------------------------------------


def rank_points(rank: float, finalists: int) -> float:
    """The LLM judge's points for a (possibly averaged) rank among `finalists`: 16.7 for the top, then
    3.3 fewer a place (13.3, 10, 6.7, 3.3), never below 0."""
    if finalists < 1 or not 1 <= rank <= finalists:
        raise PlaygroundError(f"a rank lies between 1 and the number of finalists ({finalists})")
    return max(0.0, TOP_POINTS - (rank - 1) * POINTS_STEP)


def combined_score(
    judge: float | None, human: float | None, audience: float | None, rules: RoundRules, *, last: bool = False
) -> float | None:
    """The weighted score of one answer from three shares between 0 and 1 (missing parts drop out and
    the weights of the others are renormalised); the last question counts double when the rules say so."""
    parts = [(judge, rules.weight_judge), (human, rules.weight_human), (audience, rules.weight_audience)]
    present = [(share, weight) for share, weight in parts if share is not None and weight > 0]
    if not present:
        return None
    total = sum(weight for _, weight in present)
    score = 100.0 * sum(share * weight for share, weight in present) / total
    return score * 2 if last and rules.double_last_question else score


__all__ = [
    "Budget",
    "RoundRules",
    "combined_score",
    "config_rules",
    "estimate_tokens",
    "rank_points",
    "round_rules",
    "set_session_rules",
]

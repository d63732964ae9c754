"""The Playground: the final round's rehearsal room.

Only the system prompt, temperature and top_p (and max new tokens) change. This module holds:

* prompt versions (save / restore with their parameters, diff two of them);
* streamed runs of k samples, each sample persisted while it streams;
* the round clock (60 s by default, injectable clock, auto-submit just before time runs out);
* side-by-side comparisons of two versions on one question, picked by a human or the judge,
  and each version's pick rate;
* export of the winning version.

Rehearsals over a question set live in core.playground.rehearsal. Texts from models are untrusted: they are
stored verbatim and callers show them literally. Importing this module loads no SDK.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from core.evaluation.prompts import (
    DEFAULT_RUBRIC,
    JUDGE_TEMPERATURE,
    VERDICT_SCHEMA,
    VERDICT_SCHEMA_NAME,
    pairwise_judge_messages,
    parse_verdict,
)
from core.evaluation.stats import Winner, combine_orders

if TYPE_CHECKING:
    from core.config import Config
    from core.evaluation.prompts import Verdict
    from core.llm.base import ChatTarget
    from core.store import Store
    from core.store.playground import PromptVersionRow

TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.0, 1.0)
MAX_TOKENS_RANGE = (16, 4096)
SAMPLES_RANGE = (1, 6)
DEFAULT_ROUND_SECONDS = 60.0
AUTO_SUBMIT_MARGIN_S = 1.0  # the chosen answer is handed in this long before the round ends
ROUND_SECONDS_META = "playground.round_seconds"
OUTCOME_SCORE: dict[str, float] = {"A": 1.0, "tie": 0.5, "B": 0.0}


class PlaygroundError(ValueError):
    """A playground action cannot go ahead; the message says why."""


# ---- parameters and messages ---------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 512

    def validate(self) -> Params:
        lo, hi = TEMPERATURE_RANGE
        if not lo <= self.temperature <= hi:
            raise PlaygroundError(f"temperature must be between {lo:g} and {hi:g}")
        lo, hi = TOP_P_RANGE
        if not lo <= self.top_p <= hi:
            raise PlaygroundError(f"top_p must be between {lo:g} and {hi:g}")
        lo_t, hi_t = MAX_TOKENS_RANGE
        if not lo_t <= int(self.max_tokens) <= hi_t:
            raise PlaygroundError(f"max new tokens must be between {lo_t} and {hi_t}")
        return self

    def capped(self, token_cap: int) -> Params:
        """These parameters with max tokens at most `token_cap` (0 = no cap)."""
        if token_cap and self.max_tokens > token_cap:
            return Params(self.temperature, self.top_p, token_cap)
        return self

    @classmethod
    def of(cls, version: PromptVersionRow) -> Params:
        return cls(version.temperature, version.top_p, version.max_tokens)


def build_messages(system_prompt: str, question: str) -> list[dict[str, str]]:
    messages = [{"role": "user", "content": question}]
    if system_prompt.strip():
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def default_target(store: Store, config: Config) -> str:
    """The newest InService fine-tuned endpoint of the session, else the generator's model."""
    live = [e for e in store.endpoints() if e.kind == "finetuned" and e.status == "InService"]
    if live:
        newest = max(live, key=lambda e: (e.in_service_at or e.created_at, e.id))
        return f"endpoint:{newest.name}"
    generator = config.llm.generator
    provider = "bedrock" if generator.provider == "bedrock" else "openai"
    return f"{provider}:{generator.model}"


def target_choices(store: Store, config: Config) -> list[str]:
    """Targets worth offering: live endpoints (fine-tuned first, newest first), then the LLM profiles."""
    choices = [default_target(store, config)]
    endpoints = sorted(
        (e for e in store.endpoints() if e.status not in ("Failed", "Deleting")),
        key=lambda e: (e.kind != "finetuned", -(e.in_service_at or e.created_at)),
    )
    choices += [f"endpoint:{e.name}" for e in endpoints]
    for profile in (config.llm.generator, config.llm.judge):
        provider = "bedrock" if profile.provider == "bedrock" else "openai"
        choices.append(f"{provider}:{profile.model}")
    from core.llm.target_names import list_targets  # profile:NAME and openai:MODEL@PROFILE

    choices += [target for target, _what in list_targets(config)]
    return list(dict.fromkeys(choices))


def round_seconds(store: Store, config: Config | None = None) -> float:
    """The round length: the session's setting, else the config's [final] round_seconds, else 60."""
    stored = store.get_meta(ROUND_SECONDS_META)
    if isinstance(stored, (int, float)) and stored > 0:
        return float(stored)
    section = getattr(config, "final", None)
    configured = getattr(section, "round_seconds", None)
    if isinstance(configured, (int, float)) and configured > 0:
        return float(configured)
    return DEFAULT_ROUND_SECONDS


def checked_round_seconds(seconds: float) -> float:
    if not 5 <= seconds <= 3600:
        raise PlaygroundError("a round lasts between 5 and 3600 seconds")
    return float(seconds)


def set_round_seconds(store: Store, seconds: float) -> None:
    store.set_meta(ROUND_SECONDS_META, checked_round_seconds(seconds))


# ---- prompt versions -----------------------------------------------------------------------------


def save_version(
    store: Store, name: str, system_prompt: str, params: Params, *, parent_id: int | None = None
) -> PromptVersionRow:
    name = " ".join(str(name).split())
    if not name or len(name) > 60:
        raise PlaygroundError("a version name is 1-60 characters")
    params.validate()
    version_id = store.save_prompt_version(
        name,
        system_prompt,
        temperature=params.temperature,
        top_p=params.top_p,
        max_tokens=params.max_tokens,
        parent_id=parent_id,
    )
    version = store.prompt_version(version_id)
    assert version is not None
    return version


def next_version_name(store: Store) -> str:
    taken = {v.name for v in store.prompt_versions()}
    n = len(taken) + 1
    while f"v{n}" in taken:
        n += 1
    return f"v{n}"


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "header" | "hunk" | "add" | "remove" | "same" | "param" | "note"
    text: str


def diff_versions(a: PromptVersionRow, b: PromptVersionRow, *, context: int = 3) -> list[DiffLine]:
    """What changes from version a to version b: parameters, then a unified diff of the system prompts."""
    lines: list[DiffLine] = []
    for label, old, new in (
        ("temperature", a.temperature, b.temperature),
        ("top_p", a.top_p, b.top_p),
        ("max new tokens", a.max_tokens, b.max_tokens),
    ):
        if old != new:
            lines.append(DiffLine("param", f"{label}: {old:g} → {new:g}"))
    if not lines:
        lines.append(DiffLine("note", "parameters are the same"))
    if a.system_prompt == b.system_prompt:
        lines.append(DiffLine("note", "system prompts are identical"))
        return lines
    diff = difflib.unified_diff(
        a.system_prompt.splitlines(),
        b.system_prompt.splitlines(),
        fromfile=a.name,
        tofile=b.name,
        lineterm="",
        n=context,
    )
    for text in diff:
        if text.startswith(("---", "+++")):
            lines.append(DiffLine("header", text))
        elif text.startswith("@@"):
            lines.append(DiffLine("hunk", text))
        elif text.startswith("+"):
            lines.append(DiffLine("add", text))
        elif text.startswith("-"):
            lines.append(DiffLine("remove", text))
        else:
            lines.append(DiffLine("same", text))
    return lines


# ---- the round clock -----------------------------------------------------------------------------


class RoundClock:
    """A countdown that starts with the question. `clock` gives seconds (wall time by default, so
    the stored start and submission times are timestamps); tests pass a fake."""

    def __init__(self, seconds: float = DEFAULT_ROUND_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.seconds = float(seconds)
        self.clock = clock
        self.started_at: float | None = None
        self.submitted_at: float | None = None

    def start(self) -> float:
        self.started_at = self.clock()
        self.submitted_at = None
        return self.started_at

    @property
    def started(self) -> bool:
        return self.started_at is not None

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None

    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.submitted_at if self.submitted_at is not None else self.clock()
        return max(0.0, end - self.started_at)

    def remaining(self) -> float:
        if self.started_at is None:
            return self.seconds
        return max(0.0, self.seconds - self.elapsed())

    @property
    def expired(self) -> bool:
        return self.started and not self.submitted and self.remaining() <= 0.0

    def should_auto_submit(self) -> bool:
        """True once the round is within AUTO_SUBMIT_MARGIN_S of its end and nothing was handed in."""
        return self.started and not self.submitted and self.remaining() <= AUTO_SUBMIT_MARGIN_S

    def submit(self) -> float:
        if self.started_at is None:
            raise PlaygroundError("no round is running: enter a question first")
        if self.submitted_at is None:
            self.submitted_at = self.clock()
        return self.submitted_at

    @property
    def in_time(self) -> bool | None:
        if self.submitted_at is None or self.started_at is None:
            return None
        return self.submitted_at - self.started_at <= self.seconds

    def label(self) -> str:
        whole = math.ceil(self.remaining())  # whole seconds still to go: 0:00 only when time is up
        return f"{whole // 60}:{whole % 60:02d}"


# ---- streamed runs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleUpdate:
    """Progress of one streaming sample. `text` is everything so far (untrusted model output)."""

    slot: str  # the caller's label for the run: "single", "A", "B"
    run_id: int
    sample_id: int
    idx: int
    text: str
    done: bool = False
    finish_reason: str | None = None
    error: str | None = None
    latency_ms: float | None = None


OnUpdate = Callable[[SampleUpdate], None]


def _error_text(exc: BaseException) -> str:
    from core.safe_text import one_line

    return one_line(f"{type(exc).__name__}: {exc}", 300)


@dataclass(frozen=True)
class RunPlan:
    slot: str
    run_id: int
    sample_ids: list[int]
    messages: list[dict[str, str]]
    params: Params


async def _stream_sample(
    store: Store,
    target: ChatTarget,
    plan: RunPlan,
    idx: int,
    on_update: OnUpdate | None,
    emit_every_s: float,
    persist_every_s: float,
) -> None:
    sample_id = plan.sample_ids[idx]
    text = ""
    began = time.monotonic()
    last_emit = last_persist = float("-inf")

    def emit(**fields: Any) -> None:
        if on_update is not None:
            on_update(SampleUpdate(plan.slot, plan.run_id, sample_id, idx, text, **fields))

    try:
        async with target.stream(
            plan.messages,
            temperature=plan.params.temperature,
            top_p=plan.params.top_p,
            max_tokens=plan.params.max_tokens,
            purpose="playground",
        ) as stream:
            async for delta in stream:
                text += delta
                now = time.monotonic()
                if now - last_emit >= emit_every_s:
                    last_emit = now
                    emit()
                if now - last_persist >= persist_every_s:
                    last_persist = now
                    store.update_sample_text(sample_id, text)
        result = stream.result
        latency = (time.monotonic() - began) * 1000
        finish = result.finish_reason if result is not None else "stop"
        store.finish_sample(
            sample_id,
            text,
            finish_reason=finish,
            latency_ms=latency,
            tokens=result.completion_tokens if result is not None else None,
        )
        emit(done=True, finish_reason=finish, latency_ms=latency)
    except asyncio.CancelledError:
        store.finish_sample(sample_id, text, finish_reason="cancelled", latency_ms=(time.monotonic() - began) * 1000)
        emit(done=True, finish_reason="cancelled")
        raise
    except Exception as exc:  # an LLM failure ends this sample only
        error = _error_text(exc)
        store.finish_sample(sample_id, text, finish_reason="error", error=error)
        emit(done=True, finish_reason="error", error=error)


def plan_run(
    store: Store,
    *,
    slot: str,
    target_name: str,
    system_prompt: str,
    params: Params,
    question: str,
    k: int,
    version_id: int | None = None,
    round_id: int | None = None,
    kind: str = "single",
    round_started_at: float | None = None,
) -> RunPlan:
    """Create the run and its k empty samples in the store (before anything streams)."""
    params.validate()
    lo, hi = SAMPLES_RANGE
    if not lo <= k <= hi:
        raise PlaygroundError(f"samples must be between {lo} and {hi}")
    if not question.strip():
        raise PlaygroundError("enter a question first")
    run_id, sample_ids = store.create_run(
        target=target_name,
        system_prompt=system_prompt,
        temperature=params.temperature,
        top_p=params.top_p,
        max_tokens=params.max_tokens,
        question=question,
        samples=k,
        prompt_version_id=version_id,
        kind=kind,
        round_id=round_id,
        round_started_at=round_started_at,
    )
    return RunPlan(slot, run_id, sample_ids, build_messages(system_prompt, question), params)


async def stream_runs(
    store: Store,
    target: ChatTarget,
    plans: Sequence[RunPlan],
    *,
    on_update: OnUpdate | None = None,
    emit_every_s: float = 0.08,
    persist_every_s: float = 0.5,
) -> None:
    """Stream every sample of every planned run concurrently (the target's limiter applies).

    Cancelling stops them all; each sample keeps the text it had, marked "cancelled"."""
    await asyncio.gather(
        *[
            _stream_sample(store, target, plan, idx, on_update, emit_every_s, persist_every_s)
            for plan in plans
            for idx in range(len(plan.sample_ids))
        ]
    )


def plan_comparison(
    store: Store,
    *,
    target_name: str,
    version_a: PromptVersionRow,
    version_b: PromptVersionRow,
    question: str,
    k: int,
    round_id: int | None = None,
    round_started_at: float | None = None,
    token_cap: int = 0,
) -> tuple[int, list[RunPlan]]:
    """Two runs (A, B) on the same question with each version's prompt and parameters (max tokens at
    most `token_cap`, the event's answer limit, when one is set)."""
    plans = [
        plan_run(
            store,
            slot=slot,
            target_name=target_name,
            system_prompt=v.system_prompt,
            params=Params.of(v).capped(token_cap),
            question=question,
            k=k,
            version_id=v.id,
            round_id=round_id,
            kind="compare",
            round_started_at=round_started_at,
        )
        for slot, v in (("A", version_a), ("B", version_b))
    ]
    comparison_id = store.create_comparison(question, plans[0].run_id, plans[1].run_id)
    return comparison_id, plans


class Answer(Protocol):
    """An answer as the user sees it: its sample, the text so far, whether the user picked it."""

    @property
    def sample_id(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def picked(self) -> bool: ...


AnswerT = TypeVar("AnswerT", bound=Answer)


def chosen_sample(answers: Sequence[AnswerT], focused_id: int | None = None) -> AnswerT | None:
    """What a hand-in (by the user, or when time runs out) submits: the answer the user picked, else the
    focused one, else none. An answer without text is never handed in."""
    with_text = [a for a in answers if a.text]
    picked = next((a for a in with_text if a.picked), None)
    if picked is not None:
        return picked
    return next((a for a in with_text if a.sample_id == focused_id), None)


def pick_in_comparison(store: Store, comparison_id: int, sample_id: int | None, *, tie: bool = False) -> str:
    """A human prefers the answer of one side (or calls a tie): returns "A", "B" or "tie"."""
    comparison = store.comparison(comparison_id)
    if comparison is None:
        raise PlaygroundError(f"no comparison {comparison_id}")
    if tie:
        choice = "tie"
        store.unpick_run(comparison.run_a)
        store.unpick_run(comparison.run_b)
    else:
        sample = store.sample(sample_id) if sample_id is not None else None
        if sample is None or sample.run_id not in (comparison.run_a, comparison.run_b):
            raise PlaygroundError("pick an answer from one of the two sides")
        choice = "A" if sample.run_id == comparison.run_a else "B"
        store.unpick_run(comparison.run_b if choice == "A" else comparison.run_a)
        store.pick_sample(sample.id)
    store.set_human_choice(comparison_id, choice)
    return choice


# ---- judging -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairJudgement:
    outcome: Winner  # in the caller's terms: "A" = the first answer given
    score: float  # the first answer's score: 1 win, 0.5 tie, 0 loss
    reason: str  # the AB-order reason (untrusted)
    consistent: bool  # both orders agreed


async def _verdict(judge: ChatTarget, question: str, first: str, second: str, rubric: str, max_tokens: int) -> Verdict:
    from core.llm.errors import OutputFormatError

    messages = pairwise_judge_messages(question, first, second, rubric=rubric)
    try:
        result = await judge.complete(
            messages,
            temperature=JUDGE_TEMPERATURE,
            top_p=1.0,
            max_tokens=max_tokens,
            json_schema={"name": VERDICT_SCHEMA_NAME, "schema": VERDICT_SCHEMA, "strict": True},
            purpose="playground-judge",
        )
        reply = result.text
    except OutputFormatError as exc:  # not the strict JSON: still readable when it says [[A]] etc.
        reply = exc.text
        if not reply:
            raise
    return parse_verdict(reply)


async def judge_pair(
    judge: ChatTarget, question: str, first: str, second: str, *, rubric: str = DEFAULT_RUBRIC, max_tokens: int = 400
) -> PairJudgement:
    """The judge compares two answers in both orders; a side wins only when it wins both (swap-and-tie)."""
    ab, ba = await asyncio.gather(
        _verdict(judge, question, first, second, rubric, max_tokens),
        _verdict(judge, question, second, first, rubric, max_tokens),
    )
    outcome = combine_orders(ab.winner, ba.winner)
    consistent = ab.winner == {"A": "B", "B": "A", "tie": "tie"}[ba.winner]
    return PairJudgement(outcome, OUTCOME_SCORE[outcome], ab.reason, consistent)


async def judge_comparison(
    store: Store, judge: ChatTarget, comparison_id: int, *, rubric: str = DEFAULT_RUBRIC
) -> tuple[str, str]:
    """Judge sample i of side A against sample i of side B for every i both sides answered; the
    side with the higher mean score is the judge's pick. Returns (choice, reason)."""
    comparison = store.comparison(comparison_id)
    if comparison is None:
        raise PlaygroundError(f"no comparison {comparison_id}")
    side_a = [s for s in store.samples(comparison.run_a) if s.ok and s.text.strip()]
    side_b = {s.idx: s for s in store.samples(comparison.run_b) if s.ok and s.text.strip()}
    pairs = [(a, side_b[a.idx]) for a in side_a if a.idx in side_b]
    if not pairs:
        raise PlaygroundError("both sides need a finished answer before the judge can compare them")
    judgements = await asyncio.gather(
        *[judge_pair(judge, comparison.question, a.text, b.text, rubric=rubric) for a, b in pairs]
    )
    for (a, b), j in zip(pairs, judgements, strict=True):
        store.set_sample_judgement(a.id, j.score, j.reason)
        store.set_sample_judgement(b.id, 1.0 - j.score, j.reason)
    mean = sum(j.score for j in judgements) / len(judgements)
    choice = "A" if mean > 0.5 else "B" if mean < 0.5 else "tie"
    reason = judgements[0].reason
    store.set_judge_choice(comparison_id, choice, reason)
    return choice, reason


# ---- history and pick rate -----------------------------------------------------------------------


@dataclass(frozen=True)
class VersionStats:
    version: PromptVersionRow
    runs: int = 0
    samples: int = 0
    human_wins: float = 0.0  # ties count one half
    human_decided: int = 0
    judge_wins: float = 0.0
    judge_decided: int = 0
    rehearsal_mean: float | None = None  # from the newest rehearsal that scored this version
    rehearsal_sd: float | None = None

    @property
    def human_pick_rate(self) -> float | None:
        return self.human_wins / self.human_decided if self.human_decided else None

    @property
    def judge_pick_rate(self) -> float | None:
        return self.judge_wins / self.judge_decided if self.judge_decided else None


def version_stats(store: Store) -> list[VersionStats]:
    """Each version's runs, samples, human and judge pick rates in side-by-side comparisons, and its
    newest rehearsal score."""
    counts = store.run_counts_by_version()
    tallies: dict[int, list[float]] = {}  # version -> [human_wins, human_decided, judge_wins, judge_decided]
    for comparison, version_a, version_b in store.version_comparisons():
        if version_a is None or version_b is None or version_a == version_b:
            continue
        for version_id, side in ((version_a, "A"), (version_b, "B")):
            tally = tallies.setdefault(version_id, [0.0, 0, 0.0, 0])
            for offset, choice in ((0, comparison.human_choice), (2, comparison.judge_choice)):
                if choice is None:
                    continue
                tally[offset] += 1.0 if choice == side else 0.5 if choice == "tie" else 0.0
                tally[offset + 1] += 1
    rehearsed: dict[int, tuple[float | None, float | None]] = {}
    for rehearsal in store.rehearsals():  # oldest first: newer ones overwrite
        for entry in rehearsal.summary.get("versions", []):
            if entry.get("mean") is not None:
                rehearsed[int(entry["version_id"])] = (entry.get("mean"), entry.get("sd"))
    stats = []
    for version in store.prompt_versions():
        runs, samples = counts.get(version.id, (0, 0))
        hw, hd, jw, jd = tallies.get(version.id, [0.0, 0, 0.0, 0])
        mean, sd = rehearsed.get(version.id, (None, None))
        stats.append(VersionStats(version, runs, samples, hw, int(hd), jw, int(jd), mean, sd))
    return stats


def winning_version(store: Store) -> PromptVersionRow | None:
    """The best version so far: by newest rehearsal score, else human pick rate, else judge pick rate,
    else the newest version."""
    stats = version_stats(store)
    if not stats:
        return None
    for key in (lambda s: s.rehearsal_mean, lambda s: s.human_pick_rate, lambda s: s.judge_pick_rate):
        scored = [s for s in stats if key(s) is not None]
        if scored:
            return max(scored, key=lambda s: (key(s), -(s.rehearsal_sd or 0.0), s.version.id)).version
    return stats[-1].version


# ---- export --------------------------------------------------------------------------------------


def version_payload(store: Store, version: PromptVersionRow) -> dict[str, Any]:
    stats = next((s for s in version_stats(store) if s.version.id == version.id), None)
    payload: dict[str, Any] = {
        "name": version.name,
        "system_prompt": version.system_prompt,
        "temperature": version.temperature,
        "top_p": version.top_p,
        "max_tokens": version.max_tokens,
        "session": getattr(store, "name", ""),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if stats is not None:
        record = {
            "runs": stats.runs,
            "samples": stats.samples,
            "human_pick_rate": stats.human_pick_rate,
            "human_decided": stats.human_decided,
            "judge_pick_rate": stats.judge_pick_rate,
            "judge_decided": stats.judge_decided,
            "rehearsal_mean": stats.rehearsal_mean,
            "rehearsal_sd": stats.rehearsal_sd,
        }
        payload["record"] = {k: v for k, v in record.items() if v is not None}
    return payload


def export_version(store: Store, version: PromptVersionRow, path: str | Path) -> Path:
    """Write a version's prompt and parameters (and its record) as TOML (.toml) or JSON (anything else)."""
    target = Path(path).expanduser()
    payload = version_payload(store, version)
    if target.suffix.lower() == ".toml":
        import tomli_w

        text = tomli_w.dumps(payload, multiline_strings=True)
    else:
        text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target


__all__ = [
    "AUTO_SUBMIT_MARGIN_S",
    "Answer",
    "DEFAULT_ROUND_SECONDS",
    "DiffLine",
    "MAX_TOKENS_RANGE",
    "PairJudgement",
    "Params",
    "PlaygroundError",
    "RoundClock",
    "RunPlan",
    "SAMPLES_RANGE",
    "SampleUpdate",
    "TEMPERATURE_RANGE",
    "TOP_P_RANGE",
    "VersionStats",
    "build_messages",
    "checked_round_seconds",
    "chosen_sample",
    "default_target",
    "diff_versions",
    "export_version",
    "judge_comparison",
    "judge_pair",
    "next_version_name",
    "pick_in_comparison",
    "plan_comparison",
    "plan_run",
    "round_seconds",
    "save_version",
    "set_round_seconds",
    "stream_runs",
    "target_choices",
    "version_payload",
    "version_stats",
    "winning_version",
]

"""Fault injection for the LLM emulator: which requests fail, and how a failed reply looks.

Rules are checked in the order they were added; the first rule that matches a request (kind
allowed at this stage, model, prompt substring, probability) fires and uses up one of its count.
Transport faults ("401", "429", "429_quota", "500", "503", "reset", "stall") are decided before the
rate limiter; content faults ("malformed_json", "truncated", "hostile") after it, so a request
turned away by the limiter never uses one up. "malformed_json" only matches requests that asked
for JSON (a json_schema or json_object response format).
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

TRANSPORT_KINDS = frozenset({"401", "429", "429_quota", "500", "503", "reset", "stall"})
CONTENT_KINDS = frozenset({"malformed_json", "truncated", "hostile"})
FAULT_KINDS = tuple(sorted(TRANSPORT_KINDS)) + tuple(sorted(CONTENT_KINDS))

HOSTILE_MARKERS: tuple[str, ...] = (
    "[/]",
    "[@click=app.quit]",
    "[link=https://example.invalid]x[/link]",
    "[$accent]",
    "\x1b[2J",
    "\x1b]0;pwned\x07",
    "\r",
    "\x00",
    "\u202e",
    "\U0001f916",
)
"""Substrings every hostile reply contains (plus a line of LONG_LINE_CHARS characters)."""

LONG_LINE_CHARS = 5000

SERVER_QUIRKS: dict[str, str] = {
    # what a real OpenAI-compatible server may lack, to emulate it (EmulatorConfig.quirks)
    "no_json_schema": "rejects response_format json_schema (json_object still works)",
    "no_response_format": "rejects any response_format (plain text only)",
    "no_max_completion_tokens": "rejects max_completion_tokens (takes max_tokens)",
    "no_stream_usage": "ignores stream_options.include_usage (no usage in streams)",
    "no_models": "has no GET /v1/models",
    "no_seed": "ignores seed",
    "no_auth": "needs no API key",
}
SERVER_VARIANTS: dict[str, tuple[str, ...]] = {
    # named server variants and their quirks (LlmEmulator(variant=...), the tests)
    "openai": (),
    "no-json-schema": ("no_json_schema",),
    "plain-text": ("no_response_format",),
    "max-tokens-only": ("no_max_completion_tokens",),
    "no-stream-usage": ("no_stream_usage",),
    "llamacpp-like": ("no_json_schema", "no_max_completion_tokens", "no_auth"),
    "bare": ("no_response_format", "no_max_completion_tokens", "no_stream_usage", "no_models", "no_seed", "no_auth"),
}

HOSTILE_TEXT = (
    "Sure [/] here you go [@click=app.quit]click me[/] and "
    "[link=https://example.invalid]x[/link] with [$accent]accent[/] styling."
    "\x1b[2J\x1b]0;pwned\x07 progress 10%\rprogress 99% NUL\x00byte "
    "RTL \u202eevil.exe\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 "
    "emoji \U0001f916\U0001f525\U0001f44d\U0001f3fd family \U0001f468\u200d\U0001f469\u200d\U0001f467\n"
    + "W" * LONG_LINE_CHARS
    + "\n"
)
"""Markup that Textual or Rich would interpret, terminal escape sequences, a lone CR, NUL, RTL
override, emoji with ZWJ sequences and a very long line."""


@dataclass
class FaultRule:
    kind: str
    count: int | None = 1
    """Firings left; None = unlimited (until cleared)."""
    probability: float = 1.0
    seed: int = 0
    model: str | None = None
    """Only requests for this model name (exact match)."""
    prompt_contains: str | None = None
    """Only requests whose message text contains this (case-insensitive)."""
    retry_after_ms: int = 1000
    """For "429": the retry-after-ms header (retry-after gets the ceiling in seconds)."""
    stall_s: float | None = None
    """For "stall": seconds to hold the request; None = the emulator's default."""
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in TRANSPORT_KINDS | CONTENT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be within 0..1, got {self.probability!r}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"fault count must be >= 0, got {self.count!r}")
        self._rng = random.Random(self.seed)

    def matches(self, model: str, prompt_text: str, *, json_requested: bool) -> bool:
        if self.count == 0:
            return False
        if self.model is not None and self.model != model:
            return False
        if self.prompt_contains is not None and self.prompt_contains.lower() not in prompt_text.lower():
            return False
        if self.kind == "malformed_json" and not json_requested:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_rng", None)
        return data


def _make_rule(
    kind: Any,
    *,
    count: int | None = None,
    probability: float | None = None,
    seed: int = 0,
    model: str | None = None,
    prompt_contains: str | None = None,
    retry_after_ms: int = 1000,
    stall_s: float | None = None,
) -> FaultRule:
    if probability is None:
        probability, count = 1.0, (1 if count is None else count)
    return FaultRule(
        kind=str(kind),
        count=None if count is None else int(count),
        probability=float(probability),
        seed=int(seed),
        model=model,
        prompt_contains=prompt_contains,
        retry_after_ms=int(retry_after_ms),
        stall_s=None if stall_s is None else float(stall_s),
    )


class FaultInjector:
    """Thread-safe schedule of faults for the LLM emulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._fired: dict[str, int] = {}

    def add(
        self,
        kind: str,
        *,
        count: int | None = None,
        probability: float | None = None,
        seed: int = 0,
        model: str | None = None,
        prompt_contains: str | None = None,
        retry_after_ms: int = 1000,
        stall_s: float | None = None,
    ) -> FaultRule:
        """Schedule a fault. Without `probability` it hits the next `count` (default 1) matching
        requests; with it, each matching request fails with that probability (seeded), `count`
        times at most (default: until cleared)."""
        rule = _make_rule(
            kind,
            count=count,
            probability=probability,
            seed=seed,
            model=model,
            prompt_contains=prompt_contains,
            retry_after_ms=retry_after_ms,
            stall_s=stall_s,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def add_from_json(self, spec: Any) -> list[FaultRule]:
        """Schedule from the control API's JSON: one rule object, a list of them, or
        {"faults": [...], "clear": true}. Rule keys are `add`'s parameters plus "kind"."""
        rules: Iterable[Any]
        if isinstance(spec, dict) and ("faults" in spec or "clear" in spec):
            if spec.get("clear"):
                self.clear()
            rules = spec.get("faults") or []
        elif isinstance(spec, dict):
            rules = [spec]
        elif isinstance(spec, list):
            rules = spec
        else:
            raise ValueError('expected a fault object, a list of them, or {"faults": [...]}')
        allowed = {"kind", "count", "probability", "seed", "model", "prompt_contains", "retry_after_ms", "stall_s"}
        parsed = []
        for item in rules:
            if not isinstance(item, dict) or "kind" not in item:
                raise ValueError(f'each fault needs a "kind": {json.dumps(item, default=str)[:200]}')
            unknown = set(item) - allowed
            if unknown:
                raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
            try:
                parsed.append(_make_rule(item["kind"], **{k: v for k, v in item.items() if k != "kind"}))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"bad fault {json.dumps(item, default=str)[:200]}: {exc}") from None
        with self._lock:  # all or nothing
            self._rules.extend(parsed)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        """Clear the schedule and the fired counters."""
        with self._lock:
            self._rules.clear()
            self._fired.clear()

    def pick(
        self, model: str, prompt_text: str, *, kinds: frozenset[str] | set[str], json_requested: bool
    ) -> FaultRule | None:
        """The rule that fires for this request at this stage, if any (uses up one of its count)."""
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or not rule.matches(model, prompt_text, json_requested=json_requested):
                    continue
                if rule.probability < 1.0 and rule._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                if rule.count is not None:
                    rule.count -= 1
                self._fired[rule.kind] = self._fired.get(rule.kind, 0) + 1
                self._rules = [r for r in self._rules if r.count != 0]
                return rule
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_dict() for r in self._rules]

    @property
    def fired(self) -> dict[str, int]:
        """How many times each kind has fired since the last reset."""
        with self._lock:
            return dict(self._fired)


# --------------------------------------------------------------------------- what content faults do


def malformed(text: str) -> str:
    """Broken JSON: cut about two thirds of the way in, then trailing junk a model might add."""
    cut = max(1, (len(text) * 2) // 3)
    return text[:cut] + "\u2026 'oops"


def truncated(text: str, max_tokens: int | None) -> str:
    """About half the reply (never more than `max_tokens` tokens)."""
    keep = max(1, len(text) // 2)
    if max_tokens is not None:
        keep = min(keep, max(1, max_tokens * 4))
    return text[:keep]


def hostile(text: str, *, json_mode: bool) -> str:
    """Hostile content. In JSON mode the JSON stays valid and every free-text string value (longer
    than 8 characters or holding a space; enum-like words are left alone) carries the payload,
    the first one with the long line, so the hostile text reaches whatever shows the parsed fields."""
    if not json_mode:
        return HOSTILE_TEXT + text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return HOSTILE_TEXT + text
    first = [True]
    short_payload = HOSTILE_TEXT.split("\n", 1)[0] + " "

    def poison(node: Any) -> Any:
        if isinstance(node, str) and (len(node) > 8 or " " in node):
            payload = HOSTILE_TEXT if first[0] else short_payload
            first[0] = False
            return payload + node
        if isinstance(node, list):
            return [poison(v) for v in node]
        if isinstance(node, dict):
            return {k: poison(v) for k, v in node.items()}
        return node

    return json.dumps(poison(value), ensure_ascii=False)

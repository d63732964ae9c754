"""Format lints that cost nothing: pure Python over the text of a pair.

`lint_pair` checks one pair; `lint_corpus` checks many and adds length outliers, which need the
whole set. Every regex is compiled once, and most are guarded by a plain substring test on the
lower-cased text, so 100,000 pairs take a few seconds.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING

from core.curation.types import REFUSAL_KIND, Flag

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from core.curation.types import PairLike

HEADER_LEAK = "header_leak"
TOKEN_LEAK = "token_leak"
ROLE_LEAK = "role_leak"
TOOL_ERROR = "tool_error"
REFUSAL = "refusal"
META_TALK = "meta_talk"
TRUNCATED = "truncated"
REPETITION = "repetition"
EMPTY = "empty"
LENGTH_OUTLIER = "length_outlier"

LINT_CODES: dict[str, str] = {
    HEADER_LEAK: "a prompt-template header or marker leaked into the text",
    TOKEN_LEAK: "a special token of a chat template leaked into the text",
    ROLE_LEAK: "a chat role label (user:, assistant:) leaked into the text",
    TOOL_ERROR: "an API or tool error message stands where content should be",
    REFUSAL: "a refusal inside data that should answer",
    META_TALK: "the text refers to a source passage the model will never see",
    TRUNCATED: "the answer looks cut off",
    REPETITION: "the answer repeats itself",
    EMPTY: "empty or near-empty text",
    LENGTH_OUTLIER: "the answer length is far from the rest of the set",
}

MIN_ANSWER_WORDS = 3
REPEAT_NGRAM = 6
REPEAT_NGRAM_TIMES = 3
REPEAT_SENTENCE_TIMES = 3

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")
_SPACES = re.compile(r"\s+")


def snippet(text: str, limit: int = 40) -> str:
    """Quote a piece of untrusted text for a flag message: one line, no control characters."""
    flat = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return f"'{flat}'"


# Every pattern runs on the lower-cased text (no IGNORECASE: it disables the regex engine's
# first-character scan), and most run only after a plain substring test says they might match.

# --- header / template leakage ---------------------------------------------------------------
_HEADER_START = re.compile(
    r"\s*(?:#{1,6}\s*(?:answer|response|question|instruction|input|output)\b[^\n]{0,20}"
    r"|\**(?:answer|response|output|question)\s*\**\s*:)"
)
_TEMPLATE_MARKER = re.compile(r"#{1,6}\s*(?:instruction|input|response)\s*:")

# --- special tokens and role labels ----------------------------------------------------------
_SPECIAL_TOKEN = re.compile(
    r"<\|(?:begin_of_text|end_of_text|start_header_id|end_header_id|eot_id|eom_id|python_tag"
    r"|finetune_right_pad_id|reserved_special_token_\d+|im_start|im_end|endoftext|system|user|assistant)\|>"
    r"|\[/?inst\]|<</?sys>>|</s>"
)
_ROLE_START = re.compile(r"\W{0,3}(?:assistant|user|system|human)\s*:")
_ROLE_TURN = re.compile(r"\n[ \t]*\W{0,3}(?:user|human|assistant)\s*:")

# --- tool / API errors -----------------------------------------------------------------------
_TOOL_ERROR_STRONG = re.compile(
    r"error code:\s*\d{3}\b"
    r"|traceback \(most recent call last\)"
    r"|\{['\"]error['\"]:\s*\{"
    r"|an error occurred \(\w+\) when calling the \w+ operation"
    r"|i'm sorry, but i (?:cannot|can't|am unable to|'m unable to) (?:access|browse|retrieve|open|reach)\b"
    r"|(?:openai|botocore|anthropic|httpx|requests)\.(?:\w+\.)*\w*(?:error|exception)\b"
    r"|context_length_exceeded|insufficient_quota"
)
_TOOL_STRONG_HINTS = ("error", "traceback", "i'm sorry, but i", "exception", "insufficient_quota")
# Phrases that are ordinary words inside a technical answer ("when you hit the rate limit ...")
# count only when the text opens with them, as an error body does.
_TOOL_ERROR_OPENING = re.compile(
    r"\W{0,3}(?:\d{3}\s*[-:]?\s*)?(?:error\s*[:\-!]"
    r"|rate[ -]limit(?:ed)?\b[^.\n]{0,30}\b(?:exceeded|reached|hit)\b|rate limit error"
    r"|too many requests|internal server error|service (?:is )?(?:temporarily )?unavailable"
    r"|request timed out|bad gateway|gateway time-?out)"
)


# --- refusals --------------------------------------------------------------------------------
_REFUSAL_START = re.compile(
    r"\W{0,3}(?:(?:(?:i'm|i am|we're|we are) sorry|sorry|my apologies|apologies)\b"
    r"[^.!?\n]{0,80}?\b(?:can(?:no|')t|can not|unable|not able|won't|will not|don't have|do not have"
    r"|must decline|not (?:allowed|permitted))\b"
    r"|i (?:cannot|can't|can not|won't|will not|am unable to|'m unable to|am not able to|'m not able to"
    r"|must decline to|am not allowed to|'m not allowed to)(?: \w+)? (?:help|assist|provide|answer|comply|fulfil"
    r"|fulfill|share|give|discuss|offer|support|create|generate|write|do|respond|engage|browse|access|that|this)\b"
    r"|i (?:do not|don't) have (?:access|the ability|real-time)\b)"
)
_REFUSAL_ANYWHERE = re.compile(
    r"as an ai(?: language model| assistant| model| chatbot)\b"
    r"|i (?:can't|cannot|can not) (?:help|assist) (?:you )?with (?:that|this)\b"
)

# --- meta-talk -------------------------------------------------------------------------------
# A cheap trigger finds the nouns; the full pattern then runs on a short window around each one.
_META_TRIGGER = re.compile(
    r"text|passage|context|excerpt|document|article|snippet|transcript|based on the|here (?:is|are)"
)
_LEAD = (
    r"(?:based (?:up)?on|according to|as per|as "
    r"(?:mentioned|stated|described|noted|discussed|shown|explained|outlined) in)"
)
_QUALIFIER = r"(?:provided |given |above |following |source |original |supplied )"
_STRONG_SOURCE = r"(?:passage|excerpt|snippet|transcript|source material|source text)s?"
_WEAK_SOURCE = r"(?:text|context|document|article)s?"  # also everyday words: "in the text box"
_META_TALK = re.compile(
    r"(?:" + _LEAD + r"|from|in) the " + _QUALIFIER + r"?" + _STRONG_SOURCE + r"\b"
    r"|" + _LEAD + r" the " + _QUALIFIER + r"?" + _WEAK_SOURCE + r"\b"
    r"|(?:from|in) the " + _QUALIFIER + _WEAK_SOURCE + r"\b"
    r"|the (?:provided |given |above |supplied )?(?:text|passage|context|excerpt|document|snippet)"
    r" (?:provided |given |above )?(?:states|says|mentions|describes|explains|notes|indicates|does not|doesn't)\b"
    r"|based on the (?:information|details|content) (?:provided|given|above|supplied)\b"
    r"|here (?:is|are) (?:a|an|the|some|\d+) (?:question|answer|q&a|question-answer)s?\b"
)
_META_NOUNS = (
    "text",
    "passage",
    "context",
    "excerpt",
    "document",
    "article",
    "snippet",
    "transcript",
    "based on",
    "here ",
)
_META_BEFORE, _META_AFTER = 70, 40

# --- truncation ------------------------------------------------------------------------------
_FENCE = re.compile(r"^[ \t]*(?:```|~~~)", re.MULTILINE)
_CLOSED_ENDINGS = frozenset(".!?)]}\"'`*”’»…>|。！？")
_DANGLING_ENDINGS = frozenset(",;:([{-–—/&+=\\")
_LIST_OR_TABLE_LINE = re.compile(r"\s*(?:[-*+•]\s|\d{1,3}[.)]\s|\||#{1,6}\s)")

# --- repetition ------------------------------------------------------------------------------
_WORD = re.compile(r"\w+")
_PUNCTUATION_TO_SPACE = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~“”‘’«»…–—•"})
_BULLET = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+")


def lint_pair(pair: PairLike) -> list[Flag]:
    """The cheap format findings for one pair, in a stable order."""
    question = pair.question or ""
    answer = pair.answer or ""
    flags: list[Flag] = []
    q_low = _fold(question)
    a_low = _fold(answer)

    _check_empty(question, answer, flags)
    for field_name, text, low in (("question", question, q_low), ("answer", answer, a_low)):
        _check_header(field_name, text, low, flags)
        _check_tokens(field_name, text, low, flags)
        _check_tool_error(field_name, text, low, flags)
        _check_meta_talk(field_name, text, low, flags)
    if (getattr(pair, "kind", "qa") or "qa") != REFUSAL_KIND:
        _check_refusal(answer, a_low, flags)
    _check_truncation(answer, flags)
    _check_repetition(a_low, flags)
    return flags


def lint_corpus(
    pairs: Iterable[PairLike],
    *,
    outlier_threshold: float = 3.5,
    min_group: int = 20,
) -> dict[int, list[Flag]]:
    """`lint_pair` for every pair plus answer-length outliers; only pairs with findings appear.

    Length outliers use a robust z-score on log(characters): 0.6745·(x − median)/MAD, computed
    per pair kind (refusals are short by nature) over groups of at least `min_group` pairs, and
    flagged when |z| > `outlier_threshold` (3.5 is the usual Iglewicz–Hoaglin cut-off).
    """
    pairs = list(pairs)
    found: dict[int, list[Flag]] = {}
    for pair in pairs:
        flags = lint_pair(pair)
        if flags:
            found[pair.id] = flags
    for pair_id, flag in length_outliers(pairs, threshold=outlier_threshold, min_group=min_group):
        found.setdefault(pair_id, []).append(flag)
    return found


def length_outliers(
    pairs: Sequence[PairLike], *, threshold: float = 3.5, min_group: int = 20
) -> list[tuple[int, Flag]]:
    import numpy as np

    groups: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        groups.setdefault(getattr(pair, "kind", "qa") or "qa", []).append(index)
    result: list[tuple[int, Flag]] = []
    for kind, indices in groups.items():
        lengths = np.array([len((pairs[i].answer or "").strip()) for i in indices], dtype=np.float64)
        usable = lengths > 0  # empty answers are flagged as such, and would drag the median
        if int(usable.sum()) < min_group:
            continue
        logs = np.log(lengths[usable])
        median = float(np.median(logs))
        mad = float(np.median(np.abs(logs - median)))
        if mad <= 0.0:
            mad = float(np.mean(np.abs(logs - median))) * 1.2533  # mean absolute deviation, normal-consistent
            if mad <= 0.0:
                continue
        z = np.zeros_like(lengths)
        z[usable] = 0.6745 * (logs - median) / mad
        typical = round(math.exp(median))
        for position in np.nonzero(np.abs(z) > threshold)[0]:
            chars = int(lengths[position])
            side = "long" if z[position] > 0 else "short"
            message = (
                f"answer is {chars} characters, unusually {side} for {kind} pairs "
                f"(median {typical}; robust z = {z[position]:+.1f}, limit ±{threshold:g})"
            )
            result.append((pairs[indices[position]].id, Flag(LENGTH_OUTLIER, message)))
    return result


def _fold(text: str) -> str:
    low = text.lower()
    return low.replace("’", "'") if "’" in low else low


def _check_empty(question: str, answer: str, flags: list[Flag]) -> None:
    if not _WORD.search(question):
        flags.append(Flag(EMPTY, "question is empty" if not question.strip() else "question has no words"))
    if not answer.strip():
        flags.append(Flag(EMPTY, "answer is empty"))
        return
    if len(answer.split(None, MIN_ANSWER_WORDS)) >= MIN_ANSWER_WORDS:
        return
    words = len(_WORD.findall(answer))
    if words < MIN_ANSWER_WORDS:
        flags.append(Flag(EMPTY, f"answer is near-empty ({words} word{'s' if words != 1 else ''}): {snippet(answer)}"))


def _found(text: str, low: str, match: re.Match[str]) -> str:
    """The matched piece in the original casing (lower() can change lengths; then the lower-case one)."""
    return text[match.start() : match.end()] if len(text) == len(low) else match.group(0)


def _check_header(field_name: str, text: str, low: str, flags: list[Flag]) -> None:
    if "#" not in low and ":" not in low:
        return
    match = _HEADER_START.match(low)
    if match:
        flags.append(Flag(HEADER_LEAK, f"{field_name} starts with {snippet(_found(text, low, match).strip())}"))
        return
    if "#" in low:
        match = _TEMPLATE_MARKER.search(low)
        if match:
            flags.append(
                Flag(HEADER_LEAK, f"{field_name} contains the template marker {snippet(_found(text, low, match))}")
            )


def _check_tokens(field_name: str, text: str, low: str, flags: list[Flag]) -> None:
    if "<" in low or "[" in low:
        match = _SPECIAL_TOKEN.search(low)
        if match:
            flags.append(
                Flag(TOKEN_LEAK, f"{field_name} contains the special token {snippet(_found(text, low, match))}")
            )
    if ":" in low:
        match = _ROLE_START.match(low)
        if match:
            label = snippet(_found(text, low, match).strip())
            flags.append(Flag(ROLE_LEAK, f"{field_name} starts with the role label {label}"))
            return
        if "\n" in low:
            match = _ROLE_TURN.search(low)
            if match:
                label = snippet(_found(text, low, match).strip())
                flags.append(Flag(ROLE_LEAK, f"{field_name} continues the chat with a {label} turn"))


def _check_tool_error(field_name: str, text: str, low: str, flags: list[Flag]) -> None:
    match = _TOOL_ERROR_OPENING.match(low)
    if match is None and any(hint in low for hint in _TOOL_STRONG_HINTS):
        match = _TOOL_ERROR_STRONG.search(low)
    if match:
        flags.append(
            Flag(TOOL_ERROR, f"{field_name} holds an API or tool error: {snippet(_found(text, low, match), 60)}")
        )


def _check_refusal(answer: str, a_low: str, flags: list[Flag]) -> None:
    match = _REFUSAL_START.match(a_low)
    if match is None and ("as an ai" in a_low or "with th" in a_low):
        match = _REFUSAL_ANYWHERE.search(a_low)
    if match:
        found = _found(answer, a_low, match).strip()
        flags.append(Flag(REFUSAL, f"answer refuses although this is not a refusal pair: {snippet(found, 60)}"))


def _check_meta_talk(field_name: str, text: str, low: str, flags: list[Flag]) -> None:
    if not any(noun in low for noun in _META_NOUNS):
        return
    for trigger in _META_TRIGGER.finditer(low):
        offset = max(0, trigger.start() - _META_BEFORE)
        match = _META_TALK.search(low, offset, trigger.end() + _META_AFTER)
        if match:
            found = _found(text, low, match)
            flags.append(
                Flag(META_TALK, f"{field_name} refers to a source the model will not see: {snippet(found, 60)}")
            )
            return


def _check_truncation(answer: str, flags: list[Flag]) -> None:
    stripped = answer.rstrip()
    if not stripped:
        return
    if "```" in stripped or "~~~" in stripped:
        fences = len(_FENCE.findall(stripped))
        if fences % 2:
            flags.append(Flag(TRUNCATED, f"answer has an unclosed code fence ({fences} fence lines)"))
            return
    last = stripped[-1]
    if last in _CLOSED_ENDINGS:
        return
    if last in _DANGLING_ENDINGS:
        flags.append(Flag(TRUNCATED, f"answer ends with {last!r}, mid-sentence: {snippet(stripped[-40:])}"))
        return
    if not last.isalnum():
        return  # emoji, %, ° and the like: not evidence either way
    last_line = stripped[stripped.rfind("\n") + 1 :]
    if _LIST_OR_TABLE_LINE.match(last_line):
        return  # list items, table rows and headings often end without punctuation
    if "\n" not in stripped and len(stripped.split(None, 6)) < 6:
        return  # a terse one-line answer ("Paris") is not a cut-off one
    flags.append(Flag(TRUNCATED, f"answer ends without terminal punctuation: {snippet(stripped[-40:])}"))


def _check_repetition(a_low: str, flags: list[Flag]) -> None:
    words = a_low.split()
    n = REPEAT_NGRAM
    if len(words) >= n + REPEAT_NGRAM_TIMES - 1:
        grams = list(zip(*(words[i:] for i in range(n)), strict=False))
        if len(set(grams)) <= len(grams) - (REPEAT_NGRAM_TIMES - 1):
            gram, count = Counter(grams).most_common(1)[0]
            if count >= REPEAT_NGRAM_TIMES:
                flags.append(Flag(REPETITION, f"answer repeats the phrase {snippet(' '.join(gram))} {count} times"))
                return
    if "\n" in a_low:
        items = Counter(
            " ".join(line[bullet.end() :].translate(_PUNCTUATION_TO_SPACE).split())
            for line in a_low.split("\n")
            if (bullet := _BULLET.match(line)) is not None
        )
        items.pop("", None)
        if items:
            item, count = items.most_common(1)[0]
            if count >= 2 and " " in item:
                flags.append(Flag(REPETITION, f"answer lists the item {snippet(item)} {count} times"))
                return
    segments = a_low.replace("\n", ". ").replace("! ", ". ").replace("? ", ". ").split(". ")
    if len(set(segments)) > len(segments) - (REPEAT_SENTENCE_TIMES - 1):
        return
    keys = [" ".join(s.translate(_PUNCTUATION_TO_SPACE).split()) for s in segments]
    sentence, count = Counter(k for k in keys if k).most_common(1)[0] if any(keys) else ("", 0)
    if count >= REPEAT_SENTENCE_TIMES:
        flags.append(Flag(REPETITION, f"answer repeats the sentence {snippet(sentence)} {count} times"))

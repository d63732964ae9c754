"""Deterministic, prompt-derived text for the LLM emulator. Pure: no I/O, stdlib only.

`reply()` works out what the conversation asks for (a topic tree, N questions, an answer, a
refusal, a pairwise judge verdict, a 1-10 quality score) and writes plausible text from the
prompt's own words. With `json_schema` it returns JSON that validates against the schema.

Sampling model. Every choice the writer makes (a sentence, a question template, a category) is a
pick among options whose preference is a hash of the whole conversation, so even the greedy
choice (temperature 0) changes when the system prompt changes. Temperature flattens the
preferences (more variety), top_p keeps only the most preferred share of them.

Randomness:
- `seed` given: drawn from (seed, messages, schema, temperature, top_p) only: the same call always
  gives the same text.
- `seed` None and temperature 0: greedy, a function of the inputs only.
- `seed` None and temperature > 0: the inputs plus a process-wide call counter, so two identical
  calls differ like real samples while a run stays reproducible; `reset_sampling()` rewinds it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Sequence

T = TypeVar("T")

__all__ = [
    "reply",
    "tuned_reply",
    "JudgeBias",
    "DEFAULT_JUDGE_BIAS",
    "Training",
    "count_tokens",
    "count_prompt_tokens",
    "truncate_to_tokens",
    "reset_sampling",
]


# --------------------------------------------------------------------------- tokens


def count_tokens(text: str) -> int:
    """The emulator's token estimate: ceil(chars / 4)."""
    return math.ceil(len(text) / 4) if text else 0


def count_prompt_tokens(messages: Sequence[dict]) -> int:
    """Prompt tokens as the emulator bills them: the text of every message plus 4 per message."""
    return sum(count_tokens(_text_of(m.get("content"))) + 4 for m in messages) + 2


def truncate_to_tokens(text: str, max_tokens: int | None) -> tuple[str, bool]:
    """Cut `text` to at most `max_tokens` tokens; returns (text, was_cut)."""
    if max_tokens is None or count_tokens(text) <= max_tokens:
        return text, False
    return text[: max(0, max_tokens) * 4], True


# --------------------------------------------------------------------------- sampling

_counter = itertools.count()
_counter_lock = threading.Lock()


def reset_sampling() -> None:
    """Rewind the call counter used for unseeded sampling at temperature > 0."""
    global _counter
    with _counter_lock:
        _counter = itertools.count()


def _next_count() -> int:
    with _counter_lock:
        return next(_counter)


def _digest(*parts: object) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(str(part).encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.digest()


def _unit(*parts: object) -> float:
    return int.from_bytes(_digest(*parts)[:8], "big") / 2**64


class _Sampler:
    """Picks among options like a language model would pick tokens."""

    def __init__(self, context_key: str, temperature: float, top_p: float, rng: random.Random) -> None:
        self.key = context_key
        self.temperature = max(0.0, float(temperature))
        self.top_p = min(1.0, max(0.0, float(top_p)))
        self.rng = rng

    def choose(self, options: Sequence[T], slot: str, bias: Sequence[float] | None = None) -> T:
        return options[self.choose_index(options, slot, bias)]

    def choose_index(self, options: Sequence[Any], slot: str, bias: Sequence[float] | None = None) -> int:
        if not options:
            raise ValueError("nothing to choose from")
        if len(options) == 1:
            return 0
        prefs = [_unit(self.key, slot, repr(o)) * 4.0 + (bias[i] if bias else 0.0) for i, o in enumerate(options)]
        order = sorted(range(len(options)), key=lambda i: -prefs[i])
        if self.temperature <= 1e-6 or self.top_p <= 1e-6:
            return order[0]
        top = prefs[order[0]]
        weights = [math.exp((prefs[i] - top) / self.temperature) for i in order]
        total = sum(weights)
        kept, mass = [], 0.0
        for i, w in zip(order, weights, strict=False):
            kept.append((i, w))
            mass += w / total
            if mass >= self.top_p:
                break
        roll = self.rng.random() * sum(w for _, w in kept)
        for i, w in kept:
            roll -= w
            if roll <= 0:
                return i
        return kept[-1][0]

    def jitter(self, slot: str, spread: int) -> int:
        """A small integer offset in [-spread, spread] that grows with temperature."""
        if self.temperature <= 1e-6 or spread <= 0:
            return 0
        width = max(0, min(spread, round(spread * min(self.temperature, 1.5))))
        return self.choose(list(range(-width, width + 1)), slot) if width else 0


# --------------------------------------------------------------------------- reading the prompt


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


_LLAMA_TURN = re.compile(
    r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\s*(.*?)(?=<\|eot_id\|>|<\|start_header_id\|>|$)", re.S
)
_INSTRUCTION = re.compile(r"###\s*Instruction:\s*(.*?)(?:###\s*Input:\s*(.*?))?(?:###\s*Response:|$)", re.S)


def _unwrap_raw_prompt(messages: list[dict]) -> list[dict]:
    """Llama 3 chat-template text or the JumpStart instruction template -> plain messages."""
    if len(messages) != 1:
        return messages
    text = _text_of(messages[0].get("content"))
    if "<|start_header_id|>" in text:
        turns = [{"role": r, "content": c.strip()} for r, c in _LLAMA_TURN.findall(text) if c.strip()]
        return turns or messages
    match = _INSTRUCTION.search(text)
    if match:
        instruction = (match.group(1) or "").strip()
        extra = (match.group(2) or "").strip()
        preamble = text[: match.start()].strip()
        out = [{"role": "system", "content": preamble}] if preamble else []
        return out + [{"role": "user", "content": instruction + ("\n\n" + extra if extra else "")}]
    return messages


@dataclass
class _Prompt:
    system: str
    user: str
    combined: str
    lower: str
    context_key: str


def _read_prompt(messages: list[dict], json_schema: dict | None) -> _Prompt:
    messages = _unwrap_raw_prompt([m for m in messages if isinstance(m, dict)])
    system = "\n\n".join(_text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    user = users[-1] if users else (_text_of(messages[-1].get("content")) if messages else "")
    combined = (system + "\n\n" + user).strip()
    key_source = json.dumps([[m.get("role"), _text_of(m.get("content"))] for m in messages], ensure_ascii=False)
    schema_key = json.dumps(json_schema, sort_keys=True, default=str) if json_schema is not None else ""
    return _Prompt(system, user, combined, combined.lower(), _digest(key_source, schema_key).hex())


# --------------------------------------------------------------------------- vocabulary

_STOP = frozenset(
    """
a about above according across after again against all almost along also although always am among an and another any
anyone anything are around as ask asked asking at avoid based be because been before being below best better between
both brief briefly but by can cannot could did do does doing done down during each either else enough especially etc
even ever every exactly example examples explain for from further get gets getting give given gives go going good got
great had has have having he help helpful her here hers him his how however i if in include includes including into
is it its itself just keep kind know least less let like likely list make makes making many may me might more most
much must my need needs never new next no none nor not nothing now of off often on once one only or other others our
out over own per perhaps please possible provide put rather really reply respond response return same say says
see seem several shall she short should show simple since so some something such sure take tell than that the their
them then there these they thing things this those though through thus to too toward under until up upon us use used
useful uses using very via want was way ways we well were what whatever when where whether which while who whom whose
why will with within without would write yes yet you your yours yourself
generate generated create produce propose suggest output format formatted json schema object objects array field
fields key keys value values string strings number numbers integer item items entry entries pair pairs question
questions answer answers reply replies topic topics subtopic subtopics sub-topic sub-topics category categories
domain aspect aspects seed seeds tree taxonomy distinct different unique diverse varied realistic specific relevant
clear concise detailed thorough accurate correct high quality assistant user system model models llm ai data dataset
training fine-tuning fine-tune tune finetune instruction instructions task tasks prompt prompts words sentence
sentences paragraph paragraphs text content only exactly each every total count following below above role
difference differences importance factors factor mistakes mistake practices practice risks risk tools methods method
someone people person beginners beginner matter matters affect affects compare compared explain explained
describe described example main common key important typical first second third
two three four five six seven eight nine ten eleven twelve fifteen twenty
bullet bullets point points tone style friendly formal warm expert experts seasoned knowledgeable professional
work works happen happens mean means choose find start improve reduce prevent handle fix become run runs
refusal refusals refuse harmful decline declined language english markdown building build answering respond replying persona act acting behave always never
residents resident citizens customers clients users households
""".split()  # noqa: E501
)

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’\-]*[A-Za-z0-9]|[A-Za-z]")
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
}


def _content_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP and len(w) > 2]


def _phrases(text: str, limit: int = 12) -> list[str]:
    """Runs of content words (1-4 words), most frequent first, ties by first appearance."""
    found: dict[str, list] = {}
    for chunk in re.split(r"[^\w\s'’\-]|\n", text):
        run: list[str] = []
        for token in re.findall(r"[\w'’\-]+", chunk) + [""]:
            word = token.strip("-'’")
            acronym = len(word) >= 2 and word.isupper() and word.isalpha()
            if (
                word
                and _WORD.fullmatch(word)
                and (acronym or (word.lower() not in _STOP and len(word) > 2))
                and not _HARMFUL.fullmatch(word)
            ):
                run.append(word)
                continue
            if run:
                phrase = " ".join(run[:4])
                low = phrase.lower()
                if low not in found:
                    found[low] = [phrase, 0, len(found)]
                found[low][1] += 1
            run = []
    ranked = sorted(found.values(), key=lambda v: (-(v[1] + 0.5 * (len(v[0].split()) - 1)), v[2]))
    return [v[0] for v in ranked[:limit]]


_TOPIC_PATTERNS = [
    re.compile(r"\[(?:topic|subtopic|category)\]\n(=+)\n(.*?)\n\1", re.I | re.S),
    re.compile(
        r"(?:questions|categories|subtopics|topics|pairs|examples)\s+(?:\w+\s+){0,2}?"
        r"(?:about|on|for|covering|regarding|related to)\s+"
        r"(?:the\s+)?(?:(?:sub)?topic|category|domain|area|field|subject)?\s*[:\"'“‘]*\s*([^\n\"”’?.,;:()]{3,80})",
        re.I,
    ),
    re.compile(r"(?:^|\n)\s*(?:sub)?(?:topic|category|domain|subject|area)\s*[:=]\s*[\"'“‘]?([^\n\"”’]{3,80})", re.I),
    re.compile(r"\b(?:about|regarding)\s+(?:the\s+)?([^\n?.;:()]{3,60})", re.I),
]


def _clean_phrase(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" \t\"'“”‘’.,;:-")
    text = re.sub(
        r"\s+(?:in|for|with|within|and|of)\s+(?:the\s+)?(?:domain|category|context)\b.*$", "", text, flags=re.I
    )
    text = re.sub(
        r"\s+(?:each|with (?:an? |their |short )?answers?|including|and (?:their|an?) answers?|as json)\b.*$",
        "",
        text,
        flags=re.I,
    )
    words = text.split()
    return " ".join(words[:8])


def _topic_of(text: str) -> str | None:
    for pattern in _TOPIC_PATTERNS:
        match = pattern.search(text)
        if match:
            phrase = _clean_phrase(match.group(match.lastindex or 1))
            if _content_words(phrase):
                return phrase
    return None


def _seed_aspects(text: str) -> list[str]:
    match = re.search(
        r"(?:seed aspects|aspects|focus areas|seed topics|key areas|cover(?:ing)?|such as)\s*[:\-]?\s*(.+)", text, re.I
    )
    if not match:
        return []
    tail = text[match.start(1) :]
    bullets = re.findall(r"(?m)^\s*(?:[-*•]|\d+[.)])\s+(.+?)\s*$", tail)
    items = bullets if bullets else re.split(r"\s*(?:,|;|\band\b)\s*", match.group(1).split(".")[0])
    out: list[str] = []
    for item in items:
        item = _clean_phrase(item)
        if item and _content_words(item) and len(item) <= 60 and item.lower() not in (o.lower() for o in out):
            out.append(item)
    return out[:12]


def _requested_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    nouns = (
        r"(questions|categories|subtopics|sub-topics|topics|pairs|examples|items|aspects|answers|ideas|entries|"
        r"refusals)"
    )
    pattern = re.compile(r"\b(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\s+(?:[\w-]+\s+){0,3}?" + nouns + r"\b", re.I)
    for match in pattern.finditer(text):
        raw, noun = match.group(1).lower(), match.group(2).lower().replace("-", "")
        n = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
        if 0 < n <= 200:
            counts.setdefault(noun, n)
            counts.setdefault("_first", n)
    return counts


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _title(text: str) -> str:
    small = {"and", "or", "of", "the", "for", "in", "on", "to", "a", "an", "with"}
    words = text.split()
    return " ".join(
        w if (w.isupper() and len(w) > 1) else (w.lower() if i and w.lower() in small else _cap(w))
        for i, w in enumerate(words)
    )


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


# --------------------------------------------------------------------------- the user's brief inside a prompt


@dataclass(frozen=True)
class _Brief:
    text: str
    aspects: tuple[str, ...] = ()
    path: tuple[str, ...] = ()


_BRIEF = re.compile(
    r"(?im)^[ \t]*domain(?: brief)?[ \t]*:[ \t]*\n?(.*?)"
    r"(?=\n[ \t]*\n|\n[ \t]*(?:topic|description|aspects\b[^\n]*|this request\b[^\n]*)[ \t]*:?|\Z)",
    re.S,
)
_ASPECT_BLOCK = re.compile(r"(?im)^[ \t]*aspects\b[^\n]*:[ \t]*\n((?:[ \t]*[-*\u2022][ \t]+[^\n]*(?:\n|$))+)")
_TOPIC_LINE = re.compile(r"(?im)^[ \t]*topic[ \t]*:[ \t]*([^\n]+)")


def _read_brief(text: str) -> _Brief | None:
    """The brief, aspects and topic path tunedeck's prompts carry ("Domain brief:", "Aspects ...:", "Topic:")."""
    found = _BRIEF.search(text)
    if not found or not found.group(1).strip():
        return None
    aspects: list[str] = []
    block = _ASPECT_BLOCK.search(text)
    for line in block.group(1).splitlines() if block else []:
        item = _clean_phrase(re.sub(r"^\s*[-*\u2022]\s+", "", line))
        if item and not item.startswith("(") and _content_words(item):
            aspects.append(item)
    if block is None:
        aspects = _seed_aspects(found.group(1))
    topic = _TOPIC_LINE.search(text)
    path = tuple(p.strip() for p in topic.group(1).split(">") if p.strip()) if topic else ()
    return _Brief(found.group(1).strip(), tuple(aspects[:12]), path)


# --------------------------------------------------------------------------- style from the system prompt


@dataclass
class _Style:
    length: str = "normal"  # short | normal | long
    friendly: bool = False
    formal: bool = False
    bullets: bool = False
    steps: bool = False
    persona: str | None = None


_GENERIC_PERSONAS = {
    "helpful assistant",
    "assistant",
    "ai assistant",
    "helpful ai assistant",
    "language model",
    "helpful, harmless and honest assistant",
    "chatbot",
    "impartial judge",
    "strict reviewer",
}


def _read_style(system: str, user: str) -> _Style:
    low = (system + "\n" + user).lower()
    style = _Style()
    if re.search(
        r"\b(concise|brief|briefly|short|succinct|terse|one sentence|in a sentence|few words|to the point)\b", low
    ):
        style.length = "short"
    elif re.search(
        r"\b(detailed|thorough|comprehensive|in depth|in-depth|elaborate|extensive|step by step|step-by-step)\b", low
    ):
        style.length = "long"
    style.friendly = bool(re.search(r"\b(friendly|warm|enthusiastic|cheerful|upbeat|encouraging|fun)\b", low))
    style.formal = bool(re.search(r"\b(formal|professional|academic)\b", low))
    style.bullets = bool(re.search(r"\b(bullet|bullets|bulleted|bullet points)\b", low))
    style.steps = bool(re.search(r"\bstep[- ]by[- ]step\b|\bnumbered steps\b", low))
    match = re.search(r"\byou are (?:an? |the )?([^.,;:!\n]{3,60})", system, re.I)
    if match:
        persona = re.split(r"\s+(?:who|that|with|and|for|in|helping|working)\b", match.group(1).strip(), maxsplit=1)[0]
        persona = persona.strip().lower()
        if persona and persona not in _GENERIC_PERSONAS and len(persona.split()) <= 5:
            style.persona = persona
    return style


# --------------------------------------------------------------------------- tasks

_HARMFUL = re.compile(
    r"\b(bypass|hack|hacking|exploit|steal|stealing|weapon|bomb|explosive|poison|malware|ransomware|falsify|forge|"
    r"forged|counterfeit|launder|laundering|untraceable|phishing|scam|sabotage|kill|murder|hurt someone|"
    r"without (?:anyone|them|the owner) (?:noticing|knowing)|get around the (?:law|rules|safety)|evade|illegally|"
    r"fake (?:the )?(?:records|documents|inspection|certificate)|someone else'?s (?:password|account))\b",
    re.I,
)
_REFUSAL_TEXT = re.compile(
    r"^\s*(?:i can(?:'|’)?t|i cannot|i'm not able|i am not able|i'm unable|sorry, but|"
    r"i won't|as an ai)",
    re.I,
)


_DECLINE = re.compile(
    r"(?i)\boutside what you (?:may|can) help with|\bdecline (?:it )?politely\b|\b(?:must|should) (?:politely )?"
    r"(?:decline|refuse)\b"
)


def _is_harmful(text: str) -> bool:
    return bool(_HARMFUL.search(text))


def _is_refusal(text: str) -> bool:
    return bool(_REFUSAL_TEXT.search(text))


_BLOCK = re.compile(r"\[([^\]\n]{1,80})\]\n(=+)\n(.*?)\n\2(?=\n|$)", re.S)
_LABEL = r"(?:assistant|answer|response|model|candidate|output)"


def _marker(letter: str) -> re.Pattern[str]:
    return re.compile(rf"(?i)\b{_LABEL}[ _]?[\(\[]?{letter}[\)\]]?(?:['’]s\s+(?:answer|response))?\s*(?:\]|:|>|\n)")


_MARK_A, _MARK_B = _marker("a"), _marker("b")
_END_MARK = re.compile(r"(?i)\[the end of[^\]]*\]|</[\w ]+>|<[\w ]+>|^\s*(?:=|-|`){3,}\s*$", re.M)


def _strip_block(text: str) -> str:
    return _END_MARK.sub("", text).strip()


@dataclass
class _Judging:
    question: str
    answer_a: str
    answer_b: str
    reference: str = ""


@dataclass(frozen=True)
class JudgeBias:
    """How the emulated judge leans when two answers are of about equal quality.

    `position`: share of decided pairs the answer shown first wins; `length`: share the longer answer wins
    (position balanced). Defaults from FastChat's released GPT-4 pairwise judgments (MT-Bench human-judgment
    set): the first-shown answer wins about 52.6 % and the longer one about 68 % of decided pairs.
    `tie_share`: share of equal-quality pairs called a tie; `scale`: the quality gap that shifts the odds by e;
    `weights`: how quality is made up (see `_judge_quality`), a rubric in numbers.
    """

    position: float = 0.526
    length: float = 0.68
    tie_share: float = 0.3
    scale: float = 0.04
    # what quality is made of: the question's key terms, the reference's, structure (steps), a finished answer,
    # detail (distinct content words)
    weights: tuple[float, float, float, float, float] = (0.3, 0.25, 0.2, 0.1, 0.15)


DEFAULT_JUDGE_BIAS = JudgeBias()


def _judge_parts(prompt: _Prompt) -> _Judging | None:
    for source in (prompt.user, prompt.combined):
        blocks = {label.strip().lower(): body for label, _, body in _BLOCK.findall(source)}
        a = next((v for k, v in blocks.items() if re.fullmatch(rf"{_LABEL} ?a|{_LABEL} ?1", k)), None)
        b = next((v for k, v in blocks.items() if re.fullmatch(rf"{_LABEL} ?b|{_LABEL} ?2", k)), None)
        if a is not None and b is not None:
            question = next((v for k, v in blocks.items() if "question" in k), "")
            reference = next((v for k, v in blocks.items() if "reference" in k), "")
            return _Judging(question, a, b, reference)
        marks_b = list(_MARK_B.finditer(source))
        if not marks_b:
            continue
        mb = marks_b[-1]
        marks_a = [m for m in _MARK_A.finditer(source) if m.end() <= mb.start()]
        if not marks_a:
            continue
        ma = marks_a[-1]
        tail = source[mb.end() :]
        end = re.search(
            r"(?i)\[the end of|</\w+>|\n\s*\n(?=[^\n]*(?:which|json|verdict|reply|respond|output|better))", tail
        )
        q_match = list(re.finditer(r"(?i)\[?(?:user\s+)?question\]?\s*[:\n]", source[: ma.start()]))
        question = source[q_match[-1].end() : ma.start()] if q_match else source[: ma.start()]
        return _Judging(
            _strip_block(question),
            _strip_block(source[ma.end() : mb.start()]),
            _strip_block(tail[: end.start()] if end else tail),
        )
    return None


def _rated_pairs(prompt: _Prompt) -> list[tuple[str, str]]:
    blocks = _BLOCK.findall(prompt.user) or _BLOCK.findall(prompt.combined)
    pairs, question = [], None
    for label, _, body in blocks:
        low = label.strip().lower()
        if low.startswith("question"):
            question = body
        elif low.startswith("answer") and question is not None:
            pairs.append((question, body))
            question = None
    if pairs:
        return pairs
    quoted = re.findall(
        r'"question"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"answer"\s*:\s*"((?:[^"\\]|\\.)*)"', prompt.combined
    )
    for q, a in quoted:
        try:
            pairs.append((json.loads(f'"{q}"'), json.loads(f'"{a}"')))
        except json.JSONDecodeError:
            continue
    if pairs:
        return pairs
    loose = re.findall(
        r"(?is)\bquestion\s*\d*\s*[:\]]\s*(.+?)\s*\banswer\s*\d*\s*[:\]]\s*(.+?)(?=\n\s*(?:\d+[.)]\s*)?question\s*\d*\s*[:\]]|\n\s*\n|\Z)",
        prompt.user,
    )
    return [(q.strip(), a.strip()) for q, a in loose]


def _detect_task(prompt: _Prompt) -> str:
    low, user_low = prompt.lower, prompt.user.lower()
    if _judge_parts(prompt) is not None and re.search(r"\b(judge|better|winner|verdict|compare|which)\b", low):
        return "judge"
    if (
        re.search(r"\b(1|one)\s*(?:-|–|to)\s*(10|ten)\b|scale of 1|\bscore\b.*\bpair\b|\brate (?:each|the|this)\b", low)
        and re.search(r"\b(score|rate|rating|grade|quality|reviewer)\b", low)
        and _rated_pairs(prompt)
    ):
        return "score"
    if re.search(
        r"\brefusal\b|\bshould (?:be )?(?:refuse|decline)|\bharmful (?:questions|requests|prompts)\b", user_low
    ) and re.search(r"\b(questions|pairs|examples|requests|prompts)\b", user_low):
        return "refusals"
    if re.search(r"\bmust (?:politely )?decline\b", prompt.system.lower()) and re.search(r"\bquestions\b", user_low):
        return "refusals"
    asks_questions = re.search(
        r"\b(?:\d+|" + "|".join(_NUMBER_WORDS) + r"|several|some|a few|a list of|new|more)\s+"
        r"(?:[\w-]+\s+){0,3}?(?:questions|q/a pairs|qa pairs|question-answer pairs|pairs)\b",
        user_low,
    ) or re.search(r"\b(?:generate|write|create|produce|propose|list|give)\b[^.\n]{0,40}\bquestions\b", user_low)
    if asks_questions:
        return "questions"
    if re.search(r"\b(categories|subtopics|sub-topics|topic tree|taxonomy|subcategories)\b", user_low):
        return "topics"
    return "answer"


# --------------------------------------------------------------------------- the writer

_QUESTION_TEMPLATES = [
    "Where do I start with {s}?",
    "What documents do I need for {s}?",
    "How long does {s} usually take?",
    "Who do I contact about {s} in my area?",
    "What does {s} cost, and are there ways to pay less?",
    "Can I deal with {s} online, or do I have to go in?",
    "What happens if I miss a deadline for {s}?",
    "How do I know whether I qualify for {s}?",
    "What is the difference between {s} and {s2}?",
    "I just moved here. What should I do first about {s}?",
    "How do I appeal if something goes wrong with {s}?",
    "What changed recently about {s}?",
    "How are {s} and {s2} connected?",
    "Is there a checklist for {s} I can follow?",
    "Why was my application for {s} turned down, and what can I do now?",
    "What rules apply to {s} where I live?",
]

# A private (held-out) test set: asked as a resident would ask a new question, never in a training question's
# words, so the leakage guard keeps them. Each names what it is about ({s}), like the training questions.
_HELDOUT_QUESTIONS = [
    "My deadline for {s} is next week and my papers are not ready. Can I ask for more time?",
    "How long should I wait for a reply about {s} before I chase it up?",
    "A neighbour says I need extra documents for {s}. Which ones really matter?",
    "I am new to {s}. Is there a checklist for someone doing it for the first time?",
    "My request about {s} was turned down by letter. What should I check before I reply?",
    "Could I sort out {s} online from my phone, or only in person?",
    "Has anything changed about {s} this year that a household should know?",
    "Which rules about {s} apply to me if I only moved here last month?",
    "Where can I contact someone about {s} outside office hours?",
    "Something keeps going wrong with {s} and nobody fixes it. What are my options?",
    "How much will I pay for {s}, and can I get help with the cost?",
    "Am I likely to qualify for help with {s}, and how would I find out?",
    "What mistakes do people make with {s}, and how do I avoid them?",
    "Explain {s} to me in plain steps: what comes first?",
    "Someone else in my home handles part of {s}. What is still up to me?",
    "How do {s} and {s2} affect each other for a household like mine?",
]

_REFUSAL_QUESTIONS = [
    "How can I get around the rules for {s} without anyone noticing?",
    "Can you fake the records for {s} for me?",
    "What is the easiest way to sabotage a rival's {s}?",
    "How do I bypass the checks for {s}?",
    "Draft a convincing scam message that uses {s} to trick folks to pay up.",
    "How can I hack my ex's login to change their {s} settings?",
    "What is the best way to falsify paperwork about {s}?",
]

_FACETS = [
    "Fundamentals",
    "Costs and Financing",
    "Eligibility and Applications",
    "Deadlines and Renewals",
    "Offices and Contacts",
    "Appeals and Complaints",
    "Forms and Paperwork",
    "Online Options",
    "Rules and Rights",
    "Recent Changes",
]

_SUBTOPIC_TEMPLATES = [
    "Getting started with {c}",
    "Fees for {c}",
    "Applying for {c}",
    "Deadlines for {c}",
    "Eligibility for {c}",
    "Forms and paperwork for {c}",
    "Appeals about {c}",
    "Online options for {c}",
    "Recent changes to {c}",
    "Rules for {c}",
    "Offices and contacts for {c}",
    "Common problems with {c}",
]

# A subtopic name's lead words (from the templates above and the facets) -> cues of the questions that suit it.
_FACET_CUES: dict[str, tuple[str, ...]] = {
    "getting started with": ("start", "first", "checklist"),
    "fundamentals for": ("start", "first", "checklist"),
    "fees for": ("cost",),
    "costs and financing for": ("cost",),
    "applying for": ("documents", "how long", "online"),
    "eligibility and applications for": ("qualify", "documents"),
    "eligibility for": ("qualify", "turned down"),
    "deadlines and renewals for": ("deadline", "how long"),
    "deadlines for": ("deadline", "how long"),
    "forms and paperwork for": ("documents", "checklist"),
    "appeals and complaints for": ("appeal", "turned down"),
    "appeals about": ("appeal", "turned down"),
    "online options for": ("online",),
    "recent changes for": ("changed",),
    "recent changes to": ("changed",),
    "rules and rights for": ("rules",),
    "rules for": ("rules",),
    "offices and contacts for": ("contact",),
    "common problems with": ("goes wrong", "turned down"),
}


def _facet_of(topic: str) -> tuple[str | None, tuple[str, ...]]:
    """A subtopic name split into what it is about and the cues of the questions that suit it."""
    low = topic.lower()
    for lead, cues in _FACET_CUES.items():
        if low.startswith(lead + " ") and len(topic) > len(lead) + 1:
            return topic[len(lead) + 1 :], cues
    return None, ()


# Templates avoid {s} as the grammatical subject of a verb, so plural subjects read correctly.
_LEADS = {
    "why": [
        "Usually it comes down to the rules for {s}: they set who qualifies, what proof is needed and which "
        "deadlines apply in {c}.",
        "The main reason is that decisions about {s} follow written criteria, so the record on file matters more "
        "than the explanation given later.",
    ],
    "how": [
        "For {s}, the quickest route is to gather your documents first and then apply through the official "
        "office for {c}.",
        "Start with {s} by checking the official guidance for {c}, then work through it one step at a time.",
    ],
    "difference": [
        "{S} and {s2} overlap, but {s} covers the day-to-day request while {s2} covers the wider rules around it.",
        "The key difference is scope: with {s} you deal with one specific request, with {s2} with the conditions "
        "around it.",
    ],
    "when": [
        "It depends on your situation: with {s}, timing matters most when a deadline or a renewal date in {c} is "
        "close.",
        "Acting early on {s} pays off, because late requests in {c} are often refused or delayed.",
    ],
    "cost": [
        "The cost of {s} depends on the office, the type of request and whether you qualify for a reduced fee.",
        "Fees for {s} vary by location; many offices for {c} offer waivers or payment plans for low incomes.",
    ],
    "what": [
        "For {s}, what matters most in {c} is having the right documents and meeting the deadline.",
        "In {c}, {s} is handled by a named office with published rules, forms and deadlines.",
        "With {s}, the core idea is simple: check the requirements, apply with complete paperwork and keep a record "
        "of everything in {c}.",
    ],
}

_BODY = {
    "how": [
        "Most offices for {c} publish a checklist for {s}; following it avoids the usual back-and-forth.",
        "If anything is unclear about {s}, call or visit the office before you submit rather than after.",
        "Keep copies and reference numbers for {s}, because follow-up questions often come weeks later.",
    ],
    "link": [
        "Requests about {s} are often tied to {s2}, so a change to one can affect the other.",
        "It helps to sort out {s} together with {s2}, since the same office usually handles both.",
    ],
    "pitfall": [
        "A common problem with {s} is a missing document; an incomplete request usually waits until it is fixed.",
        "Watch the dates: with {s}, a missed deadline can mean starting again from the beginning.",
        "The usual delays with {s} come from outdated addresses, unsigned forms and missing proof of identity.",
    ],
    "example": [
        "For example, a resident renewing {s} online can often finish in one sitting if the documents are scanned "
        "beforehand.",
        "As a concrete example, someone applying for {s} after moving usually needs proof of the new address and an "
        "ID.",
    ],
    "close": [
        "If you are unsure, the office for {c} can tell you exactly what applies to your case with {s}.",
        "In short: check the rules for {s}, apply early and keep a record of every step.",
    ],
}

_TIPS = [
    "Check the official requirements for {s} on the government website for {c}.",
    "Gather proof of identity and address before you start on {s}.",
    "Fill in the form for {s} completely and sign it.",
    "Submit your request for {s} before the deadline and note the reference number.",
    "Ask whether anything about {s2} changes when you change {s}.",
    "Follow up if you have not heard back about {s} within the stated processing time.",
]

_GENERIC = [
    "That depends on your situation and on the rules that apply to {s}. It is best to check with the relevant "
    "authority.",
    "There is no single answer about {s}; requirements differ from place to place, so check the official sources.",
    "Questions about {s} vary a lot. Look for official information or ask someone who knows the local rules.",
]

_OPENERS_FRIENDLY = ["Great question!", "Happy to help!", "Good one, let's dig in."]
_REFUSALS = [
    "I can't help with that.",
    "I'm not able to help with that request.",
    "Sorry, but I can't assist with that.",
]
_REFUSAL_WHY = [
    "It could put people at risk or break the law.",
    "It would mean helping someone deceive others or cause harm.",
]
_REFUSAL_ALT = [
    "If it helps, I can explain the safe and legal way to handle {s} instead.",
    "I'm happy to walk through the legitimate rules for {s} if that's useful.",
]


_NO_SECOND = "the wider setting"


class _Writer:
    """Prompt-derived content: questions, answers, names, verdicts, scores."""

    def __init__(
        self, prompt: _Prompt, style: _Style, sampler: _Sampler, task: str, judge_bias: JudgeBias = DEFAULT_JUDGE_BIAS
    ) -> None:
        self.prompt, self.style, self.sampler, self.task = prompt, style, sampler, task
        self.judge_bias = judge_bias
        self.counts = _requested_counts(prompt.user) or _requested_counts(prompt.combined)
        self.brief = _read_brief(prompt.combined)
        self._judging = _judge_parts(prompt) if task == "judge" else None
        self._pairs = _rated_pairs(prompt) if task == "score" else []
        self._verdict: tuple[str, str] | None = None
        # questions for a private test set ("tunedeck eval" held-out sets) are asked differently
        self.private = bool(re.search(r"\bprivate test set\b", prompt.combined, re.I))
        self._used_questions: set[str] = set()
        self._question_subjects: dict[str, tuple[str, str, str]] = {}
        self._question_index = 0
        self._categories: list[str] = []
        self._subtopics: dict[str, list[str]] = {}
        if self.brief is not None:
            self._from_brief(self.brief)
            return
        user_topic = _topic_of(prompt.user)
        self.topic = (
            user_topic
            or _topic_of(prompt.system)
            or (_phrases(prompt.user, 1) or _phrases(prompt.combined, 1) or ["this subject"])[0]
        )
        explicit = re.search(r"(?im)^\s*domain\s*[:=]\s*[\"'“‘]?([^\n\"”’.]{3,80})", prompt.combined)
        self.domain = (
            (_clean_phrase(explicit.group(1)) if explicit else None)
            or _topic_of(prompt.system)
            or next(iter(_phrases(prompt.system, 1)), None)
        )
        self.aspects = _seed_aspects(prompt.user)
        phrases = [p for p in _phrases(prompt.user) + _phrases(prompt.system) if p.lower() != self.topic.lower()]
        seen: set[str] = set()
        self.keywords: list[str] = []
        for phrase in phrases:
            if phrase.lower() not in seen:
                seen.add(phrase.lower())
                self.keywords.append(phrase)

    def _from_brief(self, brief: _Brief) -> None:
        """Vocabulary from the user's brief, aspects and topic path only, never from the prompt's own wording."""
        brief_phrases = _phrases(brief.text)
        self.domain = brief_phrases[0] if brief_phrases else None
        self.topic = brief.path[-1] if brief.path else (self.domain or "this subject")
        self.aspects = list(brief.aspects)
        self.keywords = []
        seen = {self.topic.lower()}
        for phrase in [*brief.path[:-1], *self.aspects, *brief_phrases]:
            if phrase.lower() not in seen:
                seen.add(phrase.lower())
                self.keywords.append(phrase)

    # -- subjects
    def _context(self, subject: str) -> str:
        for candidate in (self.domain, self.topic):
            if candidate and candidate.lower() not in subject.lower() and subject.lower() not in candidate.lower():
                return candidate
        return "this field"

    def _second(self, subject: str, context: str) -> str:
        for candidate in (*self.keywords, self.topic, *self.aspects):
            low = candidate.lower()
            if low not in subject.lower() and subject.lower() not in low and low != context.lower():
                return candidate
        return _NO_SECOND

    def _fill(self, template: str, s: str, c: str, s2: str) -> str:
        s, c, s2 = self._inline(s), self._inline(c), self._inline(s2)
        return template.format(s=s, c=c, s2=s2, S=_cap(s))

    def _inline(self, phrase: str) -> str:
        """A name inside a sentence: title-cased words lowered, acronyms and the brief's own capitals kept."""
        if self.brief is None:
            return phrase
        proper = set(re.findall(r"\b[A-Z][\w'’-]*", self.brief.text + " " + " ".join(self.brief.aspects)))
        return " ".join(
            w if w.isupper() or w in proper or not w[:1].isupper() else w[:1].lower() + w[1:] for w in phrase.split()
        )

    def _brief_subjects(self, question: str) -> tuple[str, str] | None:
        """With a brief: the path, aspect or brief phrase the question is about, and a second one beside it."""
        if self.brief is None:
            return None
        asked = set(_content_words(question))
        named = [*reversed(self.brief.path), *self.aspects, *self.keywords, self.topic]
        candidates = list(dict.fromkeys(_facet_of(c)[0] or c for c in named))
        scored = []
        for i, c in enumerate(candidates):
            words = set(_content_words(c))
            scored.append((len(asked & words), -len(words - asked), -i, c))
        scored = [x for x in scored if x[0] > 0]
        if not scored:
            return None
        subject = max(scored)[3]
        second = next(
            (c for c in candidates if c.lower() != subject.lower() and c.lower() not in subject.lower()), _NO_SECOND
        )
        return subject, second

    # -- questions
    def _subjects(self, topic: str) -> list[str]:
        core, _ = _facet_of(topic)
        if core is not None:
            topic = core
        subjects = [topic]
        head = re.split(r"\s+(?:for|in|among|at|within|during)\s+", topic, maxsplit=1)[0]
        if head != topic and _content_words(head):
            subjects.append(head)
        subjects += [
            k for k in self.keywords[:4] if k.lower() not in topic.lower() and k.lower() != (self.domain or "").lower()
        ]
        return list(dict.fromkeys(subjects))[:4]

    def question(self, topic: str | None = None, refusal: bool = False) -> str:
        templates = _REFUSAL_QUESTIONS if refusal else _HELDOUT_QUESTIONS if self.private else _QUESTION_TEMPLATES
        _, cues = _facet_of(topic or self.topic)
        options, bias, meta = [], [], []
        for si, s in enumerate(self._subjects(topic or self.topic)):
            c = self._context(s)
            s2 = self._second(s, c)
            for template in templates:
                if "{s2}" in template and s2 == _NO_SECOND:
                    continue
                options.append(self._fill(template, s, c, s2))
                bias.append((1.0 if si == 0 else 0.0) + (2.5 if any(cue in template for cue in cues) else 0.0))
                meta.append((s, c, s2))
        fresh = [i for i, o in enumerate(options) if o.lower() not in self._used_questions]
        if fresh:
            index = fresh[
                self.sampler.choose_index(
                    [options[i] for i in fresh], f"question:{self._question_index}", [bias[i] for i in fresh]
                )
            ]
            picked = options[index]
        else:
            index = self.sampler.choose_index(options, f"question:{self._question_index}", bias)
            picked = f"{options[index][:-1]} (part {self._question_index + 1})?"
        self._question_index += 1
        self._used_questions.add(picked.lower())
        self._question_subjects[picked] = meta[index]
        return picked

    # -- answers
    def answer(self, question: str | None = None, brief: bool = False, generic: bool = False) -> str:
        """An answer in the system prompt's tone; `generic`: what an untuned model says (no steps, no detail)."""
        question = question if question is not None else (self.prompt.user or self.topic)
        found = self._brief_subjects(question) if question not in self._question_subjects else None
        if question in self._question_subjects:
            subject, context, second = self._question_subjects[question]
        elif found is not None:
            subject, second = found
            context = self._context(subject)
        else:
            phrases = _phrases(question, 4)
            subject = phrases[0] if phrases else self.topic
            context = self._context(subject)
            second = (
                phrases[1]
                if len(phrases) > 1 and phrases[1].lower() != context.lower()
                else self._second(subject, context)
            )
        if _is_harmful(question) or _DECLINE.search(self.prompt.system):
            return self.refusal(subject)
        slot = f"answer:{question}"
        if generic:
            return self._fill(self.sampler.choose(_GENERIC, slot + ":generic"), subject, context, second)
        q = question.lower()
        kind = (
            "difference"
            if re.search(r"\b(difference|compare|versus|vs\.?)\b", q)
            else "cost"
            if re.search(r"\b(cost|price|expensive|cheap|budget)\b", q)
            else "why"
            if re.match(r"\s*why\b", q)
            else "how"
            if re.match(r"\s*(how|where|who|what steps|what should|what documents|is there a checklist|can i)\b", q)
            else "when"
            if re.match(r"\s*(when|should)\b", q)
            else "what"
        )
        fill = lambda t: self._fill(t, subject, context, second)  # noqa: E731
        sentences = [fill(self.sampler.choose(_LEADS[kind], slot + ":lead"))]
        length = "short" if brief and self.style.length != "long" else self.style.length
        plan = {
            "short": [],
            "normal": ["how", "pitfall", "close"],
            "long": ["how", "link", "pitfall", "example", "close"],
        }[length]
        extra = self.sampler.jitter(slot + ":len", 1)
        if length == "short" and extra > 0:
            plan = ["close"]
        elif length != "short" and extra < 0:
            plan = plan[:-1]
        elif length != "short" and extra > 0 and "example" not in plan:
            plan = plan[:-1] + ["example", plan[-1]]
        for part in plan:
            sentences.append(fill(self.sampler.choose(_BODY[part], f"{slot}:{part}")))
        opener = None
        if self.style.friendly and length != "short":
            opener = self.sampler.choose(_OPENERS_FRIENDLY, slot + ":open")
        if self.style.persona and length != "short":
            persona = self.style.persona
            opener = (
                (opener + " ") if opener else ""
            ) + f"Speaking as {_article(persona)} {persona}, here is how I see it."
        text = " ".join(([opener] if opener else []) + sentences)
        if self.style.formal:
            text = (
                text.replace("can't", "cannot")
                .replace("it's", "it is")
                .replace("let's", "let us")
                .replace("I'm", "I am")
            )
        wants_steps = self.style.bullets or self.style.steps or length == "long" or kind in ("how", "what", "cost")
        if wants_steps and not generic:
            tips = [fill(t) for t in _TIPS if "{s2}" not in t or second != _NO_SECOND]
            chosen: list[str] = []
            for i in range({"short": 2, "normal": 3, "long": 4}[length]):
                pick = self.sampler.choose([t for t in tips if t not in chosen], f"{slot}:tip{i}")
                chosen.append(pick)
            marker = (lambda i: "-") if self.style.bullets and not self.style.steps else (lambda i: f"{i + 1}.")
            text += "\n\n" + "\n".join(f"{marker(i)} {tip}" for i, tip in enumerate(chosen))
        return text

    def lead(self, question: str) -> str:
        """The first sentence of an answer to `question`: what it is about, in the question's own words."""
        text = self.answer(question, brief=True)
        first = re.match(r"(.+?[.!?])(?:\s|$)", text, re.S)
        return first.group(1) if first else text

    def refusal(self, subject: str | None = None) -> str:
        subject = subject or self.topic
        slot = f"refusal:{subject}"
        return " ".join(
            [
                self.sampler.choose(_REFUSALS, slot + ":a"),
                self.sampler.choose(_REFUSAL_WHY, slot + ":b"),
                self.sampler.choose(_REFUSAL_ALT, slot + ":c").format(s=subject),
            ]
        )

    # -- names
    def category(self) -> str:
        """The next category: the seed aspects first (in a sampled order), then the brief's phrases, then facets."""
        base = self.domain or self.topic
        used = {x.lower() for x in self._categories}
        skip = used | {base.lower(), self.topic.lower()}
        aspects = [_title(a) for a in self.aspects if _title(a).lower() not in used]
        keywords = [_title(k) for k in self.keywords[:6] if k.lower() not in skip and _title(k).lower() not in used]
        facets = [f for f in [f"{_title(base)} {_FACETS[0]}", *_FACETS[1:]] if f.lower() not in used]
        fresh = aspects or keywords or facets or [f"{_title(base)} Topic {len(self._categories) + 1}"]
        bias = None
        pick = self.sampler.choose(fresh, f"category:{len(self._categories)}", bias)
        self._categories.append(pick)
        return pick

    def subtopic(self, category: str | None) -> str:
        category = category or self.topic
        used = self._subtopics.setdefault(category.lower(), [])
        core = category if category.isupper() else category.lower()
        facet = next((f for f in _FACETS if category.lower().endswith(f.lower())), None)
        if facet:
            things = [
                self._inline(t) if self.brief is not None else t.lower()
                for t in [*self.aspects, *self.keywords[:4], self.domain or self.topic]
            ]
            options = [f"{facet[:1]}{facet[1:].lower()} for {t}" for t in dict.fromkeys(things)]
        else:
            options = [_cap(t.format(c=core)) for t in _SUBTOPIC_TEMPLATES]
        taken = {u.lower() for u in used}
        options = (
            [o for o in options if o.lower() not in taken]
            or [o for o in (_cap(t.format(c=core)) for t in _SUBTOPIC_TEMPLATES) if o.lower() not in taken]
            or [f"{core} part {len(used) + 1}"]
        )
        pick = self.sampler.choose(options, f"subtopic:{category}:{len(used)}")
        used.append(pick)
        return pick

    def description(self, subject: str | None = None) -> str:
        s = subject or self.topic
        c = self._context(s)
        subject = s if s.isupper() else s[:1].lower() + s[1:]
        return self._fill(self.sampler.choose(_LEADS["what"], f"describe:{s}"), subject, c, self._second(s, c))

    def phrase(self, slot: str) -> str:
        options = [self.topic] + self.keywords[:6]
        return self.sampler.choose(options, "phrase:" + slot)

    # -- judging and scoring
    def verdict(self) -> tuple[str, str]:
        if self._verdict is None:
            self._verdict = self._judge()
        return self._verdict

    def _judge(self) -> tuple[str, str]:
        parts = self._judging
        if parts is None:
            return "tie", "Neither answer could be read clearly, so neither is preferred."
        bias = self.judge_bias
        qa = _judge_quality(parts.question, parts.reference, parts.answer_a, bias.weights)
        qb = _judge_quality(parts.question, parts.reference, parts.answer_b, bias.weights)
        diff = qa - qb
        words_a, words_b = len(_WORD.findall(parts.answer_a)), len(_WORD.findall(parts.answer_b))
        longer = 0 if abs(words_a - words_b) <= 0.1 * max(words_a, words_b) else (1 if words_a > words_b else -1)
        logit = diff / max(bias.scale, 1e-6) + _logit(bias.position) + longer * _logit(bias.length)
        subject = (_phrases(parts.question, 1) or [self.topic])[0]
        rng = self.sampler.rng
        if rng.random() < bias.tie_share * math.exp(-abs(diff) / max(bias.scale, 1e-6)):
            return (
                "tie",
                f"Both answers address {subject} with similar accuracy and completeness; neither is clearly better.",
            )
        winner, loser = ("A", "B") if rng.random() < 1.0 / (1.0 + math.exp(-logit)) else ("B", "A")
        why = self.sampler.choose(
            [
                f"Answer {winner} covers {subject} more completely and is easier to follow, while Answer {loser} "
                f"{{weak}}.",
                f"Answer {winner} answers the question about {subject} directly, with clear steps; Answer {loser} "
                f"{{weak}}.",
            ],
            "judge:reason",
        )
        weak_text = parts.answer_b if loser == "B" else parts.answer_a
        weak = (
            "declines a reasonable question"
            if _is_refusal(weak_text) and not _is_harmful(parts.question)
            else "is too thin to be useful"
            if len(_WORD.findall(weak_text)) < 15
            else "misses some of what was asked"
        )
        return winner, why.format(weak=weak)

    def pair(self, index: int) -> tuple[str, str] | None:
        return self._pairs[index % len(self._pairs)] if self._pairs else None

    def quality(self, index: int) -> float:
        pair = self.pair(index)
        return _quality(*pair) if pair else 0.7

    def score_reason(self, index: int) -> str:
        q = self.quality(index)
        pair = self.pair(index)
        subject = (_phrases(pair[0], 1) if pair else []) or [self.topic]
        if q >= 0.75:
            return f"Accurate, on-topic answer about {subject[0]} that is clear and complete enough to teach from."
        if q >= 0.45:
            return f"Relevant to {subject[0]} but thin or partly off the question; usable with edits."
        return f"The answer does not really address the question about {subject[0]}."


def _logit(share: float) -> float:
    share = min(0.999, max(0.001, share))
    return math.log(share / (1.0 - share))


_LIST_LINE = re.compile(r"(?m)^\s*(?:[-*\u2022]|\d+[.)])\s+\S")


def _judge_quality(
    question: str,
    reference: str,
    answer: str,
    weights: tuple[float, float, float, float, float] = (0.3, 0.25, 0.2, 0.1, 0.15),
) -> float:
    """What the emulated judge rewards: the question's and the reference's key terms covered, structure, finish."""
    words = _WORD.findall(answer)
    if not words:
        return 0.0
    if _is_harmful(question):
        return 0.9 if _is_refusal(answer) else 0.1
    if _is_refusal(answer):
        return 0.05
    said = set(_content_words(answer))
    asked = set(_content_words(question))
    ref = set(_content_words(reference)) - asked
    covered_q = len(asked & said) / len(asked) if asked else 0.5
    covered_r = len(ref & said) / len(ref) if ref else covered_q
    structure = min(1.0, len(_LIST_LINE.findall(answer)) / 3)
    finish = 1.0 if answer.rstrip().endswith((".", "!", "?", ")", "`", "]")) else 0.4
    detail = min(1.0, len(said) / 40)
    w_q, w_r, w_s, w_f, w_d = weights
    relevance = min(1.0, 0.25 + covered_q)  # an answer about something else is wrong, however well built
    return round(relevance * (w_q * covered_q + w_r * covered_r + w_s * structure + w_f * finish + w_d * detail), 4)


def _quality(question: str, answer: str) -> float:
    """A 0..1 heuristic of answer quality: coverage of the question's words, length, finish, repetition."""
    words = _WORD.findall(answer)
    if not words:
        return 0.0
    if _is_harmful(question):
        return 0.9 if _is_refusal(answer) else 0.15
    if _is_refusal(answer):
        return 0.1
    asked = set(_content_words(question))
    covered = len(asked & set(_content_words(answer))) / len(asked) if asked else 0.5
    n = len(words)
    length = 1.0 if 40 <= n <= 250 else 0.7 if 20 <= n < 40 or 250 < n <= 450 else 0.35 if n >= 8 else 0.1
    finish = 1.0 if answer.rstrip().endswith((".", "!", "?", ")", "`", "]")) else 0.5
    sentences = [s.strip().lower() for s in re.split(r"[.!?]\s+", answer) if s.strip()]
    unique = len(set(sentences)) / len(sentences) if sentences else 1.0
    return round(0.45 * covered + 0.35 * length + 0.1 * finish + 0.1 * unique, 4)


# --------------------------------------------------------------------------- schema-driven JSON

_SEMANTIC_NAMES: list[tuple[str, set[str]]] = [
    (
        "question",
        {"question", "questions", "prompt", "prompts", "instruction", "instructions", "query", "queries", "q"},
    ),
    (
        "answer",
        {
            "answer",
            "answers",
            "response",
            "responses",
            "completion",
            "completions",
            "output",
            "reply",
            "a",
            "ideal_answer",
            "reference_answer",
            "refusal_answer",
        },
    ),
    ("verdict", {"winner", "verdict", "better", "preferred", "preference", "choice", "decision", "better_answer"}),
    (
        "score",
        {
            "score",
            "scores",
            "rating",
            "ratings",
            "grade",
            "quality",
            "overall",
            "accuracy",
            "relevance",
            "clarity",
            "usefulness",
            "helpfulness",
            "correctness",
            "completeness",
            "coherence",
            "domain_relevance",
        },
    ),
    (
        "reason",
        {
            "reason",
            "reasons",
            "reasoning",
            "rationale",
            "justification",
            "explanation",
            "critique",
            "feedback",
            "comment",
            "comments",
            "analysis",
            "notes",
        },
    ),
    ("confidence", {"confidence", "probability", "certainty"}),
    (
        "category",
        {
            "category",
            "categories",
            "topic",
            "topics",
            "theme",
            "themes",
            "area",
            "areas",
            "aspect",
            "aspects",
            "section",
            "sections",
        },
    ),
    ("subtopic", {"subtopic", "subtopics", "sub_topics", "sub_topic", "children", "subcategories", "subcategory"}),
    ("name", {"name", "title", "label", "heading"}),
    ("description", {"description", "summary", "overview", "details", "definition", "brief"}),
    ("keyword", {"keyword", "keywords", "tag", "tags"}),
    ("id", {"id", "index", "idx", "number", "num"}),
    ("refusal", {"refusal", "is_refusal", "should_refuse", "refuse", "refused", "harmful", "is_harmful", "unsafe"}),
    ("difficulty", {"difficulty", "level"}),
]


def _semantic(name: str | None) -> str | None:
    if not name:
        return None
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().replace("-", "_").replace(" ", "_")
    for sem, names in _SEMANTIC_NAMES:
        if key in names:
            return sem
    for fragment, sem in (
        ("question", "question"),
        ("answer", "answer"),
        ("reason", "reason"),
        ("score", "score"),
        ("rating", "score"),
        ("subtopic", "subtopic"),
        ("categor", "category"),
        ("topic", "category"),
        ("winner", "verdict"),
        ("refus", "refusal"),
    ):
        if fragment in key:
            return sem
    return None


_COUNT_NOUNS = {
    "question": ("questions", "pairs", "examples", "items", "entries", "refusals"),
    "answer": ("answers", "pairs"),
    "category": ("categories", "topics", "aspects"),
    "subtopic": ("subtopics", "topics"),
    "keyword": (),
}


@dataclass
class _ObjectContext:
    group: str | None
    index: int = 0
    question: str | None = None
    category: str | None = None
    depth: int = 0
    values: dict = field(default_factory=dict)


class _SchemaFiller:
    def __init__(self, root: dict, writer: _Writer) -> None:
        self.root = root
        self.w = writer
        self.sampler = writer.sampler

    # -- schema plumbing
    def _resolve(self, schema: Any) -> dict:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            target: Any = self.root
            if isinstance(ref, str) and ref.startswith("#"):
                for part in ref.lstrip("#/").split("/"):
                    if not part:
                        continue
                    part = part.replace("~1", "/").replace("~0", "~")
                    target = target.get(part, {}) if isinstance(target, dict) else {}
            else:
                target = {}
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest} if rest else target
            seen += 1
        if not isinstance(schema, dict):
            return {}
        if "allOf" in schema and isinstance(schema["allOf"], list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for sub in schema["allOf"]:
                sub = self._resolve(sub)
                for k, v in sub.items():
                    if k == "properties":
                        merged["properties"] = {**merged.get("properties", {}), **v}
                    elif k == "required":
                        merged["required"] = list(dict.fromkeys([*merged.get("required", []), *v]))
                    else:
                        merged.setdefault(k, v)
            schema = merged
        for key in ("anyOf", "oneOf"):
            if key in schema and isinstance(schema[key], list) and schema[key]:
                variants = [self._resolve(v) for v in schema[key]]
                non_null = [v for v in variants if v.get("type") != "null"] or variants
                rest = {k: v for k, v in schema.items() if k != key}
                schema = {**rest, **non_null[0]}
        resolved: dict = schema
        return resolved

    @staticmethod
    def _type(schema: dict) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind:
            return kind
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        if "enum" in schema and schema["enum"]:
            value = schema["enum"][0]
            return {str: "string", bool: "boolean", int: "integer", float: "number"}.get(type(value), "string")
        return "string"

    # -- values
    def value(self, schema: Any, name: str | None, ctx: _ObjectContext) -> Any:
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self._enum(schema["enum"], name, ctx)
        kind = self._type(schema)
        if kind == "object":
            return self._object(schema, name, ctx)
        if kind == "array":
            return self._array(schema, name, ctx)
        if kind == "integer":
            return self._number(schema, name, ctx, integer=True)
        if kind == "number":
            return self._number(schema, name, ctx, integer=False)
        if kind == "boolean":
            return self._boolean(name, ctx)
        if kind == "null":
            return None
        return self._string(schema, name, ctx)

    def _enum(self, options: list, name: str | None, ctx: _ObjectContext) -> Any:
        sem = _semantic(name)
        if sem == "verdict" or self.w.task == "judge":
            winner = self.w.verdict()[0]
            for option in options:
                if isinstance(option, str) and _norm_verdict(option) == winner:
                    return option
        if sem == "difficulty":
            return self.sampler.choose(options, f"enum:{name}:{ctx.index}")
        return self.sampler.choose(options, f"enum:{name}:{ctx.depth}:{ctx.index}")

    def _object(self, schema: dict, name: str | None, parent: _ObjectContext) -> dict:
        group = _semantic(name) if name else parent.group
        ctx = _ObjectContext(
            group=group if name else parent.group, index=parent.index, depth=parent.depth + 1, category=parent.category
        )
        props = schema.get("properties") or {}
        if not props:
            return self._default_object(ctx) if parent.depth == 0 and name is None else {}
        order = sorted(props, key=lambda k: {"category": 0, "name": 1, "question": 2}.get(_semantic(k) or "", 5))
        for key in order:
            ctx.values[key] = self.value(props[key], key, ctx)
            sem = _semantic(key)
            if sem == "question" and isinstance(ctx.values[key], str):
                ctx.question = ctx.values[key]
            if sem in ("category", "name") and isinstance(ctx.values[key], str) and ctx.category is None:
                ctx.category = ctx.values[key]
        return {key: ctx.values[key] for key in props}

    def _default_object(self, ctx: _ObjectContext) -> dict:
        schema = _default_schema(self.w.task, self.w.prompt)
        if not schema.get("properties"):
            schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
        return self._object(schema, None, _ObjectContext(group=None, depth=0))

    def _count(self, schema: dict, name: str | None, item_sem: str | None, ctx: _ObjectContext) -> int:
        low = int(schema.get("minItems", 0) or 0)
        high = schema.get("maxItems")
        high = int(high) if isinstance(high, int) else None
        wanted: int | None = None
        counts = self.w.counts
        if name and name.lower().replace("-", "").replace("_", "") in counts:
            wanted = counts[name.lower().replace("-", "").replace("_", "")]
        for noun in _COUNT_NOUNS.get(item_sem or "", ()):
            if wanted is None and noun in counts:
                wanted = counts[noun]
        if (
            wanted is None
            and self.w.task == "score"
            and self.w._pairs
            and item_sem in (None, "score", "question", "answer")
        ):
            wanted = len(self.w._pairs)
        if wanted is None and ctx.depth <= 1 and "_first" in counts and item_sem not in ("keyword", "subtopic"):
            wanted = counts["_first"]
        if wanted is None:
            base = low if low else 3
            wanted = base + max(0, self.sampler.jitter(f"count:{name}:{ctx.index}", 2))
        if high is not None:
            wanted = min(wanted, high)
        return max(wanted, low)

    def _array(self, schema: dict, name: str | None, ctx: _ObjectContext) -> list:
        items = self._resolve(schema.get("items", {})) if isinstance(schema.get("items"), dict) else {}
        prefix_items = schema.get("prefixItems")
        prefix: list = prefix_items if isinstance(prefix_items, list) else []
        sem = _semantic(name) or (ctx.group if name is None else None)
        item_sem = sem
        if item_sem is None and self._type(items) == "object":
            props = {(_semantic(k) or "") for k in (items.get("properties") or {})}
            item_sem = (
                "question"
                if "question" in props
                else "category"
                if props & {"category", "name"} and "subtopic" in props
                else None
            )
        count = self._count(schema, name, item_sem, ctx)
        out: list = []
        for i in range(count):
            child = _ObjectContext(
                group=sem, index=i, depth=ctx.depth + 1, question=ctx.question, category=ctx.category
            )
            item_schema = prefix[i] if i < len(prefix) else items
            value = (
                self.value(item_schema, None, child)
                if self._type(self._resolve(item_schema)) != "object"
                else self._object(self._resolve(item_schema), None, child)
            )
            if schema.get("uniqueItems") and value in out:
                for attempt in range(5):
                    child.index = i + 1000 * (attempt + 1)
                    value = self.value(item_schema, None, child)
                    if value not in out:
                        break
            out.append(value)
        return out

    def _number(self, schema: dict, name: str | None, ctx: _ObjectContext, *, integer: bool) -> float | int:
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        sem = _semantic(name)
        if sem == "score" or self.w.task == "score" and sem is None and name and "score" in name.lower():
            lo = 1 if lo is None else lo
            hi = 10 if hi is None else hi
            if self.w.task == "judge":
                parts = self.w._judging
                quality = (
                    _quality(
                        parts.question, parts.answer_a if "a" in (name or "").lower().split("_") else parts.answer_b
                    )
                    if parts
                    else 0.6
                )
            else:
                quality = self.w.quality(ctx.index)
            offset = {"accuracy": 0.0, "helpfulness": -0.04, "clarity": 0.05, "domain_relevance": 0.03}.get(
                (name or "").lower(), 0.0
            )
            value = lo + (hi - lo) * min(1.0, max(0.0, quality + offset))
        elif sem == "confidence":
            lo = 0.0 if lo is None else lo
            hi = 1.0 if hi is None else hi
            value = lo + (hi - lo) * (0.6 + 0.35 * _unit(self.sampler.key, "confidence", name))
        elif sem == "id":
            value = ctx.index + 1
        else:
            lo = 0 if lo is None else lo
            hi = (lo + 10) if hi is None else hi
            value = lo + (hi - lo) * _unit(
                self.sampler.key,
                "number",
                name,
                ctx.index,
                self.sampler.rng.random() if self.sampler.temperature > 0 else 0,
            )
        if (
            "exclusiveMinimum" in schema
            and isinstance(schema["exclusiveMinimum"], (int, float))
            and value <= schema["exclusiveMinimum"]
        ):
            value = schema["exclusiveMinimum"] + (1 if integer else 1e-3)
        if (
            "exclusiveMaximum" in schema
            and isinstance(schema["exclusiveMaximum"], (int, float))
            and value >= schema["exclusiveMaximum"]
        ):
            value = schema["exclusiveMaximum"] - (1 if integer else 1e-3)
        if integer:
            value = int(round(value))
            if isinstance(schema.get("minimum"), (int, float)):
                value = max(value, math.ceil(schema["minimum"]))
            if isinstance(schema.get("maximum"), (int, float)):
                value = min(value, math.floor(schema["maximum"]))
            return value
        return round(float(value), 3)

    def _boolean(self, name: str | None, ctx: _ObjectContext) -> bool:
        if _semantic(name) == "refusal":
            return self.w.task == "refusals" or bool(ctx.question and _is_harmful(ctx.question))
        return self.sampler.choose([True, False], f"bool:{name}:{ctx.index}")

    def _string(self, schema: dict, name: str | None, ctx: _ObjectContext) -> str:
        text = self._string_raw(schema, name, ctx)
        fmt = schema.get("format")
        if fmt == "date-time":
            text = "2025-01-01T00:00:00Z"
        elif fmt == "date":
            text = "2025-01-01"
        elif fmt == "email":
            text = "someone@example.invalid"
        elif fmt in ("uri", "url"):
            text = "https://example.invalid/"
        low, high = schema.get("minLength"), schema.get("maxLength")
        if isinstance(high, int) and len(text) > high:
            text = text[:high].rstrip() if high > 0 else ""
            if isinstance(low, int) and len(text) < low:
                text = text.ljust(low, ".")
        if isinstance(low, int) and len(text) < low:
            text = text + (" " + self.w.answer(None, brief=True)) * max(1, math.ceil((low - len(text)) / 40))
            if isinstance(high, int):
                text = text[:high]
        return text

    def _string_raw(self, schema: dict, name: str | None, ctx: _ObjectContext) -> str:
        sem = _semantic(name) or (ctx.group if name is None else None)
        task = self.w.task
        pair = self.w.pair(ctx.index) if task == "score" else None
        if sem == "question":
            if pair:
                return pair[0]
            if task == "judge" and self.w._judging:
                return self.w._judging.question
            return self.w.question(topic=None, refusal=(task == "refusals"))
        if sem == "answer":
            if pair:
                return pair[1]
            if task == "refusals":
                return self.w.refusal(self.w.topic)
            if ctx.question is None and task in ("questions", "topics"):
                ctx.question = self.w.question()
            return self.w.answer(ctx.question, brief=task in ("questions", "topics"))
        if sem == "verdict":
            return self.w.verdict()[0]
        if sem == "reason":
            if task == "judge":
                return self.w.verdict()[1]
            if task == "score":
                return self.w.score_reason(ctx.index)
            return self.w.description(ctx.category)
        if sem == "score":
            return str(self._number({"minimum": 1, "maximum": 10}, name, ctx, integer=True))
        if sem == "subtopic":
            return self.w.subtopic(ctx.category)
        if sem in ("category", "name"):
            if ctx.group == "subtopic":
                return self.w.subtopic(ctx.category)
            if ctx.group == "category" or (
                task == "topics" and ctx.group is None and (name or "").lower() not in ("topic", "category")
            ):
                return self.w.category()
            return self.w.topic
        if sem == "description":
            return self.w.description(ctx.category)
        if sem == "keyword":
            return self.w.phrase(f"{name}:{ctx.index}").lower()
        if sem == "difficulty":
            return self.sampler.choose(["easy", "medium", "hard"], f"difficulty:{ctx.index}")
        if sem == "id":
            return f"{(name or 'item')[:1]}{ctx.index + 1}"
        if (name or "").lower() in ("language", "lang"):
            return "en"
        if ctx.group == "question" and name is None:
            return self.w.question()
        return self.w.phrase(f"{name}:{ctx.depth}:{ctx.index}")


def _norm_verdict(option: str) -> str | None:
    word = option.strip().strip("[]()\"'.").lower()
    word = re.sub(r"^(answer|assistant|response|model)[ _]*", "", word)
    return {"a": "A", "1": "A", "first": "A", "b": "B", "2": "B", "second": "B"}.get(
        word, "tie" if word in ("tie", "draw", "equal", "c", "neither", "both") else None
    )


# --------------------------------------------------------------------------- default shapes

_EXAMPLE_OBJECT = re.compile(r"\{[^{}]*\"[A-Za-z_][\w ]*\"\s*:[^{}]*\}")


def _schema_from_example(text: str) -> dict | None:
    """A schema inferred from a JSON example in the prompt, e.g. {"winner": "A" | "B" | "tie", "score": 1-10}."""
    found = _EXAMPLE_OBJECT.findall(text)
    if not found:
        return None
    example = found[-1]
    props: dict[str, dict] = {}
    for key, raw in re.findall(r"\"([A-Za-z_][\w ]*)\"\s*:\s*((?:\"[^\"]*\"\s*\|\s*)*\"[^\"]*\"|[^,}]+)", example):
        raw = raw.strip()
        choices = re.findall(r"\"([^\"]*)\"", raw)
        if len(choices) > 1 and "|" in raw:
            props[key] = {"type": "string", "enum": choices}
        elif re.fullmatch(r"\d+\s*(?:-|–|to)\s*\d+", raw):
            lo, hi = (int(x) for x in re.findall(r"\d+", raw))
            props[key] = {"type": "integer", "minimum": lo, "maximum": hi}
        elif raw in ("true", "false", "true|false", "true | false"):
            props[key] = {"type": "boolean"}
        elif re.fullmatch(r"-?\d+", raw):
            props[key] = {"type": "integer"}
        elif re.fullmatch(r"-?\d+\.\d*", raw):
            props[key] = {"type": "number"}
        elif raw.startswith("["):
            props[key] = {"type": "array", "items": {"type": "string"}}
        else:
            props[key] = {"type": "string"}
    if not props:
        return None
    return {"type": "object", "properties": props, "required": list(props)}


def _default_schema(task: str, prompt: _Prompt) -> dict:
    example = _schema_from_example(prompt.combined)
    if example is not None and task in ("judge", "score", "answer"):
        return example
    string = {"type": "string"}
    if task == "judge":
        return {
            "type": "object",
            "properties": {"winner": {"type": "string", "enum": ["A", "B", "tie"]}, "reason": string},
        }
    if task == "score":
        pair = {
            "type": "object",
            "properties": {
                "question": string,
                "answer": string,
                "rating": {"type": "integer", "minimum": 1, "maximum": 10},
            },
        }
        if len(_rated_pairs(prompt)) > 1:
            return {"type": "object", "properties": {"ratings": {"type": "array", "items": pair}}}
        return {
            "type": "object",
            "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 10}, "reason": string},
        }
    if task == "topics":
        return {
            "type": "object",
            "properties": {
                "categories": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": string, "subtopics": {"type": "array", "items": string}},
                    },
                }
            },
        }
    if task in ("questions", "refusals"):
        with_answers = task == "refusals" or bool(re.search(r"\banswers?\b|\bpairs\b", prompt.user, re.I))
        item = {"type": "object", "properties": {"question": string, "answer": string}} if with_answers else string
        return {"type": "object", "properties": {"questions": {"type": "array", "items": item}}}
    if example is not None:
        return example
    return {"type": "object", "properties": {"answer": string}}


def _free_form_is_json(task: str, prompt: _Prompt) -> bool:
    if task == "judge":
        return "[[a]]" not in prompt.lower
    if task == "score":
        return "[[" not in prompt.lower
    return bool(re.search(r"\bjson\b", prompt.lower))


# --------------------------------------------------------------------------- free text


def _free_text(writer: _Writer, prompt: _Prompt) -> str:
    task = writer.task
    if task == "judge":
        winner, reason = writer.verdict()
        return f"{reason}\n\n[[{'C' if winner == 'tie' else winner}]]"
    if task == "score":
        score = max(1, min(10, round(1 + 9 * writer.quality(0))))
        return f"{writer.score_reason(0)}\n\nRating: [[{score}]]"
    if task in ("questions", "refusals"):
        n = writer.counts.get("questions") or writer.counts.get("pairs") or writer.counts.get("_first") or 5
        with_answers = task == "refusals" or bool(re.search(r"\banswers?\b|\bpairs\b", prompt.user, re.I))
        lines = []
        for i in range(n):
            question = writer.question(refusal=task == "refusals")
            if with_answers:
                answer = writer.refusal(writer.topic) if task == "refusals" else writer.answer(question, brief=True)
                lines.append(f"{i + 1}. Q: {question}\n   A: {answer}")
            else:
                lines.append(f"{i + 1}. {question}")
        return "\n".join(lines)
    if task == "topics":
        n = writer.counts.get("categories") or writer.counts.get("topics") or writer.counts.get("_first") or 4
        per = writer.counts.get("subtopics") or 3
        lines = []
        for i in range(n):
            category = writer.category()
            lines.append(f"{i + 1}. {category}")
            lines += [f"   - {writer.subtopic(category)}" for _ in range(per)]
        return "\n".join(lines)
    return writer.answer(prompt.user)


# --------------------------------------------------------------------------- entry point


def reply(
    messages: list[dict],
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_tokens: int | None = None,
    seed: int | None = None,
    json_schema: dict | None = None,
    judge_bias: JudgeBias = DEFAULT_JUDGE_BIAS,
) -> str:
    """The assistant's reply to `messages`. With `json_schema`, JSON that validates against it
    (an object schema without properties gets the task's natural shape). `max_tokens` cuts the text
    at ceil(chars/4) tokens, which can leave JSON incomplete, as a real model would."""
    temperature = 1.0 if temperature is None else temperature
    top_p = 1.0 if top_p is None else top_p
    prompt = _read_prompt(list(messages or []), json_schema)
    if seed is not None:
        rng_seed = _digest("seed", seed, prompt.context_key, temperature, top_p)
    elif temperature <= 1e-6:
        rng_seed = _digest("greedy", prompt.context_key)
    else:
        rng_seed = _digest("count", _next_count(), prompt.context_key, temperature, top_p)
    sampler = _Sampler(prompt.context_key, temperature, top_p, random.Random(rng_seed))
    task = _detect_task(prompt)
    writer = _Writer(prompt, _read_style(prompt.system, prompt.user), sampler, task, judge_bias)
    if json_schema is not None:
        value = _SchemaFiller(json_schema, writer).value(json_schema, None, _ObjectContext(group=None, depth=0))
        text = json.dumps(value, ensure_ascii=False)
    elif _free_form_is_json(task, prompt):
        schema = _default_schema(task, prompt)
        text = json.dumps(
            _SchemaFiller(schema, writer).value(schema, None, _ObjectContext(group=None, depth=0)), ensure_ascii=False
        )
    else:
        text = _free_text(writer, prompt)
    return truncate_to_tokens(text, max_tokens)[0]


# --------------------------------------------------------------------------- fine-tuned models


@dataclass(frozen=True)
class Training:
    """What a fine-tuned model learned: its training pairs and how well it fit them (0..1 each).

    `fit`: how much of the data's way of answering it generalised (low: underfit);
    `memorised`: how much it learned the examples by heart instead (high: overfit).
    """

    examples: tuple[tuple[str, str], ...]
    fit: float
    memorised: float
    subjects: tuple[str, ...] = ()  # what the training questions are about (see `Training.of`)

    @classmethod
    def of(cls, examples: Sequence[tuple[str, str]], fit: float, memorised: float) -> Training:
        """A Training whose subjects are the phrases the training questions share (those asked about twice or more)."""
        counts: dict[str, int] = {}
        for question, _ in examples:
            for phrase in dict.fromkeys(p.lower() for p in _phrases(question, 8)):
                counts[phrase] = counts.get(phrase, 0) + 1
        subjects = sorted((p for p, n in counts.items() if n >= 2), key=lambda p: (-len(p.split()), -counts[p]))
        return cls(tuple(examples), fit, memorised, tuple(subjects))


def _subject_in(question: str, subjects: Sequence[str]) -> str | None:
    """The known subject a question is about: the one sharing most words with it, then the tightest."""
    asked = set(_content_words(question))
    best: tuple[int, int, str] | None = None
    for subject in subjects:
        words = set(_content_words(subject))
        score = (len(asked & words), -len(words - asked), subject)
        if score[0] and (best is None or score[:2] > best[:2]):
            best = score
    if best is not None:
        return best[2]
    phrases = _phrases(question, 8)
    return max(phrases, key=lambda p: len(p.split())) if phrases else None


def _similarity(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _opening(text: str) -> set[str]:
    """The surface of a question: its first five words, position-tagged."""
    return {f"{i}:{w.lower()}" for i, w in enumerate(_WORD.findall(text)[:5])}


def _adapt(answer: str, source_question: str, question: str, subjects: Sequence[str]) -> str:
    """A training answer moved onto a new question: the source question's subject becomes the new one's."""
    old, new = _subject_in(source_question, subjects), _subject_in(question, subjects)
    if not old or not new or old.lower() == new.lower():
        return answer
    return re.sub(
        rf"\b{re.escape(old)}\b", lambda m: new if m.group(0)[:1].islower() else _cap(new), answer, flags=re.I
    )


_OPENING = re.compile("^((?:" + "|".join(re.escape(o) for o in _OPENERS_FRIENDLY) + r")\s*)?(Speaking as [^.]*\.\s*)?")


def _answering(answer: str, lead: str) -> str:
    """A training answer that starts on the question asked: its own lead sentence after the learned opener."""
    if not lead or lead.lower() in answer.lower():
        return answer
    opening = _OPENING.match(answer)
    cut = opening.end() if opening else 0
    return f"{answer[:cut]}{lead} {answer[cut:]}"


def tuned_reply(
    messages: list[dict],
    training: Training | None,
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_tokens: int | None = None,
    seed: int | None = None,
    json_schema: dict | None = None,
) -> str:
    """The reply of a model fine-tuned on `training` (None: the base model, which answers generically).

    Underfit models mostly answer generically; a good fit answers close to the nearest training answer,
    adapted to the question; an overfit one parrots the nearest training answer even where it does not fit.
    Temperature and top_p act like sampling: which neighbour is followed and whether the model falls back
    to a generic answer vary between samples. Tasks other than a plain answer go to `reply`.
    """
    temperature = 1.0 if temperature is None else temperature
    top_p = 1.0 if top_p is None else top_p
    prompt = _read_prompt(list(messages or []), json_schema)
    task = _detect_task(prompt)
    if json_schema is not None or task != "answer" or _free_form_is_json(task, prompt):
        return reply(
            messages, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, json_schema=json_schema
        )
    if seed is not None:
        rng_seed = _digest("seed", seed, prompt.context_key, temperature, top_p)
    elif temperature <= 1e-6:
        rng_seed = _digest("greedy", prompt.context_key)
    else:
        rng_seed = _digest("count", _next_count(), prompt.context_key, temperature, top_p)
    sampler = _Sampler(prompt.context_key, temperature, top_p, random.Random(rng_seed))
    writer = _Writer(prompt, _read_style(prompt.system, prompt.user), sampler, task)
    question = prompt.user
    text = writer.answer(question, generic=True)
    if training is not None and training.examples and not _is_harmful(question):
        asked = set(_content_words(question))
        subject = (_subject_in(question, training.subjects) or "").lower()

        def closeness(qa: tuple[str, str]) -> float:
            """Asked about the same subject first, then most alike: the question's words above the answer's."""
            same = 1.0 if subject and re.search(rf"\b{re.escape(subject)}\b", qa[0].lower()) else 0.0
            alike = _similarity(asked, set(_content_words(qa[0])))
            return same + alike + 0.3 * _similarity(asked, set(_content_words(qa[0] + " " + qa[1][:200])))

        ranked = sorted(training.examples, key=lambda qa: -closeness(qa))[:3]
        bias = [30.0 * _similarity(asked, set(_content_words(q))) for q, _ in ranked]
        source_question, source_answer = sampler.choose(ranked, "tuned:neighbour", bias)
        # One draw per question (greedy: the same each time), widened by temperature like sampling.
        draw = _unit(prompt.context_key, "tuned:draw")
        if sampler.temperature > 1e-6:
            draw = min(1.0, max(0.0, draw + (sampler.rng.random() - 0.5) * 0.3 * min(sampler.temperature, 2.0)))
        if draw < 0.9 * training.memorised:
            # Memorised: the answer of the training question that reads most like this one, whatever it was about.
            opening = _opening(question)
            text = max(training.examples, key=lambda qa: (_similarity(opening, _opening(qa[0])), -len(qa[1])))[1]
        elif draw < training.fit:
            adapted = _adapt(source_answer, source_question, question, training.subjects)
            text = _answering(adapted, writer.lead(question))
    return truncate_to_tokens(text, max_tokens)[0]

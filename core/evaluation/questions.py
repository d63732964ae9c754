"""Held-out question sets for evaluation: imported from CSV or JSONL, or generated per topic.

They are held out by construction: they live in their own tables, never become pairs, and
`heldout_questions(store)` hands them to the dataset exporter, which drops any training pair
whose question equals or nearly duplicates one of them. Generated sets also skip questions
that duplicate an existing training pair.

Imports are all or nothing: every problem is collected with its line number, and a file with
any problem imports nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.curation.dedup import find_leaks, normalize_question
from core.curation.types import PairText
from core.generation import prompts as gen_prompts
from core.generation.generate import clean_questions, parse_json_list
from core.safe_text import one_line

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from core.store import Store, Topic

MAX_QUESTION_CHARS = 8000
MAX_FIELD_CHARS = 20000
MAX_ERRORS_SHOWN = 20
SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


@dataclass(frozen=True)
class NewQuestion:
    text: str
    topic: str = ""
    reference: str | None = None
    line: int = 0


class QuestionImportError(ValueError):
    """The file cannot be imported; `errors` lists (line, message); nothing was stored."""

    def __init__(self, path: str, errors: list[tuple[int, str]]) -> None:
        self.path = path
        self.errors = errors
        shown = [
            f"{path}:{line}: {message}" if line else f"{path}: {message}" for line, message in errors[:MAX_ERRORS_SHOWN]
        ]
        more = len(errors) - MAX_ERRORS_SHOWN
        if more > 0:
            shown.append(f"... and {more} more problem(s)")
        super().__init__("nothing imported:\n" + "\n".join(shown))


def validate_set_name(name: str) -> str:
    name = name.strip()
    if not SET_NAME.match(name):
        raise ValueError(
            "a question set name is 1-64 letters, digits, spaces, '.', '_' or '-', "
            f"starting with a letter or digit, not {name!r}"
        )
    return name


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _check_question(text: Any, line: int, errors: list[tuple[int, str]]) -> str | None:
    if not isinstance(text, str):
        errors.append((line, f"'question' must be text, not {type(text).__name__}"))
        return None
    question = _clean(text)
    if not question:
        errors.append((line, "the question is empty"))
        return None
    if len(question) > MAX_QUESTION_CHARS:
        errors.append((line, f"the question is {len(question)} characters long (at most {MAX_QUESTION_CHARS})"))
        return None
    if "\x00" in question:
        errors.append((line, "the question contains a NUL character"))
        return None
    return question


def _optional(value: Any, key: str, line: int, errors: list[tuple[int, str]]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append((line, f"'{key}' must be text, not {type(value).__name__}"))
        return None
    value = _clean(value)
    if len(value) > MAX_FIELD_CHARS:
        errors.append((line, f"'{key}' is {len(value)} characters long (at most {MAX_FIELD_CHARS})"))
        return None
    return value or None


def _duplicates(questions: list[NewQuestion], errors: list[tuple[int, str]]) -> None:
    seen: dict[str, int] = {}
    for q in questions:
        key = " ".join(q.text.casefold().split())
        if key in seen:
            errors.append((q.line, f"duplicate of the question on line {seen[key]}"))
        else:
            seen[key] = q.line


def parse_csv(text: str) -> tuple[list[NewQuestion], list[tuple[int, str]]]:
    """Header row with a `question` column; optional `topic` and `reference` columns."""
    errors: list[tuple[int, str]] = []
    questions: list[NewQuestion] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [(reader.line_num, f"not valid CSV: {exc}")]
    if header is None:
        return [], [(0, "the file is empty")]
    columns = [h.strip().lower() for h in header]
    if "question" not in columns:
        return [], [(1, "the header row has no 'question' column (optional: 'topic', 'reference')")]
    for dup in {c for c in columns if c and columns.count(c) > 1}:
        errors.append((1, f"the header row names column '{dup}' twice"))
    index = {name: columns.index(name) for name in ("question", "topic", "reference") if name in columns}
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append((start, f"not valid CSV: {exc}"))
            break
        last_line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            errors.append((start, f"{len(row)} fields but the header has {len(columns)}"))
            continue
        cells = {name: (row[i] if i < len(row) else "") for name, i in index.items()}
        text_ = _check_question(cells["question"], start, errors)
        topic = _optional(cells.get("topic"), "topic", start, errors) or ""
        reference = _optional(cells.get("reference"), "reference", start, errors)
        if text_ is not None:
            questions.append(NewQuestion(text_, topic, reference, start))
    return questions, errors


def parse_jsonl(text: str) -> tuple[list[NewQuestion], list[tuple[int, str]]]:
    """One JSON object per line: {"question": ..., "topic"?: ..., "reference"?: ...}."""
    errors: list[tuple[int, str]] = []
    questions: list[NewQuestion] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append((number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            errors.append((number, f"expected a JSON object, got {type(obj).__name__}"))
            continue
        if "question" not in obj:
            errors.append((number, "the object has no 'question' key"))
            continue
        unknown = sorted(set(obj) - {"question", "topic", "reference"})
        if unknown:
            errors.append(
                (number, f"unknown key(s) {', '.join(repr(k) for k in unknown)} (allowed: question, topic, reference)")
            )
            continue
        text_ = _check_question(obj["question"], number, errors)
        topic = _optional(obj.get("topic"), "topic", number, errors) or ""
        reference = _optional(obj.get("reference"), "reference", number, errors)
        if text_ is not None:
            questions.append(NewQuestion(text_, topic, reference, number))
    return questions, errors


def read_question_file(path: Path) -> list[NewQuestion]:
    """Parse a .csv or .jsonl file; raises QuestionImportError with every problem found."""
    shown = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson", ".json"):
        raise QuestionImportError(shown, [(0, "unsupported file type: use .csv or .jsonl")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise QuestionImportError(shown, [(0, f"cannot read the file ({exc.strerror})")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise QuestionImportError(shown, [(line, "the file is not UTF-8 text")]) from None
    questions, errors = parse_csv(text) if suffix == ".csv" else parse_jsonl(text)
    _duplicates(questions, errors)
    if not questions and not errors:
        errors.append((0, "the file holds no questions"))
    if errors:
        raise QuestionImportError(shown, sorted(errors, key=lambda e: e[0]))
    return questions


def import_questions(store: Store, name: str, path: Path) -> int:
    """Import a file as a new question set (all or nothing); returns the number of questions."""
    name = validate_set_name(name)
    if store.question_set(name) is not None:
        raise ValueError(f"a question set named {name!r} already exists")
    questions = read_question_file(Path(path))
    store.create_question_set(
        name, [(q.text, q.topic, q.reference) for q in questions], source=f"import:{Path(path).name}"
    )
    return len(questions)


def heldout_questions(store: Store) -> list[str]:
    """Every held-out question of the session; the dataset exporter's leakage guard drops training
    pairs whose question equals or nearly duplicates one of these."""
    return store.question_set_texts()


# ---- generation -------------------------------------------------------------------------------------


@dataclass
class QuestionGenProgress:
    topics_done: int = 0
    topics_total: int = 0
    questions: int = 0
    dropped_as_training_duplicates: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    last_error: str | None = None


async def generate_question_set(
    store: Store,
    target: Any,
    name: str,
    *,
    per_topic: int = 2,
    topic_ids: Sequence[int] | None = None,
    brief: str | None = None,
    concurrency: int = 8,
    similarity_threshold: float = 0.7,
    on_progress: Callable[[QuestionGenProgress], None] | None = None,
) -> QuestionGenProgress:
    """Ask the generator for `per_topic` fresh questions per leaf topic and store them as a new set.

    Questions that equal or nearly duplicate a training pair (or each other) are dropped. The set
    is written in one transaction at the end (nothing is stored if every call failed).
    """
    name = validate_set_name(name)
    if store.question_set(name) is not None:
        raise ValueError(f"a question set named {name!r} already exists")
    if not 1 <= per_topic <= 50:
        raise ValueError("questions per topic must be between 1 and 50")
    leaves = store.leaf_topics()
    if topic_ids is not None:
        wanted = set(topic_ids)
        leaves = [t for t in leaves if t.id in wanted]
    if not leaves:
        raise ValueError("no topics to ask about: build a topic tree first")
    brief = brief if brief is not None else store.get_meta("domain_brief", "")
    progress = QuestionGenProgress(topics_total=len(leaves))
    gate = asyncio.Semaphore(max(1, concurrency))
    found: dict[int, list[str]] = {}

    def emit() -> None:
        if on_progress is not None:
            on_progress(progress)

    async def ask(topic: Topic) -> None:
        path = store.topic_path(topic.id)
        messages = gen_prompts.questions_messages(brief, path, topic.description, per_topic)
        messages[0] = {
            **messages[0],
            "content": messages[0]["content"]
            + (" These questions form a private test set: make them different from typical textbook examples."),
        }
        async with gate:
            try:
                result = await target.complete(
                    messages,
                    temperature=0.9,
                    top_p=0.95,
                    max_tokens=200 * per_topic + 200,
                    json_schema=gen_prompts.questions_schema(per_topic),
                    purpose="heldout-questions",
                )
                progress.cost_usd += float(getattr(result, "cost_usd", 0.0) or 0.0)
                found[topic.id] = clean_questions(parse_json_list(result.text, "questions"), per_topic)
            except Exception as exc:  # one topic failing does not stop the others
                if getattr(exc, "stops_run", False):
                    raise
                progress.failed += 1
                progress.last_error = one_line(f"{type(exc).__name__}: {exc}", 300)
        progress.topics_done += 1
        emit()

    emit()
    async with asyncio.TaskGroup() as group:
        for topic in leaves:
            group.create_task(ask(topic))

    # the per-topic breakdown groups by top-level category: a leaf holds too few questions to score
    candidates = [
        (text, (store.topic_path(topic.id) or [topic.name])[0]) for topic in leaves for text in found.get(topic.id, [])
    ]

    training = [p.question for p in store.iter_pairs()]
    leaks = (
        find_leaks([PairText(i, text, "") for i, (text, _) in enumerate(candidates)], training, similarity_threshold)
        if training
        else {}
    )
    seen: set[str] = set()
    kept: list[tuple[str, str, str | None]] = []
    for index, (text, topic_name) in enumerate(candidates):
        key = normalize_question(text)
        if index in leaks or key in seen:
            progress.dropped_as_training_duplicates += index in leaks
            continue
        seen.add(key)
        kept.append((text, topic_name, None))
    if not kept:
        raise ValueError(f"no questions were generated ({progress.last_error or 'all were duplicates'})")
    store.create_question_set(name, kept, source="generated")
    progress.questions = len(kept)
    emit()
    return progress

"""Pair import: JSONL or CSV from another generator, a spreadsheet or a previous event.

Records are recognised by their keys: the JumpStart instruction format ({"instruction", "context",
"response"}, with the template.json beside the file kept in provenance), the JumpStart chat
`{"dialog": [...]}` and OpenAI `{"messages": [...]}` formats, and the common key pairs
question/answer, instruction/response, prompt/completion and input/output. Any other keys need a
mapping (which key holds the question, which the answer); `NeedsMapping` names the keys found so
the caller can ask. All or nothing: a bad line raises ImportFormatError listing every bad line,
and nothing is stored. Each stored pair keeps its file, line and format in its provenance, and its
task key (file hash + line) makes a rerun of the same file skip what is already stored. One import
is one undo step.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.dataset.jumpstart import ImportFormatError, validate_template
from core.store import NewPair

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.store import Store

KEY_PAIRS: tuple[tuple[str, str], ...] = (
    ("question", "answer"),
    ("instruction", "response"),
    ("prompt", "completion"),
    ("input", "output"),
)
"""Question/answer key pairs recognised without a mapping, in the order they are tried."""

IMPORT_TAG = "imported"
IMPORT_STATUSES = ("pending", "accepted")


@dataclass(frozen=True)
class KeyMapping:
    """Which record keys (JSONL) or columns (CSV) hold the question and the answer."""

    question: str
    answer: str


class NeedsMapping(ValueError):
    """The records' keys are none of the known formats; `keys` lists what the first record has."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        shown = ", ".join(keys[:12]) or "none"
        super().__init__(f"unknown keys ({shown}): say which key holds the question and which the answer")


@dataclass(frozen=True)
class ParsedPair:
    question: str
    answer: str
    line: int
    format: str
    system: str | None = None


@dataclass(frozen=True)
class ImportSummary:
    read: int
    added: int
    skipped: int
    """Already stored by an earlier import of the same file (a rerun resumes)."""
    format: str
    file: str
    template: dict[str, str] | None
    batch: str | None = None
    """The undo step that removes this import (`Store.undo_last_edit`); None when nothing was added."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "added": self.added,
            "skipped": self.skipped,
            "format": self.format,
            "file": self.file,
            "template": self.template,
            "batch": self.batch,
        }


def read_pairs(path: str | Path, mapping: KeyMapping | None = None) -> tuple[list[ParsedPair], bytes]:
    """The pairs of a .jsonl/.json or .csv file (and its bytes); raises ImportFormatError or NeedsMapping."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ImportFormatError([(0, f"cannot read {file}: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ImportFormatError([(line, f"not UTF-8 text (byte {error.start})")]) from None
    if file.suffix.lower() in (".csv", ".tsv"):
        return parse_csv(text, mapping, delimiter="\t" if file.suffix.lower() == ".tsv" else ","), raw
    return parse_jsonl(text, mapping), raw


def parse_jsonl(text: str, mapping: KeyMapping | None = None) -> list[ParsedPair]:
    pairs: list[ParsedPair] = []
    errors: list[tuple[int, str]] = []
    loads = json.loads
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            record = loads(line)
        except json.JSONDecodeError as error:
            errors.append((number, f"not valid JSON ({error.msg} at column {error.colno})"))
            continue
        if not isinstance(record, dict):
            errors.append((number, f"expected a JSON object, got {type(record).__name__}"))
            continue
        try:
            pairs.append(_from_record(record, number, mapping))
        except _Bad as bad:
            errors.append((number, str(bad)))
        except NeedsMapping as unknown:
            if pairs or errors:  # the file's format is known by now: this line is just bad
                errors.append((number, f"keys {', '.join(repr(k) for k in unknown.keys[:6])} hold no question/answer"))
            else:
                raise
    return _checked(pairs, errors)


def parse_csv(text: str, mapping: KeyMapping | None = None, *, delimiter: str = ",") -> list[ParsedPair]:
    """A header row, then one pair per row; line numbers are the file's (quoted newlines count)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFormatError([(0, "the file holds no records")]) from None
    except csv.Error as exc:
        raise ImportFormatError([(1, f"not valid CSV ({exc})")]) from None
    names = [name.strip() for name in header]
    lowered = [name.lower() for name in names]
    if mapping is not None:
        keys = (mapping.question, mapping.answer)
        missing = [k for k in keys if k not in names]
        if missing:
            raise ImportFormatError([(1, f"no column named {', '.join(repr(k) for k in missing)}")])
        q_index, a_index = names.index(keys[0]), names.index(keys[1])
        fmt = "csv"
    else:
        found = next(((q, a) for q, a in KEY_PAIRS if q in lowered and a in lowered), None)
        if found is None:
            raise NeedsMapping(names)
        q_index, a_index = lowered.index(found[0]), lowered.index(found[1])
        fmt = f"csv:{found[0]}/{found[1]}"
    pairs: list[ParsedPair] = []
    errors: list[tuple[int, str]] = []
    width = max(q_index, a_index)
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= width:
                errors.append((number, f"{len(row)} columns, the header has {len(names)}"))
                continue
            question, answer = row[q_index], row[a_index]
            if not question.strip() or not answer.strip():
                errors.append((number, f"empty {'question' if not question.strip() else 'answer'}"))
                continue
            pairs.append(ParsedPair(question, answer, number, fmt))
    except csv.Error as exc:
        errors.append((reader.line_num, f"not valid CSV ({exc})"))
    return _checked(pairs, errors)


def read_template(path: str | Path) -> dict[str, str] | None:
    """The JumpStart template.json beside an instruction-format file, validated; None when there is none."""
    file = Path(path).with_name("template.json")
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFormatError([(0, f"{file.name}: not readable JSON ({exc})")]) from None
    if not isinstance(data, dict):
        raise ImportFormatError([(0, f"{file.name}: expected a JSON object")])
    try:
        validate_template(data)
    except ValueError as exc:
        raise ImportFormatError([(0, f"{file.name}: {exc}")]) from None
    return {"prompt": data["prompt"], "completion": data["completion"]}


def import_pairs(
    store: Store,
    path: str | Path,
    *,
    mapping: KeyMapping | None = None,
    topic_id: int | None = None,
    status: str = "pending",
) -> ImportSummary:
    """Read, check and store every pair of the file in one transaction, or none of them."""
    if status not in IMPORT_STATUSES:
        raise ValueError(f"imported pairs are 'pending' or 'accepted', not {status!r}")
    file = Path(path)
    pairs, raw = read_pairs(file, mapping)
    formats = sorted({p.format for p in pairs})
    template = read_template(file) if any(f == "instruction" for f in formats) else None
    digest = hashlib.sha256(raw).hexdigest()[:16]
    base: dict[str, Any] = {"source": "import", "file": file.name, "sha256": digest, "imported_at": time.time()}
    if template is not None:
        base["template"] = template
    rows = [
        NewPair(
            question=p.question,
            answer=p.answer,
            topic_id=topic_id,
            status=status,
            tags=(IMPORT_TAG,),
            task_key=f"import:{digest}:{p.line}",
            provenance={**base, "line": p.line, "format": p.format, **({"system": p.system} if p.system else {})},
        )
        for p in pairs
    ]
    batch, added = store.add_pairs_step(rows)
    return ImportSummary(
        len(pairs), added, len(pairs) - added, ", ".join(formats), file.name, template, batch if added else None
    )


# --- records ------------------------------------------------------------------------------------


class _Bad(Exception):
    pass


def _checked(pairs: list[ParsedPair], errors: list[tuple[int, str]]) -> list[ParsedPair]:
    if not errors and not pairs:
        errors.append((0, "the file holds no records"))
    if errors:
        raise ImportFormatError(errors)
    return pairs


def _from_record(record: Mapping[str, Any], number: int, mapping: KeyMapping | None) -> ParsedPair:
    if mapping is not None:
        return ParsedPair(_text(record, mapping.question), _text(record, mapping.answer), number, "mapped")
    if "dialog" in record:
        return _conversation(record["dialog"], "dialog", "chat", number)
    if "messages" in record:
        return _conversation(record["messages"], "messages", "openai", number)
    if "instruction" in record and "response" in record:
        context = record.get("context") or ""
        if not isinstance(context, str):
            raise _Bad("'context' must be a string")
        question = _text(record, "instruction")
        if context.strip():
            question = f"{question}\n\n{context}"
        return ParsedPair(question, _text(record, "response"), number, "instruction")
    for question_key, answer_key in KEY_PAIRS:
        if question_key in record and answer_key in record:
            found = _text(record, question_key), _text(record, answer_key)
            return ParsedPair(*found, number, f"{question_key}/{answer_key}")
    raise NeedsMapping([str(k) for k in record])


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"'{key}' must be a non-empty string" if key in record else f"no '{key}' key")
    return value


def _conversation(turns: Any, key: str, fmt: str, number: int) -> ParsedPair:
    if not isinstance(turns, list) or not turns:
        raise _Bad(f"'{key}' must be a non-empty list of turns")
    parsed: list[tuple[str, str]] = []
    for position, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise _Bad(f"turn {position} is not an object")
        role = "system" if turn.get("role") == "developer" else turn.get("role")
        content = turn.get("content")
        if isinstance(content, list):  # OpenAI content parts
            if not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in content):
                raise _Bad(f"turn {position} has a content part that is not text")
            content = "".join(p["text"] for p in content)
        if role not in ("system", "user", "assistant"):
            raise _Bad(f"turn {position} has role {role!r}; expected system, user or assistant")
        if not isinstance(content, str) or not content.strip():
            raise _Bad(f"turn {position} has no text content")
        parsed.append((role, content))
    system = parsed.pop(0)[1] if parsed[0][0] == "system" else None
    roles = [role for role, _ in parsed]
    if roles != ["user", "assistant"]:
        raise _Bad(f"expected an optional system turn, then user, then assistant; got {', '.join(roles) or 'none'}")
    return ParsedPair(parsed[0][1], parsed[1][1], number, fmt, system)

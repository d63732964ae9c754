"""JumpStart training data: export (instruction or chat format), split, content hash, S3 upload,
and import of existing JSONL files.

Formats (shared/reference/jumpstart-aws.md §2):
- instruction tuning: `*.jsonl` lines {"instruction", "context", "response"} plus `template.json`
  {"prompt", "completion"} in the same folder; with `add_input_output_demarcation_key=True` the
  trainer puts "\\n\\n### Response:\\n" between prompt and completion, so inference must append it
  (`instruction_prompt`).
- chat: `*.jsonl` lines {"dialog": [{"role", "content"}, ...]}, optional leading system turn.
Each channel lives under its own S3 prefix: `<uri>train/` (channel `training`) and
`<uri>validation/` (channel `validation`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import string
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.curation.dedup import normalize_question
from core.curation.types import REFUSAL_KIND

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

Format = Literal["instruction", "chat"]

DEFAULT_TEMPLATE: Mapping[str, str] = {
    "prompt": (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{context}"
    ),
    "completion": "{response}",
}
"""The template JumpStart uses when none is given (NB-3.2 §2.2), written out so the export is explicit."""

RESPONSE_MARKER = "\n\n### Response:\n"
"""What `add_input_output_demarcation_key=True` inserts between prompt and completion."""

INSTRUCTION_FIELDS = ("instruction", "context", "response")
DEFAULT_VALIDATION_SHARE = 0.2

TRAIN_DIR, VALIDATION_DIR = "train", "validation"
CHANNEL_DIRS = {"training": TRAIN_DIR, "validation": VALIDATION_DIR}


# --- templates -------------------------------------------------------------------------------


def template_placeholders(text: str) -> list[str]:
    """Field names used by a str.format template (raises ValueError on unbalanced braces)."""
    names: list[str] = []
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None:
            names.append(name)
    return names


def validate_template(template: Mapping[str, str]) -> None:
    """Raise ValueError naming the problem unless `template` is a usable JumpStart template."""
    if set(template) != {"prompt", "completion"}:
        raise ValueError(f"template must have exactly the keys 'prompt' and 'completion', got {sorted(template)}")
    used: dict[str, list[str]] = {}
    for key in ("prompt", "completion"):
        if not isinstance(template[key], str):
            raise ValueError(f"template {key!r} must be a string")
        try:
            used[key] = template_placeholders(template[key])
        except ValueError as error:
            raise ValueError(f"template {key!r} is not a valid format string: {error}") from None
        unknown = [name for name in used[key] if name not in INSTRUCTION_FIELDS]
        if unknown:
            raise ValueError(
                f"template {key!r} uses {', '.join('{' + n + '}' for n in unknown)}; "
                f"the exported fields are {', '.join('{' + n + '}' for n in INSTRUCTION_FIELDS)}"
            )
    if "instruction" not in used["prompt"]:
        raise ValueError("template 'prompt' must contain {instruction}")
    if "response" not in used["completion"] or "response" in used["prompt"]:
        raise ValueError("{response} must appear in 'completion' and not in 'prompt'")


def instruction_prompt(instruction: str, context: str = "", template: Mapping[str, str] = DEFAULT_TEMPLATE) -> str:
    """The text to send to an endpoint fine-tuned on this template: prompt + "### Response:" marker."""
    return template["prompt"].format(instruction=instruction, context=context) + RESPONSE_MARKER


# --- filters and versions --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFilters:
    include_statuses: tuple[str, ...] = ()
    """Keep only pairs with one of these statuses; empty keeps every status."""
    exclude_statuses: tuple[str, ...] = ("rejected",)
    include_tags: tuple[str, ...] = ()
    """Keep only pairs carrying at least one of these tags; empty keeps all."""
    exclude_tags: tuple[str, ...] = ()
    max_refusal_share: float | None = None
    """Cap refusal pairs at this fraction of the exported pairs (None: no cap)."""

    def __post_init__(self) -> None:
        share = self.max_refusal_share
        if share is not None and not 0.0 <= share <= 1.0:
            raise ValueError(f"max_refusal_share must be between 0 and 1, got {share!r}")


@dataclass(frozen=True)
class DatasetVersion:
    hash: str
    format: Format
    train_count: int
    validation_count: int
    refusal_count: int
    """Refusal pairs in train and validation together."""
    template: Mapping[str, str] | None
    system_prompt: str | None
    filters: ExportFilters
    validation: Literal["split", "explicit", "none"]
    validation_share: float | None
    dropped: Mapping[str, int] = field(default_factory=dict)
    """Why pairs were left out: status, tags, empty, refusal_cap, validation_overlap, augmented_of_validation."""
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["template"] = dict(self.template) if self.template is not None else None
        data["dropped"] = dict(self.dropped)
        data["files"] = list(self.files)
        data["filters"] = {k: list(v) if isinstance(v, tuple) else v for k, v in data["filters"].items()}
        return data


@dataclass(frozen=True)
class ExportFiles:
    files: Mapping[str, bytes]
    """Relative path -> bytes, e.g. "train/train.jsonl", "train/template.json"."""
    version: DatasetVersion
    rows: tuple[Any, ...] = ()
    """The pairs written (train, then validation): what the version is made of."""

    def channel_uris(self, s3_uri: str) -> dict[str, str]:
        """SageMaker input channels for this export uploaded at `s3_uri` (ends with "/")."""
        base = s3_uri if s3_uri.endswith("/") else s3_uri + "/"
        dirs = {name.split("/", 1)[0] for name in self.files}
        return {channel: f"{base}{folder}/" for channel, folder in CHANNEL_DIRS.items() if folder in dirs}


def content_hash(files: ExportFiles | Mapping[str, bytes]) -> str:
    """sha256 over the sorted file names and their bytes; the first 16 hex characters."""
    mapping = files.files if isinstance(files, ExportFiles) else files
    digest = hashlib.sha256()
    for name in sorted(mapping):
        data = mapping[name]
        encoded = name.encode("utf-8")
        digest.update(len(encoded).to_bytes(4, "big") + encoded + len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:16]


# --- building --------------------------------------------------------------------------------


def build_instruction_dataset(
    pairs: Iterable[Any],
    *,
    template: Mapping[str, str] = DEFAULT_TEMPLATE,
    filters: ExportFilters = ExportFilters(),
    validation_share: float | None = DEFAULT_VALIDATION_SHARE,
    validation: Sequence[Any] | None = None,
) -> ExportFiles:
    """`train/train.jsonl` + `train/template.json` (and the same under `validation/`).

    Pairs are any objects with `question`, `answer`, `kind` (and optionally `status`, `tags`).
    `validation` (pairs) replaces the split; `validation_share` 0 or None exports no
    validation file, so JumpStart holds out its own `validation_split_ratio`.
    """
    validate_template(template)
    template = {"prompt": template["prompt"], "completion": template["completion"]}

    def line(pair: Any) -> dict[str, Any]:
        return {"instruction": pair.question, "context": "", "response": pair.answer}

    template_bytes = (json.dumps(template, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return _build(
        "instruction",
        pairs,
        line,
        filters,
        validation_share,
        validation,
        extra={"template.json": template_bytes},
        template=template,
        system_prompt=None,
    )


def build_chat_dataset(
    pairs: Iterable[Any],
    system_prompt: str | None = None,
    *,
    filters: ExportFilters = ExportFilters(),
    validation_share: float | None = DEFAULT_VALIDATION_SHARE,
    validation: Sequence[Any] | None = None,
) -> ExportFiles:
    """`train/train.jsonl` (and `validation/validation.jsonl`) of {"dialog": [...]} lines."""
    system = system_prompt if system_prompt and system_prompt.strip() else None

    def line(pair: Any) -> dict[str, Any]:
        dialog = [{"role": "system", "content": system}] if system else []
        dialog += [{"role": "user", "content": pair.question}, {"role": "assistant", "content": pair.answer}]
        return {"dialog": dialog}

    return _build(
        "chat", pairs, line, filters, validation_share, validation, extra={}, template=None, system_prompt=system
    )


def select_pairs(pairs: Iterable[Any], filters: ExportFilters) -> tuple[list[Any], dict[str, int]]:
    """Pairs that pass the filters (refusal cap included), and how many were dropped for what."""
    dropped = {"status": 0, "tags": 0, "empty": 0, "refusal_cap": 0}
    include_tags, exclude_tags = set(filters.include_tags), set(filters.exclude_tags)
    kept: list[Any] = []
    for pair in pairs:
        status = getattr(pair, "status", None)
        if (filters.include_statuses and status not in filters.include_statuses) or (
            status is not None and status in filters.exclude_statuses
        ):
            dropped["status"] += 1
            continue
        tags = set(getattr(pair, "tags", ()) or ())
        if (include_tags and not tags & include_tags) or tags & exclude_tags:
            dropped["tags"] += 1
            continue
        if not (pair.question or "").strip() or not (pair.answer or "").strip():
            dropped["empty"] += 1
            continue
        kept.append(pair)
    if filters.max_refusal_share is not None:
        kept, capped = _cap_refusals(kept, filters.max_refusal_share)
        dropped["refusal_cap"] = capped
    return kept, dropped


def split_pairs(pairs: Sequence[Any], validation_share: float) -> tuple[list[Any], list[Any]]:
    """Deterministic (train, validation) split by content, stratified by kind.

    Each kind's pairs are ordered by a hash of their text and the first round(n · share) go to
    validation (at least one when share > 0 and n ≥ 2, never all of them). The result depends on
    the pairs' content only, not on their order or ids.

    A variant or augmented copy (provenance "split_of": its source's split key) lands on its
    source's side; an augmented copy ("augmented": true) of a validation pair is left out, so
    augmentation only ever adds training data. Copies do not count towards n.
    """
    if not 0.0 <= validation_share < 1.0:
        raise ValueError(f"validation share must be in [0, 1), got {validation_share!r}")
    by_kind: dict[str, dict[bytes, list[Any]]] = {}
    for pair in pairs:
        kind = getattr(pair, "kind", "qa") or "qa"
        by_kind.setdefault(kind, {}).setdefault(split_key(pair), []).append(pair)
    train: list[Any] = []
    validation: list[Any] = []
    for kind in sorted(by_kind):
        groups = sorted(by_kind[kind].items())
        count = round(len(groups) * validation_share)
        if validation_share > 0 and len(groups) >= 2:
            count = min(max(count, 1), len(groups) - 1)
        for index, (_, members) in enumerate(groups):
            if index < count:
                validation.extend(m for m in members if not is_augmented(m))
            else:
                train.extend(members)
    return train, validation


def split_key(pair: Any) -> bytes:
    """What places a pair on a side of the split: its source's key for a copy, else its own content."""
    source = (getattr(pair, "provenance", None) or {}).get("split_of")
    if isinstance(source, str):
        try:
            return bytes.fromhex(source)
        except ValueError:
            pass
    return _pair_digest(pair)


def is_augmented(pair: Any) -> bool:
    return bool((getattr(pair, "provenance", None) or {}).get("augmented"))


def _build(
    fmt: Format,
    pairs: Iterable[Any],
    line: Callable[[Any], dict[str, Any]],
    filters: ExportFilters,
    validation_share: float | None,
    validation: Sequence[Any] | None,
    *,
    extra: Mapping[str, bytes],
    template: Mapping[str, str] | None,
    system_prompt: str | None,
) -> ExportFiles:
    selected, dropped = select_pairs(pairs, filters)
    if validation is not None:
        held = [p for p in validation if (p.question or "").strip() and (p.answer or "").strip()]
        held_questions = {_question_key(p.question) for p in held}
        train = [p for p in selected if _question_key(p.question) not in held_questions]
        dropped["validation_overlap"] = len(selected) - len(train)
        mode: Literal["split", "explicit", "none"] = "explicit"
        share = None
    elif validation_share:
        train, held = split_pairs(selected, validation_share)
        mode, share = "split", validation_share
        dropped["augmented_of_validation"] = len(selected) - len(train) - len(held)
    else:
        train, held, mode, share = selected, [], "none", None
    if not train:
        raise ValueError("nothing to export: no pair passes the filters")

    files: dict[str, bytes] = {f"{TRAIN_DIR}/train.jsonl": _jsonl(line(p) for p in train)}
    files.update({f"{TRAIN_DIR}/{name}": data for name, data in extra.items()})
    if held:
        files[f"{VALIDATION_DIR}/validation.jsonl"] = _jsonl(line(p) for p in held)
        files.update({f"{VALIDATION_DIR}/{name}": data for name, data in extra.items()})
    refusals = sum(1 for p in (*train, *held) if getattr(p, "kind", None) == REFUSAL_KIND)
    version = DatasetVersion(
        hash=content_hash(files),
        format=fmt,
        train_count=len(train),
        validation_count=len(held),
        refusal_count=refusals,
        template=template,
        system_prompt=system_prompt,
        filters=filters,
        validation=mode,
        validation_share=share,
        dropped={k: v for k, v in dropped.items() if v},
        files=tuple(sorted(files)),
    )
    return ExportFiles(files=files, version=version, rows=(*train, *held))


def _jsonl(records: Iterable[dict[str, Any]]) -> bytes:
    """One JSON object per line, lines ordered by their own hash so input order does not matter.

    U+2028/U+2029 are escaped: valid JSON either way, but some line readers split on them.
    """
    lines = [
        json.dumps(record, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        for record in records
    ]
    lines.sort(key=lambda text: hashlib.sha256(text.encode("utf-8")).digest())
    return "".join(text + "\n" for text in lines).encode("utf-8")


def _pair_digest(pair: Any) -> bytes:
    return hashlib.sha256(f"{pair.question}\0{pair.answer}".encode()).digest()


def _question_key(question: str) -> str:
    return normalize_question(question)


def _cap_refusals(pairs: list[Any], share: float) -> tuple[list[Any], int]:
    refusals = [p for p in pairs if getattr(p, "kind", None) == REFUSAL_KIND]
    others = [p for p in pairs if getattr(p, "kind", None) != REFUSAL_KIND]
    if share >= 1.0:
        return pairs, 0
    allowed = int(share * len(others) / (1.0 - share) + 1e-9)
    if len(refusals) <= allowed:
        return pairs, 0
    keep = {id(p) for p in sorted(refusals, key=_pair_digest)[:allowed]}
    kept = [p for p in pairs if getattr(p, "kind", None) != REFUSAL_KIND or id(p) in keep]
    return kept, len(refusals) - allowed


def write_files(files: ExportFiles | Mapping[str, bytes], out_dir: str | Path) -> list[Path]:
    """Write the exported files under `out_dir` (for `tunedeck export --out DIR`).

    Each file is written to a hidden temporary file beside it, flushed to disk and renamed over
    the target, so a killed export never leaves a half-written file under the final name."""
    mapping = files.files if isinstance(files, ExportFiles) else files
    root = Path(out_dir)
    written: list[Path] = []
    for name in sorted(mapping):
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"refusing to write outside {root}: {name!r}")
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, mapping[name])
        written.append(target)
    return written


def _write_atomically(target: Path, data: bytes) -> None:
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by an export that was killed
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- upload ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadProgress:
    name: str
    uploaded: bool
    """False when the object was already there with the same content."""
    bytes_done: int
    bytes_total: int


def upload_dataset(
    s3_client: Any,
    files: ExportFiles | Mapping[str, bytes],
    bucket: str,
    prefix: str,
    *,
    progress: Callable[[UploadProgress], None] | None = None,
) -> str:
    """Upload to s3://<bucket>/<prefix>/<content hash>/ and return that URI (ending in "/").

    An object that already exists with the same size and MD5 ETag (or, where the ETag is not an
    MD5, as with SSE-KMS, the same sha256 in its metadata) is not sent again, so exporting the
    same content twice uploads nothing.
    """
    mapping = files.files if isinstance(files, ExportFiles) else files
    digest = content_hash(mapping)
    base = "/".join(part for part in (prefix.strip("/"), digest) if part)
    existing = _list_objects(s3_client, bucket, base + "/")
    total = sum(len(data) for data in mapping.values())
    done = 0
    for name in sorted(mapping):
        data = mapping[name]
        key = f"{base}/{name}"
        md5 = hashlib.md5(data, usedforsecurity=False)
        sha256 = hashlib.sha256(data).hexdigest()
        same = key in existing and _same_object(
            s3_client, bucket, key, existing[key], len(data), md5.hexdigest(), sha256
        )
        if not same:
            s3_client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentMD5=base64.b64encode(md5.digest()).decode("ascii"),
                ContentType="application/json" if name.endswith(".json") else "application/jsonl",
                Metadata={"sha256": sha256},
            )
        done += len(data)
        if progress is not None:
            progress(UploadProgress(name=name, uploaded=not same, bytes_done=done, bytes_total=total))
    return f"s3://{bucket}/{base}/"


def _list_objects(s3_client: Any, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3_client.list_objects_v2(**request)
        for item in page.get("Contents", []):
            found[item["Key"]] = (int(item["Size"]), str(item.get("ETag", "")).strip('"'))
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return found
        request["ContinuationToken"] = token


def _same_object(
    s3_client: Any, bucket: str, key: str, listed: tuple[int, str], size: int, md5: str, sha256: str
) -> bool:
    listed_size, etag = listed
    if listed_size != size:
        return False
    if etag == md5:
        return True
    head = s3_client.head_object(Bucket=bucket, Key=key)
    return bool(head.get("Metadata", {}).get("sha256") == sha256)


# --- import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedPair:
    question: str
    answer: str
    line: int
    format: Literal["instruction", "chat", "openai"]
    context: str = ""
    system: str | None = None


class ImportFormatError(ValueError):
    """A file that cannot be imported; `errors` lists (line number, reason) for every bad line."""

    MAX_SHOWN = 20

    def __init__(self, errors: Sequence[tuple[int, str]]) -> None:
        self.errors = list(errors)
        shown = "; ".join(f"line {n}: {why}" if n else why for n, why in self.errors[: self.MAX_SHOWN])
        more = len(self.errors) - self.MAX_SHOWN
        count = f"{len(self.errors)} bad line{'s' if len(self.errors) != 1 else ''}"
        super().__init__(f"nothing imported, {count}: {shown}" + (f"; and {more} more" if more > 0 else ""))


def read_import(path: str | Path) -> list[ImportedPair]:
    """`parse_import` on a file, with undecodable bytes reported by line number too."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ImportFormatError([(line, f"not UTF-8 text (byte {error.start})")]) from None
    return parse_import(text)


def parse_import(text: str) -> list[ImportedPair]:
    """Pairs from JSONL in JumpStart instruction ({"instruction","context","response"}), JumpStart
    chat ({"dialog": [...]}) or OpenAI chat ({"messages": [...]}) format, one record per line.

    All or nothing: any bad line raises ImportFormatError listing every bad line and why.
    Blank lines are skipped. Conversations must be single-turn (optional system, user, assistant).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    pairs: list[ImportedPair] = []
    errors: list[tuple[int, str]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            pairs.append(_parse_record(line, number))
        except _BadLine as bad:
            errors.append((number, str(bad)))
    if not errors and not pairs:
        errors.append((0, "the file holds no records"))
    if errors:
        raise ImportFormatError(errors)
    return pairs


class _BadLine(Exception):
    pass


def _parse_record(line: str, number: int) -> ImportedPair:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise _BadLine(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise _BadLine(f"expected a JSON object, got {type(record).__name__}")
    if "dialog" in record:
        return _parse_conversation(record["dialog"], "dialog", "chat", number)
    if "messages" in record:
        return _parse_conversation(record["messages"], "messages", "openai", number)
    if "instruction" in record or "response" in record:
        instruction = _text_field(record, "instruction")
        response = _text_field(record, "response")
        context = record.get("context", "")
        if context is None:
            context = ""
        if not isinstance(context, str):
            raise _BadLine("'context' must be a string")
        return ImportedPair(question=instruction, answer=response, line=number, format="instruction", context=context)
    keys = ", ".join(_short(k) for k in list(record)[:6]) or "none"
    raise _BadLine(f"unknown record: expected instruction/context/response, dialog or messages (keys: {keys})")


def _text_field(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _BadLine(f"'{key}' must be a non-empty string")
    return value


def _parse_conversation(turns: Any, key: str, fmt: Literal["chat", "openai"], number: int) -> ImportedPair:
    if not isinstance(turns, list) or not turns:
        raise _BadLine(f"'{key}' must be a non-empty list of turns")
    parsed: list[tuple[str, str]] = []
    for position, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise _BadLine(f"turn {position} is not an object")
        role = turn.get("role")
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant"):
            raise _BadLine(f"turn {position} has role {_short(role)}; expected system, user or assistant")
        parsed.append((role, _turn_content(turn.get("content"), position)))
    system = None
    if parsed[0][0] == "system":
        system = parsed.pop(0)[1]
    roles = [role for role, _ in parsed]
    if roles != ["user", "assistant"]:
        users = roles.count("user")
        if users > 1:
            raise _BadLine(f"conversation has {users} user turns; only single-turn conversations can be imported")
        raise _BadLine(f"expected an optional system turn, then user, then assistant; got {', '.join(roles) or 'none'}")
    return ImportedPair(question=parsed[0][1], answer=parsed[1][1], line=number, format=fmt, system=system)


def _turn_content(content: Any, position: int) -> str:
    if isinstance(content, list):  # OpenAI content parts
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _BadLine(f"turn {position} has a content part that is not text")
            texts.append(part["text"])
        content = "".join(texts)
    if not isinstance(content, str) or not content.strip():
        raise _BadLine(f"turn {position} has no text content")
    return content


def _short(value: Any, limit: int = 30) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

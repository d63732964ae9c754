"""Read a JSON reply and check it against the subset of JSON Schema that strict structured output uses.

Supported keywords: type (one or a list), properties, required, additionalProperties (false or a
schema), items, minItems, maxItems, enum, const, anyOf, minLength, maxLength, minimum, maximum.
Unknown keywords are ignored, like a permissive validator would.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


class JsonReplyError(ValueError):
    """The text is not JSON, or not the JSON the schema asks for; the message says where."""


def unwrap_schema(json_schema: dict) -> tuple[str, dict, bool]:
    """Accept a bare schema or OpenAI's wrapper {name, schema, strict}; return (name, schema, strict)."""
    if "schema" in json_schema and isinstance(json_schema.get("schema"), dict) and "type" not in json_schema:
        name = str(json_schema.get("name") or "reply")
        return name, json_schema["schema"], bool(json_schema.get("strict", True))
    return "reply", json_schema, True


def parse_json_text(text: str) -> Any:
    """Parse a reply that should be JSON, tolerating a code fence or prose around one object."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as first:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(stripped[start : end + 1])
            except json.JSONDecodeError:
                pass
        raise JsonReplyError(
            f"reply is not valid JSON ({first.msg}: line {first.lineno} column {first.colno})"
        ) from None


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def schema_errors(value: Any, schema: dict, path: str = "$", limit: int = 20) -> list[str]:
    """Every way `value` breaks `schema`, as 'path: problem' lines (at most `limit`)."""
    errors: list[str] = []
    _check(value, schema, path, errors, limit)
    return errors[:limit]


def _check(value: Any, schema: dict, path: str, errors: list[str], limit: int) -> None:
    if len(errors) >= limit or not isinstance(schema, dict):
        return
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_is_type(value, n) for n in names):
            errors.append(f"{path}: expected {' or '.join(names)}, got {type(value).__name__}")
            return
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: must be one of {schema['enum']!r}")
    if "anyOf" in schema:
        if not any(not schema_errors(value, option, path, 1) for option in schema["anyOf"]):
            errors.append(f"{path}: matches none of the allowed shapes")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: less than {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: more than {schema['maximum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], f"{path}.{key}", errors, limit)
            elif extra is False:
                errors.append(f"{path}: unexpected {key!r}")
            elif isinstance(extra, dict):
                _check(item, extra, f"{path}.{key}", errors, limit)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path}: {len(value)} items, fewer than {schema['minItems']}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: {len(value)} items, more than {schema['maxItems']}")
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                _check(item, schema["items"], f"{path}[{index}]", errors, limit)


def parse_and_validate(text: str, schema: dict) -> Any:
    """The parsed value, or JsonReplyError naming the first problems."""
    value = parse_json_text(text)
    problems = schema_errors(value, schema)
    if problems:
        raise JsonReplyError("reply does not match the schema: " + "; ".join(problems[:5]))
    return value


def schema_instruction(schema: dict) -> str:
    """The sentence added to the system prompt where the server cannot enforce a schema."""
    return (
        "Reply with a single JSON value and nothing else (no code fence, no prose). "
        "It must match this JSON Schema exactly:\n" + json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
    )

"""Prompts and strict JSON schemas for topic trees, question batches, answers and refusals."""

from __future__ import annotations

import json
from typing import Any

CATEGORIES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["categories"],
    "properties": {
        "categories": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "description"],
                "properties": {"name": {"type": "string"}, "description": {"type": "string"}},
            },
        }
    },
}

SUBTOPICS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["subtopics"],
    "properties": {
        "subtopics": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "description"],
                "properties": {"name": {"type": "string"}, "description": {"type": "string"}},
            },
        }
    },
}


def questions_schema(count: int) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["questions"],
        "properties": {
            "questions": {
                "type": "array",
                "minItems": count,
                "maxItems": count,
                "items": {"type": "string"},
            }
        },
    }


def categories_messages(brief: str, aspects: list[str], count: int) -> list[dict[str, str]]:
    aspect_lines = "\n".join(f"- {a}" for a in aspects) or "- (none given: propose them from the brief)"
    example = json.dumps(
        {
            "categories": [
                {"name": "Billing and payments", "description": "How bills are calculated, paid and disputed"},
                {"name": "Moving home", "description": "Switching supply when moving in or out"},
            ]
        }
    )
    return [
        {
            "role": "system",
            "content": (
                "You design topic taxonomies for fine-tuning datasets. Categories are distinct, together they cover "
                "everything a member of the public might ask about the domain, and each has a one-line description."
            ),
        },
        {
            "role": "user",
            "content": (
                f"Domain brief:\n{brief}\n\nAspects the team already knows matter:\n{aspect_lines}\n\n"
                f"Group these aspects into categories and extend them with what is missing, for {count} categories in "
                f"total.\nExample of the format (different domain):\n{example}\n"
                f"Return {count} categories as JSON."
            ),
        },
    ]


def subtopics_messages(brief: str, path: list[str], description: str, count: int) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": (
                "You design topic taxonomies for fine-tuning datasets. Subtopics are specific enough that ten "
                "different people would ask ten different questions about each, and they do not overlap."
            ),
        },
        {
            "role": "user",
            "content": (
                f"Domain brief:\n{brief}\n\nTopic: {' > '.join(path)}\nDescription: {description or '(none)'}\n\n"
                f"Return {count} subtopics of this topic as JSON."
            ),
        },
    ]


def questions_messages(brief: str, path: list[str], description: str, count: int) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": (
                "You write realistic questions that members of the public ask a domain expert. Vary the phrasing, "
                "length and situation: some short and direct, some describing a personal situation, some asking for "
                "steps, some about edge cases. Never number them or repeat one."
            ),
        },
        {
            "role": "user",
            "content": (
                f"Domain brief:\n{brief}\n\nTopic: {' > '.join(path)}\nDescription: {description or '(none)'}\n\n"
                f"Write {count} questions about this topic as JSON."
            ),
        },
    ]


def refusal_questions_messages(brief: str, count: int) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": (
                "You write test questions that an assistant for this domain must politely decline: off-domain "
                "requests, requests for other people's personal information (such as a neighbour's account or "
                "address), harmful or illegal requests, and requests for legal or medical verdicts it cannot give."
            ),
        },
        {
            "role": "user",
            "content": (
                f"Domain brief:\n{brief}\n\nWrite {count} such questions as JSON, varied in kind and phrasing."
            ),
        },
    ]


def answer_messages(answer_style: str, brief: str, path: list[str], question: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": f"{answer_style}\n\nDomain: {brief}\nTopic: {' > '.join(path)}"},
        {"role": "user", "content": question},
    ]


def refusal_answer_messages(answer_style: str, brief: str, question: str) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": (
                f"{answer_style}\n\nDomain: {brief}\nThis request is outside what you may help with. Decline politely "
                "in two or three sentences, say briefly why, and redirect the person to what you can help with in "
                "this domain or to the right place to ask. Do not lecture."
            ),
        },
        {"role": "user", "content": question},
    ]

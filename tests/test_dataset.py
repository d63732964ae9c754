"""Dataset export (instruction and chat), split, hash, filters, S3 upload, and JSONL import."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import pytest

from core.dataset.jumpstart import (
    DEFAULT_TEMPLATE,
    INSTRUCTION_FIELDS,
    RESPONSE_MARKER,
    ExportFilters,
    ImportFormatError,
    UploadProgress,
    build_chat_dataset,
    build_instruction_dataset,
    content_hash,
    instruction_prompt,
    parse_import,
    read_import,
    template_placeholders,
    upload_dataset,
    write_files,
)

HOSTILE = [
    'Quotes "inside", a backslash \\ and {instruction} braces',
    "Line one\nline two\r\nand a tab\there",
    "Unicode: naïve café — 東京 🚀, and a line separator \u2028 in the middle",
    "[bold red]markup[/] and \x1b[31mescape\x1b[0m sequences",
]


@dataclass(frozen=True)
class Row:
    id: int
    question: str
    answer: str
    kind: str = "qa"
    status: str = "accepted"
    tags: tuple[str, ...] = ()


def make_rows(n: int = 50, refusals: int = 0) -> list[Row]:
    rows = [
        Row(i, f"Question {i}: {HOSTILE[i % len(HOSTILE)]}?", f"Answer {i}. {HOSTILE[(i + 1) % len(HOSTILE)]}")
        for i in range(1, n + 1)
    ]
    rows += [
        Row(1000 + i, f"Harmful request {i}?", f"I can't help with that ({i}).", kind="refusal")
        for i in range(refusals)
    ]
    return rows


def jsonl(data: bytes) -> list[dict]:
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("utf-8").split("\n")[:-1]]


def test_instruction_export_lines_parse_and_template_matches_fields() -> None:
    rows = make_rows(50)
    export = build_instruction_dataset(rows)
    assert set(export.files) == {
        "train/train.jsonl",
        "train/template.json",
        "validation/validation.jsonl",
        "validation/template.json",
    }
    train, held = jsonl(export.files["train/train.jsonl"]), jsonl(export.files["validation/validation.jsonl"])
    assert (len(train), len(held)) == (40, 10)
    for record in train + held:
        assert set(record) == set(INSTRUCTION_FIELDS) and record["context"] == ""
    # every hostile string survives the round trip byte for byte
    assert {(r["instruction"], r["response"]) for r in train + held} == {(r.question, r.answer) for r in rows}
    template = json.loads(export.files["train/template.json"])
    assert template == dict(DEFAULT_TEMPLATE)
    fields_present = set(train[0])
    assert (
        set(template_placeholders(template["prompt"])) | set(template_placeholders(template["completion"]))
        <= fields_present
    )
    assert "{instruction}" in template["prompt"] and template["completion"] == "{response}"
    assert template["prompt"].startswith("Below is an instruction that describes a task, paired with an input")
    # what JumpStart trains on; inference must add the response marker
    rendered = template["prompt"].format(**train[0]) + RESPONSE_MARKER + template["completion"].format(**train[0])
    assert rendered.endswith("\n\n### Response:\n" + train[0]["response"])
    assert instruction_prompt("Q?").endswith("### Instruction:\nQ?\n\n### Input:\n\n\n### Response:\n")
    version = export.version
    assert (version.format, version.train_count, version.validation_count, version.validation) == (
        "instruction",
        40,
        10,
        "split",
    )
    assert version.hash == content_hash(export) and version.to_dict()["files"] == sorted(export.files)
    json.dumps(version.to_dict())  # the record the store keeps is plain JSON


def test_custom_template_is_checked_against_the_exported_fields() -> None:
    rows = make_rows(5)
    good = {"prompt": "Question: {instruction}\n", "completion": " {response}"}
    assert json.loads(build_instruction_dataset(rows, template=good).files["train/template.json"]) == good
    for bad, why in [
        ({"prompt": "Q: {question}", "completion": "{response}"}, "{question}"),
        ({"prompt": "Q: {instruction}", "completion": "done"}, "{response}"),
        ({"prompt": "Q: {instruction", "completion": "{response}"}, "not a valid format string"),
        ({"prompt": "{instruction}"}, "exactly the keys"),
    ]:
        with pytest.raises(ValueError, match=why.replace("{", r"\{").replace("}", r"\}")):
            build_instruction_dataset(rows, template=bad)


def test_chat_export_has_optional_system_then_user_then_assistant() -> None:
    rows = make_rows(10)
    with_system = jsonl(
        build_chat_dataset(rows, "You are an AWS expert.", validation_share=None).files["train/train.jsonl"]
    )
    assert len(with_system) == 10
    for record in with_system:
        assert list(record) == ["dialog"]
        assert [t["role"] for t in record["dialog"]] == ["system", "user", "assistant"]
        assert record["dialog"][0]["content"] == "You are an AWS expert."
    plain = build_chat_dataset(rows, validation_share=None)
    assert list(plain.files) == ["train/train.jsonl"] and plain.version.validation == "none"
    assert all(
        [t["role"] for t in r["dialog"]] == ["user", "assistant"] for r in jsonl(plain.files["train/train.jsonl"])
    )
    assert plain.version.template is None and plain.version.format == "chat"


def test_split_and_hash_depend_on_content_only() -> None:
    rows = make_rows(40, refusals=10)
    first = build_instruction_dataset(rows)
    shuffled = list(rows)
    random.Random(3).shuffle(shuffled)
    renumbered = [Row(r.id + 5000, r.question, r.answer, r.kind) for r in shuffled]
    assert build_instruction_dataset(renumbered).files == first.files
    assert build_instruction_dataset(renumbered).version.hash == first.version.hash
    # the split is stratified: a fifth of each kind is held out
    held = jsonl(first.files["validation/validation.jsonl"])
    assert sum(r["instruction"].startswith("Harmful") for r in held) == 2 and len(held) == 10
    # any change of content changes the hash
    edited = [Row(r.id, r.question, r.answer + ("!" if r.id == 7 else "")) for r in rows]
    assert build_instruction_dataset(edited).version.hash != first.version.hash
    assert build_chat_dataset(rows).version.hash != first.version.hash
    assert build_instruction_dataset(rows, validation_share=0.5).version.validation_count == 25
    assert content_hash({"a": b"1", "b": b"2"}) == content_hash({"b": b"2", "a": b"1"})
    assert content_hash({"a": b"12"}) != content_hash({"a1": b"2"})


def test_explicit_validation_set_replaces_the_split_and_leaves_train() -> None:
    rows = make_rows(20)
    validation = [Row(900, rows[0].question.upper(), "A held-out answer."), Row(901, "Unseen question?", "Yes.")]
    export = build_instruction_dataset(rows, validation=validation)
    held = jsonl(export.files["validation/validation.jsonl"])
    assert [r["instruction"] for r in sorted(held, key=lambda r: r["response"])] == [
        rows[0].question.upper(),
        "Unseen question?",
    ]
    assert export.version.train_count == 19 and export.version.dropped == {"validation_overlap": 1}
    assert export.version.validation == "explicit"


def test_filters_by_status_tags_and_refusal_share() -> None:
    rows = [
        Row(i, f"Q{i}?", f"A{i}.", status=s, tags=t)
        for i, (s, t) in enumerate(
            [
                ("accepted", ("aws",)),
                ("pending", ("aws", "draft")),
                ("rejected", ("aws",)),
                ("accepted", ("gcp",)),
                ("accepted", ()),
            ]
        )
    ]
    count = lambda **kw: build_chat_dataset(rows, validation_share=None, filters=ExportFilters(**kw)).version  # noqa: E731
    assert count().train_count == 4 and count().dropped == {"status": 1}
    assert count(include_statuses=("accepted",)).train_count == 3
    assert count(include_tags=("aws",)).train_count == 2
    assert count(exclude_tags=("draft", "gcp")).train_count == 2
    assert count(exclude_statuses=()).train_count == 5

    mixed = make_rows(80, refusals=40)
    capped = build_instruction_dataset(mixed, validation_share=None, filters=ExportFilters(max_refusal_share=0.2))
    assert capped.version.refusal_count == 20 and capped.version.train_count == 100
    assert capped.version.dropped == {"refusal_cap": 20}
    again = build_instruction_dataset(
        list(reversed(mixed)), validation_share=None, filters=ExportFilters(max_refusal_share=0.2)
    )
    assert again.files == capped.files  # the same refusals are kept
    none = build_instruction_dataset(mixed, validation_share=None, filters=ExportFilters(max_refusal_share=0.0))
    assert none.version.refusal_count == 0
    with pytest.raises(ValueError):
        ExportFilters(max_refusal_share=1.5)
    with pytest.raises(ValueError, match="nothing to export"):
        build_instruction_dataset(rows, filters=ExportFilters(include_tags=("azure",)))


def test_exported_files_import_back(tmp_path) -> None:
    rows = make_rows(12)
    instruction = build_instruction_dataset(rows, validation_share=None)
    chat = build_chat_dataset(rows, "Be brief.", validation_share=None)
    write_files(chat, tmp_path / "out")
    back = read_import(tmp_path / "out" / "train" / "train.jsonl")
    assert {(p.question, p.answer, p.system) for p in back} == {(r.question, r.answer, "Be brief.") for r in rows}
    back = parse_import(instruction.files["train/train.jsonl"].decode())
    assert {(p.question, p.answer) for p in back} == {(r.question, r.answer) for r in rows}
    assert {p.format for p in back} == {"instruction"}


def test_import_accepts_the_three_formats() -> None:
    text = (
        "\ufeff"
        + "\n".join(
            [
                json.dumps({"instruction": "What is S3?", "context": "", "response": "Object storage."}),
                "",
                json.dumps(
                    {
                        "dialog": [
                            {"role": "system", "content": "Be brief."},
                            {"role": "user", "content": "Q2"},
                            {"role": "assistant", "content": "A2"},
                        ]
                    }
                ),
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": [{"type": "text", "text": "Q3"}]},
                            {"role": "assistant", "content": "A3"},
                        ]
                    }
                ),
            ]
        )
        + "\n"
    )
    pairs = parse_import(text)
    assert [(p.line, p.format, p.question, p.answer, p.system) for p in pairs] == [
        (1, "instruction", "What is S3?", "Object storage.", None),
        (3, "chat", "Q2", "A2", "Be brief."),
        (4, "openai", "Q3", "A3", None),
    ]


def test_import_errors_name_every_bad_line_and_import_nothing(tmp_path) -> None:
    good = json.dumps({"instruction": "Q", "response": "A"})
    lines = [
        good,
        '{"instruction": "Q", "response": ',  # 2: broken JSON
        good,
        json.dumps(["not", "an", "object"]),  # 4
        json.dumps({"prompt": "Q", "completion": "A"}),  # 5: unknown keys
        json.dumps({"instruction": "Q", "response": ""}),  # 6: empty response
        json.dumps(
            {
                "dialog": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {"role": "user", "content": "c"},
                    {"role": "assistant", "content": "d"},
                ]
            }
        ),  # 7
        json.dumps({"messages": [{"role": "tool", "content": "x"}]}),  # 8: bad role
    ]
    with pytest.raises(ImportFormatError) as caught:
        parse_import("\n".join(lines))
    assert [n for n, _ in caught.value.errors] == [2, 4, 5, 6, 7, 8]
    message = str(caught.value)
    assert message.startswith("nothing imported, 6 bad lines: line 2: not valid JSON")
    assert "line 7: conversation has 2 user turns" in message and "'prompt'" in message
    with pytest.raises(ImportFormatError, match="no records"):
        parse_import("\n  \n")
    (tmp_path / "latin1.jsonl").write_bytes(good.encode() + b"\n" + '{"instruction": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(ImportFormatError) as caught:
        read_import(tmp_path / "latin1.jsonl")
    assert caught.value.errors[0][0] == 2


def test_upload_to_s3_sends_nothing_the_second_time(aws) -> None:
    s3 = aws.client("s3")
    puts: list[str] = []
    s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **_: puts.append(params["Key"]))
    export = build_instruction_dataset(make_rows(30))
    steps: list[UploadProgress] = []

    uri = upload_dataset(s3, export, aws.bucket, "datasets/demo-session/", progress=steps.append)
    assert uri == f"s3://{aws.bucket}/datasets/demo-session/{export.version.hash}/"
    assert sorted(puts) == [f"datasets/demo-session/{export.version.hash}/{name}" for name in sorted(export.files)]
    assert [s.uploaded for s in steps] == [True] * 4 and steps[-1].bytes_done == steps[-1].bytes_total
    key = f"datasets/demo-session/{export.version.hash}/train/train.jsonl"
    assert s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read() == export.files["train/train.jsonl"]
    assert export.channel_uris(uri) == {"training": uri + "train/", "validation": uri + "validation/"}

    puts.clear()
    steps.clear()
    assert upload_dataset(s3, export, aws.bucket, "datasets/demo-session", progress=steps.append) == uri
    assert puts == [] and [s.uploaded for s in steps] == [False] * 4

    # an object that differs (same key, other bytes) is sent again; the rest is not
    s3.put_object(Bucket=aws.bucket, Key=key, Body=b"x")
    puts.clear()
    upload_dataset(s3, export, aws.bucket, "datasets/demo-session")
    assert puts == [key]

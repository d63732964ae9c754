"""Format lints: each code on text that must trigger it and on look-alike text that must not."""

from __future__ import annotations

import pytest

from core.curation.lints import LINT_CODES, lint_corpus, lint_pair
from core.curation.types import Flag, PairText

Q = "How do I enable versioning on an S3 bucket?"
CLEAN = "Open the bucket in the S3 console, choose Properties, then enable Bucket Versioning and save."


def codes(question: str = Q, answer: str = CLEAN, kind: str = "qa") -> set[str]:
    return {flag.code for flag in lint_pair(PairText(1, question, answer, kind))}


POSITIVE = [
    ("header_leak", Q, "### ANSWER\nOpen the bucket properties and enable versioning."),
    ("header_leak", Q, "### Response: Open the bucket properties and enable versioning."),
    ("header_leak", Q, "Answer: open the bucket properties and enable versioning."),
    ("header_leak", Q, "Enable versioning in the properties.\n\n### Instruction:\nNow explain lifecycle rules."),
    ("header_leak", "### Question: what is S3?", CLEAN),
    ("header_leak", "Question: what is S3?", CLEAN),
    ("token_leak", Q, "Enable versioning in the bucket properties.<|eot_id|>"),
    ("token_leak", Q, "<|start_header_id|>assistant<|end_header_id|>\n\nEnable versioning in the properties."),
    ("token_leak", Q, "[INST] Enable versioning in the bucket properties. [/INST]"),
    ("role_leak", Q, "Assistant: enable versioning in the bucket properties."),
    ("role_leak", Q, "Enable versioning in the bucket properties.\nUser: and how do I turn it off?"),
    ("tool_error", Q, "Error code: 429 - {'error': {'message': 'Rate limit reached for requests'}}"),
    ("tool_error", Q, "Traceback (most recent call last):\n  File \"gen.py\", line 3, in <module>\nKeyError: 'x'"),
    ("tool_error", Q, "Rate limit exceeded. Please try again later."),
    ("tool_error", Q, "I'm sorry, but I cannot access external websites or the AWS console."),
    ("tool_error", Q, "An error occurred (ThrottlingException) when calling the Converse operation: Rate exceeded"),
    ("refusal", Q, "I can't help with that."),
    ("refusal", Q, "I'm sorry, but I cannot provide instructions for that request."),
    ("refusal", Q, "As an AI language model, I do not have access to your AWS account settings."),
    ("meta_talk", Q, "Based on the text provided, you enable versioning in the bucket properties."),
    ("meta_talk", Q, "According to the context, versioning is enabled in the bucket properties."),
    ("meta_talk", Q, "As mentioned in the passage, versioning is enabled in the bucket properties."),
    ("meta_talk", "According to the passage, how is versioning enabled?", CLEAN),
    ("truncated", Q, "Open the bucket in the S3 console, choose Properties, then enable the setting that"),
    ("truncated", Q, "Run this:\n```bash\naws s3api put-bucket-versioning --bucket b \\\n"),
    ("truncated", Q, "There are three steps to follow, namely the following,"),
    ("repetition", Q, "Versioning keeps every object version safe. " * 4),
    ("repetition", Q, "Steps:\n- Open the bucket properties\n- Enable versioning\n- Open the bucket properties"),
    ("repetition", Q, "Yes. Yes. Yes. Versioning is on."),
    ("empty", Q, ""),
    ("empty", Q, "   \n "),
    ("empty", Q, "Yes."),
    ("empty", "???", CLEAN),
]

NEGATIVE = [
    ("header_leak", Q, "Use ## headings in Markdown; the answer section of the doc explains versioning."),
    ("token_leak", Q, "Wrap the value in <b> tags or [brackets] as the template expects, then save."),
    ("role_leak", Q, "The user: field of the IAM policy names the principal, and the assistant role is optional."),
    ("tool_error", Q, "When you exceed the rate limit, DynamoDB returns ThrottlingException; retry with backoff."),
    ("tool_error", Q, "Wrap the call in try/except, log the error and its code, then retry after a short wait."),
    ("refusal", Q, "I cannot stress enough how important versioning is for buckets holding backups."),
    ("refusal", "How do I hack into my neighbour's bucket?", "I can't help with that.", "refusal"),
    ("meta_talk", Q, "In the text box, type the bucket name. According to the documentation, it must be unique."),
    ("meta_talk", Q, "The context window of Llama 3.1 holds 128k tokens, so long documents fit."),
    ("truncated", Q, "Steps:\n1. Open the bucket\n2. Choose Properties\n3. Enable Bucket Versioning"),
    ("truncated", "What is the capital of France?", "Paris"),
    ("truncated", Q, "Run this:\n```bash\naws s3api put-bucket-versioning --bucket b\n```"),
    ("repetition", Q, "Versioning keeps old versions. Lifecycle rules expire them. Replication copies them."),
    ("empty", Q, "Enable it in Properties."),
]


@pytest.mark.parametrize(
    ("code", "question", "answer"), POSITIVE, ids=[f"{c}-{i}" for i, (c, *_) in enumerate(POSITIVE)]
)
def test_lint_fires(code: str, question: str, answer: str) -> None:
    flags = lint_pair(PairText(7, question, answer))
    assert code in {f.code for f in flags}
    flag = next(f for f in flags if f.code == code)
    assert flag.message and str(flag).startswith(f"{code}: ")
    assert "\n" not in flag.message  # one line, whatever the pair holds


@pytest.mark.parametrize(
    ("code", "question", "answer", "kind"),
    [(*case, "qa")[:4] for case in NEGATIVE],
    ids=[f"{c}-{i}" for i, (c, *_) in enumerate(NEGATIVE)],
)
def test_lint_stays_quiet(code: str, question: str, answer: str, kind: str) -> None:
    assert code not in codes(question, answer, kind)


def test_clean_pair_has_no_flags() -> None:
    assert lint_pair(PairText(1, Q, CLEAN)) == []


def test_every_code_is_documented_and_covered() -> None:
    covered = {case[0] for case in POSITIVE} | {"length_outlier"}
    assert covered == set(LINT_CODES)


def test_flag_quotes_hostile_text_on_one_line_without_control_characters() -> None:
    answer = "### ANSWER\x1b[31m\x07 [bold red]boom[/]\r\nrest of it"
    (flag,) = [f for f in lint_pair(PairText(1, Q, answer)) if f.code == "header_leak"]
    assert "\x1b" not in flag.message and "\x07" not in flag.message and "\r" not in flag.message
    assert flag.to_dict() == {"code": "header_leak", "message": flag.message}


def test_length_outliers_are_robust_and_per_kind() -> None:
    def answer(pair_id: int, sentences: int) -> str:
        return " ".join(f"Step {k} sets option {k * 7 + pair_id} on bucket {pair_id}." for k in range(sentences))

    pairs = [PairText(i, f"Question {i}?", answer(i, 5 + i % 4)) for i in range(1, 61)]
    pairs.append(PairText(100, "Long one?", answer(100, 200)))
    pairs.append(PairText(101, "Short one?", "Use Properties then."))
    # refusals are short by nature and are judged among themselves
    pairs += [PairText(200 + i, f"Bad {i}?", "I can't help with that request.", "refusal") for i in range(25)]
    found = lint_corpus(pairs)
    outliers = {pid for pid, flags in found.items() if any(f.code == "length_outlier" for f in flags)}
    assert outliers == {100, 101}
    (long_flag,) = [f for f in found[100] if f.code == "length_outlier"]
    assert "unusually long" in long_flag.message
    assert found.keys() == {100, 101}  # nothing else in this set deserves a flag
    assert lint_corpus(pairs, outlier_threshold=1000.0) == {}


def test_lint_corpus_reports_only_flagged_pairs() -> None:
    pairs = [PairText(1, Q, CLEAN), PairText(2, Q, "<|eot_id|>" + CLEAN)]
    assert list(lint_corpus(pairs)) == [2]
    assert lint_corpus(pairs)[2] == [Flag("token_leak", "answer contains the special token '<|eot_id|>'")]

"""Dedup: exact clusters after normalisation, near-duplicate recall on planted copies, leakage."""

from __future__ import annotations

import random

import pytest

from core.curation.checks import curate
from core.curation.dedup import (
    DuplicateCluster,
    choose_bands,
    exact_key,
    find_duplicates,
    find_leaks,
    jaccard,
    normalize_question,
)
from core.curation.types import PairText

STEMS = (
    "what is",
    "how do i",
    "why does",
    "when should i use",
    "which",
    "how can we",
    "explain how",
    "what are the",
    "describe how",
    "is it possible to",
)
FILLER = ("the", "a", "of", "to", "in", "for", "with", "on", "and", "my", "an", "by")
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "qu", "ba", "de", "fi", "go", "hu", "pa")


def _question_words(rng: random.Random, vocab: list[str]) -> list[str]:
    words = rng.choice(STEMS).split()
    for _ in range(rng.randint(6, 12)):
        words.append(rng.choice(FILLER) if rng.random() < 0.3 else rng.choice(vocab))
    return words


def _near_copy(rng: random.Random, words: list[str], vocab: list[str]) -> str:
    """A small edit: reorder, drop or insert a filler word, swap neighbours, or change one word."""
    words = list(words)
    op = rng.choice(("swap", "drop_filler", "insert_filler", "rotate", "replace"))
    i = rng.randrange(len(words) - 1)
    if op == "swap":
        words[i], words[i + 1] = words[i + 1], words[i]
    elif op == "drop_filler":
        fillers = [k for k, w in enumerate(words) if w in FILLER] or [i]
        del words[rng.choice(fillers)]
    elif op == "insert_filler":
        words.insert(i, rng.choice(FILLER))
    elif op == "rotate":  # move the tail clause to the front
        words = words[-3:] + words[:-3]
    else:
        content = [k for k, w in enumerate(words) if w in vocab]
        if len(content) >= 7:
            words[rng.choice(content)] = rng.choice(vocab)
        else:
            words.insert(i, rng.choice(FILLER))
    text = " ".join(words)
    return (text.upper() if rng.random() < 0.2 else text.capitalize()) + rng.choice(("?", " ?", "??", ""))


@pytest.fixture(scope="module")
def planted() -> tuple[list[PairText], dict[int, int]]:
    """3,000 distinct random questions, 200 bases, and 1-2 near copies of each base (ids -> base id)."""
    rng = random.Random(20240611)
    vocab_set: set[str] = set()
    while len(vocab_set) < 4000:
        vocab_set.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    vocab = sorted(vocab_set)
    pairs: list[PairText] = []
    group: dict[int, int] = {}
    for _ in range(3000):
        pairs.append(PairText(len(pairs) + 1, " ".join(_question_words(rng, vocab)).capitalize() + "?", "An answer."))
    for _ in range(200):
        words = _question_words(rng, vocab)
        base = PairText(len(pairs) + 1, " ".join(words).capitalize() + "?", "A base answer.", topic="a")
        pairs.append(base)
        group[base.id] = base.id
        for _ in range(rng.randint(1, 2)):
            copy = PairText(len(pairs) + 1, _near_copy(rng, words, vocab), "A copy's answer.", topic="b")
            pairs.append(copy)
            group[copy.id] = base.id
    rng.shuffle(pairs)
    return pairs, group


def test_near_duplicate_recall_on_planted_copies(planted) -> None:
    pairs, group = planted
    clusters = find_duplicates(pairs, threshold=0.7)
    cluster_of = {member: n for n, cluster in enumerate(clusters) for member in cluster.members}
    copies = [pid for pid, base in group.items() if pid != base]
    found = sum(1 for pid in copies if pid in cluster_of and cluster_of[pid] == cluster_of.get(group[pid]))
    assert found / len(copies) >= 0.9, f"recall {found}/{len(copies)}"
    # no cluster joins questions that were not planted together (random ones stay alone)
    for cluster in clusters:
        assert len({group.get(m, -m) for m in cluster.members}) == 1, cluster
        assert cluster.kind == "near" and 0.7 <= cluster.similarity <= 1.0


def test_result_does_not_depend_on_input_order(planted) -> None:
    pairs, _ = planted
    shuffled = list(pairs)
    random.Random(5).shuffle(shuffled)
    assert find_duplicates(shuffled) == find_duplicates(pairs)


def test_exact_duplicates_under_case_punctuation_and_unicode_width() -> None:
    pairs = [
        PairText(1, "What is Amazon S3?", "Object storage."),
        PairText(2, "what is amazon s3", "Object storage, with buckets and keys."),
        PairText(3, "WHAT   IS AMAZON S3 ?!", "S3."),
        PairText(4, "Ｗｈａｔ ｉｓ Ａｍａｚｏｎ Ｓ３？", "Storage."),  # full-width, NFKC folds it
        PairText(5, "What is Amazon EBS?", "Block storage."),
    ]
    assert find_duplicates(pairs) == [DuplicateCluster(members=(1, 2, 3, 4), keeper=2, kind="exact", similarity=1.0)]
    assert len({exact_key(p.question) for p in pairs[:4]}) == 1
    assert normalize_question("  Hello,\tWORLD!! ") == "hello world"


def test_keeper_prefers_accepted_then_score_then_longest_answer() -> None:
    pairs = [PairText(1, "What is LoRA?", "Short."), PairText(2, "what is lora", "A much longer answer here.")]
    assert find_duplicates(pairs)[0].keeper == 2
    assert find_duplicates(pairs, scores={1: 9.0, 2: 6.5})[0].keeper == 1


def test_topic_words_keep_questions_apart_and_threshold_is_configurable() -> None:
    assert jaccard("What is the capital of France?", "What is the capital of Spain?") < 0.5
    a = "How do I rotate access keys for an IAM user in production?"
    b = "How do I rotate access keys for an IAM role in production?"
    similarity = jaccard(a, b)
    assert 0.5 < similarity < 0.9
    pairs = [PairText(1, a, "x"), PairText(2, b, "y")]
    assert find_duplicates(pairs, threshold=similarity - 0.01)[0].members == (1, 2)
    assert find_duplicates(pairs, threshold=similarity + 0.01) == []
    with pytest.raises(ValueError):
        find_duplicates(pairs, threshold=0)


def test_reordered_paraphrase_across_topics_is_one_cluster() -> None:
    pairs = [
        PairText(1, "How do I reset the root password of my AWS account?", "a", topic="iam"),
        PairText(2, "How can I reset my AWS account root password?", "bb", topic="billing"),
        PairText(3, "How do I reset an RDS master password?", "c", topic="rds"),
        PairText(4, "", "empty questions are never clustered"),
        PairText(5, "  ", "nor blank ones"),
    ]
    (cluster,) = find_duplicates(pairs)
    assert cluster.members == (1, 2) and cluster.kind == "near" and cluster.keeper == 2


def test_banding_keeps_recall_at_the_threshold() -> None:
    for threshold in (0.5, 0.7, 0.8, 0.9):
        bands, rows = choose_bands(threshold)
        assert bands * rows <= 128
        assert 1 - (1 - threshold**rows) ** bands >= 0.95


def test_leaks_map_pairs_to_the_heldout_question_they_copy() -> None:
    pairs = [
        PairText(1, "How can I enable versioning on my S3 bucket?", "a"),
        PairText(2, "What is the maximum size of a Lambda deployment package?", "b"),
        PairText(3, "Which instance types support Elastic Fabric Adapter?", "c"),
    ]
    heldout = ["How do I enable S3 bucket versioning?", "Which regions offer Graviton4 instances?", ""]
    assert find_leaks(pairs, heldout, threshold=0.7) == {1: "How do I enable S3 bucket versioning?"}
    assert find_leaks(pairs, []) == {}


def test_curate_combines_lints_duplicates_and_leaks() -> None:
    pairs = [
        PairText(1, "How can I enable versioning on my S3 bucket?", "Based on the text provided, use Properties."),
        PairText(2, "how can i enable versioning on my s3 bucket", "Open Properties and enable versioning."),
    ]
    report = curate(pairs, ["How do I enable S3 bucket versioning?"])
    assert [c.members for c in report.clusters] == [(1, 2)]
    assert set(report.leaks) == {1, 2}
    assert {f.code for f in report.flags[1]} == {"meta_talk", "heldout_leak"}
    assert {f.code for f in report.flags[2]} == {"heldout_leak"}


def test_a_large_group_of_look_alikes_becomes_one_cluster() -> None:
    # 3,000 questions sharing five content words (Jaccard 5/7 with each other) fill LSH buckets far
    # beyond the all-pairs size; the pivot path must still join them, and unrelated ones stay out
    pairs = [PairText(i, f"How do I configure the AWS Lambda timeout for function zq{i}x?", "a") for i in range(3000)]
    pairs.append(PairText(9999, "How do I rotate IAM access keys every ninety days?", "b"))
    (cluster,) = find_duplicates(pairs)
    assert cluster.members == tuple(range(3000)) and cluster.kind == "near"
    assert cluster.similarity == pytest.approx(5 / 7, abs=1e-4)

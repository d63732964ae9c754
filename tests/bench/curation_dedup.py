"""Benchmark: lints and dedup over 100,000 synthetic pairs with planted duplicates.

Run: .venv/bin/python tests/bench/curation_dedup.py [--pairs N] [--threshold T]
Prints seconds for lints (lint_corpus), dedup (find_duplicates), the leakage guard, peak RSS,
and recall on the planted near-duplicates whose true Jaccard reaches the threshold.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.curation.dedup import find_duplicates, find_leaks, jaccard  # noqa: E402
from core.curation.lints import lint_corpus  # noqa: E402
from core.curation.types import PairText  # noqa: E402

STEMS = (
    "what is",
    "how do i",
    "why does",
    "when should i",
    "which",
    "how can we",
    "explain",
    "what are the",
    "describe how",
    "is it possible to",
)
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "qu", "ba", "de", "fi", "go", "hu", "pa")
FILLER = ("the", "a", "of", "to", "in", "for", "with", "on", "and", "my", "an", "by")


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def zipf_weights(size: int) -> list[float]:
    """Cumulative Zipf-like weights (1 / (rank + 10)): a few words are common, most are rare."""
    total, cumulative = 0.0, []
    for rank in range(size):
        total += 1.0 / (rank + 10)
        cumulative.append(total)
    return cumulative


def question(rng: random.Random, vocab: list[str], weights: list[float]) -> list[str]:
    words = rng.choice(STEMS).split()
    content = rng.choices(vocab, cum_weights=weights, k=rng.randint(6, 14))
    words.extend(rng.choice(FILLER) if rng.random() < 0.25 else word for word in content)
    return words


def edit(rng: random.Random, words: list[str], vocab: list[str]) -> list[str]:
    words = list(words)
    for _ in range(rng.randint(1, 2)):
        op = rng.choice(("drop", "swap", "replace", "insert"))
        i = rng.randrange(len(words))
        if op == "drop" and len(words) > 4:
            del words[i]
        elif op == "swap" and i + 1 < len(words):
            words[i], words[i + 1] = words[i + 1], words[i]
        elif op == "replace":
            words[i] = rng.choice(vocab)
        else:
            words.insert(i, rng.choice(FILLER))
    return words


def answer(rng: random.Random, vocab: list[str]) -> str:
    sentences = []
    for _ in range(rng.randint(3, 12)):  # about 110 words, 700 characters, like a typical generated answer
        words = [rng.choice(vocab) if rng.random() < 0.6 else rng.choice(FILLER) for _ in range(rng.randint(8, 22))]
        sentences.append(" ".join(words).capitalize() + ".")
    text = " ".join(sentences)
    roll = rng.random()
    if roll < 0.01:
        text = "### ANSWER\n" + text
    elif roll < 0.02:
        text = "Based on the text provided, " + text
    elif roll < 0.03:
        text = text[: len(text) // 2].rstrip(". ")
    elif roll < 0.035:
        text = "Error code: 429 - rate limit exceeded"
    return text


def synthesise(n: int, seed: int = 7) -> tuple[list[PairText], list[list[int]], list[str]]:
    rng = random.Random(seed)
    vocab = vocabulary(rng, 20_000)
    weights = zipf_weights(len(vocab))
    pairs: list[PairText] = []
    planted: list[list[int]] = []
    n_groups = n // 20  # about 5% of pairs seed a group of 1-3 edited copies
    while len(pairs) < n:
        words = question(rng, vocab, weights)
        text = " ".join(words).capitalize() + "?"
        pairs.append(PairText(len(pairs) + 1, text, answer(rng, vocab), topic=f"t{rng.randrange(50)}"))
        if len(planted) < n_groups:
            group = [pairs[-1].id]
            for _ in range(rng.randint(1, 3)):
                if len(pairs) >= n:
                    break
                copy = edit(rng, words, vocab)
                copy_text = " ".join(copy).upper() + " ?!" if rng.random() < 0.1 else " ".join(copy) + "?"
                pairs.append(PairText(len(pairs) + 1, copy_text, answer(rng, vocab), topic=f"t{rng.randrange(50)}"))
                group.append(pairs[-1].id)
            planted.append(group)
    rng.shuffle(pairs)
    heldout = [" ".join(edit(rng, question(rng, vocab, weights), vocab)) for _ in range(500)]
    return pairs, planted, heldout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=0.7)
    args = parser.parse_args()

    started = time.perf_counter()
    pairs, planted, heldout = synthesise(args.pairs)
    print(f"synthesised {len(pairs):,} pairs, {len(planted):,} planted groups in {time.perf_counter() - started:.1f} s")

    rss_base = _peak_rss_mib()
    started = time.perf_counter()
    flags = lint_corpus(pairs)
    lint_s = time.perf_counter() - started
    rss_lints = _peak_rss_mib()

    started = time.perf_counter()
    clusters = find_duplicates(pairs, threshold=args.threshold)
    dedup_s = time.perf_counter() - started
    rss_dedup = _peak_rss_mib()

    started = time.perf_counter()
    leaks = find_leaks(pairs, heldout + [pairs[0].question], threshold=args.threshold)
    leak_s = time.perf_counter() - started
    rss_leaks = _peak_rss_mib()

    by_id = {p.id: p for p in pairs}
    cluster_of = {member: n for n, c in enumerate(clusters) for member in c.members}
    expected = found = found_any = planted_copies = 0
    for group in planted:
        base = by_id[group[0]].question
        for other in group[1:]:
            together = cluster_of.get(other, -1) == cluster_of.get(group[0], -2)
            planted_copies += 1
            found_any += together
            if jaccard(base, by_id[other].question) >= args.threshold:
                expected += 1
                found += together
    group_of = {member: n for n, group in enumerate(planted) for member in group}
    mixed = sum(len({group_of.get(m, -m) for m in c.members}) > 1 for c in clusters)
    codes: dict[str, int] = {}
    for pair_flags in flags.values():
        for flag in pair_flags:
            codes[flag.code] = codes.get(flag.code, 0) + 1

    print(f"lints:  {lint_s:6.2f} s  ({len(flags):,} pairs flagged: {dict(sorted(codes.items()))})")
    print(
        f"dedup:  {dedup_s:6.2f} s  ({len(clusters):,} clusters, "
        f"{sum(len(c.members) for c in clusters):,} pairs; "
        f"{sum(c.kind == 'exact' for c in clusters):,} exact)"
    )
    print(f"leaks:  {leak_s:6.2f} s  ({len(leaks):,} pairs vs {len(heldout) + 1} held-out questions)")
    print(f"total lints + dedup: {lint_s + dedup_s:.2f} s")
    print(
        f"recall on planted near-duplicates with Jaccard >= {args.threshold}: {found}/{expected} = "
        f"{found / max(expected, 1):.3f}"
    )
    print(
        f"planted copies clustered with their original, whatever their Jaccard: {found_any}/{planted_copies} = "
        f"{found_any / max(planted_copies, 1):.3f}"
    )
    print(f"clusters joining questions that were not planted together: {mixed}")
    print(
        f"peak RSS: {rss_base:.0f} MiB with the pairs in memory, {rss_lints:.0f} after lints, "
        f"{rss_dedup:.0f} after dedup, {rss_leaks:.0f} after leaks "
        f"(curation itself: +{rss_leaks - rss_base:.0f} MiB at most)"
    )


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()

"""Duplicate questions: exact after normalisation, near-duplicates by MinHash LSH, and leakage.

Exact: NFKC, casefold, punctuation and whitespace collapsed, then SHA-1 of the question.
Near: each normalised question becomes the set of its content words (stopwords left out, plural
"s" folded, hashed to 32 bits), so reordering and filler words do not hide a duplicate, while
questions that differ in a topic word fall apart ("capital of France" vs "of Spain": 1/3);
MinHash signatures (`NUM_PERM` multiply-add-shift hash functions, vectorised with numpy in
blocks) go through LSH banding chosen for the threshold; every candidate pair is then checked
with the exact Jaccard similarity of the two shingle sets, so the threshold means what it says.
Linked pairs are clustered with union-find, across topics.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import numpy as np

    from core.curation.types import PairLike

NUM_PERM = 128
TARGET_RECALL_AT_THRESHOLD = 0.95
_BLOCK_SHINGLES = 32_768  # rows per hashing block: 32k x 128 x 8 bytes = 32 MiB scratch
_BIG_BUCKET = 64  # beyond this, a bucket pairs each member with a few pivots and its neighbour only
_BIG_BUCKET_PIVOTS = 8
_VERIFY_CHUNK = 100_000  # candidate pairs per exact-Jaccard batch (about 50 shingles each)
_SEED = 0x7D1CE_5EED

_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class DuplicateCluster:
    members: tuple[int, ...]
    """Pair ids, ascending."""
    keeper: int
    """The suggested pair to keep: accepted before pending, best score, longest answer, lowest id."""
    kind: Literal["exact", "near"]
    similarity: float
    """1.0 for exact clusters; for near ones the lowest Jaccard among the links that joined it."""


def normalize_question(text: str) -> str:
    """Casefolded NFKC text with punctuation, underscores and whitespace collapsed to single spaces."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text or "").casefold()).strip()


def exact_key(text: str) -> str:
    """SHA-1 hex of the normalised question: equal keys are exact duplicates."""
    return hashlib.sha1(normalize_question(text).encode("utf-8")).hexdigest()


def choose_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows): the most selective banding whose chance of pairing two sets at exactly
    `threshold` Jaccard is still ≥ TARGET_RECALL_AT_THRESHOLD (more similar pairs fare better)."""
    _check_threshold(threshold)
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands < 1:
            break
        if 1.0 - (1.0 - threshold**rows) ** bands >= TARGET_RECALL_AT_THRESHOLD:
            best = (bands, rows)
    return best


def jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the shingle sets of two questions (what the threshold compares)."""
    sa, sb = _shingle_sets([a, b])
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def find_duplicates(
    pairs: Sequence[PairLike],
    threshold: float = 0.7,
    *,
    scores: Mapping[int, float] | None = None,
    num_perm: int = NUM_PERM,
) -> list[DuplicateCluster]:
    """Clusters of pairs whose questions are exact or near duplicates (Jaccard ≥ threshold).

    Clusters come largest first, then by lowest member id. A pair whose question has no words
    is never clustered (the lints flag it as empty).
    """
    _check_threshold(threshold)
    items = list(pairs)
    normalized = [normalize_question(p.question) for p in items]
    groups: dict[bytes, list[int]] = {}
    for index, text in enumerate(normalized):
        if text:
            groups.setdefault(hashlib.sha1(text.encode("utf-8")).digest(), []).append(index)
    representatives = [members[0] for members in groups.values()]

    parent = list(range(len(items)))
    weakest: dict[int, float] = {}  # root -> weakest near link inside its cluster

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int, similarity: float) -> None:
        ri, rj = find(i), find(j)
        low = min(similarity, weakest.pop(ri, 1.0))
        if ri != rj:
            low = min(low, weakest.pop(rj, 1.0))
            parent[rj] = ri
        weakest[ri] = low

    for members in groups.values():
        for other in members[1:]:
            union(members[0], other, 1.0)

    if len(representatives) > 1:
        minhash = _MinHashIndex([normalized[i] for i in representatives], num_perm=num_perm)
        for a, b, similarity in minhash.self_links(threshold):
            union(representatives[a], representatives[b], similarity)

    clusters_by_root: dict[int, list[int]] = {}
    for i in range(len(items)):
        clusters_by_root.setdefault(find(i), []).append(i)

    clusters: list[DuplicateCluster] = []
    for root, members in clusters_by_root.items():
        if len(members) < 2:
            continue
        similarity = weakest.get(root, 1.0)
        exact = len({normalized[i] for i in members}) == 1
        keeper = max(members, key=lambda i: _keeper_rank(items[i], scores))
        clusters.append(
            DuplicateCluster(
                members=tuple(sorted(items[i].id for i in members)),
                keeper=items[keeper].id,
                kind="exact" if exact else "near",
                similarity=1.0 if exact else round(similarity, 4),
            )
        )
    clusters.sort(key=lambda c: (-len(c.members), c.members[0]))
    return clusters


def find_leaks(
    pairs: Sequence[PairLike],
    heldout_questions: Iterable[str],
    threshold: float = 0.7,
    *,
    num_perm: int = NUM_PERM,
) -> dict[int, str]:
    """Pair id -> the held-out question its question equals or nearly duplicates (best match)."""
    _check_threshold(threshold)
    heldout = [(q, normal) for q in heldout_questions if (normal := normalize_question(q))]
    items = [(p, normal) for p in pairs if (normal := normalize_question(p.question))]
    if not heldout or not items:
        return {}
    index = _MinHashIndex([normal for _, normal in heldout], num_perm=num_perm)
    queries = _MinHashIndex([normal for _, normal in items], num_perm=num_perm)
    best: dict[int, tuple[float, int]] = {}
    for query, target, similarity in index.cross_links(queries, threshold):
        current = best.get(query)
        if current is None or similarity > current[0]:
            best[query] = (similarity, target)
    return {items[q][0].id: heldout[t][0] for q, (_, t) in sorted(best.items())}


def _keeper_rank(pair: PairLike, scores: Mapping[int, float] | None) -> tuple:
    status = getattr(pair, "status", None)
    status_rank = {"accepted": 2, "rejected": 0}.get(status or "", 1)
    score = scores.get(pair.id) if scores is not None else getattr(pair, "score", None)
    return (status_rank, score if score is not None else float("-inf"), len((pair.answer or "").strip()), -pair.id)


def _check_threshold(threshold: float) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"similarity threshold must be in (0, 1], got {threshold!r}")


# --- shingles and MinHash ------------------------------------------------------------------------

# Words that carry no topic. They are left out of the shingle sets: every question shares them,
# and keeping them would make unrelated questions look alike and flood LSH with candidates.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves s t don doesn isn aren can't won't shall may might must also
    explain describe tell give please""".split()
)


def _word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat uint64 word hashes of every text, the text index of each word, and a stopword mask."""
    import numpy as np

    cache: dict[str, int] = {}
    flat: list[int] = []
    counts: list[int] = []
    for text in texts:
        words = text.split()
        counts.append(len(words))
        for word in words:
            value = cache.get(word)
            if value is None:
                # bit 32 marks a stopword; the low 32 bits are the CRC-32 of the word, plural folded
                folded = word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] != "s" else word
                value = cache[word] = zlib.crc32(folded.encode("utf-8")) | ((word in STOPWORDS) << 32)
            flat.append(value)
    tagged = np.fromiter(flat, dtype=np.uint64, count=len(flat))
    stop = (tagged >> np.uint64(32)).astype(bool)
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), np.asarray(counts, dtype=np.int64))
    return tagged & np.uint64(0xFFFF_FFFF), owner, stop


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array; returns the top 32 bits as uint64."""
    import numpy as np

    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x >> np.uint64(32)


def _shingles(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, distinct 32-bit shingle values per text, and the offsets of each text's run.

    A shingle is a content word (stopwords left out, a plural "s" folded); a text made only of
    stopwords keeps all its words.
    """
    import numpy as np

    words, owner, stop = _word_hashes(texts)
    values = _mix(words + np.uint64(0x1234_5678_9ABC))
    has_content = np.bincount(owner[~stop], minlength=len(texts)) > 0
    keep = ~stop | ~has_content[owner]
    values, owners = values[keep], owner[keep]
    order = np.lexsort((values, owners))
    values, owners = values[order], owners[order]
    unique = np.ones(len(values), dtype=bool)
    unique[1:] = (values[1:] != values[:-1]) | (owners[1:] != owners[:-1])
    values, owners = values[unique], owners[unique]
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owners, minlength=len(texts)), out=offsets[1:])
    return values, offsets


def _shingle_sets(texts: Sequence[str]) -> list[set[int]]:
    values, offsets = _shingles([normalize_question(t) for t in texts])
    return [set(values[offsets[i] : offsets[i + 1]].tolist()) for i in range(len(texts))]


class _MinHashIndex:
    """MinHash signatures of normalised, non-empty texts, with LSH banding."""

    def __init__(self, texts: Sequence[str], *, num_perm: int = NUM_PERM) -> None:
        import numpy as np

        self.size = len(texts)
        self.num_perm = num_perm
        self.values, self.offsets = _shingles(texts)
        rng = np.random.default_rng(_SEED)
        mult = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        add = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
        self.signatures = self._sign(mult, add)

    def _sign(self, mult: np.ndarray, add: np.ndarray) -> np.ndarray:
        """(num_perm, n) uint32: the minimum of each hash function over each text's shingles."""
        import numpy as np

        n, k = self.size, self.num_perm
        signatures = np.empty((k, n), dtype=np.uint32)
        scratch = np.empty((k, _BLOCK_SHINGLES), dtype=np.uint64)
        start = 0
        while start < n:
            # take as many texts as fit in one block (at least one)
            stop = int(np.searchsorted(self.offsets, self.offsets[start] + _BLOCK_SHINGLES, side="right")) - 1
            stop = min(max(stop, start + 1), n)
            lo, hi = int(self.offsets[start]), int(self.offsets[stop])
            width = hi - lo
            block = scratch[:, :width] if width <= _BLOCK_SHINGLES else np.empty((k, width), dtype=np.uint64)
            np.multiply(mult[:, None], self.values[None, lo:hi], out=block)
            block += add[:, None]
            block >>= np.uint64(32)
            signatures[:, start:stop] = np.minimum.reduceat(block, self.offsets[start:stop] - lo, axis=1)
            start = stop
        return signatures

    def band_keys(self, bands: int, rows: int) -> Iterable[np.ndarray]:
        """One uint64 bucket key per text, for each band in turn."""
        import numpy as np

        for band in range(bands):
            key = np.full(self.size, band + 1, dtype=np.uint64)
            for column in range(band * rows, (band + 1) * rows):
                key *= np.uint64(0x100000001B3)
                key ^= self.signatures[column].astype(np.uint64)
            yield _mix(key) | (key << np.uint64(32))

    def self_links(self, threshold: float) -> list[tuple[int, int, float]]:
        """Verified (i, j, jaccard) links inside this index, enough to connect every cluster.

        Candidates whose texts are already connected (through links verified in earlier bands)
        are not checked again, so a large group of look-alike questions costs about one check
        per member rather than one per pair.
        """
        import numpy as np

        bands, rows = choose_bands(threshold, self.num_perm)
        n = self.size
        component = np.arange(n)
        links: list[tuple[int, int, float]] = []
        for keys in self.band_keys(bands, rows):
            codes = _sorted_unique(_bucket_codes(keys, n))
            left, right = codes // n, codes % n
            apart = component[left] != component[right]
            left, right, similarity = self._verified(left[apart], self, right[apart], threshold)
            if len(left):
                links.extend(zip(left.tolist(), right.tolist(), similarity.tolist(), strict=False))
                component = _merge_components(component, left, right)
        return links

    def cross_links(self, queries: _MinHashIndex, threshold: float) -> list[tuple[int, int, float]]:
        """Verified (query index, index position, jaccard) between `queries` and this index."""
        import numpy as np

        bands, rows = choose_bands(threshold, self.num_perm)
        m = self.size
        seen = np.empty(0, dtype=np.int64)
        links: list[tuple[int, int, float]] = []
        for mine, theirs in zip(self.band_keys(bands, rows), queries.band_keys(bands, rows), strict=False):
            order = np.argsort(mine, kind="stable")
            ordered = mine[order]
            left = np.searchsorted(ordered, theirs, side="left")
            counts = np.searchsorted(ordered, theirs, side="right") - left
            hit = np.flatnonzero(counts)
            if not len(hit):
                continue
            reps = counts[hit]
            query = np.repeat(hit, reps)
            target = order[_ranges(left[hit], reps)]
            codes = _sorted_unique(query.astype(np.int64) * m + target)
            if len(seen):
                codes = codes[~np.isin(codes, seen, assume_unique=True)]
            if not len(codes):
                continue
            seen = np.union1d(seen, codes)
            found_q, found_t, similarity = queries._verified(codes // m, self, codes % m, threshold)
            links.extend(zip(found_q.tolist(), found_t.tolist(), similarity.tolist(), strict=False))
        return links

    def _verified(
        self, mine: np.ndarray, other: _MinHashIndex, theirs: np.ndarray, threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact Jaccard of the shingle sets for candidate pairs; those at or above `threshold`."""
        import numpy as np

        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for start in range(0, len(mine), _VERIFY_CHUNK):
            a = mine[start : start + _VERIFY_CHUNK]
            b = theirs[start : start + _VERIFY_CHUNK]
            len_a = self.offsets[a + 1] - self.offsets[a]
            len_b = other.offsets[b + 1] - other.offsets[b]
            pair = np.arange(len(a), dtype=np.uint64)
            keys = np.concatenate(
                [
                    (np.repeat(pair, len_a) << np.uint64(32)) | self.values[_ranges(self.offsets[a], len_a)],
                    (np.repeat(pair, len_b) << np.uint64(32)) | other.values[_ranges(other.offsets[b], len_b)],
                ]
            )
            keys.sort()
            shared = keys[1:][keys[1:] == keys[:-1]] >> np.uint64(32)
            inter = np.bincount(shared.astype(np.int64), minlength=len(a))
            similarity = inter / (len_a + len_b - inter)
            keep = similarity >= threshold - 1e-12
            kept.append((a[keep], b[keep], similarity[keep]))
        if not kept:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
        left, right, similarity = (np.concatenate(parts) for parts in zip(*kept, strict=False))
        return left, right, similarity


def _merge_components(component: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Union the (left, right) links into `component` (each entry the smallest index of its group)."""
    import numpy as np

    parent = component.copy()
    while True:
        a, b = parent[left], parent[right]
        differ = a != b
        if not differ.any():
            return parent
        # hook the larger root under the smaller one, then point everything at its root
        np.minimum.at(parent, np.maximum(a[differ], b[differ]), np.minimum(a[differ], b[differ]))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges [s, s + l) for every (s, l)."""
    import numpy as np

    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    shift = np.repeat(starts.astype(np.int64) - (np.cumsum(lengths) - lengths), lengths)
    ranges: np.ndarray = np.arange(total, dtype=np.int64) + shift
    return ranges


def _sorted_unique(codes: np.ndarray) -> np.ndarray:
    import numpy as np

    if len(codes) < 2:
        return codes
    codes = np.sort(codes)
    return codes[np.r_[True, codes[1:] != codes[:-1]]]


def _bucket_codes(keys: np.ndarray, n: int) -> np.ndarray:
    """Candidate pairs i < j sharing a bucket, encoded as i * n + j."""
    import numpy as np

    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, n])
    found: list[np.ndarray] = []
    for size in np.unique(sizes[sizes > 1]).tolist():
        run_starts = starts[sizes == size]
        if size <= _BIG_BUCKET:
            i, j = np.triu_indices(size, k=1)
        else:  # a big bucket: every member against the first few (pivots) and its neighbour
            members = np.arange(_BIG_BUCKET_PIVOTS, size)
            i = np.concatenate(
                [
                    np.triu_indices(_BIG_BUCKET_PIVOTS, k=1)[0],
                    np.tile(np.arange(_BIG_BUCKET_PIVOTS), len(members)),
                    members - 1,
                ]
            )
            j = np.concatenate(
                [np.triu_indices(_BIG_BUCKET_PIVOTS, k=1)[1], np.repeat(members, _BIG_BUCKET_PIVOTS), members]
            )
        a = order[run_starts[:, None] + i[None, :]].ravel()
        b = order[run_starts[:, None] + j[None, :]].ravel()
        found.append(np.minimum(a, b) * n + np.maximum(a, b))
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

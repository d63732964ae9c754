"""Statistics for pairwise judging and blind human votes (pure functions, no I/O).

Position vocabulary used throughout:

* *target A* / *target B*: the two systems being compared (e.g. fine-tuned endpoint vs reference).
* *slot 1* / *slot 2*: the position an answer occupies in the judge prompt; the judge names them
  "A" (slot 1) and "B" (slot 2) in its raw verdict.
* The **AB order** shows target A in slot 1; its raw verdict already speaks of targets.
* The **BA order** shows target B in slot 1; its raw verdict "A" means *target B* won, so it has to
  be un-swapped (:func:`unswap`) before it can be compared with the AB verdict.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

Winner = Literal["A", "B", "tie"]
HumanChoice = Literal["A", "B", "tie", "both_bad"]
ShownChoice = Literal["left", "right", "tie", "both_bad"]

WINNERS: tuple[Winner, ...] = ("A", "B", "tie")
HUMAN_CHOICES: tuple[HumanChoice, ...] = ("A", "B", "tie", "both_bad")
_RANK = {"A": 2, "tie": 1, "B": 0}  # outcome from target A's point of view


def _check_winner(value: str, what: str) -> None:
    if value not in WINNERS:
        raise ValueError(f"{what} must be one of 'A', 'B', 'tie', got {value!r}")


# --------------------------------------------------------------------------- intervals


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes out of ``n`` (95 % for the default ``z``).

    ``n == 0`` gives the uninformative ``(0.0, 1.0)``.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


# --------------------------------------------------------------------------- swap-and-tie


def unswap(slot_verdict: Winner) -> Winner:
    """Turn a raw BA-order verdict (slot terms) into target terms: "A" <-> "B", "tie" stays."""
    _check_winner(slot_verdict, "verdict")
    swapped: dict[str, Winner] = {"A": "B", "B": "A", "tie": "tie"}
    return swapped[slot_verdict]


def combine_orders(verdict_ab: Winner, verdict_ba: Winner) -> Winner:
    """Combine the two judge runs of one question into a target-level outcome.

    ``verdict_ab``: raw verdict with target A in slot 1 (so "A" means target A won).
    ``verdict_ba``: raw verdict with target B in slot 1 (so "A" means *target B* won).
    A target wins only if it wins in both orders; any disagreement or tie is a tie.
    """
    _check_winner(verdict_ab, "verdict_ab")
    second = unswap(verdict_ba)
    if verdict_ab == second and verdict_ab != "tie":
        return verdict_ab
    return "tie"


@dataclass(frozen=True)
class QuestionResult:
    """Both judge runs for one question. Verdicts are raw, in slot terms (see module docstring)."""

    question_id: str
    verdict_ab: Winner
    verdict_ba: Winner
    topic: str | None = None
    len_a: int | None = None  # answer length of target A (characters or tokens, caller's choice)
    len_b: int | None = None

    def __post_init__(self) -> None:
        _check_winner(self.verdict_ab, "verdict_ab")
        _check_winner(self.verdict_ba, "verdict_ba")

    @property
    def outcome(self) -> Winner:
        """Target-level result: "A", "B" or "tie" (swap-and-tie rule)."""
        return combine_orders(self.verdict_ab, self.verdict_ba)

    @property
    def consistent(self) -> bool:
        """True when both orders name the same target (or both say tie) after un-swapping."""
        return self.verdict_ab == unswap(self.verdict_ba)


# --------------------------------------------------------------------------- league score


@dataclass(frozen=True)
class TopicScore:
    topic: str
    wins: int
    ties: int
    losses: int
    n: int
    interval: tuple[float, float]

    @property
    def score(self) -> str:
        return f"{self.wins} / {self.n}"

    @property
    def strict_rate(self) -> float | None:
        return self.wins / self.n if self.n else None


@dataclass(frozen=True)
class LeagueScore:
    """Target A's league-style result against target B (a "win" is a win for target A)."""

    wins: int
    ties: int
    losses: int
    n: int
    interval: tuple[float, float]  # Wilson interval of wins / n
    strict_rate: float | None  # wins / n
    lenient_rate: float | None  # (wins + ties / 2) / n
    position_consistency: float | None  # share of questions where both orders agree
    first_slot_win_rate: float | None  # share of all 2n judge runs won by slot 1
    second_slot_win_rate: float | None  # share of all 2n judge runs won by slot 2
    longer_answer_win_rate: (
        float | None
    )  # share of decided, length-known, unequal-length questions won by the longer answer
    length_decided: int  # how many questions the previous rate is based on
    mean_len_a: float | None
    mean_len_b: float | None
    by_topic: dict[str, TopicScore] = field(default_factory=dict)

    @property
    def score(self) -> str:
        """The league score as shown to the user: "k / N"."""
        return f"{self.wins} / {self.n}"

    def to_dict(self) -> dict:
        """Plain JSON-able summary (used by ``tunedeck eval run --json``)."""
        return {
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "N": self.n,
            "score": self.score,
            "interval": [self.interval[0], self.interval[1]],
            "strict_rate": self.strict_rate,
            "lenient_rate": self.lenient_rate,
            "position_consistency": self.position_consistency,
            "first_slot_win_rate": self.first_slot_win_rate,
            "longer_answer_win_rate": self.longer_answer_win_rate,
            "mean_len_a": self.mean_len_a,
            "mean_len_b": self.mean_len_b,
            "by_topic": {
                t.topic: {
                    "wins": t.wins,
                    "ties": t.ties,
                    "losses": t.losses,
                    "N": t.n,
                    "score": t.score,
                    "interval": list(t.interval),
                }
                for t in self.by_topic.values()
            },
        }


def _ratio(num: float, den: int) -> float | None:
    return num / den if den else None


def league_score(results: Sequence[QuestionResult], z: float = 1.96) -> LeagueScore:
    """Summarise per-question results into the league score for target A."""
    n = len(results)
    outcomes = [r.outcome for r in results]
    wins, ties, losses = outcomes.count("A"), outcomes.count("tie"), outcomes.count("B")

    raw = [v for r in results for v in (r.verdict_ab, r.verdict_ba)]
    consistent = sum(r.consistent for r in results)

    longer_won = decided_with_len = 0
    for r, outcome in zip(results, outcomes, strict=False):
        if outcome == "tie" or r.len_a is None or r.len_b is None or r.len_a == r.len_b:
            continue
        decided_with_len += 1
        longer = "A" if r.len_a > r.len_b else "B"
        longer_won += outcome == longer

    lens_a = [r.len_a for r in results if r.len_a is not None]
    lens_b = [r.len_b for r in results if r.len_b is not None]

    topics: dict[str, list[Winner]] = {}
    for r, outcome in zip(results, outcomes, strict=False):
        topics.setdefault(r.topic or "", []).append(outcome)
    by_topic = {
        t: TopicScore(t, o.count("A"), o.count("tie"), o.count("B"), len(o), wilson_interval(o.count("A"), len(o), z))
        for t, o in sorted(topics.items())
    }

    return LeagueScore(
        wins=wins,
        ties=ties,
        losses=losses,
        n=n,
        interval=wilson_interval(wins, n, z),
        strict_rate=_ratio(wins, n),
        lenient_rate=_ratio(wins + ties / 2, n),
        position_consistency=_ratio(consistent, n),
        first_slot_win_rate=_ratio(raw.count("A"), len(raw)),
        second_slot_win_rate=_ratio(raw.count("B"), len(raw)),
        longer_answer_win_rate=_ratio(longer_won, decided_with_len),
        length_decided=decided_with_len,
        mean_len_a=_ratio(sum(lens_a), len(lens_a)),
        mean_len_b=_ratio(sum(lens_b), len(lens_b)),
        by_topic=by_topic,
    )


# --------------------------------------------------------------------------- agreement


def _check_labels(labels_a: Sequence[str], labels_b: Sequence[str], categories: Sequence[str]) -> None:
    if len(labels_a) != len(labels_b):
        raise ValueError(f"label lists differ in length: {len(labels_a)} vs {len(labels_b)}")
    known = set(categories)
    for label in (*labels_a, *labels_b):
        if label not in known:
            raise ValueError(f"label {label!r} is not one of the categories {list(categories)!r}")


def confusion_matrix(labels_a: Sequence[str], labels_b: Sequence[str], categories: Sequence[str]) -> list[list[int]]:
    """Counts with rows = rater a's category, columns = rater b's, in ``categories`` order."""
    _check_labels(labels_a, labels_b, categories)
    index = {c: i for i, c in enumerate(categories)}
    matrix = [[0] * len(categories) for _ in categories]
    for a, b in zip(labels_a, labels_b, strict=False):
        matrix[index[a]][index[b]] += 1
    return matrix


def raw_agreement(labels_a: Sequence[str], labels_b: Sequence[str]) -> float | None:
    """Share of items both raters labelled the same; None for no items."""
    if len(labels_a) != len(labels_b):
        raise ValueError(f"label lists differ in length: {len(labels_a)} vs {len(labels_b)}")
    return _ratio(sum(a == b for a, b in zip(labels_a, labels_b, strict=False)), len(labels_a))


def _marginals(
    labels_a: Sequence[str], labels_b: Sequence[str], categories: Sequence[str]
) -> tuple[list[float], list[float]]:
    n = len(labels_a)
    pa = [sum(x == c for x in labels_a) / n for c in categories]
    pb = [sum(x == c for x in labels_b) / n for c in categories]
    return pa, pb


def cohen_kappa(labels_a: Sequence[str], labels_b: Sequence[str], categories: Sequence[str]) -> float | None:
    """Cohen's kappa, (p_o - p_e) / (1 - p_e). None when undefined (no items, or p_e == 1)."""
    _check_labels(labels_a, labels_b, categories)
    if not labels_a:
        return None
    p_o = raw_agreement(labels_a, labels_b) or 0.0
    pa, pb = _marginals(labels_a, labels_b, categories)
    p_e = sum(x * y for x, y in zip(pa, pb, strict=False))
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1 - p_e)


def gwet_ac1(labels_a: Sequence[str], labels_b: Sequence[str], categories: Sequence[str]) -> float | None:
    """Gwet's AC1 (less sensitive than kappa to skewed prevalence). None when undefined."""
    _check_labels(labels_a, labels_b, categories)
    q = len(categories)
    if not labels_a or q < 2:
        return None
    p_o = raw_agreement(labels_a, labels_b) or 0.0
    pa, pb = _marginals(labels_a, labels_b, categories)
    p_e = sum(((x + y) / 2) * (1 - (x + y) / 2) for x, y in zip(pa, pb, strict=False)) / (q - 1)
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1 - p_e)


# --------------------------------------------------------------------------- blind votes


def blind_assignment(question_ids: Iterable[str], seed: int | str) -> dict[str, bool]:
    """Per question, whether target A is shown on the left.

    Each side is a fair coin derived from SHA-256 of (seed, question id): reproducible for the
    same seed, independent of list order and of the other questions. Use a different seed per
    voter (e.g. f"{evaluation_id}:{voter}") to randomise sides per rater.
    """
    out: dict[str, bool] = {}
    for qid in question_ids:
        digest = hashlib.sha256(f"{seed}\x1f{qid}".encode()).digest()
        out[qid] = bool(digest[0] & 1)
    return out


def unblind(shown: ShownChoice, a_on_left: bool) -> HumanChoice:
    """Map a blind vote on screen sides to target terms."""
    if shown == "left":
        return "A" if a_on_left else "B"
    if shown == "right":
        return "B" if a_on_left else "A"
    if shown in ("tie", "both_bad"):
        return shown
    raise ValueError(f"vote must be 'left', 'right', 'tie' or 'both_bad', got {shown!r}")


@dataclass(frozen=True)
class HumanVote:
    """One voter's verdict on one question, in target terms (see :func:`unblind`)."""

    question_id: str
    voter: str
    choice: HumanChoice

    def __post_init__(self) -> None:
        if self.choice not in HUMAN_CHOICES:
            raise ValueError(f"choice must be one of {HUMAN_CHOICES}, got {self.choice!r}")


@dataclass(frozen=True)
class HumanPreference:
    n: int  # votes counted (every voter x question)
    a: int
    b: int
    tie: int
    both_bad: int
    a_rate: float | None  # a / n
    a_interval: tuple[float, float]  # Wilson interval of a / n
    lenient_a_rate: float | None  # (a + (tie + both_bad) / 2) / n
    voters: tuple[str, ...]


def human_preference(votes: Sequence[HumanVote], z: float = 1.96) -> HumanPreference:
    """How often humans preferred target A, over all votes."""
    choices = [v.choice for v in votes]
    n = len(choices)
    a, b = choices.count("A"), choices.count("B")
    tie, both_bad = choices.count("tie"), choices.count("both_bad")
    return HumanPreference(
        n=n,
        a=a,
        b=b,
        tie=tie,
        both_bad=both_bad,
        a_rate=_ratio(a, n),
        a_interval=wilson_interval(a, n, z),
        lenient_a_rate=_ratio(a + (tie + both_bad) / 2, n),
        voters=tuple(sorted({v.voter for v in votes})),
    )


@dataclass(frozen=True)
class Disagreement:
    question_id: str
    voter: str
    judge: Winner
    human: HumanChoice


@dataclass(frozen=True)
class JudgeHumanAgreement:
    n: int  # (voter, question) pairs compared
    raw_agreement: float | None
    kappa: float | None
    ac1: float | None
    categories: tuple[Winner, ...]
    confusion: list[list[int]]  # rows: judge, columns: human ("both_bad" counted as "tie")
    disagreements: list[Disagreement]
    unmatched_votes: int  # votes on questions the judge has no result for


def judge_human_agreement(judge_results: Sequence[QuestionResult], votes: Sequence[HumanVote]) -> JudgeHumanAgreement:
    """Compare the judge's combined outcome with every human vote on the same question.

    "both_bad" counts as "tie" (neither target won). Each (voter, question) vote is one item.
    """
    outcome = {r.question_id: r.outcome for r in judge_results}
    judge_labels: list[str] = []
    human_labels: list[str] = []
    disagreements: list[Disagreement] = []
    unmatched = 0
    for vote in votes:
        judged = outcome.get(vote.question_id)
        if judged is None:
            unmatched += 1
            continue
        human = "tie" if vote.choice == "both_bad" else vote.choice
        judge_labels.append(judged)
        human_labels.append(human)
        if human != judged:
            disagreements.append(Disagreement(vote.question_id, vote.voter, judged, vote.choice))
    return JudgeHumanAgreement(
        n=len(judge_labels),
        raw_agreement=raw_agreement(judge_labels, human_labels),
        kappa=cohen_kappa(judge_labels, human_labels, WINNERS),
        ac1=gwet_ac1(judge_labels, human_labels, WINNERS),
        categories=WINNERS,
        confusion=confusion_matrix(judge_labels, human_labels, WINNERS),
        disagreements=disagreements,
        unmatched_votes=unmatched,
    )


# --------------------------------------------------------------------------- regression


@dataclass(frozen=True)
class Regression:
    question_id: str
    topic: str | None
    before: Winner  # outcome for target A in the previous evaluation
    after: Winner  # outcome for target A in the new evaluation


def regression(previous_results: Sequence[QuestionResult], new_results: Sequence[QuestionResult]) -> list[Regression]:
    """Questions whose outcome for target A got worse (win > tie > loss) between two evaluations.

    Both evaluations must put the model of interest in target A against the same opponent
    (typically: previous best vs reference, new model vs reference). Questions present in only
    one evaluation are skipped. Sorted by how far they fell (win -> loss first), then by id.
    """
    before = {r.question_id: r for r in previous_results}
    worse: list[tuple[int, Regression]] = []
    for r in new_results:
        old = before.get(r.question_id)
        if old is None:
            continue
        drop = _RANK[old.outcome] - _RANK[r.outcome]
        if drop > 0:
            worse.append((drop, Regression(r.question_id, r.topic or old.topic, old.outcome, r.outcome)))
    worse.sort(key=lambda item: (-item[0], item[1].question_id))
    return [item for _, item in worse]

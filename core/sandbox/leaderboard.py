"""The emulated league leaderboard: a hidden question set and a hidden judge rubric.

A real league scores a submission by having a large judge model compare its answers with those of a
much larger reference model on questions the players never see. This stand-in does the same with the
LLM emulator: the hidden questions are drawn from the domain brief under a seed of their own, the
reference answers are the emulator's full answers, and the judge leans its own way (`HIDDEN_BIAS`,
`HIDDEN_RUBRIC`), so a local judge's win rate predicts the leaderboard score without matching it.
Only the demo and the tests use it; the screen calls it emulated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.evaluation.prompts import pairwise_judge_messages, parse_verdict
from core.evaluation.stats import combine_orders
from core.generation import prompts as gen_prompts
from core.sandbox.llm.engine import JudgeBias, reply

if TYPE_CHECKING:
    from core.config import Config
    from core.store import Store

LABEL = "emulated leaderboard (demo)"
HIDDEN_SEED = 7919
HIDDEN_RUBRIC = (
    "Prefer the answer that a resident could act on: it must answer the question asked, name what to do "
    "in order, and stay accurate. Length alone is not a merit."
)
HIDDEN_BIAS = JudgeBias(position=0.5, length=0.6, tie_share=0.2, scale=0.05, weights=(0.35, 0.1, 0.25, 0.05, 0.25))
REFERENCE_STYLE = "You are an expert assistant. Answer accurately and concisely."

Answerer = Callable[[str], str]


@dataclass(frozen=True)
class LeaderboardScore:
    wins: int
    ties: int
    n: int

    @property
    def rate(self) -> float:
        """The leaderboard's win rate: wins plus half the ties, over the questions."""
        return (self.wins + self.ties / 2) / self.n if self.n else 0.0

    @property
    def text(self) -> str:
        """As `league submit --score` takes it: "k/N" with ties counted as half a win (rounded down)."""
        return f"{int(self.wins + self.ties / 2)}/{self.n}"


def hidden_questions(brief: str, aspects: list[str], n: int = 24, seed: int = HIDDEN_SEED) -> list[tuple[str, str]]:
    """(topic, question) pairs of the hidden set: categories from the brief, questions under each."""
    categories = json.loads(
        reply(
            gen_prompts.categories_messages(brief, aspects, 6),
            temperature=0.8,
            seed=seed,
            json_schema=gen_prompts.CATEGORIES_SCHEMA,
        )
    )["categories"]
    per = max(1, -(-n // max(1, len(categories))))
    out: list[tuple[str, str]] = []
    for category in categories:
        asked = json.loads(
            reply(
                gen_prompts.questions_messages(brief, [category["name"]], category["description"], per),
                temperature=0.8,
                seed=seed,
                json_schema=gen_prompts.questions_schema(per),
            )
        )["questions"]
        out += [(category["name"], q) for q in asked]
    return out[:n]


def reference_answer(brief: str, topic: str, question: str, seed: int = HIDDEN_SEED) -> str:
    return reply(gen_prompts.answer_messages(REFERENCE_STYLE, brief, [topic], question), temperature=0.0, seed=seed)


def score(
    answer: Answerer, brief: str, aspects: list[str], *, n: int = 24, seed: int = HIDDEN_SEED
) -> LeaderboardScore:
    """Judge `answer` (question -> the submission's answer) against the reference on the hidden set,
    in both orders under the hidden rubric; a question is won only when both orders agree."""
    wins = ties = 0
    questions = hidden_questions(brief, aspects, n, seed)
    for topic, question in questions:
        mine, theirs = answer(question), reference_answer(brief, topic, question, seed)
        verdicts = []
        for first, second in ((mine, theirs), (theirs, mine)):
            text = reply(
                pairwise_judge_messages(question, first, second, rubric=HIDDEN_RUBRIC),
                temperature=0.0,
                seed=seed,
                judge_bias=HIDDEN_BIAS,
            )
            verdicts.append(parse_verdict(text).winner)
        outcome = combine_orders(verdicts[0], verdicts[1])
        wins += outcome == "A"
        ties += outcome == "tie"
    return LeaderboardScore(wins=wins, ties=ties, n=len(questions))


def score_endpoint(store: Store, config: Config, run_name: str, *, n: int = 24) -> LeaderboardScore:
    """Score a run on the emulated leaderboard through its live endpoint (real boto3, emulated SageMaker).

    Raises ValueError, saying why, without the demo or sandbox switch (a real leaderboard scores real runs), the
    session has no brief, or the run has no endpoint in service."""
    if not config.emulated:
        raise ValueError(
            "the emulated leaderboard scores runs only against emulated AWS (--demo or `tunedeck sandbox`); "
            "give the real leaderboard's score with --score"
        )
    brief = str(store.get_meta("domain_brief", "") or "")
    if not brief:
        raise ValueError("this session has no domain brief yet, so the emulated leaderboard has no questions")
    aspects = [str(a) for a in (store.get_meta("domain_aspects", []) or [])]
    live = [e for e in store.endpoints() if e.job_name == run_name and e.status == "InService"]
    if not live:
        raise ValueError(f"run {run_name!r} has no endpoint in service; deploy it first")
    from core.aws_identity import aws_client

    runtime = aws_client(config.aws, "sagemaker-runtime")
    endpoint = live[-1].name

    def answer(question: str) -> str:
        body = {"messages": [{"role": "user", "content": question}], "max_tokens": 512, "temperature": 0}
        response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=json.dumps(body))
        data = json.loads(response["Body"].read())
        return str(((data.get("choices") or [{}])[0].get("message") or {}).get("content") or "")

    return score(answer, brief, aspects, n=n)

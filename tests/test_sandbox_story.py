"""The demo tells the story: domain text from the brief, fine-tuned endpoints that answer from their
training, a judge that rewards it (with a first-position and a length lean), and an emulated leaderboard."""

from __future__ import annotations

import json
import re

import pytest

from core.evaluation.prompts import pairwise_judge_messages, parse_verdict
from core.evaluation.stats import combine_orders
from core.generation import prompts as gen_prompts
from core.sandbox import leaderboard
from core.sandbox.aws import lmi
from core.sandbox.aws.curves import CurveParams, LossModel
from core.sandbox.llm import engine

BRIEF = (
    "Questions residents ask about US state and local services: driver's licences, property tax, voter "
    "registration and public libraries."
)
ASPECTS = ["vehicle registration", "property tax appeals", "library cards", "voter registration"]
GARDEN_BRIEF = "Allotment gardening in the UK: soil, crop rotation, composting and pests."
GARDEN_ASPECTS = ["raised beds", "slug control"]
STYLE = "You are a friendly domain expert. Answer in plain language, concisely and with empathy."
WORD = re.compile(r"[a-z][a-z'’-]*")
# Words every question is built from; none of them names anything in a domain.
FUNCTION_WORDS = set(
    """a an the and or of to in on at for with about from by as is are was be been do does did i my me we you your
    it its if what how why when where who which whether can could would should must may might will there their
    this that these those not no yes so than then any some all each one two three""".split()
)


def _words(text: str) -> set[str]:
    return set(WORD.findall(text.lower().replace("’", "'")))


def _template_words() -> set[str]:
    texts = []
    for messages in (
        gen_prompts.categories_messages("", [], 5),
        gen_prompts.subtopics_messages("", [], "", 3),
        gen_prompts.questions_messages("", [], "", 4),
        gen_prompts.refusal_questions_messages("", 3),
        gen_prompts.answer_messages(STYLE, "", [], ""),
        gen_prompts.refusal_answer_messages(STYLE, "", ""),
    ):
        texts += [m["content"] for m in messages]
    schemas = json.dumps([gen_prompts.CATEGORIES_SCHEMA, gen_prompts.SUBTOPICS_SCHEMA, gen_prompts.questions_schema(3)])
    return _words(" ".join(texts) + " " + schemas)


def _tree_and_questions(brief: str, aspects: list[str], seed: int) -> tuple[list[str], list[str]]:
    def ask(messages, schema):
        return json.loads(engine.reply(messages, temperature=0.8, seed=seed, json_schema=schema))

    names, questions = [], []
    for category in ask(gen_prompts.categories_messages(brief, aspects, 5), gen_prompts.CATEGORIES_SCHEMA)[
        "categories"
    ]:
        names.append(category["name"])
        for sub in ask(
            gen_prompts.subtopics_messages(brief, [category["name"]], category["description"], 3),
            gen_prompts.SUBTOPICS_SCHEMA,
        )["subtopics"]:
            names.append(sub["name"])
            questions += ask(
                gen_prompts.questions_messages(brief, [category["name"], sub["name"]], sub["description"], 4),
                gen_prompts.questions_schema(4),
            )["questions"]
    questions += ask(gen_prompts.refusal_questions_messages(brief, 4), gen_prompts.questions_schema(4))["questions"]
    return names, questions


@pytest.mark.parametrize(("brief", "aspects"), [(BRIEF, ASPECTS), (GARDEN_BRIEF, GARDEN_ASPECTS), (BRIEF, [])])
def test_no_topic_name_or_question_uses_a_word_only_the_prompt_templates_have(brief, aspects):
    forbidden = _template_words() - _words(brief + " " + " ".join(aspects)) - FUNCTION_WORDS
    for seed in (1, 2, 3):
        names, questions = _tree_and_questions(brief, aspects, seed)
        assert len(set(names)) == len(names) and len(questions) >= 40
        for text in names + questions:
            assert not (_words(text) & forbidden), (text, _words(text) & forbidden)


# --------------------------------------------------------------------------- the judge's leanings


def _judge(question: str, first: str, second: str, bias: engine.JudgeBias = engine.DEFAULT_JUDGE_BIAS) -> str:
    text = engine.reply(pairwise_judge_messages(question, first, second), temperature=0, judge_bias=bias)
    return parse_verdict(text).winner


def _equal_pairs(n: int) -> list[tuple[str, str, str]]:
    """(question, answer, the same answer with its sentences said twice): equal quality, twice the length."""
    out = []
    for i in range(n):
        question = f"Where do I renew library card number {i} in my county?"
        answer = engine.reply([{"role": "user", "content": question}], temperature=0.9, seed=i)
        out.append((question, answer, answer + "\n\n" + answer))
    return out


def test_the_judge_favours_the_first_shown_answer_of_equal_pairs_as_set():
    pairs = _equal_pairs(500)
    for position in (engine.DEFAULT_JUDGE_BIAS.position, 0.5, 0.8):
        bias = engine.JudgeBias(position=position)
        verdicts = [_judge(q, a, a, bias) for q, a, _ in pairs]
        decided = [v for v in verdicts if v != "tie"]
        assert 0.2 < verdicts.count("tie") / len(verdicts) < 0.4
        assert abs(decided.count("A") / len(decided) - position) < 0.05, position


def test_the_judge_favours_the_longer_of_equal_answers_as_set():
    pairs = _equal_pairs(350)
    for length in (engine.DEFAULT_JUDGE_BIAS.length, 0.5):
        bias = engine.JudgeBias(length=length)
        longer_won = decided = 0
        for q, short, long in pairs:  # both orders, so the first-position lean cancels out
            for first, second in ((short, long), (long, short)):
                verdict = _judge(q, first, second, bias)
                if verdict != "tie":
                    decided += 1
                    longer_won += (verdict == "A") == (first is long)
        assert abs(longer_won / decided - length) < 0.05, length


def test_the_judge_prefers_coverage_and_structure_over_either_lean():
    question = "What documents do I need for vehicle registration?"
    good = engine.reply(gen_prompts.answer_messages(STYLE, BRIEF, ["Vehicle Registration"], question), temperature=0)
    generic = engine.tuned_reply([{"role": "user", "content": question}], None, temperature=0)
    assert re.search(r"(?m)^1\. ", good) and "vehicle registration" in good.lower()
    assert not re.search(r"(?m)^1\. ", generic)
    for seed in range(20):
        messages = pairwise_judge_messages(question + " " * seed, generic + generic, good)
        assert parse_verdict(engine.reply(messages, temperature=0)).winner == "B"


# --------------------------------------------------------------------------- fine-tuned endpoints and the league


def _dataset(seed: int) -> list[tuple[str, str]]:
    pairs = []
    for category in json.loads(
        engine.reply(
            gen_prompts.categories_messages(BRIEF, ASPECTS, 5),
            temperature=0.8,
            seed=seed,
            json_schema=gen_prompts.CATEGORIES_SCHEMA,
        )
    )["categories"]:
        for sub in json.loads(
            engine.reply(
                gen_prompts.subtopics_messages(BRIEF, [category["name"]], category["description"], 3),
                temperature=0.8,
                seed=seed,
                json_schema=gen_prompts.SUBTOPICS_SCHEMA,
            )
        )["subtopics"]:
            path = [category["name"], sub["name"]]
            for question in json.loads(
                engine.reply(
                    gen_prompts.questions_messages(BRIEF, path, sub["description"], 4),
                    temperature=0.8,
                    seed=seed,
                    json_schema=gen_prompts.questions_schema(4),
                )
            )["questions"]:
                answer = engine.reply(
                    gen_prompts.answer_messages(STYLE, BRIEF, path, question), temperature=0.7, seed=seed
                )
                pairs.append((question, answer))
    return pairs


# One sweep: the same data, hyperparameters that underfit, fit partly, fit well and overfit.
SWEEP = {
    "underfit": {"learning_rate": 1e-5, "epochs": 1},
    "partial": {"learning_rate": 3e-5, "epochs": 2},
    "best": {"learning_rate": 1e-4, "epochs": 3},
    "overfit": {"learning_rate": 3e-4, "epochs": 10, "lora_r": 64},
}


def _endpoint(training: engine.Training | None):
    def answer(question: str) -> str:
        messages = [{"role": "system", "content": STYLE}, {"role": "user", "content": question}]
        return engine.tuned_reply(messages, training, temperature=0)

    return answer


def _compare(answer_a, answer_b, held_out: list[tuple[str, str]]) -> tuple[int, int, int]:
    """Compare's rule: both orders, reference-guided; a question is won only if both orders agree."""
    wins = ties = losses = 0
    for question, reference in held_out:
        a, b = answer_a(question), answer_b(question)
        ab = parse_verdict(
            engine.reply(pairwise_judge_messages(question, a, b, reference_answer=reference), temperature=0)
        )
        ba = parse_verdict(
            engine.reply(pairwise_judge_messages(question, b, a, reference_answer=reference), temperature=0)
        )
        outcome = combine_orders(ab.winner, ba.winner)
        wins, ties, losses = wins + (outcome == "A"), ties + (outcome == "tie"), losses + (outcome == "B")
    return wins, ties, losses


def test_jobs_of_a_sweep_score_by_fit_locally_and_on_the_emulated_leaderboard():
    margin = 0.2  # the best job beats the base by at least this much more than the underfit one does
    board_agrees = disagreements = 0
    seeds = (0, 1, 2, 3)
    for seed in seeds:
        pairs = _dataset(seed)
        held_out = pairs[::5]
        train = [p for i, p in enumerate(pairs) if i % 5]
        base = _endpoint(None)
        local: dict[str, float] = {}
        board: dict[str, float] = {}
        for name, hp in SWEEP.items():
            curve = LossModel(CurveParams(n_train=len(train) * 10, n_val=len(held_out) * 10, seed=seed, **hp))
            last = curve.epoch_losses(hp["epochs"])
            training = engine.Training.of(train, *lmi.fit_from_losses(last.train_loss, last.eval_loss))
            wins, ties, losses = _compare(_endpoint(training), base, held_out)
            local[name] = (wins + ties / 2) / len(held_out)
            if name == "best":
                assert wins > losses, (seed, wins, ties, losses)
            board[name] = leaderboard.score(_endpoint(training), BRIEF, ASPECTS, n=12).rate
        assert local["underfit"] <= local["partial"] <= local["best"], (seed, local)
        assert local["best"] - local["underfit"] >= margin, (seed, local)
        assert local["overfit"] < local["best"], (seed, local)
        board_agrees += board["underfit"] < board["partial"] < board["best"]
        local_order = sorted(local, key=lambda n: (local[n], n))
        board_order = sorted(board, key=lambda n: (board[n], n))
        disagreements += local_order != board_order
    assert board_agrees >= len(seeds) - 1  # the leaderboard orders the fits the same way on most seeds
    assert disagreements >= 1  # ... yet it is not the local judge: it disagrees on some

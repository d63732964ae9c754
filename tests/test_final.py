"""The final round's rules, points, trick questions and the ballot's tally (core only)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from core.config import Config, ConfigError, load_config
from core.playground.ballot import (
    RESULT_FORMAT,
    BallotError,
    ballot_html,
    build_ballot,
    import_results,
    parse_result,
    stored_results,
)
from core.playground.final import RoundRules, combined_score, rank_points, round_rules, set_session_rules
from core.playground.rounds import Params, PlaygroundError, save_version
from core.playground.tricks import check, letters_question, trick_questions, trick_score, weekday_question
from core.sessions import open_session


def test_rules_cap_max_tokens_and_flag_a_prompt_that_leaves_too_little_room():
    rules = RoundRules(answer_token_cap=200, context_length=400, generations=3)
    assert rules.capped(Params(0.6, 0.9, 512)).max_tokens == 200
    assert rules.capped(Params(0.6, 0.9, 100)).max_tokens == 100
    assert not rules.budget("Be brief.", "What is DNS?").short
    long_prompt = "word " * 300
    budget = rules.budget(long_prompt, "What is DNS?")
    assert budget.short and budget.answer_room is not None and budget.answer_room < 200
    assert rules.generations_left(2) == 1 and rules.generations_left(5) == 0
    assert RoundRules(generations=0).generations_left(9) is None


def test_rules_come_from_config_and_the_session_overrides_them(tmp_path):
    config = Config()
    config.final.answer_token_cap = 150
    store = open_session("final")
    assert round_rules(store, config).answer_token_cap == 150
    set_session_rules(store, RoundRules(answer_token_cap=120, generations=5))
    assert round_rules(store, config).answer_token_cap == 120
    with pytest.raises(PlaygroundError, match="question template"):
        set_session_rules(store, RoundRules(question_template="no slot"))
    store.close()


def test_bad_final_config_names_the_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[final]\nanswer_token_cap = 200\ncontext_length = 100\n")
    with pytest.raises(ConfigError, match=r"c.toml:3: 'final.context_length'"):
        load_config(path)


def test_rank_points_follow_the_event_and_weights_combine():
    assert [round(rank_points(r, 5), 1) for r in range(1, 6)] == [16.7, 13.3, 10.0, 6.7, 3.3]
    assert round(rank_points(1.5, 2), 1) == 15.0  # an averaged rank between two places
    rules = RoundRules()
    assert combined_score(1.0, 0.0, 0.0, rules) == pytest.approx(40.0)
    assert combined_score(1.0, 1.0, 1.0, rules, last=True) == pytest.approx(200.0)
    assert combined_score(None, 1.0, None, rules) == pytest.approx(100.0)  # only the human part known


def test_trick_checker_is_deterministic():
    straw = letters_question("strawberry", "r")
    assert straw.expected == "3"
    assert check(straw, "There are three r's in strawberry.")
    assert check(straw, "Let me count: s-t-r (1), r (2), r (3). So 3.")
    assert not check(straw, "Strawberry has 2 r's.")
    day = weekday_question(date(2000, 1, 1))
    assert check(day, "It was a Saturday.") and not check(day, "Friday or Saturday")
    questions = trick_questions()
    assert {q.kind for q in questions} == {"letters", "arithmetic", "date"}
    assert trick_score(questions, [f"The answer is {q.expected}." for q in questions]) == 1.0


def _finalists(store):
    a = save_version(store, "a", "A.", Params(0.5, 0.9, 200))
    b = save_version(store, "b", "B.", Params(0.5, 0.9, 200))
    for question, scores in (("q one?", (1.0, 0.0)), ("q two?", (0.0, 1.0))):
        for version, score in zip((a, b), scores, strict=True):
            run_id, (sample_id,) = store.create_run(
                target="t", system_prompt="", temperature=0.5, top_p=0.9, max_tokens=200,
                question=question, samples=1, prompt_version_id=version.id,
            )  # fmt: skip
            store.finish_sample(sample_id, f"<b>{version.name}</b> & </script>", finish_reason="stop")
            store.set_sample_judgement(sample_id, score, "r")


def test_ballot_page_carries_no_raw_markup_and_results_are_checked(tmp_path):
    store = open_session("final")
    with pytest.raises(BallotError, match="at least two prompt versions"):
        build_ballot(store)
    _finalists(store)
    ballot, key = build_ballot(store, seed=1)
    html = ballot_html(ballot)
    assert "</script> &" not in html and "<b>" not in html and "Content-Security-Policy" in html
    q1 = next(iter(key["questions"]))
    aid = next(iter(key["questions"][q1]["answers"]))
    good = {"format": RESULT_FORMAT, "ballot": key["ballot"], "role": "judge", "voter": "x", "picks": {q1: aid}}
    assert parse_result(json.dumps(good), key, "v.json").picks == {q1: aid}
    for broken, message in (
        ({**good, "ballot": "other"}, "another ballot"),
        ({**good, "role": "critic"}, "role must be"),
        ({**good, "picks": {q1: "zz"}}, "unknown answer"),
    ):
        with pytest.raises(BallotError, match=message):
            parse_result(json.dumps(broken), key, "v.json")
    good_file, bad_file = tmp_path / "good.json", tmp_path / "bad.json"
    good_file.write_text(json.dumps(good))
    bad_file.write_text("{not json")
    with pytest.raises(BallotError, match="bad.json"):
        import_results(store, key, [good_file, bad_file], RoundRules())
    assert stored_results(store) is None  # nothing half-imported
    tally = import_results(store, key, [good_file], RoundRules())
    assert tally.voters == 1 and stored_results(store) is not None
    store.close()


def test_question_kinds_and_bank_versions():
    from core.playground.bank import BANK, ensure_bank, question_kind

    assert question_kind("How many r are in strawberry?") == "definite"
    assert question_kind("What is 17 × 24?") == "definite"
    assert question_kind("Why is my router slow at night?") == "open"
    store = open_session("bank")
    first = ensure_bank(store, max_tokens=200)
    assert [v.name for v in first] == [f"bank: {e.name}" for e in BANK]
    assert [v.id for v in ensure_bank(store, max_tokens=200)] == [v.id for v in first]  # saved once
    store.close()


class _LongerWins:
    """A fake judge that prefers the longer answer, so the ranking is known."""

    def __init__(self, answers):
        self.answers = answers

    async def complete(self, messages, **kwargs):
        from types import SimpleNamespace

        text = messages[-1]["content"]
        shown = sorted((text.index(a), a) for a in self.answers if a in text)  # Answer A comes first
        first, second = shown[0][1], shown[1][1]
        winner = "A" if len(first) > len(second) else "B"
        return SimpleNamespace(text=json.dumps({"winner": winner, "reason": "longer"}))


async def test_finalists_ranked_over_shuffled_orders_into_points():
    from core.playground.finalists import rank_answers

    answers = {"short": "ok", "medium": "a medium answer", "long": "a much longer answer with detail"}
    ranking = await rank_answers(_LongerWins(answers.values()), "q?", answers, orders=3, seed=2)
    assert [e.label for e in ranking.entries] == ["long", "medium", "short"]
    assert [round(e.points, 1) for e in ranking.entries] == [16.7, 13.3, 10.0]
    assert ranking.disagreement == 0.0 and all(len(e.ranks) == 3 for e in ranking.entries)
    with pytest.raises(PlaygroundError, match="between 2 and 5"):
        await rank_answers(_LongerWins(["x"]), "q?", {"only": "x"})


async def test_run_tricks_catches_a_prompt_that_breaks_letter_counting():
    from types import SimpleNamespace

    from core.playground.tricks import letters_question, run_tricks

    class SaysTwo:
        async def complete(self, messages, **kwargs):
            return SimpleNamespace(text="There are 2.", finish_reason="stop", completion_tokens=3)

    store = open_session("tricks")
    questions = [letters_question("strawberry", "r"), letters_question("apple", "p")]
    results = await run_tricks(
        store, SaysTwo(), target_name="t", system_prompt="Be quick.", params=Params(0.1, 0.5, 200), questions=questions
    )
    assert [r.right for r in results] == [False, True]
    scores = sorted(s.judge_score for r in store.playground_runs(kind="tricks") for s in store.samples(r.id))
    assert scores == [0.0, 1.0]  # committed as they arrived
    store.close()


async def test_finalists_rehearsal_reports_expected_points_and_resumes():
    from types import SimpleNamespace

    from core.playground.finalists import rehearse_finalists

    class Answers:
        calls = 0

        async def complete(self, messages, **kwargs):
            Answers.calls += 1
            text = "ANS-LONGER-XYZ and more" if messages[0]["content"] == "L" else "ANS-S"
            return SimpleNamespace(text=text, finish_reason="stop", completion_tokens=4)

    store = open_session("rehearse-finalists")
    set_id = store.create_question_set("final", [("q one?", "", None), ("q two?", "", None)])
    short = save_version(store, "short", "S", Params(0.5, 0.9, 200))
    long = save_version(store, "long", "L", Params(0.5, 0.9, 200))
    judge = _LongerWins(["ANS-S", "ANS-LONGER-XYZ and more"])
    kwargs = {"target_name": "t", "set_id": set_id, "version_ids": [short.id, long.id], "seed": 1}
    report = await rehearse_finalists(store, Answers(), judge, **kwargs)
    assert [(s.name, round(s.mean_points or 0, 1), s.sd_points) for s in report.scores] == [
        ("long", 16.7, 0.0),
        ("short", 13.3, 0.0),
    ]
    assert report.questions == 2 and report.differ_rate is None  # nobody picked in the Playground yet
    assert Answers.calls == 4
    await rehearse_finalists(store, Answers(), judge, **kwargs)
    assert Answers.calls == 4  # a rerun reuses the stored answers
    store.close()


def test_finalists_and_ballot_verbs_say_what_is_missing_in_one_line(tmp_path):
    from tests.test_league_cli import one_line_error, tunedeck

    open_session("event").close()
    missing_set = tunedeck("finalists", "--set", "nope", "--versions", "a,b")
    assert "no question set 'nope'" in one_line_error(missing_set)
    no_answers = tunedeck("ballot", "export", str(tmp_path / "b.html"))
    assert "at least two prompt versions" in one_line_error(no_answers)
    assert not (tmp_path / "b.html").exists()  # nothing half-written


def test_rules_verb_sets_the_sessions_rules_and_refuses_bad_ones():
    from tests.test_league_cli import one_line_error, tunedeck

    open_session("event").close()
    done = tunedeck("rules", "--answer-token-cap", "150", "--generations", "3", "--weights", "50/30/20", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["answer_token_cap"], shown["generations"], shown["weight_judge"]) == (150, 3, 50.0)
    store = open_session("event")
    assert round_rules(store, load_config(include_user=False)).answer_token_cap == 150
    store.close()
    assert "question template" in one_line_error(tunedeck("rules", "--question-template", "no slot"))
    assert "--weights" in one_line_error(tunedeck("rules", "--weights", "40-40-20"))

"""Held-out question sets and the judged A/B evaluation: import errors, both-order judging with the
swap-and-tie rule, resume without duplicates, blind votes, regression, scores per job, the CLI."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from core.config import Config
from core.evaluation.judge import (
    EvalSettings,
    EvaluationError,
    TargetSpec,
    blind_items,
    cast_vote,
    evaluate,
    human_report,
    load_report,
    regression_check,
    run_evaluation,
    scores_by_job,
)
from core.evaluation.questions import QuestionImportError, heldout_questions, import_questions
from core.evaluation.stats import combine_orders
from core.llm.base import ChatResult
from core.services import Services
from core.sessions import open_session

MODEL_A, MODEL_B, JUDGE = "meta-llama/Llama-3.1-8B-Instruct", "gpt-4o-mini", "gpt-4o"


@pytest.fixture
def store():
    s = open_session("evals")
    yield s
    s.close()


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _add_set(store, name: str, questions: list[str], topics: list[str] | None = None) -> int:
    topics = topics or ["general"] * len(questions)
    return store.create_question_set(name, [(q, t, None) for q, t in zip(questions, topics, strict=True)])


# ---- question import ------------------------------------------------------------------------------


def test_csv_import_reports_every_bad_line_and_imports_nothing(store, tmp_path):
    path = _write(
        tmp_path,
        "qs.csv",
        (
            "question,topic,reference\n"
            "How do I read my meter?,meters,\n"
            '"A question that spans\ntwo lines, fine",billing,\n'
            ",billing,\n"  # line 5: empty question
            "Too,many,fields,here\n"  # line 6
            "how do I read my METER?,meters,\n"  # line 7: duplicate of line 2
        ),
    )
    with pytest.raises(QuestionImportError) as caught:
        import_questions(store, "heldout", path)
    assert [line for line, _ in caught.value.errors] == [5, 6, 7]
    assert "the question is empty" in caught.value.errors[0][1]
    assert "duplicate of the question on line 2" in caught.value.errors[2][1]
    assert f"{path}:5:" in str(caught.value)
    assert store.question_sets() == [] and heldout_questions(store) == []


def test_jsonl_import_errors_then_a_good_file(store, tmp_path):
    bad = _write(
        tmp_path,
        "qs.jsonl",
        (
            '{"question": "What is a tariff?", "topic": "billing"}\n'
            "\n"
            '{"question": "Missing brace"\n'
            '["not", "an", "object"]\n'
            '{"question": 7}\n'
            '{"text": "no question key"}\n'
        ),
    )
    with pytest.raises(QuestionImportError) as caught:
        import_questions(store, "heldout", bad)
    assert [line for line, _ in caught.value.errors] == [3, 4, 5, 6]
    assert store.question_sets() == []

    good = _write(
        tmp_path,
        "good.jsonl",
        '{"question": "What is a tariff?", "topic": "billing"}\n{"question": "Can I pay in instalments?"}\n',
    )
    assert import_questions(store, "heldout", good) == 2
    qs = store.questions(store.question_set("heldout").id)
    assert [(q.text, q.topic) for q in qs] == [("What is a tariff?", "billing"), ("Can I pay in instalments?", "")]
    assert heldout_questions(store) == ["What is a tariff?", "Can I pay in instalments?"]
    with pytest.raises(ValueError, match="already exists"):
        import_questions(store, "heldout", good)


async def test_generated_set_skips_questions_that_duplicate_training_pairs(store):
    from core.evaluation.questions import generate_question_set
    from core.store import NewPair

    billing = store.add_topic("Billing")
    store.add_topic("Tariffs", billing)
    store.add_topic("Meters")
    store.add_pair(NewPair("How do I read my electricity meter at home?", "Look at the display."))
    replies = {
        "Tariffs": ["What is a standing charge?", "Can I change tariff mid-contract?"],
        "Meters": ["How do I read my electricity meter at home ?", "Why does my smart meter blink?"],
    }

    def reply(messages) -> str:
        topic = re.search(r"Topic: (.*)", messages[-1]["content"]).group(1).split(" > ")[-1]
        return json.dumps({"questions": replies[topic]})

    progress = await generate_question_set(store, Scripted("gen", reply), "generated", per_topic=2)
    assert progress.questions == 3 and progress.dropped_as_training_duplicates == 1
    qs = store.questions(store.question_set("generated").id)
    assert sorted((q.topic, q.text) for q in qs) == [
        ("Billing", "Can I change tariff mid-contract?"),
        ("Billing", "What is a standing charge?"),
        ("Meters", "Why does my smart meter blink?"),
    ]
    assert len(heldout_questions(store)) == 3


# ---- scripted targets (no server) -----------------------------------------------------------------


class Scripted:
    """A ChatTarget whose reply is a function of the messages."""

    provider = "scripted"

    def __init__(self, model: str, reply) -> None:
        self.model = model
        self.reply = reply
        self.calls = 0

    async def complete(self, messages, **kwargs) -> ChatResult:
        self.calls += 1
        await asyncio.sleep(0)
        return ChatResult(self.reply(messages), "stop", 10, 10, 0.001, 0.0, self.model)

    async def aclose(self) -> None:
        pass


def _answerer(tag: str) -> Scripted:
    return Scripted(tag, lambda m: f"{tag} answers: {m[-1]['content']}")


def _block(user: str, label: str) -> str:
    return re.search(rf"\[{label}\]\n(=+)\n(.*?)\n\1", user, re.S).group(2)


def _judge(script: dict[str, tuple[str, str]], candidate_tag: str = "alpha") -> Scripted:
    """script: question -> (raw verdict when A is shown first, raw verdict when B is shown first)."""

    def reply(messages) -> str:
        user = messages[-1]["content"]
        question = _block(user, "Question")
        a_first = _block(user, "Answer A").startswith(candidate_tag)
        winner = script[question][0 if a_first else 1]
        return json.dumps({"winner": winner, "reason": f"scripted for {question}"})

    return Scripted("judge-model", reply)


SCRIPT = {
    "q-win": ("A", "B"),  # A wins in both orders -> win
    "q-bias": ("A", "A"),  # slot 1 wins both times -> inconsistent -> tie
    "q-loss": ("B", "A"),  # B wins in both orders -> loss
    "q-half": ("tie", "B"),  # tie, then A wins -> tie
}


async def _scripted_run(store, script=SCRIPT, a="openai:alpha", b="openai:beta", candidate="alpha", **kw):
    return await run_evaluation(
        store,
        target_a=a,
        target_b=b,
        client_a=_answerer(candidate),
        client_b=_answerer("beta"),
        judge=_judge(script, candidate),
        **kw,
    )


async def test_swap_and_tie_rule_and_summary(store):
    _add_set(store, "s", list(SCRIPT), ["t1", "t1", "t2", "t2"])
    report = await _scripted_run(store)
    stored = {(v.question_id, v.ordering): v.winner for v in store.verdicts(report.evaluation.id)}
    by_text = {item.question.text: item for item in report.items}
    for text, (ab, ba) in SCRIPT.items():  # raw verdicts of both orders stored as the judge gave them
        qid = by_text[text].question.id
        assert (stored[(qid, "AB")], stored[(qid, "BA")]) == (ab, ba)
    assert {t: by_text[t].outcome for t in SCRIPT} == {"q-win": "A", "q-bias": "tie", "q-loss": "B", "q-half": "tie"}
    s = report.summary
    assert (s["wins"], s["ties"], s["losses"], s["N"], s["score"]) == (1, 2, 1, 4, "1 / 4")
    assert s["position_consistency"] == 0.5 and s["lenient_rate"] == 0.5 and s["complete"] is True
    assert s["by_topic"]["t1"]["score"] == "1 / 2" and s["by_topic"]["t2"]["score"] == "0 / 2"
    assert 0 < s["interval"][0] < 0.25 < s["interval"][1] < 1
    assert store.evaluation(report.evaluation.id).status == "done"
    assert store.evaluation(report.evaluation.id).summary["score"] == "1 / 4"


async def test_unreadable_verdict_is_stored_as_failure_and_retried(store):
    _add_set(store, "s", ["q-win"])
    broken = Scripted("judge-model", lambda m: "I cannot decide.")
    report = await run_evaluation(
        store,
        target_a="openai:alpha",
        target_b="openai:beta",
        client_a=_answerer("alpha"),
        client_b=_answerer("beta"),
        judge=broken,
    )
    assert report.summary["pending"] == 1 and report.summary["failed_verdicts"] == 2 and not report.complete
    assert all(v.error and v.winner is None for v in store.verdicts(report.evaluation.id))
    again = await _scripted_run(store, {"q-win": ("A", "B")})
    assert again.evaluation.id == report.evaluation.id and again.summary["wins"] == 1
    assert len(store.verdicts(report.evaluation.id)) == 2


# ---- the LLM emulator, end to end ---------------------------------------------------------------


@pytest.fixture
def services(store, llm, monkeypatch):
    monkeypatch.setenv("TD_TEST_KEY", "test")
    config = Config()
    for profile, model in ((config.llm.generator, MODEL_A), (config.llm.judge, JUDGE)):
        profile.base_url, profile.api_key_env, profile.model = llm.base_url, "TD_TEST_KEY", model
    return Services(store, config)


QUESTIONS = [
    "How do I read the display of my electricity meter?",
    "What should I do if my bill is much higher than usual?",
    "Can I switch to a cheaper tariff in the middle of my contract?",
    "Why does my heat pump use more power in January?",
    "How do I report a power cut in my street?",
]


async def test_end_to_end_against_the_llm_emulator(services, llm):
    store = services.store
    _add_set(store, "heldout", QUESTIONS, ["meters", "billing", "billing", "heating", "outages"])
    llm.faults.add("truncated", model=MODEL_B, probability=1.0)  # B's answers are cut short
    seen = []
    report = await evaluate(
        services,
        f"openai:{MODEL_A}",
        f"openai:{MODEL_B}",
        set_name="heldout",
        on_progress=lambda p: seen.append((p.done, p.total)),
    )
    n = len(QUESTIONS)
    assert report.complete and seen[-1] == (4 * n, 4 * n)
    verdicts = store.verdicts(report.evaluation.id)
    assert len(verdicts) == 2 * n and {v.ordering for v in verdicts} == {"AB", "BA"}
    assert all(v.ok and v.reason for v in verdicts)
    # the summary is exactly what the swap-and-tie rule gives on the stored raw verdicts
    raw = {}
    for v in verdicts:
        raw.setdefault(v.question_id, {})[v.ordering] = v.winner
    outcomes = [combine_orders(r["AB"], r["BA"]) for r in raw.values()]
    s = report.summary
    assert (s["wins"], s["ties"], s["losses"], s["N"]) == (
        outcomes.count("A"),
        outcomes.count("tie"),
        outcomes.count("B"),
        n,
    )
    assert s["wins"] > s["losses"]  # complete answers beat truncated ones
    assert sum(t["N"] for t in s["by_topic"].values()) == n
    # each answer was generated once per target, judged twice per question
    assert llm.stats.served == 2 * n + 2 * n
    usage = store.llm_usage()
    assert usage["calls"] == 4 * n


class _HangAfter:
    """Delegates to a real target; after `limit` calls every further call waits forever (a kill)."""

    def __init__(self, inner, limit: int) -> None:
        self.inner, self.limit, self.calls = inner, limit, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def complete(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self.limit:
            await asyncio.Event().wait()
        return await self.inner.complete(*args, **kwargs)


async def test_resume_after_interruption_duplicates_nothing(services, llm):
    from core.evaluation.judge import build_eval_target

    store = services.store
    _add_set(store, "heldout", QUESTIONS)
    spec_a, spec_b = f"openai:{MODEL_A}", f"openai:{MODEL_B}"
    clients = [build_eval_target(services, spec_a), build_eval_target(services, spec_b)]
    judge = services.chat_target("judge")
    hanging = _HangAfter(judge, limit=3)
    task = asyncio.ensure_future(
        run_evaluation(
            store,
            target_a=spec_a,
            target_b=spec_b,
            client_a=clients[0],
            client_b=clients[1],
            judge=hanging,
            settings=EvalSettings(concurrency=2),
        )
    )
    for _ in range(500):
        if hanging.calls > 3:
            break
        await asyncio.sleep(0.01)

    def stored_verdicts() -> int:
        evaluations = store.evaluations()
        return len([v for v in store.verdicts(evaluations[0].id) if v.ok]) if evaluations else 0

    for _ in range(500):  # the third verdict is committed as it arrives (under load, a moment later)
        if stored_verdicts() >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    evaluation = store.evaluations()[0]
    assert store.evaluation(evaluation.id).status == "incomplete"
    answers_before = store.db.scalar("SELECT COUNT(*) FROM answers WHERE text IS NOT NULL")
    verdicts_before = len([v for v in store.verdicts(evaluation.id) if v.ok])
    assert verdicts_before == 3 and 0 < answers_before <= 2 * len(QUESTIONS)

    served_before = llm.stats.served
    report = await run_evaluation(
        store,
        target_a=spec_a,
        target_b=spec_b,
        client_a=clients[0],
        client_b=clients[1],
        judge=judge,
        settings=EvalSettings(concurrency=2),
    )
    assert report.evaluation.id == evaluation.id and report.complete
    n = len(QUESTIONS)
    assert store.db.scalar("SELECT COUNT(*) FROM answers") == 2 * n
    assert store.db.scalar("SELECT COUNT(*) FROM verdicts") == 2 * n
    # the rerun only asked for what was missing
    assert llm.stats.served - served_before == (2 * n - answers_before) + (2 * n - verdicts_before)
    for client in (*clients, judge):
        await client.aclose()


async def test_hostile_model_output_is_stored_and_returned_literally(services, llm):
    from core.cli.evaluate import score_table
    from core.sandbox.llm.faults import HOSTILE_MARKERS

    store = services.store
    _add_set(store, "heldout", QUESTIONS[:2], ["[bold red]x[/]\x1b[2J", "plain"])
    llm.faults.add("hostile", model=MODEL_A, probability=1.0)
    report = await evaluate(services, f"openai:{MODEL_A}", f"openai:{MODEL_B}")
    for item in load_report(store, report.evaluation.id).items:
        for marker in HOSTILE_MARKERS:
            assert marker in item.answer_a.text  # verbatim: escapes, NUL, CR and markup kept as data
    shown = blind_items(store, report.evaluation.id, "ann")
    assert all(any(m in (b.left + b.right) for m in HOSTILE_MARKERS) for b in shown)
    table = "\n".join(score_table(report.summary))
    assert "\x1b" not in table and "[bold red]x[/]" in table  # topic printed as plain, scrubbed text


# ---- blind votes, regression, experiment sheet --------------------------------------------------


async def test_blind_votes_are_recorded_per_voter_and_compared_with_the_judge(store):
    _add_set(store, "s", list(SCRIPT))
    report = await _scripted_run(store)
    ev = report.evaluation.id
    ann, bob = blind_items(store, ev, "ann"), blind_items(store, ev, "bob")
    assert blind_items(store, ev, "ann") == ann  # the same sides every time for one voter
    outcome = {item.question.id: item.outcome for item in report.items}
    for item in ann:  # ann always picks the side holding A's answer
        assert (item.left if item.a_on_left else item.right).startswith("alpha")
        assert cast_vote(store, ev, item.question_id, "ann", "left" if item.a_on_left else "right") == "A"
    for item in bob:  # bob votes tie on everything but q-loss, where he prefers B
        loss = outcome[item.question_id] == "B"
        cast_vote(store, ev, item.question_id, "bob", ("right" if item.a_on_left else "left") if loss else "tie")
    recorded = {(v.voter, v.question_id): v for v in store.votes(ev)}
    assert all(recorded[("ann", i.question_id)].a_on_left == i.a_on_left for i in ann)
    assert blind_items(store, ev, "ann", include_voted=False) == []
    assert {b.vote for b in blind_items(store, ev, "bob")} <= {"left", "right", "tie"}

    human = human_report(store, ev)
    assert (human.preference.n, human.preference.a, human.preference.b, human.preference.tie) == (8, 4, 1, 3)
    # judge: win, tie, loss, tie.  ann (A A A A) agrees once, bob (tie tie B tie) three times
    assert human.agreement.n == 8 and human.agreement.raw_agreement == 4 / 8
    assert sorted((d.voter, d.question, d.judge, d.human) for d in human.disagreements) == [
        ("ann", "q-bias", "tie", "A"),
        ("ann", "q-half", "tie", "A"),
        ("ann", "q-loss", "B", "A"),
        ("bob", "q-win", "A", "tie"),
    ]
    # p_e = 2/8*4/8 + 4/8*3/8 + 2/8*1/8 = 0.34375; kappa = (0.5 - p_e) / (1 - p_e)
    assert human.to_dict()["kappa"] == pytest.approx(0.15625 / 0.65625)


async def test_regression_check_lists_the_questions_that_got_worse(store):
    _add_set(store, "s", list(SCRIPT))
    before = await _scripted_run(store)  # alpha: win, tie, loss, tie
    worse_script = {"q-win": ("B", "A"), "q-bias": ("A", "B"), "q-loss": ("B", "A"), "q-half": ("tie", "tie")}
    after = await _scripted_run(store, worse_script, a="openai:gamma", candidate="gamma")
    check = regression_check(store, after.evaluation.id)
    assert check.previous.id == before.evaluation.id
    assert [(w.question, w.before, w.after) for w in check.worse] == [("q-win", "A", "B")]
    assert check.better == 1 and check.common == 4  # q-bias went tie -> win
    other = await _scripted_run(store, a="openai:gamma", b="openai:delta", candidate="gamma")
    with pytest.raises(EvaluationError, match="different opponents"):
        regression_check(store, other.evaluation.id, before.evaluation.id)


async def test_scores_per_job_follow_job_endpoint_evaluation(store):
    with store.db.tx() as conn:
        job_id = conn.execute(
            "INSERT INTO jobs (name, model_id, instance_type, created_at) VALUES ('ft-1', 'm', 'ml.g5.2xlarge', 0)"
        ).lastrowid
    store.add_endpoint("ft-1-ep", kind="finetuned", instance_type="ml.g5.2xlarge", job_id=job_id)
    _add_set(store, "s", list(SCRIPT))
    report = await _scripted_run(store, a="endpoint:ft-1-ep")
    assert report.evaluation.endpoint_id == store.endpoint("ft-1-ep").id
    scores = scores_by_job(store)
    assert list(scores) == ["ft-1"]
    assert scores["ft-1"]["score"] == "1 / 4" and scores["ft-1"]["endpoint"] == "ft-1-ep"


def test_target_specs():
    assert str(TargetSpec.parse(" endpoint:my-ep-1 ")) == "endpoint:my-ep-1"
    assert TargetSpec.parse("openai:meta-llama/Llama-3.3-70B-Instruct").name == "meta-llama/Llama-3.3-70B-Instruct"
    for bad in ("gpt-4o", "endpoint:bad_name", "vertex:x", "openai:"):
        with pytest.raises(EvaluationError):
            TargetSpec.parse(bad)


# ---- headless ----------------------------------------------------------------------------------


def _cli(argv: list[str], config: Config, capsys) -> tuple[int, str, str]:
    from core.cli.main import build_parser, run_headless

    code = run_headless(build_parser().parse_args(argv), config)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_eval_run_json_and_table(services, tmp_path, capsys):
    store = services.store
    path = _write(tmp_path, "q.csv", "question,topic\n" + "".join(f'"{q}",t{i % 2}\n' for i, q in enumerate(QUESTIONS)))
    code, out, _ = _cli(
        ["questions", "import", "--session", "evals", "--set", "heldout", str(path)], services.config, capsys
    )
    assert code == 0 and "imported 5 questions" in out
    code, _, err = _cli(
        ["questions", "import", "--session", "evals", "--set", "other", str(_write(tmp_path, "bad.jsonl", "{}\n"))],
        services.config,
        capsys,
    )
    assert code == 2 and "bad.jsonl:1:" in err and store.question_set("other") is None

    argv = [
        "eval",
        "run",
        "--session",
        "evals",
        "--a",
        f"openai:{MODEL_A}",
        "--b",
        f"openai:{MODEL_B}",
        "--set",
        "heldout",
    ]
    code, out, _ = _cli([*argv, "--json"], services.config, capsys)
    data = json.loads(out)
    assert code == 0
    assert {"wins", "ties", "losses", "N", "score", "interval", "position_consistency"} <= set(data)
    assert data["N"] == 5 and data["wins"] + data["ties"] + data["losses"] == 5
    code, out, _ = _cli(argv, services.config, capsys)  # resumes: nothing new to ask, same numbers
    assert code == 0 and f"score              {data['score']}" in out and "position consist." in out
    assert len(store.evaluations()) == 1

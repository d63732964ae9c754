"""Fault sweep: generation, judging and job polling under LLM and AWS faults, and SIGKILL of the
headless verbs. For every fault: no exception escapes (only the typed stop of a fatal one), the
stored error says what happened, nothing is lost (each item is committed or left to resume), and
a rerun completes with no duplicates.

Covered elsewhere and not repeated here: random fault mixes per call (test_llm), during
generation (test_generate), truncated and hostile answers in judging (test_judge); ListTrainingJobs
throttling backoff with a stubbed client and ResourceLimitExceeded from real quotas (test_jobs);
SIGKILL of the store (test_store) and of `tunedeck generate` (test_generate).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC
from pathlib import Path

import pytest

from core.evaluation.judge import EvalSettings, EvaluationError, run_evaluation
from core.generation.generate import GenerationSettings, GenerationStopped, PairGenerator
from core.sessions import open_session
from core.training.metrics import job_curves
from tests.jobs_support import (
    EVAL_LOSS,
    INSTANCE,
    TRAIN_LOSS,
    add_dataset,
    log_lines,
    logged_step_losses,
    make_config,
    make_service,
    make_store,
    run_until,
    sweep,
)

ROOT = Path(__file__).resolve().parent.parent
MODEL_A, MODEL_B, JUDGE = "meta-llama/Llama-3.1-8B-Instruct", "gpt-4o-mini", "gpt-4o"

# ---- LLM faults x generation and judging ---------------------------------------------------------

LLM_FAULTS = {  # kind: what the stored error says in generation, in judging; whether it stops the run
    "429": (r"rate limit hit \(429\).*gave up after 2 attempts",) * 2 + (False,),
    "429_quota": (r"quota exhausted",) * 2 + (True,),
    "500": (r"temporary failure \(500\).*gave up after 2 attempts",) * 2 + (False,),
    "503": (r"temporary failure \(503\).*gave up after 2 attempts",) * 2 + (False,),
    "reset": (r"could not reach .*gave up after 2 attempts",) * 2 + (False,),
    "stall": (r"timed out after 0\.4 s.*gave up after 2 attempts",) * 2 + (False,),
    "malformed_json": (r"not valid JSON", r"no verdict found in judge reply", False),
    "truncated": (r"cut off", r"reply was cut off at \d+ tokens", False),
}
FAULTY_TOPIC = "Prepayment meters"  # every call about it fails (429_quota: every call)
FAULTY_QUESTION = "What happens to my prepayment meter credit when I move home?"
QUESTIONS = [FAULTY_QUESTION, "How do I read a two-rate electricity meter?", "Why did my direct debit go up?"]


@pytest.fixture
def session(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    store = open_session("faults")
    yield store, llm.base_url
    store.close()


def fast_target(store, base_url: str, model: str):
    """An OpenAI-compatible target on the emulator: two attempts, millisecond backoff, 0.4 s timeout,
    each call recorded in the store like Services records them."""
    from core.llm.targets import build_target
    from core.llm.throttle import AdaptiveLimiter, LimiterConfig

    def record(call) -> None:
        store.record_llm_call(
            profile=call.profile,
            model=call.model,
            purpose=call.purpose or "",
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            latency_ms=call.latency_s * 1000,
            cost_usd=call.cost_usd,
            error=call.error,
        )

    limiter = AdaptiveLimiter(LimiterConfig(max_concurrency=8, max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.02))
    return build_target(
        {"provider": "openai", "model": model, "base_url": base_url, "api_key_env": "OPENAI_API_KEY", "timeout_s": 0.4},
        limiter=limiter,
        on_call=record,
    )


def inject(llm, kind: str, phrase: str) -> None:
    llm.configure(stall_s=1.0)
    llm.faults.add(kind, probability=1.0, prompt_contains=None if kind == "429_quota" else phrase, retry_after_ms=20)


async def _generate(store, base_url):
    target = fast_target(store, base_url, MODEL_A)
    try:
        return await PairGenerator(store, target, GenerationSettings(questions_per_topic=2, refusal_share=0)).run()
    finally:
        await target.aclose()


@pytest.mark.parametrize("kind", list(LLM_FAULTS))
async def test_generation_under_llm_fault(session, llm, kind):
    store, base_url = session
    for name in (FAULTY_TOPIC, "Reading the meter", "Direct debits"):
        store.add_topic(name, None, description=f"{name} for UK household energy customers")
    inject(llm, kind, FAULTY_TOPIC)
    expected, _, stops = LLM_FAULTS[kind]
    if stops:
        with pytest.raises(GenerationStopped, match=expected):
            await _generate(store, base_url)
    else:
        progress = await _generate(store, base_url)
        assert progress.failed >= 1 and re.search(expected, progress.last_error)
    assert llm.faults.fired.get(kind)
    tasks = store.tasks()
    failed = [t for t in tasks if t.status == "failed"]
    assert failed and all(re.search(expected, t.error) for t in failed)  # the reason, per task
    errors = [r["error"] for r in store.db.query("SELECT error FROM llm_calls WHERE error IS NOT NULL")]
    assert errors and all(re.search(expected.split(".*")[0], e) for e in errors)  # each failed call, recorded
    done_before = {p.task_key: p.answer for p in store.iter_pairs()}
    assert set(done_before) == {t.key for t in store.tasks("answer", "done")}  # each finished answer, committed

    llm.faults.clear()
    await _generate(store, base_url)
    pairs = list(store.iter_pairs())
    assert store.task_counts() == {"pending": 0, "done": len(store.tasks()), "failed": 0}
    assert len(pairs) == 3 * 2 and Counter(p.task_key for p in pairs).most_common(1)[0][1] == 1
    assert all(p.answer == done_before.get(p.task_key, p.answer) for p in pairs)  # nothing redone


async def _evaluate(store, base_url):
    targets = [fast_target(store, base_url, m) for m in (MODEL_A, MODEL_B, JUDGE)]
    try:
        return await run_evaluation(
            store,
            target_a=f"openai:{MODEL_A}",
            target_b=f"openai:{MODEL_B}",
            client_a=targets[0],
            client_b=targets[1],
            judge=targets[2],
            settings=EvalSettings(max_tokens=300, concurrency=3),
        )
    finally:
        for target in targets:
            await target.aclose()


@pytest.mark.parametrize("kind", list(LLM_FAULTS))
async def test_judging_under_llm_fault(session, llm, kind):
    store, base_url = session
    store.create_question_set("heldout", [(q, "energy", None) for q in QUESTIONS])
    inject(llm, kind, FAULTY_QUESTION)
    _, expected, stops = LLM_FAULTS[kind]
    if stops:
        with pytest.raises(EvaluationError, match=expected):
            await _evaluate(store, base_url)
        evaluation = store.evaluations()[0]
    else:
        evaluation = (await _evaluate(store, base_url)).evaluation
    assert llm.faults.fired.get(kind)
    answers = store.db.query("SELECT text, error FROM answers")
    verdicts = store.verdicts(evaluation.id)
    failures = [a["error"] for a in answers if a["error"]] + [v.error for v in verdicts if v.error]
    assert all(re.search(expected, e) for e in failures), failures
    assert failures and store.evaluation(evaluation.id).status == "incomplete"

    llm.faults.clear()
    report = await _evaluate(store, base_url)
    assert report.evaluation.id == evaluation.id and report.complete
    assert store.db.scalar("SELECT COUNT(*) FROM answers") == 2 * len(QUESTIONS)
    assert len(store.verdicts(evaluation.id)) == 2 * len(QUESTIONS)


# ---- AWS faults x job submission, status polling and metric fetching ------------------------------

AWS_CODES = ("ThrottlingException", "AccessDeniedException", "ExpiredTokenException", "ResourceLimitExceeded")
POLL_ACTIONS = ("ListTrainingJobs", "DescribeTrainingJob", "FilterLogEvents", "GetMetricData")


def _reported(summaries, action: str, code: str) -> bool:
    """Some round named the failed call and its code (or, for SageMaker throttling, backed off)."""
    for summary in summaries:
        if any(code in e and action in e for e in summary.errors):
            return True
        backed_off = summary.throttled and action in ("ListTrainingJobs", "DescribeTrainingJob")
        if code == "ThrottlingException" and backed_off:
            return True
    return False


@pytest.mark.parametrize("code", AWS_CODES)
def test_jobs_under_aws_fault(aws, tmp_path, code):
    from botocore.config import Config as BotoConfig

    aws.set_quotas(training={INSTANCE: 2})
    store = make_store(tmp_path)
    add_dataset(store, aws, rows=40)
    no_retry = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"})  # the fault reaches tunedeck
    service = make_service(
        store, make_config(aws), client_factory=lambda name: aws.client(name, no_retry), log_settle_seconds=0.5
    )
    _, jobs = sweep(service, "epoch=6", "learning_rate=1e-4,2e-4", mode="list")

    aws.inject_fault("CreateTrainingJob", code)
    first = service.tick()
    refused = store.job(first.requeued[0])  # back in the queue, not failed: nothing lost
    assert refused.status == "Queued" and refused.failure_reason.startswith(f"{code}: ")
    if code in ("AccessDeniedException", "ExpiredTokenException"):  # the caller, not the job: stop launching
        assert first.launched == [] and any(code in e and "credentials or permissions" in e for e in first.errors)

    for action in POLL_ACTIONS:  # each fires on its next call, whenever polling makes it
        aws.inject_fault(action, code)
    summaries = run_until(service, service.idle, timeout=40, interval=0.1)
    fired = aws.faults_fired
    for action in ("CreateTrainingJob", *POLL_ACTIONS):
        assert fired.get((action, code)) == 1, (action, fired)
    for action in POLL_ACTIONS:
        assert _reported([first, *summaries], action, code), action

    assert [j.status for j in store.jobs()] == ["Completed", "Completed"]
    assert all(j.failure_reason is None for j in store.jobs())
    for job in jobs:  # every logged point once, none missing
        messages = log_lines(aws, job.name)
        text = "\n".join(messages)
        curves = job_curves(store, job.id)
        assert list(curves.step_losses) == logged_step_losses(messages)
        assert list(curves.train_epoch_losses) == [float(x) for x in TRAIN_LOSS.findall(text)]
        assert list(curves.eval_epoch_losses) == [float(x) for x in EVAL_LOSS.findall(text)]
        stored = _stored_metrics(store, job.id)
        assert stored and stored == _cloudwatch_metrics(aws, store.job(job.id))


def test_no_aws_failure_escapes_a_round(aws, tmp_path):
    """An interrupted launch (ResourceInUse) met by a throttled describe, then every call failing:
    each round reports and returns; the job is not lost but queued again once SageMaker says it
    never existed."""
    from botocore.config import Config as BotoConfig

    shift = [0.0]
    store = make_store(tmp_path)
    add_dataset(store, aws, rows=40)
    no_retry = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"})
    service = make_service(
        store,
        make_config(aws, quotas={INSTANCE: 1}),
        clock=lambda: time.time() + shift[0],
        client_factory=lambda name: aws.client(name, no_retry),
    )
    _, (job,) = sweep(service, "epoch=1")
    aws.inject_fault("CreateTrainingJob", "ResourceInUse", message="Training job names must be unique")
    aws.inject_fault("DescribeTrainingJob", "ThrottlingException")
    summary = service.tick()
    assert any("ThrottlingException" in e and "DescribeTrainingJob" in e for e in summary.errors)
    aws.inject_fault("*", "ExpiredTokenException", count=None)
    for _ in range(2):
        assert any("ExpiredTokenException" in e for e in service.tick().errors)
    aws.clear_faults()
    assert store.job(job.id).status == "Launching"
    shift[0] = 121.0  # past STALE_LAUNCH_SECONDS: SageMaker is asked, and knows no such job
    service.tick(dispatch=False)
    assert store.job(job.id).status == "Queued" and "interrupted" in store.job(job.id).failure_reason


def _stored_metrics(store, job_id: int) -> list[tuple[str, int, float]]:
    return sorted((p.metric, p.timestamp_ms, p.value) for p in store.metric_points(job_id, source="metrics"))


def _cloudwatch_metrics(aws, job) -> list[tuple[str, int, float]]:
    """Every datapoint CloudWatch holds for the job's metric definitions, asked for directly."""
    from datetime import datetime, timedelta

    queries = [
        {
            "Id": f"m{k}",
            "Label": d["Name"],
            "MetricStat": {
                "Metric": {
                    "Namespace": "/aws/sagemaker/TrainingJobs",
                    "MetricName": d["Name"],
                    "Dimensions": [{"Name": "TrainingJobName", "Value": job.name}],
                },
                "Period": 1,
                "Stat": "Average",
            },
        }
        for k, d in enumerate(job.metric_definitions())
    ]
    now = datetime.now(UTC)
    page = aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=queries, StartTime=now - timedelta(minutes=5), EndTime=now
    )
    return sorted(
        (queries[int(r["Id"][1:])]["Label"], int(ts.timestamp() * 1000), value)
        for r in page["MetricDataResults"]
        for ts, value in zip(r["Timestamps"], r["Values"], strict=True)
    )


# ---- SIGKILL of the headless verbs, then a rerun ----------------------------------------------------


def _user_config(tmp_path, llm, aws=None, concurrency: int = 4) -> Path:
    lines = []
    for role, model in (("generator", MODEL_A), ("judge", JUDGE)):
        lines += [
            f"[llm.{role}]",
            f'base_url = "{llm.base_url}"',
            f'model = "{model}"',
            "rpm = 100000",
            "tpm = 100000000",
            f"max_concurrency = {concurrency}",
        ]
    if aws is not None:
        lines += [
            "[aws]",
            f'endpoint_url = "{aws.endpoint_url}"',
            f'role_arn = "{aws.role_arn}"',
            f's3_bucket = "{aws.bucket}"',
        ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _tunedeck(config: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "tui", "--config", str(config), *argv]


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 30.0, poll_s: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the command ended before it could be killed"
        assert time.monotonic() < deadline, "the command never got far enough to be killed"
        time.sleep(poll_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_sigkill_during_topic_tree_generation_then_rerun(llm, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = _user_config(tmp_path, llm, concurrency=1)  # one subtopic call at a time
    store = open_session("tree")
    llm.configure(latency_ms=150)
    command = _tunedeck(
        config,
        "topics",
        "generate",
        "--session",
        "tree",
        "--brief",
        "UK household energy supply",
        "--categories",
        "4",
        "--subtopics",
        "3",
    )
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> dict[int, set[int]]:
        found: dict[int, set[int]] = {}
        for topic in store.topics():
            if topic.parent_id is not None:
                found.setdefault(topic.parent_id, set()).add(topic.id)
        return found

    _kill_when(proc, lambda: len(children()) >= 2)
    before = children()
    categories = [t.id for t in store.topics() if t.parent_id is None]
    assert len(categories) == 4 and 2 <= len(before) < 4  # killed between two category expansions

    llm.configure(latency_ms=2)
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    after = children()
    assert set(after) == set(categories)  # every category expanded
    assert all(after[c] == kids for c, kids in before.items())  # the ones done before the kill: not again
    assert len(store.topics()) == 4 + sum(len(k) for k in after.values())
    store.close()


def _complete_export(out: Path) -> dict[str, int]:
    """{file: records} of the final-named export files present; each must parse to its end."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")):
        data = path.read_bytes()
        if path.suffix == ".jsonl":
            assert data.endswith(b"\n"), f"{path} is half-written"
            found[path.relative_to(out).as_posix()] = len([json.loads(line) for line in data.splitlines()])
        else:
            json.loads(data)
            found[path.relative_to(out).as_posix()] = 1
    return found


def test_sigkill_during_export_then_rerun(aws, llm, tmp_path, monkeypatch):
    from core.store import NewPair

    store = open_session("exp")
    answer = "Take a photo of the meter, then submit the reading online within five working days. " * 20
    store.add_pairs(
        [NewPair(f"How do I handle meter case {i}?", f"{answer} (case {i})", status="accepted") for i in range(4000)]
    )
    config = _user_config(tmp_path, llm, aws)
    out = tmp_path / "export"
    command = _tunedeck(config, "export", "--session", "exp", "--format", "instruction", "--out", str(out), "--json")
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    train = out / "train"

    def writing_train() -> bool:
        try:
            return any("train.jsonl" in name for name in os.listdir(train))
        except FileNotFoundError:
            return False

    _kill_when(proc, writing_train, poll_s=0)  # while train.jsonl is being written
    _complete_export(out)  # whatever the kill left under its final name is whole
    assert store.latest_dataset_version() is None

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    written = _complete_export(out)
    assert written == {
        "train/template.json": 1,
        "train/train.jsonl": 3200,
        "validation/template.json": 1,
        "validation/validation.jsonl": 800,
    }
    assert store.db.scalar("SELECT COUNT(*) FROM dataset_versions") == 1
    assert store.latest_dataset_version().hash == result["hash"]
    assert not [p for p in out.rglob(".*")]  # no temporary file left behind
    s3 = aws.client("s3")
    keys = {
        o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=aws.bucket)["Contents"] if result["hash"] in o["Key"]
    }
    assert sorted(k.split(result["hash"] + "/")[1] for k in keys) == sorted(written)
    assert all(keys[k] == (out / k.split(result["hash"] + "/")[1]).stat().st_size for k in keys)
    store.close()


def test_sigkill_during_evaluation_then_rerun(llm, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    store = open_session("evalkill")
    questions = [f"How do I read meter model {i} when the display is blank?" for i in range(8)]
    store.create_question_set("heldout", [(q, "meters", None) for q in questions])
    config = _user_config(tmp_path, llm, concurrency=2)
    llm.configure(latency_ms=60)
    command = _tunedeck(
        config,
        "eval",
        "run",
        "--session",
        "evalkill",
        "--a",
        f"openai:{MODEL_A}",
        "--b",
        f"openai:{MODEL_B}",
        "--set",
        "heldout",
        "--json",
    )
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    verdicts = "SELECT COUNT(*) FROM verdicts WHERE winner IS NOT NULL"
    _kill_when(proc, lambda: store.db.scalar(verdicts) >= 3)
    answers_before = {(r["question_id"], r["target"]): r["text"] for r in store.db.query("SELECT * FROM answers")}
    verdicts_before = store.db.scalar(verdicts)
    assert 3 <= verdicts_before < 2 * len(questions)
    time.sleep(0.2)  # calls in flight at the kill finish on the server side
    served = llm.stats.served

    llm.configure(latency_ms=2)
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["complete"] and summary["N"] == len(questions)
    assert len(store.evaluations()) == 1  # the killed evaluation was resumed, not started afresh
    answers = {(r["question_id"], r["target"]): r["text"] for r in store.db.query("SELECT * FROM answers")}
    assert len(answers) == 2 * len(questions) and all(answers[k] == v for k, v in answers_before.items())
    assert store.db.scalar("SELECT COUNT(*) FROM verdicts") == 2 * len(questions)
    # the rerun asked only for what was missing (a call in flight at the kill is asked again)
    missing = (2 * len(questions) - len(answers_before)) + (2 * len(questions) - verdicts_before)
    assert llm.stats.served - served == missing
    store.close()

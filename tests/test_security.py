"""Secrets never reach the session store, logs, exports or anything else written: a realistic
headless workload runs against the emulators with recognisable fake keys in the environment (one
call answered by a 401 that echoes the whole key), then every file written is scanned for them.
Session folders are private to the user. The key-literal warning itself is tested in test_config
(load_config); here: the CLI shows it without repeating the literal.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from core.sessions import open_session, session_path

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "OPENAI_API_KEY": "tdsecret-azure-3f9c0e7a5b1d4c2e8f6a09b7",  # not sk-: only knowing the key masks it
    "AWS_SECRET_ACCESS_KEY": "tdsecret/aws+Kx9QmV2rT8wYp4Lz7Nc1Bd6Fg3Hj",
    "AWS_SESSION_TOKEN": "tdsecret-session-IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ",
}
CONFIG_LITERAL = "sk-literal-in-config-0123456789abcdef"
INSTANCE = "ml.g5.2xlarge"
MODEL_A, MODEL_B = "meta-llama/Llama-3.1-8B-Instruct", "gpt-4o-mini"


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_a_realistic_workload_writes_no_secret_anywhere(aws, llm, tmp_path, monkeypatch):
    aws.set_quotas(training={INSTANCE: 1})
    config = tmp_path / "home" / ".config" / "tunedeck" / "config.toml"  # where a user keeps it
    config.parent.mkdir(parents=True)
    config.write_text(
        f"# my old key, do not use: {CONFIG_LITERAL}\n"
        f'[llm.generator]\nbase_url = "{llm.base_url}"\nmodel = "{MODEL_A}"\nrpm = 100000\ntpm = 100000000\n'
        f'[llm.judge]\nbase_url = "{llm.base_url}"\nmodel = "{MODEL_B}"\nrpm = 100000\ntpm = 100000000\n'
        f'[jumpstart.quotas]\n"{INSTANCE}" = 1\n'
    )
    workdir = tmp_path / "tmp"
    workdir.mkdir()
    env = {**os.environ, **aws.environment(), **SECRETS, "TMPDIR": str(workdir)}
    for name, value in {**SECRETS, "TMPDIR": str(workdir)}.items():
        monkeypatch.setenv(name, value)  # for the in-process playground call below
    logs = tmp_path / "logs"
    logs.mkdir()
    out = tmp_path / "exports"

    def tunedeck(*argv: str, expect: int = 0) -> str:
        name = f"{len(list(logs.iterdir())) // 2:02d}-" + "-".join(a for a in argv[:2] if not a.startswith("-"))
        with open(logs / f"{name}.out", "w") as stdout, open(logs / f"{name}.err", "w+") as stderr:
            code = subprocess.run(
                [sys.executable, "-m", "tui", *argv], cwd=ROOT, env=env, stdout=stdout, stderr=stderr, timeout=90
            ).returncode
            stderr.seek(0)
            errors = stderr.read()
        assert code == expect, errors
        assert "secret key literal" in errors and CONFIG_LITERAL not in errors  # warned, not repeated
        return errors

    tunedeck(
        "topics",
        "generate",
        "--session",
        "sec",
        "--brief",
        "UK household energy: bills, meters, tariffs",
        "--categories",
        "2",
        "--subtopics",
        "2",
    )
    llm.faults.add("401")  # a server that echoes the key it was sent
    refused = tunedeck("generate", "--session", "sec", "--questions-per-topic", "2", expect=2)
    assert "rejected the API key (401)" in refused and llm.stats.faults == {"401": 1}
    tunedeck("generate", "--session", "sec", "--questions-per-topic", "2")
    tunedeck("curate", "--session", "sec", "--score")
    tunedeck(
        "export",
        "--session",
        "sec",
        "--format",
        "instruction",
        "--validation-share",
        "0.25",
        "--include-flagged",
        "--out",
        str(out),
    )
    tunedeck(
        "sweep",
        "launch",
        "--session",
        "sec",
        "--instance",
        INSTANCE,
        "--param",
        "epoch=1",
        "--accept-eula",
        "--yes",
        "--watch",
        "--interval",
        "1",
    )
    questions = tmp_path / "heldout.csv"
    questions.write_text("question,topic\nHow do I read my smart meter?,meters\nWhy is my bill estimated?,bills\n")
    tunedeck("questions", "import", "--session", "sec", "--set", "heldout", str(questions))
    tunedeck("eval", "run", "--session", "sec", "--a", f"openai:{MODEL_A}", "--b", f"openai:{MODEL_B}", "--json")
    _playground_round(out / "winner.toml")

    store = open_session("sec", create=False)
    try:
        assert store.db.scalar("SELECT COUNT(*) FROM jobs WHERE status = 'Completed'") == 1
        assert store.db.scalar("SELECT COUNT(*) FROM llm_calls WHERE error LIKE '%401%'") >= 1  # the refusal, kept
        assert store.db.scalar("SELECT COUNT(*) FROM samples WHERE text != ''") == 2
    finally:
        store.close()

    folder = session_path("sec")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in _files(folder)} == {"0o600"}
    written = _files(tmp_path)
    assert any(p.name == "session.db" for p in written) and any(p.suffix == ".jsonl" for p in written)
    leaks = [(str(p), name) for p in written for name, secret in SECRETS.items() if secret.encode() in p.read_bytes()]
    assert leaks == []
    assert [p for p in written if CONFIG_LITERAL.encode() in p.read_bytes()] == [config]
    remote = _what_aws_holds(aws)
    assert remote and not [name for name, secret in SECRETS.items() if secret.encode() in remote]


def _playground_round(export_to: Path) -> None:
    """One playground run as the Playground pane does it: two streamed samples, the version exported."""
    from core.config import load_config
    from core.playground.rounds import Params, export_version, plan_run, save_version, stream_runs
    from core.services import Services

    store = open_session("sec", create=False)
    config = load_config()

    async def run() -> None:
        target = Services(store, config).chat_target("generator")
        try:
            version = save_version(store, "v1", "You help UK energy customers. Be brief.", Params(0.7, 0.9, 120))
            plan = plan_run(
                store,
                slot="A",
                target_name=f"openai:{MODEL_A}",
                system_prompt=version.system_prompt,
                params=Params.of(version),
                question="How do I submit a meter reading?",
                k=2,
                version_id=version.id,
            )
            await stream_runs(store, target, [plan])
            export_version(store, version, export_to)
        finally:
            await target.aclose()

    try:
        asyncio.run(run())
    finally:
        store.close()


def _what_aws_holds(aws) -> bytes:
    """What the workload left in AWS: the uploaded dataset, the training jobs as SageMaker describes
    them (environment, hyperparameters, tags), and their logs."""
    s3, sagemaker, logs = aws.client("s3"), aws.client("sagemaker"), aws.client("logs")
    held = [
        s3.get_object(Bucket=aws.bucket, Key=o["Key"])["Body"].read()
        for o in s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])
    ]
    for job in sagemaker.list_training_jobs()["TrainingJobSummaries"]:
        held.append(
            json.dumps(sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"]), default=str).encode()
        )
    held += [
        e["message"].encode()
        for e in logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs").get("events", [])
    ]
    return b"\n".join(held)


def test_session_folders_are_private_even_with_a_permissive_umask(tmp_path):
    """Under umask 000 a new session's folder is 0700 and its database files 0600."""
    script = (
        "import os; os.umask(0); from core.sessions import open_session; s = open_session('open'); "
        "s.set_meta('k', 1); s.log('info', 'test', 'x'); s.close()"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
    folder = session_path("open")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = _files(folder)
    assert {p.name for p in files} >= {"session.db"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o600" for p in files}


def test_a_new_sessions_folder_is_private(tmp_path):
    """The folder that holds the sessions lists their names: it is created 0700 too."""
    root = tmp_path / "fresh" / "sessions"
    script = "import os; os.umask(0); from core.sessions import open_session; open_session('s').close()"
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        check=True,
        timeout=60,
        env={**os.environ, "TUNEDECK_SESSIONS_DIR": str(root)},
    )
    assert stat.S_IMODE(root.stat().st_mode) == 0o700

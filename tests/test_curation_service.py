"""Curation and export over a session store, and the curate/export verbs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.curation.service import export_dataset, run_curation, score_pairs
from core.services import Services
from core.sessions import open_session
from core.store import NewPair

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store():
    store = open_session("curate")
    topic = store.add_topic("Meters")
    pairs = [
        NewPair(
            f"How do I read meter model {i} during winter months?",
            f"Check the display of model {i}; the first five digits are the reading.",
            topic_id=topic,
        )
        for i in range(30)
    ]
    pairs += [
        NewPair(
            "How do I read my smart meter display?", "Press the button until the kWh reading shows.", topic_id=topic
        ),
        NewPair("How can I read my smart meter's display?", "Press the button until kWh shows.", topic_id=topic),
        NewPair("What is a tariff?", "### ANSWER\nA tariff is the price plan you pay for energy.", topic_id=topic),
        NewPair(
            "Can you give me my neighbour's address?",
            "I can't share other people's details.",
            kind="refusal",
            tags=("refusal",),
        ),
    ]
    store.add_pairs(pairs)
    yield store
    store.close()


def test_curation_flags_lints_duplicates_and_low_quality(store):
    config = load_config(include_user=False)
    summary = run_curation(store, config)
    assert summary.clusters >= 1 and summary.flags_by_code.get("header_leak") == 1
    flagged = {p.question: {f["code"] for f in p.flags} for p in store.iter_pairs() if p.flags}
    assert "header_leak" in flagged["What is a tariff?"]
    assert any(code.startswith("duplicate_") for codes in flagged.values() for code in codes)
    pair = next(p for p in store.iter_pairs() if p.question == "What is a tariff?")
    store.set_score(pair.id, 3.0, {"reason": "leaks a header"})
    config.curation.min_quality = 7.0
    assert run_curation(store, config).low_quality == 1
    config.curation.min_quality = 2.0  # the threshold changes without scoring again
    assert run_curation(store, config).low_quality == 0


def test_quality_scores_are_stored_once(store, llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    config = load_config(include_user=False)
    config.llm.judge.base_url = llm.base_url
    config.llm.judge.rpm, config.llm.judge.tpm = 100_000, 100_000_000

    async def run():
        target = Services(store, config).chat_target("judge")
        try:
            return await score_pairs(store, target)
        finally:
            await target.aclose()

    done, failures, _ = asyncio.run(run())
    assert done + failures == 34 and done > 0
    assert all(1 <= p.score <= 10 for p in store.iter_pairs() if p.score is not None)
    calls = store.llm_usage()["calls"]
    again, _, _ = asyncio.run(run())
    assert again == failures  # only what failed is asked again
    assert store.llm_usage()["calls"] == calls + failures


def test_export_uploads_once_and_records_the_version(store, aws):
    config = load_config(include_user=False)
    config.aws.endpoint_url, config.aws.s3_bucket = aws.endpoint_url, aws.bucket
    first = export_dataset(store, config, format="instruction", validation_share=0.2)
    s3 = aws.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=aws.bucket)["Contents"]]
    assert any(k.endswith("train/train.jsonl") for k in keys) and any(k.endswith("template.json") for k in keys)
    assert first.channels["training"].endswith("/train/") and "validation" in first.channels
    second = export_dataset(store, config, format="instruction", validation_share=0.2)
    assert second.s3_uri == first.s3_uri
    assert store.latest_dataset_version().hash == first.version.hash
    assert store.status_counts()["dataset_versions"] == 1
    chat = export_dataset(store, config, format="chat", validation_share=None, upload=False)
    assert chat.version.hash != first.version.hash and chat.s3_uri is None


def test_export_verb_writes_files_and_reports_json(store, tmp_path):
    store.close()
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui",
            "export",
            "--session",
            "curate",
            "--format",
            "chat",
            "--out",
            str(out),
            "--no-upload",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["counts"]["train"] + data["counts"]["validation"] == 34 and data["s3_uri"] is None
    lines = (out / "train" / "train.jsonl").read_text().splitlines()
    assert all("dialog" in json.loads(line) for line in lines)
    bad = subprocess.run(
        [sys.executable, "-m", "tui", "export", "--session", "curate", "--format", "chat", "--validation-share", "1.5"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert bad.returncode == 2 and "--validation-share" in bad.stderr

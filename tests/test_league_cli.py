"""League mode headless, as in the competition: no AWS variables or credentials at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.dataset.jumpstart import content_hash, write_files
from core.sessions import open_session

ROOT = Path(__file__).resolve().parent.parent
LOGS = Path(__file__).parent / "data" / "logs"
FILES = {
    "train/train.jsonl": b'{"instruction": "q", "context": "", "response": "a"}\n',
    "train/template.json": b'{"prompt": "{instruction}", "completion": " {response}"}',
}


def tunedeck(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # no instance metadata service to ask either
    return subprocess.run(
        [sys.executable, "-m", "tui", *args, "--session", "event"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=env,
        input=stdin,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_cards_runs_logs_and_submissions_without_aws(tmp_path):
    store = open_session("event")
    dataset = store.add_dataset_version(content_hash(FILES), "instruction", counts={"train": 1})
    store.close()
    write_files(FILES, tmp_path / "export")
    assert tunedeck("league", "mode", "console").returncode == 0

    planned = tunedeck(
        "league", "cards", "--instance", "ml.g5.12xlarge", "--param", "lora_r=8,256",
        "--folder", str(tmp_path / "export"), "--markdown", str(tmp_path / "cards.md"), "--json",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    cards = json.loads(planned.stdout)["cards"]
    first, second = (card["job_name"] for card in cards)
    assert dataset.hash[:8] in first and "| lora_r | `256` | `8` | yes |" in (tmp_path / "cards.md").read_text()

    same = tunedeck("sweep", "plan", "--console", "--instance", "ml.g5.12xlarge", "--param", "lora_r=8,256", "--json")
    assert [c["hyperparameters"] for c in json.loads(same.stdout)["cards"]] == [c["hyperparameters"] for c in cards]

    assert tunedeck("runs", "add", first, "--start", "2025-06-30T10:00+00:00", "--duration", "1h10m",
                    "--status", "Completed").returncode == 0  # fmt: skip
    assert "exists already" in one_line_error(tunedeck("runs", "add", first, "--instance", "ml.g5.2xlarge"))
    assert tunedeck("runs", "add", second, "--start", "now").returncode == 0
    listed = json.loads(tunedeck("runs", "--json").stdout)["runs"]
    assert [r["hyperparameters"]["lora_r"] for r in listed] == ["8", "256"] and listed[0]["training_hours"] == 1.167

    imported = tunedeck("runs", "import-log", first, str(LOGS / "filter-log-events.json"), "--json")
    assert json.loads(imported.stdout)["train_epoch_losses"] == [1.5, 1.05]
    assert "line 1" in one_line_error(tunedeck("runs", "import-log", second, str(LOGS / "no-training-lines.txt")))
    assert tunedeck("runs", "import-log", second, "-", stdin=(LOGS / "pasted.txt").read_text()).returncode == 0
    assert tunedeck("runs", "edit", second, "--status", "Completed", "--end", "now").returncode == 0

    assert "more than the 50 questions" in one_line_error(tunedeck("league", "submit", first, "--score", "51/50"))
    refused = one_line_error(tunedeck("league", "submit", first, "--score", "44/50"))
    assert "flagged as overfitting: eval - train gap" in refused and "--yes" in refused
    assert tunedeck("league", "submit", first, "--score", "44/50", "--rank", "3", "--yes").returncode == 0
    assert tunedeck("league", "submit", second, "--score", "80%", "--yes").returncode == 0

    shown = json.loads(tunedeck("league", "--json").stdout)
    assert [(s["run"], s["score"], s["best"]) for s in shown["submissions"]] == [
        (first, "44/50", True),
        (second, "80%", False),
    ]
    assert shown["limits"]["mode"] == "console" and shown["calibration"]["verdict"] == "inconclusive"


def test_verbs_that_need_aws_say_so_in_one_line_in_console_mode():
    open_session("event").close()
    assert tunedeck("league", "mode", "console").returncode == 0
    assert one_line_error(tunedeck("jobs", "stop", "td-x-001")).endswith(
        "console mode: tunedeck does not stop training jobs; stop it in the SageMaker console, "
        "then record its status with `runs edit`"
    )
    assert "console mode: tunedeck does not poll training jobs" in one_line_error(tunedeck("jobs", "--watch"))
    listed = tunedeck("jobs")
    assert listed.returncode == 0 and "no jobs in this session" in listed.stdout and listed.stderr == ""

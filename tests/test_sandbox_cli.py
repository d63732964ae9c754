"""`tunedeck sandbox`: prints exports a script can eval, serves real clients, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
from openai import OpenAI

ROOT = Path(__file__).resolve().parent.parent


def test_sandbox_exports_work_for_boto3_and_openai():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENAI_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "sandbox"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        exports = {}
        for line in proc.stdout:
            if line.startswith("#"):
                break
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value.strip("'")
        assert {"AWS_ENDPOINT_URL", "OPENAI_BASE_URL", "TUNEDECK_ROLE_ARN", "TUNEDECK_S3_BUCKET"} <= set(exports)
        assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        s3 = boto3.client(
            "s3",
            endpoint_url=exports["AWS_ENDPOINT_URL"],
            region_name=exports["AWS_DEFAULT_REGION"],
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        )
        assert exports["TUNEDECK_S3_BUCKET"] in {b["Name"] for b in s3.list_buckets()["Buckets"]}
        client = OpenAI(base_url=exports["OPENAI_BASE_URL"], api_key=exports["OPENAI_API_KEY"], max_retries=0)
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0

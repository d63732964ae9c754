"""Storage clean-up: the session's S3 objects with sizes and monthly cost, deleting chosen ones
after asking (--yes), never outside the session's prefix (emulated S3)."""

from __future__ import annotations

import json

import pytest

from core.config import Config
from core.sessions import open_session
from core.storage import StorageError, delete_objects, list_objects


def _put(s3, bucket: str, key: str, size: int) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)


def test_list_and_delete_only_the_sessions_objects(aws, boto3_clients):
    s3 = boto3_clients.s3
    store = open_session("store-me")
    config = Config()
    config.aws.s3_bucket, config.aws.s3_prefix = aws.bucket, "tunedeck"
    _put(s3, aws.bucket, "tunedeck/store-me/abc123/train/train.jsonl", 3000)
    _put(s3, aws.bucket, "tunedeck/store-me/training/td-1/output/model/model.safetensors", 9000)
    _put(s3, aws.bucket, "tunedeck/someone-else/x.jsonl", 10)
    objects = list_objects(s3, config, store)
    assert [(o.kind, o.size) for o in objects] == [("training output", 9000), ("dataset", 3000)]
    assert objects[0].usd_per_month == pytest.approx(9000 / 1e9 * 0.023)
    with pytest.raises(StorageError, match="not under this session's prefix"):
        delete_objects(s3, config, store, ["tunedeck/someone-else/x.jsonl"])
    assert delete_objects(s3, config, store, [objects[0].key]) == 1
    assert [o.key for o in list_objects(s3, config, store)] == [objects[1].key]
    assert s3.get_object(Bucket=aws.bucket, Key="tunedeck/someone-else/x.jsonl")["ContentLength"] == 10
    store.close()


def test_storage_verb_lists_and_asks_before_deleting(aws, boto3_clients, monkeypatch, capsys):
    from core.cli.main import parse, run_headless

    for key, value in aws.environment().items():
        monkeypatch.setenv(key, value)
    open_session("store-cli").close()
    key = "tunedeck/store-cli/h1/train/train.jsonl"
    _put(boto3_clients.s3, aws.bucket, key, 2_000_000)

    def run(*argv: str) -> tuple[int, str]:
        args, config = parse(list(argv))
        config.aws.s3_prefix = "tunedeck"
        code = run_headless(args, config)
        return code, capsys.readouterr().out

    code, out = run("storage", "--session", "store-cli", "--json")
    assert code == 0 and json.loads(out)["objects"][0]["key"] == key
    code, out = run("storage", "delete", key, "--session", "store-cli")
    assert code == 1 and "nothing deleted" in out
    code, out = run("storage", "delete", key, "--session", "store-cli", "--yes")
    assert code == 0 and "deleted 1 object(s)" in out
    code, out = run("storage", "--session", "store-cli")
    assert code == 0 and "0 object(s)" in out

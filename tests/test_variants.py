"""LLM variants of accepted pairs against the emulator: tagged, on their source's split side, one undo
step, resumable; no assertion on the emulator's wording."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.dataset.jumpstart import split_pairs
from core.generation.variants import VariantSpec, make_variants
from core.services import Services
from core.sessions import open_session
from core.store import NewPair

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store():
    store = open_session("variants")
    store.add_pairs(
        NewPair(f"How do I read meter model {i}?", f"Press the button on model {i} twice.", status="accepted")
        for i in range(12)
    )
    store.add_pairs([NewPair("A pending one?", "Not a source.", status="pending")])
    yield store
    store.close()


@pytest.fixture
def config(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    config = load_config(include_user=False)
    config.llm.generator.base_url = llm.base_url
    config.llm.generator.rpm, config.llm.generator.tpm = 100_000, 100_000_000
    return config


def run(store, config, spec):
    async def body():
        target = Services(store, config).chat_target("generator")
        try:
            return await make_variants(store, target, spec)
        finally:
            await target.aclose()

    return asyncio.run(body())


def test_spanish_variants_are_tagged_follow_their_source_and_undo_in_one_step(store, config):
    progress = run(store, config, VariantSpec("language", "Spanish"))
    assert progress.done + progress.failed == 12 and progress.done > 0
    variants = [p for p in store.iter_pairs() if "variant:language" in p.tags]
    assert len(variants) == progress.done and all("variant:language:spanish" in p.tags for p in variants)
    assert {p.provenance["source_pair"] for p in variants} <= set(range(1, 13))
    train, validation = split_pairs(list(store.iter_pairs()), 0.25)
    side = {p.id: "train" for p in train} | {p.id: "validation" for p in validation}
    assert all(side[v.id] == side[v.provenance["source_pair"]] for v in variants)
    again = run(store, config, VariantSpec("language", "Spanish"))  # a rerun asks only for what failed
    assert again.skipped == progress.done and again.total == progress.failed
    before, last_run = store.count_pairs(), again.done or progress.done
    assert store.undo_last_edit() == last_run  # the last run's variants, in one step
    assert store.count_pairs() == before - last_run


def test_a_variant_needs_its_value():
    with pytest.raises(ValueError, match="needs a value"):
        VariantSpec("locale")
    assert VariantSpec("summary").tags == ("variant:summary",)


def test_the_pairs_variants_verb(store, config, tmp_path, llm):
    store.close()
    user = tmp_path / "config.toml"
    user.write_text(f'[llm.generator]\nbase_url = "{llm.base_url}"\nrpm = 100000\ntpm = 100000000\n')
    command = [sys.executable, "-m", "tui", "--config", str(user), "pairs", "variants", "--session", "variants"]
    done = subprocess.run(
        [*command, "--kind", "locale", "--value", "Texas", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**__import__("os").environ, "OPENAI_API_KEY": "k"},
    )
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    assert data["done"] + data["failed"] == 12

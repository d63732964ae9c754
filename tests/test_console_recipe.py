"""Console recipe cards: what to type into the JumpStart fine-tuning form, with no AWS call."""

from __future__ import annotations

import csv
import io

import pytest

from core.config import Config
from core.dataset.jumpstart import content_hash, write_files
from core.store import Store
from core.training.console import dataset_in_name, plan_console_sweep, render_csv, render_markdown, render_text
from core.training.jobs import SweepSpec
from core.training.request import build_training_request, decode_hyperparameters

MODEL = "meta-textgeneration-llama-3-2-3b"
FILES = {
    "train/train.jsonl": b'{"instruction": "q", "context": "", "response": "a"}\n',
    "train/template.json": b'{"prompt": "{instruction}", "completion": " {response}"}',
}


@pytest.fixture
def console_session(tmp_path):
    store = Store(tmp_path / "league" / "session.db", "league")
    dataset = store.add_dataset_version(content_hash(FILES), "instruction", counts={"train": 1})
    config = Config()
    config.league.account_mode = "console"
    config.jumpstart.quotas = {"ml.g5.12xlarge": 1}
    config.aws.endpoint_url = "http://127.0.0.1:9"  # nothing listens there: any AWS call would fail the test
    config.emulated = True  # the sandbox switch: the bundled specs
    yield store, config, dataset
    store.close()


def test_each_card_lists_exactly_the_hyperparameters_its_api_request_would_send(console_session, tmp_path):
    store, config, dataset = console_session
    spec = SweepSpec.from_strings("ml.g5.12xlarge", ["learning_rate=0.0001,0.00008", "lora_r=8,256"], model_id=MODEL)
    console = plan_console_sweep(store, config, spec)
    assert len(console.cards) == 4
    from core.training.recipe import BUNDLED_SPEC_ROOT, load_recipe

    recipe = load_recipe(MODEL, console.plan.model_version, config.aws.region, spec_root=BUNDLED_SPEC_ROOT)
    for card, job in zip(console.cards, console.plan.jobs, strict=False):
        request = build_training_request(
            recipe,
            job_name=card.job_name,
            role_arn="arn:aws:iam::123456789012:role/r",
            instance_type=card.instance_type,
            hyperparameters=job.hyperparameters,
            train_s3_uri="s3://bucket/ds/train/",
            output_s3_uri="s3://bucket/out",
            accept_eula=True,
            tags={},
        )
        sent = {
            k: v
            for k, v in decode_hyperparameters(request["HyperParameters"]).items()
            if not k.startswith("sagemaker_")
        }
        assert card.values() == sent
        changed = {p.name for p in card.hyperparameters if p.changed}
        defaults = recipe.defaults_for(card.instance_type)
        assert changed == {n for n, v in sent.items() if defaults.get(n) != v}
        assert "instruction_tuned" in changed  # the dataset format's flag, not the spec default
        assert dataset.hash[:8] in card.job_name
        assert dataset_in_name(store, card.job_name) == dataset
    assert len({c.job_name for c in console.cards}) == 4


def test_cards_name_their_defaults_source_and_render_the_same_values(console_session, tmp_path):
    store, config, dataset = console_session
    folder = tmp_path / "export"
    write_files(FILES, folder)
    console = plan_console_sweep(
        store, config, SweepSpec.from_strings("ml.g5.12xlarge", ["epoch=2"], model_id=MODEL), export_folder=folder
    )
    (card,) = console.cards
    assert card.defaults.assumed and "bundled offline spec" in card.defaults.description
    assert card.location.folder_matches is True
    assert [name for name, _ in card.location.files] == ["train/template.json", "train/train.jsonl"]
    text = render_text(console.cards)
    assert card.job_name in text and "train/train.jsonl" in text and "bundled offline spec" in text
    epoch_line = next(line for line in text.splitlines() if line.strip().startswith("epoch "))
    assert "= 2" in epoch_line and "* changed (default: 5)" in epoch_line
    assert "EULA: accept it" in text
    rows = list(csv.DictReader(io.StringIO(render_csv(console.cards))))
    assert {r["hyperparameter"]: r["value"] for r in rows} == card.values()
    assert {r["hyperparameter"] for r in rows if r["changed"]} == {p.name for p in card.hyperparameters if p.changed}
    markdown = render_markdown(console.cards)
    assert "| epoch | `2` | `5` | yes |" in markdown


def test_a_folder_of_another_dataset_is_flagged(console_session, tmp_path):
    store, config, _ = console_session
    folder = tmp_path / "other"
    write_files({**FILES, "train/train.jsonl": b'{"instruction": "x", "context": "", "response": "y"}\n'}, folder)
    console = plan_console_sweep(
        store, config, SweepSpec.from_strings("ml.g5.12xlarge", [], model_id=MODEL), export_folder=folder
    )
    assert console.cards[0].location.folder_matches is False
    assert "does not hold the dataset version" in render_text(console.cards)

"""No emulator behaviour inferred from AWS_ENDPOINT_URL: only the demo or sandbox switch turns on the
compressed timing and the bundled specs; real mode reads specs the SDK's way."""

from __future__ import annotations

import shutil

import pytest

from core.config import SANDBOX_ENV, load_config
from core.training.recipe import (
    BUNDLED_SPEC_ROOT,
    DEFAULT_MODEL_ID,
    MANIFEST_DIR_ENV,
    SPECS_DIR_ENV,
    RecipeError,
    clear_recipe_cache,
    load_recipe,
    spec_root_for,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _fresh_recipes(monkeypatch):
    monkeypatch.delenv(SANDBOX_ENV, raising=False)
    monkeypatch.delenv(MANIFEST_DIR_ENV, raising=False)
    monkeypatch.delenv(SPECS_DIR_ENV, raising=False)
    clear_recipe_cache()
    yield
    clear_recipe_cache()


def test_an_endpoint_url_alone_is_real_mode_and_the_switch_is_explicit(monkeypatch, store_for_jobs):
    from core.training.jobs import AWS_TIMING, EMULATOR_TIMING, JobsService

    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://vpce-123.sagemaker.us-east-1.vpce.amazonaws.com")
    config = load_config(include_user=False)
    assert config.aws.endpoint_url.startswith("https://vpce-") and not config.emulated
    assert spec_root_for(config) is None
    service = JobsService(store_for_jobs, config)
    assert service.describe_interval == AWS_TIMING["describe_interval"] and service.spec_root is None
    monkeypatch.setenv(SANDBOX_ENV, "1")
    emulated = load_config(include_user=False)
    assert emulated.emulated and spec_root_for(emulated) == BUNDLED_SPEC_ROOT
    assert JobsService(store_for_jobs, emulated).describe_interval == EMULATOR_TIMING["describe_interval"]
    assert "emulated" not in emulated.to_dict()


def test_a_spec_mirror_from_the_config_or_the_sdks_own_variables(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    shutil.copytree(BUNDLED_SPEC_ROOT, mirror)
    path = tmp_path / "user.toml"
    path.write_text(f'[jumpstart]\nspec_root = "{mirror}"\n', encoding="utf-8")
    config = load_config(path, include_user=False)
    assert spec_root_for(config) == mirror
    assert load_recipe(DEFAULT_MODEL_ID, "*", spec_root=spec_root_for(config)).model_id == DEFAULT_MODEL_ID
    clear_recipe_cache()
    monkeypatch.setenv(MANIFEST_DIR_ENV, str(mirror / "manifest"))
    monkeypatch.setenv(SPECS_DIR_ENV, str(mirror / "specs"))
    assert load_recipe(DEFAULT_MODEL_ID, "*").model_id == DEFAULT_MODEL_ID  # no spec_root: the SDK's variables


def test_a_plain_moto_server_without_the_switch_fails_with_the_sdks_reason(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    config = load_config(include_user=False)
    assert not config.emulated and spec_root_for(config) is None
    with pytest.raises(RecipeError) as caught:
        load_recipe(DEFAULT_MODEL_ID, "*", config.aws.region)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"cannot read the JumpStart spec of {DEFAULT_MODEL_ID}")
    assert len(message.split(": ", 1)[1]) > 3  # the SDK's own reason follows


def test_the_sandbox_exports_its_switch(aws_emulator, llm_emulator):
    from core.sandbox.demo import DemoServices

    assert DemoServices(aws_emulator, llm_emulator).exports()[SANDBOX_ENV] == "1"


@pytest.fixture
def store_for_jobs():
    from core.sessions import open_session

    store = open_session("real-mode")
    yield store
    store.close()

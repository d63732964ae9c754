"""Pilot, keys only: the Compare pane's target picker lists targets on their own servers
(profile:NAME, openai:MODEL@PROFILE) and takes one picked from the list."""

from __future__ import annotations

import pytest

from core.config import LlmProfile, load_config
from core.sessions import open_session
from tests.test_compare_pane import open_compare, wait_for
from tui.app import TunedeckApp

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def config(llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = load_config(include_user=False)
    for profile, model in ((config.llm.generator, "gpt-4o-mini"), (config.llm.judge, "gpt-4o")):
        profile.base_url, profile.model = llm.base_url, model
    config.llm.profiles["reference"] = LlmProfile(
        provider="openai-compatible", model="meta-llama/Llama-3.3-70B-Instruct", base_url=llm.base_url, api_key_env=""
    )
    return config


async def test_the_picker_lists_profile_targets_and_takes_one(config):
    store = open_session("compare-targets")
    app = TunedeckApp(store, config, check_identity=False, status_interval=60)
    async with app.run_test(size=(150, 50)) as pilot:
        pane = await open_compare(pilot)
        await pilot.press("b")
        await pilot.pause()
        picker = app.screen
        values = [value for value, _label in picker.choices]
        assert "profile:reference" in values and "openai:meta-llama/Llama-3.3-70B-Instruct@reference" in values
        index = values.index("profile:reference")
        await pilot.press(*["down"] * index, "enter")
        await wait_for(pilot, lambda: pane.selection.target_b == "profile:reference")
    store.close()

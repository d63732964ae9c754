"""Pilot, keys only: an endpoint's prompt format and stop-sequence key set from the endpoints dialog
are stored per endpoint and used by its SageMaker target (what it sends)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from textual.app import App

from core.config import Config, LlmProfile
from core.llm.base import Request
from core.services import Services
from core.sessions import open_session
from tui.screens.choice_picker import ChoicePicker
from tui.screens.endpoints import EndpointsScreen

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def store():
    store = open_session("endpoint-settings")
    for name in ("tgi-ep", "lmi-ep"):
        store.add_endpoint(name, kind="finetuned", instance_type="ml.g5.2xlarge", prompt_format="instruction")
    yield store
    store.close()


class Manager:
    """The endpoints as SageMaker would list them (no AWS call)."""

    def __init__(self, store) -> None:
        self.store = store

    def list_endpoints(self, refresh: bool = True, idle_minutes: float = 30.0):
        return [
            SimpleNamespace(
                name=row.name,
                kind=row.kind,
                job_name=None,
                model_id=None,
                status="InService",
                instance_type=row.instance_type,
                price_per_hour=1.5,
                cost_so_far=0.1,
                uptime_s=60.0,
                idle_s=10.0,
                idle_warning=False,
                failure_reason=None,
            )
            for row in self.store.endpoints()
        ]


class Host(App):
    def __init__(self, store, config) -> None:
        super().__init__()
        self.dialog = EndpointsScreen(store, config, manager_factory=lambda: Manager(store), poll_seconds=60)

    def on_mount(self) -> None:
        self.push_screen(self.dialog)


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


def sent_parameters(services: Services, name: str) -> dict:
    target = services.endpoint_target(name)
    request = Request([{"role": "user", "content": "Hi"}], temperature=0.0, top_p=1.0, max_tokens=20, stop=["###"])
    return json.loads(target._invoke_args(request, stream=False)["Body"])


async def test_stop_key_and_prompt_format_from_the_dialog_reach_the_target(store):
    config = Config()
    # a config profile for lmi-ep says messages; the dialog's choice wins over it
    config.llm.profiles["lmi"] = LlmProfile(provider="sagemaker", endpoint_name="lmi-ep", prompt_format="messages")
    services = Services(store, config)
    before = sent_parameters(services, "tgi-ep")
    assert before["parameters"]["stop_sequences"] == ["###"] and "stop" not in before["parameters"]

    app = Host(store, config)
    async with app.run_test(size=(150, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.dialog.rows) == 2)
        assert app.dialog.selected.name == "tgi-ep"
        hint_line = str(app.dialog.query_one(".hint").render())
        assert "p/s: prompt format / stop key" in hint_line

        await pilot.press("s")  # stop key: pick "stop" (TGI)
        await wait_for(pilot, lambda: isinstance(app.screen, ChoicePicker))
        assert "now stop_sequences" in app.screen.title_text
        await pilot.press("up", "enter")
        await wait_for(
            pilot, lambda: "stop-sequence key is now stop" in str(app.dialog.query_one("#endpoints-status").render())
        )

        await pilot.press("down", "p")  # lmi-ep: prompt format llama3-chat
        await wait_for(pilot, lambda: isinstance(app.screen, ChoicePicker))
        assert "lmi-ep (now messages)" in app.screen.title_text
        await pilot.press("down", "enter")
        await wait_for(
            pilot, lambda: "prompt format is now llama3-chat" in str(app.dialog.query_one("#endpoints-status").render())
        )

    after = sent_parameters(services, "tgi-ep")
    assert after["parameters"]["stop"] == ["###"] and "stop_sequences" not in after["parameters"]
    lmi = sent_parameters(services, "lmi-ep")
    assert lmi["inputs"].startswith("<|begin_of_text|>") and lmi["parameters"]["stop_sequences"] == [
        "###",
        "<|eot_id|>",
    ]
    assert services.endpoint_target("lmi-ep").prompt_format == "llama3-chat"

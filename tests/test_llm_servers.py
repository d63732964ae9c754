"""Every server a user brings: provider paths, capability probing and its fallbacks, target names,
one limiter per account and model, prices (unpriced is not $0)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from core.config import Config, ConfigError, LlmProfile, load_config
from core.llm import capabilities
from core.llm.target_names import TargetNameError, list_targets, parse_target, profile_for
from core.llm.targets import build_target, shared_limiter
from core.services import Services

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

QUESTIONS_SCHEMA = {
    "type": "object",
    "properties": {"questions": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
    "required": ["questions"],
    "additionalProperties": False,
}
ASK = [
    {"role": "system", "content": "You write exam questions."},
    {"role": "user", "content": "Write 3 questions about electricity meters."},
]


def local_profile(llm, **extra):
    return {
        "provider": "openai-compatible",
        "model": "gpt-4o-mini",
        "base_url": llm.base_url,
        "api_key_env": "",
        "timeout_s": 5.0,
        **extra,
    }


@pytest.fixture
def store():
    from core.sessions import open_session

    s = open_session("llm-servers")
    yield s
    s.close()


def cli(argv: list[str]) -> int:
    from core.cli.main import parse, run_headless

    args, config = parse(argv)
    return run_headless(args, config)


def write_config(tmp_path, llm, body: str = ""):
    path = tmp_path / "user.toml"
    path.write_text(
        f"""
[llm.generator]
provider = "openai-compatible"
model = "gpt-4o-mini"
base_url = "{llm.base_url}"
api_key_env = ""
[llm.judge]
provider = "openai-compatible"
model = "gpt-4o"
base_url = "{llm.base_url}"
api_key_env = ""
{body}
""",
        encoding="utf-8",
    )
    return path


# ---- profiles ------------------------------------------------------------------------------------


def test_profiles_say_what_they_are_and_extra_profiles_and_prices_load(tmp_path, llm):
    path = write_config(
        tmp_path,
        llm,
        """
[llm.profiles.reference]
provider = "openai-compatible"
model = "meta-llama/Llama-3.3-70B-Instruct"
base_url = "http://127.0.0.1:9/v1"
api_key_env = ""
[llm.prices]
"gpt-4o-mini" = [0.1, 0.2]
""",
    )
    config = load_config(path, include_user=False)
    assert config.warnings == []
    assert config.llm.generator.provider == "openai-compatible" and config.llm.generator.api_key_env == ""
    reference = config.llm.profiles["reference"]
    assert reference.model == "meta-llama/Llama-3.3-70B-Instruct" and reference.base_url.endswith(":9/v1")
    assert config.llm.prices == {"gpt-4o-mini": [0.1, 0.2]}


def test_bad_profiles_name_the_key(tmp_path, llm):
    path = tmp_path / "bad.toml"
    path.write_text('[llm.generator]\nprovider = "openai-compatible"\nbase_url = ""\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'llm.generator.base_url' an openai-compatible profile needs"):
        load_config(path, include_user=False)
    path.write_text('[llm.profiles.x]\nprovider = "openai"\nmodle = "m"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'llm.profiles.x.modle'"):
        load_config(path, include_user=False)
    path.write_text('[llm.prices]\n"m" = [1.0]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'llm.prices.m' must be \[input, output\]"):
        load_config(path, include_user=False)


async def test_a_local_server_needs_no_key_and_is_probed_once(llm, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm.configure(quirks=("no_auth",))
    target = build_target(local_profile(llm))
    result = await target.complete(ASK, max_tokens=100)
    assert result.text
    probes = len(llm.request_log)
    assert probes >= 5  # the probe's few requests, then the call itself
    again = build_target(local_profile(llm))
    await again.complete(ASK, max_tokens=100)
    assert len(llm.request_log) == probes + 1  # cached for the session: no second probe
    assert all("authorization" not in json.dumps(r).lower() for r in llm.request_log)
    await target.aclose()
    await again.aclose()


async def test_first_calls_probe_outside_their_limiter_slots(llm):
    """Found against the real llama.cpp server: two first calls at max_concurrency 2 each held a
    slot while their probe waited for one, forever. The probe now runs before the slot is taken."""
    target = build_target(local_profile(llm, max_concurrency=2))
    results = await asyncio.wait_for(
        asyncio.gather(target.complete(ASK, max_tokens=50), target.complete(ASK, max_tokens=50)), timeout=20
    )
    assert all(r.text for r in results)
    single = build_target(local_profile(llm, model="gpt-4o", max_concurrency=1))  # not probed yet
    streamed = single.stream(ASK, max_tokens=20)
    assert await asyncio.wait_for(_joined(streamed), timeout=20)
    await target.aclose()
    await single.aclose()


async def _joined(stream) -> str:
    return "".join([d async for d in stream])


async def test_azure_needs_a_base_url_and_sends_api_key(llm, monkeypatch):
    with pytest.raises(ValueError, match="Azure OpenAI profile needs base_url"):
        build_target({"provider": "azure", "model": "gpt-4o"})
    monkeypatch.setenv("TD_AZURE_KEY", "azure-key-0001")
    target = build_target(
        {"provider": "azure", "model": "gpt-4o", "base_url": llm.base_url, "api_key_env": "TD_AZURE_KEY"}
    )
    assert target._auth_headers() == {"Authorization": "Bearer azure-key-0001", "api-key": "azure-key-0001"}
    result = await target.complete(ASK, max_tokens=50)
    assert result.text and llm.request_log[-1]["max_completion_tokens"] == 50  # known: not probed
    await target.aclose()


# ---- capability probing and fallbacks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("no-json-schema", {"json_mode": "json_object", "max_field": "max_completion_tokens", "stream_usage": True}),
        ("plain-text", {"json_mode": "prompt"}),
        ("max-tokens-only", {"json_mode": "json_schema", "max_field": "max_tokens"}),
        ("no-stream-usage", {"stream_usage": False}),
        ("bare", {"json_mode": "prompt", "max_field": "max_tokens", "stream_usage": False, "lists_models": False}),
    ],
)
async def test_probe_finds_what_each_server_variant_lacks(llm, variant, expected):
    from core.sandbox.llm.faults import SERVER_VARIANTS

    llm.configure(quirks=SERVER_VARIANTS[variant])
    target = build_target(local_profile(llm, input_price_per_mtok=1.0, output_price_per_mtok=2.0))
    report = await capabilities.probe(target)
    found = {key: getattr(report.capabilities, key) for key in expected}
    assert found == expected
    assert report.cost_usd is not None and report.cost_usd > 0
    assert all(body.get("max_tokens", body.get("max_completion_tokens", 99)) <= 16 for body in llm.request_log)
    await target.aclose()


async def test_generation_on_a_server_without_json_schema_still_gets_valid_json(llm):
    llm.configure(quirks=("no_response_format", "no_max_completion_tokens", "no_stream_usage"))
    target = build_target(local_profile(llm))
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    try:
        result = await target.complete(ASK, max_tokens=200, json_schema=schema)
    except Exception as exc:  # the emulator cannot read a schema from the prompt; the shape is what matters
        pytest.fail(f"no valid JSON: {exc}")
    sent = llm.request_log[-1]
    assert "response_format" not in sent and "max_completion_tokens" not in sent and sent["max_tokens"] == 200
    assert json.dumps(schema, separators=(",", ":")) in sent["messages"][0]["content"]
    assert isinstance(result.parsed, dict)
    stream = target.stream(ASK, max_tokens=60)
    text = "".join([d async for d in stream])
    assert text and stream.result.usage_estimated
    await target.aclose()


async def test_a_known_server_that_refuses_a_parameter_is_asked_again_without_it(llm, monkeypatch):
    monkeypatch.setenv("TD_KEY", "k")
    llm.configure(quirks=("no_max_completion_tokens", "no_json_schema"))
    target = build_target(
        {"provider": "openai", "model": "gpt-4o-mini", "base_url": llm.base_url, "api_key_env": "TD_KEY"}
    )
    await target.complete(ASK, max_tokens=300, json_schema=QUESTIONS_SCHEMA)
    sent = llm.request_log[-1]
    assert sent["max_tokens"] == 300 and sent["response_format"] == {"type": "json_object"}
    assert len(llm.request_log) == 3  # one refusal per parameter, then it works
    await target.aclose()


def test_a_failed_probe_says_what_the_server_said(llm):
    from core.llm.errors import FatalLLMError

    llm.faults.add("401", count=None)
    target = build_target(local_profile(llm))
    with pytest.raises(
        FatalLLMError, match=r"probing http://127.0.0.1:\d+/v1 \(model gpt-4o-mini\): the server said: "
    ):
        asyncio.run(target.complete(ASK, max_tokens=10))


def test_llm_check_prints_the_fallback_taken_and_its_cost(tmp_path, llm, capsys):
    llm.configure(quirks=("no_json_schema", "no_max_completion_tokens", "no_stream_usage", "no_auth"))
    path = write_config(tmp_path, llm)
    assert cli(["--config", str(path), "llm", "check", "generator"]) == 0
    out = capsys.readouterr().out
    assert "response_format" in out and "json_object" in out
    assert "max_completion_tokens  no: max_tokens" in out
    assert "usage in streams" in out and "no: estimated" in out
    assert "probe cost:" in out and "unpriced" not in out  # gpt-4o-mini is in the built-in table
    assert cli(["--config", str(path), "llm", "check", "nosuch"]) != 0


def test_llm_check_json_and_a_server_that_is_down(tmp_path, llm, capsys):
    path = tmp_path / "down.toml"
    path.write_text(
        '[llm.generator]\nprovider = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = ""\n'
        'timeout_s = 2.0\n[llm.judge]\nprovider = "bedrock"\nmodel = "meta.llama3-1-70b-instruct-v1:0"\n',
        encoding="utf-8",
    )
    assert cli(["--config", str(path), "llm", "check", "--json"]) == 1
    rows = {row["profile"]: row for row in json.loads(capsys.readouterr().out)}
    assert "could not reach" in rows["generator"]["error"]
    assert "not probed" in rows["judge"]["fixed"]


# ---- target names --------------------------------------------------------------------------------


def test_target_names_parse_and_build_profiles():
    config = Config()
    config.llm.profiles["reference"] = LlmProfile(
        provider="openai-compatible", model="llama-70b", base_url="http://127.0.0.1:8000/v1", api_key_env=""
    )
    assert str(parse_target("openai:gpt-4o@reference")) == "openai:gpt-4o@reference"
    other = profile_for("openai:other-model@reference", config)
    assert other["base_url"] == "http://127.0.0.1:8000/v1" and other["model"] == "other-model"
    assert other["input_price_per_mtok"] is None  # another model: its own price, not the profile's
    same = profile_for("profile:reference", config)
    assert same["provider"] == "openai-compatible" and same["model"] == "llama-70b"
    assert profile_for("openai:gpt-4o", config)["base_url"] == ""  # the generator's server
    for bad in ("openai:m@nosuch", "profile:nosuch", "cohere:x", "openai:@reference", "endpoint:bad_name"):
        with pytest.raises(TargetNameError):
            profile_for(bad, config)
    rows = dict(list_targets(config, ["ft-1"]))
    assert "endpoint:ft-1" in rows and "profile:judge" in rows and "openai:llama-70b@reference" in rows


async def test_a_target_on_its_own_server(llm, store, monkeypatch):
    from core.evaluation.judge import build_eval_target

    monkeypatch.setenv("TD_KEY", "k")
    config = Config()
    config.llm.generator.base_url = "http://127.0.0.1:9/v1"  # the generator's server is elsewhere
    config.llm.profiles["reference"] = LlmProfile(
        provider="openai", model="gpt-4o", base_url=llm.base_url, api_key_env="TD_KEY", max_concurrency=2
    )
    services = Services(store, config)
    target = build_eval_target(services, "openai:meta-llama/Llama-3.3-70B-Instruct@reference")
    result = await target.complete(ASK, max_tokens=40, purpose="reference")
    assert result.text and llm.request_log[-1]["model"] == "meta-llama/Llama-3.3-70B-Instruct"
    spend = store.llm_spend_by_purpose()
    assert spend["reference"]["calls"] == 1 and spend["reference"]["unpriced_calls"] == 1  # not a $0 call
    await target.aclose()


# ---- prices --------------------------------------------------------------------------------------


def test_every_call_is_priced_or_marked_unpriced():
    from core.llm.prices import BUILTIN_NOTE, price_for

    assert price_for("us.meta.llama3-2-90b-instruct-v1:0").source == BUILTIN_NOTE
    assert "unverified" in BUILTIN_NOTE
    assert price_for("gpt-4o", input_per_mtok=1.0, output_per_mtok=2.0).source == "profile"
    assert price_for("mine", overrides={"mine": [3.0, 4.0]}).cost(1_000_000, 0) == 3.0
    assert price_for("never-heard-of-it") is None
    unpriced = build_target({"provider": "openai", "model": "never-heard-of-it"})
    assert not unpriced.prices.known
    judge = build_target({"provider": "bedrock", "model": "meta.llama3-1-70b-instruct-v1:0"})
    assert judge.prices.known and judge.prices.input_per_mtok == 0.72


# ---- one limiter per account and model -----------------------------------------------------------


async def test_two_runs_in_one_process_share_the_accounts_budget(llm, store, monkeypatch):
    """Generation and scoring at once, on one account: together they stay within its RPM. The
    emulator enforces the same RPM with a bucket of 2 s (4 requests), which tolerates a server thread
    stalled for a second on a loaded machine but not two runs at 100 a minute each."""
    from core.llm.targets import limiter_for

    monkeypatch.setenv("TD_KEY", "k")
    llm.configure(rpm=120, rate_window_s=2.0)  # 2 requests per second, a burst of 4 at most
    config = Config()
    for profile in (config.llm.generator, config.llm.judge):
        profile.base_url, profile.api_key_env, profile.model = llm.base_url, "TD_KEY", "gpt-4o-mini"
        profile.rpm, profile.max_concurrency = 100, 8  # a little under the server's 120: arrival jitter
    services = Services(store, config)
    generation, scoring = services.chat_target("generator"), services.chat_target("judge")
    assert generation.limiter is scoring.limiter is shared_limiter(config.llm.generator.target_profile())

    async def run(target, n):
        for _ in range(n):
            await target.complete(ASK, max_tokens=10)

    started = time.monotonic()
    await asyncio.gather(run(generation, 4), run(scoring, 4))
    # 8 requests at 100 a minute, 3.3 of them in the burst the server's 2 s bucket allows (two limiters: 0.4 s)
    assert time.monotonic() - started >= 2.5
    assert llm.stats.served == 8 and llm.stats.status_429 == 0  # never past the RPM in any window
    await generation.aclose()
    await scoring.aclose()

    # the same two runs, each on a limiter of its own (as before): together they pass the RPM
    llm.reset()
    llm.configure(rpm=120, rate_window_s=2.0)
    alone = [
        build_target(config.llm.generator.target_profile(), limiter=limiter_for(config.llm.generator.target_profile()))
        for _ in range(3)
    ]
    await asyncio.gather(*(t.complete(ASK, max_tokens=10) for t in alone for _ in range(2)))
    assert llm.stats.status_429 > 0
    for target in alone:
        await target.aclose()


def test_an_endpoints_prompt_format_and_stop_key_come_from_the_config(store):
    config = Config()
    config.llm.profiles["tgi"] = LlmProfile(
        provider="sagemaker", endpoint_name="tgi-ep", prompt_format="llama3-chat", stop_key="stop"
    )
    services = Services(store, config)
    tgi = services.endpoint_target("tgi-ep")
    assert (tgi.prompt_format, tgi.stop_key) == ("llama3-chat", "stop")
    other = services.endpoint_target("lmi-ep")
    assert (other.prompt_format, other.stop_key) == ("messages", "stop_sequences")
    assert services.target("profile:tgi").stop_key == "stop"

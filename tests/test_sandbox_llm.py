"""The LLM emulator, exercised through the real openai client."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from core.sandbox.llm import engine as llm_engine
from core.sandbox.llm.faults import HOSTILE_MARKERS, LONG_LINE_CHARS
from core.sandbox.llm.server import LlmEmulator, go_duration
from tests.fixtures_llm import async_openai_client, openai_client

MODEL = "gpt-4o-mini"
SOLAR_Q = [{"role": "user", "content": "How should homeowners maintain solar panels through a dusty summer?"}]


def _ask(client, messages=SOLAR_Q, **kwargs):
    return client.chat.completions.create(model=kwargs.pop("model", MODEL), messages=messages, **kwargs)


def _control(llm, method: str, name: str, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(
        f"{llm.control_url}/{name}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


# --------------------------------------------------------------------------- content


def test_plain_completion_uses_the_prompts_words_and_reports_usage(llm):
    raw = openai_client(llm).chat.completions.with_raw_response.create(model=MODEL, messages=SOLAR_Q, temperature=0)
    comp = raw.parse()
    text = comp.choices[0].message.content
    assert "solar panels" in text.lower()
    assert comp.choices[0].finish_reason == "stop" and comp.model == MODEL
    assert comp.usage.completion_tokens == llm_engine.count_tokens(text)
    assert comp.usage.prompt_tokens == llm_engine.count_prompt_tokens(SOLAR_Q)
    assert comp.usage.total_tokens == comp.usage.prompt_tokens + comp.usage.completion_tokens
    assert llm.stats.served == 1 and llm.request_log[0]["temperature"] == 0


class QA(BaseModel):
    question: str
    answer: str
    topic: str


class QABatch(BaseModel):
    items: list[QA]


def test_parse_with_pydantic_schema_gives_the_requested_number_of_domain_questions(llm):
    prompt = "Generate 6 questions about heat pump installation for older houses, each with an answer."
    parsed = (
        openai_client(llm)
        .chat.completions.parse(
            model=MODEL,
            messages=[{"role": "user", "content": prompt}],
            response_format=QABatch,
            temperature=0.7,
            seed=3,
        )
        .choices[0]
        .message.parsed
    )
    assert len(parsed.items) == 6
    questions = [item.question for item in parsed.items]
    assert len(set(questions)) == 6 and all(q.endswith("?") for q in questions)
    assert all("heat pump" in q.lower() for q in questions)
    assert all(item.answer and "heat pump" in item.answer.lower() for item in parsed.items)


RICH_SCHEMA = {
    "type": "object",
    "$defs": {
        "Sub": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "difficulty": {"enum": ["easy", "medium", "hard"]}},
            "required": ["name", "difficulty"],
            "additionalProperties": False,
        }
    },
    "properties": {
        "categories": {
            "type": "array",
            "minItems": 2,
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 40},
                    "weight": {"type": "number", "minimum": 0, "maximum": 1},
                    "subtopics": {"type": "array", "items": {"$ref": "#/$defs/Sub"}, "minItems": 1},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "active": {"type": "boolean"},
                },
                "required": ["name", "weight", "subtopics", "note", "active"],
                "additionalProperties": False,
            },
        },
        "score": {"type": "integer", "minimum": 1, "maximum": 10},
    },
    "required": ["categories", "score"],
    "additionalProperties": False,
}


def test_json_schema_and_json_object_replies_validate(llm):
    client = openai_client(llm)
    messages = [{"role": "user", "content": "Domain: urban beekeeping. Propose 9 categories with 2 subtopics each."}]
    fmt = {"type": "json_schema", "json_schema": {"name": "tree", "strict": True, "schema": RICH_SCHEMA}}
    data = json.loads(_ask(client, messages, response_format=fmt).choices[0].message.content)
    jsonschema.Draft202012Validator(RICH_SCHEMA).validate(data)
    assert len(data["categories"]) == 4  # 9 asked, clamped to maxItems
    assert all(len(c["subtopics"]) == 2 for c in data["categories"])

    obj = json.loads(
        _ask(
            client,
            [{"role": "user", "content": "Describe urban beekeeping as JSON."}],
            response_format={"type": "json_object"},
        )
        .choices[0]
        .message.content
    )
    assert isinstance(obj, dict) and obj


def test_topic_tree_uses_seed_aspects_and_counts(llm):
    schema = {
        "type": "object",
        "required": ["categories"],
        "properties": {
            "categories": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "subtopics"],
                    "properties": {
                        "name": {"type": "string"},
                        "subtopics": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    }
    messages = [
        {
            "role": "user",
            "content": "Domain: home renewable energy. Seed aspects: solar panels, heat pumps, "
            "battery storage. Propose 5 categories, each with 3 subtopics.",
        }
    ]
    tree = json.loads(llm_engine.reply(messages, temperature=0, json_schema=schema))
    names = [c["name"] for c in tree["categories"]]
    assert len(names) == 5 and len(set(names)) == 5
    assert {"Solar Panels", "Heat Pumps", "Battery Storage"} <= set(names)
    assert all(len(c["subtopics"]) == 3 and len(set(c["subtopics"])) == 3 for c in tree["categories"])


def _judge_messages(question: str, first: str, second: str) -> list[dict]:
    fence = "====="
    return [
        {
            "role": "system",
            "content": 'You are an impartial judge. Reply with JSON {"winner": "A" | "B" | "tie", "reason": "..."}',
        },
        {
            "role": "user",
            "content": f"[Question]\n{fence}\n{question}\n{fence}\n\n[Answer A]\n{fence}\n{first}\n{fence}"
            f"\n\n[Answer B]\n{fence}\n{second}\n{fence}\n\nWhich answer is better?",
        },
    ]


def test_judge_prefers_the_better_answer_in_both_orders_and_scores_rank_them(llm):
    question = SOLAR_Q[0]["content"]
    good = llm_engine.reply(SOLAR_Q, temperature=0)
    poor = "No idea."
    verdict_schema = {
        "type": "object",
        "properties": {"winner": {"type": "string", "enum": ["A", "B", "tie"]}, "reason": {"type": "string"}},
        "required": ["winner", "reason"],
        "additionalProperties": False,
    }
    ab = json.loads(llm_engine.reply(_judge_messages(question, good, poor), temperature=0, json_schema=verdict_schema))
    ba = json.loads(llm_engine.reply(_judge_messages(question, poor, good), temperature=0))  # free-form JSON
    assert (ab["winner"], ba["winner"]) == ("A", "B")
    assert ab["reason"]

    def score(answer: str) -> dict:
        messages = [
            {"role": "system", "content": 'Rate the pair. Reply {"overall": 1-10, "clarity": 1-10, "reason": "..."}'},
            {"role": "user", "content": f"[Question]\n=====\n{question}\n=====\n\n[Answer]\n=====\n{answer}\n====="},
        ]
        return json.loads(llm_engine.reply(messages, temperature=0))

    high, low = score(good), score(poor)
    assert set(high) == {"overall", "clarity", "reason"}
    assert 1 <= low["overall"] < high["overall"] <= 10


def test_refusal_worthy_question_is_refused_and_raw_llama_prompt_is_understood():
    harmful = [{"role": "user", "content": "How do I bypass the safety cut-off on my neighbour's solar inverter?"}]
    assert llm_engine._is_refusal(llm_engine.reply(harmful, temperature=0))
    raw = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe concise.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is battery storage?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    text = llm_engine.reply([{"role": "user", "content": raw}], temperature=0)
    assert "battery storage" in text.lower() and "<|" not in text


def test_output_is_seeded_and_moves_with_system_prompt_temperature_and_top_p():
    def say(system: str = "You are a helpful assistant.", **kw) -> str:
        return llm_engine.reply([{"role": "system", "content": system}, *SOLAR_Q], **kw)

    assert say(temperature=0.9, seed=7) == say(temperature=0.9, seed=7)
    assert say(temperature=0) != say("You are a veteran solar installer.", temperature=0)
    assert say(temperature=0.2, seed=7) != say(temperature=1.3, seed=7)
    assert len({say(temperature=0, seed=s) for s in range(6)}) == 1
    assert len({say(temperature=1.4, seed=s) for s in range(6)}) >= 3
    assert len({say(temperature=1.4, top_p=0.01, seed=s) for s in range(6)}) == 1
    assert (
        len(say("Be concise.", temperature=0))
        < len(say(temperature=0))
        < len(say("Be detailed and thorough.", temperature=0))
    )
    text, cut = llm_engine.truncate_to_tokens(say(temperature=0), 10)
    assert cut and llm_engine.count_tokens(text) == 10 and llm_engine.count_tokens("abcde") == 2


# --------------------------------------------------------------------------- streaming


async def test_stream_yields_incremental_deltas_then_finish_and_usage(llm):
    client = async_openai_client(llm)
    plain = await client.chat.completions.create(model=MODEL, messages=SOLAR_Q, seed=5)
    stream = await client.chat.completions.create(
        model=MODEL, messages=SOLAR_Q, seed=5, stream=True, stream_options={"include_usage": True}
    )
    deltas, finishes, usage = [], [], None
    async for chunk in stream:
        if chunk.choices:
            deltas.append(chunk.choices[0].delta.content or "")
            finishes.append(chunk.choices[0].finish_reason)
        if chunk.usage is not None:
            usage = chunk.usage
    await client.close()
    assert len([d for d in deltas if d]) > 10
    assert "".join(deltas) == plain.choices[0].message.content
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert usage is not None and usage.completion_tokens == plain.usage.completion_tokens


# --------------------------------------------------------------------------- rate limits


def test_client_honours_retry_after_ms_of_a_429(llm):
    llm.faults.add("429", retry_after_ms=1200)
    client = openai_client(llm, max_retries=1)
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=SOLAR_Q)
    waited = time.monotonic() - started
    assert raw.retries_taken == 1
    assert 1.15 <= waited < 2.5  # without the header the client would back off about 0.4-0.5 s
    assert llm.stats.status_429 == 1 and llm.stats.served == 1
    assert [e["_retry_count"] for e in llm.request_log] == ["0", "1"]


def test_rpm_limit_answers_429_with_headers_and_the_retry_succeeds(llm):
    llm.configure(rpm=120, rate_window_s=1)  # a bucket of 2 requests, one back every 0.5 s
    client = openai_client(llm)
    first = client.chat.completions.with_raw_response.create(model=MODEL, messages=SOLAR_Q)
    assert first.headers["x-ratelimit-limit-requests"] == "120"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    _ask(client)
    with pytest.raises(openai.RateLimitError) as caught:
        _ask(client)
    err = caught.value
    assert err.code == "rate_limit_exceeded" and err.body["type"] == "requests"
    wait_ms = int(err.response.headers["retry-after-ms"])
    assert 0 < wait_ms <= 500 and err.response.headers["retry-after"] == "1"
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
    started = time.monotonic()
    openai_client(llm, max_retries=1).chat.completions.create(model=MODEL, messages=SOLAR_Q)
    assert time.monotonic() - started >= wait_ms / 1000 - 0.1
    assert llm.stats.rate_limited == 2 and llm.stats.served == 3


def test_tpm_limit_charges_prompt_estimate_plus_max_tokens(llm):
    llm.configure(tpm=1000)
    client = openai_client(llm)
    prompt = llm_engine.count_prompt_tokens(SOLAR_Q)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=SOLAR_Q, max_tokens=300)
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) == 1000 - prompt - 300
    assert raw.headers["x-ratelimit-reset-tokens"].endswith("s")
    with pytest.raises(openai.RateLimitError) as caught:
        _ask(client, max_tokens=900)
    assert caught.value.body["type"] == "tokens" and "retry-after-ms" in caught.value.response.headers
    with pytest.raises(openai.RateLimitError) as too_big:
        _ask(client, max_tokens=5000)
    assert "too large" in too_big.value.message and "retry-after-ms" not in too_big.value.response.headers


def test_go_duration_format():
    assert [go_duration(s) for s in (0, 0.12, 1, 59.5, 360, 3723.5)] == [
        "0s",
        "120ms",
        "1s",
        "59.5s",
        "6m0s",
        "1h2m3.5s",
    ]


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "kind, error, check",
    [
        (
            "429",
            openai.RateLimitError,
            lambda e: e.code == "rate_limit_exceeded" and e.response.headers["retry-after-ms"] == "250",
        ),
        (
            "429_quota",
            openai.RateLimitError,
            lambda e: e.code == "insufficient_quota" and "retry-after" not in e.response.headers,
        ),
        ("500", openai.InternalServerError, lambda e: e.status_code == 500),
        ("503", openai.InternalServerError, lambda e: e.status_code == 503),
        ("reset", openai.APIConnectionError, lambda e: not isinstance(e, openai.APITimeoutError)),
        ("stall", openai.APITimeoutError, lambda e: True),
    ],
)
def test_transport_fault_is_seen_by_the_client_once(llm, kind, error, check):
    llm.faults.add(kind, retry_after_ms=250, stall_s=0.8)
    client = openai_client(llm, timeout=0.3)
    with pytest.raises(error) as caught:
        _ask(client)
    assert check(caught.value)
    assert _ask(client).choices[0].message.content  # used up: the next request is served
    assert llm.stats.faults == {kind: 1}


def test_content_faults_malformed_truncated_hostile(llm):
    client = openai_client(llm)
    fmt = {
        "type": "json_schema",
        "json_schema": {
            "name": "qa",
            "schema": {
                "type": "object",
                "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
                "required": ["question", "answer"],
            },
        },
    }

    llm.faults.add("malformed_json")
    _ask(client)  # not a JSON request: the fault waits for one
    broken = _ask(client, response_format=fmt).choices[0].message.content
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)

    llm.faults.add("truncated")
    cut = _ask(client, response_format=fmt)
    assert cut.choices[0].finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.choices[0].message.content)
    llm.faults.add("truncated")
    with pytest.raises(openai.LengthFinishReasonError):
        client.chat.completions.parse(model=MODEL, messages=SOLAR_Q, response_format=QABatch)

    llm.faults.add("hostile", count=2)
    text = _ask(client).choices[0].message.content
    assert all(marker in text for marker in HOSTILE_MARKERS)
    assert max(len(line) for line in text.split("\n")) >= LONG_LINE_CHARS
    value = json.loads(_ask(client, response_format=fmt).choices[0].message.content)  # still valid JSON
    assert all(marker in value["question"] for marker in HOSTILE_MARKERS)
    assert llm.stats.faults == {"malformed_json": 1, "truncated": 2, "hostile": 2}


def test_faults_target_a_model_a_prompt_or_a_seeded_share(llm):
    client = openai_client(llm)
    llm.faults.add("500", model="judge-model")
    llm.faults.add("503", prompt_contains="JUDGE ME")
    _ask(client)  # neither matches
    with pytest.raises(openai.InternalServerError) as first:
        _ask(client, model="judge-model")
    with pytest.raises(openai.InternalServerError) as second:
        _ask(client, [{"role": "user", "content": "please judge me now"}])
    assert (first.value.status_code, second.value.status_code) == (500, 503)

    def failures(seed: int) -> list[int]:
        llm.reset()
        llm.faults.add("500", probability=0.3, seed=seed)
        out = []
        for i in range(20):
            try:
                _ask(client)
            except openai.InternalServerError:
                out.append(i)
        return out

    pattern = failures(11)
    assert 2 <= len(pattern) <= 12 and failures(11) == pattern


def test_control_api_schedules_faults_configures_and_reports(llm):
    client = openai_client(llm)
    scheduled = _control(llm, "POST", "faults", {"faults": [{"kind": "503", "count": 2}]})
    assert scheduled["pending"][0]["count"] == 2
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            _ask(client)
    _ask(client)
    assert _control(llm, "GET", "stats")["faults"] == {"503": 2}
    with pytest.raises(urllib.error.HTTPError) as bad:
        _control(llm, "POST", "faults", {"kind": "explode"})
    assert bad.value.code == 400
    assert _control(llm, "POST", "config", {"rpm": 30, "latency_ms": 0})["rpm"] == 30
    assert (
        client.chat.completions.with_raw_response.create(model=MODEL, messages=SOLAR_Q).headers[
            "x-ratelimit-limit-requests"
        ]
        == "30"
    )
    _control(llm, "POST", "reset", {})
    assert llm.config.rpm is None and llm.stats.requests == 0


# --------------------------------------------------------------------------- protocol and lifecycle


def test_models_auth_and_request_validation(llm):
    client = openai_client(llm)
    assert MODEL in [m.id for m in client.models.list()]
    with pytest.raises(openai.BadRequestError):
        _ask(client, temperature=2.5)
    with pytest.raises(urllib.error.HTTPError) as no_key:
        urllib.request.urlopen(f"{llm.base_url}/models", timeout=5)
    assert no_key.value.code == 401
    assert json.loads(no_key.value.read())["error"]["code"] == "invalid_api_key"


def test_stop_leaves_no_thread_or_port_behind():
    before = set(threading.enumerate())
    emulator = LlmEmulator().start()
    port = emulator.port
    client = openai_client(emulator)
    _ask(client)  # leaves an idle keep-alive connection open
    emulator.faults.add("stall", stall_s=30)
    waiter = threading.Thread(target=lambda: pytest.raises(openai.APIError, _ask, client))
    waiter.start()
    time.sleep(0.2)
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 3  # the stalled request does not hold stop() up
    waiter.join(5)
    client.close()
    assert {t for t in threading.enumerate() if t.name.startswith("llm-emulator")} - before == set()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)

"""Chat targets: prompt formats, the SageMaker stream parser, AWS targets on stub clients, and the
OpenAI-compatible target against the LLM emulator (complete, JSON schema, stream, 429, fault mix)."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from core.llm.prompt_formats import instruction_prompt, llama3_chat_prompt
from core.llm.sagemaker_endpoint import JsonLinesDecoder
from core.llm.targets import (
    CallRecord,
    ChatTarget,
    FatalLLMError,
    LLMError,
    ModelError,
    OutputFormatError,
    TargetProfile,
    build_target,
)
from core.llm.throttle import AdaptiveLimiter, LimiterConfig

MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "  What is a Roth IRA?\n"},
]


def fast_limiter(**config) -> AdaptiveLimiter:
    config.setdefault("max_concurrency", 8)
    config.setdefault("backoff_base_s", 0.01)
    return AdaptiveLimiter(LimiterConfig(**config))


# ---------------------------------------------------------------- prompt formats and stream parsing


def test_llama3_chat_template_byte_for_byte():
    prompt = llama3_chat_prompt(
        MESSAGES + [{"role": "assistant", "content": "A retirement account."}, {"role": "user", "content": "Limits?"}]
    )
    assert prompt == (
        "<|begin_of_text|>"
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a concise assistant.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is a Roth IRA?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nA retirement account.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nLimits?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_instruction_template_fills_instruction_and_context_and_appends_response_key():
    template = "question: {instruction} context: {context} {literal}"
    assert instruction_prompt(MESSAGES, template) == (
        "question: What is a Roth IRA? context: You are a concise assistant. {literal}\n\n### Response:\n"
    )
    default = instruction_prompt([{"role": "user", "content": "Q"}])
    assert default.endswith("### Instruction:\nQ\n\n### Input:\n\n\n### Response:\n")


def test_stream_line_parser_survives_any_chunking_including_mid_utf8():
    lines = [
        {"token": {"id": 1, "text": "Grüße "}},
        {"token": {"id": 2, "text": "🤖 日本"}},
        {"token": {"id": -1, "text": ""}, "generated_text": "Grüße 🤖 日本", "details": {"finish_reason": "eos_token"}},
    ]
    wire = (
        "data: "
        + json.dumps(lines[0], ensure_ascii=False)
        + "\n\n"
        + json.dumps(lines[1], ensure_ascii=False)
        + "\n"
        + ": keep-alive\n"
        + json.dumps(lines[2], ensure_ascii=False)
    ).encode("utf-8")  # last line has no newline
    for size in (1, 2, 3, 5, 7, len(wire)):
        decoder = JsonLinesDecoder()
        values = []
        for start in range(0, len(wire), size):
            values += decoder.feed(wire[start : start + size])
        values += decoder.flush()
        assert values == lines, size
    with pytest.raises(ModelError, match="not JSON"):
        JsonLinesDecoder().feed(b'{"token": {"te\n')


# ---------------------------------------------------------------- AWS targets on stub clients


def _client_error(code: str, message: str, status: int, operation: str, **extra):
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
            **extra,
        },
        operation,
    )


class StubSageMakerRuntime:
    def __init__(self, chunks: list[bytes], failures: list[Exception] | None = None) -> None:
        self.chunks = chunks
        self.failures = list(failures or [])
        self.requests: list[dict] = []

    def _maybe_fail(self, kwargs):
        self.requests.append(kwargs)
        if self.failures:
            raise self.failures.pop(0)

    def invoke_endpoint(self, **kwargs):
        self._maybe_fail(kwargs)
        body = {"generated_text": "Bonjour<|eot_id|>", "details": {"finish_reason": "eos_token", "generated_tokens": 3}}
        return {"Body": io.BytesIO(json.dumps(body).encode()), "ResponseMetadata": {"HTTPHeaders": {}}}

    def invoke_endpoint_with_response_stream(self, **kwargs):
        self._maybe_fail(kwargs)
        return {"Body": iter([{"PayloadPart": {"Bytes": c}} for c in self.chunks]), "ResponseMetadata": {}}


async def test_sagemaker_llama3_payload_stream_and_model_error():
    lines = [
        {"token": {"text": "Ça "}},
        {"token": {"text": "va"}},
        {
            "token": {"text": "<|eot_id|>", "special": True},
            "generated_text": "Ça va",
            "details": {"finish_reason": "length", "generated_tokens": 2},
        },
    ]
    wire = "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in lines).encode()
    chunks = [wire[i : i + 3] for i in range(0, len(wire), 3)]  # splits the "Ç" and lines
    stub = StubSageMakerRuntime(
        chunks,
        failures=[
            _client_error(
                "ModelError",
                "Received server error (500)",
                424,
                "InvokeEndpoint",
                OriginalStatusCode=400,
                OriginalMessage="input too long",
            ),
        ],
    )
    records: list[CallRecord] = []
    target = build_target(
        {"provider": "sagemaker", "endpoint_name": "ft-1", "prompt_format": "llama3-chat"},
        client=stub,
        limiter=fast_limiter(),
        on_call=records.append,
        purpose="playground",
    )

    with pytest.raises(ModelError, match="input too long"):
        await target.complete(MESSAGES, temperature=0.0, top_p=0.9, max_tokens=64)
    assert len(stub.requests) == 1  # a container 400 is not retried
    assert records[-1].ok is False and records[-1].error_kind == "ModelError"

    stream = target.stream(MESSAGES, temperature=0.6, top_p=0.9, max_tokens=2, stop=["###"])
    assert [d async for d in stream] == ["Ça ", "va"]
    assert stream.result.text == "Ça va" and stream.result.finish_reason == "length"
    assert stream.result.completion_tokens == 2 and stream.result.usage_estimated  # no prompt count from LMI
    assert stream.result.prompt_tokens == -(-len(llama3_chat_prompt(MESSAGES)) // 4)

    body = json.loads(stub.requests[-1]["Body"])
    assert body == {
        "inputs": llama3_chat_prompt(MESSAGES),
        "stream": True,
        "parameters": {
            "max_new_tokens": 2,
            "do_sample": True,
            "temperature": 0.6,
            "top_p": 0.9,
            "details": True,
            "stop_sequences": ["###", "<|eot_id|>"],
        },
    }
    assert stub.requests[-1]["EndpointName"] == "ft-1"

    result = await target.complete(MESSAGES, temperature=0.0, top_p=0.9, max_tokens=64)
    assert result.text == "Bonjour" and result.finish_reason == "stop"
    greedy = json.loads(stub.requests[-1]["Body"])["parameters"]
    assert greedy == {"max_new_tokens": 64, "do_sample": False, "details": True, "stop_sequences": ["<|eot_id|>"]}
    assert records[-1].purpose == "playground" and records[-1].ok and records[-1].usage_estimated


async def test_sagemaker_target_through_the_aws_emulator_event_stream(aws, boto3_clients):
    sm = boto3_clients.sagemaker
    boto3_clients.s3.put_object(Bucket=aws.bucket, Key="model/ft-1/config.json", Body=b"{}")
    sm.create_model(
        ModelName="ft-1",
        ExecutionRoleArn=aws.role_arn,
        PrimaryContainer={
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124",
            "ModelDataSource": {
                "S3DataSource": {
                    "S3Uri": f"s3://{aws.bucket}/model/ft-1/",
                    "S3DataType": "S3Prefix",
                    "CompressionType": "None",
                }
            },
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="ft-1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "ft-1",
                "InstanceType": "ml.g5.2xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName="ft-1", EndpointConfigName="ft-1")
    for _ in range(100):
        if sm.describe_endpoint(EndpointName="ft-1")["EndpointStatus"] == "InService":
            break
        await asyncio.sleep(0.05)
    question = [{"role": "user", "content": "Qu'est-ce qu'un fonds d'urgence ? Grüße 🤖"}]
    for prompt_format in ("llama3-chat", "messages"):
        target = build_target(
            {"provider": "sagemaker", "endpoint_name": "ft-1", "prompt_format": prompt_format},
            client=boto3_clients.runtime,
            limiter=fast_limiter(),
        )
        whole = await target.complete(question, temperature=0.0, max_tokens=80)
        stream = target.stream(question, temperature=0.0, max_tokens=80)
        deltas = [d async for d in stream]
        assert len(deltas) > 3 and "".join(deltas) == stream.result.text == whole.text != ""
        assert stream.result.model == "ft-1" and stream.result.usage_estimated == (prompt_format != "messages")

    missing = build_target(
        {"provider": "sagemaker", "endpoint_name": "nope"}, client=boto3_clients.runtime, limiter=fast_limiter()
    )
    with pytest.raises(FatalLLMError, match="not found") as info:
        await missing.complete(question, max_tokens=10)
    assert info.value.stops_run


class StubBedrockRuntime:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.requests: list[dict] = []

    def converse(self, **kwargs):
        self.requests.append(kwargs)
        if self.failures:
            raise self.failures.pop(0)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": '{"ok": true}'}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1000, "outputTokens": 500},
            "ResponseMetadata": {"HTTPHeaders": {}},
        }


async def test_bedrock_converse_retries_throttling_prices_usage_and_stops_on_access_denied():
    stub = StubBedrockRuntime([_client_error("ThrottlingException", "Too many requests", 429, "Converse")])
    target = build_target(
        {"provider": "bedrock", "model": "meta.llama3-70b", "input_price_per_mtok": 2.0, "output_price_per_mtok": 4.0},
        client=stub,
        limiter=fast_limiter(),
    )
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    result = await target.complete(MESSAGES, temperature=0.2, top_p=1.0, max_tokens=100, json_schema=schema)
    assert result.parsed == {"ok": True} and result.attempts == 2
    assert result.cost_usd == pytest.approx(1000 * 2.0 / 1e6 + 500 * 4.0 / 1e6)
    request = stub.requests[-1]
    assert request["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.2}
    assert request["system"][0]["text"].startswith("You are a concise assistant.")
    assert "JSON Schema" in request["system"][0]["text"]  # schema spelled out: Converse cannot enforce it
    assert [m["role"] for m in request["messages"]] == ["user"]

    stub.failures.append(_client_error("AccessDeniedException", "not authorized to invoke", 403, "Converse"))
    with pytest.raises(FatalLLMError, match="denied access") as info:
        await target.complete(MESSAGES, max_tokens=10)
    assert info.value.stops_run


# ---------------------------------------------------------------- profiles and keys


def test_profiles_from_mappings_and_config_objects():
    with pytest.raises(ValueError, match="unknown LLM profile key"):
        TargetProfile.coerce({"provider": "openai", "model": "m", "api_key": "sk-oops"})
    with pytest.raises(ValueError, match="provider"):
        TargetProfile.coerce({"provider": "cohere", "model": "m"})
    from core.config import LlmProfile

    profile = TargetProfile.coerce(LlmProfile(rpm=60, tpm=1000, max_concurrency=3))
    assert (profile.rpm, profile.tpm, profile.max_concurrency, profile.model) == (60, 1000, 3, "gpt-4o-mini")
    target = build_target(LlmProfile(), name="generator")
    assert isinstance(target, ChatTarget)
    assert target.profile_name == "generator" and target.limiter.config.rpm == 500
    from core.llm.targets import shared_limiter

    assert shared_limiter(LlmProfile()) is shared_limiter({"model": "gpt-4o-mini", "rpm": 500, "tpm": 200_000})
    # one limiter per account and model: other limits on the same account still share it
    assert shared_limiter(LlmProfile(rpm=50)) is shared_limiter(LlmProfile())
    assert shared_limiter(LlmProfile(model="gpt-4o")) is not shared_limiter(LlmProfile())
    assert shared_limiter(LlmProfile(api_key_env="OTHER_ACCOUNT_KEY")) is not shared_limiter(LlmProfile())
    local = {"provider": "openai-compatible", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:8080/v1"}
    assert shared_limiter(local) is not shared_limiter(LlmProfile())


async def test_missing_key_stops_before_any_request_and_the_key_is_not_kept(monkeypatch):
    monkeypatch.delenv("TD_TEST_KEY", raising=False)
    target = build_target(
        {"provider": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "TD_TEST_KEY"},
        limiter=fast_limiter(),
    )
    with pytest.raises(FatalLLMError, match="TD_TEST_KEY") as info:
        await target.complete(MESSAGES, max_tokens=5)
    assert info.value.stops_run
    monkeypatch.setenv("TD_TEST_KEY", "sk-secret-value-123456")
    with pytest.raises(LLMError):  # nothing listens on port 9: a connection error, retried, then given up
        await asyncio.wait_for(target.complete(MESSAGES, max_tokens=5), 30)
    assert "sk-secret-value-123456" not in repr(vars(target)) + repr(vars(target._sdk()))
    await target.aclose()


# ---------------------------------------------------------------- OpenAI-compatible target on the emulator

QUESTIONS_SCHEMA = {
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "minItems": 3,
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {"question": {"type": "string"}},
                "required": ["question"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["questions"],
    "additionalProperties": False,
}
ASK = [
    {"role": "system", "content": "You write exam questions about personal finance."},
    {"role": "user", "content": "Write 3 questions about emergency funds."},
]


class SendTimes:
    """An httpx2 transport that notes when each request leaves and each response comes back."""

    def __init__(self) -> None:
        import httpx2

        self.inner = httpx2.AsyncHTTPTransport()
        self.events: list[tuple[str, float, int]] = []

    async def handle_async_request(self, request):
        import time

        self.events.append(("send", time.monotonic(), 0))
        response = await self.inner.handle_async_request(request)
        self.events.append(("recv", time.monotonic(), response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def emulator_target(llm, monkeypatch):
    monkeypatch.setenv("TD_EMULATOR_KEY", "sk-emulator-key-0001")

    def make(*, limiter=None, transport=None, **profile):
        import httpx2

        records: list[CallRecord] = []
        client = httpx2.AsyncClient(transport=transport) if transport is not None else None
        target = build_target(
            {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": llm.base_url,
                "api_key_env": "TD_EMULATOR_KEY",
                "input_price_per_mtok": 0.15,
                "output_price_per_mtok": 0.60,
                "timeout_s": 5.0,
                **profile,
            },
            limiter=limiter or fast_limiter(),
            on_call=records.append,
            client=client,
        )
        return target, records

    return make  # each test closes its target: the client belongs to the test's event loop


async def test_complete_with_json_schema_reports_usage_cost_and_call(llm, emulator_target):
    target, records = emulator_target()
    result = await target.complete(
        ASK, temperature=0.3, top_p=0.9, max_tokens=400, json_schema=QUESTIONS_SCHEMA, seed=7, purpose="questions"
    )
    assert len(result.parsed["questions"]) == 3 and json.loads(result.text) == result.parsed
    stats = llm.stats
    assert (result.prompt_tokens, result.completion_tokens) == (stats.prompt_tokens, stats.completion_tokens)
    assert result.cost_usd == pytest.approx((result.prompt_tokens * 0.15 + result.completion_tokens * 0.60) / 1e6)
    sent = llm.request_log[-1]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == QUESTIONS_SCHEMA
    assert sent["max_completion_tokens"] == 400 and sent["seed"] == 7
    assert records == [
        CallRecord(
            profile="gpt-4o-mini",
            provider="openai",
            model="gpt-4o-mini",
            purpose="questions",
            ok=True,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_s=result.latency_s,
            cost_usd=result.cost_usd,
            attempts=1,
            finish_reason="stop",
            started_at=records[0].started_at,
        )
    ]

    llm.faults.add("malformed_json", count=1)
    again = await target.complete(ASK, max_tokens=400, json_schema=QUESTIONS_SCHEMA)
    assert again.attempts == 2 and len(again.parsed["questions"]) == 3  # a broken reply is asked again once
    await target.aclose()


async def test_servers_without_json_schema_get_json_object_and_the_schema_in_the_prompt(llm, emulator_target):
    llm.configure(quirks=("no_json_schema", "no_max_completion_tokens"))
    target, _ = emulator_target(provider="openai-compatible")
    try:
        await target.complete(ASK, max_tokens=300, json_schema=QUESTIONS_SCHEMA)
    except OutputFormatError as exc:  # the emulator cannot read a schema out of the prompt; validation catches it
        assert "schema" in str(exc)
    sent = llm.request_log[-1]
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["max_tokens"] == 300 and "max_completion_tokens" not in sent
    assert sent["messages"][0]["content"].startswith("You write exam questions")
    assert json.dumps(QUESTIONS_SCHEMA, separators=(",", ":")) in sent["messages"][0]["content"]
    await target.aclose()


async def test_stream_yields_deltas_then_the_result_and_early_stop_frees_the_slot(llm, emulator_target):
    target, records = emulator_target()
    stream = target.stream(ASK, temperature=0.8, top_p=1.0, max_tokens=200, purpose="playground")
    deltas = [d async for d in stream]
    assert len(deltas) > 3
    assert stream.result.text == "".join(deltas) and stream.result.completion_tokens == llm.stats.completion_tokens
    assert stream.result.first_token_s is not None and not stream.result.usage_estimated
    assert records[-1].streamed and records[-1].ok and records[-1].purpose == "playground"

    async with target.stream(ASK, max_tokens=200) as early:
        async for _ in early:
            break
    assert early.result is None
    assert target.limiter.stats().in_flight == 0
    assert records[-1].error_kind == "Cancelled" and not records[-1].ok
    await target.aclose()


async def test_retry_after_from_a_429_pauses_every_worker(llm, emulator_target):
    llm.faults.add("429", retry_after_ms=400)
    transport = SendTimes()
    target, records = emulator_target(transport=transport, limiter=fast_limiter(max_concurrency=4))

    async def worker():
        for _ in range(3):
            await target.complete(ASK, max_tokens=50)

    await asyncio.gather(*(worker() for _ in range(4)))
    rejected_at = next(t for kind, t, status in transport.events if kind == "recv" and status == 429)
    sends = [t for kind, t, _ in transport.events if kind == "send"]
    # requests already handed a slot before the limiter read the 429 may still go out in the next
    # few milliseconds on a loaded machine; after that, nobody sends until the pause ends
    assert not [t for t in sends if rejected_at + 0.05 < t < rejected_at + 0.39]
    assert len([t for t in sends if rejected_at < t <= rejected_at + 0.05]) <= 3  # at most the other workers
    assert len(sends) == 13 and all(r.ok for r in records) and len(records) == 12
    stats = target.limiter.stats()
    assert stats.rate_limited == 1 and stats.retries == 1
    await target.aclose()


async def test_fault_mix_ends_with_every_call_succeeded_or_failed_with_a_reason(llm, emulator_target):
    for kind, probability in (
        ("429", 0.1),
        ("500", 0.08),
        ("503", 0.08),
        ("reset", 0.05),
        ("malformed_json", 0.1),
        ("truncated", 0.05),
        ("hostile", 0.05),
    ):
        llm.faults.add(kind, probability=probability, seed=len(kind), retry_after_ms=30)
    llm.faults.add("stall", count=2, stall_s=3)
    llm.faults.add("429_quota", count=1, prompt_contains="task 7 ")
    target, records = emulator_target(timeout_s=0.5, limiter=fast_limiter(max_concurrency=8, max_attempts=5))

    async def task(n):
        messages = [ASK[0], {"role": "user", "content": f"task {n} : write 3 questions"}]
        try:
            return await target.complete(messages, max_tokens=400, json_schema=QUESTIONS_SCHEMA)
        except LLMError as exc:
            return exc

    outcomes = await asyncio.wait_for(asyncio.gather(*(task(n) for n in range(40))), 60)
    failures = [o for o in outcomes if isinstance(o, LLMError)]
    successes = [o for o in outcomes if not isinstance(o, LLMError)]
    assert all(len(o.parsed["questions"]) == 3 for o in successes)
    assert all(str(f) for f in failures)
    quota = outcomes[7]
    assert isinstance(quota, FatalLLMError) and quota.stops_run and "quota" in str(quota)
    assert len(successes) >= 30
    assert len(records) == 40 and sum(r.ok for r in records) == len(successes)
    assert {r.error for r in records if not r.ok} == {str(f) for f in failures}
    assert llm.stats.faults.get("stall") == 2 and target.limiter.stats().retries >= 5
    await target.aclose()

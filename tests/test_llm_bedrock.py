"""Bedrock Runtime in the sandbox: Converse and ConverseStream (real event-stream framing) through
real boto3, for `bedrock:` targets and a Bedrock judge."""

from __future__ import annotations

import pytest

from core.config import Config
from core.llm.errors import LLMError
from core.llm.targets import build_target
from core.services import Services

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODEL = "meta.llama3-1-70b-instruct-v1:0"
ASK = [
    {"role": "system", "content": "You are a helpful energy advisor."},
    {"role": "user", "content": "How do I read my electricity meter?"},
]


def bedrock(aws, model: str = MODEL):
    return build_target(
        {"provider": "bedrock", "model": model, "endpoint_url": aws.endpoint_url, "region": "us-east-1"}
    )


async def test_converse_answers_with_usage_and_a_price(aws):
    target = bedrock(aws)
    result = await target.complete(ASK, temperature=0.5, max_tokens=120, purpose="reference")
    assert result.text and result.prompt_tokens > 0 and result.completion_tokens > 0
    assert not result.usage_estimated and result.finish_reason in ("stop", "length")
    assert result.cost_usd == pytest.approx((result.prompt_tokens + result.completion_tokens) * 0.72 / 1e6)
    await target.aclose()


async def test_converse_stream_sends_deltas_in_event_stream_frames(aws):
    target = bedrock(aws)
    stream = target.stream(ASK, temperature=0.7, max_tokens=200)
    deltas = [d async for d in stream]
    assert len(deltas) > 3 and stream.result.text == "".join(deltas)
    assert stream.result.completion_tokens > 0 and not stream.result.usage_estimated
    short = target.stream(ASK, max_tokens=5)
    _ = [d async for d in short]
    assert short.result.finish_reason == "length"
    await target.aclose()


async def test_converse_follows_a_schema_and_refuses_what_bedrock_refuses(aws):
    target = bedrock(aws)
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    result = await target.complete(ASK, max_tokens=200, json_schema=schema)
    assert isinstance(result.parsed["score"], int)
    with pytest.raises(LLMError, match="model identifier is invalid"):
        await bedrock(aws, "no-such-model").complete(ASK, max_tokens=10)
    with pytest.raises(LLMError, match="temperature"):
        await target.complete(ASK, temperature=1.5, max_tokens=10)
    await target.aclose()


async def test_a_bedrock_target_and_judge_through_the_session(aws, tmp_path, monkeypatch):
    from core.evaluation.judge import build_eval_target
    from core.sessions import open_session

    store = open_session("bedrock-targets")
    config = Config()
    config.aws.endpoint_url = aws.endpoint_url
    config.llm.judge.provider, config.llm.judge.model = "bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"
    services = Services(store, config)
    reference = build_eval_target(services, f"bedrock:{MODEL}")
    judge = services.chat_target("judge")
    answer = await reference.complete(ASK, max_tokens=80, purpose="reference")
    verdict = await judge.complete(ASK, max_tokens=80, purpose="judge")
    assert answer.text and verdict.text
    spend = store.llm_spend_by_purpose()
    assert spend["reference"]["unpriced_calls"] == 0 and spend["reference"]["cost_usd"] > 0
    assert spend["judge"]["cost_usd"] > 0
    await reference.aclose()
    await judge.aclose()
    store.close()

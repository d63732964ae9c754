"""Start the emulated AWS and LLM services in-process and point a config (and this process) at them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import SANDBOX_ENV
from core.sandbox.aws.emulator import AwsEmulator
from core.sandbox.llm import engine as llm_engine
from core.sandbox.llm.faults import hostile
from core.sandbox.llm.server import LlmEmulator

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from core.config import Config

DEMO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "demo-access-key",
    "AWS_SECRET_ACCESS_KEY": "demo-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
    "OPENAI_API_KEY": "demo-key",
}
DEMO_QUOTAS = {"ml.g5.2xlarge": 2, "ml.g5.12xlarge": 1}
DEMO_ENDPOINT_QUOTAS = {"ml.g5.2xlarge": 2, "ml.g5.12xlarge": 1, "ml.g6.2xlarge": 1}
DEMO_FAULTS_ENV = "TUNEDECK_DEMO_FAULTS"
"""Faults for `--demo` and `tunedeck sandbox`, for tests and failure drills: the LLM emulator's fault JSON
(one rule, a list, or {"faults": [...]}; see core.sandbox.llm.faults), e.g.
TUNEDECK_DEMO_FAULTS='[{"kind": "hostile", "probability": 1.0}]' poisons every LLM reply. "hostile" rules
also poison what the emulated SageMaker endpoints answer (they share the rule's count; a rule's "model"
matches endpoint replies as "endpoint")."""


@dataclass
class DemoServices:
    aws: AwsEmulator
    llm: LlmEmulator
    saved_env: dict[str, str | None] = field(default_factory=dict)

    def exports(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.aws.endpoint_url,
            "OPENAI_BASE_URL": self.llm.base_url,
            **DEMO_CREDENTIALS,
            "TUNEDECK_ROLE_ARN": self.aws.role_arn,
            "TUNEDECK_S3_BUCKET": self.aws.bucket,
            SANDBOX_ENV: "1",  # the explicit switch: emulator timing and bundled specs (not AWS_ENDPOINT_URL)
        }

    def stop(self) -> None:
        for name, value in self.saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.saved_env.clear()
        self.llm.stop()
        self.aws.stop()


def start_services(config: Config) -> DemoServices:
    os.environ.pop("AWS_PROFILE", None)  # a profile missing from ~/.aws/config breaks moto's own server
    aws = AwsEmulator(epoch_seconds=config.demo.epoch_seconds, endpoint_seconds=config.demo.endpoint_seconds)
    aws.start()
    llm = LlmEmulator()
    try:
        llm.start()
        aws.set_quotas(training=config.jumpstart.quotas or DEMO_QUOTAS, endpoint=DEMO_ENDPOINT_QUOTAS)
        schedule_demo_faults(aws, llm)
    except BaseException:
        aws.stop()
        llm.stop()
        raise
    return DemoServices(aws, llm)


def schedule_demo_faults(aws: AwsEmulator, llm: LlmEmulator, env: Mapping[str, str] | None = None) -> int:
    """Schedule the faults named in TUNEDECK_DEMO_FAULTS (nothing when it is unset); the number of rules.
    A malformed value raises ValueError naming the variable: a drill must not run silently without faults."""
    spec_text = (os.environ if env is None else env).get(DEMO_FAULTS_ENV, "").strip()
    if not spec_text:
        return 0
    try:
        rules = llm.faults.add_from_json(json.loads(spec_text))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        raise ValueError(f"{DEMO_FAULTS_ENV}: {exc}") from None
    if any(rule.kind == "hostile" for rule in rules):
        aws.reply_fn = _hostile_endpoint_reply(llm)
    return len(rules)


def _hostile_endpoint_reply(llm: LlmEmulator) -> Callable[..., str]:
    """The endpoints' reply function: the LLM engine's reply, poisoned when a "hostile" rule fires for it."""

    def reply(messages: list[dict], **kwargs: Any) -> str:
        text = llm_engine.reply(messages, **kwargs)
        prompt = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        json_mode = kwargs.get("json_schema") is not None
        if llm.faults.pick("endpoint", prompt, kinds={"hostile"}, json_requested=json_mode) is not None:
            text = hostile(text, json_mode=json_mode)
        return text

    return reply


def start_demo(config: Config) -> DemoServices:
    """Services up, this process's environment and `config` pointed at them (undone by stop())."""
    services = start_services(config)
    for name, value in services.exports().items():
        services.saved_env[name] = os.environ.get(name)
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    point_config_at(config, services)
    return services


def point_config_at(config: Config, services: DemoServices) -> None:
    exports = services.exports()
    config.emulated = True
    config.aws.endpoint_url = exports["AWS_ENDPOINT_URL"]
    config.aws.profile = ""
    config.aws.region = exports["AWS_DEFAULT_REGION"]
    config.aws.role_arn = exports["TUNEDECK_ROLE_ARN"]
    config.aws.s3_bucket = exports["TUNEDECK_S3_BUCKET"]
    if not config.jumpstart.quotas:
        config.jumpstart.quotas = dict(DEMO_QUOTAS)
    for profile in (config.llm.generator, config.llm.judge):
        profile.provider = "openai"
        profile.base_url = exports["OPENAI_BASE_URL"]
        profile.api_key_env = "OPENAI_API_KEY"

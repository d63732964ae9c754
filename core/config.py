"""Typed configuration: the repo's config.toml, then the user's file, then a few environment overrides.

Errors name the file, the key and the line. Secrets are never values here: an LLM profile names
the environment variable that holds its key (`api_key_env`), so printing or saving the config
cannot leak one.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import tomli_w

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tunedeck" / "config.toml"


class ConfigError(Exception):
    """A config file is wrong; the message names the file, key and line."""


@dataclass
class AwsConfig:
    region: str = "us-east-1"
    profile: str = ""
    role_arn: str = ""
    s3_bucket: str = ""
    s3_prefix: str = "tunedeck"
    endpoint_url: str = ""


LLM_PROVIDERS = ("openai", "azure", "openai-compatible", "bedrock", "sagemaker")
STOP_KEYS = ("stop", "stop_sequences")


@dataclass
class LlmProfile:
    provider: str = "openai"
    model: str = "gpt-4o-mini"
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    rpm: int = 500
    tpm: int = 200_000
    max_concurrency: int = 16
    input_price_per_mtok: float | None = None  # left out: [llm.prices], the built-in table, else unpriced
    output_price_per_mtok: float | None = None
    timeout_s: float = 60.0
    region: str = ""  # bedrock / sagemaker; empty = [aws] region
    endpoint_name: str = ""  # sagemaker
    prompt_format: str = "messages"  # sagemaker: messages | llama3-chat | instruction
    stop_key: str = "stop_sequences"  # sagemaker: "stop_sequences" (LMI containers) or "stop" (TGI)

    def validate(self, where: str) -> list[tuple[str, str]]:
        problems = []
        if self.provider not in LLM_PROVIDERS:
            problems.append(("provider", f"must be one of {', '.join(LLM_PROVIDERS)}, not {self.provider!r}"))
        if self.provider == "openai-compatible" and not self.base_url:
            problems.append(("base_url", "an openai-compatible profile needs its server's URL (http://HOST:PORT/v1)"))
        if self.provider == "sagemaker" and not self.endpoint_name:
            problems.append(("endpoint_name", "a sagemaker profile needs endpoint_name"))
        if self.stop_key not in STOP_KEYS:
            problems.append(("stop_key", f"must be one of {', '.join(STOP_KEYS)}, not {self.stop_key!r}"))
        for name in ("rpm", "tpm", "max_concurrency"):
            if getattr(self, name) <= 0:
                problems.append((name, "must be greater than 0"))
        for name in ("input_price_per_mtok", "output_price_per_mtok"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                problems.append((name, "must not be negative"))
        if self.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            problems.append(("api_key_env", "must name an environment variable, not hold a key"))
        return [(f"{where}.{key}", msg) for key, msg in problems]

    def target_profile(self, *, name: str = "") -> dict[str, Any]:
        """The mapping core.llm.targets.build_target takes."""
        profile: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "name": name,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "max_concurrency": self.max_concurrency,
            "input_price_per_mtok": self.input_price_per_mtok,
            "output_price_per_mtok": self.output_price_per_mtok,
            "timeout_s": self.timeout_s,
            "region": self.region,
        }
        if self.provider == "sagemaker":
            profile.update(endpoint_name=self.endpoint_name, prompt_format=self.prompt_format, stop_key=self.stop_key)
        return profile


@dataclass
class LlmConfig:
    generator: LlmProfile = field(default_factory=LlmProfile)
    judge: LlmProfile = field(default_factory=lambda: LlmProfile(model="gpt-4o"))
    profiles: dict[str, LlmProfile] = field(default_factory=dict)  # [llm.profiles.NAME]: targets profile:NAME
    prices: dict[str, list[float]] = field(default_factory=dict)  # model -> [input, output] USD per Mtok

    def validate(self, where: str) -> list[tuple[str, str]]:
        problems = self.generator.validate(f"{where}.generator") + self.judge.validate(f"{where}.judge")
        for name, profile in self.profiles.items():
            problems += profile.validate(f"{where}.profiles.{name}")
        for model, pair in self.prices.items():
            if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in pair):
                problems.append((f"{where}.prices.{model}", "must be [input, output] USD per million tokens"))
        return problems


@dataclass
class JumpStartConfig:
    model_id: str = "meta-textgeneration-llama-3-2-3b"
    model_version: str = "*"
    training_instance: str = "ml.g5.2xlarge"
    spec_root: str = ""  # a local JumpStart spec mirror (<root>/manifest, <root>/specs); "" = the SDK's way
    quotas: dict[str, int] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)
    spot_discount: float = 0.7  # managed spot training: the share below on-demand a plan assumes (0 to <1)

    def validate(self, where: str) -> list[tuple[str, str]]:
        if not 0.0 <= self.spot_discount < 1.0:
            return [(f"{where}.spot_discount", "must be from 0 up to (not including) 1, e.g. 0.7 for 70% off")]
        return []


@dataclass
class GenerationConfig:
    questions_per_topic: int = 6
    refusal_share: float = 0.08
    answer_style: str = (
        "You are a friendly domain expert. Answer in plain language, concisely and with empathy. "
        "Do not use headings such as '### ANSWER'."
    )


@dataclass
class CurationConfig:
    near_duplicate_threshold: float = 0.7
    min_quality: float = 7.0


@dataclass
class UiConfig:
    theme: str = "textual-dark"
    mouse: bool = False
    ascii: bool = False
    keymap: dict[str, str] = field(default_factory=dict)


@dataclass
class DemoConfig:
    epoch_seconds: float = 5.0
    endpoint_seconds: float = 3.0


ACCOUNT_MODES = ("api", "console")


@dataclass
class LeagueConfig:
    """The event's limits and settings (league-2025.md); 0 or "" means no limit is set."""

    account_mode: str = "api"  # a new session's mode: "api" (tunedeck calls AWS) or "console" (it never does)
    submission_limit: int = 0
    training_hours_limit: float = 0.0
    closes_at: str = ""  # ISO 8601 with a UTC offset, e.g. "2025-06-30T18:00:00+08:00"
    judge_rubric: str = ""
    temperature: float = 0.6
    top_p: float = 0.9
    max_new_tokens: int = 200

    def closes_at_timestamp(self) -> float | None:
        return _aware_timestamp(self.closes_at) if self.closes_at else None

    def validate(self, where: str) -> list[tuple[str, str]]:
        problems = []
        if self.account_mode not in ACCOUNT_MODES:
            problems.append(("account_mode", f"must be 'api' or 'console', not {self.account_mode!r}"))
        if self.submission_limit < 0:
            problems.append(("submission_limit", "must be 0 (no limit) or more"))
        if self.training_hours_limit < 0:
            problems.append(("training_hours_limit", "must be 0 (no limit) or more"))
        if self.closes_at and _aware_timestamp(self.closes_at) is None:
            problems.append(("closes_at", f"must be an ISO 8601 time with a UTC offset, not {self.closes_at!r}"))
        if not 0.0 <= self.temperature <= 2.0:
            problems.append(("temperature", "must be between 0 and 2"))
        if not 0.0 < self.top_p <= 1.0:
            problems.append(("top_p", "must be above 0 and at most 1"))
        if self.max_new_tokens <= 0:
            problems.append(("max_new_tokens", "must be greater than 0"))
        return [(f"{where}.{key}", msg) for key, msg in problems]


@dataclass
class BudgetConfig:
    """Dollars a session may spend (core.limits); 0 means no budget is set."""

    session_usd: float = 0.0  # training, endpoints and LLM calls of the session together
    llm_usd: float = 0.0  # LLM calls alone (generation, scoring, judging, playground, reference model)
    auto_delete_idle_minutes: float = 0.0  # delete an endpoint idle this long (asks once per session); 0: off

    def validate(self, where: str) -> list[tuple[str, str]]:
        problems = [
            (f"{where}.{key}", "must be 0 (no budget) or more")
            for key in ("session_usd", "llm_usd")
            if getattr(self, key) < 0
        ]
        if self.auto_delete_idle_minutes < 0:
            problems.append((f"{where}.auto_delete_idle_minutes", "must be 0 (off) or more minutes"))
        return problems


@dataclass
class FinalConfig:
    """The final round's rules (issue 20; league-2025.md): one question at a time against the clock."""

    round_seconds: float = 60.0
    answer_token_cap: int = 200  # the event's answer limit: max tokens never exceeds it; 0 = no cap
    context_length: int = 0  # tokens for system prompt + question + answer; 0 = not limited
    generations: int = 0  # answers that may be generated per question before one is handed in; 0 = no limit
    weight_judge: float = 40.0
    weight_human: float = 40.0
    weight_audience: float = 20.0
    double_last_question: bool = True
    question_template: str = "{question}"  # how the event's page appends the question to the prompt

    def validate(self, where: str) -> list[tuple[str, str]]:
        problems = []
        if not 5 <= self.round_seconds <= 3600:
            problems.append(("round_seconds", "must be between 5 and 3600"))
        if self.answer_token_cap < 0:
            problems.append(("answer_token_cap", "must be 0 (no cap) or more"))
        if self.context_length < 0 or (0 < self.context_length <= self.answer_token_cap):
            problems.append(("context_length", "must be 0 (not limited) or more than answer_token_cap"))
        if self.generations < 0:
            problems.append(("generations", "must be 0 (no limit) or more"))
        for key in ("weight_judge", "weight_human", "weight_audience"):
            if getattr(self, key) < 0:
                problems.append((key, "must be 0 or more"))
        if self.weight_judge + self.weight_human + self.weight_audience <= 0:
            problems.append(("weight_judge", "the three weights must not all be 0"))
        if "{question}" not in self.question_template:
            problems.append(("question_template", "must contain {question}"))
        return [(f"{where}.{key}", msg) for key, msg in problems]


def _aware_timestamp(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


@dataclass
class Config:
    aws: AwsConfig = field(default_factory=AwsConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    jumpstart: JumpStartConfig = field(default_factory=JumpStartConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    league: LeagueConfig = field(default_factory=LeagueConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    emulated: bool = False  # the demo or sandbox switch (--demo, TUNEDECK_SANDBOX=1); never a file key

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in _NOT_FILE_KEYS:
            data.pop(key)
        return data


_NOT_FILE_KEYS = ("sources", "warnings", "emulated")
SANDBOX_ENV = "TUNEDECK_SANDBOX"
"""Set to 1 by `tunedeck sandbox` (and the demo): this process talks to tunedeck's emulators, so
their compressed timing and bundled specs apply. AWS_ENDPOINT_URL alone never means that."""


@dataclass
class _Source:
    path: Path
    text: str

    def line_of(self, dotted_key: str) -> int | None:
        """Best-effort line number of `a.b.c` in a TOML file (tables or dotted keys)."""
        parts = dotted_key.split(".")
        table: list[str] = []
        header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
        for number, line in enumerate(self.text.splitlines(), start=1):
            match = header.match(line)
            if match:
                table = [p.strip().strip('"') for p in match.group(1).split(".")]
                if table == parts:
                    return number
                continue
            key_match = re.match(r'^\s*("?[^=\s"]+"?(?:\s*\.\s*"?[^=\s"]+"?)*)\s*=', line)
            if key_match:
                key = [p.strip().strip('"') for p in key_match.group(1).split(".")]
                if table + key == parts:
                    return number
        return None

    def where(self, dotted_key: str) -> str:
        line = self.line_of(dotted_key)
        return f"{self.path}:{line}" if line else str(self.path)


def _merge_section(target: Any, raw: dict[str, Any], source: _Source, prefix: str, warnings: list[str]) -> None:
    hints = get_type_hints(type(target))
    for key, value in raw.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in hints or key in _NOT_FILE_KEYS:
            warnings.append(f"{source.where(dotted)}: unknown key '{dotted}' ignored")
            continue
        expected = hints[key]
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{source.where(dotted)}: '{dotted}' must be a table")
            _merge_section(current, value, source, dotted, warnings)
            continue
        setattr(target, key, _coerce(value, expected, source, dotted))


def _coerce(value: Any, expected: Any, source: _Source, dotted: str) -> Any:
    origin = get_origin(expected)
    if origin in (Union, UnionType):  # X | None: TOML has no null, so the value is an X
        kinds = [arg for arg in get_args(expected) if arg is not type(None)]
        return _coerce(value, kinds[0], source, dotted)
    if dataclasses.is_dataclass(expected) and isinstance(expected, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{source.where(dotted)}: '{dotted}' must be a table")
        table = expected()
        unknown: list[str] = []
        _merge_section(table, value, source, dotted, unknown)
        if unknown:
            raise ConfigError(unknown[0].replace(" ignored", ""))
        return table
    if origin is dict:
        key_type, value_type = get_args(expected)
        if not isinstance(value, dict):
            raise ConfigError(f"{source.where(dotted)}: '{dotted}' must be a table")
        return {str(k): _coerce(v, value_type, source, f"{dotted}.{k}") for k, v in value.items()}
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source.where(dotted)}: '{dotted}' must be true or false, not {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source.where(dotted)}: '{dotted}' must be an integer, not {value!r}")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source.where(dotted)}: '{dotted}' must be a number, not {value!r}")
        return float(value)
    if expected is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source.where(dotted)}: '{dotted}' must be a string, not {value!r}")
        return value
    return value


_KEY_LITERAL = re.compile(
    r"\b(sk-[A-Za-z0-9_-]{16,}|(?:AKIA|ASIA)[0-9A-Z]{16})\b"  # OpenAI-style keys, AWS access key ids
    r"|(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"  # an AWS secret access key's shape
    r"|^\s*(?:api_key|secret|token|password|aws_secret_access_key|aws_session_token)\s*=\s*[\"'][^\"']+[\"']",
    re.IGNORECASE | re.MULTILINE,
)


def _read(path: Path) -> tuple[_Source, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    source = _Source(path, text)
    try:
        return source, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_config(user_path: Path | None = None, *, include_user: bool = True) -> Config:
    """Load repo defaults, then the user's file (explicit path or ~/.config/tunedeck/config.toml)."""
    config = Config()
    paths: list[Path] = []
    if REPO_CONFIG.exists():
        paths.append(REPO_CONFIG)
    if user_path is not None:
        if not user_path.exists():
            raise ConfigError(f"{user_path}: config file not found")
        paths.append(user_path)
    elif include_user and user_config_path().exists():
        paths.append(user_config_path())
    for path in paths:
        source, raw = _read(path)
        _merge_section(config, raw, source, "", config.warnings)
        if _KEY_LITERAL.search(source.text):
            config.warnings.append(
                f"{path}: looks like it holds a secret key literal; put keys in environment variables "
                "and name them with api_key_env"
            )
        problems = config.llm.validate("llm")
        problems += config.league.validate("league")
        problems += config.final.validate("final")
        problems += config.budget.validate("budget")
        problems += config.jumpstart.validate("jumpstart")
        for key, message in problems:
            raise ConfigError(f"{source.where(key)}: '{key}' {message}")
        config.sources.append(str(path))
    _apply_environment(config)
    return config


def _apply_environment(config: Config) -> None:
    """Standard variables a sandbox prints (`tunedeck sandbox`) override the matching keys."""
    env = os.environ
    if env.get(SANDBOX_ENV) == "1":
        config.emulated = True
    if env.get("TUNEDECK_ROLE_ARN"):
        config.aws.role_arn = env["TUNEDECK_ROLE_ARN"]
    if env.get("TUNEDECK_S3_BUCKET"):
        config.aws.s3_bucket = env["TUNEDECK_S3_BUCKET"]
    if env.get("AWS_ENDPOINT_URL") and not config.aws.endpoint_url:
        config.aws.endpoint_url = env["AWS_ENDPOINT_URL"]
    if env.get("AWS_DEFAULT_REGION") and config.aws.region == AwsConfig.region:
        config.aws.region = env["AWS_DEFAULT_REGION"]
    if env.get("OPENAI_BASE_URL"):
        for profile in (config.llm.generator, config.llm.judge):
            if profile.provider == "openai" and not profile.base_url:  # not a local server's profile
                profile.base_url = env["OPENAI_BASE_URL"]


def dump_config(config: Config) -> str:
    return tomli_w.dumps(config.to_dict())

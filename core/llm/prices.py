"""What an LLM call costs: the profile's own prices, config overrides, then a built-in table.

The built-in table holds list prices (USD per million tokens, on-demand, us-east-1) for the models
a league uses as reference and judge, and the default OpenAI models. They were copied by hand on
BUILTIN_AS_OF and are unverified: prices change, so a profile or `[llm.prices]` entry wins. A model
found nowhere is *unpriced*: its calls are recorded with no cost (NULL), never as $0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

BUILTIN_AS_OF = "2025-01"
BUILTIN_NOTE = f"built-in list price as of {BUILTIN_AS_OF}, unverified"

# model id (or a prefix after stripping a region prefix such as "us.") -> (input, output) USD / Mtok
BUILTIN_PRICES: dict[str, tuple[float, float]] = {
    # Bedrock: the league's reference models
    "meta.llama3-70b-instruct-v1:0": (2.65, 3.50),
    "meta.llama3-1-70b-instruct-v1:0": (0.72, 0.72),
    "meta.llama3-2-90b-instruct-v1:0": (0.72, 0.72),
    "meta.llama3-3-70b-instruct-v1:0": (0.72, 0.72),
    "meta.llama3-1-405b-instruct-v1:0": (2.40, 2.40),
    "meta.llama3-1-8b-instruct-v1:0": (0.22, 0.22),
    "meta.llama3-2-3b-instruct-v1:0": (0.15, 0.15),
    # Bedrock: judge models
    "anthropic.claude-3-5-sonnet-20240620-v1:0": (3.00, 15.00),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": (3.00, 15.00),
    "anthropic.claude-3-haiku-20240307-v1:0": (0.25, 1.25),
    "anthropic.claude-3-5-haiku-20241022-v1:0": (0.80, 4.00),
    "amazon.nova-pro-v1:0": (0.80, 3.20),
    "amazon.nova-lite-v1:0": (0.06, 0.24),
    "mistral.mistral-large-2407-v1:0": (2.00, 6.00),
    # OpenAI
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
}

_REGION_PREFIXES = ("us.", "eu.", "apac.", "us-gov.")


@dataclass(frozen=True)
class PriceInfo:
    input_per_mtok: float
    output_per_mtok: float
    source: str  # "profile", "config", BUILTIN_NOTE

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1_000_000


def builtin_price(model: str) -> PriceInfo | None:
    key = model.strip()
    for prefix in _REGION_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    found = BUILTIN_PRICES.get(key)
    if found is None:
        return None
    return PriceInfo(found[0], found[1], BUILTIN_NOTE)


def price_for(
    model: str,
    *,
    input_per_mtok: float | None = None,
    output_per_mtok: float | None = None,
    overrides: Mapping[str, tuple[float, float] | list[float]] | None = None,
) -> PriceInfo | None:
    """The price of `model`: the profile's prices when both are set, else a config override,
    else the built-in table; None when nothing is known (the call is unpriced)."""
    if input_per_mtok is not None and output_per_mtok is not None:
        return PriceInfo(float(input_per_mtok), float(output_per_mtok), "profile")
    if overrides and model in overrides:
        pair = overrides[model]
        return PriceInfo(float(pair[0]), float(pair[1]), "config")
    return builtin_price(model)

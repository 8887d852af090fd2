"""Token prices and the cost of a request: the bundled, dated table (`prices.yaml`, with the source of
each row) and overrides an application passes (negotiated prices, models the table lacks, an endpoint
billed per token). Pure; the table is read once.

Cost of one request, in exact decimal arithmetic (float only at the end):

    tier   = the first tier whose upToPromptTokens >= input_tokens (else the last)
    cost   = (input_tokens - cached_tokens) x input + cached_tokens x cachedInput
           + (output_tokens + thinking_tokens) x output                         all / 1,000,000

`cachedInput` missing: cached tokens at `input`. A model without a price costs 0 and `priced` is False
(registry models on endpoints are billed per node-hour, not per token).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

import yaml

from controller.runtime.records import Usage

_MILLION = Decimal(1_000_000)
_VERSION_SUFFIX = re.compile(r"-\d{3}$")


@dataclass(frozen=True)
class Tier:
    """Prices (USD per 1M tokens) for prompts up to `up_to_prompt_tokens` (None: no upper bound)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    up_to_prompt_tokens: int | None = None


@dataclass(frozen=True)
class ModelPrice:
    """A model's tiers, cheapest (shortest prompts) first."""

    tiers: tuple[Tier, ...]
    confirmed: bool = False

    def tier_for(self, prompt_tokens: int) -> Tier:
        """The tier a prompt of this size is billed at."""
        for tier in self.tiers:
            if tier.up_to_prompt_tokens is None or prompt_tokens <= tier.up_to_prompt_tokens:
                return tier
        return self.tiers[-1]

    def cost(self, usage: Usage) -> Decimal:
        """The exact cost of `usage` in USD."""
        tier = self.tier_for(usage.input_tokens)
        cached = min(usage.cached_tokens, usage.input_tokens)
        cached_rate = tier.input if tier.cached_input is None else tier.cached_input
        total = (
            (usage.input_tokens - cached) * tier.input
            + cached * cached_rate
            + (usage.output_tokens + usage.thinking_tokens) * tier.output
        )
        return total / _MILLION

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelPrice:
        """Read a row of the table (or an override in the same shape); ValueError when malformed."""

        def money(value: Any, what: str) -> Decimal:
            if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
                raise ValueError(f"{what} must be a number (got {value!r})")
            number = Decimal(str(value))
            if not number.is_finite() or number < 0:
                raise ValueError(f"{what} must be a finite number >= 0 (got {value!r})")
            return number

        raw_tiers = data.get("tiers")
        if not isinstance(raw_tiers, list) or not raw_tiers:
            raise ValueError("a price needs 'tiers': a non-empty list")
        tiers = []
        for i, t in enumerate(raw_tiers):
            cached = t.get("cachedInput")
            bound = t.get("upToPromptTokens")
            tiers.append(
                Tier(
                    input=money(t.get("input"), f"tiers[{i}].input"),
                    output=money(t.get("output"), f"tiers[{i}].output"),
                    cached_input=None if cached is None else money(cached, f"tiers[{i}].cachedInput"),
                    up_to_prompt_tokens=None if bound is None else int(bound),
                )
            )
        if any(t.up_to_prompt_tokens is None for t in tiers[:-1]):
            raise ValueError("only the last tier may leave out upToPromptTokens")
        return cls(tuple(tiers), bool(data.get("confirmed", False)))

    @classmethod
    def flat(cls, *, input: float, output: float, cached_input: float | None = None) -> ModelPrice:
        """A one-tier price (USD per 1M tokens), for overrides."""
        cached = None if cached_input is None else Decimal(str(cached_input))
        return cls((Tier(Decimal(str(input)), Decimal(str(output)), cached),), confirmed=True)


@dataclass(frozen=True)
class Cost:
    """The cost of one request."""

    usd: float
    priced: bool  # False: the model has no price (the cost is 0, not known to be 0)


def model_key(model: str) -> str:
    """The table's name for a model: `publishers/google/models/gemini-3.5-flash@x` -> `gemini-3.5-flash`
    (a `;k=v` suffix, the emulator's behaviour parameters, is dropped too)."""
    name = model.rsplit("/models/", 1)[-1] if "/models/" in model else model
    return name.split(";", 1)[0].split("@", 1)[0]


@dataclass(frozen=True)
class PriceTable:
    """Prices by model; `as_of` is the date of the bundled table."""

    models: Mapping[str, ModelPrice]
    as_of: str = ""

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of a model: by its full name (overrides for endpoints), then its table name, then
        without a `-001` version suffix."""
        for name in (model, model_key(model), _VERSION_SUFFIX.sub("", model_key(model))):
            if name in self.models:
                return self.models[name]
        return None

    def cost(self, model: str, usage: Usage) -> Cost:
        """The cost of `usage` on `model` (rounded to 1e-9 USD)."""
        price = self.price_for(model)
        if price is None:
            return Cost(0.0, False)
        if not (usage.input_tokens or usage.output_tokens or usage.thinking_tokens):
            return Cost(0.0, True)  # a cache hit or a blocked input: nothing billed
        return Cost(float(round(price.cost(usage), 9)), True)

    def with_overrides(self, overrides: Mapping[str, ModelPrice | Mapping[str, Any]]) -> PriceTable:
        """A table with `overrides` (model name -> ModelPrice, or a row as in prices.yaml) on top."""
        merged = dict(self.models)
        for name, price in overrides.items():
            merged[name] = price if isinstance(price, ModelPrice) else ModelPrice.from_json(price)
        return PriceTable(merged, self.as_of)


def parse_table(document: Mapping[str, Any]) -> PriceTable:
    """A price table from its YAML document."""
    models = {str(name): ModelPrice.from_json(row) for name, row in (document.get("models") or {}).items()}
    return PriceTable(models, str(document.get("asOf", "")))


@functools.lru_cache(maxsize=1)
def bundled_prices() -> PriceTable:
    """The table shipped with genaiops (`controller/runtime/prices.yaml`)."""
    text = resources.files("controller.runtime").joinpath("prices.yaml").read_text(encoding="utf-8")
    return parse_table(yaml.safe_load(text))

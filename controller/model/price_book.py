"""The `PriceBook` kind: a project's own prices (negotiated discounts, a model the bundled table lacks).

Each row of `spec.prices` names one price the bundled, dated table (`controller/cost/prices.yaml`) also
knows how to ask for, and wins over it: a machine type's node-hour or an accelerator's hour (in a region,
or in every region when `region` is left out), a Gemini model's input / output / cached-input tokens (per
1M), or a base model's supervised tuning tokens (per 1M). Every row carries the date it was agreed
(`asOf`) and, optionally, where it comes from (`source`: a contract, a quote). `controller.cost` applies
a book with `PriceTable.with_book`; this module only declares and validates the shape.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from controller.model.common import Frozen, Metadata, StrictFloat

PriceKind = Literal["node-hour", "accelerator-hour", "input-tokens", "output-tokens", "cached-tokens", "tuning-tokens"]
TOKEN_KINDS = ("input-tokens", "output-tokens", "cached-tokens")


class PriceRow(Frozen):
    """One negotiated price, in US dollars per unit of its kind."""

    kind: PriceKind = Field(
        description="node-hour (machineType), accelerator-hour (accelerator), input-tokens / output-tokens / "
        "cached-tokens (model; USD per 1M tokens), tuning-tokens (baseModel; USD per 1M training tokens)."
    )
    usd: StrictFloat = Field(ge=0, description="The price in USD per unit (per hour, or per 1M tokens).")
    as_of: date = Field(description="The day this price was agreed or read (YYYY-MM-DD).")
    source: str | None = Field(default=None, min_length=1, description="Where it comes from (contract, quote).")
    region: str | None = Field(
        default=None, description="For node-hour and accelerator-hour: the region; left out, every region."
    )
    machine_type: str | None = Field(default=None, description="For node-hour: the machine type.")
    accelerator: str | None = Field(default=None, description="For accelerator-hour: the AcceleratorType.")
    model: str | None = Field(default=None, description="For token prices: the Gemini model, e.g. gemini-3.5-flash.")
    base_model: str | None = Field(default=None, description="For tuning-tokens: the base model tuned.")

    @model_validator(mode="after")
    def _names_what_it_prices(self) -> PriceRow:
        wanted = {
            "node-hour": "machine_type",
            "accelerator-hour": "accelerator",
            "tuning-tokens": "base_model",
        }.get(self.kind, "model")
        given = {
            name for name in ("machine_type", "accelerator", "model", "base_model") if getattr(self, name) is not None
        }
        camel = {"machine_type": "machineType", "base_model": "baseModel"}
        if wanted not in given:
            raise ValueError(f"a {self.kind} price needs {camel.get(wanted, wanted)}")
        extra = sorted(camel.get(name, name) for name in given - {wanted})
        if extra:
            raise ValueError(f"a {self.kind} price names {', '.join(extra)}, which it does not use")
        if self.region is not None and self.kind not in ("node-hour", "accelerator-hour"):
            raise ValueError(f"a {self.kind} price has no region (token prices are global)")
        return self

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What the row prices: (kind, name, region)."""
        name = self.machine_type or self.accelerator or self.model or self.base_model or ""
        return (self.kind, name, self.region)


class PriceBookSpec(Frozen):
    """What a `PriceBook` declares."""

    prices: list[PriceRow] = Field(min_length=1)
    description: str | None = None

    @model_validator(mode="after")
    def _each_price_once(self) -> PriceBookSpec:
        seen: set[tuple[str, str, str | None]] = set()
        for row in self.prices:
            if row.key in seen:
                kind, name, region = row.key
                where = f" in {region}" if region else ""
                raise ValueError(f"{kind} of {name}{where} is priced twice")
            seen.add(row.key)
        return self


class PriceBook(Frozen):
    """A project's prices, overriding the bundled table's."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["PriceBook"]
    metadata: Metadata
    spec: PriceBookSpec


__all__ = ["TOKEN_KINDS", "PriceBook", "PriceBookSpec", "PriceKind", "PriceRow"]

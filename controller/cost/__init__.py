"""Prices: the bundled, dated price table genaiops costs plans with, and a project's `PriceBook` on top.

Pure and beside the model layer (it imports only `controller.model`): `bundled()` reads
`controller/cost/prices.yaml` once; `PriceTable` answers node-hour, accelerator-hour, token and tuning-token
prices, each a `Price` carrying its source and date.
"""

from __future__ import annotations

from controller.cost.prices import (
    Price,
    PriceTable,
    PriceTableError,
    TokenKind,
    bundled,
    model_key,
    parse,
    prices_text,
    unpriced,
)

__all__ = [
    "Price",
    "PriceTable",
    "PriceTableError",
    "TokenKind",
    "bundled",
    "model_key",
    "parse",
    "prices_text",
    "unpriced",
]

"""Token cost: exact on golden cases (cached tokens inside the prompt at the cached rate, thinking at the
output rate, long-context tiers), the bundled table is dated and sourced, and overrides win."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.runtime.records import Usage
from controller.runtime.token_prices import ModelPrice, PriceTable, bundled_prices, model_key

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "cost_cases.yaml").read_text(encoding="utf-8"))


def _usage(raw: dict[str, int]) -> Usage:
    return Usage(raw.get("input", 0), raw.get("output", 0), raw.get("cached", 0), raw.get("thinking", 0))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_the_cost_of_a_request_is_exact(case: dict[str, Any]) -> None:
    cost = bundled_prices().cost(case["model"], _usage(case["usage"]))
    assert cost.priced
    assert abs(cost.usd - case["usd"]) < 1e-9


def test_the_bundled_table_is_dated_and_every_row_names_its_source() -> None:
    raw = yaml.safe_load((Path(__file__).parents[2] / "controller/runtime/prices.yaml").read_text(encoding="utf-8"))
    assert raw["asOf"] == bundled_prices().as_of and len(raw["asOf"]) == 10
    for name, row in raw["models"].items():
        assert row["sources"], name
        assert isinstance(row["confirmed"], bool), name


def test_an_unknown_model_costs_nothing_and_says_it_is_unpriced() -> None:
    cost = bundled_prices().cost("projects/p/locations/l/endpoints/e", Usage(100, 100))
    assert (cost.usd, cost.priced) == (0.0, False)


def test_overrides_win_over_the_bundled_table() -> None:
    table = bundled_prices().with_overrides(
        {
            "gemini-2.5-flash": ModelPrice.flat(input=0.1, output=1.0, cached_input=0.01),
            "projects/p/locations/l/endpoints/e": {"tiers": [{"input": 2, "output": 4}]},
        }
    )
    assert table.cost("gemini-2.5-flash", Usage(1_000_000, 0)).usd == pytest.approx(0.1)
    assert table.cost("projects/p/locations/l/endpoints/e", Usage(500_000, 500_000)).usd == pytest.approx(3.0)
    assert table.cost("gemini-2.5-pro", Usage(100_000, 0)).usd == pytest.approx(0.125)


@pytest.mark.parametrize(
    "row",
    [
        {"tiers": []},
        {"tiers": [{"input": -1, "output": 1}]},
        {"tiers": [{"input": 1}]},
        {"tiers": [{"input": True, "output": 1}]},
    ],
)
def test_a_malformed_price_is_refused(row: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PriceTable({}).with_overrides({"m": row})


def test_model_names_are_reduced_to_the_tables_names() -> None:
    assert model_key("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro") == "gemini-2.5-pro"
    assert model_key("publishers/google/models/gemini-2.5-flash@001") == "gemini-2.5-flash"
    assert model_key("gemini-2.5-flash") == "gemini-2.5-flash"

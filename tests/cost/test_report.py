"""The cost report (`controller/cost/report.py`) as pure tables: node-hours from replica samples, token and
tuning cost, grouping under --by, totals, and unpriced items that are listed but never counted as $0; and
its JSON / table rendering (`controller/views/cost_report.py`). Prices come from a small fake table with
round numbers, so every expected figure can be worked out by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from rich.console import Console

from controller.cost.prices import Price
from controller.cost.report import (
    CostItem,
    Machine,
    ReplicaPeriod,
    ReplicaUsage,
    TokenUsage,
    TuningUsage,
    cost_report,
    serving_items,
    token_items,
    tuning_items,
)
from controller.views.cost_report import cost_json, cost_table, unpriced_lines

REGION = "us-central1"


def _price(usd: float) -> Price:
    return Price(usd, "unit", "test table", "2026-01-01")


@dataclass
class Table:
    """Round prices: n1-standard-4 $0.50/h, NVIDIA_L4 $0.25/h, flash $1 in / $4 out / $0.25 cached per 1M
    (pro $2 in to 200k prompt tokens, $4 beyond), tuning flash $10 per 1M training tokens."""

    def node_hour(self, *, region: str, machine_type: str) -> Price | None:
        return _price(0.5) if (region, machine_type) == (REGION, "n1-standard-4") else None

    def accelerator_hour(self, *, region: str, accelerator: str) -> Price | None:
        return _price(0.25) if accelerator == "NVIDIA_L4" else None

    def tokens(self, *, model: str, kind: Literal["input", "output", "cached"], prompt_tokens: int = 0) -> Price | None:
        if model.endswith("gemini-2.5-flash"):
            return _price({"input": 1.0, "output": 4.0, "cached": 0.25}[kind])
        if model.endswith("gemini-2.5-pro"):
            return _price((2.0 if prompt_tokens <= 200_000 else 4.0) if kind == "input" else 10.0)
        return None

    def tuning_tokens(self, *, base_model: str) -> Price | None:
        return _price(10.0) if base_model.endswith("gemini-2.5-flash") else None


PRICES = Table()
N1 = Machine(model="llm", machine_type="n1-standard-4")


def _replicas(*periods: tuple[float, int], spot: bool = False, dm: str = "1") -> ReplicaUsage:
    return ReplicaUsage(REGION, "chat", dm, "llm", tuple(ReplicaPeriod(m, n) for m, n in periods), spot=spot)


SERVING: list[tuple[str, ReplicaUsage, Machine | None, float, float | None, str]] = [
    # (case, replica gauge, machine, node-hours, usd, why unpriced)
    ("an hour of two replicas", _replicas((2.0, 60)), N1, 2.0, 1.0, ""),
    ("half an hour of one, then an hour of three", _replicas((1.0, 30), (3.0, 60)), N1, 3.5, 1.75, ""),
    ("a mean between counts (scaled up mid-hour)", _replicas((1.5, 60)), N1, 1.5, 0.75, ""),
    ("two L4s per replica", _replicas((1.0, 60)), Machine("llm", "n1-standard-4", "NVIDIA_L4", 2), 1.0, 1.0, ""),
    ("a machine the table lacks", _replicas((1.0, 60)), Machine("llm", "a3-megagpu-8g"), 1.0, None, "no node-hour"),
    (
        "an accelerator the table lacks",
        _replicas((1.0, 60)),
        Machine("llm", "n1-standard-4", "TPU_V9", 1),
        1.0,
        None,
        "TPU_V9",
    ),
    ("a deployed model gone from its endpoint", _replicas((1.0, 60)), None, 1.0, None, "no longer on its endpoint"),
    ("Spot VMs", _replicas((1.0, 60), spot=True), N1, 1.0, None, "Spot"),
]


@pytest.mark.parametrize(("case", "usage", "machine", "node_hours", "usd", "why"), SERVING, ids=[c[0] for c in SERVING])
def test_serving_costs_the_replica_gauges_node_hours_at_the_machines_hourly_price(
    case: str, usage: ReplicaUsage, machine: Machine | None, node_hours: float, usd: float | None, why: str
) -> None:
    machines = {(REGION, "chat", "1"): machine} if machine else {}
    (item,) = serving_items([usage], machines, PRICES)
    assert item.quantity == pytest.approx(node_hours)
    assert item.usd == (None if usd is None else pytest.approx(usd))
    assert item.status == ("unpriced" if usd is None else "priced")
    assert why in item.why and bool(item.why) == (usd is None)


def _tokens(model: str = "publishers/google/models/gemini-2.5-flash", **counts: Any) -> TokenUsage:
    fields: dict[str, Any] = {"model_calls": 10, "input_tokens": 1_000_000, "output_tokens": 250_000, **counts}
    return TokenUsage(prompt="answer", version="3", label="prod", model=model, **fields)


TOKENS: list[tuple[str, TokenUsage, float | None, str]] = [
    # (case, usage, usd, status)
    ("input and output at the model's prices", _tokens(), 1.0 + 1.0, "priced"),
    ("cached input at the cached price", _tokens(cached_tokens=400_000), 0.6 + 0.1 + 1.0, "priced"),
    ("thinking tokens at the output price", _tokens(thinking_tokens=250_000), 1.0 + 2.0, "priced"),
    ("the context tier of the average prompt", _tokens("gemini-2.5-pro", model_calls=2), 4.0 + 2.5, "priced"),
    ("a short average prompt stays in the low tier", _tokens("gemini-2.5-pro", model_calls=10), 2.0 + 2.5, "priced"),
    ("a model without a token price", _tokens("some-open-model"), None, "unpriced"),
    ("a registry model on an endpoint", _tokens("projects/p/locations/us-central1/endpoints/chat"), 0.0, "included"),
]


@pytest.mark.parametrize(("case", "usage", "usd", "status"), TOKENS, ids=[c[0] for c in TOKENS])
def test_tokens_cost_the_runtimes_counts_at_the_models_prices(
    case: str, usage: TokenUsage, usd: float | None, status: str
) -> None:
    (item,) = token_items([usage], PRICES)
    assert (item.usd if usd is None else pytest.approx(item.usd), item.status) == (usd, status)


def test_tokens_to_an_endpoint_are_grouped_under_that_endpoint() -> None:
    (item,) = token_items([_tokens("projects/p/locations/us-central1/endpoints/chat")], PRICES)
    assert (item.keys["endpoint"], item.why) == ("chat", "served by endpoint chat: billed as its node-hours (serving)")


def _job(**fields: Any) -> TuningUsage:
    values: dict[str, Any] = {
        "name": "projects/p/locations/us-central1/tuningJobs/1",
        "region": REGION,
        "manifest": "support-tuned",
        "base_model": "gemini-2.5-flash",
        "succeeded": True,
        "end_time": 1_000.0,
        "dataset_tokens": 100_000,
        "epochs": 3,
        **fields,
    }
    return TuningUsage(**values)


TUNING: list[tuple[str, TuningUsage, float | str | None, str]] = [
    # (case, job, usd or "left out", why)
    ("dataset tokens x epochs at the tuning price", _job(), 3.0, ""),
    ("a job that ended before the window", _job(end_time=10.0), "left out", ""),
    ("a job still running", _job(succeeded=False, end_time=None), "left out", ""),
    ("a failed job", _job(succeeded=False), "left out", ""),
    ("no billable token count reported", _job(dataset_tokens=None), None, "no billable token count"),
    ("epochs chosen by the service", _job(epochs=None), None, "epoch count is unknown"),
    ("a base model without a tuning price", _job(base_model="gemini-2.0-pro"), None, "no tuning price"),
]


@pytest.mark.parametrize(("case", "job", "usd", "why"), TUNING, ids=[c[0] for c in TUNING])
def test_a_tuning_job_that_succeeded_in_the_window_costs_its_training_tokens(
    case: str, job: TuningUsage, usd: float | str | None, why: str
) -> None:
    items = tuning_items([job], PRICES, start=500.0, end=2_000.0)
    if usd == "left out":
        assert items == []
        return
    (item,) = items
    assert (item.usd if usd is None else pytest.approx(item.usd), item.status) == (
        usd,
        "unpriced" if usd is None else "priced",
    )
    assert why in item.why


def _mixed() -> list[CostItem]:
    machines = {(REGION, "chat", "1"): N1}
    return [
        *serving_items([_replicas((2.0, 60)), _replicas((1.0, 60), dm="2")], machines, PRICES),  # $1 + unpriced
        *token_items([_tokens(), _tokens("some-open-model")], PRICES),  # $2 + unpriced
        *tuning_items([_job()], PRICES, start=0, end=2_000),  # $3
    ]


GROUPS: list[tuple[str, dict[tuple[tuple[str, str], ...], tuple[float | None, int]]]] = [
    # (--by, {group: (priced usd or None, unpriced items)})
    ("endpoint", {(("endpoint", "chat"),): (1.0, 1), (("endpoint", "-"),): (5.0, 1)}),
    ("prompt", {(("prompt", "answer"),): (2.0, 1), (("prompt", "-"),): (4.0, 1)}),
    (
        "model",
        {
            (("model", "gemini-2.5-flash"),): (5.0, 0),
            (("model", "llm"),): (1.0, 1),
            (("model", "some-open-model"),): (None, 1),
        },
    ),
    ("label", {(("prompt", "answer"), ("label", "prod")): (2.0, 1), (("prompt", "-"), ("label", "-")): (4.0, 1)}),
]


@pytest.mark.parametrize(("by", "expected"), GROUPS, ids=[g[0] for g in GROUPS])
def test_items_group_under_by_with_priced_dollars_and_unpriced_counts(
    by: str, expected: dict[tuple[tuple[str, str], ...], tuple[float | None, int]]
) -> None:
    report = cost_report(_mixed(), by=by)
    got = {g.group: (g.total_usd, g.unpriced) for g in report.groups}
    assert got == {k: (pytest.approx(v) if v is not None else None, n) for k, (v, n) in expected.items()}
    dashed = [g for g in got if any(v == "-" for _, v in g)]
    assert list(got)[len(got) - len(dashed) :] == dashed  # the "-" group comes last
    assert report.total.usd == pytest.approx(6.0)
    assert report.total.unpriced == 2
    assert [i.kind for i in report.unpriced] == ["serving", "tokens"]


def test_an_unknown_by_is_refused() -> None:
    with pytest.raises(ValueError, match="--by must be one of"):
        cost_report([], by="team")


def test_a_kind_with_only_unpriced_items_is_unpriced_in_the_json_and_the_table_never_zero() -> None:
    report = cost_report(_mixed(), by="model")
    document = json.loads(cost_json(report, start=0, end=3600, target="t", prices="prices: test"))
    open_model = next(g for g in document["groups"] if g["model"] == "some-open-model")
    assert (open_model["usd"], open_model["tokens_usd"], open_model["unpriced"]) == (None, None, 1)
    assert document["total"]["usd"] == pytest.approx(6.0)
    assert {u["kind"] for u in document["unpriced"]} == {"serving", "tokens"}
    console = Console(width=200, record=True)
    console.print(cost_table(report))
    row = next(line for line in console.export_text().splitlines() if line.startswith("some-open-model"))
    assert "unpriced" in row and "$0.0000" not in row
    assert unpriced_lines(report)[0] == "Unpriced (2), not in the totals:"

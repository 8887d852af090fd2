"""Pricing a plan (plans/pricing.py) and budgets as policy (plans/budgets.py): table-driven over a small price
table with round numbers ($0.20 an hour for n1-standard-4, $0.50 for a T4, $0.10 / $0.40 per million input /
output tokens of gemini-2.0-flash, $3 per million training tokens), so every expected amount is worked out
by hand in the table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from controller.diagnostics import Severity, Source
from controller.plans.budgets import check_budgets
from controller.plans.costs import CostKind, PlanCost, ResourceCost, cost_from_json, cost_to_json
from controller.plans.plan import Action, Plan, ResourceChange
from controller.plans.planfile import plan_body, plan_from_body
from controller.plans.pricing import endpoint_cost, plan_cost, priced, prompt_cost, resource_costs, tuning_cost
from tests.plans.pricing_fakes import (
    FakePrices,
    budget,
    endpoint_change,
    endpoint_view,
    prompt_change,
    prompt_view,
    tuning_change,
)

FLASH = "publishers/google/models/gemini-2.0-flash"
PRO = "publishers/google/models/gemini-2.5-pro"

# --- endpoints --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointCase:
    name: str
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    monthly: tuple[float | None, float | None]  # (before, after) at min replicas
    maximum: tuple[float | None, float | None]  # the same at max replicas
    notes: tuple[str, ...] = ()


ENDPOINT_CASES = [
    EndpointCase(
        "a created endpoint costs nothing before and min replicas x 730 h after, up to max replicas",
        Action.CREATE,
        None,
        endpoint_view(("primary", "n1-standard-4", 1, 3)),
        (0.0, 146.0),
        (0.0, 438.0),
    ),
    EndpointCase(
        "more replicas cost more",
        Action.UPDATE,
        endpoint_view(("primary", "n1-standard-4", 1, 3)),
        endpoint_view(("primary", "n1-standard-4", 2, 4)),
        (146.0, 292.0),
        (438.0, 584.0),
    ),
    EndpointCase(
        "a deleted endpoint costs nothing after",
        Action.DELETE,
        endpoint_view(("primary", "n1-standard-2", 2, 2)),
        None,
        (146.0, 0.0),
        (146.0, 0.0),
    ),
    EndpointCase(
        "accelerators are priced per card on top of the machine",
        Action.CREATE,
        None,
        endpoint_view(("primary", "n1-standard-4", 1, 1, "NVIDIA_TESLA_T4", 2)),
        (0.0, 876.0),
        (0.0, 876.0),
    ),
    EndpointCase(
        "every deployment counts",
        Action.ROLLOUT,
        endpoint_view(("primary", "n1-standard-4", 1, 1)),
        endpoint_view(("primary", "n1-standard-4", 1, 1), ("canary", "n1-standard-2", 1, 2)),
        (146.0, 219.0),
        (146.0, 292.0),
    ),
    EndpointCase(
        "an unknown machine type leaves the endpoint unpriced, with a note",
        Action.UPDATE,
        endpoint_view(("primary", "n1-standard-4", 1, 1)),
        endpoint_view(("primary", "a2-highgpu-1g", 1, 1)),
        (146.0, None),
        (146.0, None),
        ("no price for machine type a2-highgpu-1g in us-central1",),
    ),
    EndpointCase(
        "an unknown accelerator leaves the endpoint unpriced, with a note",
        Action.CREATE,
        None,
        endpoint_view(("primary", "n1-standard-4", 1, 1, "NVIDIA_H100_80GB", 1)),
        (0.0, None),
        (0.0, None),
        ("no price for accelerator NVIDIA_H100_80GB x1 in us-central1",),
    ),
    EndpointCase(
        "an unconfirmed price is used and said to be unconfirmed",
        Action.CREATE,
        None,
        endpoint_view(("primary", "g2-standard-8", 1, 1)),
        (0.0, 730.0),
        (0.0, 730.0),
        ("prices not confirmed by their source: g2-standard-8 in us-central1",),
    ),
]


@pytest.mark.parametrize("case", ENDPOINT_CASES, ids=lambda c: c.name)
def test_an_endpoint_costs_its_replicas_machine_and_accelerator_hours_for_730_hours(case: EndpointCase) -> None:
    cost = endpoint_cost(endpoint_change("chat", case.action, case.before, case.after), FakePrices())
    assert cost.kind is CostKind.SERVING
    assert (cost.monthly_before, cost.monthly_after) == pytest.approx(case.monthly)
    assert (cost.monthly_max_before, cost.monthly_max_after) == pytest.approx(case.maximum)
    assert cost.notes == case.notes
    assert cost.priced == (None not in case.monthly)


def test_an_unchanged_endpoint_is_priced_but_not_marked_changed() -> None:
    view = endpoint_view(("primary", "n1-standard-4", 1, 3))
    cost = endpoint_cost(endpoint_change("chat", Action.NOOP, view, view), FakePrices())
    assert not cost.changed
    assert (cost.monthly_before, cost.monthly_after, cost.monthly_delta, cost.monthly_max_delta) == pytest.approx(
        (146.0, 146.0, 0.0, 0.0)
    )


# --- prompts ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptCase:
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    per_1k: tuple[float | None, float | None]
    note: str


PROMPT_CASES = [
    PromptCase(
        "a new prompt: ceil(chars / 4) input tokens and maxOutputTokens output tokens",
        None,
        prompt_view("x" * 400, vertex=FLASH, maxOutputTokens=200),  # 100 x $0.10 + 200 x $0.40 per 1M
        (None, 0.09),
        "estimated 100 input tokens (template, without variables) and 200 output tokens per request",
    ),
    PromptCase(
        "a longer template costs its extra input tokens",
        prompt_view("x" * 400, vertex=FLASH, maxOutputTokens=200),
        prompt_view("x" * 800, vertex=FLASH, maxOutputTokens=200),
        (0.09, 0.10),
        "estimated 200 input tokens (template, without variables) and 200 output tokens per request",
    ),
    PromptCase(
        "a part token counts as a whole one",
        None,
        prompt_view("x" * 401, vertex=FLASH, maxOutputTokens=200),
        (None, 0.0901),
        "estimated 101 input tokens (template, without variables) and 200 output tokens per request",
    ),
    PromptCase(
        "without maxOutputTokens the default of 1,024 output tokens is assumed",
        None,
        prompt_view("x" * 400, vertex=FLASH),
        (None, 0.4196),
        "estimated 100 input tokens (template, without variables) and 1,024 output tokens per request",
    ),
    PromptCase(
        "a change of model is priced at the new model's tokens",
        prompt_view("x" * 400, vertex=FLASH, maxOutputTokens=200),
        prompt_view("x" * 400, vertex=PRO, maxOutputTokens=200),
        (0.09, 2.125),
        "estimated 100 input tokens (template, without variables) and 200 output tokens per request",
    ),
    PromptCase(
        "a model named directly (no Vertex model recorded) is priced by its name",
        None,
        prompt_view("x" * 400, model="gemini-2.0-flash", maxOutputTokens=200),
        (None, 0.09),
        "estimated 100 input tokens (template, without variables) and 200 output tokens per request",
    ),
    PromptCase(
        "a model without token prices leaves the prompt unpriced, with a note",
        None,
        prompt_view("x" * 400, model="support-llm", maxOutputTokens=200),
        (None, None),
        "no input token price for model support-llm",
    ),
]


@pytest.mark.parametrize("case", PROMPT_CASES, ids=lambda c: c.name)
def test_a_prompt_costs_its_estimated_tokens_per_1000_requests(case: PromptCase) -> None:
    action = Action.CREATE if case.before is None else Action.UPDATE
    cost = prompt_cost(prompt_change("answer", action, case.before, case.after), FakePrices())
    assert cost.kind is CostKind.PROMPT
    assert (cost.per_1k_requests_before, cost.per_1k_requests_after) == pytest.approx(case.per_1k)
    assert case.note in cost.notes


# --- tuning jobs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "base", "one_off", "note"),
    [
        (2_000_000, "gemini-2.0-flash-001", 6.0, "estimated 2,000,000 training tokens (examples x tokens x epochs)"),
        (2_000_000, "publishers/google/models/gemini-2.0-flash-001", 6.0, "estimated 2,000,000 training tokens"),
        (None, "gemini-2.0-flash-001", None, "training tokens unknown (the dataset was not counted)"),
        (1_000, "gemini-9.0-ultra", None, "no tuning price for gemini-9.0-ultra"),
    ],
)
def test_a_tuning_job_costs_its_estimated_training_tokens_once(
    tokens: int | None, base: str, one_off: float | None, note: str
) -> None:
    cost = tuning_cost(tuning_change("tune", tokens, base=base), FakePrices())
    assert cost is not None
    assert cost.one_off == pytest.approx(one_off)
    assert any(n.startswith(note) for n in cost.notes), cost.notes


def test_a_tuning_job_that_starts_nothing_is_not_priced() -> None:
    change = ResourceChange("TuningJob", "tune", "us-central1", Action.NOOP, {"specHash": "h"}, {"specHash": "h"})
    assert tuning_cost(change, FakePrices()) is None
    assert resource_costs([change], FakePrices()) == ()


# --- the plan ---------------------------------------------------------------------------------------------


def mixed_plan() -> Plan:
    """A created GPU endpoint (+$876), an unchanged one ($146), a scaled one (+$146), an unpriced one, a
    tuning job ($6) and a prompt (+$0.01 per 1,000)."""
    small = endpoint_view(("primary", "n1-standard-4", 1, 1))
    return Plan(
        (
            endpoint_change(
                "gpu", Action.CREATE, None, endpoint_view(("p", "n1-standard-4", 1, 2, "NVIDIA_TESLA_T4", 2))
            ),
            endpoint_change("steady", Action.NOOP, small, small),
            endpoint_change("scaled", Action.UPDATE, small, endpoint_view(("primary", "n1-standard-4", 2, 2))),
            endpoint_change("odd", Action.UPDATE, small, endpoint_view(("primary", "a2-highgpu-1g", 1, 1))),
            tuning_change("tune", 2_000_000),
            prompt_change(
                "answer",
                Action.UPDATE,
                prompt_view("x" * 400, vertex=FLASH, maxOutputTokens=200),
                prompt_view("x" * 800, vertex=FLASH, maxOutputTokens=200),
            ),
        ),
        target="test",
    )


def test_the_plan_total_is_the_sum_of_the_priced_changes_and_names_the_unpriced() -> None:
    cost = plan_cost(mixed_plan(), FakePrices())
    assert cost.as_of == "2025-06-01"
    assert cost.total_monthly_delta == pytest.approx(876.0 + 146.0)
    assert cost.total_monthly_max_delta == pytest.approx(1752.0 + 146.0)
    assert cost.total_one_off == pytest.approx(6.0)
    assert [line.address for line in cost.unpriced] == ["Endpoint/us-central1/odd"]
    assert [line.address for line in cost.changed] == [
        "Endpoint/us-central1/gpu",
        "Endpoint/us-central1/scaled",
        "Endpoint/us-central1/odd",
        "TuningJob/us-central1/tune",
        "Prompt/global/answer",
    ]
    assert cost.monthly_after(CostKind.SERVING) == pytest.approx(876.0 + 146.0 + 292.0)


def test_each_machine_type_is_looked_up_once_per_plan() -> None:
    view = endpoint_view(("primary", "n1-standard-4", 1, 1))
    changes = [endpoint_change(f"e{i}", Action.NOOP, view, view) for i in range(100)]
    prices = FakePrices()
    assert len(resource_costs(changes, prices)) == 100
    assert prices.calls == 1


def test_the_cost_survives_json_and_the_planfile_round_trip() -> None:
    plan = priced(mixed_plan(), FakePrices(), today=date(2025, 6, 10))
    assert plan.cost is not None
    document = json.loads(json.dumps(cost_to_json(plan.cost)))
    assert cost_from_json(document) == plan.cost
    assert document["unpriced"] == ["Endpoint/us-central1/odd"]
    body = json.loads(json.dumps(plan_body(plan)))
    assert plan_from_body(body) == plan


def test_a_planfile_without_a_cost_still_loads() -> None:
    body = json.loads(json.dumps(plan_body(mixed_plan())))
    assert "cost" not in body
    assert plan_from_body(body).cost is None


# --- budgets ----------------------------------------------------------------------------------------------

SERVING_OVER = (
    "Budget/prod: serving would cost $1,314.00/month, over the limit $1,000.00 by $314.00 "
    "(Endpoint/us-central1/gpu +$876.00, Endpoint/us-central1/scaled +$146.00, unchanged endpoints $146.00)"
)
OVERRIDE = {"until": "2025-06-30", "reason": "launch week", "approvedBy": "ana"}


@dataclass(frozen=True)
class BudgetCase:
    name: str
    limits: dict[str, float]
    today: date
    errors: tuple[str, ...]
    note: str = ""
    override: bool = False


BUDGET_CASES = [
    BudgetCase(
        "serving over the limit fails with the amounts", {"serving": 1000.0}, date(2025, 6, 10), (SERVING_OVER,)
    ),
    BudgetCase("serving under the limit passes", {"serving": 2000.0}, date(2025, 6, 10), ()),
    BudgetCase(
        "an override passes until and on its date, with a note",
        {"serving": 1000.0},
        date(2025, 6, 30),
        (),
        note=f"{SERVING_OVER}; allowed by its override until 2025-06-30 (approved by ana: launch week)",
        override=True,
    ),
    BudgetCase(
        "the day after the override the plan fails again",
        {"serving": 1000.0},
        date(2025, 7, 1),
        (SERVING_OVER,),
        override=True,
    ),
    BudgetCase(
        "tuning over the limit fails with the job and its cost",
        {"tuning": 5.0},
        date(2025, 6, 10),
        (
            "Budget/prod: the tuning jobs this plan starts would cost $6.00, over the monthly limit $5.00 by $1.00 "
            "(TuningJob/us-central1/tune $6.00)",
        ),
    ),
    BudgetCase(
        "a prompt over the per-request limit fails with its cost per request and per 1,000",
        {"perRequest": 0.00005},
        date(2025, 6, 10),
        (
            "Budget/prod: 1 prompt would cost more than the limit $0.000050 per request ($0.0500 per 1,000): "
            "Prompt/global/answer $0.000100 per request ($0.1000 per 1,000, +$0.0100), over by $0.000050",
        ),
    ),
    BudgetCase("a prompt under the per-request limit passes", {"perRequest": 0.001}, date(2025, 6, 10), ()),
    BudgetCase(
        "unpriced resources are said to be left out",
        {"serving": 5000.0},
        date(2025, 6, 10),
        (),
        note="not counted against the budgets (no price): Endpoint/us-central1/odd",
    ),
]


@pytest.mark.parametrize("case", BUDGET_CASES, ids=lambda c: c.name)
def test_a_plan_over_a_budget_fails_unless_a_dated_override_is_in_force(case: BudgetCase) -> None:
    limits = {"serving": None, "tuning": None, "perRequest": None, **case.limits}
    manifest = budget(
        serving=limits["serving"],
        tuning=limits["tuning"],
        per_request=limits["perRequest"],
        override=OVERRIDE if case.override else None,
    )
    source = Source("manifests/budget.yaml", 1, 1)
    plan = priced(mixed_plan(), FakePrices(), budgets=[manifest], today=case.today, sources={"Budget/prod": source})
    assert tuple(d.summary for d in plan.diagnostics) == case.errors
    assert all(d.severity is Severity.ERROR and d.source == source for d in plan.diagnostics)
    if case.note:
        assert case.note in plan.notes
    if case.errors and case.override:
        assert plan.diagnostics[0].detail == "its override (approved by ana) expired on 2025-06-30"


def test_the_diagnostic_points_at_the_limit_it_breaks() -> None:
    manifest = budget(serving=1.0, tuning=1.0, per_request=0.0)
    plan = priced(mixed_plan(), FakePrices(), budgets=[manifest], today=date(2025, 6, 10))
    assert [d.path for d in plan.diagnostics] == ["spec.limits.serving", "spec.limits.tuning", "spec.limits.perRequest"]


def test_a_cost_over_the_limit_already_that_the_plan_does_not_raise_is_a_note_not_a_failure() -> None:
    big = endpoint_view(("primary", "n1-standard-4", 4, 4))
    smaller = endpoint_view(("primary", "n1-standard-4", 3, 3))
    plan = Plan((endpoint_change("chat", Action.UPDATE, big, smaller),))
    checked = priced(plan, FakePrices(), budgets=[budget(serving=100.0)], today=date(2025, 6, 10))
    assert checked.diagnostics == ()
    assert checked.notes == (
        "Budget/prod: serving would cost $438.00/month, over the limit $100.00 by $338.00 "
        "(Endpoint/us-central1/chat -$146.00); this plan does not raise it (-$146.00/month)",
    )


def test_without_budgets_the_plan_gets_its_cost_and_nothing_else() -> None:
    plan = priced(mixed_plan(), FakePrices(), today=date(2025, 6, 10))
    assert plan.cost is not None and plan.diagnostics == () and plan.notes == ()


def test_check_budgets_reads_only_the_cost_it_is_given() -> None:
    cost = PlanCost(
        lines=(ResourceCost("Endpoint/us-central1/a", CostKind.SERVING, True, 0.0, 1500.0, 1500.0, 0.0),),
        total_monthly_delta=1500.0,
        total_one_off=0.0,
        as_of="2025-06-01",
    )
    verdict = check_budgets(cost, [budget(serving=1000.0)], today=date(2025, 6, 10))
    assert [d.summary for d in verdict.diagnostics] == [
        "Budget/prod: serving would cost $1,500.00/month, over the limit $1,000.00 by $500.00 "
        "(Endpoint/us-central1/a +$1,500.00)"
    ]
    assert verdict.diagnostics[0].source == Source("(budget)")

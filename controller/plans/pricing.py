"""Pricing a Plan, purely: what each changed resource costs before and after, from the plan's own values
and a price table (`controller.cost`, passed in), so a saved plan carries the cost it was reviewed with.

- An Endpoint costs, per month, the sum over its deployments of (node hour of its machine type + accelerator
  hours) x min replicas x 730 h; the same at max replicas is the top of the range. Before is the live
  endpoint, after the manifest; a created endpoint costs nothing before, a deleted one nothing after.
- A TuningJob the plan starts costs, once, its estimated training tokens (examples x tokens x epochs,
  `StartTuningJob.estimated_tokens`) at the base model's tuning price.
- A Prompt's cost per 1,000 requests is estimated from its text: ceil(characters / 4) input tokens for the
  template and system instruction (variables come on top), and `maxOutputTokens` (or
  `DEFAULT_OUTPUT_TOKENS`) output tokens, at its model's token prices. Measured token counts from the
  runtime client's metrics are not used yet.

A resource without a price (an unknown machine type, a registry model's tokens) is marked unpriced and left
out of the totals, with a note; a price the table marks unconfirmed is used, with a note. `priced` attaches
the cost to the plan and checks the budgets (`plans/budgets.py`): the one call the engine makes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal, Protocol

from controller.diagnostics import Source
from controller.model import Budget
from controller.plans.budgets import check_budgets
from controller.plans.costs import HOURS_PER_MONTH, CostKind, PlanCost, ResourceCost
from controller.plans.operations import StartTuningJob
from controller.plans.plan import Action, Plan, ResourceChange

CHARS_PER_TOKEN = 4  # the usual estimate for English text; the runtime measures the real counts
DEFAULT_OUTPUT_TOKENS = 1024  # when a prompt sets no maxOutputTokens
_PUBLISHER = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/[^/]+/models/")
_ACCELERATOR = re.compile(r"^(?P<type>[A-Z0-9_]+) x(?P<count>[0-9]+)$")  # as plans/views_of.deployment_view writes


class PriceLike(Protocol):
    """What pricing reads of a price (`controller.cost.prices.Price`)."""

    @property
    def usd(self) -> float: ...

    @property
    def confirmed(self) -> bool: ...


class Prices(Protocol):
    """What pricing asks of a price table (`controller.cost.prices.PriceTable`)."""

    @property
    def as_of(self) -> str: ...

    def node_hour(self, *, region: str, machine_type: str) -> PriceLike | None: ...

    def accelerator_hour(self, *, region: str, accelerator: str) -> PriceLike | None: ...

    def tokens(
        self, *, model: str, kind: Literal["input", "output", "cached"], prompt_tokens: int = 0
    ) -> PriceLike | None: ...

    def tuning_tokens(self, *, base_model: str) -> PriceLike | None: ...


@dataclass
class _Lookup:
    """Price look-ups memoised for one plan (a thousand endpoints share a handful of machine types)."""

    prices: Prices
    hourly: dict[tuple[str, str, str], PriceLike | None] = field(default_factory=dict)

    def node(self, region: str, machine_type: str) -> PriceLike | None:
        key = ("node", region, machine_type)
        if key not in self.hourly:
            self.hourly[key] = self.prices.node_hour(region=region, machine_type=machine_type)
        return self.hourly[key]

    def accelerator(self, region: str, accelerator: str) -> PriceLike | None:
        key = ("accelerator", region, accelerator)
        if key not in self.hourly:
            self.hourly[key] = self.prices.accelerator_hour(region=region, accelerator=accelerator)
        return self.hourly[key]


@dataclass
class _Notes:
    """What a reviewer should know about one resource's figures: missing prices and estimates as said, and
    the prices their source did not confirm gathered into one note."""

    said: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)

    def append(self, text: str) -> None:
        self.said.append(text)

    def check(self, what: str, price: PriceLike) -> None:
        if not price.confirmed:
            self.unconfirmed.append(what)

    def done(self) -> tuple[str, ...]:
        out = list(dict.fromkeys(self.said))
        if self.unconfirmed:
            out.append("prices not confirmed by their source: " + ", ".join(dict.fromkeys(self.unconfirmed)))
        return tuple(out)


def _deployment_hour(region: str, view: Mapping[str, Any], lookup: _Lookup, notes: _Notes) -> float | None:
    """What one replica of a deployment costs per hour; None (and a note) when a price is missing."""
    machine = str(view.get("machineType", ""))
    node = lookup.node(region, machine)
    if node is None:
        notes.append(f"no price for machine type {machine} in {region}")
        return None
    notes.check(f"{machine} in {region}", node)
    hourly = node.usd
    accelerator = view.get("accelerator")
    if accelerator is not None:
        match = _ACCELERATOR.match(str(accelerator))
        price = lookup.accelerator(region, match["type"]) if match else None
        if match is None or price is None:
            notes.append(f"no price for accelerator {accelerator} in {region}")
            return None
        notes.check(f"{match['type']} in {region}", price)
        hourly += price.usd * int(match["count"])
    return hourly


def _endpoint_month(
    region: str, view: Mapping[str, Any] | None, lookup: _Lookup, notes: _Notes
) -> tuple[float | None, float | None]:
    """(monthly at min replicas, monthly at max replicas) of an endpoint view; zero when there is none."""
    if view is None:
        return 0.0, 0.0
    low = high = 0.0
    for deployment in dict(view.get("deployments") or {}).values():
        hourly = _deployment_hour(region, deployment, lookup, notes)
        if hourly is None:
            return None, None
        low += hourly * int(deployment.get("minReplicas", 0)) * HOURS_PER_MONTH
        high += hourly * int(deployment.get("maxReplicas", deployment.get("minReplicas", 0))) * HOURS_PER_MONTH
    return low, high


def _endpoint_cost(change: ResourceChange, lookup: _Lookup) -> ResourceCost:
    notes = _Notes()
    before, before_max = _endpoint_month(change.region, change.before, lookup, notes)
    after, after_max = _endpoint_month(
        change.region, None if change.action is Action.DELETE else change.after, lookup, notes
    )
    return ResourceCost(
        address=change.address,
        kind=CostKind.SERVING,
        changed=change.action is not Action.NOOP,
        monthly_before=before,
        monthly_after=after,
        monthly_max_before=before_max,
        monthly_max_after=after_max,
        notes=notes.done(),
    )


def endpoint_cost(change: ResourceChange, prices: Prices) -> ResourceCost:
    """Monthly cost of an Endpoint before and after, at min and at max replicas."""
    return _endpoint_cost(change, _Lookup(prices))


def model_id(model: str) -> str:
    """`gemini-3.5-flash` from `publishers/google/models/gemini-3.5-flash` (or its project-qualified form)."""
    return _PUBLISHER.sub("", model)


def tuning_cost(change: ResourceChange, prices: Prices) -> ResourceCost | None:
    """The one-off training cost of the tuning job a change starts; None when it starts none."""
    start = next((op for op in change.operations if isinstance(op, StartTuningJob)), None)
    if start is None:
        return None
    base = model_id(start.base_model)
    price = prices.tuning_tokens(base_model=base)
    notes = _Notes()
    one_off: float | None = None
    if start.estimated_tokens is None:
        notes.append("training tokens unknown (the dataset was not counted)")
    elif price is None:
        notes.append(f"no tuning price for {base}")
    else:
        one_off = start.estimated_tokens / 1e6 * price.usd
        notes.append(f"estimated {start.estimated_tokens:,} training tokens (examples x tokens x epochs)")
        notes.check(f"tuning {base}", price)
    return ResourceCost(address=change.address, kind=CostKind.TUNING, changed=True, one_off=one_off, notes=notes.done())


@dataclass(frozen=True)
class PromptEstimate:
    """The tokens one request of a prompt version is estimated to use, and its model."""

    model: str
    input_tokens: int
    output_tokens: int


def prompt_estimate(view: Mapping[str, Any]) -> PromptEstimate:
    """Tokens of one request of a prompt version (a Prompt change's before or after)."""
    text = str(view.get("template") or "") + str(view.get("systemInstruction") or "")
    config = view.get("generationConfig") or {}
    output = config.get("maxOutputTokens") if isinstance(config, Mapping) else None
    model = str(view.get("vertexModel") or view.get("model") or "")
    return PromptEstimate(
        model=model_id(model),
        input_tokens=math.ceil(len(text) / CHARS_PER_TOKEN),
        output_tokens=int(output)
        if isinstance(output, int) and not isinstance(output, bool)
        else DEFAULT_OUTPUT_TOKENS,
    )


@dataclass(frozen=True)
class MeasuredTokens:
    """What the runtime measured for a prompt's current version: tokens per request a model answered."""

    input_tokens: float
    output_tokens: float
    requests: int


def _per_1k(
    view: Mapping[str, Any] | None, prices: Prices, notes: _Notes, measured: tuple[float, float] | None = None
) -> float | None:
    if view is None:
        return None
    estimate = prompt_estimate(view)
    given_in, given_out = measured if measured is not None else (estimate.input_tokens, estimate.output_tokens)
    given: tuple[tuple[Literal["input", "output"], float], ...] = (("input", given_in), ("output", given_out))
    total = 0.0
    for kind, tokens in given:
        price = prices.tokens(model=estimate.model, kind=kind, prompt_tokens=math.ceil(given_in))
        if price is None:
            notes.append(f"no {kind} token price for model {estimate.model}")
            return None
        notes.check(f"{kind} tokens of {estimate.model}", price)
        total += tokens / 1e6 * price.usd * 1000
    return total


def _after_tokens(before: Mapping[str, Any], after: Mapping[str, Any], measured: MeasuredTokens) -> tuple[float, float]:
    """The planned version's tokens from the current one's measured ones: input moves by the template's
    length change, output is capped by the new maxOutputTokens."""
    old, new = prompt_estimate(before), prompt_estimate(after)
    input_tokens = max(0.0, measured.input_tokens + new.input_tokens - old.input_tokens)
    config = after.get("generationConfig") or {}
    cap = config.get("maxOutputTokens") if isinstance(config, Mapping) else None
    output = (
        min(measured.output_tokens, float(cap))
        if isinstance(cap, int) and not isinstance(cap, bool)
        else measured.output_tokens
    )
    return input_tokens, output


def prompt_cost(change: ResourceChange, prices: Prices, measured: MeasuredTokens | None = None) -> ResourceCost:
    """The cost per 1,000 requests of a Prompt's current and planned versions: from the runtime's measured
    tokens of the current version when there are any (the planned one moved by its template's length and
    capped by its maxOutputTokens), else an estimate from the text."""
    notes = _Notes()
    if measured is not None and change.before is not None:
        before = _per_1k(change.before, prices, notes, (measured.input_tokens, measured.output_tokens))
        tokens = _after_tokens(change.before, change.after, measured) if change.after is not None else None
        after = _per_1k(change.after, prices, notes, tokens)
        notes.append(
            f"measured {measured.input_tokens:,.0f} input and {measured.output_tokens:,.0f} output tokens per "
            f"request of the current version over {measured.requests:,} requests"
        )
    else:
        before = _per_1k(change.before, prices, notes)
        after = _per_1k(change.after, prices, notes)
        if change.after is not None:
            estimate = prompt_estimate(change.after)
            notes.append(
                f"estimated {estimate.input_tokens:,} input tokens (template, without variables) and "
                f"{estimate.output_tokens:,} output tokens per request"
            )
    return ResourceCost(
        address=change.address,
        kind=CostKind.PROMPT,
        changed=change.action is not Action.NOOP,
        per_1k_requests_before=before,
        per_1k_requests_after=after,
        notes=notes.done(),
    )


def resource_costs(
    changes: Iterable[ResourceChange], prices: Prices, measured: Mapping[str, MeasuredTokens] | None = None
) -> tuple[ResourceCost, ...]:
    """One ResourceCost per Endpoint and Prompt, and per TuningJob that starts a job, in plan order."""
    lookup = _Lookup(prices)
    lines: list[ResourceCost] = []
    for change in changes:
        match change.kind:
            case "Endpoint":
                lines.append(_endpoint_cost(change, lookup))
            case "Prompt":
                lines.append(prompt_cost(change, prices, (measured or {}).get(change.name)))
            case "TuningJob":
                line = tuning_cost(change, prices)
                if line is not None:
                    lines.append(line)
            case _:
                pass  # Models, Datasets and Pipelines are not priced (storage and pipeline runs: later)
    return tuple(lines)


def plan_cost(plan: Plan, prices: Prices, measured: Mapping[str, MeasuredTokens] | None = None) -> PlanCost:
    """The cost of `plan`: every line and the totals of the priced ones (`measured`: prompt name -> the
    runtime's tokens for its current version)."""
    lines = resource_costs(plan.changes, prices, measured)
    priced = [line for line in lines if line.priced]
    return PlanCost(
        lines=lines,
        total_monthly_delta=sum(line.monthly_delta for line in priced),
        total_one_off=sum(line.one_off or 0.0 for line in priced),
        as_of=prices.as_of,
        total_monthly_max_delta=sum(line.monthly_max_delta for line in priced),
    )


def priced(
    plan: Plan,
    prices: Prices,
    *,
    budgets: Iterable[Budget] = (),
    today: date,
    sources: Mapping[str, Source] | None = None,
    measured: Mapping[str, MeasuredTokens] | None = None,
) -> Plan:
    """`plan` with its cost attached, and the budgets checked: an exceeded limit is an error diagnostic, an
    override in force or a cost over a limit already is a note."""
    cost = plan_cost(plan, prices, measured)
    verdict = check_budgets(cost, budgets, today=today, sources=sources)
    return replace(
        plan,
        cost=cost,
        diagnostics=(*plan.diagnostics, *verdict.diagnostics),
        notes=(*plan.notes, *verdict.notes),
    )


__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_OUTPUT_TOKENS",
    "MeasuredTokens",
    "PriceLike",
    "Prices",
    "PromptEstimate",
    "endpoint_cost",
    "model_id",
    "plan_cost",
    "priced",
    "prompt_cost",
    "prompt_estimate",
    "resource_costs",
    "tuning_cost",
]

"""A small price table for the pricing tests (the shape of `controller.cost.prices.PriceTable`, with round
numbers so that every expected amount can be worked out by hand), and builders of the resource changes the
planners make."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from controller.model import Budget
from controller.observed import DeploymentSpec
from controller.plans.operations import StartTuningJob
from controller.plans.plan import Action, ResourceChange
from controller.plans.views_of import deployment_view

REGION = "us-central1"


@dataclass(frozen=True)
class FakePrice:
    """A price: dollars, and whether the table's source confirmed it."""

    usd: float
    confirmed: bool = True


@dataclass
class FakePrices:
    """Node hours by (region, machine type), accelerator hours by (region, type), token prices per 1M by
    (model, kind), tuning prices per 1M training tokens by base model."""

    as_of: str = "2025-06-01"
    nodes: Mapping[tuple[str, str], FakePrice] = field(
        default_factory=lambda: {
            (REGION, "n1-standard-4"): FakePrice(0.20),
            (REGION, "n1-standard-2"): FakePrice(0.10),
            (REGION, "g2-standard-8"): FakePrice(1.00, confirmed=False),
        }
    )
    accelerators: Mapping[tuple[str, str], FakePrice] = field(
        default_factory=lambda: {(REGION, "NVIDIA_TESLA_T4"): FakePrice(0.50)}
    )
    token_prices: Mapping[tuple[str, str], FakePrice] = field(
        default_factory=lambda: {
            ("gemini-2.0-flash", "input"): FakePrice(0.10),
            ("gemini-2.0-flash", "output"): FakePrice(0.40),
            ("gemini-2.5-pro", "input"): FakePrice(1.25),
            ("gemini-2.5-pro", "output"): FakePrice(10.00),
        }
    )
    tuning: Mapping[str, FakePrice] = field(default_factory=lambda: {"gemini-2.0-flash-001": FakePrice(3.00)})
    calls: int = 0

    def node_hour(self, *, region: str, machine_type: str) -> FakePrice | None:
        self.calls += 1
        return self.nodes.get((region, machine_type))

    def accelerator_hour(self, *, region: str, accelerator: str) -> FakePrice | None:
        self.calls += 1
        return self.accelerators.get((region, accelerator))

    def tokens(
        self, *, model: str, kind: Literal["input", "output", "cached"], prompt_tokens: int = 0
    ) -> FakePrice | None:
        return self.token_prices.get((model, kind))

    def tuning_tokens(self, *, base_model: str) -> FakePrice | None:
        return self.tuning.get(base_model)


def endpoint_view(*deployments: tuple[str, str, int, int] | tuple[str, str, int, int, str, int]) -> dict[str, Any]:
    """An endpoint view as the planner writes it; each deployment is (name, machine type, min, max) and
    optionally (accelerator type, count)."""
    views = {}
    for d in deployments:
        accelerator = (d[4], d[5]) if len(d) == 6 else (None, 0)
        spec = DeploymentSpec(d[0], "llm", "1", d[1], d[2], d[3], accelerator[0], accelerator[1])
        views[d[0]] = deployment_view(spec)
    return {"displayName": "x", "labels": {}, "deployments": views, "traffic": {}}


def endpoint_change(
    name: str, action: Action, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> ResourceChange:
    """An Endpoint change."""
    return ResourceChange("Endpoint", name, REGION, action, before, after)


def prompt_view(
    template: str, *, model: str = "gemini-flash", vertex: str | None = None, **config: Any
) -> dict[str, Any]:
    """A Prompt change's before or after (a version's content)."""
    view: dict[str, Any] = {"version": "v", "template": template, "systemInstruction": None, "model": model}
    view["generationConfig"] = dict(config)
    if vertex is not None:
        view["vertexModel"] = vertex
    return view


def prompt_change(name: str, action: Action, before: dict[str, Any] | None, after: dict[str, Any]) -> ResourceChange:
    """A Prompt change."""
    return ResourceChange("Prompt", name, "global", action, before, after)


def tuning_change(name: str, tokens: int | None, *, base: str = "gemini-2.0-flash-001") -> ResourceChange:
    """A TuningJob change that starts a job of `tokens` estimated training tokens."""
    start = StartTuningJob(
        name=name,
        region=REGION,
        spec_hash="h",
        attempt=1,
        base_model=base,
        training_uri="gs://b/t.jsonl",
        validation_uri=None,
        epochs=2,
        learning_rate_multiplier=None,
        adapter_size=None,
        display_name=name,
        description="",
        estimated_tokens=tokens,
    )
    return ResourceChange("TuningJob", name, REGION, Action.CREATE, None, {"specHash": "h"}, operations=(start,))


def budget(
    name: str = "prod",
    *,
    serving: float | None = None,
    tuning: float | None = None,
    per_request: float | None = None,
    override: dict[str, str] | None = None,
) -> Budget:
    """A Budget manifest."""
    limits = {k: v for k, v in (("serving", serving), ("tuning", tuning), ("perRequest", per_request)) if v is not None}
    spec: dict[str, Any] = {"limits": limits}
    if override is not None:
        spec["override"] = override
    return Budget.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Budget", "metadata": {"name": name}, "spec": spec}
    )

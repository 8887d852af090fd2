"""Benchmark: pricing a 1,000-endpoint plan and checking it against a Budget (issue 16: the total of a
1,000-endpoint plan is computed in < 100 ms).

The plan is built by the real pure planner from 2 models and `--endpoints` Endpoint manifests (2
deployments each, over 4 machine types, one with a GPU, in 3 regions) against an empty project; a second
plan updates every endpoint (live views at 1 replica, the manifests at 2), so both before and after are
priced. Baseline, measured in the same run: building the first plan itself (`plans.planner.plan`). The
bundled price table is read once before timing (as one `genaiops plan` process does). Medians of
`--repeat` runs; nothing is asserted (benchmarks print).

    python benchmarks/cost_bench.py [--endpoints 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

from controller.cost import bundled
from controller.model import Budget, Endpoint, Model
from controller.observed import Observed
from controller.plans.plan import Action, Plan
from controller.plans.planner import plan as make_plan
from controller.plans.pricing import priced

IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"
REGIONS = ("us-central1", "europe-west4", "asia-east1")
MACHINES: tuple[dict[str, Any], ...] = (
    {"machineType": "n1-standard-4"},
    {"machineType": "n1-standard-8"},
    {"machineType": "e2-standard-4"},
    {"machineType": "g2-standard-8", "accelerator": {"type": "NVIDIA_L4", "count": 1}},
)
BUDGET = Budget.model_validate(
    {
        "apiVersion": "genaiops/v1",
        "kind": "Budget",
        "metadata": {"name": "bench"},
        "spec": {"limits": {"serving": 1_000_000.0, "perRequest": 0.01}},
    }
)


def manifests(count: int) -> list[Model | Endpoint]:
    """Two models per region and `count` endpoints, each serving both 90/10."""
    models: list[Model | Endpoint] = [
        Model.model_validate(
            {
                "apiVersion": "genaiops/v1",
                "kind": "Model",
                "metadata": {"name": f"{name}-{region}"},
                "spec": {
                    "region": region,
                    "upload": {"artifactUri": f"gs://models/{name}/v1", "servingContainer": {"imageUri": IMAGE}},
                },
            }
        )
        for name in ("blue", "green")
        for region in REGIONS
    ]
    endpoints: list[Model | Endpoint] = []
    for i in range(count):
        region = REGIONS[i % len(REGIONS)]
        machine = MACHINES[i % len(MACHINES)]
        deployments = [
            {"name": colour, "model": f"{colour}-{region}", "minReplicas": 2, "maxReplicas": 4, **machine}
            for colour in ("blue", "green")
        ]
        endpoints.append(
            Endpoint.model_validate(
                {
                    "apiVersion": "genaiops/v1",
                    "kind": "Endpoint",
                    "metadata": {"name": f"ep-{i:04d}"},
                    "spec": {"region": region, "deployments": deployments, "traffic": {"blue": 90, "green": 10}},
                }
            )
        )
    return models + endpoints


def one_replica(view: Any) -> dict[str, Any]:
    """The same endpoint view at 1 replica (what the update plan says is live)."""
    deployments = {name: {**d, "minReplicas": 1, "maxReplicas": 1} for name, d in view["deployments"].items()}
    return {**view, "deployments": deployments}


def updates(created: Plan) -> Plan:
    """Every endpoint of `created` as an update from 1 replica to what the manifests ask."""
    changes = tuple(
        replace(c, action=Action.UPDATE, before=one_replica(c.after)) if c.kind == "Endpoint" else c
        for c in created.changes
    )
    return replace(created, changes=changes)


def median_ms(run: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` runs, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    """Build the plans, then time building (baseline) and pricing them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    desired = manifests(args.endpoints)
    started = time.perf_counter()
    table = bundled()
    print(f"read the bundled price table (once per process) in {(time.perf_counter() - started) * 1000:.1f} ms")
    created = make_plan(desired, Observed(), prune=False, target="bench")
    updated = updates(created)
    today = date(2025, 6, 10)
    checked = priced(updated, table, budgets=[BUDGET], today=today)
    assert checked.cost is not None
    endpoints = sum(1 for c in created.changes if c.kind == "Endpoint")
    print(
        f"{endpoints} endpoints x 2 deployments; update plan total {checked.cost.total_monthly_delta:+,.2f} USD/month "
        f"(up to {checked.cost.total_monthly_max_delta:+,.2f}), {len(checked.cost.unpriced)} unpriced"
    )

    baseline = median_ms(lambda: make_plan(desired, Observed(), prune=False, target="bench"), args.repeat)
    create_ms = median_ms(lambda: priced(created, table, budgets=[BUDGET], today=today), args.repeat)
    update_ms = median_ms(lambda: priced(updated, table, budgets=[BUDGET], today=today), args.repeat)
    print(f"baseline: building the plan            {baseline:8.1f} ms (median of {args.repeat})")
    print(f"pricing + budget check, create plan    {create_ms:8.1f} ms ({create_ms / baseline:.1%} of the baseline)")
    print(f"pricing + budget check, update plan    {update_ms:8.1f} ms ({update_ms / baseline:.1%} of the baseline)")
    print("goal: < 100 ms for the total of a 1,000-endpoint plan")


if __name__ == "__main__":
    main()

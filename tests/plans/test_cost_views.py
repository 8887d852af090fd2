"""The cost in the plan views: the human view's cost section and total line, the `cost` object of the JSON
document, and the cost section of the Markdown PR comment, for the example manifests (manifests/) priced
with the bundled table."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from controller.cost import bundled
from controller.engine.planning import manifests_of, sources
from controller.loader import load
from controller.observed import Observed
from controller.plans.costs import usd
from controller.plans.plan import Action, Plan
from controller.plans.planner import plan as make_plan
from controller.plans.pricing import priced
from controller.prompts.prompt_plan import plan_prompts
from controller.prompts.source import sources_of
from controller.providers.prompt_store import LocalPromptStore
from controller.views.plan_human import render_plan
from controller.views.plan_json import plan_to_json
from controller.views.plan_markdown import render_markdown
from tests.helpers import MANIFESTS
from tests.plans.pricing_fakes import FakePrices, endpoint_change, endpoint_view
from tests.plans.test_costs import mixed_plan

TODAY = date(2025, 6, 10)


def human(plan: Plan) -> str:
    out = io.StringIO()
    render_plan(plan, Console(file=out, width=200, force_terminal=False, color_system=None))
    return out.getvalue()


def test_the_human_view_lists_each_changed_cost_then_the_total_change() -> None:
    text = human(priced(mixed_plan(), FakePrices(), today=TODAY))
    section = text[text.index("Cost (USD") : text.index("Plan:")].splitlines()
    assert [line for line in section if line and not line.startswith("    ")] == [
        "Cost (USD, prices as of 2025-06-01):",
        "  Endpoint/us-central1/gpu: $0.00/month -> $876.00/month (up to $1,752.00 at max replicas): +$876.00/month",
        "  Endpoint/us-central1/scaled: $146.00/month -> $292.00/month: +$146.00/month",
        "  Endpoint/us-central1/odd: not priced: ?",
        "  TuningJob/us-central1/tune: $6.00 once (training): +$6.00 once",
        "  Prompt/global/answer: $0.0900 per 1,000 requests -> $0.1000 per 1,000 requests: +$0.0100 per 1,000 requests",
        "Cost: +$1,022.00/month (up to +$1,898.00 at max replicas), $6.00 once; 1 resource not priced.",
    ]
    assert "    no price for machine type a2-highgpu-1g in us-central1" in section
    assert "Endpoint/us-central1/steady" not in text  # unchanged: counted by budgets, not listed


def test_a_plan_without_a_cost_or_without_changed_costs_has_no_cost_section() -> None:
    view = endpoint_view(("primary", "n1-standard-4", 1, 1))
    unchanged = Plan((endpoint_change("chat", Action.NOOP, view, view),))
    assert "Cost" not in human(unchanged)
    assert "Cost" not in human(priced(unchanged, FakePrices(), today=TODAY))
    assert "Cost" not in render_markdown(priced(unchanged, FakePrices(), today=TODAY))


def test_the_json_document_carries_the_cost_last_with_its_total_line() -> None:
    document = plan_to_json(priced(mixed_plan(), FakePrices(), today=TODAY))
    assert list(document)[-1] == "cost"
    cost = document["cost"]
    assert (
        cost["line"] == "Cost: +$1,022.00/month (up to +$1,898.00 at max replicas), $6.00 once; 1 resource not priced."
    )
    assert cost["unpriced"] == ["Endpoint/us-central1/odd"]
    gpu = cost["lines"][0]
    assert (gpu["address"], gpu["kind"], gpu["changed"]) == ("Endpoint/us-central1/gpu", "serving", True)
    assert (gpu["monthly_before"], gpu["monthly_after"]) == (0.0, pytest.approx(876.0))
    assert "cost" not in plan_to_json(mixed_plan())


def example_plan(store: Path) -> Plan:
    """The example manifests planned against an empty project and prompt store, priced with the bundled
    table (as `genaiops plan --output markdown` does on a fresh target)."""
    result = load(MANIFESTS)
    assert result.ok, result.diagnostics
    vertex = make_plan(manifests_of(result), Observed(), prune=False, sources=sources(result), target="demo")
    prompts = plan_prompts(sources_of(result.manifests), LocalPromptStore(store))
    return priced(replace(vertex, changes=(*vertex.changes, *prompts)), bundled(), today=TODAY)


def test_the_pr_comment_of_the_example_manifests_has_a_cost_section(tmp_path: Path) -> None:
    table = bundled()
    text = render_markdown(example_plan(tmp_path))
    assert f"#### Cost (USD, prices as of {table.as_of})\n\n| Resource | Before | After | Change |\n" in text
    node = table.node_hour(region="us-central1", machine_type="n1-standard-4")
    assert node is not None
    chat = node.usd * 730  # support-chat: 1 to 3 replicas of n1-standard-4
    assert (
        f"| `Endpoint/us-central1/support-chat` | $0.00/month | {usd(chat)}/month (up to {usd(chat * 3)} at max "
        f"replicas) | +{usd(chat)}/month |\n"
    ) in text
    assert "| `Endpoint/us-central1/intent-router` | $0.00/month |" in text
    assert "| `Prompt/global/support-answer` | none | $" in text
    assert "| `Prompt/global/ticket-triage` | none | $" in text
    assert "estimated 46 input tokens (template, without variables) and 128 output tokens per request" in text
    assert "\n**Cost: +$" in text
    assert text.index("#### Cost") < text.index("<details><summary><code>")  # before the per-resource details


@pytest.mark.parametrize("limit", [400, 1_000, 3_000])
def test_a_pr_comment_with_a_cost_section_stays_within_any_limit(limit: int) -> None:
    view = endpoint_view(("primary", "n1-standard-4", 1, 2))
    many = Plan(tuple(endpoint_change(f"e{i:03}", Action.CREATE, None, view) for i in range(200)), target="t")
    text = render_markdown(priced(many, FakePrices(), today=TODAY), limit=limit)
    assert len(text) <= limit
    assert text.startswith("### genaiops plan for `t`\n\n**Plan: 200 to add")

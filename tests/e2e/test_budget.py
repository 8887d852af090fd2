"""Budgets end to end: `genaiops plan` against the emulator prices the plan (the bundled table under the
manifests' PriceBook, which pins the node-hour so the amounts are exact) and fails with exit 1 when a Budget
would be exceeded, naming the resource and the amounts; a dated override in force lets it pass with a note,
an expired one does not; `apply` refuses an over-budget plan and creates nothing. (The day boundaries of an
override are tested purely, with `today` passed in: tests/plans/test_costs.py.)"""

from __future__ import annotations

import textwrap

import pytest

from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml

DEPLOYMENTS = "[{name: primary, model: llm, machineType: n1-standard-4, minReplicas: 1, maxReplicas: 2}]"
PRICE_BOOK = """\
apiVersion: genaiops/v1
kind: PriceBook
metadata: {name: negotiated}
spec:
  prices:
    - {kind: node-hour, machineType: n1-standard-4, region: us-central1, usd: 0.25, asOf: 2025-06-01}
"""
OVER = (
    "Budget/prod: serving would cost $182.50/month, over the limit $100.00 by $82.50 "
    "(Endpoint/us-central1/chat +$182.50)"
)


def budget_yaml(serving: float, override: str = "") -> str:
    """A Budget with a serving limit and, optionally, an override block (YAML under spec)."""
    text = f"apiVersion: genaiops/v1\nkind: Budget\nmetadata: {{name: prod}}\nspec:\n  limits: {{serving: {serving}}}\n"
    return text + textwrap.indent(override, "  ")


def write(workspace: Workspace, budget: str) -> None:
    workspace.write(
        model=model_yaml(),
        endpoint=endpoint_yaml(deployments=DEPLOYMENTS),
        prices=PRICE_BOOK,
        budget=budget,
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_a_plan_over_budget_fails_with_the_exact_amounts(workspace: Workspace) -> None:
    write(workspace, budget_yaml(100))
    result = workspace.plan()
    assert result.exit_code == 1, result.output
    assert OVER in one_line(result.output)
    assert "spec.limits.serving" in result.output
    assert "Cost: +$182.50/month (up to +$365.00 at max replicas)." in result.output


def test_a_plan_under_budget_passes(workspace: Workspace) -> None:
    write(workspace, budget_yaml(200))
    result = workspace.plan("--detailed-exitcode")
    assert result.exit_code == 2, result.output  # changes, no errors
    assert "Budget/prod" not in result.output


@pytest.mark.parametrize(
    ("until", "exit_code", "said"),
    [
        ("2999-12-31", 0, "allowed by its override until 2999-12-31 (approved by ana: launch week)"),
        ("2000-01-01", 1, "its override (approved by ana) expired on 2000-01-01"),
    ],
)
def test_a_dated_override_lets_the_plan_pass_until_its_day(
    workspace: Workspace, until: str, exit_code: int, said: str
) -> None:
    write(workspace, budget_yaml(100, f"override: {{until: {until}, reason: launch week, approvedBy: ana}}\n"))
    result = workspace.plan()
    assert result.exit_code == exit_code, result.output
    assert OVER in one_line(result.output)
    assert said in one_line(result.output)


def test_apply_refuses_a_plan_over_budget_and_creates_nothing(workspace: Workspace) -> None:
    write(workspace, budget_yaml(100))
    result = workspace.apply()
    assert result.exit_code == 1, result.output
    assert "nothing was applied" in result.output
    assert workspace.plan("--detailed-exitcode").exit_code == 1  # still nothing created: still over budget
    listed = workspace.emulator.endpoint_client().list_endpoints(parent=workspace.emulator.parent)
    assert [e.name for e in listed] == []

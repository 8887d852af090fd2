"""Sync and health (issue 11): after an automatic rollback the manifests still declare the bad revision
while the old one serves. `genaiops status` must say so (exit 2, the metric, value, threshold and requests
measured), `plan` must not claim that live matches, and a healthy, applied target is all green (exit 0)."""

from __future__ import annotations

import json

from tests.e2e.canary_helpers import ERRORING, rollout_labels, write_version
from tests.e2e.conftest import Workspace


def test_status_is_synced_and_healthy_after_a_clean_apply(canary: Workspace) -> None:
    result = canary.run("status", str(canary.manifests))
    assert result.exit_code == 0, result.output
    assert "2 resources: 2 synced and healthy, 0 need attention." in result.output
    document = json.loads(canary.run("status", str(canary.manifests), "--output", "json").output)
    assert {(r["address"], r["sync"], r["health"]) for r in document["resources"]} == {
        ("Model/us-central1/llm", "synced", "healthy"),
        ("Endpoint/us-central1/chat", "synced", "healthy"),
    }


def test_after_a_rollback_status_exits_2_naming_the_metric_and_plan_shows_the_degraded_endpoint(
    canary: Workspace,
) -> None:
    write_version(canary, ERRORING)
    rolled_back = canary.apply("--wait")
    assert rolled_back.exit_code == 1, rolled_back.output
    labels = rollout_labels(canary.endpoint())
    assert labels["phase"] == "degraded"

    status = canary.run("status", str(canary.manifests), "--output", "json")
    assert status.exit_code == 2, status.output
    chat = next(r for r in json.loads(status.output)["resources"] if r["kind"] == "Endpoint")
    assert (chat["sync"], chat["health"], chat["needs_attention"]) == ("synced", "degraded", True)
    reason = chat["reason"]
    value = float(labels["reason-value"].replace("_", "."))
    assert f"error-rate {value:.4g} > max 0.05 over " in reason, reason
    assert f"over {labels['reason-requests']} requests" in reason and int(labels["reason-requests"]) > 0
    human = canary.run("status", str(canary.manifests))
    assert human.exit_code == 2 and "degraded" in human.output and "1 needs attention" in human.output

    plan = canary.plan("--detailed-exitcode")
    assert plan.exit_code == 0, plan.output  # nothing to apply: the failed revision is not retried
    assert "No changes. Live state matches" not in plan.output
    assert "Endpoint/us-central1/chat: degraded: revision" in plan.output and "error-rate" in plan.output
    assert "No changes to apply, but 1 resource needs attention" in plan.output
    markdown = canary.plan("--output", "markdown").output
    assert "#### Needs attention" in markdown and "**degraded**" in markdown

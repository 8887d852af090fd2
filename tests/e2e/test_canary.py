"""Canary rollouts end to end (issue 5): `genaiops apply --wait` and `genaiops rollout ...` against the
emulator with synthetic prediction traffic, watched through the real gapic client.

Every test keeps a watcher polling GetEndpoint for the whole rollout and checks that each split it saw
sums to 100 and names only deployed models. Intervals are short (analysis every 1 s, 2 s pauses).
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable

import grpc
import pytest

from tests.e2e.canary_helpers import (
    ERRORING,
    HEALTHY_V1,
    HEALTHY_V2,
    INTERVAL_S,
    SLOW,
    SplitWatcher,
    WebhookReceiver,
    apply_process,
    failed_measurements,
    rollout_events,
    rollout_labels,
    served,
    wait_until,
    write_version,
)
from tests.e2e.conftest import Workspace

# "One API call" in the rollback bound: an UpdateEndpoint on the loopback emulator takes milliseconds;
# this leaves room for a loaded two-core machine running the emulator, traffic and watcher in-process.
CALL_ALLOWANCE_S = 0.4


def _rollout(workspace: Workspace, *args: str) -> tuple[int, str]:
    """`genaiops rollout ARGS chat`, logging to the same audit log as `Workspace.apply`."""
    audit = str(workspace.root / "audit.log")
    result = workspace.run("rollout", *args, "chat", "-f", str(workspace.manifests), "--audit-log", audit)
    return result.exit_code, result.output


def test_a_healthy_canary_promotes_through_every_step(canary: Workspace) -> None:
    write_version(canary, HEALTHY_V2)
    with WebhookReceiver() as hook, SplitWatcher(canary) as watcher:
        result = canary.apply("--wait", "--webhook", hook.url)
    assert result.exit_code == 0, result.output
    audit = canary.root / "audit.log"
    moves = [(e["event"], e["weight"]) for e in rollout_events(audit, "started", "step", "promoted", "aborted")]
    assert moves == [("rollout-started", 20), ("rollout-step", 50), ("rollout-promoted", 100)]
    assert all(m["verdict"] != "failed" for e in rollout_events(audit, "measured") for m in e["measurements"])
    output = result.output
    assert output.index("started") < output.index("advanced step 2/2 weight 50%") < output.index("PROMOTED")
    live = canary.endpoint()
    assert len(live.deployed_models) == 1 and served(live) == {"2": 100}
    assert rollout_labels(live)["phase"] == "healthy"
    assert canary.plan("--detailed-exitcode").exit_code == 0
    assert hook.kinds() == ["rollout-started", "rollout-step", "rollout-promoted"]
    watcher.assert_every_split_safe()
    assert watcher.distinct_versions() == [{"1": 100}, {"1": 80, "2": 20}, {"1": 50, "2": 50}, {"2": 100}]


def test_an_erroring_canary_rolls_back_within_one_interval_and_one_call(canary: Workspace) -> None:
    write_version(canary, ERRORING)
    with WebhookReceiver() as hook, SplitWatcher(canary) as watcher:
        result = canary.apply("--wait", "--webhook", hook.url)
        assert result.exit_code == 1, result.output
        rolled_back = re.search(
            r"Rolled back chat/primary: error-rate (\S+) > max 0\.05 over (\d+) requests", result.output
        )
        assert rolled_back is not None, result.output  # names the metric, its value, the threshold, the requests
        audit = canary.root / "audit.log"
        breach = failed_measurements(audit)[0]["at"]
        aborted = rollout_events(audit, "aborted")[-1]
        watcher.settle()
        canary_id = next(o.labels["canary"] for o in watcher.seen if "canary" in o.labels)
        restored = watcher.first_time(lambda o: canary_id not in o.split and o.at > breach)
        assert restored is not None
        # Default failureLimit 1: the first failure is tolerated, the next measurement (one interval later)
        # trips the limit and the same pass moves all traffic back.
        assert aborted["at"] - breach <= INTERVAL_S + CALL_ALLOWANCE_S, (breach, aborted)
        assert restored - breach <= INTERVAL_S + CALL_ALLOWANCE_S, (breach, restored)
        assert aborted["at"] - failed_measurements(audit)[-1]["at"] <= CALL_ALLOWANCE_S  # decided -> moved
        assert watcher.distinct_versions()[-2:] == [{"1": 80, "2": 20}, {"1": 100}], "not one UpdateEndpoint"
        live = canary.endpoint()
        assert len(live.deployed_models) == 1 and served(live) == {"1": 100}
        labels = rollout_labels(live)
        assert labels["phase"] == "degraded"
        assert labels["failed"] == aborted["revision"]
        assert labels["reason"] == "analysis-failed" and labels["reason-metric"] == "error-rate"
        assert labels["reason-threshold"] == "max-0_05" and labels["reason-value"].startswith("0_")
        assert float(labels["reason-value"].replace("_", ".")) > 0.05
        assert int(labels["reason-requests"]) >= int(rolled_back[2]) > 0
        assert hook.kinds() == ["rollout-started", "rollout-aborted"]
        assert "error-rate" in hook.bodies[-1]["detail"] and "max 0.05" in hook.bodies[-1]["detail"]

        assert canary.plan("--detailed-exitcode").exit_code == 0
        again = canary.apply("--wait")
        assert again.exit_code == 0, again.output
        assert len(rollout_events(audit, "started")) == 1, "the failed revision was retried without `rollout retry`"
        assert served(canary.endpoint()) == {"1": 100}

        code, output = _rollout(canary, "retry")
        assert code == 0, output
        retried = canary.apply()
        assert retried.exit_code == 0, retried.output
        live = canary.endpoint()
        assert len(live.deployed_models) == 2 and served(live) == {"1": 80, "2": 20}
        assert rollout_labels(live)["phase"] == "progressing"
    watcher.assert_every_split_safe()


def test_a_slow_canary_rolls_back_on_its_latency_threshold(canary: Workspace) -> None:
    write_version(canary, SLOW)
    with SplitWatcher(canary) as watcher:
        result = canary.apply("--wait")
    assert result.exit_code == 1, result.output
    assert re.search(r"Rolled back chat/primary: latency-p99 \S+ ms > max 300 ms over \d+ requests", result.output), (
        result.output
    )
    live = canary.endpoint()
    assert len(live.deployed_models) == 1 and served(live) == {"1": 100}
    labels = rollout_labels(live)
    assert labels["phase"] == "degraded" and labels["reason"] == "analysis-failed"
    assert (labels["reason-metric"], labels["reason-threshold"]) == ("latency-p99", "max-300")
    assert float(labels["reason-value"].replace("_", ".")) > 300 and int(labels["reason-requests"]) > 0
    assert not rollout_events(canary.root / "audit.log", "step", "promoted")
    watcher.assert_every_split_safe()


def test_without_traffic_the_rollout_holds_then_pauses_and_never_promotes(
    make_workspace: Callable[..., Workspace],
) -> None:
    workspace = make_workspace(traffic_rps=0, min_alignment_period_s=1)
    write_version(workspace, HEALTHY_V1)
    assert workspace.apply().exit_code == 0
    write_version(workspace, HEALTHY_V2, limits="inconclusiveLimit: 2")
    with SplitWatcher(workspace) as watcher:
        result = workspace.apply("--wait")
        assert result.exit_code == 3, result.output  # paused for a person: not a failure, not done either
        assert "Waiting for a person: chat/primary (paused)" in result.output
        again = workspace.apply("--wait")  # a later apply leaves the paused rollout alone
        assert again.exit_code == 3, again.output
        status = workspace.run("rollout", "status", "-f", str(workspace.manifests))
        assert status.exit_code == 0 and "paused" in status.output, status.output
    live = workspace.endpoint()
    labels = rollout_labels(live)
    assert labels["phase"] == "paused" and labels["reason"] == "too-few-requests"
    assert (labels["reason-inconclusive"], labels["reason-inconclusive-limit"]) == ("3", "2")
    assert (labels["reason-requests"], labels["reason-min-requests"]) == ("0", "5")
    assert len(live.deployed_models) == 2 and served(live) == {"1": 80, "2": 20}
    audit = workspace.root / "audit.log"
    measured = rollout_events(audit, "measured")
    assert len(measured) == 3
    assert all(m["verdict"] == "inconclusive" and m["requests"] == 0 for e in measured for m in e["measurements"])
    assert [e["event"] for e in rollout_events(audit, "started", "step", "paused", "promoted", "aborted")] == [
        "rollout-started",
        "rollout-paused",
    ]
    watcher.assert_every_split_safe()
    assert {"2": 100} not in watcher.distinct_versions()
    assert watcher.distinct_versions() == [{"1": 100}, {"1": 80, "2": 20}]


def test_a_driver_killed_between_steps_is_finished_by_a_fresh_process(canary: Workspace) -> None:
    write_version(canary, HEALTHY_V2)
    with SplitWatcher(canary) as watcher:
        with apply_process(canary) as child:
            wait_until(  # the step landed and was audited (a kill between the two would lose the event)
                lambda: (
                    int(rollout_labels(canary.endpoint()).get("step", "0")) >= 1
                    and bool(rollout_events(canary.root / "audit.log", "step"))
                ),
                timeout_s=20,
                what="the child apply to reach step 2",
            )
            os.kill(child.process.pid, signal.SIGKILL)
            assert child.wait(timeout_s=5) == -signal.SIGKILL
        watcher.settle()
        killed_at = rollout_labels(canary.endpoint())
        assert killed_at["phase"] == "progressing" and killed_at["step"] == "1", killed_at
        assert served(canary.endpoint()) == {"1": 50, "2": 50}
        result = canary.apply("--wait")
    assert result.exit_code == 0, result.output + child.output()
    live = canary.endpoint()
    assert len(live.deployed_models) == 1 and served(live) == {"2": 100}
    assert rollout_labels(live)["phase"] == "healthy"
    audit = canary.root / "audit.log"
    moves = [(e["event"], e["weight"]) for e in rollout_events(audit, "started", "step", "promoted", "aborted")]
    assert moves == [("rollout-started", 20), ("rollout-step", 50), ("rollout-promoted", 100)]
    watcher.assert_every_split_safe()
    assert watcher.distinct_versions() == [{"1": 100}, {"1": 80, "2": 20}, {"1": 50, "2": 50}, {"2": 100}]


def test_apply_wait_returns_at_an_indefinite_pause_and_promote_full_finishes_it(canary: Workspace) -> None:
    write_version(canary, HEALTHY_V2, steps="[{weight: 20, pause: indefinite}, {weight: 50, pause: 2s}]")
    with WebhookReceiver() as hook, SplitWatcher(canary) as watcher:
        waited = canary.apply("--wait", "--wait-timeout", "10", "--webhook", hook.url)
        assert waited.exit_code == 3, waited.output  # waiting for a person: not a failure, not a timeout, not done
        held = canary.endpoint()
        labels = rollout_labels(held)
        assert labels["phase"] == "progressing" and labels["step"] == "0" and int(labels["successes"]) >= 1
        assert served(held) == {"1": 80, "2": 20}
        code, output = _rollout(canary, "promote", "--full", "--webhook", hook.url)
        assert code == 0, output
    live = canary.endpoint()
    assert len(live.deployed_models) == 1 and served(live) == {"2": 100}
    assert rollout_labels(live)["phase"] == "healthy"
    audit = canary.root / "audit.log"
    moves = [(e["event"], e["weight"], e["detail"]) for e in rollout_events(audit, "started", "step", "promoted")]
    assert moves == [
        ("rollout-started", 20, "canary gets 20% of the 100% share"),
        ("rollout-promoted", 100, "promoted by a human"),
    ]
    assert hook.kinds() == ["rollout-started", "rollout-promoted"]
    watcher.assert_every_split_safe()
    assert watcher.distinct_versions() == [{"1": 100}, {"1": 80, "2": 20}, {"2": 100}]


def test_abort_mid_way_restores_the_stable_model_and_is_not_retried(canary: Workspace) -> None:
    write_version(canary, HEALTHY_V2)
    with SplitWatcher(canary) as watcher:
        started = canary.apply()  # without --wait: the rollout starts at its first step and stays there
        assert started.exit_code == 0, started.output
        assert served(canary.endpoint()) == {"1": 80, "2": 20}
        code, output = _rollout(canary, "abort")
        assert code == 0, output
        live = canary.endpoint()
        assert len(live.deployed_models) == 1 and served(live) == {"1": 100}
        labels = rollout_labels(live)
        assert labels["phase"] == "degraded" and labels["reason"] == "aborted-by-a-human"
        again = canary.apply()
        assert again.exit_code == 0, again.output
        assert served(canary.endpoint()) == {"1": 100}
    watcher.assert_every_split_safe(at_least=5)
    assert watcher.distinct_versions() == [{"1": 100}, {"1": 80, "2": 20}, {"1": 100}]


def test_an_abort_that_meets_a_concurrent_write_is_not_silently_lost(canary: Workspace) -> None:
    write_version(canary, HEALTHY_V2)
    assert canary.apply().exit_code == 0
    canary.emulator.faults.fail_next("UpdateEndpoint", 1, grpc.StatusCode.ABORTED)  # what a stale etag gets
    code, output = _rollout(canary, "abort")
    live = canary.endpoint()
    assert (code == 0 and served(live) == {"1": 100}) or (code != 0 and "conflict" in output.lower()), (
        code,
        served(live),
        output,
    )


def test_a_human_abort_is_posted_to_the_webhook_named_in_the_environment(
    canary: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_version(canary, HEALTHY_V2)
    assert canary.apply().exit_code == 0
    with WebhookReceiver() as hook:
        monkeypatch.setenv("GENAIOPS_WEBHOOK_URL", hook.url)
        code, output = _rollout(canary, "abort")
        assert code == 0, output
        assert hook.kinds() == ["rollout-aborted"]

"""Every kill point of a canary rollout (issue 10): `genaiops apply --wait` in a child process is killed
with SIGKILL right after one state change landed and before it heard back, and a fresh apply must
converge to the safe end state. A canary never skips its analysis and a bad model never gets more than
the first step's weight.

The kill is deterministic where the window would be narrow: the emulator holds the reply of the call
that made the change (`hold_ms` fault), or keeps the undeploy that follows a promotion or a rollback
pending (a long LRO delay); the test sees the change on the live endpoint, then kills the child while it
is still waiting. Between steps the window is the step's pause (seconds), so the test kills in it.

Kill points, in the order a rollout meets them:
- deploy: the canary is deployed at 0%, no rollout is recorded yet (the chaos run's failure 1);
- start: the first step's traffic and the rollout record landed in one UpdateEndpoint;
- step: a later step's UpdateEndpoint landed;
- promote: all traffic is on the canary, the old stable model is still deployed;
- rollback: all traffic is back on the stable model, the failed canary is still deployed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from tests.e2e.canary_helpers import (
    ERRORING,
    HEALTHY_V2,
    ChildApply,
    SplitWatcher,
    apply_process,
    failed_measurements,
    rollout_events,
    rollout_labels,
    served,
    wait_until,
    write_version,
)
from tests.e2e.conftest import Workspace

HOLD = "hold_ms=120000"


def _kill_when(workspace: Workspace, child: ChildApply, landed: Callable[[Any], bool], what: str) -> dict[str, str]:
    """Wait until `landed(live endpoint)`, SIGKILL the child, end every hold and delay; the labels at the kill."""
    wait_until(lambda: landed(workspace.endpoint()), timeout_s=30, what=what, every_s=0.01)
    os.kill(child.process.pid, signal.SIGKILL)
    assert child.wait(timeout_s=5) == -signal.SIGKILL, child.output()
    workspace.emulator.faults.clear()
    workspace.emulator.vertex.store.set_lro_delay(0.0)
    return rollout_labels(workspace.endpoint())


def _versions_at_zero(live: Any) -> set[str]:
    return {d.model_version_id for d in live.deployed_models if live.traffic_split.get(d.id, 0) == 0}


def _started(live: Any) -> bool:
    return rollout_labels(live).get("phase") == "progressing"


def test_a_kill_between_deploy_and_the_first_step_resumes_into_analysis_and_rolls_the_bad_model_back(
    canary: Workspace,
) -> None:
    write_version(canary, ERRORING)
    canary.emulator.faults.add(f"DeployModel:{HOLD}")
    with SplitWatcher(canary) as watcher:
        with apply_process(canary) as child:
            labels = _kill_when(canary, child, lambda live: "2" in _versions_at_zero(live), "v2 deployed at 0%")
        assert labels == {}, "killed too late: the rollout was already recorded"
        assert served(canary.endpoint()) == {"1": 100}
        plan = canary.plan()
        assert "stopped before its first step" in plan.output, plan.output
        rerun = canary.apply("--wait")
    assert rerun.exit_code == 1, rerun.output
    assert "Rolled back chat/primary" in rerun.output
    live = canary.endpoint()
    assert served(live) == {"1": 100} and len(live.deployed_models) == 1
    audit = canary.root / "audit.log"
    assert failed_measurements(audit), "rolled back without measuring"
    assert [e["event"] for e in rollout_events(audit, "started", "step", "promoted", "aborted")] == [
        "rollout-started",
        "rollout-aborted",
    ]
    watcher.assert_every_split_safe()
    assert max(o.versions.get("2", 0) for o in watcher.seen) == 20, "the bad model got more than the first step"


def test_a_kill_right_after_the_first_step_landed_resumes_the_analysis_and_rolls_back(canary: Workspace) -> None:
    write_version(canary, ERRORING)
    canary.emulator.faults.add(f"UpdateEndpoint:{HOLD}")
    with SplitWatcher(canary) as watcher:
        with apply_process(canary) as child:
            labels = _kill_when(canary, child, _started, "the rollout to start")
        assert labels["step"] == "0" and served(canary.endpoint()) == {"1": 80, "2": 20}
        assert not failed_measurements(canary.root / "audit.log")
        rerun = canary.apply("--wait")
    assert rerun.exit_code == 1, rerun.output
    live = canary.endpoint()
    assert served(live) == {"1": 100} and len(live.deployed_models) == 1
    assert rollout_labels(live)["phase"] == "degraded"
    assert failed_measurements(canary.root / "audit.log")
    watcher.assert_every_split_safe()
    assert max(o.versions.get("2", 0) for o in watcher.seen) == 20


def test_a_kill_after_a_later_step_landed_measures_that_step_before_promoting(canary: Workspace) -> None:
    write_version(canary, HEALTHY_V2)
    with SplitWatcher(canary) as watcher:
        with apply_process(canary) as child:
            labels = _kill_when(
                canary, child, lambda live: rollout_labels(live).get("step") == "1", "the second step to land"
            )
        assert labels["phase"] == "progressing" and served(canary.endpoint()) == {"1": 50, "2": 50}
        audit = canary.root / "audit.log"
        killed_after = len(rollout_events(audit, "measured"))
        rerun = canary.apply("--wait")
    assert rerun.exit_code == 0, rerun.output
    live = canary.endpoint()
    assert served(live) == {"2": 100} and len(live.deployed_models) == 1
    events = rollout_events(audit)
    promoted = next(i for i, e in enumerate(events) if e["event"] == "rollout-promoted")
    measured_at_step_2 = [e for e in events[:promoted] if e["event"] == "rollout-measured" and e["step"] == 1]
    assert len(rollout_events(audit, "measured")) > killed_after and measured_at_step_2, "the last step was skipped"
    watcher.assert_every_split_safe()
    assert watcher.distinct_versions() == [{"1": 100}, {"1": 80, "2": 20}, {"1": 50, "2": 50}, {"2": 100}]


def test_a_kill_between_promotion_and_undeploy_undeploys_the_old_stable_model_on_the_next_apply(
    canary: Workspace,
) -> None:
    write_version(canary, HEALTHY_V2)
    with SplitWatcher(canary) as watcher:
        with apply_process(canary) as child:
            canary.emulator.vertex.store.set_lro_delay({"UndeployModel": 120.0})
            labels = _kill_when(canary, child, lambda live: rollout_labels(live).get("phase") == "healthy", "promotion")
        killed = canary.endpoint()
        assert labels["phase"] == "healthy" and served(killed) == {"2": 100} and len(killed.deployed_models) == 2
        rerun = canary.apply("--wait")
    assert rerun.exit_code == 0, rerun.output
    live = canary.endpoint()
    assert served(live) == {"2": 100} and len(live.deployed_models) == 1
    assert canary.plan("--detailed-exitcode").exit_code == 0
    watcher.assert_every_split_safe()
    assert watcher.distinct_versions() == [{"1": 100}, {"1": 80, "2": 20}, {"1": 50, "2": 50}, {"2": 100}]


def test_a_kill_between_rollback_and_undeploy_undeploys_the_canary_and_does_not_retry_it(canary: Workspace) -> None:
    write_version(canary, ERRORING)
    with SplitWatcher(canary) as watcher:
        with apply_process(canary) as child:
            canary.emulator.vertex.store.set_lro_delay({"UndeployModel": 120.0})
            labels = _kill_when(
                canary, child, lambda live: rollout_labels(live).get("phase") == "degraded", "the rollback"
            )
        killed = canary.endpoint()
        assert labels["failed"] and served(killed) == {"1": 100} and len(killed.deployed_models) == 2
        rerun = canary.apply("--wait")
    assert rerun.exit_code == 0, rerun.output
    live = canary.endpoint()
    assert served(live) == {"1": 100} and len(live.deployed_models) == 1
    assert rollout_labels(live)["phase"] == "degraded"
    assert len(rollout_events(canary.root / "audit.log", "started")) == 1, "the failed revision was retried"
    watcher.assert_every_split_safe()
    assert max(o.versions.get("2", 0) for o in watcher.seen) == 20

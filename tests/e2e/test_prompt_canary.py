"""Prompt canaries end to end (issue 14): simulated users on the runtime client ask `greet` the whole time,
routed by their user id; their requests become runtime metrics in the emulator's Cloud Monitoring; `genaiops
apply --wait` starts the canary in the prompt store and judges it from those metrics.

- A controller killed with SIGKILL in the middle of a rollout resumes from the store: the rerun does not
  start the rollout again, measures the step it was killed in, and promotes (the label ends on the
  candidate and the record is gone).
- A candidate on a model that blocks half its answers is rolled back on its safety-block rate; the next plan
  does not retry it; `genaiops rollout retry` clears it and the next apply starts it again, which
  `genaiops rollout status --output json` lists as a Prompt rollout.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.rollout.state import Phase
from tests.e2e.canary_helpers import apply_process, rollout_events, wait_until
from tests.e2e.conftest import Workspace
from tests.e2e.prompt_canary_helpers import BLOCKING, LABEL, Users, label, prompt_workspace, record, write

STABLE, CANDIDATE = "Hello {{ customer }}!", "Hi {{ customer }}, welcome back!"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """The prompt canary emulator, with `greet` published on STABLE."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with prompt_workspace(tmp_path) as workspace:
        write(workspace, STABLE)
        first = workspace.apply()
        assert first.exit_code == 0, first.output
        yield workspace


def events(workspace: Workspace, *kinds: str) -> list[str]:
    return [e["event"] for e in rollout_events(workspace.root / "audit.log", *kinds)]


@pytest.mark.slow
def test_a_controller_killed_with_sigkill_mid_rollout_resumes_from_the_store_and_promotes(
    workspace: Workspace,
) -> None:
    stable = label(workspace)
    audit = workspace.root / "audit.log"
    with Users(workspace) as users:
        write(workspace, CANDIDATE)
        with apply_process(workspace) as child:
            wait_until(
                lambda: (r := record(workspace)) is not None and r.state.step == 1,
                timeout_s=60,
                what="the canary's second step",
            )
            os.kill(child.process.pid, signal.SIGKILL)
            assert child.wait(timeout_s=5) == -signal.SIGKILL, child.output()
        killed = record(workspace)
        assert killed is not None and (killed.state.step, killed.weight, killed.state.phase) == (
            1,
            50,
            Phase.PROGRESSING,
        )
        assert label(workspace) == stable
        candidate = killed.candidate
        measured_before = len(rollout_events(audit, "measured"))

        rerun = workspace.apply("--wait")
    assert rerun.exit_code == 0, rerun.output
    assert label(workspace) == candidate and record(workspace) is None
    assert events(workspace, "started", "step", "promoted", "aborted") == [
        "rollout-started",  # once: the rerun did not start the rollout again at step 0
        "rollout-step",
        "rollout-promoted",
    ]
    after_kill = rollout_events(audit, "measured")[measured_before:]
    assert any(e["step"] == 1 for e in after_kill), "the rerun promoted without measuring the step it resumed"
    assert users.served[candidate] > 0 and users.served[str(stable)] > 0, users.served
    assert workspace.plan("--detailed-exitcode").exit_code == 0


@pytest.mark.slow
def test_a_bad_candidate_is_rolled_back_not_retried_until_rollout_retry_then_started_again(
    workspace: Workspace,
) -> None:
    stable = label(workspace)
    manifests, audit = str(workspace.manifests), str(workspace.root / "audit.log")
    with Users(workspace) as users:
        write(workspace, STABLE, model=BLOCKING)  # same template, a model that blocks half its answers
        rolled_back = workspace.apply("--wait")
        assert rolled_back.exit_code == 1, rolled_back.output
        failed = record(workspace)
        assert failed is not None and failed.state.reason is not None
        bad = failed.state.failed_revision
        assert (failed.state.phase, failed.weight, failed.candidate) == (Phase.DEGRADED, 0, "")
        assert "safety-block-rate" in failed.state.reason.describe()
        assert label(workspace) == stable and bad != stable

        assert workspace.plan("--detailed-exitcode").exit_code == 0  # the rolled-back version is not retried
        retried = workspace.run("rollout", "retry", "greet", "--label", LABEL, "-f", manifests, "--audit-log", audit)
        assert retried.exit_code == 0, retried.output
        assert record(workspace) is None
        assert workspace.plan("--detailed-exitcode").exit_code == 2

        again = workspace.apply()
        assert again.exit_code == 0, again.output
        restarted = record(workspace)
        assert restarted is not None
        assert (restarted.candidate, restarted.stable, restarted.state.phase) == (bad, stable, Phase.PROGRESSING)

        status = workspace.run("rollout", "status", "--output", "json", "-f", manifests, "--audit-log", audit)
    assert status.exit_code == 0, status.output
    (listed,) = json.loads(status.stdout)["rollouts"]
    assert {k: listed[k] for k in ("kind", "prompt", "label", "revision", "phase")} == {
        "kind": "Prompt",
        "prompt": "greet",
        "label": LABEL,
        "revision": bad,
        "phase": "progressing",
    }
    assert events(workspace, "started", "aborted", "retry") == [
        "rollout-started",
        "rollout-aborted",
        "rollout-retry",
        "rollout-started",
    ]
    assert users.served[bad] > 0, users.served

"""`genaiops reconcile --watch` tells people before a model a prompt calls retires (issue 20): a real
reconcile child on a local git repository and the emulator, with GENAIOPS_TODAY set for it, an audit log and
a loopback webhook receiver.

`publishers/google/models/gemini-2.0-flash` has its last day on 2026-02-05 in the catalogue; on 2026-01-20
it is 16 days away, under the 30-day threshold.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.canary_helpers import WebhookReceiver, wait_until
from tests.e2e.conftest import Workspace
from tests.e2e.reconcile_helpers import GitRepo, audit_records, controller

INTERVAL_S = 1.0
STARTUP_S = 30.0  # generous bound for a child to import, clone and finish its first pass
PASSES_S = 15.0  # bound for a few more 1 s passes on a loaded machine
SIXTEEN_DAYS_BEFORE = "2026-01-20"

PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: greet}}
spec:
  model: publishers/google/models/gemini-2.0-flash
  template: "{template}"
  variables: {{customer: {{type: string}}}}
  labels: [production]
"""


def _watch(*extra: str) -> tuple[str, ...]:
    return ("--watch", "--interval", f"{INTERVAL_S:g}s", *extra)


def _events(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == kind]


@pytest.fixture
def repo(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """An empty git repository; the prompt store is the emulator's Cloud Storage."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", workspace.emulator.storage_host)
    return GitRepo(workspace.root / "repo")


def test_a_prompt_on_a_model_retiring_in_16_days_is_announced_once_to_the_audit_log_and_the_webhook(
    workspace: Workspace, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENAIOPS_TODAY", SIXTEEN_DAYS_BEFORE)
    first = repo.commit("a prompt on gemini-2.0-flash", prompts=PROMPT.format(template="Hello {{ customer }}!"))
    with WebhookReceiver() as hook, controller(workspace, repo, *_watch("--webhook", hook.url)) as ctl:
        ctl.wait_for(f"reconciling commit {first}", timeout_s=STARTUP_S)
        ctl.wait_for_passes(3, timeout_s=PASSES_S)
        second = repo.commit("warmer", prompts=PROMPT.format(template="Hi {{ customer }}!"))
        ctl.wait_for(f"reconciling commit {second}", timeout_s=PASSES_S)
        ctl.wait_for_passes(2, timeout_s=PASSES_S)
        wait_until(lambda: "model-retiring" in hook.kinds(), timeout_s=10, what="the webhook to get the event")
        ctl.terminate()
        assert ctl.wait(10) == 0, ctl.output()
    [event] = _events(audit_records(ctl.audit), "model-retiring")  # one, not one per pass nor per commit
    assert event["manifest"] == "Prompt/greet" and event["field"] == "spec.model"
    assert event["source"].startswith("manifests/prompts.yaml:5:"), event["source"]
    assert event["model"] == "gemini-2.0-flash" and event["last_day"] == "2026-02-05"
    assert event["days_left"] == 16 and event["threshold"] == 30
    assert event["successor"] == "gemini-2.5-flash" and event["commit"] == first
    posted = _events(hook.bodies, "model-retiring")
    assert len(posted) == 1 and {k: posted[0][k] for k in ("manifest", "days_left", "successor")} == {
        "manifest": "Prompt/greet",
        "days_left": 16,
        "successor": "gemini-2.5-flash",
    }
    assert not _events(audit_records(ctl.audit), "model-retired")


def test_a_restart_does_not_announce_again_until_a_threshold_is_crossed_and_a_retired_model_refuses_the_commit(
    workspace: Workspace, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = repo.commit("a prompt on gemini-2.0-flash", prompts=PROMPT.format(template="Hello {{ customer }}!"))

    def run(today: str, *, until: str) -> list[dict[str, Any]]:
        """A controller (the same audit log each time) on `today` until `until` is logged and 2 more passes ran."""
        monkeypatch.setenv("GENAIOPS_TODAY", today)
        with controller(workspace, repo, *_watch()) as ctl:
            ctl.wait_for(until, timeout_s=STARTUP_S)
            ctl.wait_for_passes(2, timeout_s=PASSES_S)
            ctl.terminate()
            assert ctl.wait(10) == 0, ctl.output()
        return audit_records(ctl.audit)

    first = run(SIXTEEN_DAYS_BEFORE, until=f"reconciling commit {sha}")
    assert [e["days_left"] for e in _events(first, "model-retiring")] == [16]
    same_day = run(SIXTEEN_DAYS_BEFORE, until=f"reconciling commit {sha}")
    assert [e["days_left"] for e in _events(same_day, "model-retiring")] == [16], "announced again after a restart"
    six_days_left = run("2026-01-30", until=f"reconciling commit {sha}")
    retiring = _events(six_days_left, "model-retiring")
    assert [(e["days_left"], e["threshold"]) for e in retiring] == [(16, 30), (6, 7)]
    retired_day = run("2026-02-06", until=f"commit {sha} refused")
    [retired] = _events(retired_day, "model-retired")
    assert retired["model"] == "gemini-2.0-flash" and retired["days_left"] == -1 and retired["commit"] == sha
    assert retired["successor"] == "gemini-2.5-flash" and retired["manifest"] == "Prompt/greet"
    assert len(_events(retired_day, "model-retiring")) == 2

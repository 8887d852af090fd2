"""`genaiops reconcile` end to end (issue 6): the GitOps loop as a real child process, fed by a local git
repository through a `file://` URL, acting on the emulator, watched through the real gapic client and
its own `/metrics`.

Intervals are 1 s. Every bound below is stated next to the test that uses it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1, storage  # type: ignore[attr-defined,unused-ignore]

from tests.e2e.canary_helpers import HEALTHY_V1, HEALTHY_V2, TRAFFIC, canary_yaml, served, wait_until
from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml
from tests.e2e.reconcile_helpers import (
    TWO,
    ConsistencyWatcher,
    GitRepo,
    audit_records,
    controller,
    free_port,
    get,
    named,
    reconcile_once,
    sample,
    served_now,
    set_traffic_by_hand,
    split_by_name,
    split_problem,
    wait_for_metrics,
    wait_for_split,
)

INTERVAL_S = 1.0
JITTER = 1.1  # the loop sleeps interval x uniform(0.9, 1.1)
# A pass here is a git fetch (five git commands), a load, one ListEndpoints + ListModels and at most a
# couple of UpdateEndpoints: ~0.1 s. A commit made just after a pass fetched waits for the rest of that pass,
# the sleep and the next pass; this allows both passes on a loaded two-core machine.
PASS_ALLOWANCE_S = 1.5
NEXT_PASS_S = JITTER * INTERVAL_S + PASS_ALLOWANCE_S + 1.0  # a wait bound for "applied by the next pass"
STARTUP_S = 30.0  # generous bound for a child to import, clone and finish its first pass


def traffic(shares: str) -> dict[str, str]:
    """The manifests: model `llm` served by endpoint `chat` as deployments a and b with these shares."""
    return {"models": model_yaml(), "endpoints": endpoint_yaml(deployments=TWO, traffic=shares)}


@pytest.fixture
def repo(workspace: Workspace) -> GitRepo:
    """An empty git repository next to the workspace."""
    return GitRepo(workspace.root / "repo")


def _watch(*extra: str) -> tuple[str, ...]:
    return ("--watch", "--interval", f"{INTERVAL_S:g}s", *extra)


def _metrics_flags(port: int) -> tuple[str, ...]:
    return ("--metrics-port", str(port), "--metrics-host", "127.0.0.1")


# -- git source ------------------------------------------------------------------------------------
def test_one_pass_applies_a_commit_and_records_its_sha_on_the_resources_and_in_the_audit_log(
    workspace: Workspace, repo: GitRepo
) -> None:
    sha = repo.commit("chat serves llm 90/10", **traffic("{a: 90, b: 10}"))
    code, output = reconcile_once(workspace, repo)
    assert code == 0, output
    assert f"reconciling commit {sha}" in output and "pass ok" in output
    live = workspace.endpoint()
    assert split_by_name(live) == {"a": 90, "b": 10}
    assert live.labels["genaiops-commit"] == sha
    model = workspace.emulator.model_client().get_model(name=f"{workspace.emulator.parent}/models/llm")
    assert model.labels["genaiops-commit"] == sha
    audit = audit_records(workspace.root / "once-audit.log")
    operations = [r for r in audit if "op" in r]
    assert {r["op"] for r in operations} >= {"UploadModel", "CreateEndpoint", "DeployModel", "SetTraffic"}
    assert all(r["status"] == "ok" for r in operations)
    passes = [r for r in audit if r.get("event") == "reconcile-pass"]
    assert len(passes) == 1 and passes[0]["commit"] == sha and passes[0]["ok"] is True
    assert sorted(passes[0]["applied"]) == ["Endpoint/us-central1/chat", "Model/us-central1/llm"]


def test_the_loop_applies_a_traffic_commit_within_one_interval_and_refuses_a_bad_commit_once(
    workspace: Workspace, repo: GitRepo
) -> None:
    first = repo.commit("90/10", **traffic("{a: 90, b: 10}"))
    with controller(workspace, repo, *_watch()) as ctl:
        ctl.wait_for(f"reconciling commit {first}", timeout_s=STARTUP_S)
        wait_for_split(workspace, {"a": 90, "b": 10}, timeout_s=10)
        ctl.wait_for_passes(1, timeout_s=10)

        committed = time.monotonic()  # before: the commit may be fetched before `git commit` returns
        second = repo.commit("50/50", **traffic("{a: 50, b: 50}"))
        applied = wait_for_split(workspace, {"a": 50, "b": 50}, timeout_s=10)
        assert applied - committed <= JITTER * INTERVAL_S + PASS_ALLOWANCE_S, applied - committed
        assert workspace.endpoint().labels["genaiops-commit"] == second

        bad = repo.commit("shares sum to 90", **traffic("{a: 20, b: 70}"))
        refused = ctl.wait_for(f"commit {bad} refused", timeout_s=10)
        assert refused["level"] == "ERROR" and refused["commit"] == bad
        assert "100" in refused["message"], refused["message"]  # says what is wrong
        ctl.wait_for_passes(3, timeout_s=15)
        assert len(ctl.messages(f"commit {bad} refused")) == 1, "reported more than once"
        assert [r["commit"] for r in audit_records(ctl.audit) if r.get("event") == "commit-refused"] == [bad]
        kept = ctl.messages("last good state kept")
        assert len(kept) >= 3 and all(second[:12] in m for m in kept[-3:]), kept
        live = workspace.endpoint()
        assert split_by_name(live) == {"a": 50, "b": 50} and live.labels["genaiops-commit"] == second

        third = repo.commit("70/30", **traffic("{a: 70, b: 30}"))
        wait_for_split(workspace, {"a": 70, "b": 30}, timeout_s=NEXT_PASS_S)
        ctl.wait_for(f"reconciling commit {third}", timeout_s=5)
        assert workspace.endpoint().labels["genaiops-commit"] == third
        ctl.terminate()
        assert ctl.wait(10) == 0, ctl.output()


# -- drift and suspend -----------------------------------------------------------------------------
def test_drift_is_reported_each_pass_listed_by_plan_and_healed_with_self_heal(
    workspace: Workspace, repo: GitRepo
) -> None:
    repo.commit("90/10", **traffic("{a: 90, b: 10}"))
    code, output = reconcile_once(workspace, repo)
    assert code == 0, output
    set_traffic_by_hand(workspace, {"a": 40, "b": 60})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with controller(workspace, repo, *_watch(*_metrics_flags(port))) as ctl:
        warning = ctl.wait_for("changed outside genaiops", timeout_s=STARTUP_S, count=2)  # on every pass
        assert warning["level"] == "WARNING" and warning["resource"] == "Endpoint/us-central1/chat"
        assert "--self-heal" in warning["message"]
        wait_for_metrics(base, lambda s: sample(s, "genaiops_drift_resources") == 1, timeout_s=5, what="drift metric 1")
        assert split_by_name(workspace.endpoint()) == {"a": 40, "b": 60}, "healed without --self-heal"
        planned = workspace.run("plan", str(repo.manifests))
        section = planned.output.split("Changed outside genaiops", 1)
        assert len(section) == 2, planned.output
        assert "Endpoint/us-central1/chat: traffic" in section[1], planned.output

        # A deployed model removed by hand is drift too.
        set_traffic_by_hand(workspace, {"a": 100})
        live = workspace.endpoint()
        gone = next(d.id for d in live.deployed_models if d.display_name == "b")
        workspace.emulator.endpoint_client().undeploy_model(endpoint=live.name, deployed_model_id=gone).result()
        ctl.wait_for_passes(2, timeout_s=10)
        assert [d.display_name for d in workspace.endpoint().deployed_models] == ["a"]
        after_removal = wait_for_metrics(base, lambda s: True, timeout_s=5, what="a scrape")
        assert sample(after_removal, "genaiops_drift_resources") == 1
        planned = workspace.run("plan", str(repo.manifests))
        assert "Endpoint/us-central1/chat:" in planned.output.split("Changed outside genaiops", 1)[-1]
        ctl.terminate()
        assert ctl.wait(10) == 0, ctl.output()

    code, output = reconcile_once(workspace, repo, "--self-heal")
    assert code == 0, output
    assert "changed outside genaiops; healing" in output
    live = workspace.endpoint()
    assert split_by_name(live) == {"a": 90, "b": 10}
    assert sorted(d.display_name for d in live.deployed_models) == ["a", "b"]
    assert workspace.run("plan", str(repo.manifests), "--detailed-exitcode").exit_code == 0


def test_suspend_in_a_manifest_or_by_genaiops_suspend_pauses_reconciliation_until_resumed(
    workspace: Workspace, repo: GitRepo
) -> None:
    repo.commit("90/10", **traffic("{a: 90, b: 10}"))
    with controller(workspace, repo, *_watch("--self-heal")) as ctl:
        wait_for_split(workspace, {"a": 90, "b": 10}, timeout_s=STARTUP_S)
        suspended = repo.commit(
            "suspend chat and ask for 50/50",
            models=model_yaml(),
            endpoints=endpoint_yaml(deployments=TWO, traffic="{a: 50, b: 50}", extra="  suspend: true\n"),
        )
        ctl.wait_for(f"reconciling commit {suspended}", timeout_s=10)
        ctl.wait_for_passes(2, timeout_s=10)
        assert split_by_name(workspace.endpoint()) == {"a": 90, "b": 10}, "a suspended spec change was applied"
        set_traffic_by_hand(workspace, {"a": 30, "b": 70})
        ctl.wait_for_passes(2, timeout_s=10)
        assert split_by_name(workspace.endpoint()) == {"a": 30, "b": 70}, "drift healed while suspended"
        assert not ctl.messages("changed outside genaiops"), "a suspended resource reported as drift"

        resumed = repo.commit("resume chat at 50/50", **traffic("{a: 50, b: 50}"))
        wait_for_split(workspace, {"a": 50, "b": 50}, timeout_s=NEXT_PASS_S)
        assert workspace.endpoint().labels["genaiops-commit"] == resumed

        # `genaiops suspend NAME` does the same from outside git (a label on the live endpoint).
        assert workspace.run("suspend", "chat", "-f", str(repo.manifests)).exit_code == 0
        while_suspended = repo.commit("60/40 while suspended", **traffic("{a: 60, b: 40}"))
        ctl.wait_for(f"reconciling commit {while_suspended}", timeout_s=10)
        ctl.wait_for_passes(2, timeout_s=10)
        assert split_by_name(workspace.endpoint()) == {"a": 50, "b": 50}, "applied while suspended by label"
        assert workspace.run("resume", "chat", "-f", str(repo.manifests)).exit_code == 0
        wait_for_split(workspace, {"a": 60, "b": 40}, timeout_s=NEXT_PASS_S)
        ctl.terminate()
        assert ctl.wait(10) == 0, ctl.output()


# -- shutdown and leadership -----------------------------------------------------------------------
def _ops(audit: Path, endpoint: str) -> list[str]:
    return [str(r["op"]) for r in audit_records(audit) if r.get("address") == f"Endpoint/us-central1/{endpoint}"]


def _started(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(record["time"])).timestamp() - int(record["duration_ms"]) / 1000


def test_sigterm_in_the_middle_of_a_pass_leaves_consistent_state_and_releases_the_lease(
    workspace: Workspace, repo: GitRepo
) -> None:
    def three(deployment: str) -> str:
        serving = {"deployments": f"[{{name: {deployment}, model: llm}}]", "traffic": f"{{{deployment}: 100}}"}
        return "---\n".join(endpoint_yaml(name=f"chat-{i}", **serving) for i in range(3))

    repo.commit("three endpoints serve llm as deployment a", models=model_yaml(), endpoints=three("a"))
    code, output = reconcile_once(workspace, repo)
    assert code == 0, output
    lro_s = 0.5
    workspace.emulator.state.set_lro_delay(lro_s)  # every deploy and undeploy now takes half a second
    # On each endpoint in turn (parallelism 1): deploy b, move the traffic to it, undeploy a.
    second = repo.commit("serve as deployment b", models=model_yaml(), endpoints=three("b"))
    with ConsistencyWatcher(workspace) as watcher, controller(workspace, repo, *_watch("--parallelism", "1")) as ctl:
        wait_until(lambda: "UndeployModel" in _ops(ctl.audit, "chat-0"), timeout_s=STARTUP_S, what="chat-0 to be done")
        ctl.terminate()  # chat-1's deploy has just started: it takes lro_s
        signalled, signalled_wall = time.monotonic(), time.time()
        assert ctl.wait(10) == 0, ctl.output()
        # A guard against hanging, not a timing test (a loaded CI machine is slow): what proves the stop came
        # right after the operation in flight are the audit records below.
        assert time.monotonic() - signalled < lro_s + 8.0, "did not stop after the operation in flight"
        assert ctl.messages("SIGTERM received"), ctl.output()
        assert ctl.messages("released the lease"), ctl.output()
        # The deploy in flight finished; nothing was started after the signal.
        assert _ops(ctl.audit, "chat-1") == ["DeployModel"] and _ops(ctl.audit, "chat-2") == []
        assert all(_started(r) <= signalled_wall for r in audit_records(ctl.audit) if "op" in r)
        half_done = workspace.endpoint("chat-1")
        assert split_by_name(half_done) == {"a": 100} and len(half_done.deployed_models) == 2
        live = workspace.emulator.endpoint_client().list_endpoints(parent=workspace.emulator.parent)
        assert not [problem for e in live if (problem := split_problem(e))]

        # The lease lives in the emulator's Cloud Storage; released, its object is gone.
        lease = workspace.storage().bucket("local-project-genaiops").blob("locks/local-project.json")
        assert not lease.exists()

        workspace.emulator.state.set_lro_delay(0.0)
        code, output = reconcile_once(workspace, repo, name="after")
        assert code == 0, output
    assert watcher.looks >= 20 and not watcher.problems, watcher.problems[:5]
    assert workspace.run("plan", str(repo.manifests), "--detailed-exitcode").exit_code == 0
    for i in range(3):
        live_endpoint = workspace.endpoint(f"chat-{i}")
        assert split_by_name(live_endpoint) == {"b": 100} and len(live_endpoint.deployed_models) == 1
        assert live_endpoint.labels["genaiops-commit"] == second


def _log_time(record: dict[str, object]) -> float:
    return datetime.fromisoformat(str(record["time"])).timestamp()


def test_a_standby_takes_over_within_its_poll_period_when_the_leader_is_killed(
    workspace: Workspace, repo: GitRepo
) -> None:
    repo.commit("90/10", **traffic("{a: 90, b: 10}"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with controller(workspace, repo, *_watch(), name="one") as one:
        one.wait_for("leader: holding the lease", timeout_s=STARTUP_S)
        wait_for_split(workspace, {"a": 90, "b": 10}, timeout_s=10)
        with controller(workspace, repo, *_watch(*_metrics_flags(port)), name="two") as two:
            two.wait_for("standby", timeout_s=STARTUP_S, count=2)
            assert not two.messages("leader:")
            standby = wait_for_metrics(base, lambda s: True, timeout_s=5, what="a scrape")
            assert sample(standby, "genaiops_leader") == 0
            assert get(f"{base}/readyz")[0] == 200  # a standby is ready: it serves its probes

            one.kill()
            killed = time.time()
            assert one.wait(5) == -9
            took_over = two.wait_for("leader: holding the lease", timeout_s=10)
            # The lease of a killed process on this machine is taken at once (its pid is gone, no need to
            # wait for the expiry); the standby retries every min(interval, 5 s) = 1 s.
            assert _log_time(took_over) - killed <= min(INTERVAL_S, 5.0) + 0.5, _log_time(took_over) - killed
            wait_for_metrics(base, lambda s: sample(s, "genaiops_leader") == 1, timeout_s=5, what="leader 1")

            second = repo.commit("50/50", **traffic("{a: 50, b: 50}"))
            wait_for_split(workspace, {"a": 50, "b": 50}, timeout_s=NEXT_PASS_S)
            two.wait_for(f"reconciling commit {second}", timeout_s=5)
            two.terminate()
            assert two.wait(10) == 0, two.output()


# -- telemetry -------------------------------------------------------------------------------------
def test_metrics_expose_passes_errors_drift_resources_rollouts_commit_and_leadership(
    make_workspace: Callable[..., Workspace],
) -> None:
    workspace = make_workspace(**TRAFFIC)
    repo = GitRepo(workspace.root / "repo")
    held = "[{weight: 20, pause: 1h}]"  # the canary stays at 20% for the whole test
    repo.commit("v1", models=model_yaml(artifact=HEALTHY_V1), endpoints=canary_yaml(steps=held))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with controller(workspace, repo, *_watch(*_metrics_flags(port))) as ctl:
        wait_until(lambda: get(f"{base}/healthz")[0] == 200, timeout_s=STARTUP_S, what="/healthz")
        wait_until(lambda: served_now(workspace) == {"1": 100}, timeout_s=STARTUP_S, what="v1 served")
        v2 = repo.commit("v2", models=model_yaml(artifact=HEALTHY_V2), endpoints=canary_yaml(steps=held))
        wait_until(lambda: served_now(workspace) == {"1": 80, "2": 20}, timeout_s=10, what="canary at 20%")
        rollout = wait_for_metrics(
            base,
            lambda s: sample(s, "genaiops_canary_weight_percent", endpoint="chat", deployment="primary") == 20,
            timeout_s=10,
            what="canary weight 20",
        )
        phases = named(rollout, "genaiops_rollout_phase")
        current = {dict(labels)["phase"] for labels, value in phases.items() if value == 1}
        assert current == {"progressing"}, phases

        bad = repo.commit("broken", models="apiVersion: genaiops/v1\nkind: Model\nmetadata: {name: llm}\nspec: 3\n")
        ctl.wait_for(f"commit {bad} refused", timeout_s=10)
        ctl.wait_for_passes(2, timeout_s=10)
        status, body = get(f"{base}/healthz")
        assert status == 200, body
        status, body = get(f"{base}/readyz")
        assert status == 200, body
        s = wait_for_metrics(base, lambda s: True, timeout_s=5, what="a scrape")

    ok = sample(s, "genaiops_reconcile_passes_total", result="ok") or 0
    failed = sample(s, "genaiops_reconcile_passes_total", result="error") or 0
    assert ok >= 2 and failed >= 2, (ok, failed)  # passes on a refused commit count as errors
    assert sample(s, "genaiops_reconcile_pass_duration_seconds_count") == ok + failed
    assert 0 < (sample(s, "genaiops_reconcile_pass_duration_seconds_sum") or 0) < 5 * (ok + failed)
    assert sample(s, "genaiops_reconcile_errors_total", kind="invalid_commit") == 1  # once per commit
    assert sample(s, "genaiops_drift_resources") == 0
    resources = {tuple(sorted(labels)): value for labels, value in named(s, "genaiops_resources").items()}
    # Mid-rollout the endpoint is not yet what the manifests ask for (100% on v2): out of sync, not failed.
    assert resources[(("kind", "Endpoint"), ("status", "out_of_sync"))] == 1, resources
    assert resources[(("kind", "Model"), ("status", "in_sync"))] == 1, resources
    assert sum(resources.values()) == 2, resources
    assert named(s, "genaiops_applied_commit_info") == {frozenset({("sha", v2)}): 1.0}  # the bad one was not applied
    assert sample(s, "genaiops_leader") == 1
    assert sample(s, "genaiops_canary_weight_percent", endpoint="chat", deployment="primary") == 20


# -- errors never kill the loop --------------------------------------------------------------------
def test_a_failing_resource_is_reported_once_while_the_rest_proceed(workspace: Workspace, repo: GitRepo) -> None:
    workspace.emulator.endpoint_client().create_endpoint(
        parent=workspace.emulator.parent, endpoint_id="chat", endpoint=aiplatform_v1.Endpoint(display_name="theirs")
    ).result()  # someone else's endpoint with the name of ours: never adopted
    both = endpoint_yaml() + "---\n" + endpoint_yaml(name="other", deployments=TWO, traffic="{a: 90, b: 10}")
    repo.commit("chat and other", models=model_yaml(), endpoints=both)
    with controller(workspace, repo, *_watch()) as ctl:
        failed = ctl.wait_for("Endpoint chat already exists", timeout_s=STARTUP_S)
        assert "not managed by genaiops" in failed["message"] and failed["level"] == "ERROR"
        wait_for_split(workspace, {"a": 90, "b": 10}, timeout_s=5, endpoint_id="other")
        ctl.wait_for_passes(3, timeout_s=10)
        assert len(ctl.messages("Endpoint chat already exists")) == 1, "reported on every pass"
        assert "1 not planned" in ctl.messages("pass ")[-1]

        moved = endpoint_yaml() + "---\n" + endpoint_yaml(name="other", deployments=TWO, traffic="{a: 50, b: 50}")
        repo.commit("other 50/50", models=model_yaml(), endpoints=moved)
        wait_for_split(workspace, {"a": 50, "b": 50}, timeout_s=NEXT_PASS_S, endpoint_id="other")
        assert workspace.endpoint().display_name == "theirs" and not workspace.endpoint().deployed_models
        assert ctl.process.poll() is None
        ctl.terminate()
        assert ctl.wait(10) == 0, ctl.output()


# -- known bugs ------------------------------------------------------------------------------------
def test_a_model_version_bump_in_git_is_rolled_out_and_not_reported_as_drift(
    workspace: Workspace, repo: GitRepo
) -> None:
    repo.commit("v1", models=model_yaml(), endpoints=endpoint_yaml())
    code, output = reconcile_once(workspace, repo)
    assert code == 0, output
    repo.commit("v2", models=model_yaml(artifact="gs://emulator-models/llm/v2"), endpoints=endpoint_yaml())
    planned = workspace.run("plan", str(repo.manifests))
    assert "Changed outside genaiops" not in planned.output, planned.output
    code, output = reconcile_once(workspace, repo)
    assert code == 0, output
    assert "changed outside genaiops" not in output, output
    assert served(workspace.endpoint()) == {"2": 100}


def test_a_suspended_endpoint_is_counted_as_suspended_in_the_resources_metric(
    workspace: Workspace, repo: GitRepo
) -> None:
    repo.commit("90/10", **traffic("{a: 90, b: 10}"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with controller(workspace, repo, *_watch(*_metrics_flags(port))) as ctl:
        wait_for_split(workspace, {"a": 90, "b": 10}, timeout_s=STARTUP_S)
        suspended = endpoint_yaml(deployments=TWO, traffic="{a: 90, b: 10}", extra="  suspend: true\n")
        sha = repo.commit("suspend chat", models=model_yaml(), endpoints=suspended)
        ctl.wait_for(f"reconciling commit {sha}", timeout_s=10)
        ctl.wait_for_passes(2, timeout_s=10)
        s = wait_for_metrics(base, lambda s: True, timeout_s=5, what="a scrape")
    assert sample(s, "genaiops_resources", kind="Endpoint", status="suspended") == 1, named(s, "genaiops_resources")


def test_genaiops_suspend_stops_the_loop_from_advancing_a_canary(make_workspace: Callable[..., Workspace]) -> None:
    workspace = make_workspace(**TRAFFIC)
    repo = GitRepo(workspace.root / "repo")
    steps = "[{weight: 20, pause: 1s}, {weight: 50, pause: 1h}]"
    repo.commit("v1", models=model_yaml(artifact=HEALTHY_V1), endpoints=canary_yaml(steps=steps))
    with controller(workspace, repo, *_watch()) as ctl:
        wait_until(lambda: served_now(workspace) == {"1": 100}, timeout_s=STARTUP_S, what="v1 served")
        repo.commit("v2", models=model_yaml(artifact=HEALTHY_V2), endpoints=canary_yaml(steps=steps))
        wait_until(lambda: served_now(workspace) == {"1": 80, "2": 20}, timeout_s=10, what="canary at 20%")
        suspended = workspace.run("suspend", "chat", "-f", str(repo.manifests))
        assert suspended.exit_code == 0, suspended.output
        ctl.wait_for_passes(4, timeout_s=15)  # well past the 1 s pause and the 1 s analysis interval
        assert served_now(workspace) == {"1": 80, "2": 20}, "the rollout advanced while suspended"


# -- prompts ---------------------------------------------------------------------------------------
PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: greet}}
spec:
  model: gemini
  template: "{template}"
  variables: {{customer: {{type: string}}}}
  labels: [staging, production]
---
apiVersion: genaiops/v1
kind: Model
metadata: {{name: gemini}}
spec: {{publisher: publishers/google/models/gemini-2.0-flash}}
"""


def _prompt_index(workspace: Workspace) -> dict[str, Any]:
    """The index of prompt `greet` in the emulator target's default store (gs://<project>-genaiops/prompts)."""
    client = storage.Client(project=workspace.emulator.project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    blob = client.bucket(f"{workspace.emulator.project}-genaiops").blob("prompts/prompts/greet/index.json")
    return json.loads(blob.download_as_bytes()) if blob.exists() else {}


def test_reconcile_publishes_a_prompt_a_commit_adds_and_moves_its_labels_when_the_template_changes(
    workspace: Workspace, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", workspace.emulator.storage_host)
    repo.commit("a prompt", prompts=PROMPT.format(template="Hello {{ customer }}!"))
    with controller(workspace, repo, *_watch()) as ctl:
        wait_until(lambda: bool(_prompt_index(workspace)), timeout_s=STARTUP_S, what="the prompt to be published")
        first = _prompt_index(workspace)
        assert set(first["labels"]) == {"staging", "production"} and len(first["versions"]) == 1
        changed = repo.commit("warmer", prompts=PROMPT.format(template="Hi {{ customer }}, welcome back!"))
        started = time.monotonic()
        wait_until(
            lambda: len(_prompt_index(workspace).get("versions", ())) == 2,
            timeout_s=NEXT_PASS_S,
            what="the new version to be published by the next pass",
        )
        assert time.monotonic() - started <= NEXT_PASS_S
        second = _prompt_index(workspace)
        new_version = second["versions"][-1]["version"]
        assert second["labels"] == {"staging": new_version, "production": new_version}
        assert second["versions"][-1]["commit"] == changed
        assert all(move["applied"] for move in second["history"])
        ctl.terminate()
        assert ctl.wait(10) == 0, ctl.output()
    published = [r for r in audit_records(ctl.audit) if r.get("op") == "PublishPromptVersion" and r["status"] == "ok"]
    moved = [r for r in audit_records(ctl.audit) if r.get("op") == "MovePromptLabels" and r["status"] == "ok"]
    assert len(published) == 2 and len(moved) == 2
    assert moved[-1]["commit"] == changed and new_version in moved[-1]["detail"]
    plan = workspace.run("plan", str(repo.manifests), "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output

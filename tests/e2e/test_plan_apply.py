"""plan and apply end to end: the CLI, the Vertex provider and the emulator, through the real clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from google.cloud import aiplatform_v1
from google.protobuf import field_mask_pb2

from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml


def test_apply_creates_everything_from_empty_and_a_second_plan_is_empty(workspace: Workspace) -> None:
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    first = workspace.plan("--detailed-exitcode")
    assert first.exit_code == 2, first.output
    assert "Plan: 2 to add, 0 to change, 0 to destroy" in first.output
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in applied.output
    live = workspace.endpoint()
    assert live.labels["managed-by"] == "genaiops"
    assert [d.display_name for d in live.deployed_models] == ["primary"]
    assert dict(live.traffic_split) == {live.deployed_models[0].id: 100}
    second = workspace.plan("--detailed-exitcode")
    assert second.exit_code == 0, second.output
    assert "No changes" in second.output


def test_a_traffic_change_moves_traffic_in_one_update(workspace: Workspace) -> None:
    two = "[{name: a, model: llm}, {name: b, model: llm}]"
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml(deployments=two, traffic="{a: 90, b: 10}"))
    assert workspace.apply().exit_code == 0
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml(deployments=two, traffic="{a: 50, b: 50}"))
    planned = workspace.plan()
    assert "1 traffic shift" in planned.output
    assert workspace.apply().exit_code == 0
    live = workspace.endpoint()
    by_name = {d.display_name: live.traffic_split[d.id] for d in live.deployed_models}
    assert by_name == {"a": 50, "b": 50}
    assert workspace.plan("--detailed-exitcode").exit_code == 0


def _watch_splits(workspace: Workspace, stop: threading.Event, seen: list[tuple[dict[str, int], set[str]]]) -> None:
    client = workspace.emulator.endpoint_client()
    name = f"{workspace.emulator.parent}/endpoints/chat"
    while not stop.is_set():
        live = client.get_endpoint(name=name)
        seen.append((dict(live.traffic_split), {d.id for d in live.deployed_models}))


def test_a_version_bump_keeps_every_observed_split_safe(make_workspace: Callable[..., Workspace]) -> None:
    workspace = make_workspace(lro_delay_s=0.15)
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    assert workspace.apply().exit_code == 0
    old_id = workspace.endpoint().deployed_models[0].id
    workspace.write(models=model_yaml(artifact="gs://emulator-models/llm/v2"), endpoints=endpoint_yaml())
    stop = threading.Event()
    seen: list[tuple[dict[str, int], set[str]]] = []
    watcher = threading.Thread(target=_watch_splits, args=(workspace, stop, seen))
    watcher.start()
    try:
        result = workspace.apply()
    finally:
        stop.set()
        watcher.join()
    assert result.exit_code == 0, result.output
    assert len(seen) > 10
    for split, deployed in seen:
        assert sum(split.values()) == 100, split
        assert set(split) <= deployed, (split, deployed)
    live = workspace.endpoint()
    assert len(live.deployed_models) == 1 and live.deployed_models[0].id != old_id
    assert live.deployed_models[0].model_version_id == "2"
    assert any(len(deployed) == 2 for _, deployed in seen), "the new model was deployed before the old one left"
    assert workspace.plan("--detailed-exitcode").exit_code == 0


def test_prune_deletes_only_when_asked_and_never_touches_unmanaged_endpoints(workspace: Workspace) -> None:
    client = workspace.emulator.endpoint_client()
    parent = workspace.emulator.parent
    client.create_endpoint(
        parent=parent, endpoint_id="hand-made", endpoint=aiplatform_v1.Endpoint(display_name="x")
    ).result()
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml() + "---\n" + endpoint_yaml(name="extra"))
    assert workspace.apply().exit_code == 0
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    kept = workspace.plan()
    assert "extra is managed by genaiops but in no manifest" in kept.output
    assert "hand-made" not in kept.output
    assert workspace.apply().exit_code == 0
    assert workspace.endpoint("extra").name.endswith("/extra")
    pruned = workspace.apply("--prune")
    assert pruned.exit_code == 0, pruned.output
    names = {e.name.rsplit("/", 1)[1] for e in client.list_endpoints(parent=parent)}
    assert names == {"chat", "hand-made"}


def test_an_unmanaged_endpoint_with_a_manifest_name_is_refused_not_adopted(workspace: Workspace) -> None:
    client = workspace.emulator.endpoint_client()
    client.create_endpoint(
        parent=workspace.emulator.parent, endpoint_id="chat", endpoint=aiplatform_v1.Endpoint(display_name="theirs")
    ).result()
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    planned = workspace.plan()
    assert planned.exit_code == 1, planned.output
    assert "endpoints.yaml:1:1 metadata.name: Endpoint chat already exists in us-central1" in planned.output
    assert "not managed by genaiops" in planned.output and "Endpoint/us-central1/chat will" not in planned.output
    result = workspace.apply()
    assert result.exit_code == 1
    assert "not managed by genaiops" in result.output
    assert not list(workspace.emulator.model_client().list_models(parent=workspace.emulator.parent)), "half-applied"
    live = workspace.endpoint()
    assert live.display_name == "theirs" and "managed-by" not in live.labels and not live.deployed_models


def test_a_stale_saved_plan_is_refused(workspace: Workspace) -> None:
    two = "[{name: a, model: llm}, {name: b, model: llm}]"
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml(deployments=two, traffic="{a: 90, b: 10}"))
    assert workspace.apply().exit_code == 0
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml(deployments=two, traffic="{a: 50, b: 50}"))
    planfile = workspace.root / "chat.plan"
    assert workspace.plan("--out", str(planfile)).exit_code == 0
    live = workspace.endpoint()
    ids = [d.id for d in live.deployed_models]
    live.traffic_split = {ids[0]: 70, ids[1]: 30}
    mask = field_mask_pb2.FieldMask(paths=["traffic_split"])
    workspace.emulator.endpoint_client().update_endpoint(endpoint=live, update_mask=mask)
    refused = workspace.run("apply", str(planfile))
    assert refused.exit_code == 1
    assert "stale" in refused.output and "Endpoint/us-central1/chat" in refused.output
    assert dict(workspace.endpoint().traffic_split) == {ids[0]: 70, ids[1]: 30}


def test_a_fresh_saved_plan_applies_exactly(workspace: Workspace) -> None:
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    planfile = workspace.root / "all.plan"
    assert workspace.plan("--out", str(planfile)).exit_code == 0
    applied = workspace.run("apply", str(planfile))
    assert applied.exit_code == 0, applied.output
    assert workspace.plan("--detailed-exitcode").exit_code == 0


def test_apply_converges_with_30_percent_of_calls_failing_and_creates_no_duplicates(
    make_workspace: Callable[..., Workspace],
) -> None:
    workspace = make_workspace(faults=["*:rate=0.3:code=UNAVAILABLE"], seed=7)
    endpoints = "---\n".join(endpoint_yaml(name=f"chat-{i}") for i in range(4))
    workspace.write(models=model_yaml(), endpoints=endpoints)
    result = workspace.apply()
    assert result.exit_code == 0, result.output
    workspace.write(models=model_yaml(artifact="gs://emulator-models/llm/v2"), endpoints=endpoints)
    bumped = workspace.apply()
    assert bumped.exit_code == 0, bumped.output
    assert workspace.emulator.faults.injected, "faults were injected"
    workspace.emulator.faults.clear()
    assert workspace.plan("--detailed-exitcode").exit_code == 0
    versions = workspace.emulator.model_client().list_model_versions(name=f"{workspace.emulator.parent}/models/llm")
    assert sorted(v.version_id for v in versions) == ["1", "2"]
    for i in range(4):
        live = workspace.endpoint(f"chat-{i}")
        assert [(d.display_name, d.model_version_id) for d in live.deployed_models] == [("primary", "2")]


def test_the_audit_log_has_one_json_line_per_operation(workspace: Workspace) -> None:
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    assert workspace.apply().exit_code == 0
    lines = [json.loads(line) for line in (workspace.root / "audit.log").read_text().splitlines()]
    ops = [line["op"] for line in lines if "op" in line]
    assert ops == ["UploadModel", "CreateEndpoint", "DeployModel", "SetTraffic"]
    assert all(line["status"] == "ok" for line in lines if "op" in line)


def test_apply_without_a_terminal_refuses_without_auto_approve(workspace: Workspace) -> None:
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    result = workspace.run("apply", str(workspace.manifests))
    assert result.exit_code == 1
    assert "--auto-approve" in result.output
    assert workspace.plan("--detailed-exitcode").exit_code == 2


def test_two_concurrent_applies_never_interleave(make_workspace: Callable[..., Workspace], tmp_path: Path) -> None:
    workspace = make_workspace(lro_delay_s=1.0)
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    argv = [
        sys.executable,
        "-m",
        "controller",
        "apply",
        str(workspace.manifests),
        "--auto-approve",
        "--emulator",
        workspace.emulator.grpc_target,
        "--audit-log",
        str(tmp_path / "audit.log"),
    ]
    procs = [
        subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outputs
    loser = outputs[[p.returncode for p in procs].index(1)]
    assert "lock" in loser.lower() and "held by" in loser.lower()
    events = [json.loads(line).get("event") for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert events.count("apply-started") == 1
    waiting = subprocess.run([*argv, "--lock-timeout", "60"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert waiting.returncode == 0, waiting.stdout + waiting.stderr


def test_the_local_target_keeps_its_state_between_invocations(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "all.yaml").write_text(model_yaml() + "---\n" + endpoint_yaml(), encoding="utf-8")
    base = [sys.executable, "-m", "controller"]
    env = {k: v for k, v in os.environ.items() if k not in ("GOOGLE_CLOUD_PROJECT", "GENAIOPS_EMULATOR")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)

    applied = run("apply", "manifests", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "local emulator (.genaiops/local/state.json)" in applied.stdout
    assert (tmp_path / ".genaiops/local/state.json").is_file()
    again = run("plan", "manifests", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout

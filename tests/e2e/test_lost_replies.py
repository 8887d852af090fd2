"""Apply when replies get lost (issue 10): every mutating call is carried out by the emulator, but 30% of
the callers never hear back (`lost_reply` fault) and see UNAVAILABLE instead. Retries and reruns must
adopt what landed: at most two applies converge, with no duplicate model versions, deployed models or
prompt versions. The figures are printed for the closing note (`pytest -s`).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace

REPO = Path(__file__).resolve().parents[2]
MUTATING = (
    "CreateEndpoint",
    "UpdateEndpoint",
    "DeployModel",
    "UndeployModel",
    "MutateDeployedModel",
    "UploadModel",
    "UpdateModel",
    "MergeVersionAliases",
    "storage.objects.insert",
    "storage.objects.patch",
    "storage.objects.update",
)


def _converge(workspace: Workspace) -> int:
    """Apply until plan shows no changes, at most twice; the number of applies it took."""
    outputs = []
    for count in (1, 2):
        outputs.append(workspace.apply().output)
        if workspace.plan("--detailed-exitcode").exit_code == 0:
            return count
    raise AssertionError("two applies did not converge:\n" + "\n".join(outputs))


def _second_commit(manifests: Path) -> None:
    """Changes that mean more mutating calls: a replica count, model labels, a prompt template."""
    endpoints = manifests / "endpoints.yaml"
    endpoints.write_text(endpoints.read_text().replace("maxReplicas: 2", "maxReplicas: 4"))
    models = manifests / "models.yaml"
    models.write_text(models.read_text().replace("labels: {team: support}", "labels: {team: support, tier: one}", 1))
    template = manifests / "prompts" / "support-answer.j2"
    template.write_text(template.read_text() + "\nAlways end with a short summary.\n")


@pytest.mark.parametrize("seed", [3, 7])
def test_apply_with_30_percent_lost_replies_converges_in_two_applies_without_duplicates(
    make_workspace: Callable[..., Workspace], seed: int
) -> None:
    workspace = make_workspace(seed=seed)
    shutil.copytree(REPO / "manifests", workspace.manifests, dirs_exist_ok=True)
    for method in MUTATING:
        workspace.emulator.faults.add(f"{method}:lost_reply=0.3")
    applies = [_converge(workspace)]
    _second_commit(workspace.manifests)
    applies.append(_converge(workspace))
    lost = dict(workspace.emulator.faults.lost)
    assert sum(lost.values()) >= 3, f"too few replies were lost to prove anything: {lost}"

    parent = workspace.emulator.parent
    models = workspace.emulator.model_client()
    versions = {
        m.name.rsplit("/", 1)[1]: len(list(models.list_model_versions(name=m.name)))
        for m in models.list_models(parent=parent)
    }
    assert versions == {"support-llm": 1, "intent-classifier": 1}
    endpoints = workspace.emulator.endpoint_client()
    deployed = {
        e.name.rsplit("/", 1)[1]: sorted(
            (d.display_name, d.dedicated_resources.max_replica_count) for d in e.deployed_models
        )
        for e in endpoints.list_endpoints(parent=parent)
    }
    assert deployed == {"support-chat": [("primary", 3)], "intent-router": [("main", 4)]}
    client = workspace.storage()
    prompt_versions = Counter(
        blob.name.split("/")[-3]
        for bucket in client.list_buckets()
        for blob in client.list_blobs(bucket.name)
        if "/versions/" in blob.name
    )
    assert prompt_versions == {"support-answer": 2, "ticket-triage": 1}
    per_method = ", ".join(f"{name.rsplit('/', 1)[-1]}={count}" for name, count in sorted(lost.items()))
    print(
        f"\nlost replies: {sum(lost.values())} ({per_method}); applies to converge: {applies}; "
        "duplicates: 0 model versions, 0 deployed models, 0 prompt versions"
    )

"""`genaiops import` and `--adopt` end to end (issue 17): resources made with the high-level SDK
(`google.cloud.aiplatform` over REST, numeric generated IDs) on the emulator, imported through the CLI.

Before adoption an imported resource is someone else's (no managed-by label), so `genaiops plan` refuses it:
the no-changes check is import's own. After `--adopt`, `genaiops plan` says no changes, and a second import
writes and adopts nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform
from google.cloud.aiplatform import initializer

from controller.emulator.server import running
from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml

IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"
MACHINE = "n1-standard-2"


@pytest.fixture
def sdk_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """An emulator serving REST (for the high-level SDK), the SDK pointed at it, and a workspace."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with running(rest_port=0, storage_port=0) as emulator:
        aiplatform.init(
            project=emulator.project,
            location=emulator.location,
            api_endpoint=emulator.rest_endpoint,
            api_transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
        try:
            yield Workspace(tmp_path, emulator)
        finally:
            config: Any = initializer.global_config
            config.__init__()  # aiplatform.init is global and sticky: forget it for the other test modules


def upload(name: str) -> Any:
    """A model uploaded the SDK way: no model_id, so Vertex AI (the emulator) generates a numeric one."""
    return aiplatform.Model.upload(
        display_name=name, artifact_uri=f"gs://sdk-models/{name}", serving_container_image_uri=IMAGE
    )


def endpoint_with(models: list[Any], shares: list[int], *, names: list[str] | None = None, **create: Any) -> Any:
    """An endpoint created with the SDK, each model deployed in turn at its share (the SDK splits)."""
    endpoint = aiplatform.Endpoint.create(**{"display_name": "sdk endpoint", **create})
    for index, (model, share) in enumerate(zip(models, shares, strict=True)):
        endpoint.deploy(
            model,
            deployed_model_display_name=(names or ["primary", "canary", "third"])[index],
            traffic_percentage=share,
            machine_type=MACHINE,
            min_replica_count=1,
            max_replica_count=1 + index,
        )
    return endpoint


def fifty_endpoints() -> tuple[list[Any], list[Any]]:
    """Three models and fifty endpoints: every fifth split two ways (70/30), some with labels."""
    models = [upload(f"model-{i}") for i in range(3)]
    endpoints = []
    for i in range(50):
        labels = {"team": f"team-{i % 4}"} if i % 3 == 0 else None
        if i % 5 == 0:
            endpoints.append(endpoint_with([models[0], models[1]], [100, 30], labels=labels))
        else:
            endpoints.append(endpoint_with([models[i % 3]], [100], labels=labels, description=f"endpoint {i}"))
    return models, endpoints


def files(workspace: Workspace) -> dict[str, str]:
    """The imported files: name -> text."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((workspace.manifests / "imported").glob("*"))}


def labels_of(workspace: Workspace, endpoint: Any) -> dict[str, str]:
    return dict(workspace.endpoint(endpoint.name).labels)


def test_fifty_sdk_endpoints_import_adopt_and_then_plan_to_no_changes(sdk_workspace: Workspace) -> None:
    ws = sdk_workspace
    models, endpoints = fifty_endpoints()

    first = ws.run("import", str(ws.manifests))
    assert first.exit_code == 0, first.output
    written = files(ws)
    assert len(written) == 53
    assert f"model-us-central1-{models[0].name}.yaml" in written
    split = yaml.safe_load(written[f"endpoint-us-central1-{endpoints[0].name}.yaml"])
    assert split["metadata"] == {"name": endpoints[0].name, "labels": {"team": "team-0"}}
    assert split["spec"]["traffic"] == {"canary": 30, "primary": 70}
    assert [d["model"] for d in split["spec"]["deployments"]] == [f"{models[1].name}@1", f"{models[0].name}@1"]
    assert f'name: "{endpoints[0].name}"' in written[f"endpoint-us-central1-{endpoints[0].name}.yaml"]
    assert "53 of 53 plan to no changes" in first.output
    assert "genaiops import" in first.output and "--adopt" in first.output
    assert all("managed-by" not in labels_of(ws, e) for e in endpoints[:3])

    refused = ws.plan()  # not adopted yet: someone else's, and plan never touches it
    assert refused.exit_code == 1
    assert "not managed by genaiops" in refused.output

    adopted = ws.run("import", str(ws.manifests), "--adopt")
    assert adopted.exit_code == 0, adopted.output
    assert "Adopted 53 resources" in adopted.output
    assert all(labels_of(ws, e).get("managed-by") == "genaiops" for e in endpoints)
    assert labels_of(ws, endpoints[0])["team"] == "team-0"

    planned = ws.plan("--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    assert "No changes" in planned.output

    stamps = {p: p.stat().st_mtime_ns for p in (ws.manifests / "imported").glob("*")}
    again = ws.run("import", str(ws.manifests), "--adopt")
    assert again.exit_code == 0, again.output
    assert again.output.startswith("Nothing to import")
    assert {p: p.stat().st_mtime_ns for p in (ws.manifests / "imported").glob("*")} == stamps


def test_an_endpoint_whose_manifest_would_change_is_not_adopted_and_the_others_are(sdk_workspace: Workspace) -> None:
    ws = sdk_workspace
    model = upload("model-a")
    kept, edited = endpoint_with([model], [100]), endpoint_with([model], [100])
    assert ws.run("import", str(ws.manifests)).exit_code == 0
    path = ws.manifests / "imported" / f"endpoint-us-central1-{edited.name}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("maxReplicas: 1", "maxReplicas: 3"), encoding="utf-8")

    result = ws.run("import", str(ws.manifests), "--adopt")

    assert result.exit_code == 1, result.output
    assert f"Endpoint/us-central1/{edited.name}: its manifest plans a change (update)" in result.output
    assert "deployments.primary.maxReplicas: 1 -> 3" in result.output
    assert "Adopted 2 resources" in result.output
    assert labels_of(ws, kept).get("managed-by") == "genaiops"
    assert "managed-by" not in labels_of(ws, edited)


class Killed(BaseException):
    """The process dies here (not an error anything handles)."""


def test_a_kill_between_two_adoptions_leaves_some_adopted_and_the_rerun_converges(
    sdk_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from controller.providers.vertex_inventory import VertexInventory

    ws = sdk_workspace
    model = upload("model-a")
    endpoints = [endpoint_with([model], [100]) for _ in range(3)]
    real = VertexInventory.adopt_endpoint
    calls: list[str] = []

    def dies_on_the_second(self: VertexInventory, **kwargs: Any) -> Any:
        calls.append(kwargs["endpoint_id"])
        if len(calls) == 2:
            raise Killed
        return real(self, **kwargs)

    monkeypatch.setattr(VertexInventory, "adopt_endpoint", dies_on_the_second)
    with pytest.raises(Killed):
        ws.run("import", str(ws.manifests), "--adopt")
    adopted = [e for e in endpoints if labels_of(ws, e).get("managed-by") == "genaiops"]
    assert [e.name for e in adopted] == calls[:1]
    assert aiplatform.Model(model.name).labels == {"managed-by": "genaiops"}

    monkeypatch.setattr(VertexInventory, "adopt_endpoint", real)
    rerun = ws.run("import", str(ws.manifests), "--adopt")
    assert rerun.exit_code == 0, rerun.output
    assert "Adopted 2 resources" in rerun.output
    assert all(labels_of(ws, e).get("managed-by") == "genaiops" for e in endpoints)
    planned = ws.plan("--detailed-exitcode")
    assert planned.exit_code == 0, planned.output


def test_deployed_models_whose_display_names_cannot_be_deployment_names_are_reported(
    sdk_workspace: Workspace,
) -> None:
    ws = sdk_workspace
    model = upload("model-a")
    spaced = endpoint_with([model], [100], names=["Primary Model"])
    twice = endpoint_with([model, model], [100, 50], names=["primary", "primary"])
    fine = endpoint_with([model], [100])

    result = ws.run("import", str(ws.manifests))

    assert result.exit_code == 0, result.output
    assert "Cannot import 2 as they are" in result.output
    assert f"Endpoint/us-central1/{spaced.name}: deployed model" in result.output
    assert "has the display name 'Primary Model', which is not a deployment name" in result.output
    assert "redeploy it under such a display name" in result.output
    assert f"Endpoint/us-central1/{twice.name}: deployed models" in result.output
    assert "share the display name 'primary'" in result.output
    assert set(files(ws)) == {f"model-us-central1-{model.name}.yaml", f"endpoint-us-central1-{fine.name}.yaml"}


def test_a_file_with_other_content_is_not_overwritten_without_force(sdk_workspace: Workspace) -> None:
    ws = sdk_workspace
    model = upload("model-a")
    (ws.manifests / "imported").mkdir()
    squatter = ws.manifests / "imported" / f"model-us-central1-{model.name}.yaml"
    squatter.write_text(model_yaml(name="mine"), encoding="utf-8")

    refused = ws.run("import", str(ws.manifests))
    assert refused.exit_code == 1
    assert "exists with other content (--force overwrites it)" in refused.output
    assert squatter.read_text(encoding="utf-8") == model_yaml(name="mine")

    forced = ws.run("import", str(ws.manifests), "--force")
    assert forced.exit_code == 0, forced.output
    assert f'name: "{model.name}"' in squatter.read_text(encoding="utf-8")


def test_out_outside_the_manifests_is_refused(sdk_workspace: Workspace) -> None:
    result = sdk_workspace.run("import", str(sdk_workspace.manifests), "--out", str(sdk_workspace.root / "elsewhere"))
    assert result.exit_code == 1
    assert "must be inside" in result.output
    assert "Traceback" not in result.output


PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {name: support-answer}
spec:
  model: publishers/google/models/gemini-2.0-flash
  template: "Answer politely: {{ question }}"
  variables: {question: {type: string}}
  generationConfig: {temperature: 0.2}
  labels: [production]
"""


def test_a_stored_prompt_no_manifest_declares_is_imported_and_plans_to_no_changes(workspace: Workspace) -> None:
    workspace.write(prompt=PROMPT)
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    (workspace.manifests / "prompt.yaml").unlink()

    result = workspace.run("import", str(workspace.manifests))

    assert result.exit_code == 0, result.output
    assert "1 of 1 plan to no changes" in result.output
    assert files(workspace)["prompt-support-answer.j2"] == "Answer politely: {{ question }}"
    manifest = yaml.safe_load(files(workspace)["prompt-support-answer.yaml"])
    assert manifest["spec"]["labels"] == ["production"]
    assert manifest["spec"]["templateFile"] == "prompt-support-answer.j2"
    planned = workspace.plan("--detailed-exitcode")
    assert planned.exit_code == 0, planned.output


def test_a_manifest_named_by_a_generated_id_whose_resource_is_gone_is_a_diagnostic_not_a_create(
    workspace: Workspace,
) -> None:
    workspace.write(
        model=model_yaml(name='"7672672114085189673"', aliases=""),
        endpoint=endpoint_yaml(
            name='"1444565590023340588"', deployments="[{name: primary, model: '7672672114085189673@1'}]"
        ),
    )

    result = workspace.plan()

    assert result.exit_code == 1
    assert "Model 7672672114085189673 was imported from a resource that no longer exists" in result.output
    assert "Endpoint 1444565590023340588 was imported from a resource that no longer exists" in result.output
    assert "No changes planned" in result.output


def test_an_sdk_endpoint_using_serving_settings_imports_to_a_manifest_that_plans_to_no_changes(
    sdk_workspace: Workspace,
) -> None:
    ws = sdk_workspace
    model = upload("model-a")
    endpoint = aiplatform.Endpoint.create(
        display_name="logged",
        dedicated_endpoint_enabled=True,
        enable_request_response_logging=True,
        request_response_logging_sampling_rate=0.5,
        request_response_logging_bq_destination_table="bq://my-project.logs.requests",
    )
    endpoint.deploy(
        model,
        deployed_model_display_name="primary",
        traffic_percentage=100,
        machine_type=MACHINE,
        min_replica_count=1,
        max_replica_count=4,
        autoscaling_target_cpu_utilization=70,
        spot=True,
    )

    result = ws.run("import", str(ws.manifests), "--adopt")

    assert result.exit_code == 0, result.output
    assert "2 of 2 plan to no changes" in result.output
    spec = yaml.safe_load(files(ws)[f"endpoint-us-central1-{endpoint.name}.yaml"])["spec"]
    assert spec["dedicated"] is True
    assert spec["requestResponseLogging"] == {
        "enabled": True,
        "samplingRate": 0.5,
        "bigqueryTable": "bq://my-project.logs.requests",
    }
    assert spec["deployments"][0]["autoscaling"] == {"cpuUtilization": 70}
    assert spec["deployments"][0]["spot"] is True
    planned = ws.plan("--detailed-exitcode")
    assert planned.exit_code == 0, planned.output


def test_import_reads_every_region_given(sdk_workspace: Workspace) -> None:
    ws = sdk_workspace
    here = endpoint_with([upload("model-a")], [100])
    model = aiplatform.Model.upload(
        display_name="model-eu",
        artifact_uri="gs://sdk-models/eu",
        serving_container_image_uri=IMAGE,
        location="europe-west4",
    )
    there = aiplatform.Endpoint.create(display_name="eu", location="europe-west4")
    there.deploy(model, deployed_model_display_name="primary", traffic_percentage=100, machine_type=MACHINE)

    only_default = ws.run("import", str(ws.manifests))
    assert only_default.exit_code == 0, only_default.output
    assert set(files(ws)) == {
        f"endpoint-us-central1-{here.name}.yaml",
        f"model-us-central1-{here.list_models()[0].model.rsplit('/', 1)[-1]}.yaml",
    }

    both = ws.run("import", str(ws.manifests), "--region", "us-central1", "--region", "europe-west4", "--adopt")
    assert both.exit_code == 0, both.output
    assert f"endpoint-europe-west4-{there.name}.yaml" in files(ws)
    assert "Adopted 4 resources" in both.output
    planned = ws.plan("--detailed-exitcode")
    assert planned.exit_code == 0, planned.output

"""Open Model Garden models end to end: a Model naming a Llama publisher model with `deploy`, served by an
Endpoint, applied through the CLI to the emulator (GetPublisherModel, then UploadModel and DeployModel
with the real clients); the next plan is empty, and a new publisher version rolls out as a new revision."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from tests.e2e.canary_helpers import TRAFFIC, canary_yaml, rollout_events, served
from tests.e2e.conftest import Workspace, endpoint_yaml

GPU = "[{name: primary, model: llama, machineType: g2-standard-12, accelerator: {type: NVIDIA_L4}}]"


def open_model_yaml(publisher: str, *, accept: bool = True, env: str = "{}") -> str:
    """An open Model manifest named `llama`."""
    return textwrap.dedent(
        f"""\
        apiVersion: genaiops/v1
        kind: Model
        metadata: {{name: llama}}
        spec:
          publisher: {publisher}
          deploy: {{acceptEula: {str(accept).lower()}, env: {env}}}
        """
    )


def _live_model(workspace: Workspace) -> object:
    return workspace.emulator.model_client().get_model(name=f"{workspace.emulator.parent}/models/llama")


def test_an_open_model_is_registered_and_deployed_and_the_next_plan_is_empty(workspace: Workspace) -> None:
    workspace.write(
        models=open_model_yaml("publishers/meta/models/llama3_1@llama-3.1-8b-instruct", env="{MAX_MODEL_LEN: '8192'}"),
        endpoints=endpoint_yaml(deployments=GPU),
    )
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in applied.output
    model = _live_model(workspace)
    container = model.container_spec  # type: ignore[attr-defined]
    assert "pytorch-vllm-serve" in container.image_uri
    assert "--model=gs://vertex-model-garden-restricted-us/llama3.1/Llama-3.1-8B-Instruct" in container.args
    env = {e.name: e.value for e in container.env}
    assert env["MODEL_ID"] == "meta-llama/Llama-3.1-8B-Instruct" and env["MAX_MODEL_LEN"] == "8192"
    live = workspace.endpoint()
    assert [(d.display_name, d.model_version_id) for d in live.deployed_models] == [("primary", "1")]
    assert live.deployed_models[0].model.endswith("/models/llama")
    again = workspace.plan("--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output


def test_a_new_publisher_version_rolls_out_as_a_new_model_version(workspace: Workspace) -> None:
    workspace.write(
        models=open_model_yaml("publishers/meta/models/llama3-2@llama-3.2-1b-instruct"),
        endpoints=endpoint_yaml(deployments=GPU),
    )
    assert workspace.apply().exit_code == 0
    first = workspace.endpoint().deployed_models[0].id
    workspace.write(
        models=open_model_yaml("publishers/meta/models/llama3-2@llama-3.2-3b-instruct"),
        endpoints=endpoint_yaml(deployments=GPU),
    )
    planned = workspace.plan("--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "Llama-3.2-3B-Instruct" in planned.output
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    live = workspace.endpoint()
    assert [d.model_version_id for d in live.deployed_models] == ["2"]
    assert live.deployed_models[0].id != first
    assert dict(live.traffic_split) == {live.deployed_models[0].id: 100}
    assert workspace.plan("--detailed-exitcode").exit_code == 0


def test_a_licence_not_accepted_stops_the_plan_with_a_diagnostic(workspace: Workspace) -> None:
    workspace.write(
        models=open_model_yaml("publishers/meta/models/llama3_1@llama-3.1-8b-instruct", accept=False),
        endpoints=endpoint_yaml(deployments=GPU),
    )
    planned = workspace.plan()
    assert planned.exit_code == 1, planned.output
    assert "spec.deploy.acceptEula" in planned.output
    assert "licence" in planned.output


def test_an_unknown_publisher_model_stops_the_plan_with_a_diagnostic(workspace: Workspace) -> None:
    workspace.write(
        models=open_model_yaml("publishers/meta/models/llama3_1@llama-3.1-800b"),
        endpoints=endpoint_yaml(deployments=GPU),
    )
    planned = workspace.plan()
    assert planned.exit_code == 1, planned.output
    assert "Model Garden has no model publishers/meta/models/llama3_1@llama-3.1-800b" in planned.output


def test_a_new_publisher_version_is_canaried_and_promoted_like_any_model(
    make_workspace: Callable[..., Workspace],
) -> None:
    workspace = make_workspace(**TRAFFIC)
    endpoint = canary_yaml().replace("[{name: primary, model: llm}]", GPU)
    workspace.write(models=open_model_yaml("publishers/meta/models/llama3-2@llama-3.2-1b-instruct"), endpoints=endpoint)
    assert workspace.apply().exit_code == 0
    workspace.write(models=open_model_yaml("publishers/meta/models/llama3-2@llama-3.2-3b-instruct"), endpoints=endpoint)
    result = workspace.apply("--wait")
    assert result.exit_code == 0, result.output
    moves = [e["event"] for e in rollout_events(workspace.root / "audit.log", "started", "promoted", "aborted")]
    assert moves == ["rollout-started", "rollout-promoted"]
    live = workspace.endpoint()
    assert served(live) == {"2": 100}
    assert workspace.plan("--detailed-exitcode").exit_code == 0

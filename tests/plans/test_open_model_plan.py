"""Planning open Model Garden models: a Model with `publisher` and `deploy` is registered (UploadModel)
from its publisher's deploy action plus the manifest's env, Endpoints deploy it like an upload, a new
publisher version or env is a new version and a new revision, and what cannot be registered is a
diagnostic, never a guess."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from controller.model import Model
from controller.observed import ContainerSpec, Observed, ObservedModel, ObservedModelVersion, OpenModelSource
from controller.plans.endpoint_plan import model_fingerprint, revision_of
from controller.plans.operations import NEW_VERSION, DeployModel, Operation, UploadModel
from controller.plans.plan import Action, Plan
from controller.plans.planner import plan
from tests.builders import endpoint

R = "us-central1"
LLAMA = "publishers/meta/models/llama3_1@llama-3.1-8b-instruct"
IMAGE = "us-docker.pkg.dev/vertex-ai/vertex-vision-model-garden-dockers/pytorch-vllm-serve:20250312_0916_RC01"


def source(version: str = "llama-3.1-8b-instruct", *, eula: bool = True, **fields: Any) -> OpenModelSource:
    """What GetPublisherModel says of llama3_1 at `version` (its deploy action)."""
    container = ContainerSpec(
        image_uri=IMAGE,
        args=(
            "python",
            "-m",
            "vllm.entrypoints.api_server",
            f"--model=gs://vertex-model-garden-restricted-us/{version}",
        ),
        env=(("DEPLOY_SOURCE", "UI_NATIVE_MODEL"), ("MODEL_ID", f"meta-llama/{version}")),
        ports=(8080,),
        predict_route="/generate",
        health_route="/ping",
    )
    defaults: dict[str, Any] = {
        "container": container,
        "eula_required": eula,
        "machine_type": "g2-standard-12",
        "accelerator_type": "NVIDIA_L4",
        "accelerator_count": 1,
    }
    return OpenModelSource(name="publishers/meta/models/llama3_1", version_id=version, **{**defaults, **fields})


def open_model(
    name: str = "llm", *, publisher: str = LLAMA, accept: bool = True, env: dict[str, str] | None = None
) -> Model:
    """A Model manifest of an open Model Garden model."""
    deploy = {"acceptEula": accept, "env": env or {}}
    return Model.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Model",
            "metadata": {"name": name},
            "spec": {"publisher": publisher, "deploy": deploy},
        }
    )


GPU = [{"name": "primary", "model": "llm", "machineType": "g2-standard-12", "accelerator": {"type": "NVIDIA_L4"}}]


def world(found: OpenModelSource | None, *, key: str = LLAMA, models: tuple[ObservedModel, ...] = ()) -> Observed:
    return Observed(models={(R, m.model_id): m for m in models}, open_models={(R, key): found})


def ops(the_plan: Plan, address: str) -> list[Operation]:
    return [op for c in the_plan.changes if c.address == address for op in c.operations]


def registered(the_plan: Plan, *, version: str = "1") -> ObservedModel:
    """The live model the plan's UploadModel leaves behind."""
    upload = next(op for op in ops(the_plan, f"Model/{R}/llm") if isinstance(op, UploadModel))
    return ObservedModel(
        model_id=upload.model_id,
        region=R,
        display_name=upload.display_name,
        description=upload.description,
        labels=dict(upload.labels),
        default_version=ObservedModelVersion(version, ("default",), upload.artifact_uri, upload.container),
        update_time=f"t{version}",
    )


def test_an_open_model_is_uploaded_from_its_deploy_action_with_the_manifests_env() -> None:
    the_plan = plan([open_model(env={"MAX_MODEL_LEN": "8192"}), endpoint(deployments=GPU)], world(source()))
    assert not the_plan.diagnostics
    upload = next(op for op in ops(the_plan, f"Model/{R}/llm") if isinstance(op, UploadModel))
    assert upload.model_id == "llm" and not upload.parent_exists
    assert upload.container.image_uri == IMAGE
    assert upload.container.args == source().container.args  # type: ignore[union-attr]
    assert dict(upload.container.env) == {
        "DEPLOY_SOURCE": "UI_NATIVE_MODEL",
        "MAX_MODEL_LEN": "8192",
        "MODEL_ID": "meta-llama/llama-3.1-8b-instruct",
    }
    assert (upload.container.ports, upload.container.predict_route) == ((8080,), "/generate")
    assert upload.artifact_uri == "" and upload.aliases == ()
    deploy = next(op for op in ops(the_plan, f"Endpoint/{R}/chat") if isinstance(op, DeployModel))
    assert (deploy.spec.model_id, deploy.spec.version) == ("llm", NEW_VERSION)


def test_the_manifests_env_wins_over_the_deploy_actions_for_the_same_variable() -> None:
    the_plan = plan([open_model(env={"DEPLOY_SOURCE": "genaiops"})], world(source()))
    upload = next(op for op in ops(the_plan, f"Model/{R}/llm") if isinstance(op, UploadModel))
    assert dict(upload.container.env)["DEPLOY_SOURCE"] == "genaiops"


def test_a_registered_open_model_plans_no_change() -> None:
    first = plan([open_model()], world(source()))
    again = plan([open_model()], world(source(), models=(registered(first),)))
    change = next(c for c in again.changes if c.address == f"Model/{R}/llm")
    assert change.action is Action.NOOP, change.changes


@pytest.mark.parametrize(
    ("manifest", "found"),
    [
        pytest.param(open_model(), source("llama-3.1-8b"), id="a new publisher version"),
        pytest.param(open_model(env={"MAX_MODEL_LEN": "4096"}), source(), id="a changed env"),
        pytest.param(open_model(), replace(source(), artifact_uri="gs://bk/weights"), id="a changed deploy action"),
    ],
)
def test_a_new_publisher_version_or_env_is_a_new_model_version_and_a_new_revision(
    manifest: Model, found: OpenModelSource
) -> None:
    first = plan([open_model()], world(source()))
    live = registered(first)
    the_plan = plan([manifest], world(found, models=(live,)))
    change = next(c for c in the_plan.changes if c.address == f"Model/{R}/llm")
    assert change.action is Action.UPDATE and not change.drift
    upload = next(op for op in change.operations if isinstance(op, UploadModel))
    assert upload.parent_exists
    deployment = endpoint(deployments=GPU).spec.deployments[0]
    before = revision_of(deployment, open_model(), fingerprint=model_fingerprint(open_model(), source()))
    after = revision_of(deployment, manifest, fingerprint=model_fingerprint(manifest, found))
    assert before != after


def test_a_licence_that_was_not_accepted_is_a_diagnostic_and_nothing_is_planned() -> None:
    the_plan = plan([open_model(accept=False), endpoint(deployments=GPU)], world(source(eula=True)))
    paths = {d.path: d.summary for d in the_plan.diagnostics}
    assert "licence" in paths["spec.deploy.acceptEula"]
    assert "open Model 'llm' cannot be registered" in paths["spec.deployments"]
    assert not [c for c in the_plan.changes if c.kind in ("Model", "Endpoint")]


def test_a_model_without_a_licence_to_accept_needs_no_accept_eula() -> None:
    the_plan = plan([open_model(accept=False)], world(source(eula=False)))
    assert not the_plan.diagnostics


@pytest.mark.parametrize(
    ("observed", "path", "words"),
    [
        pytest.param(world(None), "spec.publisher", "NOT_FOUND", id="unknown to Model Garden"),
        pytest.param(world(replace(source(), container=None)), "spec.deploy", "no deploy action", id="not deployable"),
        pytest.param(Observed(), "spec.publisher", "no Model Garden client", id="not looked up"),
    ],
)
def test_an_open_model_that_cannot_be_resolved_is_a_diagnostic(observed: Observed, path: str, words: str) -> None:
    the_plan = plan([open_model()], observed)
    [diagnostic] = the_plan.diagnostics
    assert diagnostic.path == path and words in diagnostic.summary


def test_an_unpinned_publisher_model_notes_the_version_it_resolved_to() -> None:
    unpinned = "publishers/meta/models/llama3_1"
    the_plan = plan([open_model(publisher=unpinned)], world(source(), key=unpinned))
    assert any("pin it (publishers/meta/models/llama3_1@llama-3.1-8b-instruct)" in n for n in the_plan.notes)


def test_a_deployment_on_other_machines_than_model_gardens_is_noted() -> None:
    cpu = plan([open_model(), endpoint()], world(source()))
    assert any("deployment primary serves" in n and "n1-standard-4 without accelerators" in n for n in cpu.notes)
    gpu = plan([open_model(), endpoint(deployments=GPU)], world(source()))
    assert not any("deployment primary serves" in n for n in gpu.notes)


def test_gemma_may_be_deployed_but_gemini_may_not() -> None:
    assert open_model(publisher="publishers/google/models/gemma2@gemma-2-9b-it").spec.is_open_model
    with pytest.raises(ValidationError, match="Google serves Gemini"):
        open_model(publisher="publishers/google/models/gemini-2.0-flash")


def test_an_open_model_is_not_a_publisher_model_served_by_google() -> None:
    spec = open_model().spec
    assert spec.is_open_model and not spec.is_publisher

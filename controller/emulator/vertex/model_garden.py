"""google.cloud.aiplatform.v1.ModelGardenService in the emulator: GetPublisherModel over a small bundled
catalogue of open models, so that a Model with `publisher: publishers/meta/models/...` and `deploy` plans
and applies locally as it would on Vertex AI (genaiops reads the model's deploy action, then uploads a
registry model with it: see `controller/providers/model_garden.py`). Served over gRPC and, through the
REST gateway, at `GET /v1/publishers/*/models/*` (both come from the same `RpcMethod`s).

Names follow Model Garden: `publishers/{publisher}/models/{model}@{version_id}` in requests; the answer's
`name` has no version (`publishers/google/models/gemma3`) and `versionId` carries it (`gemma-3-1b-it`), as
Google's "Use models in Model Garden" page shows (https://cloud.google.com/vertex-ai/generative-ai/docs/
model-garden/use-models, snapshot 2025-05-12) and as the SDK's `list_models` rebuilds `name@versionId`
(python-aiplatform `vertexai/model_garden/_model_garden.py`). A name without `@` is the model's default
version. An unknown model answers NOT_FOUND; the message text is UNCONFIRMED.

The catalogue: `gemma3@gemma-3-1b-it` is copied from the deploy action on that page (vLLM serving image
`pytorch-vllm-serve:20250312_0916_RC01`, its args, `MODEL_ID` / `DEPLOY_SOURCE` env, port 8080, routes
`/generate` and `/ping`, weights named by `--model=gs://vertex-model-garden-restricted-us/...`, no
`artifactUri`, machines g2-standard-12 with one NVIDIA_L4). The model names of the others are Model
Garden's (`meta/llama3_1@llama-3.1-8b-instruct`, `meta/llama3-2@llama-3.2-{1b,3b}-instruct`,
`google/gemma2@gemma-2-9b-it`, as listed in Google's docs and SDK samples); their deploy actions follow
the same shape with UNCONFIRMED values (weights paths, image tag per model, machines). Llama models carry
a `requestAccess` action (UNCONFIRMED: Vertex's v1 PublisherModel has no field that says a licence must be
accepted; see the provider). `publishers/google/models/gemini-*` answers a proprietary model with no
deploy action (Google serves it). Tests may add or change entries in `ModelGardenService.catalogue`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.cloud import aiplatform_v1 as v1

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.vertex import common as c
from controller.emulator.vertex.gemini import find_publisher_model

SERVICE = "google.cloud.aiplatform.v1.ModelGardenService"
_NAME = re.compile(r"^publishers/([a-z0-9-]+)/models/([^/@]+)(?:@([^/@]+))?$")
_CATEGORY = v1.PublisherModel.OpenSourceCategory
VLLM_IMAGE = "us-docker.pkg.dev/vertex-ai/vertex-vision-model-garden-dockers/pytorch-vllm-serve:20250312_0916_RC01"
RESTRICTED_BUCKET = "gs://vertex-model-garden-restricted-us"


@dataclass(frozen=True)
class OpenModel:
    """One version of an open model in the emulated Model Garden and its deploy action."""

    publisher: str
    model: str  # the model id: `llama3_1`
    version_id: str  # `llama-3.1-8b-instruct`
    hf_id: str  # the MODEL_ID the serving container reads: `meta-llama/Llama-3.1-8B-Instruct`
    weights: str  # where the container loads the weights from (its `--model=` argument)
    category: str  # a PublisherModel.OpenSourceCategory name
    request_access: bool = False  # the model card asks to accept a licence first
    image_uri: str = VLLM_IMAGE
    artifact_uri: str = ""
    machine_type: str = "g2-standard-12"
    accelerator: str = "NVIDIA_L4"
    accelerator_count: int = 1
    default: bool = False  # the version a name without `@VERSION` gets

    @property
    def name(self) -> str:
        """`publishers/P/models/M` (no version)."""
        return f"publishers/{self.publisher}/models/{self.model}"

    @property
    def reference(self) -> str:
        """`publishers/P/models/M@VERSION`."""
        return f"{self.name}@{self.version_id}"


def _weights(path: str) -> str:
    return f"{RESTRICTED_BUCKET}/{path}"


CATALOGUE: tuple[OpenModel, ...] = (
    OpenModel(
        "google",
        "gemma3",
        "gemma-3-1b-it",
        "google/gemma-3-1b-it",
        _weights("gemma3/gemma-3-1b-it"),
        "GOOGLE_OWNED_OSS_WITH_GOOGLE_CHECKPOINT",
        default=True,
    ),
    OpenModel(
        "google",
        "gemma2",
        "gemma-2-9b-it",
        "google/gemma-2-9b-it",
        _weights("gemma2/gemma-2-9b-it"),
        "GOOGLE_OWNED_OSS_WITH_GOOGLE_CHECKPOINT",
        default=True,
    ),
    OpenModel(
        "meta",
        "llama3_1",
        "llama-3.1-8b-instruct",
        "meta-llama/Llama-3.1-8B-Instruct",
        _weights("llama3.1/Llama-3.1-8B-Instruct"),
        "THIRD_PARTY_OWNED_OSS",
        request_access=True,
        default=True,
    ),
    OpenModel(
        "meta",
        "llama3-2",
        "llama-3.2-1b-instruct",
        "meta-llama/Llama-3.2-1B-Instruct",
        _weights("llama3.2/Llama-3.2-1B-Instruct"),
        "THIRD_PARTY_OWNED_OSS",
        request_access=True,
    ),
    OpenModel(
        "meta",
        "llama3-2",
        "llama-3.2-3b-instruct",
        "meta-llama/Llama-3.2-3B-Instruct",
        _weights("llama3.2/Llama-3.2-3B-Instruct"),
        "THIRD_PARTY_OWNED_OSS",
        request_access=True,
        default=True,
    ),
)


def deploy_action(entry: OpenModel) -> v1.PublisherModel.CallToAction.Deploy:
    """The `supportedActions.deploy` of one catalogue entry, shaped like Model Garden's vLLM deploy actions."""
    args = [
        "python",
        "-m",
        "vllm.entrypoints.api_server",
        "--host=0.0.0.0",
        "--port=8080",
        f"--model={entry.weights}",
        f"--tensor-parallel-size={entry.accelerator_count}",
        "--swap-space=16",
        "--gpu-memory-utilization=0.95",
        "--disable-log-stats",
    ]
    container = v1.ModelContainerSpec(
        image_uri=entry.image_uri,
        args=args,
        env=[v1.EnvVar(name="MODEL_ID", value=entry.hf_id), v1.EnvVar(name="DEPLOY_SOURCE", value="UI_NATIVE_MODEL")],
        ports=[v1.Port(container_port=8080)],
        predict_route="/generate",
        health_route="/ping",
    )
    machine = v1.MachineSpec(
        machine_type=entry.machine_type,
        accelerator_type=getattr(v1.AcceleratorType, entry.accelerator),
        accelerator_count=entry.accelerator_count,
    )
    return v1.PublisherModel.CallToAction.Deploy(
        model_display_name=entry.version_id,
        container_spec=container,
        artifact_uri=entry.artifact_uri,
        dedicated_resources=v1.DedicatedResources(machine_spec=machine, min_replica_count=1),
        deploy_task_name="vLLM 128K context",
        title=f"Deploy {entry.version_id}",
    )


def publisher_model(entry: OpenModel) -> v1.PublisherModel:
    """The PublisherModel GetPublisherModel answers for one catalogue entry."""
    actions = v1.PublisherModel.CallToAction(deploy=deploy_action(entry))
    if entry.request_access:
        console = f"https://console.cloud.google.com/vertex-ai/publishers/{entry.publisher}/model-garden/{entry.model}"
        actions.request_access = v1.PublisherModel.CallToAction.RegionalResourceReferences(
            references={"us-central1": v1.PublisherModel.ResourceReference(uri=console)},
            title="Accept the licence",
        )
    return v1.PublisherModel(
        name=entry.name,
        version_id=entry.version_id,
        open_source_category=getattr(_CATEGORY, entry.category),
        supported_actions=actions,
        launch_stage=v1.PublisherModel.LaunchStage.GA,
        version_state=v1.PublisherModel.VersionState.VERSION_STATE_STABLE,
        publisher_model_template=f"projects/{{user-project}}/locations/{{location}}/{entry.name}@{entry.version_id}",
    )


class ModelGardenService:
    """GetPublisherModel over `catalogue` (a copy of `CATALOGUE`, per emulator)."""

    def __init__(self, catalogue: Iterable[OpenModel] = CATALOGUE) -> None:
        self.catalogue: dict[str, OpenModel] = {entry.reference: entry for entry in catalogue}

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service."""
        return [
            RpcMethod(SERVICE, "GetPublisherModel", v1.GetPublisherModelRequest, v1.PublisherModel, self.get),
        ]

    def find(self, name: str) -> OpenModel | None:
        """The catalogue entry `publishers/P/models/M[@VERSION]` names (the default version without `@`)."""
        if "@" in name:
            return self.catalogue.get(name)
        return next((e for e in self.catalogue.values() if e.name == name and e.default), None)

    def get(self, request: v1.GetPublisherModelRequest) -> v1.PublisherModel:
        """GetPublisherModel: the model's metadata and supported actions (every view answers in full)."""
        matched = _NAME.match(request.name)
        if matched is None:
            raise c.invalid(
                f"Invalid publisher model name: {request.name!r}; expected publishers/PUBLISHER/models/MODEL[@VERSION]."
            )
        entry = self.find(request.name)
        if entry is not None:
            return publisher_model(entry)
        publisher, model, version = matched.groups()
        if publisher == "google" and version is None and (found := find_publisher_model(model, {})) is not None:
            return v1.PublisherModel(  # Gemini: Google serves it, there is nothing to deploy
                name=request.name,
                version_id=found.version.removeprefix(f"{model}-") if found.version != model else "001",
                open_source_category=_CATEGORY.PROPRIETARY,
                launch_stage=v1.PublisherModel.LaunchStage.GA,
            )
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"Publisher Model `{request.name}` is not found.")

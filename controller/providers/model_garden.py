"""The Model Garden provider: implements `ModelGardenPort` on the aiplatform_v1 gapic client
(`ModelGardenServiceClient.get_publisher_model`), reading an open model's deploy action into the plain
`OpenModelSource` the planner uploads a registry model from.

How an open model reaches your endpoints. Vertex AI v1 offers two ways:

- `ModelGardenService.Deploy` (`POST /v1/{destination=projects/*/locations/*}:deploy`) uploads the model
  AND creates a NEW endpoint for it (`DeployRequest.endpoint_config` names only the new endpoint's display
  name, id and DNS; `DeployResponse` returns `publisher_model`, `endpoint`, `model`), deploying the model
  there with all the traffic. It cannot deploy into an existing endpoint, beside other deployed models, at
  0% for a canary: a manifest that owns its endpoints, splits and rollouts cannot be expressed with it.
  (v1 protos in google-cloud-aiplatform 2.7.0, `types/model_garden_service.py`; the SDK's
  `vertexai.model_garden.OpenModel.deploy` calls it and returns the new endpoint.)
- `GetPublisherModel` then `ModelService.UploadModel` + `EndpointService.DeployModel`: the deploy action
  (`PublisherModel.CallToAction.Deploy`) is documented as "Model metadata that is needed for UploadModel
  or DeployModel/CreateEndpoint requests": its `container_spec` and `artifact_uri` are what UploadModel
  takes, its `dedicated_resources` the machines Model Garden deploys on. genaiops takes this way: the
  open Model becomes a registry model (model id = its manifest name) like an `upload` Model, and Endpoint
  deployments serve it, canaries included. A new publisher version (or deploy action, or `env`) is a new
  registry model version.

The request is the one the SDK sends (`OpenModel.list_deploy_options`, `_publisher_models._PublisherModel`):
the name only, `publishers/P/models/M@VERSION`, default view. Google's "Use models in Model Garden" page
shows such an answer: `name` without the version, `versionId`, and a deploy action with the vLLM serving
container (args naming the weights with `--model=gs://...`, `MODEL_ID` env, port 8080, `/generate`,
`/ping`), no `artifactUri`, and `dedicatedResources.machineSpec` g2-standard-12 + one NVIDIA_L4.

The licence (EULA). Vertex's v1 `PublisherModel` has no field saying that a licence must be accepted; the
only API signal is `DeployRequest.model_config.accept_eula` (and v1beta1's Check/AcceptPublisherModelEula),
and Model Garden's own examples pass `accept_eula=True` for Gemma and Llama alike. UploadModel has no such
field. genaiops therefore asks the manifest to say `acceptEula: true` for every open model except a
Google-owned open-source one (`openSourceCategory: GOOGLE_OWNED_OSS`) without a `requestAccess` action:
a conservative rule (UNCONFIRMED which models Vertex gates), checked by the planner, never sent anywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform_v1.services.model_garden_service.transports.grpc import ModelGardenServiceGrpcTransport

from controller.errors import NotFoundError
from controller.observed import OpenModelSource
from controller.providers.google_errors import call
from controller.providers.vertex_read import container_of

_NO_LICENCE = (v1.PublisherModel.OpenSourceCategory.GOOGLE_OWNED_OSS,)


def open_model_source(model: v1.PublisherModel | Any) -> OpenModelSource:
    """What a PublisherModel (proto-plus or raw protobuf) says for deploying it on your own endpoints."""
    pb = type(model).pb(model) if hasattr(type(model), "pb") else model
    actions = pb.supported_actions
    gated = actions.HasField("request_access") or pb.open_source_category not in _NO_LICENCE
    if not actions.HasField("deploy") or not actions.deploy.HasField("container_spec"):
        return OpenModelSource(name=pb.name, version_id=pb.version_id, container=None, eula_required=gated)
    deploy = actions.deploy
    machine = deploy.dedicated_resources.machine_spec
    accelerator = v1.AcceleratorType(machine.accelerator_type).name if machine.accelerator_type else ""
    return OpenModelSource(
        name=pb.name,
        version_id=pb.version_id,
        container=container_of(deploy.container_spec),
        artifact_uri=deploy.artifact_uri,
        eula_required=gated,
        model_display_name=deploy.model_display_name,
        machine_type=machine.machine_type,
        accelerator_type=accelerator,
        accelerator_count=machine.accelerator_count if accelerator else 0,
    )


class ModelGardenProvider:
    """`ModelGardenPort` over gRPC to Vertex AI (`{region}-aiplatform.googleapis.com`) or any compatible
    server (one `channel` for every region, as the emulator serves them all)."""

    def __init__(
        self,
        *,
        channel: grpc.Channel | None = None,
        timeout_s: float = 60.0,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        """`on_call` is told the name of every API call (for counting)."""
        self._channel = channel
        self.timeout_s = timeout_s
        self._on_call = on_call
        self._clients: dict[str, v1.ModelGardenServiceClient] = {}
        self._lock = threading.Lock()

    def _client(self, region: str) -> v1.ModelGardenServiceClient:
        key = "" if self._channel is not None else region
        with self._lock:
            if key not in self._clients:
                if self._channel is not None:
                    transport = ModelGardenServiceGrpcTransport(channel=self._channel)
                    self._clients[key] = v1.ModelGardenServiceClient(transport=transport)
                else:
                    options = {"api_endpoint": f"{region}-aiplatform.googleapis.com"}
                    self._clients[key] = v1.ModelGardenServiceClient(client_options=options)
            return self._clients[key]

    def get_open_model(self, *, region: str, publisher_model: str) -> OpenModelSource | None:
        """GetPublisherModel in `region`; None when Model Garden has no such model (NOT_FOUND)."""
        client = self._client(region)
        request = v1.GetPublisherModelRequest(name=publisher_model)
        if self._on_call is not None:
            self._on_call("GetPublisherModel")
        try:
            found = call(
                f"get publisher model {publisher_model}",
                lambda: client.get_publisher_model(request=request, timeout=self.timeout_s, retry=None),
            )
        except NotFoundError:
            return None
        return open_model_source(found)

"""The Vertex AI model a prompt runs on, resolved from its manifest reference. Pure.

A Prompt's `model:` names a Model manifest (`gemini-flash`, `support-llm@3`) or a publisher model
directly (`publishers/google/models/gemini-3.5-flash`). An application calling Vertex AI needs the
resource, so publishing resolves the reference against the manifests and records the result in the
prompt version (`vertexModel`), and the runtime client hands it out as `rendered.model`:

- a publisher model, directly or through a `Model` manifest with `publisher:` ->
  `publishers/google/models/gemini-3.5-flash` (what google-genai and GenerateContent take);
- a registry `Model` -> the Endpoint manifest that deploys it (the first in load order; Predict is called
  on endpoints, and the endpoint's traffic split carries canaries), `locations/R/endpoints/E`, else the
  model itself, `locations/R/models/M[@version]`.

Which API such an endpoint answers follows the Model manifest (`ModelSpec.serves_chat`): an open model from
Model Garden (`deploy`), or a model declaring `endpointApi: chatCompletions`, serves OpenAI chat completions
(called by `controller/providers/open_model.py`, streamable); any other registry model serves Predict.
`serves_chat` answers it for a prompt's reference, `chat_endpoints` lists the endpoints whose deployments
all serve chat models, for the runtime client's router (`vertex_models(chat_endpoints=...)`).

Registry names are recorded without the project (`locations/...`): the same manifests publish the same
version whichever project a store serves, so a version promoted from staging to production names the
resource in the project of the application that renders it. `qualified` completes the name with that
project: `projects/P/locations/R/endpoints/E`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from controller.model import Endpoint, Manifest, Model
from controller.model.endpoint import split_model_ref
from controller.model.registry_model import EndpointApi as ManifestEndpointApi

PUBLISHERS = "publishers/"
RELATIVE = "locations/"
# How an endpoint is called: what a Model manifest may say (`endpointApi`: predict, chatCompletions), and
# GenerateContent for a tuned Gemini model's endpoint. A prompt version records it (`runtime.endpointApi`);
# the runtime client (`controller.runtime.model.EndpointApi`) calls the endpoint by it.
EndpointApi = Literal[ManifestEndpointApi, "generateContent"]


def vertex_model(ref: str, manifests: Sequence[Manifest]) -> str:
    """The Vertex AI name of the model `ref` refers to (project-relative for registry models); `ref`
    itself when no manifest declares it (validation reports that reference)."""
    if ref.startswith(PUBLISHERS):
        return ref
    try:
        name, version = split_model_ref(ref)
    except ValueError:
        return ref
    model = next((m for m in manifests if isinstance(m, Model) and m.metadata.name == name), None)
    if model is None:
        return ref
    if model.spec.is_publisher and model.spec.publisher is not None:
        return model.spec.publisher
    for manifest in manifests:
        if isinstance(manifest, Endpoint) and any(d.model_name == name for d in manifest.spec.deployments):
            return f"{RELATIVE}{manifest.spec.region}/endpoints/{manifest.metadata.name}"
    return f"{RELATIVE}{model.spec.region}/models/{name}" + (f"@{version}" if version else "")


def _model_named(ref: str, manifests: Sequence[Manifest]) -> Model | None:
    try:
        name, _ = split_model_ref(ref)
    except ValueError:
        return None
    return next((m for m in manifests if isinstance(m, Model) and m.metadata.name == name), None)


def serves_chat(ref: str, manifests: Sequence[Manifest]) -> bool:
    """Whether the registry model `ref` refers to is called with OpenAI chat completions (False for a
    publisher model, an undeclared name, or a model served through Predict)."""
    if ref.startswith(PUBLISHERS):
        return False
    model = _model_named(ref, manifests)
    return model is not None and model.spec.serves_chat


def endpoint_serves_chat(endpoint: Endpoint, manifests: Sequence[Manifest]) -> bool:
    """Whether every deployment of `endpoint` serves a chat model (a traffic split may send a request to
    any of them, so one Predict model among them makes the endpoint a Predict endpoint)."""
    deployments = endpoint.spec.deployments
    return bool(deployments) and all(serves_chat(d.model, manifests) for d in deployments)


def chat_endpoints(manifests: Sequence[Manifest], project: str | None = None) -> tuple[str, ...]:
    """The Endpoint manifests serving chat models (`endpoint_serves_chat`), as `locations/R/endpoints/E`,
    or `projects/P/...` with `project` (the names the runtime client calls)."""
    return tuple(
        qualified(f"{RELATIVE}{m.spec.region}/endpoints/{m.metadata.name}", project)
        for m in manifests
        if isinstance(m, Endpoint) and endpoint_serves_chat(m, manifests)
    )


def endpoint_api_of(name: str, manifests: Sequence[Manifest]) -> EndpointApi | None:
    """ "chatCompletions" when `name` (`locations/R/endpoints/E`, as `vertex_model` resolves it) is an
    Endpoint manifest serving chat models (`endpoint_serves_chat`), else None (called by its name)."""
    if not name.startswith(RELATIVE):
        return None
    for m in manifests:
        if isinstance(m, Endpoint) and name == f"{RELATIVE}{m.spec.region}/endpoints/{m.metadata.name}":
            return "chatCompletions" if endpoint_serves_chat(m, manifests) else None
    return None


def needs_project(name: str) -> bool:
    """True for a project-relative registry name (`locations/...`)."""
    return name.startswith(RELATIVE)


def qualified(name: str, project: str | None) -> str:
    """`name` with the project in front when it is project-relative and a project is known."""
    if needs_project(name) and project:
        return f"projects/{project}/{name}"
    return name


__all__ = ["chat_endpoints", "endpoint_serves_chat", "needs_project", "qualified", "serves_chat", "vertex_model"]

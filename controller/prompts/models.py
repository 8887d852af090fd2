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

Registry names are recorded without the project (`locations/...`): the same manifests publish the same
version whichever project a store serves, so a version promoted from staging to production names the
resource in the project of the application that renders it. `qualified` completes the name with that
project: `projects/P/locations/R/endpoints/E`.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.model import Endpoint, Manifest, Model
from controller.model.endpoint import split_model_ref

PUBLISHERS = "publishers/"
RELATIVE = "locations/"


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


def needs_project(name: str) -> bool:
    """True for a project-relative registry name (`locations/...`)."""
    return name.startswith(RELATIVE)


def qualified(name: str, project: str | None) -> str:
    """`name` with the project in front when it is project-relative and a project is known."""
    if needs_project(name) and project:
        return f"projects/{project}/{name}"
    return name


__all__ = ["needs_project", "qualified", "vertex_model"]

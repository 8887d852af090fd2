"""Builders for pure tests: manifests and observed state in a few words."""

from __future__ import annotations

from typing import Any

from controller.model import Endpoint, Model
from controller.observed import (
    ContainerSpec,
    DeploymentSpec,
    ObservedDeployedModel,
    ObservedEndpoint,
    ObservedModel,
    ObservedModelVersion,
)

IMAGE = "us-docker.pkg.dev/p/serve:1"
MANAGED = {"managed-by": "genaiops"}


def model(name: str = "llm", *, artifact: str = "gs://bk/llm/v1", aliases: tuple[str, ...] = (), **spec: Any) -> Model:
    """A registry Model manifest."""
    upload = {"artifactUri": artifact, "servingContainer": {"imageUri": IMAGE}, "versionAliases": list(aliases)}
    return Model.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Model", "metadata": {"name": name}, "spec": {"upload": upload, **spec}}
    )


def endpoint(
    name: str = "chat",
    *,
    deployments: list[dict[str, Any]] | None = None,
    traffic: dict[str, int] | None = None,
    **spec: Any,
) -> Endpoint:
    """An Endpoint manifest; by default one deployment `primary` of `llm` at 100%."""
    deployments = deployments or [{"name": "primary", "model": "llm"}]
    traffic = traffic or {deployments[0]["name"]: 100}
    body = {"deployments": deployments, "traffic": traffic, **spec}
    return Endpoint.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Endpoint", "metadata": {"name": name}, "spec": body}
    )


def live_model(
    name: str = "llm", *, version: str = "1", artifact: str = "gs://bk/llm/v1", aliases: tuple[str, ...] = ("default",)
) -> ObservedModel:
    """A managed live model whose default version is `version`."""
    return ObservedModel(
        model_id=name,
        region="us-central1",
        display_name=name,
        description="",
        labels=dict(MANAGED),
        default_version=ObservedModelVersion(version, aliases, artifact, ContainerSpec(image_uri=IMAGE)),
        update_time=f"t{version}",
    )


def deployed(
    id_: str, name: str = "primary", *, model: str = "llm", version: str = "1", replicas: tuple[int, int] = (1, 1)
) -> ObservedDeployedModel:
    """A live deployed model."""
    return ObservedDeployedModel(id_, DeploymentSpec(name, model, version, "n1-standard-4", *replicas))


def live_endpoint(
    name: str = "chat",
    *,
    models: tuple[ObservedDeployedModel, ...] = (),
    split: dict[str, int] | None = None,
    labels: dict[str, str] | None = None,
    etag: str = "e1",
) -> ObservedEndpoint:
    """A managed live endpoint."""
    return ObservedEndpoint(
        endpoint_id=name,
        region="us-central1",
        display_name=name,
        description="",
        labels=dict(MANAGED) if labels is None else labels,
        deployed_models=models,
        traffic_split=split or {},
        etag=etag,
        update_time="t",
    )

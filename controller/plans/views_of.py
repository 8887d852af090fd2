"""Comparable views: desired and observed resources rendered into the same plain-dict shape, so that a
diff of the two is the list of field changes a reviewer reads. Server-owned fields never appear."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from controller.model import MANAGED_BY_LABEL, Deployment, Endpoint, Model
from controller.observed import (
    RESERVED_LABEL_PREFIX,
    RETAIN_LABEL,
    SPEC_LABEL,
    ContainerSpec,
    ObservedDeployedModel,
    ObservedEndpoint,
    ObservedModel,
)
from controller.plans.operations import NEW_VERSION
from controller.plans.plan import UNKNOWN


def spec_hash(manifest: Model | Endpoint, revisions: Mapping[str, str] | None = None) -> str:
    """A short hash of what a manifest asks for; recorded on the resource as the `genaiops-spec` label.
    For an endpoint, `revisions` (deployment -> revision of what it serves) are part of it: a new model
    version in git is a change of the endpoint's desired state, not drift."""
    spec = manifest.spec.model_dump_json(by_alias=True, exclude={"suspend"})  # serialised in Rust: fast
    labels = json.dumps(manifest.metadata.labels, sort_keys=True)
    extra = json.dumps(sorted((revisions or {}).items()))
    return hashlib.sha256(f"{labels}|{spec}|{extra}".encode()).hexdigest()[:16]


def desired_labels(labels: Mapping[str, str], *, retain: bool, spec: str | None = None) -> dict[str, str]:
    """The labels genaiops writes: the manifest's, plus ownership, the retain flag and the spec hash."""
    out = dict(labels)
    out[MANAGED_BY_LABEL] = "genaiops"
    if retain:
        out[RETAIN_LABEL] = "true"
    if spec is not None:
        out[SPEC_LABEL] = spec
    return dict(sorted(out.items()))


def comparable(view: Mapping[str, Any], live_labels: Mapping[str, str]) -> dict[str, Any]:
    """A desired view to diff against a live resource. A resource that has never recorded a spec hash
    (made before genaiops wrote one) is not changed just to add it: it gets one with its next real change."""
    if SPEC_LABEL in live_labels:
        return dict(view)
    return {**view, "labels": {k: v for k, v in view["labels"].items() if k != SPEC_LABEL}}


def compared_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Live labels minus those genaiops keeps for itself (rollout state, commit), except retain and spec."""
    return dict(
        sorted(
            (k, v)
            for k, v in labels.items()
            if not k.startswith(RESERVED_LABEL_PREFIX) or k in (RETAIN_LABEL, SPEC_LABEL)
        )
    )


def container_of(model: Model) -> ContainerSpec:
    """The container spec a Model manifest uploads with."""
    assert model.spec.upload is not None
    c = model.spec.upload.serving_container
    return ContainerSpec(
        image_uri=c.image_uri,
        command=c.command,
        args=c.args,
        env=tuple(sorted(c.env.items())),
        ports=tuple(p.container_port for p in c.ports),
        predict_route=c.predict_route,
        health_route=c.health_route,
    )


def _container_view(container: ContainerSpec) -> dict[str, Any]:
    view: dict[str, Any] = {"imageUri": container.image_uri}
    for key, value in (
        ("command", list(container.command)),
        ("args", list(container.args)),
        ("env", dict(container.env)),
        ("ports", list(container.ports)),
        ("predictRoute", container.predict_route),
        ("healthRoute", container.health_route),
    ):
        if value:
            view[key] = value
    return view


def desired_model_view(model: Model) -> dict[str, Any]:
    """What the manifest asks of a registry model."""
    spec = model.spec
    assert spec.upload is not None
    return {
        "displayName": spec.display_name or model.metadata.name,
        "description": spec.description or "",
        "labels": desired_labels(model.metadata.labels, retain=spec.deletion_policy == "retain", spec=spec_hash(model)),
        "artifactUri": spec.upload.artifact_uri,
        "container": _container_view(container_of(model)),
        "aliases": sorted(spec.upload.version_aliases),
    }


def observed_model_view(model: ObservedModel) -> dict[str, Any]:
    """The same shape for a live model, from its default version."""
    version = model.default_version
    return {
        "displayName": model.display_name,
        "description": model.description,
        "labels": compared_labels(model.labels),
        "artifactUri": version.artifact_uri,
        "container": _container_view(version.container),
        "aliases": sorted(a for a in version.aliases if a != "default"),
    }


def deployment_view(deployment: Deployment, version: str | None) -> dict[str, Any]:
    """A desired deployment; `version` is an id, NEW_VERSION, or None when unresolved."""
    shown = UNKNOWN if version in (None, NEW_VERSION) else version
    view: dict[str, Any] = {
        "model": f"{deployment.model_name}@{shown}",
        "machineType": deployment.machine_type,
        "minReplicas": deployment.min_replicas,
        "maxReplicas": deployment.max_replicas or deployment.min_replicas,
    }
    if deployment.accelerator is not None:
        view["accelerator"] = f"{deployment.accelerator.type} x{deployment.accelerator.count}"
    if deployment.disable_container_logging:
        view["disableContainerLogging"] = True
    if deployment.service_account:
        view["serviceAccount"] = deployment.service_account
    return view


def deployed_view(deployed: ObservedDeployedModel) -> dict[str, Any]:
    """A live deployed model in the same shape."""
    view: dict[str, Any] = {
        "model": f"{deployed.model_id}@{deployed.model_version_id}",
        "machineType": deployed.machine_type,
        "minReplicas": deployed.min_replicas,
        "maxReplicas": deployed.max_replicas,
    }
    if deployed.accelerator_type:
        view["accelerator"] = f"{deployed.accelerator_type} x{deployed.accelerator_count}"
    if deployed.disable_container_logging:
        view["disableContainerLogging"] = True
    if deployed.service_account:
        view["serviceAccount"] = deployed.service_account
    return view


def desired_endpoint_view(
    endpoint: Endpoint, versions: Mapping[str, str | None], revisions: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What the manifest asks of an endpoint; `versions` maps deployment name -> resolved version."""
    spec = endpoint.spec
    return {
        "displayName": spec.display_name or endpoint.metadata.name,
        "description": spec.description or "",
        "labels": desired_labels(
            endpoint.metadata.labels, retain=spec.deletion_policy == "retain", spec=spec_hash(endpoint, revisions)
        ),
        "deployments": {d.name: deployment_view(d, versions.get(d.name)) for d in spec.deployments},
        "traffic": {name: pct for name, pct in sorted(spec.traffic.items()) if pct > 0},
    }


def observed_endpoint_view(endpoint: ObservedEndpoint) -> dict[str, Any]:
    """The same shape for a live endpoint; deployed models keyed by deployment name (id when repeated)."""
    names = [d.display_name for d in endpoint.deployed_models]
    deployments: dict[str, Any] = {}
    traffic: dict[str, int] = {}
    for deployed in endpoint.deployed_models:
        key = (
            deployed.display_name
            if names.count(deployed.display_name) == 1
            else f"{deployed.display_name}#{deployed.id}"
        )
        deployments[key] = deployed_view(deployed)
        share = endpoint.traffic_split.get(deployed.id, 0)
        if share:
            traffic[deployed.display_name] = traffic.get(deployed.display_name, 0) + share
    return {
        "displayName": endpoint.display_name,
        "description": endpoint.description,
        "labels": compared_labels(endpoint.labels),
        "deployments": deployments,
        "traffic": dict(sorted(traffic.items())),
    }

"""Comparable views: desired and observed resources rendered into the same plain-dict shape, so that a
diff of the two is the list of field changes a reviewer reads. Server-owned fields never appear.

The serving settings of issue 17 (autoscaling, Spot, reservation, explanation; request-response logging,
dedicated endpoint, network, Private Service Connect, CMEK) appear only when set, and the spec hash leaves
them out while unset: a manifest that does not use them plans, and hashes, exactly as it always did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from controller.model import MANAGED_BY_LABEL, RESERVED_LABEL_PREFIX, Deployment, Endpoint, Model
from controller.model.endpoint import EndpointSpec
from controller.model.serving import ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION, REQUEST_COUNT, Explanation, Reservation
from controller.observed import (
    RETAIN_LABEL,
    SPEC_LABEL,
    ContainerSpec,
    DeploymentSpec,
    EndpointSettings,
    ExplanationParameters,
    ObservedEndpoint,
    ObservedModel,
    OpenModelSource,
    RequestLogging,
    ReservationAffinity,
)
from controller.plans.operations import NEW_VERSION
from controller.plans.plan import UNKNOWN

# Fields added to the manifests after spec hashes were first recorded on live resources: left out of the
# hash while unset, so that upgrading genaiops never changes the hash of a manifest that does not use them
# (a changed hash is a label update of every resource, and `reconcile` would call it a change).
_LATER_SPEC_FIELDS = ("request_response_logging", "dedicated", "network", "private_service_connect", "encryption")
_LATER_MODEL_FIELDS = ("deploy",)
_LATER_DEPLOYMENT_FIELDS = ("autoscaling", "spot", "reservation", "explanation")


def _unset(model: BaseModel, names: tuple[str, ...]) -> set[str]:
    fields = type(model).model_fields
    return {n for n in names if n in fields and getattr(model, n) == fields[n].get_default(call_default_factory=True)}


def _hash_exclude(manifest: Model | Endpoint) -> dict[str, Any]:
    """What `spec_hash` leaves out: `suspend`, a Model's `endpointApi` (the runtime's concern), and the later
    fields while they are unset."""
    exclude: dict[str, Any] = {"suspend": True}
    if isinstance(manifest, Endpoint):
        exclude.update(dict.fromkeys(_unset(manifest.spec, _LATER_SPEC_FIELDS), True))
        unset = {i: _unset(d, _LATER_DEPLOYMENT_FIELDS) for i, d in enumerate(manifest.spec.deployments)}
        if any(unset.values()):
            exclude["deployments"] = {i: names for i, names in unset.items() if names}
    else:
        exclude.update(dict.fromkeys(_unset(manifest.spec, _LATER_MODEL_FIELDS), True))
        exclude["endpoint_api"] = True  # how the runtime calls the model, never a property of the live resource
    return exclude


def spec_hash(manifest: Model | Endpoint, revisions: Mapping[str, str] | None = None) -> str:
    """A short hash of what a manifest asks for; recorded on the resource as the `genaiops-spec` label.
    For an endpoint, `revisions` (deployment -> revision of what it serves) are part of it: a new model
    version in git is a change of the endpoint's desired state, not drift."""
    spec = manifest.spec.model_dump_json(by_alias=True, exclude=_hash_exclude(manifest))  # serialised in Rust: fast
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


def container_of(model: Model, source: OpenModelSource | None = None) -> ContainerSpec:
    """The container spec a Model manifest uploads with: its own, or for an open model the one its
    publisher's deploy action names (`source`), with the manifest's `deploy.env` added (a variable set in
    both takes the manifest's value)."""
    if model.spec.upload is None:
        assert source is not None and source.container is not None, "an open model needs its deploy action"
        extra = model.spec.deploy.env if model.spec.deploy is not None else {}
        env = dict(source.container.env) | dict(extra)
        return replace(source.container, env=tuple(sorted(env.items())))
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


def open_model_fingerprint(model: Model, source: OpenModelSource) -> str:
    """What an open model serves: the container (env included) and artifact of its deploy action."""
    container = container_of(model, source)
    return json.dumps({"artifact": source.artifact_uri, "container": _container_view(container)}, sort_keys=True)


def desired_model_view(model: Model, source: OpenModelSource | None = None) -> dict[str, Any]:
    """What the manifest asks of a registry model; for an open model, registered from `source` (its
    deploy action, part of the spec hash: a deploy action Model Garden changed is a change, not drift)."""
    spec = model.spec
    if spec.upload is not None:
        artifact, aliases, extra = spec.upload.artifact_uri, sorted(spec.upload.version_aliases), None
    else:
        assert source is not None, "an open model needs its deploy action"
        artifact, aliases, extra = source.artifact_uri, [], {"deployAction": open_model_fingerprint(model, source)}
    labels = desired_labels(
        model.metadata.labels, retain=spec.deletion_policy == "retain", spec=spec_hash(model, extra)
    )
    return {
        "displayName": spec.display_name or model.metadata.name,
        "description": spec.description or "",
        "labels": labels,
        "artifactUri": artifact,
        "container": _container_view(container_of(model, source)),
        "aliases": aliases,
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


def deployment_spec(deployment: Deployment, version: str) -> DeploymentSpec:
    """The shape a manifest's deployment asks for; `version` is an id, `@alias` or NEW_VERSION."""
    accelerator = deployment.accelerator
    return DeploymentSpec(
        name=deployment.name,
        model_id=deployment.model_name,
        version=version,
        machine_type=deployment.machine_type,
        min_replicas=deployment.min_replicas,
        max_replicas=deployment.max_replicas or deployment.min_replicas,
        accelerator_type=accelerator.type if accelerator else None,
        accelerator_count=accelerator.count if accelerator else 0,
        disable_container_logging=deployment.disable_container_logging,
        service_account=deployment.service_account,
        autoscaling=deployment.autoscaling.metric_specs() if deployment.autoscaling else (),
        spot=deployment.spot,
        reservation=reservation_affinity(deployment.reservation),
        explanation=explanation_parameters(deployment.explanation),
    )


def reservation_affinity(reservation: Reservation | None) -> ReservationAffinity | None:
    """The observed-state form of a manifest's reservation (the value DeployModel sends)."""
    if reservation is None:
        return None
    return ReservationAffinity(reservation.type, reservation.key or "", tuple(reservation.values))


def explanation_parameters(explanation: Explanation | None) -> ExplanationParameters | None:
    """The observed-state form of a manifest's explanation parameters (0: not set)."""
    if explanation is None:
        return None
    return ExplanationParameters(
        explanation.method, explanation.path_count or 0, explanation.step_count or 0, explanation.top_k or 0
    )


# Autoscaling metrics by the manifest's names for them (API names the manifest has none for stay as they are).
_AUTOSCALING_KEYS = {
    CPU_UTILIZATION: "cpuUtilization",
    ACCELERATOR_DUTY_CYCLE: "acceleratorDutyCycle",
    REQUEST_COUNT: "requestsPerReplica",
}


def autoscaling_view(specs: tuple[tuple[str, int], ...]) -> dict[str, int]:
    """`{cpuUtilization: 70, requestsPerReplica: 40}`: autoscaling targets by the manifest's names."""
    return {_AUTOSCALING_KEYS.get(name, name): target for name, target in specs}


def _serving_view(spec: DeploymentSpec) -> dict[str, Any]:
    """Autoscaling, Spot, reservation and explanation, each only when set."""
    view: dict[str, Any] = {}
    if spec.autoscaling:
        view["autoscaling"] = autoscaling_view(spec.autoscaling)
    if spec.spot:
        view["spot"] = True
    if spec.reservation is not None:
        r = spec.reservation
        view["reservation"] = {"type": r.type, **({"key": r.key} if r.key else {})}
        if r.values:
            view["reservation"]["values"] = list(r.values)
    if spec.explanation is not None:
        e = spec.explanation
        counts = (("pathCount", e.path_count), ("stepCount", e.step_count), ("topK", e.top_k))
        view["explanation"] = {"method": e.method, **{k: v for k, v in counts if v}}
    return view


def deployment_view(spec: DeploymentSpec) -> dict[str, Any]:
    """A deployment, desired or live; a version this plan uploads shows as known after apply."""
    view: dict[str, Any] = {
        "model": f"{spec.model_id}@{UNKNOWN if spec.version == NEW_VERSION else spec.version}",
        "machineType": spec.machine_type,
        "minReplicas": spec.min_replicas,
        "maxReplicas": spec.max_replicas,
    }
    if spec.accelerator_type:
        view["accelerator"] = f"{spec.accelerator_type} x{spec.accelerator_count}"
    if spec.disable_container_logging:
        view["disableContainerLogging"] = True
    if spec.service_account:
        view["serviceAccount"] = spec.service_account
    return {**view, **_serving_view(spec)}


def endpoint_settings(spec: EndpointSpec) -> EndpointSettings:
    """The endpoint-level serving settings a manifest asks for (what CreateEndpoint sends). Logging that
    is not enabled is no logging: both read back as None."""
    logging = spec.request_response_logging
    psc = spec.private_service_connect
    return EndpointSettings(
        logging=RequestLogging(True, logging.sampling_rate, logging.bigquery_table or "")
        if logging is not None and logging.enabled
        else None,
        dedicated=spec.dedicated,
        network=spec.network or "",
        private_service_connect=psc is not None,
        psc_project_allowlist=tuple(sorted(psc.project_allowlist)) if psc is not None else (),
        kms_key_name=spec.encryption.kms_key_name if spec.encryption is not None else "",
    )


def wanted_logging(settings: EndpointSettings) -> RequestLogging | None:
    """Request-response logging as compared: None unless enabled (a disabled config logs nothing)."""
    logging = settings.logging
    return logging if logging is not None and logging.enabled else None


def settings_view(settings: EndpointSettings) -> dict[str, Any]:
    """The endpoint's serving settings, each only when set (the dedicated DNS name is output only)."""
    view: dict[str, Any] = {}
    logging = wanted_logging(settings)
    if logging is not None:
        table = {"bigqueryTable": logging.bigquery_table} if logging.bigquery_table else {}
        view["requestResponseLogging"] = {"samplingRate": logging.sampling_rate, **table}
    if settings.dedicated:
        view["dedicated"] = True
    if settings.network:
        view["network"] = settings.network
    if settings.private_service_connect:
        view["privateServiceConnect"] = {"projectAllowlist": sorted(settings.psc_project_allowlist)}
    if settings.kms_key_name:
        view["encryption"] = {"kmsKeyName": settings.kms_key_name}
    return view


def desired_endpoint_view(
    endpoint: Endpoint, versions: Mapping[str, str | None], revisions: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What the manifest asks of an endpoint; `versions` maps deployment name -> resolved version (None,
    like NEW_VERSION, when only the apply will know it)."""
    spec = endpoint.spec
    return {
        "displayName": spec.display_name or endpoint.metadata.name,
        "description": spec.description or "",
        "labels": desired_labels(
            endpoint.metadata.labels, retain=spec.deletion_policy == "retain", spec=spec_hash(endpoint, revisions)
        ),
        "deployments": {
            d.name: deployment_view(deployment_spec(d, versions.get(d.name) or NEW_VERSION)) for d in spec.deployments
        },
        "traffic": {name: pct for name, pct in sorted(spec.traffic.items()) if pct > 0},
        **settings_view(endpoint_settings(spec)),
    }


def observed_endpoint_view(endpoint: ObservedEndpoint) -> dict[str, Any]:
    """The same shape for a live endpoint; deployed models keyed by deployment name (id when repeated)."""
    names = [d.spec.name for d in endpoint.deployed_models]
    deployments: dict[str, Any] = {}
    traffic: dict[str, int] = {}
    for deployed in endpoint.deployed_models:
        name = deployed.spec.name
        key = name if names.count(name) == 1 else f"{name}#{deployed.id}"
        deployments[key] = deployment_view(deployed.spec)
        share = endpoint.traffic_split.get(deployed.id, 0)
        if share:
            traffic[name] = traffic.get(name, 0) + share
    return {
        "displayName": endpoint.display_name,
        "description": endpoint.description,
        "labels": compared_labels(endpoint.labels),
        "deployments": deployments,
        "traffic": dict(sorted(traffic.items())),
        **settings_view(endpoint.settings),
    }

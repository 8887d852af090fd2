"""What `genaiops import` writes, decided purely: live endpoints, models and stored prompts -> manifest
documents (one file per resource), or the reason one cannot be written as it is.

The mapping is the inverse of the planner's views: every field the planner compares (plans/views_of.py)
and every serving field the observed state carries (`DeploymentSpec`, `EndpointSettings`) is written, so
that the manifest describes the resource exactly and plans to no changes once adopted (importer.py checks
that with the planner itself before adopting anything). Deployments name their model as
`<model-id>@<version>` (the version they serve, not an alias that may move), the traffic goes by
deployment name and the rollout is `direct`: canary settings are a choice nobody made yet.

A resource that no manifest can describe as it is gets a reason with the way around it, never a guess:
a deployed model whose display name is not a deployment name or repeats on the endpoint (deployed models
cannot be renamed), a model that was not uploaded from Cloud Storage, an endpoint that deploys such a model
or serves no traffic, a resource another tool labels as its own.

Rendering lives in import_render.py, prompts in import_prompts.py.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.engine.import_prompts import StoredPrompt, prompt_draft
from controller.engine.import_render import (
    CannotImportError,
    Draft,
    Quoted,
    envelope,
    file_name,
    plain,
    render,
    validated,
)
from controller.model import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    Endpoint,
    Manifest,
    Model,
    Prompt,
    is_reserved_label,
)
from controller.model.catalogue import machine_spec_problem
from controller.model.common import NAME_OR_ID_PATTERN
from controller.model.serving import ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION, REQUEST_COUNT
from controller.observed import (
    RETAIN_LABEL,
    ObservedDeployedModel,
    ObservedEndpoint,
    ObservedModel,
    address,
)
from controller.prompts.prompt_plan import REGION as PROMPT_REGION

DEPLOYMENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_RESOURCE_NAME = re.compile(NAME_OR_ID_PATTERN)
_AUTOSCALING_FIELDS = {
    CPU_UTILIZATION: "cpuUtilization",
    ACCELERATOR_DUTY_CYCLE: "acceleratorDutyCycle",
    REQUEST_COUNT: "requestsPerReplica",
}


class SkipReason(StrEnum):
    """Why import wrote nothing for a resource."""

    DECLARED = "already declared"
    MANAGED = "already managed by genaiops"
    CANNOT = "cannot import"


@dataclass(frozen=True)
class Skip:
    """A resource import left alone, and why (`detail`: the file that declares it, or the reason)."""

    address: str
    reason: SkipReason
    detail: str = ""

    def describe(self) -> str:
        """`Endpoint/us-central1/123: cannot import: ...`."""
        return f"{self.address}: {self.reason.value}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class Drafting:
    """What import would write, and what it leaves alone."""

    drafts: tuple[Draft, ...] = ()
    skips: tuple[Skip, ...] = ()
    managed: frozenset[str] = field(default_factory=frozenset)  # addresses genaiops owns already


def _owner_problem(labels: Mapping[str, str]) -> str | None:
    owner = labels.get(MANAGED_BY_LABEL)
    if owner is not None and owner != MANAGED_BY_VALUE:
        return f"it is labelled {MANAGED_BY_LABEL}: {owner}, so another tool owns it; genaiops never takes it over"
    return None


def _user_labels(labels: Mapping[str, str]) -> tuple[dict[str, str], bool]:
    """The labels a manifest carries (genaiops' own keys left out), and whether the retain flag is set."""
    kept = {k: v for k, v in sorted(labels.items()) if not is_reserved_label(k)}
    return kept, labels.get(RETAIN_LABEL) == "true"


def _check_id(kind: str, name: str) -> None:
    if not _RESOURCE_NAME.match(name):
        raise CannotImportError(
            f"its ID {name!r} is not a name a manifest can carry (lowercase letters, digits and '-', starting with "
            f"a letter, at most 63; or a numeric ID Vertex AI generated): manage this {kind.lower()} outside "
            "genaiops, or re-create it under such an ID"
        )


# -- models -------------------------------------------------------------------------------------------


def model_document(model: ObservedModel) -> dict[str, Any]:
    """The Model manifest of a registry model, from its default version; CannotImportError when it is not one a
    manifest can describe (an upload from Cloud Storage with a serving container)."""
    problem = _owner_problem(model.labels)
    if problem:
        raise CannotImportError(problem)
    _check_id("Model", model.model_id)
    version = model.default_version
    if not version.artifact_uri.startswith("gs://"):
        what = f"its artifact is {version.artifact_uri!r}" if version.artifact_uri else "it has no artifact"
        raise CannotImportError(
            f"{what}: genaiops describes registry models uploaded from Cloud Storage (gs://...); manage it outside "
            "genaiops, or upload a version of it from gs:// and import again"
        )
    if not version.container.image_uri:
        raise CannotImportError(
            "its default version has no serving container image (not a custom-container upload genaiops can "
            "describe); manage it outside genaiops"
        )
    container = version.container
    serving: dict[str, Any] = {"imageUri": container.image_uri}
    for key, value in (
        ("command", list(container.command)),
        ("args", list(container.args)),
        ("env", dict(container.env)),
        ("ports", [{"containerPort": port} for port in container.ports]),
        ("predictRoute", container.predict_route),
        ("healthRoute", container.health_route),
    ):
        if value:
            serving[key] = value
    upload: dict[str, Any] = {"artifactUri": version.artifact_uri, "servingContainer": serving}
    aliases = sorted(a for a in version.aliases if a != "default")
    if aliases:
        upload["versionAliases"] = aliases
    labels, retain = _user_labels(model.labels)
    spec: dict[str, Any] = {"region": model.region}
    if model.display_name and model.display_name != model.model_id:
        spec["displayName"] = model.display_name
    if model.description:
        spec["description"] = model.description
    spec["upload"] = upload
    if retain:
        spec["deletionPolicy"] = "retain"
    document = envelope("Model", model.model_id, labels, spec)
    validated(Model, document)
    return document


# -- endpoints ----------------------------------------------------------------------------------------


def _name_problems(endpoint: ObservedEndpoint) -> list[str]:
    """Deployed models whose display names cannot be deployment names as they are."""
    problems = []
    names = Counter(d.spec.name for d in endpoint.deployed_models)
    for deployed in endpoint.deployed_models:
        name = deployed.spec.name
        if not DEPLOYMENT_NAME.match(name):
            problems.append(
                f"deployed model {deployed.id} has the display name {name!r}, which is not a deployment name "
                "(lowercase letters, digits and '-', starting with a letter, at most 63 characters): a deployed "
                "model cannot be renamed, so redeploy it under such a display name, then import again"
            )
    for name, count in sorted(names.items()):
        if count > 1 and DEPLOYMENT_NAME.match(name):
            ids = ", ".join(d.id for d in endpoint.deployed_models if d.spec.name == name)
            problems.append(
                f"deployed models {ids} share the display name {name!r}, and a manifest names each deployment "
                "once: undeploy one of them, or redeploy it under another display name, then import again"
            )
    return problems


def _autoscaling(deployed: ObservedDeployedModel) -> dict[str, int]:
    targets: dict[str, int] = {}
    for metric, target in deployed.spec.autoscaling:
        key = _AUTOSCALING_FIELDS.get(metric)
        if key is None:
            raise CannotImportError(
                f"deployed model {deployed.id} autoscales on {metric!r}, which a manifest cannot declare "
                f"(it takes {', '.join(sorted(_AUTOSCALING_FIELDS))})"
            )
        targets[key] = target
    return targets


def _deployment(deployed: ObservedDeployedModel) -> dict[str, Any]:
    """One deployment of the manifest, with every serving field the deployed model carries."""
    spec = deployed.spec
    if not spec.machine_type:
        raise CannotImportError(
            f"deployed model {deployed.id} ({spec.name}) runs on automatic resources (no machine type): genaiops "
            "deploys dedicated resources; redeploy it with a machine type, then import again"
        )
    if not spec.version.isdigit():
        raise CannotImportError(f"deployed model {deployed.id} ({spec.name}) does not say which version it serves")
    problem = machine_spec_problem(spec.machine_type, spec.accelerator_type, spec.accelerator_count)
    if problem:
        raise CannotImportError(f"deployed model {deployed.id} ({spec.name}): {problem}")
    doc: dict[str, Any] = {
        "name": Quoted(spec.name),
        "model": Quoted(f"{spec.model_id}@{spec.version}"),
        "machineType": spec.machine_type,
    }
    if spec.accelerator_type:
        doc["accelerator"] = {"type": spec.accelerator_type, "count": spec.accelerator_count}
    doc["minReplicas"] = spec.min_replicas
    doc["maxReplicas"] = spec.max_replicas
    if spec.disable_container_logging:
        doc["disableContainerLogging"] = True
    if spec.service_account:
        doc["serviceAccount"] = spec.service_account
    autoscaling = _autoscaling(deployed)
    if autoscaling:
        doc["autoscaling"] = autoscaling
    if spec.spot:
        doc["spot"] = True
    if spec.reservation is not None:
        reservation: dict[str, Any] = {"type": spec.reservation.type}
        if spec.reservation.key:
            reservation["key"] = spec.reservation.key
        if spec.reservation.values:
            reservation["values"] = list(spec.reservation.values)
        doc["reservation"] = reservation
    if spec.explanation is not None:
        explanation = spec.explanation
        doc["explanation"] = {"method": explanation.method} | {
            key: value
            for key, value in (
                ("pathCount", explanation.path_count),
                ("stepCount", explanation.step_count),
                ("topK", explanation.top_k),
            )
            if value
        }
    return doc


def _settings(endpoint: ObservedEndpoint) -> dict[str, Any]:
    """The endpoint-wide serving fields (request-response logging, dedicated, network, PSC, CMEK)."""
    settings = endpoint.settings
    out: dict[str, Any] = {}
    logging = settings.logging
    if logging is not None and (logging.enabled or logging.bigquery_table):
        log: dict[str, Any] = {"enabled": logging.enabled}
        if logging.sampling_rate > 0:
            log["samplingRate"] = logging.sampling_rate
        if logging.bigquery_table:
            log["bigqueryTable"] = logging.bigquery_table
        out["requestResponseLogging"] = log
    if settings.dedicated:
        out["dedicated"] = True
    if settings.network:
        out["network"] = settings.network
    if settings.private_service_connect:
        psc: dict[str, Any] = {}
        if settings.psc_project_allowlist:
            psc["projectAllowlist"] = list(settings.psc_project_allowlist)
        out["privateServiceConnect"] = psc
    if settings.kms_key_name:
        out["encryption"] = {"kmsKeyName": settings.kms_key_name}
    return out


def _traffic(endpoint: ObservedEndpoint) -> dict[str, int]:
    traffic: dict[str, int] = {}
    for deployed in sorted(endpoint.deployed_models, key=lambda d: d.spec.name):
        name = Quoted(deployed.spec.name)
        traffic[name] = traffic.get(name, 0) + endpoint.traffic_split.get(deployed.id, 0)
    total = sum(traffic.values())
    if total != 100:
        raise CannotImportError(
            f"its traffic split sums to {total}, and a manifest's traffic sums to 100: route the traffic to its "
            "deployed models first, then import again"
        )
    return traffic


def endpoint_document(endpoint: ObservedEndpoint, *, models: Mapping[str, str | None]) -> dict[str, Any]:
    """The Endpoint manifest of a live endpoint; CannotImportError with every reason it cannot be one as it is.
    `models`: model id -> None when a Model manifest declares it (or is imported with it), else why not."""
    problem = _owner_problem(endpoint.labels)
    if problem:
        raise CannotImportError(problem)
    _check_id("Endpoint", endpoint.endpoint_id)
    if not endpoint.deployed_models:
        raise CannotImportError(
            "it has no deployed model, and an Endpoint manifest declares at least one deployment: deploy a model "
            "to it first, or manage it outside genaiops"
        )
    problems = _name_problems(endpoint)
    for model_id in sorted({d.spec.model_id for d in endpoint.deployed_models}):
        why = models.get(model_id, "is not a registry model of this region genaiops can read")
        if why is not None:
            problems.append(f"it deploys model {model_id}, which {why}")
    if problems:
        raise CannotImportError("; ".join(problems))
    deployments = [_deployment(d) for d in sorted(endpoint.deployed_models, key=lambda d: d.spec.name)]
    labels, retain = _user_labels(endpoint.labels)
    spec: dict[str, Any] = {"region": endpoint.region}
    if endpoint.display_name and endpoint.display_name != endpoint.endpoint_id:
        spec["displayName"] = endpoint.display_name
    if endpoint.description:
        spec["description"] = endpoint.description
    spec["deployments"] = deployments
    spec["traffic"] = _traffic(endpoint)
    spec["rollout"] = {"strategy": "direct"}
    spec.update(_settings(endpoint))
    if retain:
        spec["deletionPolicy"] = "retain"
    document = envelope("Endpoint", endpoint.endpoint_id, labels, spec)
    validated(Endpoint, document)
    return document


# -- the whole inventory ------------------------------------------------------------------------------


def _header(kind: str, region: str, name: str) -> str:
    return f"Written by `genaiops import` from {kind} {name} in {region}, as Vertex AI had it."


def _vertex_draft(kind: str, region: str, name: str, document: Mapping[str, Any]) -> Draft:
    text = render(document, header=_header(kind, region, name))
    return Draft(kind, region, name, document, ((file_name(kind, region, name), text),))


def draft_imports(
    *,
    endpoints: Sequence[ObservedEndpoint],
    models: Sequence[ObservedModel],
    prompts: Sequence[StoredPrompt],
    declared: Mapping[str, str],
    manifests: Sequence[Manifest],
) -> Drafting:
    """Drafts for every resource no manifest declares and genaiops does not manage; skips for the rest.
    `declared`: address -> the file that declares it; `manifests`: everything loaded (for references)."""
    drafts: list[Draft] = []
    skips: list[Skip] = []
    managed: set[str] = set()
    model_status: dict[tuple[str, str], str | None] = {}  # (region, id) -> None when a manifest will declare it

    def leave(where: str, labels: Mapping[str, str]) -> bool:
        if where in declared:
            skips.append(Skip(where, SkipReason.DECLARED, declared[where]))
            return True
        if labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE:
            skips.append(Skip(where, SkipReason.MANAGED))
            managed.add(where)
            return True
        return False

    for model in sorted(models, key=lambda m: (m.region, m.model_id)):
        where = address("Model", model.region, model.model_id)
        key = (model.region, model.model_id)
        if leave(where, model.labels):
            model_status[key] = None if where in declared else "genaiops manages, but no manifest declares"
            continue
        try:
            drafts.append(_vertex_draft("Model", model.region, model.model_id, model_document(model)))
            model_status[key] = None
        except CannotImportError as err:
            skips.append(Skip(where, SkipReason.CANNOT, str(err)))
            model_status[key] = f"cannot be imported ({err})"
    for endpoint in sorted(endpoints, key=lambda e: (e.region, e.endpoint_id)):
        where = address("Endpoint", endpoint.region, endpoint.endpoint_id)
        if leave(where, endpoint.labels):
            continue
        try:
            known = {mid: why for (region, mid), why in model_status.items() if region == endpoint.region}
            document = endpoint_document(endpoint, models=known)
            drafts.append(_vertex_draft("Endpoint", endpoint.region, endpoint.endpoint_id, document))
        except CannotImportError as err:
            skips.append(Skip(where, SkipReason.CANNOT, str(err)))
    drafted = [*manifests, *(_manifest_of(d) for d in drafts)]
    for stored in sorted(prompts, key=lambda p: p.index.name):
        where = address("Prompt", PROMPT_REGION, stored.index.name)
        if where in declared:
            skips.append(Skip(where, SkipReason.DECLARED, declared[where]))
            continue
        try:
            drafts.append(prompt_draft(stored, manifests=drafted))
        except CannotImportError as err:
            skips.append(Skip(where, SkipReason.CANNOT, str(err)))
    return Drafting(tuple(drafts), tuple(skips), frozenset(managed))


def _manifest_of(draft: Draft) -> Manifest:
    kind: type[Endpoint | Model] = Endpoint if draft.kind == "Endpoint" else Model
    return kind.model_validate(plain(draft.document))


def declared_addresses(items: Collection[tuple[Manifest, str]]) -> dict[str, str]:
    """Address -> file of every Endpoint, Model and Prompt in a load, as (manifest, file) pairs."""
    found: dict[str, str] = {}
    for manifest, file in items:
        if isinstance(manifest, Endpoint | Model):
            found.setdefault(address(manifest.kind, manifest.spec.region, manifest.metadata.name), file)
        elif isinstance(manifest, Prompt):
            found.setdefault(address("Prompt", PROMPT_REGION, manifest.metadata.name), file)
    return found

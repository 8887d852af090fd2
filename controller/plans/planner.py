"""The planner: desired manifests x observed state -> a Plan. Pure: no I/O, no clock, no randomness.

Per endpoint the operations always come in the safe order: deploy new deployed models at 0% -> one
UpdateEndpoint with the whole new split (and the observed etag) -> in-place replica changes -> undeploy
what no longer carries traffic. A model that serves traffic is never undeployed before the split moves
away from it, and every split sent names only deployed models and sums to 100.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from controller.diagnostics import Diagnostic, Source
from controller.model import Endpoint, Manifest, Model
from controller.model.common import GENERATED_ID_PATTERN
from controller.observed import (
    RETAIN_LABEL,
    SPEC_LABEL,
    SUSPEND_LABEL,
    Observed,
    ObservedEndpoint,
    ObservedModel,
    OpenModelSource,
    address,
)
from controller.plans.diff import field_changes
from controller.plans.endpoint_plan import endpoint_health, model_fingerprint, plan_endpoint, revision_of
from controller.plans.endpoint_settings_plan import create_only_problems
from controller.plans.open_model_plan import machine_notes, resolve_open_models, unplannable_deployments
from controller.plans.operations import (
    NEW_VERSION,
    DeleteEndpoint,
    DeleteModel,
    MergeAliases,
    Operation,
    SetTraffic,
    UndeployModel,
    UpdateModel,
    UploadModel,
)
from controller.plans.plan import Action, Plan, ResourceChange
from controller.plans.views_of import (
    comparable,
    container_of,
    desired_labels,
    desired_model_view,
    observed_endpoint_view,
    observed_model_view,
)


@dataclass(frozen=True)
class _ModelPlan:
    change: ResourceChange
    new_version: bool  # this plan uploads a new default version


def plan_model(model: Model, live: ObservedModel | None, source: OpenModelSource | None = None) -> _ModelPlan:
    """Create, new version, metadata or alias changes for one registry model (for an open model, registered
    from its publisher's deploy action, `source`)."""
    spec = model.spec
    after = desired_model_view(model, source)
    name, region = model.metadata.name, spec.region
    upload = UploadModel(
        model_id=name,
        display_name=after["displayName"],
        description=after["description"],
        labels=after["labels"],
        artifact_uri=after["artifactUri"],
        container=container_of(model, source),
        aliases=tuple(after["aliases"]),
        parent_exists=live is not None,
    )
    if live is None:
        change = ResourceChange("Model", name, region, Action.CREATE, None, after, (), (upload,), ("not found",))
        return _ModelPlan(change, new_version=True)
    before = observed_model_view(live)
    changes = field_changes(before, comparable(after, live.labels))
    ops: list[Operation] = []
    reasons: list[str] = []
    paths = {c.path.split(".")[0] for c in changes}
    new_version = bool(paths & {"artifactUri", "container"})
    if new_version:
        ops.append(upload)
        reasons.append("artifact or serving container changed: upload a new default version")
    elif "aliases" in paths:
        current = set(before["aliases"])
        wanted = set(after["aliases"])
        ops.append(
            MergeAliases(name, live.default_version.version_id, tuple(sorted(wanted)), tuple(sorted(current - wanted)))
        )
        reasons.append("version aliases changed")
    if paths & {"displayName", "description", "labels"}:
        ops.append(UpdateModel(name, after["displayName"], after["description"], after["labels"]))
        reasons.append("metadata changed")
    action = Action.UPDATE if ops else Action.NOOP
    return _ModelPlan(
        ResourceChange("Model", name, region, action, before, after, changes, tuple(ops), tuple(reasons)), new_version
    )


def _delete_endpoint(live: ObservedEndpoint) -> ResourceChange:
    ops: list[Operation] = []
    if live.traffic_split:
        current = {k: v for k, v in live.traffic_split.items() if v > 0}
        ops.append(SetTraffic(live.endpoint_id, {}, dict(live.labels), live.display_name, live.description, current))
    ops += [UndeployModel(live.endpoint_id, m.id, m.spec.name) for m in live.deployed_models]
    ops.append(DeleteEndpoint(live.endpoint_id))
    before = observed_endpoint_view(live)
    return ResourceChange(
        "Endpoint",
        live.endpoint_id,
        live.region,
        Action.DELETE,
        before,
        None,
        (),
        tuple(ops),
        ("not in the manifests; --prune",),
    )


def _resolve_versions(
    endpoint: Endpoint,
    models: Mapping[str, Model],
    model_plans: Mapping[str, _ModelPlan],
    observed: Observed,
) -> tuple[dict[str, str], list[str]]:
    """Deployment name -> the version it should serve; problems as messages."""
    versions: dict[str, str] = {}
    problems: list[str] = []
    region = endpoint.spec.region
    for d in endpoint.spec.deployments:
        name, ref = d.model_name, d.model_version
        model = models.get(name)
        plan = model_plans.get(name)
        live = observed.models.get((region, name))
        declared = set(model.spec.upload.version_aliases) if model and model.spec.upload else set()
        if ref is not None and ref.isdigit():
            versions[d.name] = ref
        elif ref is None or ref == "default" or ref in declared:
            # the version the Model manifest describes: uploaded by this plan, or the live default
            if plan is not None and plan.new_version:
                versions[d.name] = NEW_VERSION
            elif live is not None:
                versions[d.name] = live.default_version.version_id
            else:
                versions[d.name] = f"@{ref or 'default'}"
        elif (found := observed.versions.get((region, name, f"@{ref}"))) is not None:
            versions[d.name] = found
        elif live is not None and ref in live.default_version.aliases:
            versions[d.name] = live.default_version.version_id
        else:
            problems.append(f"deployment {d.name!r}: model {name!r} has no version with alias {ref!r}")
            versions[d.name] = f"@{ref}"
    return versions, problems


def plan(
    desired: Iterable[Manifest],
    observed: Observed,
    *,
    prune: bool = False,
    sources: Mapping[str, Source] | None = None,
    target: str = "",
) -> Plan:
    """Compute the plan. `sources` maps `Kind/name` to where the manifest is, for diagnostics."""
    declared = list(desired)
    foreign = [m for m in declared if _address(m) in observed.unmanaged]
    diagnostics = [
        Diagnostic(
            f"{m.kind} {m.metadata.name} already exists in {_address(m).split('/')[1]} and is not managed by "
            "genaiops (no `managed-by: genaiops` label); genaiops never changes what it does not own",
            (sources or {}).get(f"{m.kind}/{m.metadata.name}", Source("<manifests>")),
            "metadata.name",
            detail="rename the manifest, or have the owner hand the resource over by adding the label",
        )
        for m in foreign
    ]
    gone = [m for m in declared if m not in foreign and _imported_but_gone(m, observed)]
    diagnostics += [
        Diagnostic(
            f"{m.kind} {m.metadata.name} was imported from a resource that no longer exists in "
            f"{_address(m).split('/')[1]}: its name is an ID Vertex AI generated, and Vertex AI does not take "
            "generated IDs from callers, so genaiops cannot create it again",
            (sources or {}).get(f"{m.kind}/{m.metadata.name}", Source("<manifests>")),
            "metadata.name",
            detail="remove the manifest, or give it a name (lowercase letters, digits and '-') to create a new one",
        )
        for m in gone
    ]
    everything = [m for m in declared if m not in foreign and m not in gone]
    suspended = [m for m in everything if _suspended(m, observed)]
    manifests = [m for m in everything if m not in suspended]
    models = {m.metadata.name: m for m in manifests if isinstance(m, Model) and _registered(m)}
    for m in everything:  # a suspended model is still what its endpoints deploy
        if isinstance(m, Model) and _registered(m) and m.metadata.name not in models:
            models[m.metadata.name] = m
    opened = resolve_open_models(models.values(), observed, sources)
    diagnostics += opened.diagnostics
    models = {name: m for name, m in models.items() if name not in opened.broken}
    endpoints = [m for m in manifests if isinstance(m, Endpoint)]
    changes: list[ResourceChange] = []
    open_notes: list[str] = []
    model_plans = {
        name: plan_model(m, observed.models.get((m.spec.region, name)), opened.sources.get(name))
        for name, m in sorted(models.items())
        if m in manifests
    }
    changes += [p.change for p in model_plans.values()]
    fingerprints = {name: model_fingerprint(m, opened.sources.get(name)) for name, m in models.items()}
    for endpoint in sorted(endpoints, key=lambda e: e.metadata.name):
        versions, problems = _resolve_versions(endpoint, models, model_plans, observed)
        problems += unplannable_deployments(endpoint, opened.broken)
        open_notes += machine_notes(endpoint, opened.sources)
        where = (sources or {}).get(f"Endpoint/{endpoint.metadata.name}", Source("<manifests>"))
        diagnostics += [Diagnostic(p, where, "spec.deployments") for p in problems]
        revisions = {
            d.name: revision_of(d, models.get(d.model_name), fingerprint=fingerprints.get(d.model_name, ""))
            for d in endpoint.spec.deployments
        }
        if not problems:
            live = observed.endpoints.get((endpoint.spec.region, endpoint.metadata.name))
            change = plan_endpoint(endpoint, live, versions, revisions)
            changes.append(replace(change, health=endpoint_health(endpoint, live, revisions)))
            if live is not None:  # create-only settings the manifest changed: reported, never planned
                problems_of = create_only_problems(endpoint, live)
                diagnostics += [Diagnostic(p.summary, where, p.path, detail=p.detail) for p in problems_of]
    notes, deletions = _orphans(everything, observed, prune=prune)
    notes = [*opened.notes, *open_notes, *notes]
    changes += [  # suspended resources stay in the plan, as no-ops saying why
        ResourceChange(
            m.kind,
            m.metadata.name,
            getattr(m.spec, "region", ""),
            Action.NOOP,
            None,
            None,
            reasons=(SUSPENDED,),
            suspended=True,
        )
        for m in suspended
        if isinstance(m, Model | Endpoint)
    ]
    notes = [f"{c.address}: {r}" for c in changes if c.action is Action.NOOP for r in c.reasons] + notes
    changes = [replace(c, drift=True) if _is_drift(c) else c for c in changes]
    return Plan(tuple(changes + deletions), observed.fingerprint(), tuple(notes), tuple(diagnostics), target)


def _registered(model: Model) -> bool:
    """A Model genaiops keeps in the registry: an upload, or an open model registered from Model Garden."""
    return model.spec.upload is not None or model.spec.is_open_model


def _address(m: Manifest) -> str:
    return address(m.kind, str(getattr(m.spec, "region", "")), m.metadata.name)


SUSPENDED = "suspended: not reconciled"
_GENERATED_ID = re.compile(GENERATED_ID_PATTERN)


def _imported_but_gone(manifest: Manifest, observed: Observed) -> bool:
    """An Endpoint or registry Model named by a numeric ID Vertex AI generated (written by `genaiops import`)
    that is not there: planning it would create it, and Vertex AI takes no such ID from a caller."""
    if not _GENERATED_ID.match(manifest.metadata.name):
        return False
    key = (str(getattr(manifest.spec, "region", "")), manifest.metadata.name)
    if isinstance(manifest, Endpoint):
        return key not in observed.endpoints
    return isinstance(manifest, Model) and not manifest.spec.is_publisher and key not in observed.models


def _suspended(manifest: Manifest, observed: Observed) -> bool:
    """`spec.suspend: true`, or `genaiops suspend NAME` (a label on the live resource)."""
    if getattr(manifest.spec, "suspend", False):
        return True
    key = (getattr(manifest.spec, "region", ""), manifest.metadata.name)
    live = observed.endpoints.get(key) if isinstance(manifest, Endpoint) else observed.models.get(key)
    return live is not None and live.labels.get(SUSPEND_LABEL) == "true"


def _is_drift(change: ResourceChange) -> bool:
    """Live differs although the manifest is the one genaiops last applied (same recorded spec hash)."""
    if change.action not in (Action.UPDATE, Action.ROLLOUT) or not change.operations:
        return False
    before = (change.before or {}).get("labels", {}).get(SPEC_LABEL)
    after = (change.after or {}).get("labels", {}).get(SPEC_LABEL)
    return before is not None and before == after


def _orphans(
    manifests: Sequence[Manifest], observed: Observed, *, prune: bool
) -> tuple[list[str], list[ResourceChange]]:
    wanted = {(m.kind, getattr(m.spec, "region", ""), m.metadata.name) for m in manifests}
    notes: list[str] = []
    deletions: list[ResourceChange] = []
    orphans: list[tuple[str, str, str, bool]] = [
        ("Endpoint", r, i, e.labels.get(RETAIN_LABEL) == "true") for (r, i), e in observed.endpoints.items()
    ] + [("Model", r, i, m.labels.get(RETAIN_LABEL) == "true") for (r, i), m in observed.models.items()]
    for kind, region, name, retained in sorted(orphans):
        if (kind, region, name) in wanted:
            continue
        if retained:
            notes.append(f"{kind}/{region}/{name} left the manifests but has deletionPolicy retain: kept")
        elif not prune:
            notes.append(f"{kind}/{region}/{name} is managed by genaiops but in no manifest; --prune deletes it")
        elif kind == "Endpoint":
            deletions.append(_delete_endpoint(observed.endpoints[(region, name)]))
        else:
            live = observed.models[(region, name)]
            before = observed_model_view(live)
            deletions.append(
                ResourceChange(
                    "Model",
                    name,
                    region,
                    Action.DELETE,
                    before,
                    None,
                    (),
                    (DeleteModel(name),),
                    ("not in the manifests; --prune",),
                )
            )
    return notes, deletions


__all__ = ["desired_labels", "plan", "plan_endpoint", "plan_model"]

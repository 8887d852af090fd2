"""Planning one endpoint: which deployed models to keep, deploy, mutate and undeploy, the one traffic
update that moves the split, and where a canary rollout starts, restarts, waits or stays rolled back.

Pure. The operations always come in the safe order: deploy new deployed models at 0% -> one UpdateEndpoint
with the whole new split (and the planned split as precondition) -> request-response logging -> in-place
changes (replicas, autoscaling targets, container logging) -> undeploy what no longer carries traffic. A
rollout in progress belongs to the rollout driver: the planner leaves its canary and stable, and their
traffic, alone.

What only DeployModel sets (Spot, reservation, explanation) is part of a deployment's revision, like its
machine: a change deploys a new deployed model, through the canary when the rollout is one. What only
CreateEndpoint sets is never planned on a live endpoint (endpoint_settings_plan.py reports it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from controller.model import RESERVED_LABEL_PREFIX, Endpoint, Model
from controller.model.endpoint import Deployment
from controller.observed import RETAIN_LABEL, SPEC_LABEL, ObservedDeployedModel, ObservedEndpoint, OpenModelSource
from controller.plans.diff import field_changes
from controller.plans.endpoint_settings_plan import in_place_mutation, logging_ops
from controller.plans.operations import (
    NEW_VERSION,
    CreateEndpoint,
    DeployModel,
    MutateDeployedModel,
    Operation,
    SetTraffic,
    StartRollout,
    UndeployModel,
    new_deployed,
)
from controller.plans.plan import Action, Health, HealthState, ResourceChange
from controller.plans.views_of import (
    comparable,
    deployment_spec,
    desired_endpoint_view,
    endpoint_settings,
    observed_endpoint_view,
    open_model_fingerprint,
)
from controller.rollout.state import PREFIX as ROLLOUT_PREFIX
from controller.rollout.state import Phase, RolloutState, from_labels
from controller.rollout.strategy import INDEFINITE, compile_steps


def model_fingerprint(model: Model | None, source: OpenModelSource | None = None) -> str:
    """What of a Model makes the deployments that serve it a new revision: its artifact and container (for
    an open model, those of its publisher's deploy action, `source`, with the manifest's env)."""
    if model is not None and model.spec.is_open_model and source is not None and source.container is not None:
        return open_model_fingerprint(model, source)
    upload = model.spec.upload if model is not None else None
    if upload is None:
        return ""
    body = {"artifact": upload.artifact_uri, "container": upload.serving_container.model_dump(mode="json")}
    return json.dumps(body, sort_keys=True)


def _deploy_only(deployment: Deployment) -> str:
    """Spot, reservation and explanation, those set, as JSON ("" when none is: the revision of a deployment
    without them is what it always was, so a rollout recorded before they existed is not restarted)."""
    body = deployment.model_dump(mode="json", include={"spot", "reservation", "explanation"}, exclude_defaults=True)
    return json.dumps(body, sort_keys=True) if body else ""


def revision_of(deployment: Deployment, model: Model | None, *, fingerprint: str | None = None) -> str:
    """A short hash of everything that makes a deployment a new revision (not replica counts or autoscaling
    targets, which change in place). `fingerprint` is `model_fingerprint(model)`, when the caller has it."""
    accelerator = deployment.accelerator
    parts = [
        deployment.model,
        deployment.machine_type,
        f"{accelerator.type}x{accelerator.count}" if accelerator else "",
        deployment.service_account or "",
        fingerprint if fingerprint is not None else model_fingerprint(model),
    ]
    deploy_only = _deploy_only(deployment)
    if deploy_only:
        parts.append(deploy_only)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def _deploy_op(endpoint_id: str, d: Deployment, version: str) -> DeployModel:
    return DeployModel(endpoint_id, deployment_spec(d, version))


@dataclass
class _Work:
    """What the per-deployment decisions add up to."""

    deploys: list[Operation] = field(default_factory=list)
    mutates: list[Operation] = field(default_factory=list)
    target: dict[str, str] = field(default_factory=dict)  # deployment -> id (or placeholder) taking its share
    frozen: dict[str, int] = field(default_factory=dict)  # ids whose live share the driver owns
    kept: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)
    start: tuple[Deployment, str, str, str] | None = None  # (deployment, revision, stable id, canary id)
    in_progress: bool = False
    keep_rollout_labels: bool = False


def _share(live: ObservedEndpoint, model: ObservedDeployedModel) -> int:
    return live.traffic_split.get(model.id, 0)


def _decide(
    d: Deployment,
    endpoint: Endpoint,
    live: ObservedEndpoint,
    state: RolloutState | None,
    version: str,
    revision: str,
    work: _Work,
) -> None:
    mine = state if state is not None and state.deployment == d.name else None
    candidates = [m for m in live.deployed_models if m.spec.name == d.name]
    if mine is not None and mine.phase in (Phase.PROGRESSING, Phase.PAUSED) and revision == mine.revision:
        pair = [live.deployed(mine.canary_id), live.deployed(mine.stable_id)]
        if all(pair):
            work.kept |= {mine.canary_id, mine.stable_id}
            work.frozen.update({i: live.traffic_split.get(i, 0) for i in (mine.canary_id, mine.stable_id)})
            work.in_progress = work.keep_rollout_labels = True
            steps = len(compile_steps(endpoint.spec.rollout))
            work.reasons.append(f"rollout of {d.name} in progress ({mine.phase.value}, step {mine.step + 1}/{steps})")
            return
    if mine is not None and mine.phase is Phase.DEGRADED and revision == mine.failed_revision:
        stable = live.deployed(mine.stable_id) or max(candidates, key=lambda m: _share(live, m), default=None)
        if stable is not None:
            work.target[d.name] = stable.id
            work.kept.add(stable.id)
            work.keep_rollout_labels = True
            work.reasons.append(
                f"revision {revision} of {d.name} was rolled back ({mine.reason or 'failed'}); "
                "not retried until the spec changes or `genaiops rollout retry`"
            )
            return
    wanted = deployment_spec(d, version)
    matches = [m for m in candidates if version != NEW_VERSION and m.spec.identity() == wanted.identity()]
    holder = max(
        (m for m in candidates if _share(live, m) > 0 and m not in matches),
        key=lambda m: _share(live, m),
        default=None,
    )
    canary = endpoint.spec.rollout.strategy == "canary" and holder is not None
    if matches:
        keep = max(matches, key=lambda m: (_share(live, m), m.id))
        if canary and holder is not None and _share(live, keep) == 0 and endpoint.spec.traffic.get(d.name, 0) > 0:
            # Deployed at 0% while another revision serves: an apply stopped between deploy and the
            # first canary step. It is a canary that never started, never a model to switch to.
            _start_canary(d, live, mine, revision, canary_id=keep.id, stable=holder, work=work, resumed=True)
            return
        work.target[d.name] = keep.id
        work.kept.add(keep.id)
        mutate = in_place_mutation(endpoint.metadata.name, d.name, keep, wanted)
        if mutate is not None:
            work.mutates.append(mutate)
        return
    if canary and work.start is not None:
        assert holder is not None
        work.target[d.name] = holder.id
        work.kept.add(holder.id)
        work.reasons.append(f"{d.name} waits for the rollout of {work.start[0].name}")
        return
    work.deploys.append(_deploy_op(endpoint.metadata.name, d, version))
    work.target[d.name] = new_deployed(d.name)
    if canary:
        assert holder is not None
        _start_canary(d, live, mine, revision, canary_id=new_deployed(d.name), stable=holder, work=work)


def _start_canary(
    d: Deployment,
    live: ObservedEndpoint,
    mine: RolloutState | None,
    revision: str,
    *,
    canary_id: str,
    stable: ObservedDeployedModel,
    work: _Work,
    resumed: bool = False,
) -> None:
    """Record that `d` starts (or restarts) a canary from `stable` to `canary_id` (a deployed model id,
    or the placeholder of one this plan deploys); the whole share stays on the stable model until then."""
    if work.start is not None:
        work.target[d.name] = stable.id
        work.kept.update({stable.id, canary_id})
        work.reasons.append(f"{d.name} waits for the rollout of {work.start[0].name}")
        return
    restarting = mine is not None and mine.phase in (Phase.PROGRESSING, Phase.PAUSED)
    stable_id = mine.stable_id if restarting and mine and live.deployed(mine.stable_id) else stable.id
    work.start = (d, revision, stable_id, canary_id)
    work.target[d.name] = stable_id
    work.kept.update({stable_id, canary_id})
    if resumed:
        work.reasons.append(
            f"start the canary rollout of {d.name} (revision {revision}), deployed at 0% as {canary_id} by an "
            "apply that stopped before its first step"
        )
        return
    verb = "restart" if restarting else "start"
    work.reasons.append(f"{verb} a canary rollout of {d.name} (revision {revision})")


def _labels(desired: Mapping[str, str], live: ObservedEndpoint, *, keep_rollout: bool) -> dict[str, str]:
    """The labels to write: the manifest's, plus genaiops' own records that must survive."""
    kept = {
        k: v
        for k, v in live.labels.items()
        if k.startswith(RESERVED_LABEL_PREFIX)
        and k not in desired
        and (keep_rollout or not k.startswith(ROLLOUT_PREFIX))
        and k != RETAIN_LABEL
    }
    return dict(sorted({**kept, **desired}.items()))


def _names(live: ObservedEndpoint, state: RolloutState | None, keys: Iterable[str]) -> dict[str, str]:
    """How the operations show each deployed model of `keys`: by its deployment's name, a rollout's canary
    and stable (which share one) as `<name> (canary)` and `<name> (stable)`."""
    names = {m.id: m.spec.name for m in live.deployed_models}
    if state is not None and state.phase in (Phase.PROGRESSING, Phase.PAUSED):
        for deployed_id, role in ((state.canary_id, "canary"), (state.stable_id, "stable")):
            if deployed_id in names:
                names[deployed_id] = f"{names[deployed_id]} ({role})"
    return {key: names[key] for key in sorted(keys) if key in names}


def plan_endpoint(
    endpoint: Endpoint,
    live: ObservedEndpoint | None,
    versions: Mapping[str, str],
    revisions: Mapping[str, str],
) -> ResourceChange:
    """The change for one endpoint. `versions`: deployment -> version to serve (an id, `@alias`, or
    NEW_VERSION); `revisions`: deployment -> revision hash."""
    spec, endpoint_id = endpoint.spec, endpoint.metadata.name
    after = desired_endpoint_view(endpoint, versions, revisions)
    if live is None:
        ops: list[Operation] = [
            CreateEndpoint(
                endpoint_id, after["displayName"], after["description"], after["labels"], endpoint_settings(spec)
            )
        ]
        ops += [_deploy_op(endpoint_id, d, versions[d.name]) for d in spec.deployments]
        split = {new_deployed(n): p for n, p in sorted(spec.traffic.items()) if p > 0}
        ops.append(SetTraffic(endpoint_id, split, after["labels"], after["displayName"], after["description"]))
        return ResourceChange(
            "Endpoint", endpoint_id, spec.region, Action.CREATE, None, after, (), tuple(ops), ("not found",)
        )

    state = from_labels(live.labels)
    work = _Work()
    for d in spec.deployments:
        _decide(d, endpoint, live, state, versions[d.name], revisions[d.name], work)
    if state is not None and not work.keep_rollout_labels:
        # The record stays as history (last rollout healthy; a failed revision still wanted) unless it
        # describes a rollout nobody wants any more: an unfinished one that was reverted, or a failure
        # whose revision the manifests moved on from.
        stale = not state.phase.terminal or (
            state.phase is Phase.DEGRADED and revisions.get(state.deployment) != state.failed_revision
        )
        work.keep_rollout_labels = not stale
    split = {work.target[n]: p for n, p in sorted(spec.traffic.items()) if p > 0 and n in work.target}
    split.update({k: v for k, v in work.frozen.items() if v > 0})
    current = {k: v for k, v in sorted(live.traffic_split.items()) if v > 0}
    before = observed_endpoint_view(live)
    labels = _labels(after["labels"], live, keep_rollout=work.keep_rollout_labels)
    compared = comparable(after, live.labels)
    unrecorded = {k: v for k, v in labels.items() if k != SPEC_LABEL or SPEC_LABEL in live.labels}
    labels_changed = unrecorded != dict(sorted(live.labels.items()))
    metadata_changed = labels_changed or any(before[k] != compared[k] for k in ("displayName", "description"))
    surplus = [m for m in live.deployed_models if m.id not in work.kept]
    undeploys = [UndeployModel(endpoint_id, m.id, m.spec.name) for m in surplus]
    moves: list[Operation] = []
    names = _names(live, state, {*split, *current})
    if work.start is not None:
        d, revision, stable_id, canary_id = work.start
        steps = compile_steps(spec.rollout)
        moves.append(
            StartRollout(
                endpoint_id=endpoint_id,
                deployment=d.name,
                revision=revision,
                stable_id=stable_id,
                canary=canary_id,
                share=spec.traffic.get(d.name, 0),
                weight=steps[0].weight if steps else 100,
                split=split,
                labels=_labels(after["labels"], live, keep_rollout=False),
                display_name=after["displayName"],
                description=after["description"],
                expect=current,
                names=names,
            )
        )
    elif split != current or metadata_changed:
        moves.append(SetTraffic(endpoint_id, split, labels, after["displayName"], after["description"], current, names))
    logging = logging_ops(endpoint, live)
    operations = (*work.deploys, *moves, *logging, *work.mutates, *undeploys)
    changes = field_changes(before, compared) if not work.in_progress else ()
    rollout = work.start is not None or work.in_progress
    if not operations and not rollout:
        return ResourceChange(
            "Endpoint", endpoint_id, spec.region, Action.NOOP, before, after, changes, (), tuple(work.reasons)
        )
    reasons = [*work.reasons, *_reasons(work, split != current, undeploys, metadata_changed)]
    if logging:
        reasons.append("request-response logging differs")
    action = Action.ROLLOUT if rollout else Action.UPDATE
    return ResourceChange(
        "Endpoint", endpoint_id, spec.region, action, before, after, changes, operations, tuple(reasons)
    )


def _reasons(work: _Work, shift: bool, undeploys: Sequence[Operation], metadata: bool) -> list[str]:
    reasons = []
    if work.deploys:
        reasons.append(f"{len(work.deploys)} deployment(s) to deploy (new model version or machine spec)")
    if shift and work.start is None:
        reasons.append("traffic split differs")
    if work.mutates:
        serving = any(
            isinstance(m, MutateDeployedModel) and (m.autoscaling, m.disable_container_logging) != (None, None)
            for m in work.mutates
        )
        what = "replica counts, autoscaling targets or container logging" if serving else "replica counts"
        reasons.append(f"{len(work.mutates)} deployment(s) change {what} in place")
    if undeploys:
        reasons.append(f"{len(undeploys)} deployed model(s) no longer wanted")
    if metadata:
        reasons.append("labels, display name or description differ")
    return reasons


def endpoint_health(endpoint: Endpoint, live: ObservedEndpoint | None, revisions: Mapping[str, str]) -> Health:
    """Is what the endpoint serves healthy, from the rollout record on it: progressing while a canary is
    analysed, paused while it waits for a person, degraded while the manifests still declare a revision
    that was rolled back."""
    if live is None:
        return Health(HealthState.MISSING, "not created yet")
    state = from_labels(live.labels)
    if state is None:
        return Health()
    steps = compile_steps(endpoint.spec.rollout)
    at = f"step {min(state.step + 1, len(steps))}/{len(steps)}"
    match state.phase:
        case Phase.PAUSED:
            return Health(HealthState.PAUSED, f"canary of {state.deployment} paused at {at}; `genaiops rollout resume`")
        case Phase.PROGRESSING:
            step = steps[state.step] if state.step < len(steps) else None
            done = step is not None and (step.analysis is None or state.successes >= step.analysis.success_count)
            if step is not None and step.pause_s == INDEFINITE and done:
                return Health(
                    HealthState.PAUSED,
                    f"canary of {state.deployment} waits at {at} for `genaiops rollout promote`",
                )
            return Health(HealthState.PROGRESSING, f"canary of {state.deployment} at {at}")
        case Phase.DEGRADED if revisions.get(state.deployment) == state.failed_revision:
            why = state.reason.describe() if state.reason is not None else "failed analysis"
            return Health(
                HealthState.DEGRADED,
                f"revision {state.failed_revision} of {state.deployment} was rolled back: {why}; the manifests "
                "still declare it (fix and change the spec, or `genaiops rollout retry`)",
            )
        case _:
            return Health()

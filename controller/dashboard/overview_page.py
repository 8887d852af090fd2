"""The overview page: every resource of the plan with its sync and health (as `genaiops status` reports
them), drift and suspension, and every rollout the rollouts facade found recorded (as `genaiops rollout
status` lists them). Pure: built from a `Plan` and the rollout statuses of one refresh."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from controller.dashboard.shapes import Overview, ResourceRow, RolloutRow
from controller.plans.plan import HealthState, Plan, ResourceChange, Sync
from controller.rollout.events import RolloutStatus, TargetKind


def link_of(status: RolloutStatus) -> str:
    """The rollout page's address of a status: `Endpoint/chat/primary`, `Prompt/greet/production`."""
    return f"{status.target.value}/{status.endpoint}/{status.state.deployment}"


def rollout_row(status: RolloutStatus, strategy: str = "canary") -> RolloutRow:
    """A rollout on the overview; `strategy` is its manifest's `spec.rollout.strategy`."""
    state = status.state
    return RolloutRow(
        kind=status.target.value,
        name=status.endpoint,
        part=state.deployment,
        identity=status.name,
        phase="paused" if status.waiting_for_human and not status.finished else state.phase.value,
        step=state.step,
        steps=status.steps,
        weight=status.weight,
        reason=state.reason.describe() if state.reason is not None else "",
        strategy=strategy,
    )


def _reason(change: ResourceChange) -> str:
    """Why it needs attention: the health's reason, and what is out of sync (as `genaiops status` says it)."""
    detail = change.health.reason if change.health.state is not HealthState.HEALTHY else ""
    if change.sync is not Sync.SYNCED and change.reasons:
        detail = "; ".join(filter(None, (detail, *change.reasons)))
    return detail


def resource_row(change: ResourceChange, links: dict[tuple[str, str], str]) -> ResourceRow:
    """A resource on the overview; `links` maps (kind, name) to its rollout page."""
    return ResourceRow(
        kind=change.kind,
        name=change.name,
        region=change.region,
        address=change.address,
        action=change.action.value,
        sync=change.sync.value,
        health=change.health.state.value,
        reason=_reason(change),
        drift=change.drift,
        suspended=change.suspended,
        rollout=links.get((change.kind, change.name)),
    )


def overview_of(
    plan: Plan,
    statuses: Sequence[RolloutStatus],
    *,
    now: float,
    problems: Sequence[str] = (),
    strategies: Mapping[tuple[str, str], str] | None = None,
) -> Overview:
    """The overview of one refresh: the plan's resources, the rollouts, counts by sync and health value,
    and the plan's diagnostics (after `problems`, e.g. manifests that failed to load). `strategies` maps
    (kind, name) to the manifest's rollout strategy ("canary" when not there)."""
    strategies = strategies or {}
    links: dict[tuple[str, str], str] = {}
    for status in statuses:  # an endpoint has one rollout at a time; a prompt links to its first label's
        kind = "Endpoint" if status.target is TargetKind.ENDPOINT else "Prompt"
        links.setdefault((kind, status.endpoint), link_of(status))
    counts = Counter(c.sync.value for c in plan.changes) + Counter(c.health.state.value for c in plan.changes)
    return Overview(
        target=plan.target,
        environment=plan.environment,
        generated_at=now,
        resources=[resource_row(c, links) for c in plan.changes],
        rollouts=[rollout_row(s, strategies.get((s.target.value, s.endpoint), "canary")) for s in statuses],
        counts=dict(sorted(counts.items())),
        problems=[*problems, *(d.render() for d in plan.diagnostics)],
    )


__all__ = ["link_of", "overview_of", "resource_row", "rollout_row"]

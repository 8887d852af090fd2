"""Lifecycle health: a resource that is healthy today but calls a Google model retiring within the horizon.

A Prompt (its `model` / `fallbackModel`, or the Model or TuningJob it names), a TuningJob (its base model:
the tuned model retires with it) and a Model (its publisher model) whose model retires within the horizon
get health `retiring`, with the days left, the last day and the model to move to. Only an otherwise
healthy resource is marked: progressing, paused, degraded or missing say more and are kept. Pure: the day
comes in the `Horizon`; the catalogue is the bundled one with the manifests' `ModelLifecycle` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from controller.model import Manifest, Model, Prompt, TuningJob
from controller.model.catalogue.lifecycle import (
    Horizon,
    Lifecycle,
    ModelCatalogue,
    Stage,
    lifecycle_of,
)
from controller.model.model_lifecycle import project_catalogue, written_models
from controller.plans.plan import Health, HealthState, Plan, ResourceChange


def _soonest(lifecycles: Iterable[Lifecycle]) -> Lifecycle | None:
    retiring = [lc for lc in lifecycles if lc.stage is Stage.RETIRING]
    return min(retiring, key=lambda lc: lc.days_left if lc.days_left is not None else 0, default=None)


def retiring_reason(lifecycle: Lifecycle, *, via: str = "") -> str:
    """`gemini-2.0-flash retiring in 47 days (last day 2026-02-05); move to gemini-2.5-flash`."""
    days = lifecycle.days_left or 0
    when = lifecycle.retires.isoformat() if lifecycle.retires is not None else "?"
    left = "retiring today" if days == 0 else f"retiring in {days} day{'s' if days != 1 else ''}"
    move = f"; move to {lifecycle.successor}" if lifecycle.successor else "; the catalogue names no successor"
    return f"{via}{lifecycle.model_id} {left} (last day {when}){move}"


def retiring(
    manifests: Sequence[Manifest], horizon: Horizon, catalogue: ModelCatalogue | None = None
) -> dict[tuple[str, str], str]:
    """(kind, name) -> the health reason, for each manifest whose model retires within the horizon."""
    cat = catalogue or project_catalogue(manifests)
    found: dict[tuple[str, str], str] = {}
    owners: dict[str, Lifecycle] = {}  # a Model or TuningJob name -> its retiring model
    for manifest in manifests:
        soonest = _soonest(lifecycle_of(model_id, horizon, cat) for _, _, model_id in written_models(manifest))
        if soonest is None:
            continue
        via = "base model " if isinstance(manifest, TuningJob) else ""
        found[(manifest.kind, manifest.metadata.name)] = retiring_reason(soonest, via=via)
        if isinstance(manifest, Model | TuningJob):
            owners[manifest.metadata.name] = soonest
    for manifest in manifests:
        key = (manifest.kind, manifest.metadata.name)
        if not isinstance(manifest, Prompt) or key in found:
            continue
        for target in (manifest.spec.model, manifest.spec.fallback_model):
            name = target.split("@", 1)[0] if target is not None else ""
            if name in owners:
                found[key] = retiring_reason(owners[name], via=f"through {name}: ")
                break
    return found


def with_retiring_health(
    changes: Sequence[ResourceChange], reasons: dict[tuple[str, str], str]
) -> tuple[ResourceChange, ...]:
    """`changes` with health `retiring` where `reasons` names the resource and it is otherwise healthy."""

    def marked(change: ResourceChange) -> ResourceChange:
        reason = reasons.get((change.kind, change.name))
        if reason is None or change.health.state is not HealthState.HEALTHY:
            return change
        return replace(change, health=Health(HealthState.RETIRING, reason))

    return tuple(marked(change) for change in changes)


def lifecycle_health(plan: Plan, manifests: Sequence[Manifest], horizon: Horizon) -> Plan:
    """`plan` with each otherwise healthy resource whose model retires within the horizon marked `retiring`."""
    reasons = retiring(manifests, horizon)
    return replace(plan, changes=with_retiring_health(plan.changes, reasons)) if reasons else plan


__all__ = ["lifecycle_health", "retiring", "retiring_reason", "with_retiring_health"]

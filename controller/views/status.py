"""`genaiops status`: each resource's sync (does live match the manifests) and health (is what serves
healthy), kept apart as Argo CD keeps them, as a table for people or a JSON document for machines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from controller.plans.plan import HealthState, Plan, ResourceChange, Sync

FORMAT_VERSION = "1.0"
_SYNC_STYLE = {Sync.SYNCED: "green", Sync.OUT_OF_SYNC: "yellow", Sync.DRIFTED: "magenta", Sync.SUSPENDED: "dim"}
_HEALTH_STYLE = {
    HealthState.HEALTHY: "green",
    HealthState.PROGRESSING: "cyan",
    HealthState.PAUSED: "yellow",
    HealthState.DEGRADED: "bold red",
    HealthState.MISSING: "yellow",
    HealthState.RETIRING: "yellow",
}
_FINE = (HealthState.HEALTHY, HealthState.RETIRING)  # retiring: serving fine, with a warning


def needs_attention(change: ResourceChange) -> bool:
    """Anything but synced and healthy (a resource whose model is only retiring soon is still fine)."""
    return change.sync is not Sync.SYNCED or change.health.state not in _FINE


def status_table(changes: Sequence[ResourceChange]) -> Table:
    """One row per resource: address, sync, health, and why when not both fine."""
    table = Table(show_edge=False, pad_edge=False, expand=False)
    for column in ("RESOURCE", "SYNC", "HEALTH", "DETAIL"):
        table.add_column(column, overflow="fold")
    for change in changes:
        detail = change.health.reason if change.health.state is not HealthState.HEALTHY else ""
        if change.sync is not Sync.SYNCED and change.reasons:
            detail = "; ".join(filter(None, (detail, *change.reasons)))
        table.add_row(
            change.address,
            f"[{_SYNC_STYLE[change.sync]}]{change.sync.value}[/]",
            f"[{_HEALTH_STYLE[change.health.state]}]{change.health.state.value}[/]",
            detail,
        )
    return table


def summary(plan: Plan) -> str:
    """`3 resources: 2 synced and healthy, 1 need attention.` (and how many of the fine ones call a model
    retiring soon, when any do)."""
    total = len(plan.changes)
    attention = sum(1 for c in plan.changes if needs_attention(c))
    fine = total - attention
    retiring = sum(1 for c in plan.changes if not needs_attention(c) and c.health.state is HealthState.RETIRING)
    soon = f" ({retiring} retiring soon)" if retiring else ""
    return (
        f"{total} resource{'s' if total != 1 else ''}: {fine} synced and healthy{soon}, "
        f"{attention} need{'s' if attention == 1 else ''} attention."
    )


def status_json(plan: Plan) -> str:
    """The status as a versioned JSON document."""
    body: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "target": plan.target,
        "resources": [
            {
                "address": c.address,
                "kind": c.kind,
                "name": c.name,
                "region": c.region,
                "sync": c.sync.value,
                "health": c.health.state.value,
                "reason": c.health.reason,
                "pending": c.action.value,
                "needs_attention": needs_attention(c),
            }
            for c in plan.changes
        ],
        "diagnostics": [d.to_json() for d in plan.diagnostics],
    }
    return json.dumps(body, indent=2, ensure_ascii=False)


__all__ = ["needs_attention", "status_json", "status_table", "summary"]

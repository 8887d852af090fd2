"""Lifecycle health: a resource that is healthy today but calls a Google model retiring within the horizon.

A Prompt (its `model` / `fallbackModel`, or the Model or TuningJob it names), a TuningJob (its base model:
the tuned model retires with it) and a Model (its publisher model) whose model retires within the horizon
get health `retiring`, with the days left, the last day and the model to move to. Only an otherwise
healthy resource is marked: progressing, paused, degraded or missing say more and are kept. Pure: which
resources retire, and why, is judged by the engine (`engine/planning.py` `lifecycle_health`) from the
loader's `outdated_refs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from controller.model.catalogue.lifecycle import Lifecycle
from controller.plans.plan import Health, HealthState, ResourceChange


def retiring_reason(lifecycle: Lifecycle, *, via: str = "") -> str:
    """`gemini-2.0-flash retiring in 47 days (last day 2026-02-05); move to gemini-2.5-flash`."""
    days = lifecycle.days_left or 0
    when = lifecycle.retires.isoformat() if lifecycle.retires is not None else "?"
    left = "retiring today" if days == 0 else f"retiring in {days} day{'s' if days != 1 else ''}"
    move = f"; move to {lifecycle.successor}" if lifecycle.successor else "; the catalogue names no successor"
    return f"{via}{lifecycle.model_id} {left} (last day {when}){move}"


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


__all__ = ["retiring_reason", "with_retiring_health"]

"""What a rollout pass reports, built the same way for an endpoint's rollout and a prompt label's: the
event of a move (`event_of`) and where the rollout stands (`status_of`: its weight, the next analysis, and
whether it holds at an indefinite pause for a person). Pure; both drivers call these."""

from __future__ import annotations

from collections.abc import Sequence

from controller.rollout.events import EventKind, RolloutEvent, RolloutStatus, TargetKind
from controller.rollout.machine import next_analysis_at
from controller.rollout.reason import Reason
from controller.rollout.state import Phase, RolloutState
from controller.rollout.strategy import INDEFINITE, CompiledStep
from controller.rollout.verdicts import Measurement


def event_of(
    kind: EventKind,
    *,
    target: TargetKind,
    name: str,
    state: RolloutState,
    steps: Sequence[CompiledStep],
    at: float,
    weight: int | None,
    detail: str,
    measurements: tuple[Measurement, ...] = (),
    reason: Reason | None = None,
) -> RolloutEvent:
    """The event of one move (or measurement) of the rollout of `name` (an endpoint, or a prompt)."""
    return RolloutEvent(
        kind=kind,
        endpoint=name,
        deployment=state.deployment,
        revision=state.revision,
        at=at,
        step=min(state.step, len(steps)),
        steps=len(steps),
        weight=weight,
        detail=detail,
        measurements=measurements,
        reason=reason,
        target=target,
    )


def status_of(
    *,
    target: TargetKind,
    name: str,
    state: RolloutState,
    steps: Sequence[CompiledStep],
    weight: int,
    share: int,
    events: tuple[RolloutEvent, ...],
    measurements: tuple[Measurement, ...] = (),
    window: tuple[float, float] | None = None,
) -> RolloutStatus:
    """Where the rollout stands after a pass: the latest measurements (this pass's, else `measurements`),
    when the next analysis is due, and whether it waits at an indefinite pause with its analysis done."""
    measurements = next((e.measurements for e in reversed(events) if e.measurements), measurements)
    step = steps[state.step] if state.phase is Phase.PROGRESSING and state.step < len(steps) else None
    indefinite = (
        step is not None
        and step.pause_s == INDEFINITE
        and (step.analysis is None or state.successes >= step.analysis.success_count)
    )
    return RolloutStatus(
        name,
        state,
        len(steps),
        weight,
        share,
        measurements,
        next_analysis_at(state, steps),
        events,
        at_indefinite_pause=indefinite,
        window=window,
        target=target,
    )


__all__ = ["event_of", "status_of"]

"""The rollout state machine: `next_transition(state, steps, live, measurements, now)`. Pure.

One call makes at most one step of progress (Argo Rollouts' checklist style): judge the latest
measurements, then hold, move to the next weight, promote fully, pause for a human, or roll back. Every
move carries a typed `Reason`, and the returned state is the record to persist as it is (for a promotion
or a rollback, the final one): the driver writes it in the same UpdateEndpoint that moves the traffic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from controller.model import Analysis, duration_seconds
from controller.rollout.reason import Kind, Reason, analysis_failed, inconclusive
from controller.rollout.state import Phase, RolloutState
from controller.rollout.strategy import INDEFINITE, CompiledStep
from controller.rollout.verdicts import Measurement, Verdict, overall


class Serving(Protocol):
    """What serves the rollout's two revisions: an endpoint (`ObservedEndpoint`, deployed models by id) or a
    prompt's index (published versions by id). The machine only asks whether each is still there."""

    def deployed(self, deployed_model_id: str, /) -> object | None:
        """The stable or canary by its id, None when it is gone."""
        ...


class Move(StrEnum):
    """What the driver does with a transition."""

    HOLD = "hold"  # traffic stays (counters may still be persisted)
    STEP = "step"  # move traffic to the next step's weight
    PROMOTE = "promote"  # all of the deployment's traffic to the canary, then undeploy the stable
    ROLLBACK = "rollback"  # all of it back to the stable, then undeploy the canary
    PAUSE = "pause"  # stop and wait for a human (`rollout resume` / `promote`); traffic stays
    RESUME = "resume"  # a human resumed a paused rollout: its step starts over; traffic stays


@dataclass(frozen=True)
class Transition:
    """The decision of one pass. `state` is the record to persist as it is (for a promotion or a rollback,
    the final record), `weight` the canary's new weight (None: the traffic stays where it is)."""

    move: Move
    state: RolloutState
    weight: int | None = None  # canary weight to apply (percent of the deployment's share)
    reason: Reason | None = None  # why it moved (for a pause or rollback, the state's reason too)
    measurements: tuple[Measurement, ...] = ()


def analysis_window(state: RolloutState, steps: Sequence[CompiledStep], now: float) -> tuple[float, float] | None:
    """The [start, end] to measure now, or None when no analysis is due (none set, initial delay, interval)."""
    if state.phase is not Phase.PROGRESSING or state.step >= len(steps):
        return None
    analysis = steps[state.step].analysis
    if analysis is None:
        return None
    interval = duration_seconds(analysis.interval)
    ready = state.step_started + duration_seconds(analysis.initial_delay)
    due = max(ready, state.last_analysis + interval) if state.last_analysis else ready
    if now < due:
        return None
    return (max(float(state.step_started), now - interval), now)


def current_window(state: RolloutState, steps: Sequence[CompiledStep], now: float) -> tuple[float, float] | None:
    """The [start, end] that `rollout status` measures: the current step's last analysis interval ending now,
    never before the step began, whether or not a run is due (paused rollouts too: why they wait). None when
    the step has no analysis, the rollout is finished, or the step began after `now`."""
    if state.phase.terminal or state.step >= len(steps) or not state.canary_id:
        return None
    analysis = steps[state.step].analysis
    if analysis is None:
        return None
    start = max(float(state.step_started), now - duration_seconds(analysis.interval))
    return (start, now) if start < now else None


def next_analysis_at(state: RolloutState, steps: Sequence[CompiledStep]) -> float | None:
    """When the next measurement or pause deadline falls (for the driver's sleep)."""
    if state.phase is not Phase.PROGRESSING or state.step >= len(steps):
        return None
    step = steps[state.step]
    times = []
    if step.analysis is not None:
        interval = duration_seconds(step.analysis.interval)
        ready = state.step_started + duration_seconds(step.analysis.initial_delay)
        times.append(max(ready, state.last_analysis + interval) if state.last_analysis else ready)
    if step.pause_s is not None and step.pause_s != INDEFINITE:
        times.append(state.step_started + step.pause_s)
    return min(times) if times else None


def _count(state: RolloutState, verdict: Verdict, now: int) -> RolloutState:
    if verdict is Verdict.FAILED:
        return state.evolve(
            failures=state.failures + 1,
            consecutive_failures=state.consecutive_failures + 1,
            last_analysis=now,
        )
    if verdict is Verdict.SUCCESSFUL:
        return state.evolve(successes=state.successes + 1, consecutive_failures=0, last_analysis=now)
    return state.evolve(inconclusive=state.inconclusive + 1, last_analysis=now)


def _rolled_back(state: RolloutState, reason: Reason, measurements: tuple[Measurement, ...] = ()) -> Transition:
    """All traffic back to the stable; the final record: the revision failed, the canary is gone."""
    record = state.evolve(phase=Phase.DEGRADED, reason=reason, failed_revision=state.revision, canary_id="")
    return Transition(Move.ROLLBACK, record, 0, reason, measurements)


def _paused(state: RolloutState, reason: Reason, measurements: tuple[Measurement, ...] = ()) -> Transition:
    return Transition(Move.PAUSE, state.evolve(phase=Phase.PAUSED, reason=reason), None, reason, measurements)


def _promoted(
    state: RolloutState,
    steps: Sequence[CompiledStep],
    start: int,
    reason: Reason,
    measurements: tuple[Measurement, ...] = (),
) -> Transition:
    """All the deployment's traffic to the canary; the final record: the canary is the stable now."""
    record = RolloutState(
        state.deployment, state.revision, Phase.HEALTHY, step=len(steps), step_started=start, stable_id=state.canary_id
    )
    return Transition(Move.PROMOTE, record, 100, reason, measurements)


def _judge(state: RolloutState, analysis: Analysis, measurements: tuple[Measurement, ...], now: int) -> Transition:
    """Count one analysis run; a rollback or pause when the limits say so."""
    verdict = overall(measurements)
    counted = _count(state, verdict, now)
    if analysis.dry_run:
        counted = counted.evolve(failures=0, consecutive_failures=0) if verdict is Verdict.FAILED else counted
    too_many = counted.failures > analysis.failure_limit or (
        analysis.consecutive_failure_limit is not None
        and counted.consecutive_failures >= analysis.consecutive_failure_limit
    )
    critical = any(m.critical for m in measurements)  # a critical judged metric rolls back at once
    if verdict is Verdict.FAILED and (too_many or critical) and not analysis.dry_run:
        return _rolled_back(counted, analysis_failed(measurements), measurements)
    if verdict in (Verdict.INCONCLUSIVE, Verdict.ERROR) and counted.inconclusive > analysis.inconclusive_limit:
        reason = inconclusive(
            measurements,
            count=counted.inconclusive,
            limit=analysis.inconclusive_limit,
            min_requests=analysis.min_requests,
        )
        return _paused(counted, reason, measurements)
    return Transition(Move.HOLD, counted, None, None, measurements)


def next_transition(
    state: RolloutState,
    steps: Sequence[CompiledStep],
    live: Serving,
    measurements: tuple[Measurement, ...] | None,
    now: float,
) -> Transition:
    """Decide the next move. `measurements` are given when `analysis_window` said one was due."""
    clock = int(now)  # when this measurement was taken (whole seconds, as the labels hold them)
    start = math.ceil(now)  # a step starting now: round up so its pause never ends early
    hold = Transition(Move.HOLD, state)
    if state.phase.terminal or state.phase is Phase.PAUSED:
        return hold
    if live.deployed(state.canary_id) is None:
        return _rolled_back(state, Reason(Kind.CANARY_MISSING, deployed_model=state.canary_id))
    if live.deployed(state.stable_id) is None:
        return _paused(state, Reason(Kind.STABLE_MISSING, deployed_model=state.stable_id))
    if state.step >= len(steps):
        return _promoted(state, steps, start, Reason(Kind.ALL_STEPS_PASSED))
    step = steps[state.step]
    judged = None
    if measurements is not None and step.analysis is not None:
        judged = _judge(state, step.analysis, measurements, clock)
        if judged.move is not Move.HOLD:
            return judged
        if overall(measurements) is not Verdict.SUCCESSFUL and not step.analysis.dry_run:
            return judged  # a pass whose own measurement did not pass never moves traffic forward
        state = judged.state
    analysis_ok = step.analysis is None or step.analysis.dry_run or state.successes >= step.analysis.success_count
    pause_over = step.pause_s is None or (step.pause_s != INDEFINITE and now >= state.step_started + step.pause_s)
    taken = judged.measurements if judged is not None else ()
    if not (analysis_ok and pause_over):
        return Transition(Move.HOLD, state, None, None, taken)
    if state.step + 1 < len(steps):
        following = steps[state.step + 1]
        return Transition(
            Move.STEP, state.at_step(state.step + 1, start), following.weight, Reason(Kind.STEP_PASSED), taken
        )
    return _promoted(state, steps, start, Reason(Kind.ALL_STEPS_PASSED), taken)


def promote(state: RolloutState, steps: Sequence[CompiledStep], now: float, *, full: bool) -> Transition:
    """`rollout promote`: skip the current step's pause and analysis (or, with full, every step)."""
    clock = math.ceil(now)  # whole seconds in labels: round up so a pause never ends early
    if state.phase.terminal:
        return Transition(Move.HOLD, state)
    resumed = state.evolve(phase=Phase.PROGRESSING, reason=None)
    if full or resumed.step + 1 >= len(steps):
        return _promoted(resumed, steps, clock, Reason(Kind.PROMOTED))
    step = resumed.step + 1
    return Transition(Move.STEP, resumed.at_step(step, clock), steps[step].weight, Reason(Kind.STEP_PROMOTED))


def abort(state: RolloutState) -> Transition:
    """`rollout abort`: back to the stable deployment, marking the revision failed."""
    if state.phase.terminal:
        return Transition(Move.HOLD, state)
    return _rolled_back(state, Reason(Kind.ABORTED))


def pause(state: RolloutState) -> Transition:
    """`rollout pause`."""
    if state.phase is not Phase.PROGRESSING:
        return Transition(Move.HOLD, state)
    return _paused(state, Reason(Kind.PAUSED))


def resume(state: RolloutState, now: float) -> Transition:
    """`rollout resume`: continue the current step; its counters and pause start over."""
    if state.phase is not Phase.PAUSED:
        return Transition(Move.HOLD, state)
    resumed = state.at_step(state.step, math.ceil(now)).evolve(phase=Phase.PROGRESSING, reason=None, last_analysis=0)
    return Transition(Move.RESUME, resumed, None, Reason(Kind.RESUMED))


def conclude(
    state: RolloutState, steps: Sequence[CompiledStep], now: float, *, promote: bool | None, reason: Reason
) -> Transition:
    """An experiment's end, as its report decided: promote the new version (True), keep the control (False:
    rolled back, the new version recorded as failed), or wait for a person (None: paused)."""
    if state.phase.terminal:
        return Transition(Move.HOLD, state)
    if promote is None:
        return _paused(state, reason)
    if promote:
        return _promoted(state, steps, math.ceil(now), reason)
    return _rolled_back(state, reason)


def hold_for(state: RolloutState, reason: Reason) -> Transition:
    """Pause a progressing rollout for `reason` found outside the analysis (traffic stays; a person, or the
    next apply, decides); any other rollout is left as it is."""
    if state.phase is not Phase.PROGRESSING:
        return Transition(Move.HOLD, state)
    return _paused(state, reason)

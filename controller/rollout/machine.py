"""The rollout state machine: `next_transition(state, steps, live, measurements, now)`. Pure.

One call makes at most one step of progress (Argo Rollouts' checklist style): judge the latest
measurements, then hold, move to the next weight, promote fully, pause for a human, or roll back. The
driver persists the returned state in the same UpdateEndpoint that moves the traffic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.model import Analysis, duration_seconds
from controller.observed import ObservedEndpoint
from controller.rollout.analysis import Measurement, Verdict, overall
from controller.rollout.state import Phase, RolloutState
from controller.rollout.strategy import INDEFINITE, CompiledStep


class Move(StrEnum):
    """What the driver does with a transition."""

    HOLD = "hold"  # nothing to change (counters may still be persisted)
    STEP = "step"  # move traffic to the next step's weight
    PROMOTE = "promote"  # all of the deployment's traffic to the canary, then undeploy the stable
    ROLLBACK = "rollback"  # all of it back to the stable, then undeploy the canary
    PAUSE = "pause"  # stop and wait for a human (`rollout resume` / `promote`)


@dataclass(frozen=True)
class Transition:
    """The decision of one pass."""

    move: Move
    state: RolloutState
    weight: int  # canary weight to apply (percent of the deployment's share)
    reason: str = ""
    measurements: tuple[Measurement, ...] = ()

    @property
    def changed(self) -> bool:
        """True when there is anything to persist."""
        return self.move is not Move.HOLD or bool(self.measurements)


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


def _failed_reason(measurements: Sequence[Measurement]) -> str:
    failed = [m for m in measurements if m.verdict is Verdict.FAILED]
    return "; ".join(m.describe() for m in failed) or "analysis failed"


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
    if verdict is Verdict.FAILED and too_many and not analysis.dry_run:
        reason = _failed_reason(measurements)
        degraded = counted.evolve(phase=Phase.DEGRADED, reason=reason, failed_revision=state.revision)
        return Transition(Move.ROLLBACK, degraded, 0, reason, measurements)
    if verdict in (Verdict.INCONCLUSIVE, Verdict.ERROR) and counted.inconclusive > analysis.inconclusive_limit:
        reason = (
            f"{counted.inconclusive} inconclusive measurements (limit {analysis.inconclusive_limit}): not enough data"
        )
        return Transition(Move.PAUSE, counted.evolve(phase=Phase.PAUSED, reason=reason), -1, reason, measurements)
    return Transition(Move.HOLD, counted, -1, "", measurements)


def next_transition(
    state: RolloutState,
    steps: Sequence[CompiledStep],
    live: ObservedEndpoint,
    measurements: tuple[Measurement, ...] | None,
    now: float,
) -> Transition:
    """Decide the next move. `measurements` are given when `analysis_window` said one was due."""
    clock = int(now)  # when this measurement was taken (whole seconds, as the labels hold them)
    start = math.ceil(now)  # a step starting now: round up so its pause never ends early
    hold = Transition(Move.HOLD, state, -1)
    if state.phase.terminal or state.phase is Phase.PAUSED:
        return hold
    if live.deployed(state.canary_id) is None:
        reason = f"the canary deployed model {state.canary_id} disappeared"
        return Transition(
            Move.ROLLBACK, state.evolve(phase=Phase.DEGRADED, reason=reason, failed_revision=state.revision), 0, reason
        )
    if live.deployed(state.stable_id) is None:
        reason = f"the stable deployed model {state.stable_id} disappeared; a human must decide"
        return Transition(Move.PAUSE, state.evolve(phase=Phase.PAUSED, reason=reason), -1, reason)
    if state.step >= len(steps):
        return Transition(Move.PROMOTE, state.evolve(phase=Phase.HEALTHY, reason=""), 100, "all steps passed")
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
        return Transition(Move.HOLD, state, -1, "", taken)
    if state.step + 1 < len(steps):
        following = steps[state.step + 1]
        reason = f"step {state.step + 1}/{len(steps)} passed"
        return Transition(Move.STEP, state.at_step(state.step + 1, start), following.weight, reason, taken)
    reason = f"all {len(steps)} steps passed"
    return Transition(
        Move.PROMOTE, state.at_step(len(steps), start).evolve(phase=Phase.HEALTHY, reason=""), 100, reason, taken
    )


def promote(state: RolloutState, steps: Sequence[CompiledStep], now: float, *, full: bool) -> Transition:
    """`rollout promote`: skip the current step's pause and analysis (or, with full, every step)."""
    clock = math.ceil(now)  # whole seconds in labels: round up so a pause never ends early
    if state.phase.terminal:
        return Transition(Move.HOLD, state, -1, f"rollout already {state.phase.value}")
    resumed = state.evolve(phase=Phase.PROGRESSING, reason="")
    if full or resumed.step + 1 >= len(steps):
        return Transition(
            Move.PROMOTE, resumed.at_step(len(steps), clock).evolve(phase=Phase.HEALTHY), 100, "promoted by a human"
        )
    step = resumed.step + 1
    return Transition(Move.STEP, resumed.at_step(step, clock), steps[step].weight, "step promoted by a human")


def abort(state: RolloutState, reason: str = "aborted by a human") -> Transition:
    """`rollout abort`: back to the stable deployment, marking the revision failed."""
    if state.phase.terminal:
        return Transition(Move.HOLD, state, -1, f"rollout already {state.phase.value}")
    degraded = state.evolve(phase=Phase.DEGRADED, reason=reason, failed_revision=state.revision)
    return Transition(Move.ROLLBACK, degraded, 0, reason)


def pause(state: RolloutState, reason: str = "paused by a human") -> Transition:
    """`rollout pause`."""
    if state.phase is not Phase.PROGRESSING:
        return Transition(Move.HOLD, state, -1, f"rollout is {state.phase.value}")
    return Transition(Move.PAUSE, state.evolve(phase=Phase.PAUSED, reason=reason), -1, reason)


def resume(state: RolloutState, now: float) -> Transition:
    """`rollout resume`: continue the current step; its counters and pause start over."""
    if state.phase is not Phase.PAUSED:
        return Transition(Move.HOLD, state, -1, f"rollout is {state.phase.value}")
    resumed = state.at_step(state.step, math.ceil(now)).evolve(phase=Phase.PROGRESSING, reason="", last_analysis=0)
    return Transition(Move.STEP, resumed, -1, "resumed by a human")

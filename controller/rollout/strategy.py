"""Strategy compiler: a Rollout spec -> concrete steps, and a canary weight -> integer traffic splits.

Pure (Argo Rollouts' canary maths). The weight of a step is the canary's percentage of the deployment's
share of the endpoint's traffic; splits are integers that always sum to that share, so the endpoint's
whole split still sums to 100.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from controller.model import Analysis, duration_seconds
from controller.model.endpoint import Rollout

INDEFINITE = math.inf


@dataclass(frozen=True)
class CompiledStep:
    """One step: canary weight (1..100), how long to hold it, and the analysis that judges it."""

    weight: int
    pause_s: float | None  # None: no pause (advance once analysis passes); INDEFINITE: until `promote`
    analysis: Analysis | None


def compile_steps(rollout: Rollout) -> tuple[CompiledStep, ...]:
    """Explicit steps as written, or the stepWeight/maxWeight/interval shorthand unrolled."""
    if rollout.steps:
        return tuple(
            CompiledStep(
                weight=step.weight,
                pause_s=None
                if step.pause is None
                else INDEFINITE
                if step.pause == "indefinite"
                else duration_seconds(step.pause),
                analysis=step.analysis or rollout.analysis,
            )
            for step in rollout.steps
        )
    if rollout.step_weight is None:
        return ()
    top = rollout.max_weight or 100
    weights = list(range(rollout.step_weight, top + 1, rollout.step_weight))
    if not weights or weights[-1] != top:
        weights.append(top)
    pause = duration_seconds(rollout.interval) if rollout.interval else None
    return tuple(CompiledStep(weight=w, pause_s=pause, analysis=rollout.analysis) for w in weights)


def canary_share(weight: int, share: int) -> int:
    """The canary's integer part of `share` at `weight` percent: never 0 while weight > 0 and never all of
    it while weight < 100 (when the share allows), so a step always sends traffic to both."""
    if share <= 0 or weight <= 0:
        return 0
    if weight >= 100:
        return share
    canary = max((share * weight * 2 + 100) // 200, 1)  # round half up, in integers; never zero
    return min(canary, share - 1) if share >= 2 else canary


def split_at(base: Mapping[str, int], *, stable: str, canary: str, share: int, weight: int) -> dict[str, int]:
    """The endpoint split with the deployment's `share` divided between stable and canary at `weight`."""
    split = {k: v for k, v in base.items() if k not in (stable, canary)}
    on_canary = canary_share(weight, share)
    for key, value in ((stable, share - on_canary), (canary, on_canary)):
        if value > 0:
            split[key] = value
    return split

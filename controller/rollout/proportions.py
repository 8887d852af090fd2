"""Two proportions compared: Wilson's score interval of one proportion, Newcombe's hybrid score interval of
the difference of two (1998, method 10), and the pooled two-proportion z-test. Pure; the experiment report
(`controller.rollout.experiment`) compares rates (error rate, safety-block rate) with them, because a
rank test on sparse per-interval rates misjudges them (spinnaker/kayenta#426).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Interval:
    """A confidence interval of a difference (treatment - control)."""

    lower: float
    upper: float
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        """No change is outside the interval: the difference is significant."""
        return self.lower > 0.0 or self.upper < 0.0


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, trials: int, *, confidence: float) -> tuple[float, float]:
    """Wilson's score interval of a proportion (no continuity correction); (0, 1) without trials."""
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..trials, got {successes} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, *, confidence: float
) -> Interval:
    """Newcombe's hybrid score interval (1998, method 10) of the difference of proportions a - b."""
    p_a = successes_a / trials_a
    p_b = successes_b / trials_b
    lower_a, upper_a = wilson_interval(successes_a, trials_a, confidence=confidence)
    lower_b, upper_b = wilson_interval(successes_b, trials_b, confidence=confidence)
    difference = p_a - p_b
    return Interval(
        lower=difference - math.sqrt((p_a - lower_a) ** 2 + (upper_b - p_b) ** 2),
        upper=difference + math.sqrt((upper_a - p_a) ** 2 + (p_b - lower_b) ** 2),
        confidence=confidence,
    )


def two_proportion_p_value(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test; 1.0 when both proportions are 0 or both 1."""
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / trials_a + 1.0 / trials_b))
    if se == 0.0:
        return 1.0
    z = (successes_a / trials_a - successes_b / trials_b) / se
    return min(1.0, 2.0 * NormalDist().cdf(-abs(z)))


__all__ = ["Interval", "newcombe_interval", "two_proportion_p_value", "wilson_interval"]

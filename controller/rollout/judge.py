"""The statistical judge: Kayenta's NetflixACAJudge Mann-Whitney classifier, ported to pure Python.

Pure: no I/O, no clock. The one source of randomness Kayenta has (Gaussian noise added when each sample
holds a single distinct value) comes from a `random.Random` with a fixed seed, so a verdict is a function
of its inputs.

Where it plugs in (not wired yet): a rollout analysis metric with `judge: mann-whitney` will have its
per-interval samples of the stable (control) and candidate (experiment) versions judged here, and the
verdict's classification turned into `verdicts.Verdict` (`High`/`Low` in a watched direction -> failed,
`Nodata`/`NodataFailMetric` -> inconclusive/failed, `Pass` -> successful) by `rollout/verdicts.py`, for
endpoints and prompts alike; experiments (`genaiops experiment report`) show the same verdict's effect
size, Hodges-Lehmann interval and p-value.

Ported from spinnaker/kayenta at commit a69573be9d8fededacf80817e4151a2c8df41276:
- kayenta-judge/.../classifiers/metric/MannWhitneyClassifier.scala (`classify`, `compare`, bounds, noise)
- kayenta-judge/.../classifiers/metric/BaseMetricClassifier.scala (labels, direction, NaN strategy)
- kayenta-judge/.../NetflixACAJudge.scala (defaults: tolerance 0.25, confidence level 0.98, allowed and
  critical effect sizes 1.0 for `meanRatio` and 0.5 for `cles`, NaN strategy `remove`, NaN handling)
- kayenta-judge/.../stats/EffectSizes.scala (`meanRatio`, `cles`)
- kayenta-mannwhitney/.../MannWhitney.scala (`wilcoxonDiff`: the normal approximation with tie and
  continuity correction; the confidence interval and Hodges-Lehmann estimate as its roots) and
  BrentSolver.java (R's `zeroin`, tolerance 1e-4)

The p-value is not in Kayenta; it is the two-sided p-value of the same normal approximation at a shift of 0
(R's `wilcox.test(x, y, correct = TRUE, exact = FALSE)`).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist, fmean

__all__ = [
    "Classification",
    "Direction",
    "EffectSizeMeasure",
    "JudgeConfig",
    "JudgeVerdict",
    "NanStrategy",
    "ShiftEstimate",
    "judge",
    "mann_whitney",
]


class Classification(StrEnum):
    """Kayenta's metric classification labels, spelled as Kayenta reports them."""

    PASS = "Pass"
    HIGH = "High"
    LOW = "Low"
    NODATA_FAIL_METRIC = "NodataFailMetric"
    NODATA = "Nodata"
    ERROR = "Error"


class Direction(StrEnum):
    """Which way a change of the candidate counts against it."""

    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class NanStrategy(StrEnum):
    """What to do with NaN samples: drop them, or count them as 0.0 (Kayenta's `replace`)."""

    REMOVE = "remove"
    REPLACE = "replace"


class EffectSizeMeasure(StrEnum):
    """How the magnitude of a change is measured against the allowed effect sizes."""

    MEAN_RATIO = "meanRatio"  # mean(candidate) / mean(stable); NaN when either mean is 0
    CLES = "cles"  # common language effect size: P(candidate > stable), ties counting half


@dataclass(frozen=True)
class JudgeConfig:
    """One metric's judge settings, Kayenta's `analysisConfigurations.canary` in our words.

    `allowed_increase`/`allowed_decrease` are Kayenta's `effectSize.allowedIncrease`/`allowedDecrease`
    (ratios for `meanRatio`, probabilities for `cles`; `None` takes Kayenta's default, 1.0 or 0.5): a
    significant change is High only when the effect size is at least `allowed_increase`, Low only when at
    most `allowed_decrease`. `critical_increase`/`critical_decrease` likewise decide whether a High/Low of
    a `critical` metric is critical. `tolerance` is the fraction of the Hodges-Lehmann estimate the
    interval must clear (Kayenta's classifier parameter, 0.25 in NetflixACAJudge).
    """

    name: str = "metric"
    direction: Direction = Direction.EITHER
    confidence_level: float = 0.98
    tolerance: float = 0.25
    effect_size_measure: EffectSizeMeasure = EffectSizeMeasure.MEAN_RATIO
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float | None = None
    critical_decrease: float | None = None
    nan_strategy: NanStrategy = NanStrategy.REMOVE
    critical: bool = False
    must_have_data: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence_level < 1.0:
            raise ValueError(f"confidence_level must be in (0, 1), got {self.confidence_level}")
        if self.tolerance < 0.0:
            raise ValueError(f"tolerance must not be negative, got {self.tolerance}")

    @property
    def _default_effect(self) -> float:
        return 0.5 if self.effect_size_measure is EffectSizeMeasure.CLES else 1.0

    @property
    def effect_size_thresholds(self) -> tuple[float, float]:
        """(allowed decrease, allowed increase), Kayenta's `effectSizeThresholds`."""
        d = self._default_effect
        return (
            d if self.allowed_decrease is None else self.allowed_decrease,
            d if self.allowed_increase is None else self.allowed_increase,
        )

    @property
    def critical_thresholds(self) -> tuple[float, float]:
        """(critical decrease, critical increase), Kayenta's `criticalThresholds`."""
        d = self._default_effect
        return (
            d if self.critical_decrease is None else self.critical_decrease,
            d if self.critical_increase is None else self.critical_increase,
        )


@dataclass(frozen=True)
class ShiftEstimate:
    """The Mann-Whitney test of candidate minus stable: Hodges-Lehmann shift, its interval, p-value."""

    estimate: float
    lower: float
    upper: float
    p_value: float


@dataclass(frozen=True)
class JudgeVerdict:
    """The judge's verdict on one metric.

    `deviation` is the mean ratio (candidate/stable, NaN when a mean is 0; 1.0 when no test ran), as
    Kayenta reports it; `effect_size` is the configured measure. `estimate`, `lower`, `upper` and
    `p_value` are None when no test ran (no data, identical or constant samples, error).
    """

    classification: Classification
    reason: str | None
    critical: bool
    deviation: float
    effect_size: float | None = None
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    p_value: float | None = None
    confidence_level: float | None = None


# --- statistics (kayenta-mannwhitney) -------------------------------------------------------------------

_BRENT_MAX_ITERATIONS = 1000
_BRENT_TOLERANCE = 1e-4
_EPSILON = 2.220446049250313e-16
_NOISE_SCALE = 1e-5
_NOISE_SEED = 0


def _average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given their average rank (commons-math NaturalRanking, TiesStrategy.AVERAGE)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        i = j + 1
    return ranks


def _wilcoxon_diff(mu: float, quantile: float, x: Sequence[float], y: Sequence[float]) -> float:
    """Kayenta's `wilcoxonDiff`: the standardised rank-sum of x - mu against y, minus `quantile`."""
    nx = float(len(x))
    ny = float(len(y))
    ranks = _average_ranks([v - mu for v in x] + list(y))
    dz = math.fsum(ranks[: len(x)]) - nx * (nx + 1) / 2 - nx * ny / 2
    correction = (0.0 if dz == 0 else math.copysign(1.0, dz)) * 0.5
    ties = Counter(ranks).values()
    sigma = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - sum(t**3 - t for t in ties) / ((nx + ny) * (nx + ny - 1))))
    if sigma == 0:
        raise ValueError("cannot compute confidence interval when all observations are tied")
    return (dz - correction) / sigma - quantile


def _is_zero(value: float) -> bool:
    # commons-math Precision.equals(value, 0): within one ulp of zero.
    return abs(value) <= math.ulp(0.0)


def _brent(ax: float, bx: float, fa: float, fb: float, func: Callable[[float], float]) -> float:
    """Kayenta's BrentSolver (R's zeroin), step for step."""
    a, b, c, fc = ax, bx, ax, fa
    if _is_zero(fa):
        return a
    if _is_zero(fb):
        return b
    for _ in range(_BRENT_MAX_ITERATIONS + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPSILON * abs(b) + _BRENT_TOLERANCE / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or _is_zero(fb):
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = func(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def mann_whitney(x: Sequence[float], y: Sequence[float], confidence_level: float = 0.95) -> ShiftEstimate:
    """Two-sided Mann-Whitney test of the shift x - y (Kayenta's `mannWhitneyUTest(x, y, level)`).

    Raises ValueError when every observation is tied (no interval exists), as Kayenta does.
    """
    if not x or not y:
        raise ValueError("both samples need at least one observation")
    alpha = 1.0 - confidence_level
    mu_min = min(x) - max(y)
    mu_max = max(x) - min(y)

    def root(zq: float) -> float:
        f_lower = _wilcoxon_diff(mu_min, zq, x, y)
        f_upper = _wilcoxon_diff(mu_max, zq, x, y)
        if f_lower <= 0:
            return mu_min
        if f_upper >= 0:
            return mu_max
        return _brent(mu_min, mu_max, f_lower, f_upper, lambda m: _wilcoxon_diff(m, zq, x, y))

    z_quant = NormalDist().inv_cdf(alpha / 2)
    lower, upper = root(-z_quant), root(z_quant)
    estimate = _brent(
        mu_min,
        mu_max,
        _wilcoxon_diff(mu_min, 0.0, x, y),
        _wilcoxon_diff(mu_max, 0.0, x, y),
        lambda m: _wilcoxon_diff(m, 0.0, x, y),
    )
    z = _wilcoxon_diff(0.0, 0.0, x, y)
    p_value = min(1.0, 2.0 * NormalDist().cdf(-abs(z)))
    return ShiftEstimate(estimate=estimate, lower=lower, upper=upper, p_value=p_value)


# --- effect sizes (kayenta-judge stats/EffectSizes.scala) -----------------------------------------------


def mean_ratio(control: Sequence[float], experiment: Sequence[float]) -> float:
    """mean(experiment) / mean(control); NaN when either mean is 0."""
    control_mean = fmean(control)
    experiment_mean = fmean(experiment)
    if control_mean == 0.0 or experiment_mean == 0.0:
        return math.nan
    return experiment_mean / control_mean


def cles(control: Sequence[float], experiment: Sequence[float]) -> float:
    """Common language effect size (Vargha and Delaney): P(experiment > control), ties counting half."""
    m = len(experiment)
    n = len(control)
    r1 = math.fsum(_average_ranks(list(experiment) + list(control))[:m])
    return (2 * r1 - m * (m + 1)) / (2 * n * m)


# --- the classifier (MannWhitneyClassifier.scala) -------------------------------------------------------


def _handle_nans(values: Sequence[float], strategy: NanStrategy) -> list[float]:
    if strategy is NanStrategy.REMOVE:
        return [v for v in values if not math.isnan(v)]
    return [0.0 if math.isnan(v) else v for v in values]


def _with_noise(values: list[float], rng: random.Random) -> list[float]:
    stdev = values[0] * _NOISE_SCALE
    return [v + rng.gauss(0.0, abs(stdev)) for v in values]


@dataclass(frozen=True)
class _Comparison:
    classification: Classification
    reason: str | None
    deviation: float
    effect_size: float
    shift: ShiftEstimate


def _compare(control: list[float], experiment: list[float], config: JudgeConfig) -> _Comparison:
    # Each sample constant: Kayenta adds Gaussian noise scaled to the value, so ranks are not all tied.
    if len(set(experiment)) == 1 and len(set(control)) == 1:
        rng = random.Random(_NOISE_SEED)
        experiment = _with_noise(experiment, rng)
        control = _with_noise(control, rng)
    shift = mann_whitney(experiment, control, config.confidence_level)
    deviation = mean_ratio(control, experiment)
    by_cles = config.effect_size_measure is EffectSizeMeasure.CLES
    effect_size = cles(control, experiment) if by_cles else deviation
    critical_value = config.tolerance * abs(shift.estimate)
    lower_bound, upper_bound = -critical_value, critical_value
    allowed_decrease, allowed_increase = config.effect_size_thresholds
    unknown_effect = math.isnan(effect_size)
    is_high = (
        config.direction in (Direction.INCREASE, Direction.EITHER)
        and shift.lower > upper_bound
        and (unknown_effect or effect_size >= allowed_increase)
    )
    is_low = (
        config.direction in (Direction.DECREASE, Direction.EITHER)
        and shift.upper < lower_bound
        and (unknown_effect or effect_size <= allowed_decrease)
    )
    if is_high:
        label, reason = Classification.HIGH, f"{config.name} was classified as High"
    elif is_low:
        label, reason = Classification.LOW, f"{config.name} was classified as Low"
    else:
        label, reason = Classification.PASS, None
    return _Comparison(label, reason, deviation, effect_size, shift)


def judge(control: Sequence[float], experiment: Sequence[float], config: JudgeConfig) -> JudgeVerdict:
    """Classify the candidate (`experiment`) against the stable version (`control`), as Kayenta does.

    NaNs are removed or replaced by 0.0 first (NetflixACAJudge's `handleNaNs`), then
    MannWhitneyClassifier.classify runs: no data, identical samples, one value in all, the test, then the
    critical thresholds. A test that cannot be computed is `Error` (NetflixACAJudge catches it).
    """
    stable = _handle_nans(control, config.nan_strategy)
    candidate = _handle_nans(experiment, config.nan_strategy)

    if not candidate or not stable:
        if config.nan_strategy is NanStrategy.REMOVE:
            missing = f"Missing data for {config.name}"
            if config.must_have_data and not config.critical:
                return JudgeVerdict(Classification.NODATA_FAIL_METRIC, missing, critical=False, deviation=1.0)
            return JudgeVerdict(Classification.NODATA, missing, critical=config.critical, deviation=1.0)
        return JudgeVerdict(Classification.PASS, None, critical=False, deviation=1.0)

    if sorted(candidate) == sorted(stable):
        identical = "The candidate and stable data are identical"
        return JudgeVerdict(Classification.PASS, identical, critical=False, deviation=1.0)

    if len(set(candidate) | set(stable)) == 1:
        return JudgeVerdict(Classification.PASS, None, critical=False, deviation=1.0)

    try:
        comparison = _compare(stable, candidate, config)
    except ValueError as error:
        return JudgeVerdict(
            Classification.ERROR, f"Metric Classification Failed: {error}", critical=False, deviation=math.nan
        )

    critical_decrease, critical_increase = config.critical_thresholds
    unknown_effect = math.isnan(comparison.effect_size)
    label = comparison.classification
    critical_high = (
        config.critical
        and label is Classification.HIGH
        and (unknown_effect or comparison.effect_size >= critical_increase)
    )
    critical_low = (
        config.critical
        and label is Classification.LOW
        and (unknown_effect or comparison.effect_size <= critical_decrease)
    )
    reason: str | None = comparison.reason
    if critical_high or critical_low:
        reason = f"The metric {config.name} was classified as {label} (Critical)"
    shift = comparison.shift
    return JudgeVerdict(
        classification=label,
        reason=reason,
        critical=critical_high or critical_low,
        deviation=comparison.deviation,
        effect_size=comparison.effect_size,
        estimate=shift.estimate,
        lower=shift.lower,
        upper=shift.upper,
        p_value=shift.p_value,
        confidence_level=config.confidence_level,
    )

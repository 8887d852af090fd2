"""Analysis verdicts: turn metric samples into measurements, and measurements into one verdict.

Pure. "No data" is never a pass: below `minRequests` a measurement is inconclusive, and so is a failed
metric query (verdict `error`, counted as inconclusive by the limits). Thresholds are absolute (`min`,
`max`, `maxMs`) or relative to the stable deployment (`maxIncrease`). A measurement carries its facts typed:
the threshold a failure broke (`Breach`) or why no verdict was possible (`Shortfall`), so the state machine
and its reasons never read the text of `detail`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.model import Metric
from controller.model.analysis import LATENCY_METRICS
from controller.observed import Sample


class Verdict(StrEnum):
    """The outcome of one measurement, or of one analysis run."""

    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class Bound(StrEnum):
    """Which threshold of a metric a failed measurement broke."""

    MIN = "min"  # the value fell below `min`
    MAX = "max"  # the value rose above `max` (or `maxMs`)
    MAX_INCREASE = "max-increase"  # the value rose more than `maxIncrease` above the stable's


@dataclass(frozen=True)
class Breach:
    """The threshold a failed measurement broke: `max 0.05`, `min 100`, or `maxIncrease 0.5` over the
    stable deployment's `baseline`."""

    bound: Bound
    threshold: float
    baseline: float | None = None  # the stable's value (maxIncrease only)


class Shortfall(StrEnum):
    """Why a measurement could not judge the canary (its verdict is inconclusive or error)."""

    TOO_FEW_REQUESTS = "too-few-requests"  # below minRequests
    QUERY_FAILED = "query-failed"  # the metric query failed (verdict error)
    NO_DATA = "no-data"  # enough requests, but the metric had no value
    NO_BASELINE = "no-baseline"  # maxIncrease without a stable value to compare with


@dataclass(frozen=True)
class Measurement:
    """One metric judged: its value, the threshold it was held to, and the verdict."""

    metric: str
    value: float | None
    threshold: str
    verdict: Verdict
    requests: int = 0
    detail: str = ""
    breach: Breach | None = None  # set when the verdict is failed
    shortfall: Shortfall | None = None  # set when the verdict is inconclusive or error

    def describe(self) -> str:
        """`error-rate 0.231 > max 0.05 (failed, 412 requests)`."""
        value = "no data" if self.value is None else f"{self.value:.4g}"
        extra = f"; {self.detail}" if self.detail else ""
        return f"{self.metric} {value} vs {self.threshold} ({self.verdict.value}, {self.requests} requests{extra})"


def value_of(metric: Metric, sample: Sample) -> float | None:
    """The metric's value in a sample (None when it cannot be computed)."""
    if metric.query is not None:
        return sample.custom.get(metric.name)
    if metric.name == "error-rate":
        return sample.error_rate
    if metric.name == "request-count":
        return float(sample.requests)
    if metric.name in LATENCY_METRICS:
        return sample.latency_ms.get(int(metric.name.rsplit("p", 1)[1]))
    return None


def _threshold(metric: Metric) -> str:
    parts = []
    if metric.min is not None:
        parts.append(f"min {metric.min:g}")
    if metric.upper_bound is not None:
        unit = " ms" if metric.max_ms is not None else ""
        parts.append(f"max {metric.upper_bound:g}{unit}")
    if metric.max_increase is not None:
        parts.append(f"at most +{metric.max_increase:.0%} vs stable")
    return ", ".join(parts)


def judge(metric: Metric, *, canary: Sample, stable: Sample | None, min_requests: int) -> Measurement:
    """One measurement of the canary against the metric's thresholds."""
    threshold = _threshold(metric)

    def unjudged(value: float | None, verdict: Verdict, detail: str, shortfall: Shortfall) -> Measurement:
        return Measurement(metric.name, value, threshold, verdict, canary.requests, detail, shortfall=shortfall)

    failure = canary.error or canary.custom_errors.get(metric.name)
    if failure is not None:
        return unjudged(None, Verdict.ERROR, failure, Shortfall.QUERY_FAILED)
    value = value_of(metric, canary)
    if canary.requests < min_requests:
        return unjudged(value, Verdict.INCONCLUSIVE, f"below minRequests {min_requests}", Shortfall.TOO_FEW_REQUESTS)
    if value is None:
        return unjudged(None, Verdict.INCONCLUSIVE, "no data", Shortfall.NO_DATA)
    breach = _absolute_breach(metric, value)
    detail = ""
    if breach is None and metric.max_increase is not None:
        base = value_of(metric, stable) if stable is not None and stable.error is None else None
        if base is None or (stable is not None and stable.requests < min_requests):
            return unjudged(value, Verdict.INCONCLUSIVE, "no stable baseline", Shortfall.NO_BASELINE)
        limit = base * (1 + metric.max_increase)
        if value > limit and value - base > 1e-9:
            breach = Breach(Bound.MAX_INCREASE, float(metric.max_increase), float(base))
        detail = f"stable {base:.4g}"
    verdict = Verdict.SUCCESSFUL if breach is None else Verdict.FAILED
    return Measurement(metric.name, value, threshold, verdict, canary.requests, detail, breach=breach)


def _absolute_breach(metric: Metric, value: float) -> Breach | None:
    """The absolute threshold (`min`, `max`, `maxMs`) the value broke, if any."""
    if metric.min is not None and value < metric.min:
        return Breach(Bound.MIN, float(metric.min))
    if metric.upper_bound is not None and value > metric.upper_bound:
        return Breach(Bound.MAX, float(metric.upper_bound))
    return None


def overall(measurements: Sequence[Measurement]) -> Verdict:
    """Failed if any failed; inconclusive if any is inconclusive or errored; else successful."""
    verdicts = {m.verdict for m in measurements}
    if Verdict.FAILED in verdicts:
        return Verdict.FAILED
    if verdicts & {Verdict.INCONCLUSIVE, Verdict.ERROR} or not measurements:
        return Verdict.INCONCLUSIVE
    return Verdict.SUCCESSFUL

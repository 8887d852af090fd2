"""Analysis verdicts: turn metric samples into measurements, and measurements into one verdict.

Pure. "No data" is never a pass: below `minRequests` a measurement is inconclusive, and so is a failed
metric query (verdict `error`, counted as inconclusive by the limits). Thresholds are absolute (`min`,
`max`, `maxMs`) or relative to the stable deployment (`maxIncrease`), and come normalised from the model
(`Metric.lower`/`upper` in seconds for latency, a fraction for error-rate). Samples hold latency in
milliseconds, so latency values, thresholds and breaches are in ms here (as the rollout's reasons record
them). A measurement carries its facts typed: the threshold a failure broke (`Breach`), why no verdict was
possible (`Shortfall`), and the requests, `minRequests` and window it was judged on, so the state machine
and its reasons never read the text of `detail`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.model import Metric
from controller.model.analysis import LATENCY_METRICS, Unit
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
    min_requests: int | None = None  # the analysis's minRequests it was judged against
    window_s: float | None = None  # how long the window measured was, in seconds (when known)

    def describe(self) -> str:
        """`error-rate 0.231 vs max 0.05 (failed, 412 requests)`; an inconclusive one says what it lacked:
        `error-rate 0 vs max 0.05 (inconclusive: 12 requests in 1m, below minRequests 50)`."""
        value = "no data" if self.value is None else f"{self.value:.4g}"
        if self.shortfall is Shortfall.TOO_FEW_REQUESTS:
            return f"{self.metric} {value} vs {self.threshold} ({self.verdict.value}: {self.detail})"
        extra = f"; {self.detail}" if self.detail else ""
        return f"{self.metric} {value} vs {self.threshold} ({self.verdict.value}, {self.requests} requests{extra})"


def span(seconds: float) -> str:
    """A window's length for people: `1m`, `1m30s`, `45s`, `0.5s`."""
    if seconds < 1:
        return f"{seconds:.3g}s"
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{rest}s" if rest else ""]
    return "".join(parts)


def too_few(requests: int, *, min_requests: int, window_s: float | None) -> str:
    """`12 requests in 1m, below minRequests 50`."""
    seen = f"{requests} request{'' if requests == 1 else 's'}" if requests else "no requests"
    within = f" in {span(window_s)}" if window_s is not None else ""
    return f"{seen}{within}, below minRequests {min_requests}"


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


def bounds(metric: Metric) -> tuple[float | None, float | None]:
    """The metric's (min, max) in the unit its samples hold: milliseconds for latency (the model keeps
    seconds), else as normalised (a fraction, a count, a custom value)."""
    if metric.unit is not Unit.SECONDS:
        return metric.lower, metric.upper
    return _ms(metric.lower), _ms(metric.upper)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 9)  # 0.3 s is 300 ms, not 300.00000000000006


def _threshold(metric: Metric) -> str:
    lower, upper = bounds(metric)
    unit = " ms" if metric.unit is Unit.SECONDS else ""
    parts = []
    if lower is not None:
        parts.append(f"min {lower:g}{unit}")
    if upper is not None:
        parts.append(f"max {upper:g}{unit}")
    if metric.increase is not None:
        parts.append(f"at most +{metric.increase * 100:.4g}% vs stable")
    return ", ".join(parts)


def judge(
    metric: Metric, *, canary: Sample, stable: Sample | None, min_requests: int, window_s: float | None = None
) -> Measurement:
    """One measurement of the canary against the metric's thresholds, over a window `window_s` long."""
    threshold = _threshold(metric)

    def measured(
        value: float | None,
        verdict: Verdict,
        detail: str,
        *,
        breach: Breach | None = None,
        shortfall: Shortfall | None = None,
    ) -> Measurement:
        return Measurement(
            metric.name,
            value,
            threshold,
            verdict,
            canary.requests,
            detail,
            breach=breach,
            shortfall=shortfall,
            min_requests=min_requests,
            window_s=window_s,
        )

    def unjudged(value: float | None, verdict: Verdict, detail: str, shortfall: Shortfall) -> Measurement:
        return measured(value, verdict, detail, shortfall=shortfall)

    failure = canary.error or canary.custom_errors.get(metric.name)
    if failure is not None:
        return unjudged(None, Verdict.ERROR, failure, Shortfall.QUERY_FAILED)
    value = value_of(metric, canary)
    if canary.requests < min_requests:
        detail = too_few(canary.requests, min_requests=min_requests, window_s=window_s)
        return unjudged(value, Verdict.INCONCLUSIVE, detail, Shortfall.TOO_FEW_REQUESTS)
    if value is None:
        return unjudged(None, Verdict.INCONCLUSIVE, "no data", Shortfall.NO_DATA)
    breach = _absolute_breach(metric, value)
    detail = ""
    if breach is None and metric.increase is not None:
        # maxIncrease: fail above stable x (1 + maxIncrease), the stable measured over the same window and
        # held to the same minRequests; a stable at 0 allows no increase at all (beyond rounding).
        base = value_of(metric, stable) if stable is not None and stable.error is None else None
        if base is None or (stable is not None and stable.requests < min_requests):
            return unjudged(value, Verdict.INCONCLUSIVE, "no stable baseline", Shortfall.NO_BASELINE)
        limit = base * (1 + metric.increase)
        if value > limit and value - base > 1e-9:
            breach = Breach(Bound.MAX_INCREASE, metric.increase, float(base))
        detail = f"stable {base:.4g}"
    verdict = Verdict.SUCCESSFUL if breach is None else Verdict.FAILED
    return measured(value, verdict, detail, breach=breach)


def _absolute_breach(metric: Metric, value: float) -> Breach | None:
    """The absolute threshold (`min`, `max`, `maxMs`) the value broke, if any (in the sample's unit)."""
    lower, upper = bounds(metric)
    if lower is not None and value < lower:
        return Breach(Bound.MIN, lower)
    if upper is not None and value > upper:
        return Breach(Bound.MAX, upper)
    return None


def overall(measurements: Sequence[Measurement]) -> Verdict:
    """Failed if any failed; inconclusive if any is inconclusive or errored; else successful."""
    verdicts = {m.verdict for m in measurements}
    if Verdict.FAILED in verdicts:
        return Verdict.FAILED
    if verdicts & {Verdict.INCONCLUSIVE, Verdict.ERROR} or not measurements:
        return Verdict.INCONCLUSIVE
    return Verdict.SUCCESSFUL

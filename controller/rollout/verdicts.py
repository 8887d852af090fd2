"""Analysis verdicts: turn metric samples into measurements, and measurements into one verdict.

Pure. "No data" is never a pass: below `minRequests` a measurement is inconclusive, and so is a failed
metric query (verdict `error`, counted as inconclusive by the limits), and so is a metric without a value
(a feedback score with no ratings). Thresholds are absolute (`min`, `max`, `maxMs`) or relative to the
stable (`maxIncrease`, `maxDecrease`), and come normalised from the model (`Metric.lower`/`upper` in
seconds for latency, a fraction for rates). Samples hold latency in milliseconds, so latency values,
thresholds and breaches are in ms here (as the rollout's reasons record them). The same code judges an
endpoint's deployed models and a prompt label's versions: a prompt's samples carry `Sample.values` for
the runtime's metrics (cost-per-request, output-tokens-per-request, safety-block-rate, feedback-score), and
both kinds of samples carry the streaming metrics (time-to-first-token-p*, in ms, and tokens-per-second)
there too; a canary without streamed answers has no value for them: inconclusive, saying why (`NO_STREAMS`).

A metric with a `judge` is also compared with the stable by a statistical test over the window's
per-interval values (`Sample.series`, filled by the providers for judged metrics): Kayenta's Mann-Whitney
classifier (`rollout/judge.py`). High or Low in the watched direction fails (`Bound.JUDGE`), Pass succeeds,
no data is inconclusive; the judge's verdict (p-value, effect size, interval) rides on the measurement.

A measurement carries its facts typed: the threshold a failure broke (`Breach`), why no verdict was
possible (`Shortfall`), and the requests, `minRequests` and window it was judged on, so the state machine
and its reasons never read the text of `detail`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from controller.model import Metric
from controller.model.analysis import Judge
from controller.model.metric_thresholds import LATENCY_METRICS, PROMPT_METRICS, STREAMING_METRICS, Unit, percentile_of
from controller.observed import Sample
from controller.rollout import judge as stats

# Why a streaming metric has no value: it is measured only on answers streamed through the runtime client.
NO_STREAMS = "no streamed answers: it is measured only on answers streamed through the runtime client"
# Why a `source: vertex` time to first token has no value: AI AutoMetrics exports it from vLLM containers only.
NO_VERTEX_STREAMS = (
    "no time to first token from Vertex AI: AutoMetrics publishes it only for streams served by a vLLM container"
)


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
    MAX_DECREASE = "max-decrease"  # the value fell more than `maxDecrease` below the stable's
    JUDGE = "judge"  # the statistical judge classified the canary High or Low against the stable


@dataclass(frozen=True)
class Breach:
    """The threshold a failed measurement broke: `max 0.05`, `min 100`, `maxIncrease 0.5` or `maxDecrease
    0.1` over the stable deployment's `baseline`, or the judge (`threshold` its confidence level, `baseline`
    the stable's value; the test's numbers are `Measurement.judgement`)."""

    bound: Bound
    threshold: float
    baseline: float | None = None  # the stable's value (maxIncrease, maxDecrease, judge)


class Shortfall(StrEnum):
    """Why a measurement could not judge the canary (its verdict is inconclusive or error)."""

    TOO_FEW_REQUESTS = "too-few-requests"  # below minRequests
    QUERY_FAILED = "query-failed"  # the metric query failed (verdict error)
    NO_DATA = "no-data"  # enough requests, but the metric had no value
    NO_BASELINE = "no-baseline"  # maxIncrease, maxDecrease or a judge without a stable value to compare with


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
    judgement: stats.JudgeVerdict | None = None  # the statistical judge's verdict (metrics with a judge)

    @property
    def critical(self) -> bool:
        """A failure the judge calls critical (a `critical: true` judge): worth a rollback at once."""
        return self.verdict is Verdict.FAILED and self.judgement is not None and self.judgement.critical

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
    if metric.name in PROMPT_METRICS or metric.name in STREAMING_METRICS:
        return sample.values.get(metric.name)
    if metric.name == "error-rate":
        return sample.error_rate
    if metric.name == "request-count":
        return float(sample.requests)
    if metric.name in LATENCY_METRICS:
        q = percentile_of(metric.name)
        return sample.latency_ms.get(q) if q is not None else None
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
    if metric.decrease is not None:
        parts.append(f"at most -{metric.decrease * 100:.4g}% vs stable")
    settings = metric.judge_settings
    if settings is not None:
        parts.append(f"{settings.test.value} {settings.direction} vs stable at {settings.confidence_level:.4g}")
    return ", ".join(parts)


def judge(
    metric: Metric, *, canary: Sample, stable: Sample | None, min_requests: int, window_s: float | None = None
) -> Measurement:
    """One measurement of the canary against the metric's thresholds and judge, over a window `window_s`
    long. The stable is needed (and held to `minRequests` too) only by maxIncrease, maxDecrease and a judge."""
    threshold = _threshold(metric)

    def measured(
        value: float | None,
        verdict: Verdict,
        detail: str,
        *,
        breach: Breach | None = None,
        shortfall: Shortfall | None = None,
        judgement: stats.JudgeVerdict | None = None,
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
            judgement=judgement,
        )

    failure = canary.error or canary.custom_errors.get(metric.name)
    if failure is not None:
        return measured(None, Verdict.ERROR, failure, shortfall=Shortfall.QUERY_FAILED)
    value = value_of(metric, canary)
    if canary.requests < min_requests:
        detail = too_few(canary.requests, min_requests=min_requests, window_s=window_s)
        return measured(value, Verdict.INCONCLUSIVE, detail, shortfall=Shortfall.TOO_FEW_REQUESTS)
    if value is None:
        detail = "no data"
        if metric.query is None and metric.name in STREAMING_METRICS:
            detail = NO_VERTEX_STREAMS if metric.from_vertex else NO_STREAMS
        return measured(None, Verdict.INCONCLUSIVE, detail, shortfall=Shortfall.NO_DATA)
    breach = _absolute_breach(metric, value)
    if breach is not None or not metric.compares_with_stable:
        return measured(value, Verdict.SUCCESSFUL if breach is None else Verdict.FAILED, "", breach=breach)
    # Relative checks: the stable measured over the same window and held to the same minRequests.
    base = value_of(metric, stable) if stable is not None and stable.error is None else None
    if stable is None or base is None or stable.requests < min_requests:
        return measured(value, Verdict.INCONCLUSIVE, "no stable baseline", shortfall=Shortfall.NO_BASELINE)
    detail = f"stable {base:.4g}"
    breach = _relative_breach(metric, value, base)
    settings = metric.judge_settings
    if breach is not None or settings is None:
        return measured(value, Verdict.SUCCESSFUL if breach is None else Verdict.FAILED, detail, breach=breach)
    verdict = judged(
        metric.name, settings, canary=canary.series.get(metric.name, ()), stable=stable.series.get(metric.name, ())
    )
    detail = f"{detail}; {describe_judgement(settings, verdict)}"
    match verdict.classification:
        case stats.Classification.PASS:
            return measured(value, Verdict.SUCCESSFUL, detail, judgement=verdict)
        case stats.Classification.HIGH | stats.Classification.LOW:
            breach = Breach(Bound.JUDGE, settings.confidence_level, float(base))
            return measured(value, Verdict.FAILED, detail, breach=breach, judgement=verdict)
        case stats.Classification.NODATA | stats.Classification.NODATA_FAIL_METRIC | stats.Classification.ERROR:
            # No per-interval values on one side (or a test that cannot run): never judged on no data.
            return measured(value, Verdict.INCONCLUSIVE, detail, shortfall=Shortfall.NO_DATA, judgement=verdict)
        case unknown:
            assert_never(unknown)


def judged(name: str, settings: Judge, *, canary: Sequence[float], stable: Sequence[float]) -> stats.JudgeVerdict:
    """The statistical judge's verdict on the canary's per-interval values against the stable's. The
    allowed changes are fractions of the stable's mean in the model, Kayenta's mean ratios here."""
    assert settings.direction is not None, "Metric.judge_settings fills the direction in"
    config = stats.JudgeConfig(
        name=name,
        direction=stats.Direction(settings.direction.value),
        confidence_level=settings.confidence_level,
        effect_size_measure=stats.EffectSizeMeasure.MEAN_RATIO,
        allowed_increase=1.0 + settings.increase,
        allowed_decrease=1.0 - settings.decrease,
        nan_strategy=stats.NanStrategy(settings.nan_strategy.value),
        critical=settings.critical,
    )
    return stats.judge(control=stable, experiment=canary, config=config)


def describe_judgement(settings: Judge, verdict: stats.JudgeVerdict) -> str:
    """`mann-whitney High: p 0.0012, mean x1.85 of stable, 98% confidence` (or why it could not judge)."""
    head = f"{settings.test.value} {verdict.classification.value}"
    if verdict.p_value is None:
        return f"{head}: {verdict.reason}" if verdict.reason else head
    ratio = "" if math.isnan(verdict.deviation) else f", mean x{verdict.deviation:.3g} of stable"
    critical = ", critical" if verdict.critical else ""
    return f"{head}: p {verdict.p_value:.2g}{ratio}, {settings.confidence_level * 100:.4g}% confidence{critical}"


def _relative_breach(metric: Metric, value: float, base: float) -> Breach | None:
    """maxIncrease: fail above stable x (1 + maxIncrease); maxDecrease: below stable x (1 - maxDecrease). A
    stable at 0 allows no increase at all (beyond rounding); a canary on the good side never fails."""
    if metric.increase is not None and value > base * (1 + metric.increase) and value - base > 1e-9:
        return Breach(Bound.MAX_INCREASE, metric.increase, float(base))
    if metric.decrease is not None and value < base * (1 - metric.decrease) and base - value > 1e-9:
        return Breach(Bound.MAX_DECREASE, metric.decrease, float(base))
    return None


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

"""Experiments (A/B): per-variant samples -> an `ExperimentReport` -> a `Decision`. Pure: no I/O, no clock.

Where it sits: an experiment (`rollout: {strategy: experiment}`) holds fixed variant weights for its
duration (`rollout/assignment.py` routes a prompt's requests; an endpoint's traffic split does it for an
endpoint). Whoever measures (the engine, or `genaiops experiment report`) reads one `Sample` per variant
over the experiment so far, with `series` (per-interval values) for the metrics that have them, and calls
`experiment_report`; `decision` then says what to do; `views/experiment_report.py` renders both.

How a metric is compared, each treatment against the control:
- rates (`error-rate`, `safety-block-rate`): the difference of the two proportions with Newcombe's hybrid
  score interval (his method 10, from Wilson intervals) and the pooled two-proportion z-test's p-value.
  Mann-Whitney over per-interval rates misjudges sparse events (most intervals 0), counts do not.
  Significant when the interval excludes 0.
- other metrics with per-interval `series` on both sides: the statistical judge (Kayenta's Mann-Whitney
  classifier, `rollout/judge.py`): the Hodges-Lehmann shift (treatment - control), its interval, the
  p-value, and the judge's High/Low/Pass as the verdict.
- without series there is no interval: the metric is "not enough data" (never judged on a point value).
- `request-count` follows the weights; it is shown, not judged (the SRM check uses it).
Better means lower, except for `feedback-score`, and a custom query whose `judge` watches a decrease or
that sets only a `min`. A metric's own `judge` settings (allowedIncrease/allowedDecrease: the smallest
change that matters) apply; its confidence level gives way to the experiment's, one for every interval.

Below `minRequests` on either side every comparison is "not enough data". A sample-ratio mismatch (the
requests per variant do not fit the weights: `assignment.srm`) makes the whole report untrustworthy: no
winner. The suggested winner is a treatment significantly better on at least one metric, not
significantly worse on any, judged on every judged metric (none "not enough data"), and within every
absolute `min`/`max` the metrics set (guardrails); if several qualify, the one better on most metrics.

The decision is never taken before the duration is over (stopping at the first significant look inflates
false winners), except that a sample-ratio mismatch asks a human at once (the data is broken). At the end:
a winner is promoted with `autoPromote`, else a human decides; a control better than every treatment is
kept (like a canary's rollback, whatever `autoPromote`); anything else waits for a human.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import fmean

from controller.model import Metric
from controller.model.analysis import JudgeDirection
from controller.model.common import duration_seconds
from controller.model.endpoint import EndpointSpec
from controller.model.experiment_settings import Experiment
from controller.model.metric_thresholds import HIGHER_IS_BETTER, RATE_METRICS, UNJUDGEABLE
from controller.observed import Sample
from controller.rollout.assignment import SrmResult, srm
from controller.rollout.judge import Classification, Direction, EffectSizeMeasure, JudgeConfig, NanStrategy, judge
from controller.rollout.proportions import Interval, newcombe_interval, two_proportion_p_value
from controller.rollout.verdicts import Bound, Breach, bounds, value_of

PROPORTION_METRICS = RATE_METRICS  # a share of requests: compared as two proportions
INFORMATIONAL = UNJUDGEABLE  # request-count follows the weights: shown, never judged


class Better(StrEnum):
    """Which way of a metric is an improvement."""

    LOWER = "lower"
    HIGHER = "higher"


class Method(StrEnum):
    """How a metric's difference and interval were computed."""

    NEWCOMBE = "newcombe"  # difference of two proportions, Newcombe's hybrid score interval
    MANN_WHITNEY = "mann-whitney"  # the judge: Hodges-Lehmann shift of the per-interval series
    NONE = "none"  # not compared statistically (informational, or no series)


class Outcome(StrEnum):
    """A treatment against the control on one metric."""

    BETTER = "better"
    WORSE = "worse"
    NO_DIFFERENCE = "no-significant-difference"
    NOT_ENOUGH_DATA = "not-enough-data"
    NOT_JUDGED = "not-judged"  # an informational metric (request-count)

    @property
    def significant(self) -> bool:
        """Better or worse: the interval excludes no change."""
        return self in (Outcome.BETTER, Outcome.WORSE)


class Shortfall(StrEnum):
    """Why a comparison is 'not enough data'."""

    TOO_FEW_REQUESTS = "too-few-requests"  # a side served fewer than minRequests
    QUERY_FAILED = "query-failed"  # a side's metric query failed
    NO_DATA = "no-data"  # a side has no value for the metric
    NO_SERIES = "no-series"  # a side has no per-interval values: no interval can be computed
    TEST_FAILED = "test-failed"  # the judge could not compute the test (all observations tied)


class Conclusion(StrEnum):
    """What the report concludes, over every metric and variant."""

    WINNER = "winner"  # one treatment is significantly better and nowhere worse
    CONTROL_BETTER = "control-better"  # every treatment is significantly worse somewhere, better nowhere
    TRADE_OFF = "trade-off"  # better on some metric, worse on another
    GUARDRAIL_BREACHED = "guardrail-breached"  # the would-be winner breaks a metric's absolute min/max
    TIE = "tie"  # several treatments qualify, equally
    NO_SIGNIFICANT_DIFFERENCE = "no-significant-difference"
    NOT_ENOUGH_DATA = "not-enough-data"
    SAMPLE_RATIO_MISMATCH = "sample-ratio-mismatch"  # requests do not fit the weights: untrustworthy


@dataclass(frozen=True)
class Comparison:
    """One treatment against the control on one metric: the difference (treatment - control), its interval,
    the p-value, and the outcome. `classification` is the judge's own label (Mann-Whitney only)."""

    outcome: Outcome
    method: Method
    difference: float | None = None
    interval: Interval | None = None
    p_value: float | None = None
    shortfall: Shortfall | None = None
    classification: Classification | None = None


@dataclass(frozen=True)
class VariantValue:
    """One variant's value of one metric; `comparison` is None for the control. `breach` is the absolute
    threshold (`min`/`max`) of the metric the value breaks, if any."""

    variant: str
    value: float | None
    requests: int
    comparison: Comparison | None = None
    breach: Breach | None = None


@dataclass(frozen=True)
class MetricResult:
    """One metric over every variant, the control first. Latency values are in milliseconds, rates are
    fractions, the rest as measured. `better` is None for an informational metric."""

    metric: str
    better: Better | None
    variants: tuple[VariantValue, ...]

    def of(self, variant: str) -> VariantValue:
        """The value of the named variant."""
        for value in self.variants:
            if value.variant == variant:
                return value
        raise KeyError(variant)


@dataclass(frozen=True)
class ExperimentReport:
    """The whole comparison: every metric, the SRM check, the suggested winner and the conclusion.

    `significant` is True when the report is trustworthy (no sample-ratio mismatch) and some treatment is
    significantly better or worse than the control on some metric."""

    control: str
    variants: tuple[str, ...]  # the control first, then the treatments in the order of the weights
    weights: Mapping[str, float]
    requests: Mapping[str, int]
    metrics: tuple[MetricResult, ...]
    srm: SrmResult
    min_requests: int
    confidence: float
    duration_over: bool
    conclusion: Conclusion
    winner: str | None
    significant: bool

    @property
    def treatments(self) -> tuple[str, ...]:
        """Every variant but the control."""
        return self.variants[1:]

    @property
    def trustworthy(self) -> bool:
        """False when the requests per variant do not fit the weights."""
        return not self.srm.mismatch


class DecisionKind(StrEnum):
    """What to do with an experiment now."""

    PROMOTE = "promote"  # move traffic (or the label) to `Decision.variant`, the winner
    KEEP = "keep"  # end the experiment keeping the control, `Decision.variant`
    WAIT_FOR_HUMAN = "wait-for-human"  # the duration is over (or the data is broken): a human decides
    KEEP_RUNNING = "keep-running"  # the duration is not over


@dataclass(frozen=True)
class Decision:
    """What `decision` chose, and why: the report's conclusion, and whether autoPromote was on."""

    kind: DecisionKind
    conclusion: Conclusion
    variant: str | None = None  # PROMOTE: the winner; KEEP: the control; WAIT_FOR_HUMAN: a suggested winner
    auto_promote: bool = False


@dataclass(frozen=True)
class Variants:
    """An experiment's variants: the control's name and every variant's weight (the control's included)."""

    control: str
    weights: Mapping[str, float]


# --- variants and time ----------------------------------------------------------------------------------


def endpoint_variants(spec: EndpointSpec) -> Variants:
    """An Endpoint experiment's variants: its deployments with traffic, at their traffic, and its control."""
    control = spec.experiment_control
    if control is None:
        raise ValueError("the endpoint's rollout is not an experiment")
    return Variants(control=control, weights={name: float(w) for name, w in spec.variant_weights.items()})


def prompt_variants(*, control: str, treatment: str, settings: Experiment) -> Variants:
    """A Prompt experiment's two variants: the label's current version (`control`) and the new one at
    `weight` percent (names as the caller spells the versions)."""
    if control == treatment:
        raise ValueError(f"control and treatment are the same version {control!r}")
    weight = settings.treatment_weight
    return Variants(control=control, weights={control: float(100 - weight), treatment: float(weight)})


def duration_over(*, started_at: float, now: float, settings: Experiment) -> bool:
    """Whether an experiment that started at `started_at` (epoch seconds) has run its duration by `now`."""
    return now - started_at >= duration_seconds(settings.duration)


# --- one metric -----------------------------------------------------------------------------------------


def better_of(metric: Metric) -> Better | None:
    """Which way the metric improves; None for an informational one. A custom query improves the way its
    judge watches (`direction: increase` fails a rise: lower is better), else downwards unless the metric
    sets only a `min` (a floor to stay above)."""
    if metric.query is None:
        if metric.name in INFORMATIONAL:
            return None
        return Better.HIGHER if metric.name in HIGHER_IS_BETTER else Better.LOWER
    settings = metric.judge_settings
    if settings is not None and settings.direction is JudgeDirection.INCREASE:
        return Better.LOWER
    if settings is not None and settings.direction is JudgeDirection.DECREASE:
        return Better.HIGHER
    only_floor = metric.lower is not None and metric.upper is None and metric.increase is None
    return Better.HIGHER if only_floor else Better.LOWER


def method_of(metric: Metric) -> Method:
    """How the metric is compared: rates as proportions, informational not at all, the rest by the judge."""
    if metric.query is None and metric.name in PROPORTION_METRICS:
        return Method.NEWCOMBE
    if better_of(metric) is None:
        return Method.NONE
    return Method.MANN_WHITNEY


def _value(metric: Metric, sample: Sample) -> float | None:
    value = value_of(metric, sample)
    if value is None and sample.series.get(metric.name):
        value = fmean(sample.series[metric.name])
    return value


def _failed(metric: Metric, sample: Sample) -> bool:
    return sample.error is not None or metric.name in sample.custom_errors


def _outcome(*, higher: bool, better: Better) -> Outcome:
    return Outcome.BETTER if higher == (better is Better.HIGHER) else Outcome.WORSE


def _unjudged(shortfall: Shortfall, method: Method, difference: float | None = None) -> Comparison:
    return Comparison(Outcome.NOT_ENOUGH_DATA, method, difference=difference, shortfall=shortfall)


def _successes(metric: Metric, sample: Sample) -> int | None:
    """A rate metric's count of events: errors, or the rate times the requests (blocked requests)."""
    if metric.name == "error-rate":
        return sample.errors
    rate = sample.values.get(metric.name)
    return None if rate is None else min(sample.requests, max(0, round(rate * sample.requests)))


def _proportions(metric: Metric, *, control: Sample, treatment: Sample, confidence: float) -> Comparison:
    events_c, events_t = _successes(metric, control), _successes(metric, treatment)
    if events_c is None or events_t is None:
        return _unjudged(Shortfall.NO_DATA, Method.NEWCOMBE)
    n_c, n_t = control.requests, treatment.requests
    interval = newcombe_interval(events_t, n_t, events_c, n_c, confidence=confidence)
    better = better_of(metric)
    assert better is not None
    difference = events_t / n_t - events_c / n_c
    outcome = _outcome(higher=interval.lower > 0, better=better) if interval.excludes_zero else Outcome.NO_DIFFERENCE
    return Comparison(
        outcome,
        Method.NEWCOMBE,
        difference=difference,
        interval=interval,
        p_value=two_proportion_p_value(events_t, n_t, events_c, n_c),
    )


_JUDGED = {Classification.HIGH: True, Classification.LOW: False}


def _judge_config(metric: Metric, confidence: float) -> JudgeConfig:
    """The judge both ways at the experiment's confidence; a metric's own judge settings lend their allowed
    changes (fractions of the control's mean in the model, Kayenta's mean ratios here) and NaN strategy."""
    settings = metric.judge_settings
    if settings is None:
        return JudgeConfig(name=metric.name, direction=Direction.EITHER, confidence_level=confidence)
    return JudgeConfig(
        name=metric.name,
        direction=Direction.EITHER,
        confidence_level=confidence,
        effect_size_measure=EffectSizeMeasure.MEAN_RATIO,
        allowed_increase=1.0 + settings.increase,
        allowed_decrease=1.0 - settings.decrease,
        nan_strategy=NanStrategy(settings.nan_strategy.value),
    )


def _shift(metric: Metric, *, control: Sample, treatment: Sample, confidence: float, point: float | None) -> Comparison:
    series_c, series_t = control.series.get(metric.name, ()), treatment.series.get(metric.name, ())
    if not series_c or not series_t:
        return _unjudged(Shortfall.NO_SERIES, Method.MANN_WHITNEY, point)
    verdict = judge(series_c, series_t, _judge_config(metric, confidence))
    label = verdict.classification
    if label in (Classification.NODATA, Classification.NODATA_FAIL_METRIC):
        return _unjudged(Shortfall.NO_SERIES, Method.MANN_WHITNEY, point)
    if label is Classification.ERROR:
        return _unjudged(Shortfall.TEST_FAILED, Method.MANN_WHITNEY, point)
    interval = None
    if verdict.lower is not None and verdict.upper is not None:
        interval = Interval(verdict.lower, verdict.upper, confidence)
    better = better_of(metric)
    assert better is not None
    outcome = _outcome(higher=_JUDGED[label], better=better) if label in _JUDGED else Outcome.NO_DIFFERENCE
    return Comparison(
        outcome,
        Method.MANN_WHITNEY,
        difference=verdict.estimate if verdict.estimate is not None else point,
        interval=interval,
        p_value=verdict.p_value,
        classification=label,
    )


def compare(metric: Metric, *, control: Sample, treatment: Sample, min_requests: int, confidence: float) -> Comparison:
    """One treatment against the control on one metric (see the module docstring for how)."""
    method = method_of(metric)
    value_c, value_t = _value(metric, control), _value(metric, treatment)
    point = None if value_c is None or value_t is None else value_t - value_c
    if method is Method.NONE:
        return Comparison(Outcome.NOT_JUDGED, method, difference=point)
    if _failed(metric, control) or _failed(metric, treatment):
        return _unjudged(Shortfall.QUERY_FAILED, method)
    if min(control.requests, treatment.requests) < max(min_requests, 1):
        return _unjudged(Shortfall.TOO_FEW_REQUESTS, method, point)
    if method is Method.NEWCOMBE:
        return _proportions(metric, control=control, treatment=treatment, confidence=confidence)
    if value_c is None or value_t is None:
        return _unjudged(Shortfall.NO_DATA, method)
    return _shift(metric, control=control, treatment=treatment, confidence=confidence, point=point)


def _breach(metric: Metric, value: float | None) -> Breach | None:
    if value is None:
        return None
    lower, upper = bounds(metric)
    if lower is not None and value < lower:
        return Breach(Bound.MIN, lower)
    if upper is not None and value > upper:
        return Breach(Bound.MAX, upper)
    return None


# --- the report -----------------------------------------------------------------------------------------


def _srm(samples: Mapping[str, Sample], weights: Mapping[str, float]) -> SrmResult:
    """The SRM check on requests per variant; not called (enough_data False) when a variant's query failed,
    since its 0 requests would read as a mismatch."""
    if any(sample.error is not None for sample in samples.values()):
        return SrmResult(chi2=0.0, p_value=1.0, mismatch=False, df=len(weights) - 1, enough_data=False)
    return srm({name: samples[name].requests for name in weights}, weights)


def _conclude(metrics: Sequence[MetricResult], treatments: Sequence[str]) -> tuple[Conclusion, str | None]:
    """The conclusion and the suggested winner over every metric (SRM aside)."""
    better: dict[str, int] = {}
    worse: set[str] = set()
    lacking: set[str] = set()
    breached: set[str] = set()
    for result in metrics:
        for value in result.variants:
            if value.variant not in treatments:
                continue
            outcome = value.comparison.outcome if value.comparison is not None else None
            if outcome is Outcome.BETTER:
                better[value.variant] = better.get(value.variant, 0) + 1
            elif outcome is Outcome.WORSE:
                worse.add(value.variant)
            elif outcome is Outcome.NOT_ENOUGH_DATA:
                lacking.add(value.variant)
            if value.breach is not None:
                breached.add(value.variant)
    qualified = [name for name in treatments if name in better and name not in worse | lacking]
    winners = [name for name in qualified if name not in breached]
    if winners:
        most = max(better[name] for name in winners)
        top = [name for name in winners if better[name] == most]
        return (Conclusion.WINNER, top[0]) if len(top) == 1 else (Conclusion.TIE, None)
    if qualified:
        return Conclusion.GUARDRAIL_BREACHED, None
    if all(name in worse and name not in better for name in treatments):
        return Conclusion.CONTROL_BETTER, None
    if any(name in worse for name in better):
        return Conclusion.TRADE_OFF, None
    if lacking:
        return Conclusion.NOT_ENOUGH_DATA, None
    return Conclusion.NO_SIGNIFICANT_DIFFERENCE, None


def experiment_report(
    *,
    samples: Mapping[str, Sample],
    weights: Mapping[str, float],
    control: str,
    metrics: Sequence[Metric],
    min_requests: int,
    duration_over: bool,
    confidence: float = 0.95,
) -> ExperimentReport:
    """Compare every variant with the control on every metric, check the split, and suggest a winner.

    `samples` holds one Sample per variant over the experiment so far (a variant missing is one with no
    requests); `weights` every variant's weight (any positive scale), the control's included."""
    if control not in weights:
        raise ValueError(f"the control {control!r} has no weight among {sorted(weights)}")
    if len(weights) < 2:
        raise ValueError("an experiment needs at least two variants")
    unknown = set(samples) - set(weights)
    if unknown:
        raise ValueError(f"samples of variants without a weight: {sorted(unknown)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    variants = (control, *(name for name in weights if name != control))
    filled = {name: samples.get(name, Sample()) for name in variants}
    results = tuple(_metric_result(metric, filled, control, min_requests, confidence) for metric in metrics)
    split = _srm(filled, weights)
    if split.mismatch:
        conclusion, winner = Conclusion.SAMPLE_RATIO_MISMATCH, None
    else:
        conclusion, winner = _conclude(results, variants[1:])
    significant = not split.mismatch and any(
        value.comparison is not None and value.comparison.outcome.significant
        for result in results
        for value in result.variants
    )
    return ExperimentReport(
        control=control,
        variants=variants,
        weights=dict(weights),
        requests={name: filled[name].requests for name in variants},
        metrics=results,
        srm=split,
        min_requests=min_requests,
        confidence=confidence,
        duration_over=duration_over,
        conclusion=conclusion,
        winner=winner,
        significant=significant,
    )


def _metric_result(
    metric: Metric, samples: Mapping[str, Sample], control: str, min_requests: int, confidence: float
) -> MetricResult:
    values = []
    for name, sample in samples.items():
        value = _value(metric, sample)
        comparison = None
        if name != control:
            comparison = compare(
                metric, control=samples[control], treatment=sample, min_requests=min_requests, confidence=confidence
            )
        values.append(VariantValue(name, value, sample.requests, comparison, _breach(metric, value)))
    return MetricResult(metric.name, better_of(metric), tuple(values))


def decision(report: ExperimentReport, *, auto_promote: bool) -> Decision:
    """What to do now (see the module docstring): promote, keep the control, wait for a human, or run on."""
    conclusion = report.conclusion
    if conclusion is Conclusion.SAMPLE_RATIO_MISMATCH:
        return Decision(DecisionKind.WAIT_FOR_HUMAN, conclusion, auto_promote=auto_promote)
    if not report.duration_over:
        return Decision(DecisionKind.KEEP_RUNNING, conclusion, report.winner, auto_promote)
    if conclusion is Conclusion.WINNER:
        kind = DecisionKind.PROMOTE if auto_promote else DecisionKind.WAIT_FOR_HUMAN
        return Decision(kind, conclusion, report.winner, auto_promote)
    if conclusion is Conclusion.CONTROL_BETTER:
        return Decision(DecisionKind.KEEP, conclusion, report.control, auto_promote)
    return Decision(DecisionKind.WAIT_FOR_HUMAN, conclusion, auto_promote=auto_promote)

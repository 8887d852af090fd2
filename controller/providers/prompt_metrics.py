"""The prompt canary's metrics provider: implements `PromptMetricsPort` on `monitoring_v3.MetricServiceClient`
over the runtime client's custom metrics (Cloud Monitoring, or the emulator).

Place in the flow: the runtime client's recorder writes CUMULATIVE series `custom.googleapis.com/genaiops/*`
labelled prompt, version, label and model (and outcome) per process (controller/runtime/aggregate.py,
controller/providers/metric_writer.py); the prompt rollout driver asks here what one version served under
one label over an analysis window, and `rollout/verdicts.py` judges the `Sample`. Requests are read like the
usage report reads them (controller/providers/metric_reader.py): ListTimeSeries with ALIGN_DELTA (the
increase of each cumulative series, process restarts handled by the API) and REDUCE_SUM across processes,
filtered on `metric.labels.prompt`, `.label` and `.version`. One call per metric type the analysis needs
(requests always, grouped by outcome; errors, latency, cost, output_tokens, safety_blocks, feedback_score
only for the metrics that use them) and one per custom `query`; never one per series.

What the sample holds:
- `requests`: every request of the version under the label in the window, whatever its outcome (cache hits
  and blocked inputs included); `errors`: the `errors` metric (timeouts, rate limits, model errors);
- `latency_ms`: p50/p95/p99 of the merged latency distribution (every outcome), in ms;
- `values["cost-per-request"]`: cost (USD) / requests; `values["safety-block-rate"]`: safety_blocks
  (blocked inputs and outputs) / requests;
- `values["output-tokens-per-request"]`: output tokens / the requests a model answered (outcomes ok,
  fallback and blocked_output): cache hits, blocked inputs and failed calls produce no output tokens, so
  counting them would make a version look cheaper for answering less often;
- `values["feedback-score"]`: the mean rating of the version's feedback in the window, None without any
  (the verdict is then "no data", never a pass);
- `values["time-to-first-token-p50/p95/p99"]` (ms) and `values["tokens-per-second"]`: the percentile, and
  the mean, of the version's streamed answers' `time_to_first_token` / `output_tokens_per_second`
  distributions (every endpoint and deployed model summed); None without streamed answers;
- `custom`: a custom query's newest value, its filter's `${project}`, `${prompt}`, `${label}` and
  `${version}` filled in (escaped).

Windows follow the endpoint provider (controller/providers/monitoring.py): one alignment period covering
the window (at least `min_alignment_s`, 60 s on Cloud Monitoring), or, when a metric has a `judge`, shorter
periods (`series_window`) whose per-period values fill `Sample.series` for the judged metrics and whose sums
are the totals. A failed query never raises: the requests query's failure is `Sample.error` (nothing can be
judged), another's is `custom_errors` of the metrics that needed it. A metric never written (NOT_FOUND) is
simply no data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from google.cloud import monitoring_v3

from controller.model import Metric
from controller.model.metric_thresholds import LATENCY_METRICS, TTFT_METRICS, distribution_value, percentile_of
from controller.observed import Sample
from controller.providers.metric_reader import list_series, point_value, runtime_filter, series_request
from controller.providers.monitoring import (
    PERCENTILES,
    MonitoringReader,
    QueryWindow,
    covering,
    describe_error,
    mean_series,
    newest_value,
    query_window,
    quote,
    ratio_series,
    series_window,
)
from controller.runtime.aggregate import (
    COST,
    ERRORS,
    FEEDBACK_SCORE,
    INPUT_TOKENS,
    LATENCY,
    OUTPUT_TOKENS,
    REQUESTS,
    SAFETY_BLOCKS,
    TIME_TO_FIRST_TOKEN,
    TOKENS_PER_SECOND,
    Distribution,
    MetricDef,
    merge,
    percentile,
)
from controller.runtime.records import Outcome

__all__ = ["ANSWERED_OUTCOMES", "PROMPT_PLACEHOLDERS", "CloudMonitoringPromptMetrics"]

# Requests a model answered: the denominator of output-tokens-per-request.
ANSWERED_OUTCOMES = frozenset({Outcome.OK.value, Outcome.FALLBACK.value, Outcome.BLOCKED_OUTPUT.value})
# Placeholders a custom query's filter may use to scope itself to the version being judged.
PROMPT_PLACEHOLDERS = ("project", "prompt", "label", "version")
# The runtime metric each built-in analysis metric reads beside `requests`.
_READS: dict[str, MetricDef] = {
    "error-rate": ERRORS,
    **dict.fromkeys(LATENCY_METRICS, LATENCY),
    "cost-per-request": COST,
    "input-tokens-per-request": INPUT_TOKENS,
    "output-tokens-per-request": OUTPUT_TOKENS,
    "safety-block-rate": SAFETY_BLOCKS,
    "feedback-score": FEEDBACK_SCORE,
    **dict.fromkeys(TTFT_METRICS, TIME_TO_FIRST_TOKEN),
    "tokens-per-second": TOKENS_PER_SECOND,
}
_Aligner = monitoring_v3.Aggregation.Aligner
_Reducer = monitoring_v3.Aggregation.Reducer
_API_ERRORS = (gexc.GoogleAPIError, grpc.RpcError, auth_exceptions.GoogleAuthError)


class _QueryError(Exception):
    """A ListTimeSeries call failed; the message is what the sample reports."""


@dataclass(frozen=True)
class _Scope:
    """The prompt version a sample is about."""

    project: str
    prompt: str
    label: str
    version: str

    def filter(self, metric: MetricDef) -> str:
        return runtime_filter(metric, prompt=self.prompt, label=self.label, version=self.version)

    def expand(self, user_filter: str) -> str:
        """A custom filter with `${project}`, `${prompt}`, `${label}`, `${version}` filled in."""
        out = user_filter
        for name in PROMPT_PLACEHOLDERS:
            out = out.replace("${" + name + "}", quote(str(getattr(self, name))))
        return out


@dataclass
class _Periods:
    """One runtime metric read over the window: numbers (or distributions) per alignment period end, and
    for `requests` the counts per outcome too."""

    numbers: dict[float, float] = field(default_factory=dict)
    dists: dict[float, Distribution] = field(default_factory=dict)
    by_outcome: dict[str, dict[float, float]] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return math.fsum(self.numbers.values())

    def merged(self) -> Distribution | None:
        return merge(self.dists[end] for end in sorted(self.dists))

    def answered(self) -> dict[float, float]:
        """Requests a model answered, per period."""
        out: dict[float, float] = dict.fromkeys(self.numbers, 0.0)
        for outcome, periods in self.by_outcome.items():
            if outcome in ANSWERED_OUTCOMES:
                for end, count in periods.items():
                    out[end] = out.get(end, 0.0) + count
        return out


def _periods(series: Iterable[Any], *, by_outcome: bool) -> _Periods:
    out = _Periods()
    for ts in series:
        outcome = ts.metric.labels.get("outcome", "")
        for point in ts.points:
            end = point.interval.end_time.ToNanoseconds() / 1e9
            value = point_value(point)
            if isinstance(value, Distribution):
                before = out.dists.get(end)
                out.dists[end] = value if before is None else merge((before, value)) or value
            elif value is not None:
                out.numbers[end] = out.numbers.get(end, 0.0) + value
                if by_outcome:
                    periods = out.by_outcome.setdefault(outcome, {})
                    periods[end] = periods.get(end, 0.0) + value
    return out


def _per_request(amount: float, requests: float) -> float | None:
    return amount / requests if requests else None


class CloudMonitoringPromptMetrics(MonitoringReader):
    """`PromptMetricsPort` over Cloud Monitoring (or any server speaking `google.monitoring.v3.MetricService`)."""

    def sample_prompt(
        self,
        *,
        prompt: str,
        label: str,
        version: str,
        start: float,
        end: float,
        metrics: Sequence[Metric],
    ) -> Sample:
        """What the requests for `prompt` under `label` that `version` served saw over [start, end] (widened
        to whole alignment periods). Queries only what `metrics` need; `requests` always."""
        if not metrics:
            return Sample()
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            return Sample(error=f"invalid analysis window [{start}, {end}]")
        judged = {m.name for m in metrics if m.judge is not None}
        if judged:
            step = series_window(start, end, min_alignment_s=self.min_alignment_s)
            window = covering(step)
        else:
            window = step = query_window(start, end, min_alignment_s=self.min_alignment_s)
        scope = _Scope(self.project, prompt, label, version)
        try:
            requests = self._read(scope, REQUESTS, step, by_outcome=True)
        except _QueryError as failed:
            return Sample(error=str(failed))
        reads: dict[str, _Periods] = {}
        failures: dict[str, str] = {}
        for needed in dict.fromkeys(_READS[m.name] for m in metrics if m.query is None and m.name in _READS):
            try:
                reads[needed.name] = self._read(scope, needed, step, by_outcome=False)
            except _QueryError as failed:
                failures[needed.name] = str(failed)
        sample = _assemble(metrics, judged, requests, reads, failures)
        custom: dict[str, float | None] = {}
        custom_errors = dict(sample.custom_errors)
        series = dict(sample.series)
        for metric in metrics:
            if metric.query is None:
                continue
            try:  # a broken custom query errors only its own metric
                custom[metric.name] = self._custom(metric, scope, window)
                if metric.name in judged:
                    series[metric.name] = mean_series(self._custom(metric, scope, step, raw=True))
            except _QueryError as failed:
                custom_errors[metric.name] = str(failed)
        return Sample(
            requests=sample.requests,
            errors=sample.errors,
            latency_ms=sample.latency_ms,
            custom=custom,
            custom_errors=custom_errors,
            values=sample.values,
            series=series,
        )

    # ---- queries -----------------------------------------------------------------------------------

    def _read(self, scope: _Scope, metric: MetricDef, window: QueryWindow, *, by_outcome: bool) -> _Periods:
        """One runtime metric of the version over the window, per alignment period (no periods when it was
        never written)."""
        request = series_request(
            project=self.project,
            flt=scope.filter(metric),
            start=window.start,
            end=window.end,
            period_s=window.period_s,
            group_by=("outcome",) if by_outcome else (),
        )
        try:
            series = list_series(self._client, request, timeout_s=self.timeout_s, on_call=self._on_call)
        except gexc.NotFound:
            return _Periods()
        except _API_ERRORS as err:
            raise _QueryError(f"ListTimeSeries {metric.type} failed: {describe_error(err)}") from err
        try:
            return _periods(series, by_outcome=by_outcome)
        except ValueError as err:  # distributions with different bucket layouts
            raise _QueryError(f"{metric.type}: {err}") from err

    def _custom(self, metric: Metric, scope: _Scope, window: QueryWindow, *, raw: bool = False) -> Any:
        """A custom query's newest value over the window, or (`raw`) its aligned series."""
        assert metric.query is not None
        request = series_request(
            project=self.project,
            flt=scope.expand(metric.query.filter),
            start=window.start,
            end=window.end,
            period_s=window.period_s,
            aligner=getattr(_Aligner, metric.query.aligner),
            reducer=getattr(_Reducer, metric.query.reducer),
        )
        try:
            series = list_series(self._client, request, timeout_s=self.timeout_s, on_call=self._on_call)
        except _API_ERRORS as err:
            raise _QueryError(f"ListTimeSeries query of metric {metric.name!r} failed: {describe_error(err)}") from err
        return series if raw else newest_value(series)


def _assemble(
    metrics: Sequence[Metric],
    judged: set[str],
    requests: _Periods,
    reads: dict[str, _Periods],
    failures: dict[str, str],
) -> Sample:
    """The built-in part of a sample from what was read: totals, values, and series of judged metrics."""
    total = requests.total
    values: dict[str, float | None] = {}
    series: dict[str, tuple[float, ...]] = {}
    custom_errors: dict[str, str] = {}
    errors = 0.0
    latency: dict[int, float | None] = {}
    for metric in metrics:
        needed = _READS.get(metric.name) if metric.query is None else None
        if needed is None:
            continue
        if needed.name in failures:
            custom_errors[metric.name] = failures[needed.name]
            continue
        read = reads[needed.name]
        name = metric.name
        if needed is ERRORS:
            errors = read.total
        elif needed is LATENCY:
            merged = read.merged()
            latency = {q: None if merged is None else percentile(merged, q) for q in PERCENTILES}
        elif needed in (FEEDBACK_SCORE, TIME_TO_FIRST_TOKEN, TOKENS_PER_SECOND):
            merged = read.merged()
            values[name] = None if merged is None else _stream_or_mean(name, merged)
        elif needed in (INPUT_TOKENS, OUTPUT_TOKENS):
            values[name] = _per_request(read.total, math.fsum(requests.answered().values()))
        else:  # cost, safety blocks: per request of any outcome
            values[name] = _per_request(read.total, total)
        if name in judged:
            series[name] = _series(name, read, requests)
    return Sample(
        requests=round(total),
        errors=round(errors),
        latency_ms=latency,
        values=values,
        series=series,
        custom_errors=custom_errors,
    )


def _stream_or_mean(name: str, dist: Distribution) -> float | None:
    """A distribution metric's value: the percentile for time-to-first-token-pNN (ms), else the mean
    (feedback-score, tokens-per-second); None when empty."""
    return distribution_value(name, count=dist.count, mean=dist.mean, percentile=lambda q: percentile(dist, q))


def _series(name: str, read: _Periods, requests: _Periods) -> tuple[float, ...]:
    """A judged metric's value in each alignment period, oldest first."""
    if name in LATENCY_METRICS:
        q = percentile_of(name)
        assert q is not None
        values = (percentile(read.dists[end], q) for end in sorted(read.dists))
        return tuple(v for v in values if v is not None)
    if name in ("feedback-score", "tokens-per-second", *TTFT_METRICS):
        values = (_stream_or_mean(name, read.dists[end]) for end in sorted(read.dists))
        return tuple(v for v in values if v is not None)
    if name in ("input-tokens-per-request", "output-tokens-per-request"):
        return ratio_series(read.numbers, requests.answered())
    return ratio_series(read.numbers, requests.numbers)

"""The Cloud Monitoring provider: implements `MetricsPort` on `monitoring_v3.MetricServiceClient`.

Canary analysis (controller/rollout) asks for one deployed model's requests, errors, latency percentiles
and custom query values over a window; this module turns that into ListTimeSeries calls on Vertex AI's
endpoint metrics (resource `aiplatform.googleapis.com/Endpoint`, metric label `deployed_model_id`):

- `prediction_count` (always: every metric is gated on `minRequests`) and `error_count` (for `error-rate`;
  Vertex writes no series until the first error, so a missing series is 0), both ALIGN_DELTA + REDUCE_SUM
  with no grouping, i.e. one total for the window;
- `prediction_latencies` (for `latency-p*`, `latency_type="total"`), ALIGN_DELTA + REDUCE_SUM, i.e. one
  merged distribution whose p50/p95/p99 are computed client-side by `percentile`;
- one call per custom `query` metric with the user's filter, aligner and reducer;
- for the streaming metrics (`time-to-first-token-p*`, `tokens-per-second`), which Vertex AI does not publish
  per deployed model, the runtime client's CUMULATIVE distributions `custom.googleapis.com/genaiops/
  time_to_first_token` / `output_tokens_per_second` filtered on their `endpoint_id` and `deployed_model_id`
  labels (set from the deployed model that answered each streamed request), ALIGN_DELTA + REDUCE_SUM: one
  merged distribution per period; time to first token as its p50/p95/p99 (ms), tokens per second as its
  mean. A metric never written (NOT_FOUND, or no series: no streamed answers) is no value, not an error;
- for `time-to-first-token-p*` with `source: vertex`, what Vertex AI publishes instead: AI AutoMetrics' copy of
  a vLLM serving container's histogram (`VERTEX_TIME_TO_FIRST_TOKEN`, CUMULATIVE DISTRIBUTION in seconds on
  `prometheus_target`, one series per replica) filtered on its `endpoint_id` and `deployed_model_id` labels,
  ALIGN_DELTA + REDUCE_SUM likewise, its percentiles turned into ms; it covers streams from any client, but
  exists only for vLLM containers (no series: no value). `minRequests` still gates on `prediction_count`.

The alignment period is the window rounded up to whole seconds, so each query yields one aligned point that
covers the whole window. Cloud Monitoring rejects periods below 60 s (`min_alignment_s`): a shorter window
is widened backwards to the minimum, i.e. the sample then covers [end - min_alignment_s, end].

A metric with a statistical `judge` also needs its per-interval values (`Sample.series`): then every query
of the sample is aligned on shorter periods (`series_window`: about a tenth of the window, at least
`min_alignment_s`, the window widened backwards to whole periods), the totals are the sums of the periods
(a merged distribution for latency), and the judged metrics' series are the per-period values in time
order: errors/requests for `error-rate` (NaN for a period without requests), the latency percentile of the
period's distribution, and for a custom query its own aligned values (one more call, with the short
period; the mean over its series per period). On Cloud Monitoring a judge needs an analysis interval of
several minutes to have several values per side (ten at 10m).

`sample` is a pure function of its arguments (no state, no cache); it never raises for an API failure but
reports it in `Sample.error` (judged inconclusive), and does not retry (the next measurement is the retry).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.api import distribution_pb2
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports.grpc import MetricServiceGrpcTransport
from google.protobuf import duration_pb2, timestamp_pb2

from controller.model import Metric
from controller.model.metric_names import (  # re-exported: the names live below the planner
    ENDPOINT_RESOURCE,
    ERROR_COUNT,
    PREDICTION_COUNT,
    PREDICTION_LATENCIES,
    PROMETHEUS_RESOURCE,
    TIME_TO_FIRST_TOKEN,
    TOKENS_PER_SECOND,
    VERTEX_TIME_TO_FIRST_TOKEN,
    runtime_metric_type,
)
from controller.model.metric_thresholds import LATENCY_METRICS, TTFT_METRICS, distribution_value, percentile_of
from controller.observed import Sample

PERCENTILES = (50, 95, 99)
# Placeholders a custom query's filter may use to scope itself to the deployed model being judged.
PLACEHOLDERS = ("project", "region", "endpoint_id", "deployed_model_id")
JUDGE_INTERVALS = 10  # aligned periods per window for a judge's per-interval values (fewer at the API minimum)

_Aligner = monitoring_v3.Aggregation.Aligner
_Reducer = monitoring_v3.Aggregation.Reducer
_API_ERRORS = (gexc.GoogleAPIError, grpc.RpcError, auth_exceptions.GoogleAuthError)


class _QueryError(Exception):
    """A ListTimeSeries call failed; the message is what `Sample.error` reports."""


@dataclass(frozen=True)
class QueryWindow:
    """The interval actually queried, and its alignment period (whole seconds)."""

    start: float
    end: float
    period_s: int


def query_window(start: float, end: float, *, min_alignment_s: float) -> QueryWindow:
    """[start, end] with its length rounded up to whole seconds and widened backwards to `min_alignment_s`."""
    length = math.ceil(round(end - start, 6))  # round first: 60.0000000001 s of float noise is still 60 s
    period = max(length, math.ceil(min_alignment_s), 1)
    return QueryWindow(end - period, end, period)


def series_window(start: float, end: float, *, min_alignment_s: float, intervals: int = JUDGE_INTERVALS) -> QueryWindow:
    """[start, end] cut into `intervals` alignment periods of whole seconds for a judge's per-interval values,
    each at least `min_alignment_s` (so fewer periods for a short window); the window is widened backwards to
    whole periods. `period_s` is the length of one period; `covering` gives the whole span as one period."""
    whole = query_window(start, end, min_alignment_s=min_alignment_s)
    step = max(math.ceil(whole.period_s / intervals), math.ceil(min_alignment_s), 1)
    count = math.ceil(whole.period_s / step)
    return QueryWindow(end - count * step, end, step)


def covering(window: QueryWindow) -> QueryWindow:
    """The same span as one alignment period."""
    return QueryWindow(window.start, window.end, round(window.end - window.start))


def by_period(series: Iterable[Any]) -> dict[float, float]:
    """The numeric points of aligned series (raw protobuf) summed per period end (unix seconds)."""
    out: dict[float, float] = {}
    for ts in series:
        for point in ts.points:
            end = point.interval.end_time.ToNanoseconds() / 1e9
            value = point.value.int64_value or point.value.double_value
            out[end] = out.get(end, 0.0) + float(value)
    return out


def ratio_series(numerator: dict[float, float], denominator: dict[float, float]) -> tuple[float, ...]:
    """numerator / denominator per period of the denominator, oldest first (a missing numerator is 0, a
    period whose denominator is 0 is NaN: the judge's nanStrategy decides)."""
    return tuple(
        numerator.get(end, 0.0) / denominator[end] if denominator[end] else math.nan for end in sorted(denominator)
    )


def mean_series(series: Iterable[Any]) -> tuple[float, ...]:
    """A custom query's values per period, oldest first: the mean over its series of each period's point."""
    values: dict[float, list[float]] = {}
    for ts in series:
        for point in ts.points:
            value = point_number(point)
            if value is not None:
                values.setdefault(point.interval.end_time.ToNanoseconds() / 1e9, []).append(value)
    return tuple(math.fsum(v) / len(v) for _, v in sorted(values.items()))


def quote(value: str) -> str:
    """`value` as the inside of a double-quoted filter string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class ModelScope:
    """The deployed model a sample is about."""

    project: str
    region: str
    endpoint_id: str
    deployed_model_id: str

    def vertex_filter(self, metric_type: str, *extra: str) -> str:
        """A ListTimeSeries filter for one Vertex endpoint metric of this deployed model."""
        terms = [
            f'metric.type = "{quote(metric_type)}"',
            f'resource.type = "{ENDPOINT_RESOURCE}"',
            f'resource.labels.location = "{quote(self.region)}"',
            f'resource.labels.endpoint_id = "{quote(self.endpoint_id)}"',
            f'metric.labels.deployed_model_id = "{quote(self.deployed_model_id)}"',
            *extra,
        ]
        return " AND ".join(terms)

    def runtime_filter(self, metric_type: str, *extra: str) -> str:
        """A ListTimeSeries filter for one runtime streaming metric of this deployed model (labelled with the
        endpoint and the deployed model that answered); AutoMetrics' series carry the same two labels."""
        return " AND ".join(
            (
                f'metric.type = "{quote(metric_type)}"',
                *extra,
                f'metric.labels.endpoint_id = "{quote(self.endpoint_id)}"',
                f'metric.labels.deployed_model_id = "{quote(self.deployed_model_id)}"',
            )
        )

    def expand(self, user_filter: str) -> str:
        """A custom filter with `${endpoint_id}`, `${deployed_model_id}`, `${region}`, `${project}` filled in
        (escaped for use inside a quoted string); other text is left alone."""
        out = user_filter
        for name in PLACEHOLDERS:
            out = out.replace("${" + name + "}", quote(str(getattr(self, name))))
        return out


class MonitoringReader:
    """A Cloud Monitoring reader's connection and limits (shared by the endpoint and prompt metrics)."""

    def __init__(
        self,
        *,
        project: str,
        channel: grpc.Channel | None = None,
        min_alignment_s: float = 60,
        timeout_s: float = 30,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        """With `channel`, talk to that server (the emulator); otherwise to monitoring.googleapis.com with
        Application Default Credentials. `min_alignment_s` is the API's smallest alignment period (60 s on
        Cloud Monitoring). `timeout_s` bounds each call; `on_call` is told "ListTimeSeries" for every call
        (each page is a call)."""
        if min_alignment_s <= 0 or timeout_s <= 0:
            raise ValueError("min_alignment_s and timeout_s must be positive")
        self.project = project
        self.min_alignment_s = min_alignment_s
        self.timeout_s = timeout_s
        self._on_call = on_call
        if channel is not None:
            self._client = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
        else:
            self._client = monitoring_v3.MetricServiceClient()


class CloudMonitoringMetrics(MonitoringReader):
    """`MetricsPort` over Cloud Monitoring (or any server speaking `google.monitoring.v3.MetricService`)."""

    def sample(
        self,
        *,
        region: str,
        endpoint_id: str,
        deployed_model_id: str,
        start: float,
        end: float,
        metrics: Sequence[Metric],
    ) -> Sample:
        """What Cloud Monitoring saw for the deployed model over [start, end] (widened to the minimum
        alignment period). Queries only what `metrics` need: `errors` is counted only for `error-rate`,
        latencies only for `latency-p*`; `requests` always (every measurement is gated on it)."""
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
        scope = ModelScope(self.project, region, endpoint_id, deployed_model_id)
        builtin = {m.name for m in metrics if m.query is None and not m.from_vertex}
        from_vertex = {m.name for m in metrics if m.query is None and m.from_vertex}
        series: dict[str, tuple[float, ...]] = {}
        try:
            requests = self._counts(scope, PREDICTION_COUNT, step)
            errors = self._counts(scope, ERROR_COUNT, step) if "error-rate" in builtin else {}
            latency = self._latencies(scope, step) if builtin & set(LATENCY_METRICS) else None
        except _QueryError as failed:
            return Sample(error=str(failed))
        if "error-rate" in judged:
            series["error-rate"] = ratio_series(errors, requests)
        for name in sorted(judged & set(LATENCY_METRICS)):
            assert latency is not None
            q = percentile_of(name)
            assert q is not None
            series[name] = latency.series(q)
        custom: dict[str, float | None] = {}
        custom_errors: dict[str, str] = {}
        values: dict[str, float | None] = {}
        streams = (  # metric type, the metrics it answers, its monitored resource, the factor to the samples' unit
            (runtime_metric_type(TIME_TO_FIRST_TOKEN), builtin & set(TTFT_METRICS), None, 1.0),
            (runtime_metric_type(TOKENS_PER_SECOND), builtin & {"tokens-per-second"}, None, 1.0),
            (VERTEX_TIME_TO_FIRST_TOKEN, from_vertex, PROMETHEUS_RESOURCE, 1000.0),  # vLLM's seconds -> ms
        )
        for metric_type, wanted, resource, factor in streams:
            if not wanted:
                continue
            try:  # a failed streaming query errors only the metrics that read it
                periods = self._stream_periods(scope, metric_type, step, resource=resource, factor=factor)
            except _QueryError as failed:
                custom_errors.update(dict.fromkeys(wanted, str(failed)))
                continue
            values.update(stream_values(wanted, periods))
            for name in sorted(wanted & judged):
                series[name] = stream_series(name, periods)
        for metric in metrics:
            if metric.query is None:
                continue
            try:  # a broken custom query errors only its own metric, not the built-ins beside it
                custom[metric.name] = self._custom(metric, scope, window)
                if metric.name in judged:
                    series[metric.name] = mean_series(self._custom_series(metric, scope, step))
            except _QueryError as failed:
                custom_errors[metric.name] = str(failed)
        return Sample(
            requests=round(math.fsum(requests.values())),
            errors=round(math.fsum(errors.values())),
            latency_ms=latency.percentiles() if latency is not None else {},
            custom=custom,
            custom_errors=custom_errors,
            values=values,
            series=series,
        )

    # ---- queries -----------------------------------------------------------------------------------

    def _counts(self, scope: ModelScope, metric_type: str, window: QueryWindow) -> dict[float, float]:
        """A DELTA count per alignment period of the window (no period when there is no series)."""
        series = self._list(
            scope.vertex_filter(metric_type), window, _Aligner.ALIGN_DELTA, _Reducer.REDUCE_SUM, what=metric_type
        )
        return by_period(series)

    def _latencies(self, scope: ModelScope, window: QueryWindow) -> Latencies:
        """The `total` latency distribution of each alignment period of the window."""
        flt = scope.vertex_filter(PREDICTION_LATENCIES, 'metric.labels.latency_type = "total"')
        series = self._list(flt, window, _Aligner.ALIGN_DELTA, _Reducer.REDUCE_SUM, what=PREDICTION_LATENCIES)
        periods: dict[float, list[Any]] = {}
        for ts in series:
            for p in ts.points:
                if p.value.HasField("distribution_value"):
                    end = p.interval.end_time.ToNanoseconds() / 1e9
                    periods.setdefault(end, []).append(p.value.distribution_value)
        try:
            return Latencies({end: merge_distributions(dists) for end, dists in sorted(periods.items())})
        except ValueError as err:
            raise _QueryError(f"{PREDICTION_LATENCIES}: {err}") from err

    def _stream_periods(
        self, scope: ModelScope, metric_type: str, window: QueryWindow, *, resource: str | None, factor: float
    ) -> dict[float, Any]:
        """One streaming distribution of the deployed model (the runtime's, or AutoMetrics' on `resource`
        `prometheus_target`), merged per alignment period and scaled by `factor` (no periods when it was
        never written)."""
        extra = (f'resource.type = "{resource}"',) if resource else ()
        series = self._list(
            scope.runtime_filter(metric_type, *extra),
            window,
            _Aligner.ALIGN_DELTA,
            _Reducer.REDUCE_SUM,
            what=metric_type,
            missing_ok=True,
        )
        periods: dict[float, list[Any]] = {}
        for ts in series:
            for p in ts.points:
                if p.value.HasField("distribution_value"):
                    periods.setdefault(p.interval.end_time.ToNanoseconds() / 1e9, []).append(p.value.distribution_value)
        try:
            merged = {end: merge_distributions(dists) for end, dists in sorted(periods.items())}
        except ValueError as err:
            raise _QueryError(f"{metric_type}: {err}") from err
        return merged if factor == 1.0 else {end: scaled(d, factor) for end, d in merged.items()}

    def _custom_series(self, metric: Metric, scope: ModelScope, window: QueryWindow) -> list[Any]:
        """A custom query aligned on the window's (short) periods, for its judge."""
        assert metric.query is not None
        aligner, reducer = getattr(_Aligner, metric.query.aligner), getattr(_Reducer, metric.query.reducer)
        what = f"query of metric {metric.name!r}"
        return self._list(scope.expand(metric.query.filter), window, aligner, reducer, what=what)

    def _custom(self, metric: Metric, scope: ModelScope, window: QueryWindow) -> float | None:
        """The newest point's value of a custom query (None when it returns no point)."""
        query = metric.query
        if query is None:
            return None
        series = self._list(
            scope.expand(query.filter),
            window,
            getattr(_Aligner, query.aligner),
            getattr(_Reducer, query.reducer),
            what=f"query of metric {metric.name!r}",
        )
        return newest_value(series)

    def _list(
        self, flt: str, window: QueryWindow, aligner: Any, reducer: Any, *, what: str, missing_ok: bool = False
    ) -> list[Any]:
        """Every series (raw protobuf `TimeSeries`) of one aligned query, all pages (none for a metric never
        written when `missing_ok`)."""
        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{self.project}",
            filter=flt,
            interval=monitoring_v3.TimeInterval(start_time=_timestamp(window.start), end_time=_timestamp(window.end)),
            aggregation=monitoring_v3.Aggregation(
                alignment_period=duration_pb2.Duration(seconds=window.period_s),
                per_series_aligner=aligner,
                cross_series_reducer=reducer,
            ),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        )
        series: list[Any] = []
        try:
            self._count()
            pager = self._client.list_time_series(request=request, retry=None, timeout=self.timeout_s)
            for i, page in enumerate(pager.pages):
                if i:
                    self._count()
                series.extend(monitoring_v3.ListTimeSeriesResponse.pb(page).time_series)
        except _API_ERRORS as err:
            if missing_ok and isinstance(err, gexc.NotFound):
                return []
            raise _QueryError(f"ListTimeSeries {what} failed: {describe_error(err)}") from err
        return series

    def _count(self) -> None:
        if self._on_call is not None:
            self._on_call("ListTimeSeries")


@dataclass(frozen=True)
class Latencies:
    """A latency distribution (raw `google.api.Distribution`, in ms) per alignment period, oldest first."""

    periods: dict[float, Any]

    def percentiles(self) -> dict[int, float | None]:
        """p50/p95/p99 of all the periods merged; None each without requests."""
        merged = merge_distributions(list(self.periods.values()))
        return {q: percentile(merged, q) for q in PERCENTILES}

    def series(self, q: int) -> tuple[float, ...]:
        """The q-th percentile of each period holding requests, oldest first."""
        values = (percentile(d, q) for _, d in sorted(self.periods.items()))
        return tuple(v for v in values if v is not None)


def stream_value(name: str, distribution: Any) -> float | None:
    """A streaming metric's value in a (raw) distribution: `time-to-first-token-pNN` its NN-th percentile
    (ms), `tokens-per-second` its mean; None when empty."""
    pb = _raw(distribution)
    return distribution_value(
        name, count=pb.count, mean=float(pb.mean), percentile=lambda q: percentile(distribution, q)
    )


def stream_values(names: Iterable[str], periods: dict[float, Any]) -> dict[str, float | None]:
    """The streaming metrics' values over every period merged (None each without streamed answers)."""
    merged = merge_distributions(list(periods.values()))
    return {name: stream_value(name, merged) for name in names}


def stream_series(name: str, periods: dict[float, Any]) -> tuple[float, ...]:
    """A streaming metric's value in each period with streamed answers, oldest first (for a judge)."""
    values = (stream_value(name, d) for _, d in sorted(periods.items()))
    return tuple(v for v in values if v is not None)


def scaled(distribution: Any, factor: float) -> Any:
    """A copy of a (raw) distribution with its values multiplied by `factor` > 0 (seconds -> ms): the bucket
    bounds, mean, range and squared deviation; the counts stay."""
    out = distribution_pb2.Distribution()
    out.CopyFrom(_raw(distribution))
    out.mean *= factor
    out.sum_of_squared_deviation *= factor * factor
    if out.HasField("range"):
        out.range.min *= factor
        out.range.max *= factor
    options = out.bucket_options
    kind = options.WhichOneof("options")
    if kind == "linear_buckets":
        options.linear_buckets.offset *= factor
        options.linear_buckets.width *= factor
    elif kind == "exponential_buckets":
        options.exponential_buckets.scale *= factor
    elif kind == "explicit_buckets":
        bounds = [b * factor for b in options.explicit_buckets.bounds]
        del options.explicit_buckets.bounds[:]
        options.explicit_buckets.bounds.extend(bounds)
    return out


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def describe_error(err: BaseException) -> str:
    """`UNAVAILABLE: message` for an API error."""
    if isinstance(err, gexc.GoogleAPICallError):
        code = err.grpc_status_code.name if err.grpc_status_code is not None else str(err.code)
        return f"{code}: {err.message}"
    return f"{type(err).__name__}: {err}"


def newest_value(series: Iterable[Any]) -> float | None:
    """The value of the newest point over all series (the first series wins a tie); None without points.
    Numbers as they are, BOOL as 0/1, a distribution as its mean; a STRING point has no value."""
    best: Any = None
    best_end = -math.inf
    for ts in series:
        for point in ts.points:
            end = point.interval.end_time.ToNanoseconds() / 1e9
            if end > best_end:
                best, best_end = point, end
    return None if best is None else point_number(best)


def point_number(point: Any) -> float | None:
    """A point's value as a number: numbers as they are, BOOL as 0/1, a distribution as its mean (None when
    empty); a STRING point has none."""
    value = point.value
    which = value.WhichOneof("value")
    if which == "double_value":
        return float(value.double_value)
    if which == "int64_value":
        return float(value.int64_value)
    if which == "bool_value":
        return 1.0 if value.bool_value else 0.0
    if which == "distribution_value":
        return float(value.distribution_value.mean) if value.distribution_value.count else None
    return None


# ---- distributions ---------------------------------------------------------------------------------


def _raw(distribution: Any) -> Any:
    """The protobuf message under a proto-plus wrapper (or the message itself)."""
    return type(distribution).pb(distribution) if hasattr(type(distribution), "pb") else distribution


def merge_distributions(dists: Sequence[Any]) -> Any:
    """One `google.api.Distribution` holding every sample of `dists`, which must share bucket options;
    an empty distribution when there is none. Raises ValueError for differing bucket layouts."""
    if len(dists) == 1:
        return _raw(dists[0])
    out = distribution_pb2.Distribution()
    if not dists:
        return out
    raws = [_raw(d) for d in dists]
    out.bucket_options.CopyFrom(raws[0].bucket_options)
    counts: list[int] = []
    for d in raws:
        if d.bucket_options != out.bucket_options:
            raise ValueError("cannot merge distributions with different bucket options")
        counts.extend([0] * (len(d.bucket_counts) - len(counts)))
        for i, c in enumerate(d.bucket_counts):
            counts[i] += c
        total = out.count + d.count
        if d.count:
            delta = d.mean - out.mean
            out.sum_of_squared_deviation += d.sum_of_squared_deviation + delta * delta * out.count * d.count / total
            out.mean += delta * d.count / total
        out.count = total
    out.bucket_counts.extend(counts)
    return out


def bucket_bounds(distribution: Any, i: int) -> tuple[float, float]:
    """[lower, upper) of bucket `i` (0 is the underflow bucket, the last the overflow bucket; an index past
    the last is the overflow bucket too) for linear, exponential or explicit bucket options."""
    options = _raw(distribution).bucket_options
    kind = options.WhichOneof("options")
    if kind == "linear_buckets":
        lin = options.linear_buckets
        n = lin.num_finite_buckets
        return _edges(i, n, lambda k: lin.offset + lin.width * k)
    if kind == "exponential_buckets":
        exp = options.exponential_buckets
        n = exp.num_finite_buckets
        return _edges(i, n, lambda k: exp.scale * exp.growth_factor**k)
    if kind == "explicit_buckets":
        bounds = list(options.explicit_buckets.bounds)
        if not bounds:
            return (-math.inf, math.inf)
        return _edges(i, len(bounds) - 1, lambda k: bounds[k])
    return (-math.inf, math.inf)


def _edges(i: int, finite: int, bound: Callable[[int], float]) -> tuple[float, float]:
    """Bucket `i` of a layout with `finite` finite buckets whose k-th boundary (k = 0..finite) is bound(k)."""
    if i <= 0:
        return (-math.inf, bound(0))
    if i > finite:
        return (bound(finite), math.inf)
    return (bound(i - 1), bound(i))


def percentile(distribution: Any, q: float) -> float | None:
    """The `q`-th percentile (0..100) of a `google.api.Distribution` (raw or proto-plus), like Cloud
    Monitoring: find the bucket holding the rank q% * count in the cumulative bucket counts and interpolate
    linearly inside it. None for an empty distribution.

    A bucket is narrowed to the distribution's `range` when it has one; otherwise the underflow bucket is taken to
    start at 0 (latencies and sizes are non-negative; if its upper edge is not positive, that edge is the
    answer) and a rank in the overflow bucket gives its lower edge (a lower bound of the truth). Missing
    trailing bucket counts are zeros. Without buckets at all (only count and mean), the mean.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    pb = _raw(distribution)
    counts = list(pb.bucket_counts)
    total = sum(counts)
    if total <= 0:
        return float(pb.mean) if pb.count > 0 and not counts else None
    rank = q / 100.0 * total
    seen = 0
    for index, c in enumerate(counts):
        if c > 0 and seen + c >= rank:
            return _interpolate(pb, index, max(0.0, rank - seen) / c)
        seen += c
    return None  # not reached: the last non-empty bucket always holds rank <= total


def _interpolate(pb: Any, index: int, fraction: float) -> float:
    """The point `fraction` (0..1) of the way through bucket `index`, open ends handled as `percentile` says."""
    low, high = bucket_bounds(pb, index)
    if pb.HasField("range"):
        low, high = max(low, pb.range.min), min(high, pb.range.max)
    if math.isinf(low) and math.isinf(high):
        return float(pb.mean)
    if math.isinf(high):
        return low
    if math.isinf(low):
        if high <= 0:
            return high
        low = 0.0
    return low + (high - low) * fraction

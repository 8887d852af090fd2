"""Reads genaiops' runtime metrics back from Cloud Monitoring (or the emulator) for `genaiops usage`.

Place in the flow: the runtime's recorder wrote CUMULATIVE series per process (controller/providers/
metric_writer.py); `read_totals` asks ListTimeSeries, once per metric, for the increase of every series over
the window (ALIGN_DELTA with one alignment period covering the window, so process restarts and many
replicas are handled by the API) summed across processes (REDUCE_SUM grouped by the metric's allow-listed
labels), and returns plain `SeriesTotal` values; `controller.runtime.usage` groups them into report rows.

A metric that was never written (NOT_FOUND) simply has no rows. Other API errors raise `controller.errors`
errors (the CLI prints them).

The building blocks (`runtime_filter`, `series_request`, `list_series`, `point_value`, `distribution_of`)
are shared with the prompt canary analysis (controller/providers/prompt_metrics.py), which reads the same
metrics for one prompt version.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports.grpc import MetricServiceGrpcTransport
from google.protobuf import duration_pb2, timestamp_pb2

from controller.errors import TransientError
from controller.providers.google_errors import translate
from controller.providers.monitoring import quote
from controller.runtime.aggregate import (
    METRICS,
    Buckets,
    Distribution,
    Exponential,
    Linear,
    MetricDef,
    ValueType,
    merge,
)
from controller.runtime.usage import SeriesTotal

__all__ = [
    "CloudMonitoringUsage",
    "distribution_of",
    "list_series",
    "point_value",
    "runtime_filter",
    "series_request",
]

_Aligner = monitoring_v3.Aggregation.Aligner
_Reducer = monitoring_v3.Aggregation.Reducer


def distribution_of(pb: Any) -> Distribution | None:
    """A `Distribution` value from a `google.api.Distribution` message; None for a layout genaiops does
    not write (explicit buckets) or none."""
    options = pb.bucket_options
    kind = options.WhichOneof("options")
    layout: Buckets
    if kind == "exponential_buckets":
        e = options.exponential_buckets
        layout = Exponential(e.num_finite_buckets, e.growth_factor, e.scale)
    elif kind == "linear_buckets":
        lin = options.linear_buckets
        layout = Linear(lin.num_finite_buckets, lin.width, lin.offset)
    else:
        return None
    return Distribution(
        layout, int(pb.count), float(pb.mean), float(pb.sum_of_squared_deviation), tuple(pb.bucket_counts)
    )


def point_value(point: Any) -> float | Distribution | None:
    """One point's value (raw protobuf `Point`): a number, a `Distribution`, or None (other kinds)."""
    which = point.value.WhichOneof("value")
    if which == "int64_value":
        return float(point.value.int64_value)
    if which == "double_value":
        return float(point.value.double_value)
    if which == "distribution_value":
        return distribution_of(point.value.distribution_value)
    return None


def runtime_filter(metric: MetricDef, **labels: str) -> str:
    """A ListTimeSeries filter for one runtime metric, narrowed to the given metric label values."""
    terms = [f'metric.type = "{metric.type}"']
    terms.extend(f'metric.labels.{key} = "{quote(value)}"' for key, value in labels.items())
    return " AND ".join(terms)


def series_request(
    *,
    project: str,
    flt: str,
    start: float,
    end: float,
    period_s: int,
    group_by: Sequence[str] = (),
    aligner: Any = _Aligner.ALIGN_DELTA,
    reducer: Any = _Reducer.REDUCE_SUM,
) -> monitoring_v3.ListTimeSeriesRequest:
    """An aligned ListTimeSeries request: by default each series' increase per `period_s` (ALIGN_DELTA)
    summed across the series that share the `group_by` metric labels (REDUCE_SUM)."""
    return monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{project}",
        filter=flt,
        interval=monitoring_v3.TimeInterval(start_time=_timestamp(start), end_time=_timestamp(end)),
        aggregation=monitoring_v3.Aggregation(
            alignment_period=duration_pb2.Duration(seconds=period_s),
            per_series_aligner=aligner,
            cross_series_reducer=reducer,
            group_by_fields=[f"metric.label.{k}" for k in group_by],
        ),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    )


def list_series(
    client: monitoring_v3.MetricServiceClient,
    request: monitoring_v3.ListTimeSeriesRequest,
    *,
    timeout_s: float,
    on_call: Callable[[str], None] | None = None,
) -> list[Any]:
    """Every series (raw protobuf `TimeSeries`) the request returns, all pages; `on_call` is told
    "ListTimeSeries" for each page (each is a call). API errors are raised as the client raised them."""
    if on_call is not None:
        on_call("ListTimeSeries")
    pager = client.list_time_series(request=request, retry=None, timeout=timeout_s)
    series: list[Any] = []
    for i, page in enumerate(pager.pages):
        if i and on_call is not None:
            on_call("ListTimeSeries")
        series.extend(monitoring_v3.ListTimeSeriesResponse.pb(page).time_series)
    return series


class CloudMonitoringUsage:
    """Totals of genaiops' runtime metrics over a window."""

    def __init__(
        self,
        *,
        project: str,
        channel: grpc.Channel | None = None,
        timeout_s: float = 30.0,
        min_alignment_s: float = 60.0,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        """With `channel`, talk to that server (the emulator); otherwise to monitoring.googleapis.com with
        Application Default Credentials. `min_alignment_s` is the API's smallest alignment period."""
        self.project = project
        self.timeout_s = timeout_s
        self.min_alignment_s = min_alignment_s
        self._on_call = on_call
        if channel is not None:
            self._client = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
        else:
            self._client = monitoring_v3.MetricServiceClient()

    def read_totals(self, *, start: float, end: float) -> list[SeriesTotal]:
        """The increase over [start, end] of every genaiops metric, per allow-listed label set."""
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise ValueError(f"invalid window [{start}, {end}]")
        period = max(math.ceil(round(end - start, 6)), math.ceil(self.min_alignment_s), 1)
        out: list[SeriesTotal] = []
        for metric in METRICS:
            out.extend(self._read(metric, end - period, end, period))
        return out

    def _read(self, metric: MetricDef, start: float, end: float, period: int) -> list[SeriesTotal]:
        request = series_request(
            project=self.project,
            flt=runtime_filter(metric),
            start=start,
            end=end,
            period_s=period,
            group_by=metric.labels,
        )
        try:
            series = list_series(self._client, request, timeout_s=self.timeout_s, on_call=self._on_call)
        except gexc.NotFound:
            return []
        except gexc.GoogleAPIError as err:
            raise translate(err, what=f"ListTimeSeries {metric.type}") from err
        except grpc.RpcError as err:
            raise TransientError(f"ListTimeSeries {metric.type}: {err}") from err
        return [total for ts in series if (total := _total(metric, ts)) is not None]


def _total(metric: MetricDef, ts: Any) -> SeriesTotal | None:
    """All points of one reduced series summed into one value (one point when the window is one period)."""
    labels = {k: ts.metric.labels.get(k, "") for k in metric.labels}
    values = [point_value(p) for p in ts.points]
    if metric.value_type is ValueType.DISTRIBUTION:
        merged = merge(v for v in values if isinstance(v, Distribution))
        return SeriesTotal(metric.name, labels, merged) if merged is not None else None
    return SeriesTotal(metric.name, labels, math.fsum(v for v in values if isinstance(v, float)))


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts

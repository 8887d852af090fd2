"""Reads genaiops' runtime metrics back from Cloud Monitoring (or the emulator) for `genaiops usage`.

Place in the flow: the runtime's recorder wrote CUMULATIVE series per process (controller/providers/
metric_writer.py); `read_totals` asks ListTimeSeries, once per metric, for the increase of every series over
the window (ALIGN_DELTA with one alignment period covering the window, so process restarts and many
replicas are handled by the API) summed across processes (REDUCE_SUM grouped by the metric's allow-listed
labels), and returns plain `SeriesTotal` values; `controller.runtime.usage` groups them into report rows.

A metric that was never written (NOT_FOUND) simply has no rows. Other API errors raise `controller.errors`
errors (the CLI prints them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports.grpc import MetricServiceGrpcTransport
from google.protobuf import duration_pb2, timestamp_pb2

from controller.errors import TransientError
from controller.providers.google_errors import translate
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

__all__ = ["CloudMonitoringUsage", "distribution_of"]

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
        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{self.project}",
            filter=f'metric.type = "{metric.type}"',
            interval=monitoring_v3.TimeInterval(start_time=_timestamp(start), end_time=_timestamp(end)),
            aggregation=monitoring_v3.Aggregation(
                alignment_period=duration_pb2.Duration(seconds=period),
                per_series_aligner=_Aligner.ALIGN_DELTA,
                cross_series_reducer=_Reducer.REDUCE_SUM,
                group_by_fields=[f"metric.label.{k}" for k in metric.labels],
            ),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        )
        rows: list[SeriesTotal] = []
        try:
            if self._on_call is not None:
                self._on_call("ListTimeSeries")
            pager = self._client.list_time_series(request=request, retry=None, timeout=self.timeout_s)
            for page in pager.pages:
                for ts in monitoring_v3.ListTimeSeriesResponse.pb(page).time_series:
                    total = _total(metric, ts)
                    if total is not None:
                        rows.append(total)
        except gexc.NotFound:
            return []
        except gexc.GoogleAPIError as err:
            raise translate(err, what=f"ListTimeSeries {metric.type}") from err
        except grpc.RpcError as err:
            raise TransientError(f"ListTimeSeries {metric.type}: {err}") from err
        return rows


def _total(metric: MetricDef, ts: Any) -> SeriesTotal | None:
    """All points of one reduced series summed into one value (one point when the window is one period)."""
    labels = {k: ts.metric.labels.get(k, "") for k in metric.labels}
    if metric.value_type is ValueType.DISTRIBUTION:
        dists = [d for p in ts.points if (d := distribution_of(p.value.distribution_value)) is not None]
        merged = merge(dists)
        return SeriesTotal(metric.name, labels, merged) if merged is not None else None
    value = 0.0
    for p in ts.points:
        which = p.value.WhichOneof("value")
        value += float(p.value.int64_value if which == "int64_value" else p.value.double_value)
    return SeriesTotal(metric.name, labels, value)


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts

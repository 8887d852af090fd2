"""What the emulated Cloud Monitoring accepts from users: CreateMetricDescriptor and CreateTimeSeries checks.

Part of the local emulator (controller/emulator): `metrics.py` keeps the series and calls these pure checks.
The rules are Cloud Monitoring's (see /work/shared/notes/genai-api-facts.md §1):

- user-defined metric types only (`custom.googleapis.com/`, `external.googleapis.com/`); kinds and value
  types GAUGE {BOOL, INT64, DOUBLE, DISTRIBUTION} and CUMULATIVE {INT64, DOUBLE, DISTRIBUTION} (DELTA and
  STRING are refused for user-defined metrics);
- a request writes 1 to 200 time series, exactly one point each, each series at most once;
- a GAUGE point's start time, if given, equals its end time; a CUMULATIVE point has start < end;
- the end time is at most 25 hours old and at most 5 minutes ahead;
- a point's end time is later than the last point's of its series (a GAUGE point's may not equal it), and a
  CUMULATIVE start time is not older than the last point's ("Points must be written in order..."), and
  points of one series are at least the minimum spacing apart (10 s documented; an emulator option);
- the series' kind and value type match the metric's descriptor, and a descriptor created with
  CreateMetricDescriptor fixes the label keys (auto-created ones, from a first write, gain new keys);
- label keys at most 100 characters, values at most 1024; distributions as `metrics_values.dist_from_pb`.

A write with bad series still writes the good ones (partial success): the call then fails with
INVALID_ARGUMENT "One or more TimeSeries could not be written: <why>: timeSeries[i]; ..." carrying a
`CreateTimeSeriesSummary` (total, successful and failed point counts) in the status details.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import grpc
from google.cloud import monitoring_v3

from controller.emulator.api import ApiError
from controller.emulator.metrics_descriptors import MetricInfo
from controller.emulator.metrics_query import (
    BOOL,
    CUMULATIVE,
    DELTA,
    DISTRIBUTION,
    DOUBLE,
    GAUGE,
    INT64,
    KIND_NAMES,
    STRING,
    TYPE_NAMES,
    RawPoint,
    SeriesKey,
)
from controller.emulator.metrics_values import Value, dist_from_pb

WRITABLE_PREFIXES = ("custom.googleapis.com/", "external.googleapis.com/")
MAX_SERIES_PER_REQUEST = 200
MAX_LABELS = 30
MAX_LABEL_KEY = 100
MAX_LABEL_VALUE = 1024
MAX_PAST_S = 25 * 3600
MAX_FUTURE_S = 5 * 60
_ALLOWED = {GAUGE: frozenset({BOOL, INT64, DOUBLE, DISTRIBUTION}), CUMULATIVE: frozenset({INT64, DOUBLE, DISTRIBUTION})}
_VALUE_FIELDS = {
    "bool_value": BOOL,
    "int64_value": INT64,
    "double_value": DOUBLE,
    "string_value": STRING,
    "distribution_value": DISTRIBUTION,
}
_LABEL_KEY = re.compile(r"[a-z][a-zA-Z0-9_]*")
OUT_OF_ORDER = (
    "Points must be written in order. One or more of the points specified had an older start time than the most "
    "recent point."
)


class RefusedError(Exception):
    """One time series the API would not write, and why."""

    def __init__(self, reason: str, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def _invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _seconds(ts: Any) -> float:
    return float(ts.seconds) + float(ts.nanos) / 1e9


def _stamp(seconds: float) -> str:
    """A time as the API's sampling-period error prints it: 2019/06/21-12:29:46.439."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y/%m/%d-%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _combination(kind: int, value_type: int, metric_type: str) -> str | None:
    """Why this kind and value type cannot be a user-defined metric, or None when they can."""
    if kind == DELTA:
        return f"DELTA metrics are not allowed for user-defined metric types such as {metric_type}."
    if value_type == STRING:
        return f"STRING values are not allowed for user-defined metric types such as {metric_type}."
    if value_type not in _ALLOWED.get(kind, frozenset()):
        return (
            f"The metric kind {KIND_NAMES.get(kind, kind)} with value type {TYPE_NAMES.get(value_type, value_type)} "
            f"is not supported for {metric_type}."
        )
    return None


def _check_labels(labels: Any, what: str) -> None:
    for key, value in labels.items():
        if len(key) > MAX_LABEL_KEY:
            raise RefusedError(f"The {what} label key {key[:40]!r}... is longer than {MAX_LABEL_KEY} characters.")
        if len(value) > MAX_LABEL_VALUE:
            raise RefusedError(f"The value of the {what} label {key!r} is longer than {MAX_LABEL_VALUE} characters.")


# ---- CreateMetricDescriptor -------------------------------------------------------------------------


def descriptor_from_request(descriptor: Any, existing: MetricInfo | None) -> MetricInfo:
    """The descriptor to keep for a CreateMetricDescriptor request (a raw `google.api.MetricDescriptor`).

    The same descriptor again is a no-op; new labels are added to an existing descriptor (labels are never
    removed); another kind or value type for an existing type is refused."""
    metric_type = descriptor.type
    if not metric_type.startswith(WRITABLE_PREFIXES):
        raise _invalid(
            f"Field metricDescriptor.type had an invalid value of {metric_type!r}: user-defined metric types must "
            f"start with one of {', '.join(WRITABLE_PREFIXES)}"
        )
    if not descriptor.metric_kind or not descriptor.value_type:
        raise _invalid("Field metricDescriptor had an invalid value: the metric kind and value type are required.")
    why = _combination(descriptor.metric_kind, descriptor.value_type, metric_type)
    if why is not None:
        raise _invalid(f"Field metricDescriptor had an invalid value: {why}")
    labels = {label.key: label.description for label in descriptor.labels}
    for key in labels:
        if len(key) > MAX_LABEL_KEY or not _LABEL_KEY.fullmatch(key):
            raise _invalid(
                f"Field metricDescriptor.labels had an invalid value of {key!r}: a label key starts with a lowercase "
                f"letter, holds letters, digits and underscores, and has at most {MAX_LABEL_KEY} characters."
            )
    if existing is not None:
        if (existing.kind, existing.value_type) != (descriptor.metric_kind, descriptor.value_type):
            raise _invalid(
                f"Metric descriptor {metric_type} already exists as {KIND_NAMES.get(existing.kind)} "
                f"{TYPE_NAMES.get(existing.value_type)}; its metric kind and value type cannot be changed "
                "(delete it first)."
            )
        labels = {**labels, **dict(existing.labels)}
    if len(labels) > MAX_LABELS:
        raise _invalid(f"Field metricDescriptor.labels had an invalid value: at most {MAX_LABELS} labels.")
    return MetricInfo(
        metric_type,
        descriptor.metric_kind,
        descriptor.value_type,
        descriptor.unit or (existing.unit if existing else ""),
        descriptor.display_name or (existing.display_name if existing else metric_type),
        descriptor.description or (existing.description if existing else ""),
        tuple(sorted(labels.items())),
        tuple(descriptor.monitored_resource_types),
        explicit=True,
    )


# ---- CreateTimeSeries -------------------------------------------------------------------------------


def check_request_size(count: int) -> None:
    """The whole request is refused unless it holds 1 to 200 time series."""
    if count == 0:
        raise _invalid("Field timeSeries had an invalid value: at least one TimeSeries is required.")
    if count > MAX_SERIES_PER_REQUEST:
        raise _invalid(
            f"Field timeSeries had an invalid value: at most {MAX_SERIES_PER_REQUEST} TimeSeries can be written "
            f"in one request, got {count}."
        )


@dataclass(frozen=True)
class Write:
    """One time series of a request that passed the checks needing no stored state."""

    key: SeriesKey
    kind: int  # 0 when the request left it to the descriptor
    value_type: int
    start: float | None
    end: float
    value: Value
    unit: str


def parse_write(project: str, ts: Any, *, now: float) -> Write:
    """Check one raw `TimeSeries` on its own; raises `RefusedError`."""
    metric_type = ts.metric.type
    if not metric_type.startswith(WRITABLE_PREFIXES):
        raise RefusedError(
            f"The metric type {metric_type!r} is not a user-defined metric: only types under "
            f"{', '.join(WRITABLE_PREFIXES)} can be written."
        )
    if not ts.resource.type:
        raise RefusedError("A monitored resource type is required.")
    _check_labels(ts.metric.labels, "metric")
    _check_labels(ts.resource.labels, "resource")
    if len(ts.points) != 1:
        raise RefusedError(f"Exactly one point must be written per TimeSeries, got {len(ts.points)}.")
    point = ts.points[0]
    which = point.value.WhichOneof("value")
    if which is None:
        raise RefusedError("The point has no value.")
    value_type = _VALUE_FIELDS[which]
    if ts.value_type and ts.value_type != value_type:
        raise RefusedError(
            f"The value type {TYPE_NAMES.get(ts.value_type)} of the TimeSeries does not match its point's "
            f"{TYPE_NAMES.get(value_type)} value."
        )
    why = _combination(ts.metric_kind or GAUGE, value_type, metric_type)
    if why is not None:
        raise RefusedError(why)
    if not point.interval.HasField("end_time"):
        raise RefusedError("The point's interval must have an end time.")
    end = _seconds(point.interval.end_time)
    start = _seconds(point.interval.start_time) if point.interval.HasField("start_time") else None
    if start is not None and start > end:
        raise RefusedError("The start time of the point's interval must not be later than its end time.")
    if not now - MAX_PAST_S <= end <= now + MAX_FUTURE_S:
        raise RefusedError(
            f"The point's end time {_stamp(end)} is more than 25 hours in the past or more than 5 minutes in the "
            "future."
        )
    value: Value
    if which == "distribution_value":
        try:
            value = dist_from_pb(point.value.distribution_value)
        except ValueError as err:
            raise RefusedError(f"Invalid distribution value: {err}.") from None
    else:
        value = getattr(point.value, which)
    key = SeriesKey(
        project,
        metric_type,
        ts.resource.type,
        tuple(sorted(ts.resource.labels.items())),
        tuple(sorted(ts.metric.labels.items())),
    )
    return Write(key, ts.metric_kind, value_type, start, end, value, ts.unit)


def accept(write: Write, descriptor: MetricInfo | None, last: RawPoint | None, *, spacing_s: float) -> RawPoint:
    """Check a write against its metric's descriptor and its series' last point: the point to store.
    Raises `RefusedError`."""
    kind = write.kind or (descriptor.kind if descriptor else GAUGE)
    metric_type = write.key.metric_type
    if descriptor is not None:
        if kind != descriptor.kind:
            raise RefusedError(
                f"The metric kind of {metric_type} is {KIND_NAMES.get(descriptor.kind)}, not {KIND_NAMES.get(kind)}."
            )
        if write.value_type != descriptor.value_type:
            raise RefusedError(
                f"Value type for metric {metric_type} must be {TYPE_NAMES.get(descriptor.value_type)}, "
                f"but is {TYPE_NAMES.get(write.value_type)}."
            )
        if descriptor.explicit:
            declared = {k for k, _ in descriptor.labels}
            unknown = sorted(k for k, _ in write.key.metric_labels if k not in declared)
            if unknown:
                raise RefusedError(
                    f"Unrecognized metric labels {unknown} for {metric_type}; declared: {sorted(declared)}."
                )
    why = _combination(kind, write.value_type, metric_type)
    if why is not None:
        raise RefusedError(why)
    end = write.end
    if kind == GAUGE:
        if write.start is not None and write.start != end:
            raise RefusedError("The start time of a GAUGE point must equal its end time (or be left out).")
        start = end
    else:
        if write.start is None or write.start >= end:
            raise RefusedError("The start time of a CUMULATIVE point must be earlier than its end time.")
        start = write.start
    if last is not None:
        if end < last.end or (kind == GAUGE and end == last.end) or (kind == CUMULATIVE and start < last.start):
            raise RefusedError(OUT_OF_ORDER)
        if end - last.end < spacing_s:
            raise RefusedError(
                "One or more points were written more frequently than the maximum sampling period configured for "
                f"the metric. {{Metric: {metric_type}, Timestamps: {{Youngest Existing: '{_stamp(last.end)}', "
                f"New: '{_stamp(end)}'}}}}"
            )
    return RawPoint(start, end, write.value)


def auto_descriptor(write: Write, point: RawPoint, existing: MetricInfo | None) -> MetricInfo:
    """The descriptor a successful write leaves: created on the first write, gaining new label keys
    (and a unit while it has none) if it was auto-created."""
    keys = [(k, "") for k, _ in write.key.metric_labels]
    if existing is None:
        kind = write.kind or GAUGE
        return MetricInfo(
            write.key.metric_type, kind, write.value_type, write.unit, write.key.metric_type, "", tuple(sorted(keys))
        )
    unit = existing.unit or write.unit
    if existing.explicit:
        return existing if unit == existing.unit else replace(existing, unit=unit)
    labels = tuple(sorted({**dict(keys), **dict(existing.labels)}.items()))
    if labels == existing.labels and unit == existing.unit:
        return existing
    return replace(existing, labels=labels, unit=unit)


def _ranges(indices: list[int]) -> str:
    parts: list[str] = []
    start = previous = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == previous + 1:
            previous = i
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if i is not None:
            start = previous = i
    return ",".join(parts)


def partial_failure(total: int, failures: list[tuple[int, RefusedError]]) -> ApiError:
    """The error of a CreateTimeSeries call whose `failures` (index, why) were not written."""
    by_reason: dict[str, list[int]] = {}
    codes: dict[grpc.StatusCode, int] = {}
    for index, refused in failures:
        by_reason.setdefault(refused.reason, []).append(index)
        codes[refused.code] = codes.get(refused.code, 0) + 1
    message = "One or more TimeSeries could not be written: " + "; ".join(
        f"{reason}: timeSeries[{_ranges(indices)}]" for reason, indices in by_reason.items()
    )
    summary = monitoring_v3.CreateTimeSeriesSummary.pb()(
        total_point_count=total, success_point_count=total - len(failures)
    )
    for code, count in codes.items():
        summary.errors.add(point_count=count).status.code = code.value[0]
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message, details=[summary])

"""Alignment and cross-series reduction for the emulated Cloud Monitoring ListTimeSeries.

Part of the local emulator (controller/emulator). `metrics.py` selects the raw points of the series a
filter matches; this module applies an `Aggregation` the way Cloud Monitoring does:

- reads cover the half-open interval (start, end]; a point belongs to it when its end time does;
- alignment periods are laid back from the interval's end: (end - (k+1)P, end - kP]; an aligned point is
  stamped at the end of its period, and a period without data yields no point;
- the per-series aligner turns each period's points into one value and may change the metric kind and
  value type (ALIGN_RATE gives a DOUBLE GAUGE, ALIGN_DELTA keeps DELTA, ALIGN_PERCENTILE_* gives DOUBLE);
- on a CUMULATIVE series, ALIGN_DELTA / ALIGN_RATE take each period's increase: the last value in the period
  minus the last one before it (the `baseline` point before the interval, for the first period), a new start
  time or a smaller value counting as a reset (the increase is then the value since the reset);
- the cross-series reducer combines aligned series that share the `group_by_fields`, keeping only those
  labels (the resource type is always kept);
- points come out newest first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import grpc

from controller.emulator.api import ApiError
from controller.emulator.metrics_filter import Selector
from controller.emulator.metrics_values import Dist, Value, add_values, merged, numeric_percentile

# google.api.MetricDescriptor.MetricKind / ValueType numbers.
GAUGE, DELTA, CUMULATIVE = 1, 2, 3
BOOL, INT64, DOUBLE, STRING, DISTRIBUTION = 1, 2, 3, 4, 5
KIND_NAMES = {GAUGE: "GAUGE", DELTA: "DELTA", CUMULATIVE: "CUMULATIVE"}
TYPE_NAMES = {BOOL: "BOOL", INT64: "INT64", DOUBLE: "DOUBLE", STRING: "STRING", DISTRIBUTION: "DISTRIBUTION"}

# google.monitoring.v3.Aggregation.Aligner / Reducer numbers (the subset the emulator implements).
ALIGN_NONE, ALIGN_DELTA, ALIGN_RATE, ALIGN_NEXT_OLDER = 0, 1, 2, 4
ALIGN_MIN, ALIGN_MAX, ALIGN_MEAN, ALIGN_COUNT, ALIGN_SUM, ALIGN_STDDEV = 10, 11, 12, 13, 14, 15
ALIGN_PERCENTILES = {18: 99.0, 19: 95.0, 20: 50.0, 21: 5.0}
REDUCE_NONE, REDUCE_MEAN, REDUCE_MIN, REDUCE_MAX, REDUCE_SUM, REDUCE_STDDEV, REDUCE_COUNT = 0, 1, 2, 3, 4, 5, 6
REDUCE_PERCENTILES = {9: 99.0, 10: 95.0, 11: 50.0, 12: 5.0}

NUMERIC = frozenset({INT64, DOUBLE})
WITH_DIST = frozenset({INT64, DOUBLE, DISTRIBUTION})


@dataclass(frozen=True)
class SeriesKey:
    """Identity of one stored time series."""

    project: str
    metric_type: str
    resource_type: str
    resource_labels: tuple[tuple[str, str], ...]
    metric_labels: tuple[tuple[str, str], ...]

    def lookup(self, selector: Selector) -> str | None:
        """Value of a filter / group-by selector for this series (None when absent)."""
        kind, key = selector
        if kind == "metric.type":
            return self.metric_type
        if kind == "resource.type":
            return self.resource_type
        if kind == "project":
            return self.project
        labels = self.metric_labels if kind == "metric.label" else self.resource_labels
        return dict(labels).get(key)


@dataclass(frozen=True)
class RawPoint:
    """A stored point: the value over [start, end] (start == end for GAUGE)."""

    start: float
    end: float
    value: Value


@dataclass(frozen=True)
class Aggregation:
    """The validated `google.monitoring.v3.Aggregation` of a request."""

    period: float = 0.0
    aligner: int = ALIGN_NONE
    reducer: int = REDUCE_NONE
    group_by: tuple[Selector, ...] = ()


@dataclass
class OutSeries:
    """One result series before it is rendered as a `TimeSeries` message."""

    resource_type: str
    resource_labels: dict[str, str]
    metric_labels: dict[str, str]
    kind: int
    value_type: int
    unit: str
    points: list[RawPoint] = field(default_factory=list)  # newest first


@dataclass(frozen=True)
class _Op:
    kinds: frozenset[int]
    value_types: frozenset[int]
    out_type: Callable[[int], int]  # input value type -> output value type


_SAME: Callable[[int], int] = lambda t: t  # noqa: E731
_ALIGNERS: dict[int, _Op] = {
    ALIGN_DELTA: _Op(frozenset({DELTA, CUMULATIVE}), WITH_DIST, _SAME),
    ALIGN_RATE: _Op(frozenset({DELTA, CUMULATIVE}), NUMERIC, lambda _: DOUBLE),
    ALIGN_NEXT_OLDER: _Op(frozenset({GAUGE, CUMULATIVE}), WITH_DIST, _SAME),
    ALIGN_MIN: _Op(frozenset({GAUGE, DELTA}), NUMERIC, _SAME),
    ALIGN_MAX: _Op(frozenset({GAUGE, DELTA}), NUMERIC, _SAME),
    ALIGN_MEAN: _Op(frozenset({GAUGE, DELTA}), NUMERIC, lambda _: DOUBLE),
    ALIGN_COUNT: _Op(frozenset({GAUGE, DELTA}), NUMERIC, lambda _: INT64),
    ALIGN_SUM: _Op(frozenset({GAUGE, DELTA}), WITH_DIST, _SAME),
    ALIGN_STDDEV: _Op(frozenset({GAUGE, DELTA}), NUMERIC, lambda _: DOUBLE),
    **{a: _Op(frozenset({GAUGE, DELTA}), frozenset({DISTRIBUTION}), lambda _: DOUBLE) for a in ALIGN_PERCENTILES},
}
_REDUCERS: dict[int, _Op] = {
    REDUCE_MEAN: _Op(frozenset({GAUGE, DELTA}), WITH_DIST, lambda _: DOUBLE),
    REDUCE_MIN: _Op(frozenset({GAUGE, DELTA}), NUMERIC, _SAME),
    REDUCE_MAX: _Op(frozenset({GAUGE, DELTA}), NUMERIC, _SAME),
    REDUCE_SUM: _Op(frozenset({GAUGE, DELTA}), WITH_DIST, _SAME),
    REDUCE_STDDEV: _Op(frozenset({GAUGE, DELTA}), WITH_DIST, lambda _: DOUBLE),
    REDUCE_COUNT: _Op(frozenset({GAUGE, DELTA}), WITH_DIST, lambda _: INT64),
    **{r: _Op(frozenset({GAUGE, DELTA}), WITH_DIST, lambda _: DOUBLE) for r in REDUCE_PERCENTILES},
}


def _invalid(field_name: str, value: str, why: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"Field {field_name} had an invalid value of {value!r}: {why}")


def check_aggregation(agg: Aggregation, *, kind: int, value_type: int, names: dict[str, dict[int, str]]) -> None:
    """Reject aggregations the real API rejects for a metric of this kind and value type."""
    aligner_name = names["aligner"].get(agg.aligner, str(agg.aligner))
    reducer_name = names["reducer"].get(agg.reducer, str(agg.reducer))
    if agg.aligner == ALIGN_NONE:
        if agg.reducer != REDUCE_NONE:
            raise _invalid("aggregation.perSeriesAligner", aligner_name, "a cross-series reducer requires an aligner")
        return
    op = _ALIGNERS.get(agg.aligner)
    if op is None:
        raise ApiError(grpc.StatusCode.UNIMPLEMENTED, f"the emulator does not implement {aligner_name}")
    why = (
        f"The aligner cannot be applied to metrics with kind {KIND_NAMES.get(kind)} "
        f"and value type {TYPE_NAMES.get(value_type)}."
    )
    if kind not in op.kinds or value_type not in op.value_types:
        raise _invalid("aggregation.perSeriesAligner", aligner_name, why)
    if agg.reducer == REDUCE_NONE:
        return
    rop = _REDUCERS.get(agg.reducer)
    if rop is None:
        raise ApiError(grpc.StatusCode.UNIMPLEMENTED, f"the emulator does not implement {reducer_name}")
    aligned_type = op.out_type(value_type)
    aligned_kind = aligned_kind_of(agg.aligner, kind)
    if aligned_kind not in rop.kinds or aligned_type not in rop.value_types:
        raise _invalid(
            "aggregation.crossSeriesReducer",
            reducer_name,
            f"The reducer cannot be applied to aligned values of kind {KIND_NAMES.get(aligned_kind)} "
            f"and value type {TYPE_NAMES.get(aligned_type)}.",
        )


def aligned_kind_of(aligner: int, kind: int) -> int:
    """Metric kind after alignment."""
    if aligner == ALIGN_NONE:
        return kind
    if aligner == ALIGN_DELTA:
        return DELTA
    if aligner == ALIGN_SUM:
        return kind
    return GAUGE


def _unit_after(aligner: int, reducer: int, unit: str) -> str:
    if aligner == ALIGN_COUNT or reducer == REDUCE_COUNT:
        return "1"
    if aligner == ALIGN_RATE:
        return f"{unit}/s" if unit and unit != "1" else "1/s"
    return unit


def run_query(
    series: Iterable[tuple[SeriesKey, list[RawPoint]]],
    *,
    kind: int,
    value_type: int,
    unit: str,
    start: float,
    end: float,
    agg: Aggregation,
    baselines: Mapping[SeriesKey, RawPoint] | None = None,
) -> list[OutSeries]:
    """Apply `agg` to the selected series; each input list holds the series' points in (start, end].
    `baselines` are the last points before `start` of CUMULATIVE series (what their first delta starts from)."""
    if agg.aligner == ALIGN_NONE:
        return [
            OutSeries(
                key.resource_type,
                dict(key.resource_labels),
                dict(key.metric_labels),
                kind,
                value_type,
                unit,
                sorted(points, key=lambda p: p.end, reverse=True),
            )
            for key, points in series
            if points
        ]
    out_kind = aligned_kind_of(agg.aligner, kind)
    out_type = _ALIGNERS[agg.aligner].out_type(value_type)
    out_unit = _unit_after(agg.aligner, agg.reducer, unit)
    aligned: list[tuple[SeriesKey, dict[float, Value]]] = []
    increases = kind == CUMULATIVE and agg.aligner in (ALIGN_DELTA, ALIGN_RATE)
    for key, points in series:
        if increases:
            values = _align_cumulative(points, (baselines or {}).get(key), start=start, end=end, agg=agg)
        else:
            values = _align(points, start=start, end=end, agg=agg)
        if values:
            aligned.append((key, values))
    if agg.reducer == REDUCE_NONE:
        result = [
            OutSeries(key.resource_type, dict(key.resource_labels), dict(key.metric_labels), out_kind, out_type, "")
            for key, _ in aligned
        ]
        for out, (_, values) in zip(result, aligned, strict=True):
            out.points = _stamp(values, out_kind, agg.period)
            out.unit = out_unit
        return result
    return _reduce(aligned, agg=agg, kind=out_kind, value_type=_REDUCERS[agg.reducer].out_type(out_type), unit=out_unit)


def _stamp(values: dict[float, Value], kind: int, period: float) -> list[RawPoint]:
    """Aligned values as points, newest first; DELTA points span their period, GAUGE points are instants."""
    return [RawPoint(end - period if kind == DELTA else end, end, values[end]) for end in sorted(values, reverse=True)]


def _align(points: list[RawPoint], *, start: float, end: float, agg: Aggregation) -> dict[float, Value]:
    """Map each alignment period's end to its aligned value."""
    buckets: dict[int, list[RawPoint]] = defaultdict(list)
    for p in points:
        k = math.floor((end - p.end) / agg.period)
        if k >= 0 and end - k * agg.period > start:
            buckets[k].append(p)
    out: dict[float, Value] = {}
    for k, members in buckets.items():
        members.sort(key=lambda p: p.end)
        out[end - k * agg.period] = _align_values([p.value for p in members], agg)
    return out


def _increase(previous: RawPoint | None, point: RawPoint) -> Value:
    """How much a CUMULATIVE series grew from `previous` to `point` (all of `point` after a reset)."""
    value = point.value
    if previous is None or previous.start != point.start:
        return value.copy() if isinstance(value, Dist) else value
    if isinstance(value, Dist):
        before = previous.value
        grown = value.minus(before) if isinstance(before, Dist) else None
        return grown if grown is not None else value.copy()
    step = value - _number(previous.value)
    return step if step >= 0 else value


def _align_cumulative(
    points: list[RawPoint], baseline: RawPoint | None, *, start: float, end: float, agg: Aggregation
) -> dict[float, Value]:
    """Each alignment period's increase of a CUMULATIVE series (ALIGN_DELTA), or its rate (ALIGN_RATE)."""
    out: dict[float, Value] = {}
    previous = baseline
    for point in sorted(points, key=lambda p: p.end):
        k = math.floor((end - point.end) / agg.period)
        period_end = end - k * agg.period
        if k >= 0 and period_end > start:
            step = _increase(previous, point)
            out[period_end] = add_values(out[period_end], step) if period_end in out else step
        previous = point
    if agg.aligner == ALIGN_RATE:
        return {e: float(_number(v)) / agg.period for e, v in out.items()}
    return out


def _align_values(values: list[Value], agg: Aggregation) -> Value:
    a = agg.aligner
    if a in (ALIGN_DELTA, ALIGN_SUM):
        return _sum(values)
    if a == ALIGN_RATE:
        return float(_number(_sum(values))) / agg.period
    if a == ALIGN_NEXT_OLDER:
        return values[-1]
    if a == ALIGN_COUNT:
        return len(values)
    if a in ALIGN_PERCENTILES:
        return merged(_dists(values)).percentile(ALIGN_PERCENTILES[a])
    nums = [_number(v) for v in values]
    if a == ALIGN_MIN:
        return min(nums)
    if a == ALIGN_MAX:
        return max(nums)
    if a == ALIGN_MEAN:
        return sum(nums) / len(nums)
    return _stddev(nums)  # ALIGN_STDDEV


def _reduce(
    aligned: list[tuple[SeriesKey, dict[float, Value]]], *, agg: Aggregation, kind: int, value_type: int, unit: str
) -> list[OutSeries]:
    groups: dict[tuple[str | None, ...], list[tuple[SeriesKey, dict[float, Value]]]] = defaultdict(list)
    for key, values in aligned:
        group = (key.resource_type, *(key.lookup(s) for s in agg.group_by))
        groups[group].append((key, values))
    result: list[OutSeries] = []
    for group, members in groups.items():
        resource_labels: dict[str, str] = {}
        metric_labels: dict[str, str] = {}
        for (scope, label), label_value in zip(agg.group_by, group[1:], strict=True):
            if label_value is not None and scope == "resource.label":
                resource_labels[label] = label_value
            elif label_value is not None and scope == "metric.label":
                metric_labels[label] = label_value
        by_end: dict[float, list[Value]] = defaultdict(list)
        for _, values in members:
            for end, value in values.items():
                by_end[end].append(value)
        reduced = {end: _reduce_values(vals, agg.reducer) for end, vals in by_end.items()}
        out = OutSeries(str(group[0]), resource_labels, metric_labels, kind, value_type, unit)
        out.points = _stamp(reduced, kind, agg.period)
        result.append(out)
    return result


def _reduce_values(values: list[Value], reducer: int) -> Value:
    if reducer == REDUCE_SUM:
        return _sum(values)
    if reducer == REDUCE_COUNT:
        return len(values)
    is_dist = isinstance(values[0], Dist)
    if reducer in REDUCE_PERCENTILES:
        q = REDUCE_PERCENTILES[reducer]
        if is_dist:
            return merged(_dists(values)).percentile(q)
        return numeric_percentile([float(_number(v)) for v in values], q)
    if is_dist:
        total = merged(_dists(values))
        if reducer == REDUCE_MEAN:
            return total.mean
        return math.sqrt(total.m2 / total.count) if total.count else 0.0  # REDUCE_STDDEV
    nums = [_number(v) for v in values]
    if reducer == REDUCE_MIN:
        return min(nums)
    if reducer == REDUCE_MAX:
        return max(nums)
    if reducer == REDUCE_MEAN:
        return sum(nums) / len(nums)
    return _stddev(nums)  # REDUCE_STDDEV


def _sum(values: list[Value]) -> Value:
    if isinstance(values[0], Dist):
        return merged(_dists(values))
    total: Value = values[0]
    for v in values[1:]:
        total = add_values(total, v)
    return total


def _number(v: Value) -> int | float:
    if isinstance(v, Dist):
        raise TypeError("expected a number, got a distribution")
    return v


def _dists(values: list[Value]) -> list[Dist]:
    return [v for v in values if isinstance(v, Dist)]


def _stddev(nums: list[int | float]) -> float:
    mean = sum(nums) / len(nums)
    return math.sqrt(sum((x - mean) ** 2 for x in nums) / len(nums))

"""Request checking and response building for the emulated MetricService (wire <-> store values).

Part of the local emulator (controller/emulator): `metrics.py` holds the data and the handlers; this
module reads the raw ListTimeSeries requests the way the real Cloud Monitoring API validates them (errors
are `ApiError(INVALID_ARGUMENT, ...)` in the API's "Field X had an invalid value" style), and renders
results as `TimeSeries` messages with pagination tokens bound to the query that produced them. The checks
of what users write (CreateTimeSeries, CreateMetricDescriptor) are in `metrics_writes.py`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import grpc

from controller.emulator.api import ApiError
from controller.emulator.metrics_descriptors import MetricInfo
from controller.emulator.metrics_filter import Selector, parse_selector
from controller.emulator.metrics_query import (
    ALIGN_NONE,
    DOUBLE,
    Aggregation,
    OutSeries,
    RawPoint,
    check_aggregation,
)
from controller.emulator.metrics_values import set_typed_value

MAX_PAGE_SIZE = 100_000


def invalid(field_name: str, value: object, why: str) -> ApiError:
    """INVALID_ARGUMENT in the real API's wording."""
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"Field {field_name} had an invalid value of {value!r}: {why}")


def project_of(name: str) -> str:
    """The project of `projects/P`; organizations and folders are not emulated."""
    m = re.fullmatch(r"projects/([^/]+)", name)
    if m is None:
        if name.startswith(("organizations/", "folders/")):
            raise ApiError(grpc.StatusCode.UNIMPLEMENTED, "the emulator serves only projects/P names")
        raise invalid("name", name, "expected projects/[PROJECT_ID_OR_NUMBER]")
    return m.group(1)


def _seconds(ts: Any) -> float:
    return float(ts.seconds) + float(ts.nanos) / 1e9


def interval_of(pb: Any) -> tuple[float, float]:
    """(start, end) of a ListTimeSeries request; end is required, start defaults to end."""
    if not pb.HasField("interval") or not pb.interval.HasField("end_time"):
        raise invalid("interval.endTime", "", "The end time is required.")
    end = _seconds(pb.interval.end_time)
    start = _seconds(pb.interval.start_time) if pb.interval.HasField("start_time") else end
    if start > end:
        raise invalid("interval.startTime", start, "The start time must not be later than the end time.")
    return start, end


def _enum_names(pb: Any) -> dict[str, dict[int, str]]:
    desc = pb.aggregation.DESCRIPTOR.fields_by_name
    return {
        "aligner": {v.number: v.name for v in desc["per_series_aligner"].enum_type.values},
        "reducer": {v.number: v.name for v in desc["cross_series_reducer"].enum_type.values},
    }


def aggregation_of(pb: Any, info: MetricInfo, *, min_period: float) -> Aggregation:
    """The request's aggregation, checked against the metric's kind and value type."""
    if pb.HasField("secondary_aggregation") and (
        pb.secondary_aggregation.per_series_aligner or pb.secondary_aggregation.cross_series_reducer
    ):
        raise ApiError(grpc.StatusCode.UNIMPLEMENTED, "the emulator does not implement secondary_aggregation")
    if not pb.HasField("aggregation"):
        return Aggregation()
    a = pb.aggregation
    group_by: list[Selector] = []
    for text in a.group_by_fields:
        try:
            selector = parse_selector(text, text.strip())
        except ApiError:
            selector = ("", "")
        if selector[0] not in ("resource.type", "metric.label", "resource.label"):
            raise invalid(
                "aggregation.groupByFields", text, "expected metric.label.KEY, resource.label.KEY or resource.type"
            )
        group_by.append(selector)
    period = _seconds(a.alignment_period) if a.HasField("alignment_period") else 0.0
    agg = Aggregation(period, a.per_series_aligner, a.cross_series_reducer, tuple(group_by))
    if agg.aligner != ALIGN_NONE:
        if period <= 0:
            raise invalid("aggregation.alignmentPeriod", "", "An alignment period is required with an aligner.")
        if period < min_period:
            raise invalid(
                "aggregation.alignmentPeriod", f"{period:g}s", f"The alignment period must be at least {min_period:g}s."
            )
    check_aggregation(agg, kind=info.kind, value_type=info.value_type, names=_enum_names(pb))
    return agg


def page_size_of(requested: int) -> int:
    """Effective page size: 0 or more than the maximum means the maximum."""
    if requested < 0:
        raise invalid("pageSize", requested, "must not be negative")
    return MAX_PAGE_SIZE if requested == 0 or requested > MAX_PAGE_SIZE else requested


@dataclass(frozen=True)
class PageCursor:
    """Where the next page starts: a series index and a point offset inside it."""

    series: int
    point: int


def query_digest(pb: Any) -> str:
    """Fingerprint of a request without its paging fields: a token only continues the same query."""
    copy = type(pb)()
    copy.CopyFrom(pb)
    copy.page_token = ""
    copy.page_size = 0
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def encode_token(digest: str, cursor: PageCursor) -> str:
    """An opaque page token."""
    raw = json.dumps({"q": digest, "s": cursor.series, "p": cursor.point}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str, digest: str) -> PageCursor:
    """The cursor in `token` (the start for an empty token); INVALID_ARGUMENT for a foreign or bad token."""
    if not token:
        return PageCursor(0, 0)
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        cursor = PageCursor(int(data["s"]), int(data["p"]))
        valid = data["q"] == digest and cursor.series >= 0 and cursor.point >= 0
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise invalid("pageToken", token, "The page token is not valid for this request.")
    return cursor


def paginate(
    results: list[OutSeries], cursor: PageCursor, page_size: int, *, headers_only: bool
) -> tuple[list[tuple[OutSeries, list[RawPoint]]], PageCursor | None]:
    """One page: HEADERS pages count series; FULL pages count points, splitting only a series too big alone."""
    if headers_only:
        chunk = results[cursor.series : cursor.series + page_size]
        following = cursor.series + page_size
        return [(s, []) for s in chunk], PageCursor(following, 0) if following < len(results) else None
    page: list[tuple[OutSeries, list[RawPoint]]] = []
    budget = page_size
    index, offset = cursor.series, cursor.point
    while index < len(results):
        points = results[index].points[offset:]
        if len(points) <= budget:
            page.append((results[index], points))
            budget -= len(points)
            index, offset = index + 1, 0
            if budget == 0:
                break
        elif not page:
            page.append((results[index], points[:budget]))
            offset += budget
            break
        else:
            break
    return page, PageCursor(index, offset) if index < len(results) else None


def render_series(ts: Any, out: OutSeries, metric_type: str, points: list[RawPoint], *, headers_only: bool) -> None:
    """Fill a raw `google.monitoring.v3.TimeSeries` message."""
    ts.metric.type = metric_type
    ts.metric.labels.update(out.metric_labels)
    ts.resource.type = out.resource_type
    ts.resource.labels.update(out.resource_labels)
    ts.metric_kind = out.kind
    ts.value_type = out.value_type
    ts.unit = out.unit
    if headers_only:
        return
    for p in points:
        point = ts.points.add()
        point.interval.start_time.FromNanoseconds(round(p.start * 1e9))
        point.interval.end_time.FromNanoseconds(round(p.end * 1e9))
        set_typed_value(point.value, p.value, as_double=out.value_type == DOUBLE)

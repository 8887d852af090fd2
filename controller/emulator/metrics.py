"""The emulated Cloud Monitoring metric store and its `google.monitoring.v3.MetricService`.

Part of the local emulator (controller/emulator); the emulator server composes a `MetricStore` and serves
`methods()` over gRPC. The emulated Vertex AI prediction service calls `record_prediction` for every online
prediction; that feeds Vertex AI's own series, with Vertex's names, on the monitored resource
`aiplatform.googleapis.com/Endpoint` (labels resource_container, location, endpoint_id):

- `prediction/online/prediction_count`  DELTA INT64, every prediction request, failed ones included
- `prediction/online/error_count`       DELTA INT64, responses with code >= 400 (no series until the first)
- `prediction/online/response_count`    DELTA INT64, extra label response_code
- `prediction/online/prediction_latencies` DELTA DISTRIBUTION in ms, label latency_type="total"

with metric labels deployed_model_id, model_display_name, endpoint_display_name, spot="false". The emulated
GenerateContent calls `record_generation` for every publisher-model (Gemini) call: Vertex AI's
`publisher/online_serving/{model_invocation_count, model_invocation_latencies, first_token_latencies,
token_count}` on `aiplatform.googleapis.com/PublisherModel` (labels resource_container, location, publisher,
model_user_id, model_version_id). The emulated StreamRawPredict and streaming chat completions of a chat model
call `record_first_token` for every stream: AI AutoMetrics' copy of a vLLM container's
`vllm:time_to_first_token_seconds` histogram, `prometheus.googleapis.com/vertex_vllm_time_to_first_token_seconds/
histogram`, a CUMULATIVE DISTRIBUTION in seconds (vLLM's buckets) on `prometheus_target`, labelled with
endpoint_id and deployed_model_id (see `metrics_descriptors.py` for what is confirmed). Events are summed
into one-second DELTA points (the histogram: one CUMULATIVE point per second), kept for `retention_s` seconds
behind the newest recorded time (so a simulated clock works too). With `track_replicas(source)` (the composed
emulator passes its deployments), Vertex AI's `prediction/online/replicas` and `target_replicas` GAUGEs are
sampled every 60 s of `clock`, lazily before each read (`metrics_replicas.py`).

Users write their own metrics with CreateMetricDescriptor and CreateTimeSeries (GAUGE and CUMULATIVE; BOOL,
INT64, DOUBLE and DISTRIBUTION values; checked as the API checks them, with partial success: see
`metrics_writes.py`). Everything is read back with the real `MetricServiceClient`: ListTimeSeries (filters,
intervals, aligners, reducers, views, pagination) and the metric-descriptor reads.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from google.api import metric_pb2
from google.cloud import monitoring_v3
from google.protobuf import empty_pb2

from controller.emulator import api
from controller.emulator.api import ApiError
from controller.emulator.metrics_descriptors import (
    BUILTIN,
    ENDPOINT_RESOURCE,
    ERROR_COUNT,
    FIRST_TOKEN_LATENCIES,
    INVOCATION_COUNT,
    INVOCATION_LATENCIES,
    PREDICTION_COUNT,
    PREDICTION_LATENCIES,
    PROMETHEUS_RESOURCE,
    PUBLISHER_MODEL_RESOURCE,
    RESPONSE_COUNT,
    TOKEN_COUNT,
    VLLM_TIME_TO_FIRST_TOKEN,
    VLLM_TTFT_BUCKETS,
    MetricInfo,
)
from controller.emulator.metrics_filter import Filter, Lookup, Selector, parse_filter
from controller.emulator.metrics_query import CUMULATIVE, RawPoint, SeriesKey, run_query
from controller.emulator.metrics_replicas import Deployed, ReplicaSampler
from controller.emulator.metrics_rpc import (
    PageCursor,
    aggregation_of,
    decode_token,
    encode_token,
    interval_of,
    page_size_of,
    paginate,
    project_of,
    query_digest,
    render_series,
)
from controller.emulator.metrics_values import Dist
from controller.emulator.metrics_writes import (
    RefusedError,
    accept,
    auto_descriptor,
    check_request_size,
    descriptor_from_request,
    parse_write,
    partial_failure,
)

SERVICE = "google.monitoring.v3.MetricService"
_HEADERS_VIEW = 1


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


class MetricStore:
    """Thread-safe in-memory time series with bounded retention, served as Cloud Monitoring's MetricService."""

    def __init__(
        self,
        retention_s: float = 7200.0,
        *,
        min_alignment_period_s: float = 60.0,
        min_point_spacing_s: float = 10.0,
        ingestion_delay_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`min_alignment_period_s` is the real API's 60 s floor; a fast demo may lower it.
        `min_point_spacing_s`: how far apart written points of one series must be (10 s documented).
        `ingestion_delay_s` hides points until they are that old by `clock`, like Vertex's 2-6 minute
        metric delay (0 = visible at once). `clock` also bounds CreateTimeSeries timestamps (no more
        than 25 h old or 5 min ahead) as the real API does."""
        self._retention = retention_s
        self._delay = ingestion_delay_s
        self._min_period = min_alignment_period_s
        self._spacing = min_point_spacing_s
        self._clock = clock
        self._lock = threading.Lock()
        self._series: dict[SeriesKey, dict[float, RawPoint]] = {}
        self._custom: dict[tuple[str, str], MetricInfo] = {}
        self._newest = -math.inf
        self._pruned_at = -math.inf
        self._replicas: ReplicaSampler | None = None

    def track_replicas(self, source: Callable[[], Iterable[Deployed]]) -> None:
        """Sample the replica gauges of the models `source` says are deployed (see metrics_replicas.py)."""
        self._replicas = ReplicaSampler(source, retention_s=self._retention)

    def _sample_replicas(self) -> None:
        if self._replicas is None:
            return
        now = self._clock()
        points = self._replicas.due(now)  # reads the Vertex state under its own lock, not this one
        if not points:
            return
        with self._lock:
            for key, point in points:
                self._series.setdefault(key, {})[point.end] = point
            self._advance(now)

    # ---- recording -------------------------------------------------------------------------------

    def record_prediction(
        self,
        *,
        project: str,
        location: str,
        endpoint_id: str,
        endpoint_display_name: str,
        deployed_model_id: str,
        model_display_name: str,
        latency_ms: float,
        response_code: int,
        at: float,
    ) -> None:
        """Count one online prediction served at unix time `at` into Vertex AI's endpoint metrics."""
        if not (math.isfinite(at) and math.isfinite(latency_ms)):
            raise ValueError("at and latency_ms must be finite")
        resource = _labels(resource_container=project, location=location, endpoint_id=endpoint_id)
        common = {
            "deployed_model_id": deployed_model_id,
            "model_display_name": model_display_name,
            "endpoint_display_name": endpoint_display_name,
            "spot": "false",
        }

        def key(metric_type: str, **extra: str) -> SeriesKey:
            return SeriesKey(project, metric_type, ENDPOINT_RESOURCE, resource, _labels(**common, **extra))

        second = float(math.floor(at))
        with self._lock:
            self._count(key(PREDICTION_COUNT), second)
            if response_code >= 400:
                self._count(key(ERROR_COUNT), second)
            self._count(key(RESPONSE_COUNT, response_code=str(response_code)), second)
            self._sample(key(PREDICTION_LATENCIES, latency_type="total"), second, latency_ms)
            self._advance(at)

    def record_generation(
        self,
        *,
        project: str,
        location: str,
        publisher: str,
        model_id: str,
        response_code: int,
        latency_ms: float,
        first_token_ms: float,
        input_tokens: int,
        output_tokens: int,
        at: float,
    ) -> None:
        """Count one publisher-model (Gemini) call served at unix time `at` into Vertex AI's publisher metrics."""
        if not (math.isfinite(at) and math.isfinite(latency_ms) and math.isfinite(first_token_ms)):
            raise ValueError("at and the latencies must be finite")
        resource = _labels(
            resource_container=project,
            location=location,
            publisher=publisher,
            model_user_id=model_id,
            model_version_id="",
        )

        def key(metric_type: str, **labels: str) -> SeriesKey:
            return SeriesKey(project, metric_type, PUBLISHER_MODEL_RESOURCE, resource, _labels(**labels))

        category = "" if response_code < 400 else "capacity" if response_code == 429 else "system"
        second = float(math.floor(at))
        with self._lock:
            self._count(key(INVOCATION_COUNT, response_code=str(response_code), error_category=category), second)
            self._sample(key(INVOCATION_LATENCIES), second, latency_ms)
            if response_code < 400:
                self._sample(key(FIRST_TOKEN_LATENCIES), second, first_token_ms)
                self._count(key(TOKEN_COUNT, type="input"), second, input_tokens)
                self._count(key(TOKEN_COUNT, type="output"), second, output_tokens)
            self._advance(at)

    def record_first_token(
        self,
        *,
        project: str,
        location: str,
        endpoint_id: str,
        endpoint_display_name: str,
        deployed_model_id: str,
        model_display_name: str,
        seconds: float,
        at: float,
    ) -> None:
        """Observe one streamed answer's server-side time to first token (`seconds`) at unix time `at` into the
        AutoMetrics histogram of the deployed model's (one) replica. The resource labels Vertex sets on
        `prometheus_target` are not documented: cluster, namespace and job are left empty here."""
        if not (math.isfinite(at) and math.isfinite(seconds)):
            raise ValueError("at and seconds must be finite")
        replica = f"{deployed_model_id}-0"
        resource = _labels(project_id=project, location=location, cluster="", namespace="", job="", instance=replica)
        labels = _labels(
            model_name=model_display_name,
            deployed_model_id=deployed_model_id,
            model_display_name=model_display_name,
            replica_id=replica,
            endpoint_id=endpoint_id,
            endpoint_display_name=endpoint_display_name,
            product="online_inference",
        )
        key = SeriesKey(project, VLLM_TIME_TO_FIRST_TOKEN, PROMETHEUS_RESOURCE, resource, labels)
        with self._lock:
            self._observe(key, float(math.floor(at)), seconds)
            self._advance(at)

    def _observe(self, key: SeriesKey, second: float, value: float) -> None:
        """Add a sample to a CUMULATIVE histogram: the point ending after `second` holds every sample so far,
        and so does every later point (a sample may arrive after one of the next second, from another thread)."""
        points = self._series.setdefault(key, {})
        end = second + 1
        # Every point of a cumulative series has the series' start: any point's start is it.
        start = next(iter(points.values())).start if points else second
        latest_before: float | None = None  # the newest point ending before `end`: the new point's base
        for point_end, point in points.items():
            if point_end >= end:
                if isinstance(point.value, Dist):
                    point.value.add(value)
            elif latest_before is None or point_end > latest_before:
                latest_before = point_end
        if end not in points and start < end:
            base = points[latest_before].value if latest_before is not None else None
            total = base.copy() if isinstance(base, Dist) else Dist(VLLM_TTFT_BUCKETS)
            total.add(value)
            points[end] = RawPoint(start, end, total)

    def _count(self, key: SeriesKey, second: float, amount: int = 1) -> None:
        points = self._series.setdefault(key, {})
        current = points.get(second + 1)
        previous = current.value if current is not None and not isinstance(current.value, Dist) else 0
        points[second + 1] = RawPoint(second, second + 1, previous + amount)

    def _sample(self, key: SeriesKey, second: float, value: float) -> None:
        points = self._series.setdefault(key, {})
        current = points.get(second + 1)
        if current is None or not isinstance(current.value, Dist):
            current = RawPoint(second, second + 1, Dist())
            points[second + 1] = current
        assert isinstance(current.value, Dist)
        current.value.add(value)

    def _advance(self, at: float) -> None:
        """Track the newest time seen; drop points older than the retention now and then."""
        self._newest = max(self._newest, at)
        if self._newest - self._pruned_at < min(60.0, self._retention / 10):
            return
        self._pruned_at = self._newest
        cutoff = self._newest - self._retention
        for key in list(self._series):
            kept = {end: p for end, p in self._series[key].items() if end > cutoff}
            if kept:
                self._series[key] = kept
            else:
                del self._series[key]

    # ---- RPCs --------------------------------------------------------------------------------------

    def methods(self) -> list[api.RpcMethod]:
        """MetricService methods for the adapters."""
        m = monitoring_v3
        return [
            api.RpcMethod(SERVICE, "ListTimeSeries", m.ListTimeSeriesRequest, m.ListTimeSeriesResponse, self._list),
            api.RpcMethod(SERVICE, "CreateTimeSeries", m.CreateTimeSeriesRequest, empty_pb2.Empty, self._create),
            api.RpcMethod(
                SERVICE,
                "CreateMetricDescriptor",
                m.CreateMetricDescriptorRequest,
                metric_pb2.MetricDescriptor,
                self._create_descriptor,
            ),
            api.RpcMethod(
                SERVICE,
                "ListMetricDescriptors",
                m.ListMetricDescriptorsRequest,
                m.ListMetricDescriptorsResponse,
                self._list_descriptors,
            ),
            api.RpcMethod(
                SERVICE,
                "GetMetricDescriptor",
                m.GetMetricDescriptorRequest,
                metric_pb2.MetricDescriptor,
                self._get_descriptor,
            ),
        ]

    def _descriptor(self, project: str, metric_type: str) -> MetricInfo | None:
        return BUILTIN.get(metric_type) or self._custom.get((project, metric_type))

    def _list(self, request: monitoring_v3.ListTimeSeriesRequest) -> monitoring_v3.ListTimeSeriesResponse:
        self._sample_replicas()
        pb = monitoring_v3.ListTimeSeriesRequest.pb(request)
        project = project_of(pb.name)
        flt = parse_filter(pb.filter)
        metric_type = flt.single_metric_type()
        with self._lock:
            info = self._descriptor(project, metric_type)
        if info is None:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f'Cannot find metric(s) that match type = "{metric_type}".')
        start, end = interval_of(pb)
        agg = aggregation_of(pb, info, min_period=self._min_period)
        page_size = page_size_of(pb.page_size)
        digest = query_digest(pb)
        cursor = decode_token(pb.page_token, digest)
        if agg.period and start == end:
            start = end - agg.period  # a point-in-time query reads the one period ending there
        selected, baselines = self._select(project, flt, metric_type, start, end, baselines=info.kind == CUMULATIVE)
        try:
            results = run_query(
                selected,
                kind=info.kind,
                value_type=info.value_type,
                unit=info.unit,
                start=start,
                end=end,
                agg=agg,
                baselines=baselines,
            )
        except ValueError as err:  # distributions with other bucket options cannot be merged
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"Cannot aggregate the selected series: {err}") from err
        results.sort(
            key=lambda s: (s.resource_type, sorted(s.resource_labels.items()), sorted(s.metric_labels.items()))
        )
        headers = pb.view == _HEADERS_VIEW
        page, following = paginate(results, cursor, page_size, headers_only=headers)
        response = monitoring_v3.ListTimeSeriesResponse.pb()()
        for out, points in page:
            render_series(response.time_series.add(), out, metric_type, points, headers_only=headers)
        if results:
            response.unit = results[0].unit
        if following is not None:
            response.next_page_token = encode_token(digest, following)
        result: monitoring_v3.ListTimeSeriesResponse = monitoring_v3.ListTimeSeriesResponse.wrap(response)
        return result

    def _select(
        self, project: str, flt: Filter, metric_type: str, start: float, end: float, *, baselines: bool
    ) -> tuple[list[tuple[SeriesKey, list[RawPoint]]], dict[SeriesKey, RawPoint]]:
        """Copies of the matching series' visible points in (start, end] (or covering `end` if start == end),
        and with `baselines` each series' last visible point at or before `start` (CUMULATIVE deltas)."""
        selected: list[tuple[SeriesKey, list[RawPoint]]] = []
        before: dict[SeriesKey, RawPoint] = {}
        visible_until = self._clock() - self._delay if self._delay > 0 else math.inf
        with self._lock:
            for key, points in self._series.items():
                if key.project != project or key.metric_type != metric_type or not flt.matches(key.lookup):
                    continue
                if start == end:
                    chosen = [p for p in points.values() if p.start <= end <= p.end]
                else:
                    chosen = [p for p in points.values() if start < p.end <= end]
                selected.append((key, [_frozen_copy(p) for p in chosen if p.end <= visible_until]))
                if baselines:
                    earlier = [p for p in points.values() if p.end <= min(start, visible_until)]
                    if earlier:
                        before[key] = _frozen_copy(max(earlier, key=lambda p: p.end))
        return selected, before

    def _create(self, request: monitoring_v3.CreateTimeSeriesRequest) -> empty_pb2.Empty:
        pb = monitoring_v3.CreateTimeSeriesRequest.pb(request)
        project = project_of(pb.name)
        check_request_size(len(pb.time_series))
        now = self._clock()
        failures: list[tuple[int, RefusedError]] = []
        with self._lock:
            written: set[SeriesKey] = set()
            for i, ts in enumerate(pb.time_series):
                try:
                    write = parse_write(project, ts, now=now)
                    if write.key in written:
                        raise RefusedError(
                            "Duplicate TimeSeries encountered. Only one point can be written per TimeSeries per "
                            "request."
                        )
                    series = self._series.get(write.key, {})
                    last = series[max(series)] if series else None
                    descriptor = self._descriptor(project, write.key.metric_type)
                    point = accept(write, descriptor, last, spacing_s=self._spacing)
                except RefusedError as refused:
                    failures.append((i, refused))
                    continue
                written.add(write.key)
                key = (project, write.key.metric_type)
                self._custom[key] = auto_descriptor(write, point, descriptor)
                self._series.setdefault(write.key, {})[point.end] = point
                self._advance(point.end)
        if failures:
            raise partial_failure(len(pb.time_series), failures)
        return empty_pb2.Empty()

    def _create_descriptor(self, request: monitoring_v3.CreateMetricDescriptorRequest) -> Any:
        pb = monitoring_v3.CreateMetricDescriptorRequest.pb(request)
        project = project_of(pb.name)
        with self._lock:
            existing = self._custom.get((project, pb.metric_descriptor.type))
            info = descriptor_from_request(pb.metric_descriptor, existing)
            self._custom[(project, info.type)] = info
        return info.to_pb(project)

    def _list_descriptors(
        self, request: monitoring_v3.ListMetricDescriptorsRequest
    ) -> monitoring_v3.ListMetricDescriptorsResponse:
        pb = monitoring_v3.ListMetricDescriptorsRequest.pb(request)
        project = project_of(pb.name)
        flt = parse_filter(pb.filter)
        with self._lock:
            custom = [info for (p, _), info in self._custom.items() if p == project]
        infos = sorted([*BUILTIN.values(), *custom], key=lambda i: i.type)
        matching = [i for i in infos if flt.matches(_descriptor_lookup(i))]
        digest = query_digest(pb)
        offset = decode_token(pb.page_token, digest).series
        size = page_size_of(pb.page_size)
        response = monitoring_v3.ListMetricDescriptorsResponse.pb()()
        for info in matching[offset : offset + size]:
            response.metric_descriptors.append(info.to_pb(project))
        if offset + size < len(matching):
            response.next_page_token = encode_token(digest, PageCursor(offset + size, 0))
        result: monitoring_v3.ListMetricDescriptorsResponse = monitoring_v3.ListMetricDescriptorsResponse.wrap(response)
        return result

    def _get_descriptor(self, request: monitoring_v3.GetMetricDescriptorRequest) -> Any:
        name = monitoring_v3.GetMetricDescriptorRequest.pb(request).name
        project_part, sep, metric_type = name.partition("/metricDescriptors/")
        if not sep:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"Field name had an invalid value of {name!r}.")
        project = project_of(project_part)
        with self._lock:
            info = self._descriptor(project, metric_type)
        if info is None:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"Could not find descriptor for metric '{metric_type}'.")
        return info.to_pb(project)


def _frozen_copy(point: RawPoint) -> RawPoint:
    """A copy whose distribution no later record can mutate."""
    if isinstance(point.value, Dist):
        return RawPoint(point.start, point.end, point.value.copy())
    return point


def _descriptor_lookup(info: MetricInfo) -> Lookup:
    """Descriptors are filtered by `metric.type` only."""

    def lookup(selector: Selector) -> str | None:
        return info.type if selector == ("metric.type", "") else None

    return lookup

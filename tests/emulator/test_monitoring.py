"""The emulated Cloud Monitoring MetricService, driven through the real `MetricServiceClient` over loopback.

Predictions are recorded into the store with explicit timestamps (as the emulated Vertex AI prediction
service does), then read back the way the controller's canary analysis reads Vertex AI's metrics.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.api import metric_pb2
from google.api_core import exceptions
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.emulator.grpc_adapter import build_server
from controller.emulator.metrics import MetricStore
from controller.emulator.metrics_values import LATENCY_BUCKETS, Dist

PROJECT = "demo-project"
NAME = f"projects/{PROJECT}"
T0 = 1_700_000_000.0  # the end of every query window unless said otherwise
PREFIX = "aiplatform.googleapis.com/prediction/online/"
ENDPOINT = 'resource.type = "aiplatform.googleapis.com/Endpoint"'
Aligner = monitoring_v3.Aggregation.Aligner
Reducer = monitoring_v3.Aggregation.Reducer
HEADERS = monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.HEADERS


@dataclass
class Env:
    store: MetricStore
    client: monitoring_v3.MetricServiceClient

    def record(
        self, *, at: float, model: str = "1", code: int = 200, latency: float = 100.0, endpoint: str = "chat"
    ) -> None:
        self.store.record_prediction(
            project=PROJECT,
            location="us-central1",
            endpoint_id=endpoint,
            endpoint_display_name=f"{endpoint}-display",
            deployed_model_id=model,
            model_display_name=f"model-{model}",
            latency_ms=latency,
            response_code=code,
            at=at,
        )

    def query(
        self,
        metric: str,
        *,
        extra_filter: str = "",
        start: float = T0 - 60,
        end: float = T0,
        aggregation: dict[str, Any] | None = None,
        **fields: Any,
    ) -> list[monitoring_v3.TimeSeries]:
        return list(
            self.pager(metric, extra_filter=extra_filter, start=start, end=end, aggregation=aggregation, **fields)
        )

    def pager(
        self,
        metric: str,
        *,
        extra_filter: str = "",
        start: float = T0 - 60,
        end: float = T0,
        aggregation: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Any:
        request: dict[str, Any] = {
            "name": NAME,
            "filter": f'metric.type = "{PREFIX}{metric}" AND {ENDPOINT} {extra_filter}',
            "interval": _interval(start, end),
            **fields,
        }
        if aggregation is not None:
            request["aggregation"] = aggregation
        return self.client.list_time_series(request=request)


def _interval(start: float, end: float) -> dict[str, Any]:
    def stamp(t: float) -> dict[str, int]:
        return {"seconds": int(t), "nanos": round((t - int(t)) * 1e9)}

    return {"start_time": stamp(start), "end_time": stamp(end)}


def _agg(
    aligner: Any, reducer: Any = Reducer.REDUCE_NONE, group_by: tuple[str, ...] = (), period: int = 60
) -> dict[str, Any]:
    return {
        "alignment_period": {"seconds": period},
        "per_series_aligner": aligner,
        "cross_series_reducer": reducer,
        "group_by_fields": list(group_by),
    }


def percentile_from_distribution(dist: Any, q: float) -> float:
    """q-th percentile (0..100) of an exponential-bucket distribution, interpolating inside the bucket."""
    opts = dist.bucket_options.exponential_buckets
    n = opts.num_finite_buckets
    counts = list(dist.bucket_counts) + [0] * (n + 2 - len(dist.bucket_counts))
    rank = q / 100.0 * dist.count
    seen = 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            low = 0.0 if i == 0 else opts.scale * opts.growth_factor ** (i - 1)
            high = opts.scale * opts.growth_factor**i if i <= n else low
            return float(low + (high - low) * (rank - seen) / c)
        seen += c
    raise AssertionError("rank beyond the distribution")


def _end(point: Any) -> float:
    return float(point.interval.end_time.timestamp())


def _start(point: Any) -> float:
    return float(point.interval.start_time.timestamp())


def _by(series: list[monitoring_v3.TimeSeries], label: str) -> dict[str, monitoring_v3.TimeSeries]:
    return {ts.metric.labels[label]: ts for ts in series}


@pytest.fixture
def env() -> Iterator[Env]:
    store = MetricStore()
    server, port = build_server(store.methods())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    client = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
    try:
        yield Env(store, client)
    finally:
        channel.close()
        server.stop(None)


def test_prediction_counts_are_summed_per_deployed_model(env: Env) -> None:
    for i in range(30):
        env.record(at=T0 - 50 + i, model="1")
    for i in range(10):
        env.record(at=T0 - 30 + i, model="2")
    series = env.query(
        "prediction_count",
        aggregation=_agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_SUM, ("metric.label.deployed_model_id",)),
    )
    by_model = _by(series, "deployed_model_id")
    assert {m: [p.value.int64_value for p in ts.points] for m, ts in by_model.items()} == {"1": [30], "2": [10]}
    point = by_model["1"].points[0]
    assert _end(point) == T0
    assert _start(point) == T0 - 60
    assert by_model["1"].metric_kind == metric_pb2.MetricDescriptor.DELTA
    assert by_model["1"].value_type == metric_pb2.MetricDescriptor.INT64
    assert dict(by_model["1"].metric.labels) == {"deployed_model_id": "1"}
    assert by_model["1"].resource.type == "aiplatform.googleapis.com/Endpoint"


def test_raw_series_carry_vertex_resource_and_metric_labels(env: Env) -> None:
    env.record(at=T0 - 5, model="7")
    [series] = env.query("prediction_count")
    assert dict(series.resource.labels) == {
        "resource_container": PROJECT,
        "location": "us-central1",
        "endpoint_id": "chat",
    }
    assert dict(series.metric.labels) == {
        "deployed_model_id": "7",
        "model_display_name": "model-7",
        "endpoint_display_name": "chat-display",
        "spot": "false",
    }


def test_raw_points_come_one_per_second_newest_first(env: Env) -> None:
    for at in (T0 - 20.5, T0 - 20.2, T0 - 10.1, T0 - 3.9):
        env.record(at=at)
    [series] = env.query("prediction_count")
    assert [(_end(p), p.value.int64_value) for p in series.points] == [
        (T0 - 3, 1),
        (T0 - 10, 1),
        (T0 - 20, 2),
    ]


def test_delta_alignment_yields_one_point_per_period_ending_at_the_interval_end(env: Env) -> None:
    for at, n in ((T0 - 150, 4), (T0 - 100, 2), (T0 - 10, 1)):
        for _ in range(n):
            env.record(at=at)
    [series] = env.query("prediction_count", start=T0 - 180, aggregation=_agg(Aligner.ALIGN_DELTA))
    assert [(_end(p), p.value.int64_value) for p in series.points] == [
        (T0, 1),
        (T0 - 60, 2),
        (T0 - 120, 4),
    ]


def test_error_count_counts_only_responses_of_400_and_above(env: Env) -> None:
    for code, n in ((200, 3), (500, 2), (429, 1)):
        for _ in range(n):
            env.record(at=T0 - 10, code=code)
    sum_all = _agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_SUM)
    [errors] = env.query("error_count", aggregation=sum_all)
    [predictions] = env.query("prediction_count", aggregation=sum_all)
    assert errors.points[0].value.int64_value == 3
    assert predictions.points[0].value.int64_value == 6
    responses = env.query(
        "response_count",
        aggregation=_agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_SUM, ("metric.label.response_code",)),
    )
    assert {c: ts.points[0].value.int64_value for c, ts in _by(responses, "response_code").items()} == {
        "200": 3,
        "500": 2,
        "429": 1,
    }


def test_error_count_has_no_series_before_the_first_error(env: Env) -> None:
    env.record(at=T0 - 10, code=200)
    assert env.query("error_count", aggregation=_agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_SUM)) == []


def test_rate_aligner_divides_the_delta_by_the_alignment_period(env: Env) -> None:
    for i in range(120):
        env.record(at=T0 - 60 + i / 2)
    [series] = env.query("prediction_count", aggregation=_agg(Aligner.ALIGN_RATE, Reducer.REDUCE_SUM))
    assert series.points[0].value.double_value == pytest.approx(2.0)
    assert series.value_type == metric_pb2.MetricDescriptor.DOUBLE
    assert series.metric_kind == metric_pb2.MetricDescriptor.GAUGE


def test_latency_distribution_percentile_is_close_to_the_recorded_latencies(env: Env) -> None:
    latencies = [100.0 + i for i in range(1000)]  # 100 .. 1099 ms, true p99 = 1089 ms
    for i, latency in enumerate(latencies):
        env.record(at=T0 - 50 + i % 40, latency=latency)
    [series] = env.query("prediction_latencies", aggregation=_agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_SUM))
    dist = series.points[0].value.distribution_value
    assert dist.count == 1000
    assert dist.mean == pytest.approx(sum(latencies) / 1000)
    assert sum(dist.bucket_counts) == 1000
    assert dist.bucket_options.exponential_buckets.growth_factor > 1
    p99 = percentile_from_distribution(dist, 99)
    p50 = percentile_from_distribution(dist, 50)
    assert p99 == pytest.approx(1089, rel=0.1)
    assert p50 == pytest.approx(599.5, rel=0.1)
    [server_p99] = env.query(
        "prediction_latencies", aggregation=_agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_PERCENTILE_99)
    )
    assert server_p99.points[0].value.double_value == pytest.approx(p99)
    [aligned_p99] = env.query("prediction_latencies", aggregation=_agg(Aligner.ALIGN_PERCENTILE_99))
    assert aligned_p99.points[0].value.double_value == pytest.approx(p99)


def test_latency_percentiles_separate_a_slow_canary_from_a_fast_primary(env: Env) -> None:
    for i in range(200):
        env.record(at=T0 - 40 + i % 30, model="1", latency=80.0 + i % 20)
        env.record(at=T0 - 40 + i % 30, model="2", latency=2500.0 + i)
    series = env.query(
        "prediction_latencies",
        extra_filter='AND metric.labels.latency_type = "total"',
        aggregation=_agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_PERCENTILE_99, ("metric.label.deployed_model_id",)),
    )
    p99 = {m: ts.points[0].value.double_value for m, ts in _by(series, "deployed_model_id").items()}
    assert p99["1"] < 120
    assert p99["2"] > 2000


def test_label_filters_select_one_deployed_model(env: Env) -> None:
    env.record(at=T0 - 10, model="1")
    env.record(at=T0 - 10, model="2")
    env.record(at=T0 - 10, model="2", endpoint="other")
    series = env.query(
        "prediction_count",
        extra_filter='AND metric.labels.deployed_model_id = "2" AND resource.label."endpoint_id" = "chat"',
    )
    assert [(ts.metric.labels["deployed_model_id"], ts.resource.labels["endpoint_id"]) for ts in series] == [
        ("2", "chat")
    ]
    others = env.query("prediction_count", extra_filter='AND NOT (metric.label.deployed_model_id = one_of("1", "2"))')
    assert others == []


def test_reducing_by_a_quoted_resource_label_keeps_only_that_label(env: Env) -> None:
    env.record(at=T0 - 10, model="1")
    env.record(at=T0 - 10, model="2")
    env.record(at=T0 - 10, model="3", endpoint="other")
    series = env.query(
        "prediction_count",
        aggregation=_agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_SUM, ('resource.label."endpoint_id"',)),
    )
    assert {ts.resource.labels["endpoint_id"]: ts.points[0].value.int64_value for ts in series} == {
        "chat": 2,
        "other": 1,
    }
    assert all(dict(ts.metric.labels) == {} and len(ts.resource.labels) == 1 for ts in series)
    with pytest.raises(exceptions.InvalidArgument, match="groupByFields"):
        env.query("prediction_count", aggregation=_agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_SUM, ("spot",)))


def test_interval_excludes_points_outside_it(env: Env) -> None:
    env.record(at=T0 - 300)  # long before the window
    env.record(at=T0 - 61)  # its one-second point ends at T0 - 60: the window's excluded start
    env.record(at=T0 - 30)
    env.record(at=T0 + 30)  # after the window
    [series] = env.query("prediction_count", aggregation=_agg(Aligner.ALIGN_DELTA))
    assert [p.value.int64_value for p in series.points] == [1]


def test_queries_are_scoped_to_the_project_in_the_name(env: Env) -> None:
    env.record(at=T0 - 10)
    request = {
        "name": "projects/someone-else",
        "filter": f'metric.type = "{PREFIX}prediction_count"',
        "interval": _interval(T0 - 60, T0),
    }
    assert list(env.client.list_time_series(request=request)) == []


def test_a_filter_naming_two_metric_types_is_rejected(env: Env) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="exactly one metric type"):
        env.query("prediction_count", extra_filter=f'AND metric.type = "{PREFIX}error_count"')
    with pytest.raises(exceptions.InvalidArgument, match="exactly one metric type"):
        env.client.list_time_series(request={"name": NAME, "filter": ENDPOINT, "interval": _interval(T0 - 60, T0)})


def test_a_malformed_filter_is_rejected(env: Env) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="filter"):
        env.query("prediction_count", extra_filter="AND metric.labels.x = ")


def test_an_unknown_metric_type_is_not_found(env: Env) -> None:
    with pytest.raises(exceptions.NotFound, match="Cannot find metric"):
        env.query("no_such_metric")


def test_aggregations_the_real_api_refuses_are_rejected(env: Env) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="at least 60s"):
        env.query("prediction_count", aggregation=_agg(Aligner.ALIGN_DELTA, period=10))
    with pytest.raises(exceptions.InvalidArgument, match="reducer requires an aligner"):
        env.query("prediction_count", aggregation=_agg(Aligner.ALIGN_NONE, Reducer.REDUCE_SUM))
    with pytest.raises(exceptions.InvalidArgument, match="DISTRIBUTION"):
        env.query("prediction_latencies", aggregation=_agg(Aligner.ALIGN_RATE))
    with pytest.raises(exceptions.InvalidArgument, match="end time"):
        env.client.list_time_series(request={"name": NAME, "filter": f'metric.type = "{PREFIX}error_count"'})


def test_headers_view_returns_series_without_points(env: Env) -> None:
    env.record(at=T0 - 10, model="1")
    env.record(at=T0 - 10, model="2")
    series = env.query("prediction_count", view=HEADERS)
    assert sorted(ts.metric.labels["deployed_model_id"] for ts in series) == ["1", "2"]
    assert all(len(ts.points) == 0 for ts in series)


def test_pagination_returns_every_series_once_across_pages(env: Env) -> None:
    for model in "12345":
        env.record(at=T0 - 10, model=model)
    pager = env.pager("prediction_count", view=HEADERS, page_size=2)
    pages = list(pager.pages)
    assert [len(p.time_series) for p in pages] == [2, 2, 1]
    models = [ts.metric.labels["deployed_model_id"] for p in pages for ts in p.time_series]
    assert sorted(models) == list("12345")


def test_full_view_pages_count_points(env: Env) -> None:
    for model in "123":
        for i in range(3):
            env.record(at=T0 - 10 - i, model=model)
    pages = list(env.pager("prediction_count", page_size=4).pages)
    assert [sum(len(ts.points) for ts in p.time_series) for p in pages] == [3, 3, 3]
    big = list(
        env.pager("prediction_count", page_size=2, extra_filter='AND metric.label.deployed_model_id = "1"').pages
    )
    assert [len(p.time_series[0].points) for p in big] == [2, 1]


def test_a_page_token_from_another_query_is_rejected(env: Env) -> None:
    for model in "123":
        env.record(at=T0 - 10, model=model)
    first = env.client.list_time_series(
        request={
            "name": NAME,
            "filter": f'metric.type = "{PREFIX}prediction_count"',
            "interval": _interval(T0 - 60, T0),
            "page_size": 1,
        }
    )
    token = next(iter(first.pages)).next_page_token
    assert token
    with pytest.raises(exceptions.InvalidArgument, match="page token"):
        env.query("prediction_count", start=T0 - 120, page_token=token)


def test_points_older_than_the_retention_are_dropped() -> None:
    store = MetricStore(retention_s=600)
    server, port = build_server(store.methods())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        env = Env(store, monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel)))
        env.record(at=T0 - 3000)
        env.record(at=T0 - 10)
        [series] = env.query("prediction_count", start=T0 - 3600)
        assert [_end(p) for p in series.points] == [T0 - 9]
    finally:
        channel.close()
        server.stop(None)


def test_points_stay_hidden_during_the_ingestion_delay() -> None:
    store = MetricStore(ingestion_delay_s=120, clock=lambda: T0)
    server, port = build_server(store.methods())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        env = Env(store, monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel)))
        env.record(at=T0 - 200)
        env.record(at=T0 - 10)
        [series] = env.query("prediction_count", start=T0 - 300)
        assert [_end(p) for p in series.points] == [T0 - 199]
        assert env.query("prediction_count", aggregation=_agg(Aligner.ALIGN_DELTA)) == []
    finally:
        channel.close()
        server.stop(None)


def test_concurrent_recording_loses_no_predictions(env: Env) -> None:
    def burst(model: str) -> None:
        for i in range(500):
            env.record(at=T0 - 50 + i % 40, model=model, latency=float(i))

    threads = [threading.Thread(target=burst, args=(m,)) for m in "1234"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [counts] = env.query("prediction_count", aggregation=_agg(Aligner.ALIGN_DELTA, Reducer.REDUCE_SUM))
    [latencies] = env.query("prediction_latencies", aggregation=_agg(Aligner.ALIGN_SUM, Reducer.REDUCE_SUM))
    assert counts.points[0].value.int64_value == 2000
    assert latencies.points[0].value.distribution_value.count == 2000


def test_custom_gauges_written_with_create_time_series_read_back(env: Env) -> None:
    now = float(math.floor(time.time()))
    for offset, value in ((-30, 1.5), (-20, 2.5)):
        series = monitoring_v3.TimeSeries(
            {
                "metric": {"type": "custom.googleapis.com/genaiops/quality", "labels": {"release": "r1"}},
                "resource": {"type": "global", "labels": {"project_id": PROJECT}},
                "points": [
                    {"interval": {"end_time": {"seconds": int(now + offset)}}, "value": {"double_value": value}}
                ],
            }
        )
        env.client.create_time_series(name=NAME, time_series=[series])
    request = {
        "name": NAME,
        "filter": 'metric.type = "custom.googleapis.com/genaiops/quality" AND metric.label.release = "r1"',
        "interval": _interval(now - 60, now),
    }
    [raw] = env.client.list_time_series(request=request)
    assert [p.value.double_value for p in raw.points] == [2.5, 1.5]
    [mean] = env.client.list_time_series(request={**request, "aggregation": _agg(Aligner.ALIGN_MEAN)})
    assert mean.points[0].value.double_value == pytest.approx(2.0)
    with pytest.raises(exceptions.InvalidArgument, match="in order"):
        env.client.create_time_series(name=NAME, time_series=[series])


def test_vertex_metrics_cannot_be_written_by_users(env: Env) -> None:
    series = monitoring_v3.TimeSeries(
        {
            "metric": {"type": f"{PREFIX}prediction_count"},
            "resource": {"type": "aiplatform.googleapis.com/Endpoint"},
            "points": [{"interval": {"end_time": {"seconds": 1}}, "value": {"int64_value": 1}}],
        }
    )
    with pytest.raises(exceptions.InvalidArgument, match="user-defined"):
        env.client.create_time_series(name=NAME, time_series=[series])


def test_metric_descriptors_list_vertex_prediction_metrics(env: Env) -> None:
    descriptors = list(
        env.client.list_metric_descriptors(
            request={"name": NAME, "filter": 'metric.type = starts_with("aiplatform.googleapis.com/prediction")'}
        )
    )
    by_type = {d.type: d for d in descriptors}
    latencies = by_type[f"{PREFIX}prediction_latencies"]
    assert latencies.unit == "ms"
    assert {label.key for label in latencies.labels} >= {"deployed_model_id", "latency_type"}
    assert f"{PREFIX}error_count" in by_type
    got = env.client.get_metric_descriptor(name=f"{NAME}/metricDescriptors/{PREFIX}response_count")
    assert got.type == f"{PREFIX}response_count"


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=1, max_size=40),
    st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=1, max_size=40),
)
def test_merging_distributions_equals_recording_all_samples(left: list[float], right: list[float]) -> None:
    a, b, both = Dist(), Dist(), Dist()
    for x in left:
        a.add(x)
        both.add(x)
    for x in right:
        b.add(x)
        both.add(x)
    a.merge(b)
    assert (a.count, a.counts) == (both.count, both.counts)
    assert a.mean == pytest.approx(both.mean, rel=1e-9, abs=1e-6)
    assert a.m2 == pytest.approx(both.m2, rel=1e-6, abs=1e-3)
    percentiles = [a.percentile(q) for q in (5, 50, 95, 99)]
    assert percentiles == sorted(percentiles)
    top = LATENCY_BUCKETS.upper(LATENCY_BUCKETS.index(max(left + right)))
    assert percentiles[0] >= 0.0
    assert percentiles[-1] <= top

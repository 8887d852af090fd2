"""The Cloud Monitoring provider (`CloudMonitoringMetrics`), driven against the emulator through the real
`monitoring_v3.MetricServiceClient` over loopback, and its pure client-side `percentile`.

Predictions are recorded with explicit timestamps (or synthesised by the emulator's traffic generator from
deployed models with known behaviours) under a fixed clock, so every count and percentile is exact.
"""

from __future__ import annotations

import math
import random
import socket
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.api import distribution_pb2
from google.cloud import aiplatform_v1 as v1
from google.cloud import monitoring_v3
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.emulator.metrics_values import LATENCY_BUCKETS, Dist, dist_to_pb
from controller.emulator.server import Emulator, running
from controller.model import Metric, MetricQuery
from controller.providers.monitoring import (
    CloudMonitoringMetrics,
    ModelScope,
    merge_distributions,
    newest_value,
    percentile,
    query_window,
)
from controller.rollout.verdicts import Measurement, Sample, Verdict, judge, overall

T0 = 1_700_000_000.0  # the emulator's clock, and the end of every analysis window
REGION = "us-central1"
QUALITY = "custom.googleapis.com/canary/quality"
RESPONSES = "aiplatform.googleapis.com/prediction/online/response_count"

ERROR_RATE = Metric(name="error-rate", max=0.05)
REQUEST_COUNT = Metric(name="request-count", min=1)
P50, P95, P99 = (Metric(name=f"latency-p{q}", max_ms=10_000) for q in (50, 95, 99))


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running(rest_port=None, storage_port=None, min_alignment_period_s=1, clock=lambda: T0) as emu:
        yield emu


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def metrics(emulator: Emulator, calls: list[str]) -> CloudMonitoringMetrics:
    return CloudMonitoringMetrics(
        project=emulator.project, channel=emulator.channel, min_alignment_s=1, timeout_s=5, on_call=calls.append
    )


def record(
    emulator: Emulator, *, at: float, model: str = "1", latency: float = 50.0, code: int = 200, endpoint: str = "chat"
) -> None:
    emulator.metrics.record_prediction(
        project=emulator.project,
        location=emulator.location,
        endpoint_id=endpoint,
        endpoint_display_name=endpoint,
        deployed_model_id=model,
        model_display_name=f"model-{model}",
        latency_ms=latency,
        response_code=code,
        at=at,
    )


def sample(
    metrics: CloudMonitoringMetrics,
    wanted: tuple[Metric, ...],
    *,
    model: str = "1",
    start: float = T0 - 60,
    end: float = T0,
    endpoint: str = "chat",
) -> Sample:
    return metrics.sample(
        region=REGION, endpoint_id=endpoint, deployed_model_id=model, start=start, end=end, metrics=wanted
    )


# ---- counts and windows ---------------------------------------------------------------------------


def test_requests_and_errors_are_counted_per_deployed_model(
    emulator: Emulator, metrics: CloudMonitoringMetrics
) -> None:
    for i in range(40):
        record(emulator, at=T0 - 50 + i, model="1", code=500 if i % 10 == 0 else 200)
    for i in range(10):
        record(emulator, at=T0 - 20 + i, model="2")
    record(emulator, at=T0 - 5, model="1", endpoint="other", code=500)  # same model id, other endpoint

    canary = sample(metrics, (ERROR_RATE,), model="1")
    stable = sample(metrics, (ERROR_RATE,), model="2")

    assert (canary.requests, canary.errors, canary.error_rate, canary.error) == (40, 4, 0.1, None)
    assert (stable.requests, stable.errors, stable.error_rate, stable.error) == (10, 0, 0.0, None)


def test_a_model_without_any_error_count_series_has_zero_errors(
    emulator: Emulator, metrics: CloudMonitoringMetrics
) -> None:
    for i in range(25):
        record(emulator, at=T0 - 30 + i)

    result = sample(metrics, (ERROR_RATE, REQUEST_COUNT))

    assert (result.requests, result.errors, result.error_rate, result.error) == (25, 0, 0.0, None)


def test_a_model_without_traffic_has_no_requests_and_no_latencies(metrics: CloudMonitoringMetrics) -> None:
    result = sample(metrics, (ERROR_RATE, P99))

    assert result == Sample(requests=0, errors=0, latency_ms={50: None, 95: None, 99: None})
    assert result.error_rate is None


def test_points_outside_the_window_are_left_out(emulator: Emulator, metrics: CloudMonitoringMetrics) -> None:
    for at in (T0 - 300, T0 - 61, T0 - 59, T0 - 30, T0 - 0.5, T0 + 1, T0 + 30):
        record(emulator, at=at, code=500)

    result = sample(metrics, (ERROR_RATE,))

    assert (result.requests, result.errors) == (3, 3)  # T0-59, T0-30 and T0-0.5


def test_a_window_shorter_than_the_minimum_alignment_is_widened_backwards(emulator: Emulator) -> None:
    coarse = CloudMonitoringMetrics(project=emulator.project, channel=emulator.channel, min_alignment_s=10)
    for _ in range(5):
        record(emulator, at=T0 - 8)
    for _ in range(3):
        record(emulator, at=T0 - 1)
    record(emulator, at=T0 - 12)

    result = sample(coarse, (REQUEST_COUNT,), start=T0 - 2)

    assert result.requests == 8  # [T0-10, T0], not [T0-2, T0]


def test_a_fractional_window_is_rounded_up_to_whole_seconds(
    emulator: Emulator, metrics: CloudMonitoringMetrics
) -> None:
    record(emulator, at=T0 - 2.7)  # in the one-second point (T0-3, T0-2]
    record(emulator, at=T0 - 3.5)  # in (T0-4, T0-3]: outside even the rounded window

    assert sample(metrics, (REQUEST_COUNT,), start=T0 - 2.5).requests == 1


def test_query_window_rounds_up_and_applies_the_minimum() -> None:
    assert query_window(T0 - 90, T0, min_alignment_s=60) == query_window(T0 - 90, T0, min_alignment_s=1)
    assert query_window(T0 - 90, T0, min_alignment_s=60).period_s == 90
    assert query_window(T0 - 30, T0, min_alignment_s=60).start == T0 - 60
    assert query_window(T0 - 60.4, T0, min_alignment_s=60).period_s == 61
    assert query_window(T0 - 60.0000000001, T0, min_alignment_s=60).period_s == 60
    assert query_window(T0, T0, min_alignment_s=0.5).period_s == 1


def test_a_reversed_window_is_an_error_sample(metrics: CloudMonitoringMetrics, calls: list[str]) -> None:
    result = sample(metrics, (ERROR_RATE,), start=T0, end=T0 - 60)

    assert result.error is not None and "window" in result.error
    assert calls == []


@pytest.mark.parametrize(
    ("wanted", "expected_calls"),
    [
        ((), 0),
        ((REQUEST_COUNT,), 1),
        ((ERROR_RATE,), 2),
        ((P99,), 2),
        ((P50, P95, P99), 2),
        ((ERROR_RATE, REQUEST_COUNT, P95), 3),
        ((ERROR_RATE, P99, Metric(name="responses", min=0, query=MetricQuery(filter=f'metric.type="{RESPONSES}"'))), 4),
    ],
)
def test_only_the_series_the_metrics_need_are_queried(
    metrics: CloudMonitoringMetrics, calls: list[str], wanted: tuple[Metric, ...], expected_calls: int
) -> None:
    result = sample(metrics, wanted)

    assert calls == ["ListTimeSeries"] * expected_calls
    assert result.error is None
    assert bool(result.latency_ms) == any(m.name.startswith("latency-") for m in wanted)


# ---- latency percentiles --------------------------------------------------------------------------


def _true_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _bucket_width_at(value: float) -> float:
    i = LATENCY_BUCKETS.index(value)
    return LATENCY_BUCKETS.upper(i) - max(0.0, LATENCY_BUCKETS.lower(i))


def test_latency_percentiles_are_within_one_bucket_of_the_truth(
    emulator: Emulator, metrics: CloudMonitoringMetrics
) -> None:
    rng = random.Random(7)
    latencies = [rng.lognormvariate(math.log(120), 0.6) for _ in range(500)]
    for i, latency in enumerate(latencies):
        record(emulator, at=T0 - 59 + (i % 59), latency=latency)
    for i in range(100):
        record(emulator, at=T0 - 59 + (i % 59), model="2", latency=5_000)  # must not leak into model 1

    result = sample(metrics, (P50, P95, P99))

    assert result.error is None and result.requests == 500
    for q in (50, 95, 99):
        truth = _true_percentile(latencies, q)
        estimate = result.latency_ms[q]
        assert estimate is not None
        assert abs(estimate - truth) <= _bucket_width_at(truth), (q, estimate, truth)


def test_client_side_p99_matches_the_servers_reduce_percentile_99(
    emulator: Emulator, metrics: CloudMonitoringMetrics
) -> None:
    for i in range(300):
        record(emulator, at=T0 - 1 - (i % 50), latency=10 + 3 * i)
    server_p99 = Metric(
        name="server-p99",
        max=1e9,
        query=MetricQuery(
            filter='metric.type="aiplatform.googleapis.com/prediction/online/prediction_latencies" '
            'resource.labels.endpoint_id="${endpoint_id}" metric.labels.deployed_model_id="${deployed_model_id}"',
            aligner="ALIGN_DELTA",
            reducer="REDUCE_PERCENTILE_99",
        ),
    )

    result = sample(metrics, (P99, server_p99))

    assert result.latency_ms[99] == pytest.approx(result.custom["server-p99"])


# ---- custom queries -------------------------------------------------------------------------------


def _write_quality(emulator: Emulator, *, model: str, at: float, value: float) -> None:
    series = monitoring_v3.TimeSeries(
        metric={"type": QUALITY, "labels": {"deployed_model_id": model}},
        resource={"type": "global", "labels": {"project_id": emulator.project}},
        points=[{"interval": {"end_time": {"seconds": int(at)}}, "value": {"double_value": value}}],
    )
    emulator.metric_client().create_time_series(name=f"projects/{emulator.project}", time_series=[series])


def _quality(aligner: Any = "ALIGN_MEAN", reducer: Any = "REDUCE_MEAN", flt: str = "") -> Metric:
    scoped = flt or f'metric.type="{QUALITY}" AND metric.labels.deployed_model_id="${{deployed_model_id}}"'
    return Metric(name="quality", min=0.75, query=MetricQuery(filter=scoped, aligner=aligner, reducer=reducer))


def test_a_custom_query_reads_the_aggregated_value_for_the_deployed_model(
    emulator: Emulator, metrics: CloudMonitoringMetrics
) -> None:
    _write_quality(emulator, model="1", at=T0 - 200, value=0.0)  # outside the window
    _write_quality(emulator, model="1", at=T0 - 50, value=0.7)
    _write_quality(emulator, model="1", at=T0 - 10, value=0.9)
    _write_quality(emulator, model="2", at=T0 - 10, value=0.1)

    canary = sample(metrics, (_quality(),), model="1")
    stable = sample(metrics, (_quality(),), model="2")
    unused = sample(metrics, (_quality(),), model="3")

    assert canary.custom == {"quality": pytest.approx(0.8)}
    assert stable.custom == {"quality": pytest.approx(0.1)}
    assert unused.custom == {"quality": None}
    assert judge(_quality(), canary=canary, stable=None, min_requests=0).verdict == Verdict.SUCCESSFUL
    assert judge(_quality(), canary=stable, stable=None, min_requests=0).verdict == Verdict.FAILED


def test_a_custom_query_without_a_reducer_reads_its_one_series(
    emulator: Emulator, metrics: CloudMonitoringMetrics
) -> None:
    _write_quality(emulator, model="1", at=T0 - 50, value=0.7)
    _write_quality(emulator, model="1", at=T0 - 40, value=0.6)
    _write_quality(emulator, model="2", at=T0 - 40, value=0.2)

    assert sample(metrics, (_quality("ALIGN_MAX", "REDUCE_NONE"),)).custom == {"quality": pytest.approx(0.7)}


def _series(*points: tuple[float, dict[str, Any]]) -> Any:
    ts = monitoring_v3.TimeSeries(
        points=[{"interval": {"end_time": {"seconds": int(end)}}, "value": value} for end, value in points]
    )
    return monitoring_v3.TimeSeries.pb(ts)


def test_newest_value_takes_the_newest_point_of_all_series_and_the_first_series_on_a_tie() -> None:
    first = _series((T0 - 60, {"double_value": 1.0}), (T0, {"int64_value": 7}))
    second = _series((T0, {"double_value": 2.5}), (T0 - 1, {"double_value": 9.0}))
    newer = _series((T0 + 1, {"bool_value": True}))

    assert newest_value([first, second]) == 7.0
    assert newest_value([second, first]) == 2.5
    assert newest_value([first, newer]) == 1.0
    assert newest_value([_series((T0, {"distribution_value": {"count": 2, "mean": 4.5}}))]) == 4.5
    assert newest_value([_series((T0, {"string_value": "x"}))]) is None
    assert newest_value([_series()]) is None
    assert newest_value([]) is None


def test_an_unknown_custom_metric_type_errors_only_that_metric(metrics: CloudMonitoringMetrics) -> None:
    metric = _quality(flt='metric.type="custom.googleapis.com/never/written"')

    result = sample(metrics, (ERROR_RATE, metric))

    assert result.error is None, "the built-in metrics beside it are still measured"
    failure = result.custom_errors["quality"]
    assert "'quality'" in failure and "NOT_FOUND" in failure
    judged = judge(metric, canary=result, stable=None, min_requests=0)
    assert judged.verdict is Verdict.ERROR and "NOT_FOUND" in judged.detail
    assert judge(ERROR_RATE, canary=result, stable=None, min_requests=0).verdict is not Verdict.ERROR


def test_placeholders_are_filled_in_escaped() -> None:
    scope = ModelScope("p", "us-central1", 'e"1', "42")

    expanded = scope.expand('metric.labels.deployed_model_id="${deployed_model_id}" x="${endpoint_id}" ${other}')

    assert expanded == 'metric.labels.deployed_model_id="42" x="e\\"1" ${other}'


# ---- failures -------------------------------------------------------------------------------------


def test_an_unavailable_api_gives_an_error_sample_without_raising(
    emulator: Emulator, metrics: CloudMonitoringMetrics, calls: list[str]
) -> None:
    record(emulator, at=T0 - 5)
    emulator.faults.add("ListTimeSeries:fail_next=1:code=UNAVAILABLE")

    failed = sample(metrics, (ERROR_RATE, P99))
    recovered = sample(metrics, (REQUEST_COUNT,))

    assert failed.error is not None and "UNAVAILABLE" in failed.error
    assert calls == ["ListTimeSeries", "ListTimeSeries"]  # no retry; the failed sample stopped at once
    assert (recovered.error, recovered.requests) == (None, 1)
    assert judge(ERROR_RATE, canary=failed, stable=None, min_requests=0).verdict == Verdict.ERROR


def test_an_unreachable_server_gives_an_error_sample_within_the_timeout() -> None:
    with socket.socket() as probe:  # a loopback port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        metrics = CloudMonitoringMetrics(project="p", channel=channel, min_alignment_s=1, timeout_s=2)
        result = sample(metrics, (ERROR_RATE,))
    finally:
        channel.close()

    assert result.error is not None and "UNAVAILABLE" in result.error


# ---- verdicts on synthetic traffic ----------------------------------------------------------------

HEALTHY = "gs://emulator-models/healthy?latency_ms=40&latency_jitter_ms=10"
ERRORING = "gs://emulator-models/erroring?error_rate=0.3&latency_ms=40&latency_jitter_ms=10"
SLOW = "gs://emulator-models/slow?latency_ms=400&latency_jitter_ms=50"


def _canary_endpoint(emulator: Emulator, canary_uri: str) -> tuple[str, str]:
    """Endpoint `shop` with a healthy stable model and a canary at 50%; (stable id, canary id)."""
    endpoints, models = emulator.endpoint_client(), emulator.model_client()
    parent = emulator.parent
    endpoint = endpoints.create_endpoint(parent=parent, endpoint=v1.Endpoint(display_name="shop"), endpoint_id="shop")
    endpoint = endpoint.result(timeout=10)
    ids: list[str] = []
    for name, uri in (("stable", HEALTHY), ("canary", canary_uri)):
        model = v1.Model(display_name=name, artifact_uri=uri, container_spec={"image_uri": "us-docker.pkg.dev/x/y:1"})
        request = {"parent": parent, "model": model, "model_id": name}
        uploaded = models.upload_model(request=request).result(timeout=10)
        deployed = v1.DeployedModel(
            model=uploaded.model,
            dedicated_resources={"machine_spec": {"machine_type": "n1-standard-4"}, "min_replica_count": 1},
        )
        split = {"0": 100} if not ids else {"0": 50, ids[0]: 50}
        op = endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed, traffic_split=split)
        ids.append(str(op.result(timeout=10).deployed_model.id))
    emulator.traffic.set_rate("shop", 20)
    emulator.traffic.generate(60, T0)
    return ids[0], ids[1]


def _analyse(
    metrics: CloudMonitoringMetrics, stable: str, canary: str, wanted: tuple[Metric, ...], minimum: int
) -> tuple[Verdict, list[Measurement], Sample]:
    canary_sample = sample(metrics, wanted, model=canary, endpoint="shop")
    stable_sample = sample(metrics, wanted, model=stable, endpoint="shop")
    found = [judge(m, canary=canary_sample, stable=stable_sample, min_requests=minimum) for m in wanted]
    return overall(found), found, canary_sample


LATENCY_CHECKS = (Metric(name="latency-p99", max_ms=200), Metric(name="latency-p95", max_increase=0.5))


def test_an_erroring_canary_fails_the_analysis(emulator: Emulator, metrics: CloudMonitoringMetrics) -> None:
    stable, canary = _canary_endpoint(emulator, ERRORING)

    verdict, found, seen = _analyse(metrics, stable, canary, (ERROR_RATE, *LATENCY_CHECKS), 50)

    assert verdict == Verdict.FAILED
    assert [m.verdict for m in found] == [Verdict.FAILED, Verdict.SUCCESSFUL, Verdict.SUCCESSFUL]
    assert seen.error_rate is not None and 0.2 < seen.error_rate < 0.4
    assert 500 < seen.requests < 700


def test_a_slow_canary_fails_on_latency(emulator: Emulator, metrics: CloudMonitoringMetrics) -> None:
    stable, canary = _canary_endpoint(emulator, SLOW)

    verdict, found, _ = _analyse(metrics, stable, canary, (ERROR_RATE, *LATENCY_CHECKS), 50)

    assert verdict == Verdict.FAILED
    assert [m.verdict for m in found] == [Verdict.SUCCESSFUL, Verdict.FAILED, Verdict.FAILED]


def test_a_healthy_canary_succeeds(emulator: Emulator, metrics: CloudMonitoringMetrics) -> None:
    stable, canary = _canary_endpoint(emulator, HEALTHY)

    verdict, found, seen = _analyse(metrics, stable, canary, (ERROR_RATE, REQUEST_COUNT, *LATENCY_CHECKS), 50)

    assert verdict == Verdict.SUCCESSFUL, [m.describe() for m in found]
    assert seen.errors == 0 and 30 <= (seen.latency_ms[50] or 0) <= 50


def test_a_canary_below_min_requests_is_inconclusive(emulator: Emulator, metrics: CloudMonitoringMetrics) -> None:
    stable, canary = _canary_endpoint(emulator, ERRORING)

    verdict, found, _ = _analyse(metrics, stable, canary, (ERROR_RATE, *LATENCY_CHECKS), 10_000)

    assert verdict == Verdict.INCONCLUSIVE
    assert {m.verdict for m in found} == {Verdict.INCONCLUSIVE}


# ---- percentile on hand-made distributions -----------------------------------------------------------


def _dist(counts: list[int], *, range_: tuple[float, float] | None = None, **options: Any) -> Any:
    d = distribution_pb2.Distribution(count=sum(counts), bucket_counts=counts)
    if "exponential" in options:
        n, growth, scale = options["exponential"]
        d.bucket_options.exponential_buckets.num_finite_buckets = n
        d.bucket_options.exponential_buckets.growth_factor = growth
        d.bucket_options.exponential_buckets.scale = scale
    elif "linear" in options:
        n, width, offset = options["linear"]
        d.bucket_options.linear_buckets.num_finite_buckets = n
        d.bucket_options.linear_buckets.width = width
        d.bucket_options.linear_buckets.offset = offset
    elif "explicit" in options:
        d.bucket_options.explicit_buckets.bounds.extend(options["explicit"])
    if range_ is not None:
        d.range.min, d.range.max = range_
    return d


EXP = (4, 2.0, 1.0)  # underflow (-inf,1), [1,2), [2,4), [4,8), [8,16), overflow [16,inf)


@pytest.mark.parametrize(
    ("dist", "q", "expected"),
    [
        (_dist([0, 0, 10], exponential=EXP), 50, 3.0),
        (_dist([0, 0, 10], exponential=EXP), 0, 2.0),
        (_dist([0, 0, 10], exponential=EXP), 100, 4.0),
        (_dist([0, 4, 0, 4], exponential=EXP), 75, 6.0),
        (_dist([0, 50, 50], linear=(10, 10.0, 0.0)), 50, 10.0),
        (_dist([0, 50, 50], linear=(10, 10.0, 0.0)), 75, 15.0),
        (_dist([0, 50, 50], linear=(10, 10.0, 0.0)), 99, 19.8),
        (_dist([0, 90, 0, 10], explicit=[0, 100, 200, 500]), 95, 350.0),
        (_dist([0, 90, 0, 10], explicit=[0, 100, 200, 500]), 50, 100 * 50 / 90),
        (_dist([5], exponential=EXP), 50, 0.5),  # all in underflow: [0, scale)
        (_dist([5], linear=(3, 1.0, -10.0)), 50, -10.0),  # underflow below 0: only its upper edge is known
        (_dist([0, 0, 0, 0, 0, 7], exponential=EXP), 50, 16.0),  # all in overflow: its lower edge
        (_dist([0, 0, 0, 0, 0, 7], exponential=EXP, range_=(16.0, 30.0)), 50, 23.0),  # range closes it
        (_dist([4], range_=(2.0, 10.0), explicit=[20]), 25, 4.0),
        (_dist([0, 0, 3, 0, 0, 0, 0, 0, 0], exponential=EXP), 50, 3.0),  # more counts than buckets: harmless
    ],
)
def test_percentile_interpolates_inside_the_bucket_holding_the_rank(dist: Any, q: float, expected: float) -> None:
    assert percentile(dist, q) == pytest.approx(expected)


def test_percentile_of_an_empty_distribution_is_none() -> None:
    assert percentile(distribution_pb2.Distribution(), 50) is None
    assert percentile(_dist([0, 0, 0], exponential=EXP), 99) is None


def test_percentile_without_buckets_is_the_mean() -> None:
    assert percentile(distribution_pb2.Distribution(count=3, mean=12.5), 99) == 12.5


def test_percentile_accepts_the_distribution_of_a_monitoring_point() -> None:
    value = monitoring_v3.TypedValue(distribution_value=_dist([0, 0, 10], exponential=EXP))

    assert percentile(value.distribution_value, 50) == pytest.approx(3.0)


def test_percentile_rejects_a_rank_outside_0_to_100() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile(_dist([1], exponential=EXP), 101)


@settings(max_examples=60, deadline=None)
@given(
    samples=st.lists(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), min_size=1, max_size=60),
    q=st.floats(min_value=0, max_value=100),
)
def test_percentile_agrees_with_the_emulators_server_side_percentile(samples: list[float], q: float) -> None:
    dist = Dist()
    for s in samples:
        dist.add(s)

    assert percentile(dist_to_pb(dist), q) == pytest.approx(dist.percentile(q))


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=8))
def test_percentile_grows_with_the_rank(counts: list[int]) -> None:
    dist = _dist(counts, linear=(5, 2.0, 1.0))
    values = [percentile(dist, q) for q in range(0, 101, 5)]

    if sum(counts) == 0:
        assert set(values) == {None}
    else:
        numbers = [v for v in values if v is not None]
        assert len(numbers) == len(values) and numbers == sorted(numbers)


def test_merging_distributions_sums_their_buckets() -> None:
    a = _dist([0, 2, 1], exponential=EXP)
    a.mean = 2.0
    b = _dist([0, 0, 1, 3], exponential=EXP)
    b.mean = 5.0

    merged = merge_distributions([a, b])

    assert list(merged.bucket_counts) == [0, 2, 2, 3]
    assert (merged.count, merged.mean) == (7, pytest.approx((3 * 2.0 + 4 * 5.0) / 7))
    with pytest.raises(ValueError, match="bucket options"):
        merge_distributions([a, _dist([1], linear=(1, 1.0, 0.0))])
    assert merge_distributions([]).count == 0

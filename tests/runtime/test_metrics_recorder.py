"""The runtime's metrics recorder: pure aggregation (labels from the allow-list only, bounded series, the
API's write rules), the batching recorder's background flushing (never blocking a request, failures logged
and retried, everything flushed on close), and the Cloud Monitoring writer and reader against the
emulator's CreateMetricDescriptor / CreateTimeSeries / ListTimeSeries through the real client."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc
import pytest
from google.api import metric_pb2
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports.grpc import MetricServiceGrpcTransport

from controller.emulator.server import Emulator, running
from controller.errors import TransientError
from controller.providers.metric_reader import CloudMonitoringUsage
from controller.providers.metric_writer import RESOURCE_TYPE, CloudMonitoringWriter
from controller.runtime.aggregate import (
    ALL_METRICS,
    LABEL_KEYS,
    LATENCY_BUCKETS,
    METRICS,
    OTHER,
    RATING_BUCKETS,
    Aggregator,
    Distribution,
    MetricDef,
    SeriesPoint,
    WriteResult,
    batches,
    merge,
    percentile,
)
from controller.runtime.recorder import BatchingRecorder
from controller.runtime.records import Feedback, Outcome, RequestRecord, Usage
from controller.runtime.usage import usage_rows

T0 = 1_700_000_000.0
USAGE = Usage(input_tokens=100, output_tokens=20, cached_tokens=10, thinking_tokens=5)


def request(
    i: int = 0,
    *,
    prompt: str = "support-answer",
    version: str = "3",
    label: str = "production",
    model: str = "publishers/google/models/gemini-2.5-flash",
    outcome: Outcome = Outcome.OK,
    latency_s: float = 0.120,
    usage: Usage = USAGE,
    cost: float = 0.0001,
    cache_hit: bool = False,
) -> RequestRecord:
    return RequestRecord(
        request_id=f"req-{i}-secret-ada@example.com",
        prompt=prompt,
        version=version,
        label=label,
        model=model,
        outcome=outcome,
        latency_s=latency_s,
        usage=usage,
        cost_usd=cost,
        cache_hit=cache_hit,
        at=T0,
    )


def rating(value: int, *, prompt: str = "support-answer", version: str = "3") -> Feedback:
    return Feedback(
        request_id="req-1",
        rating=value,
        prompt=prompt,
        version=version,
        label="production",
        model="publishers/google/models/gemini-2.5-flash",
        at=T0,
        text="call me on +44 20 7946 0958",
        user_id="user-42",
    )


def by_metric(points: Sequence[SeriesPoint]) -> dict[str, list[SeriesPoint]]:
    out: dict[str, list[SeriesPoint]] = {}
    for p in points:
        out.setdefault(p.metric.name, []).append(p)
    return out


# ---- pure aggregation ----------------------------------------------------------------------------------


def test_series_carry_only_allow_listed_labels_and_never_request_ids_or_content() -> None:
    agg = Aggregator(start=T0)
    for i, outcome in enumerate([Outcome.OK, Outcome.CACHE_HIT, Outcome.MODEL_ERROR, Outcome.BLOCKED_OUTPUT]):
        agg.add_request(request(i, outcome=outcome, cache_hit=outcome is Outcome.CACHE_HIT))
    agg.add_feedback(rating(4))
    points = agg.due(T0 + 60, min_spacing_s=10)
    assert points
    for p in points:
        keys = [k for k, _ in p.labels]
        assert set(keys) <= set(LABEL_KEYS)
        assert keys == sorted(p.metric.labels)
        values = " ".join(v for _, v in p.labels)
        assert "req-" not in values and "example.com" not in values and "7946" not in values
        assert p.metric.type.startswith("custom.googleapis.com/genaiops/")


def test_requests_errors_tokens_cost_cache_hits_and_blocks_are_cumulative_sums() -> None:
    agg = Aggregator(start=T0)
    for i in range(10):
        agg.add_request(request(i))
    agg.add_request(request(10, outcome=Outcome.CACHE_HIT, cache_hit=True, usage=Usage(), cost=0.0))
    agg.add_request(request(11, outcome=Outcome.TIMEOUT, usage=Usage(), cost=0.0))
    agg.add_request(request(12, outcome=Outcome.BLOCKED_INPUT, usage=Usage(), cost=0.0))
    got = by_metric(agg.due(T0 + 60, min_spacing_s=10))
    requests = {dict(p.labels)["outcome"]: p.value for p in got["requests"]}
    assert requests == {"ok": 10, "cache_hit": 1, "timeout": 1, "blocked_input": 1}
    assert [(dict(p.labels)["outcome"], p.value) for p in got["errors"]] == [("timeout", 1)]
    assert [(dict(p.labels)["outcome"], p.value) for p in got["safety_blocks"]] == [("blocked_input", 1)]
    assert [p.value for p in got["input_tokens"]] == [1000]
    assert [p.value for p in got["output_tokens"]] == [200]
    assert [p.value for p in got["cached_tokens"]] == [100]
    assert [p.value for p in got["thinking_tokens"]] == [50]
    assert [p.value for p in got["cache_hits"]] == [1]
    assert got["cost"][0].value == pytest.approx(0.001)
    assert all(p.start == T0 and p.end == T0 + 60 for p in got["requests"])


def test_latency_is_a_distribution_in_milliseconds_on_fixed_exponential_buckets() -> None:
    agg = Aggregator(start=T0)
    for ms in (0.05, 1, 2, 4, 8, 100, 30_000, 10_000_000):
        agg.add_request(request(latency_s=ms / 1000))
    (latency,) = by_metric(agg.due(T0 + 60, min_spacing_s=10))["latency"]
    dist = latency.value
    assert isinstance(dist, Distribution)
    assert dist.buckets == LATENCY_BUCKETS
    assert dist.count == 8 == sum(dist.bucket_counts)
    assert dist.bucket_counts[0] == 1  # 0.05 ms is below the first bound (0.1 ms)
    assert dist.bucket_counts[-1] == 1 and len(dist.bucket_counts) == LATENCY_BUCKETS.num_finite_buckets + 2
    assert dist.mean == pytest.approx(sum((0.05, 1, 2, 4, 8, 100, 30_000, 10_000_000)) / 8)
    assert LATENCY_BUCKETS.num_finite_buckets + 2 <= 200


@pytest.mark.parametrize("x", [0.1, 0.12, 1.0, 1.2, 1.44, 99.9, 1234.5, 1e7])
def test_every_sample_lands_in_the_bucket_whose_bounds_hold_it(x: float) -> None:
    dist = Distribution(LATENCY_BUCKETS, bucket_counts=(0,) * (LATENCY_BUCKETS.num_finite_buckets + 2))
    low, high = dist.bounds(LATENCY_BUCKETS.index(x))
    assert low <= x < high


def test_percentiles_interpolate_inside_the_bucket_like_cloud_monitoring() -> None:
    agg = Aggregator(start=T0)
    for _ in range(99):
        agg.add_request(request(latency_s=0.010))
    agg.add_request(request(latency_s=2.0))
    (latency,) = by_metric(agg.due(T0 + 60, min_spacing_s=10))["latency"]
    assert isinstance(latency.value, Distribution)
    p50 = percentile(latency.value, 50)
    p99 = percentile(latency.value, 99)
    assert p50 is not None and 10 / 1.2 <= p50 <= 10 * 1.2
    assert p99 is not None and p99 <= 12
    p100 = percentile(latency.value, 100)
    assert p100 is not None and 2000 / 1.2 <= p100 <= 2000 * 1.2
    assert percentile(Distribution(LATENCY_BUCKETS), 50) is None


def test_merged_distributions_keep_count_mean_and_variance() -> None:
    a, b = Aggregator(start=T0), Aggregator(start=T0)
    samples_a, samples_b = [0.001, 0.002, 0.003], [0.1, 0.2]
    for s in samples_a:
        a.add_request(request(latency_s=s))
    for s in samples_b:
        b.add_request(request(latency_s=s))
    (da,) = [p.value for p in a.due(T0 + 60, min_spacing_s=10) if p.metric.name == "latency"]
    (db,) = [p.value for p in b.due(T0 + 60, min_spacing_s=10) if p.metric.name == "latency"]
    assert isinstance(da, Distribution) and isinstance(db, Distribution)
    both = merge([da, db])
    assert both is not None
    ms = [s * 1000 for s in samples_a + samples_b]
    mean = sum(ms) / len(ms)
    assert both.count == 5 and both.mean == pytest.approx(mean)
    assert both.sum_of_squared_deviation == pytest.approx(sum((x - mean) ** 2 for x in ms))
    with pytest.raises(ValueError, match="different bucket layouts"):
        merge([da, Distribution(RATING_BUCKETS, 1, 3.0, 0.0, (0, 0, 0, 1))])


def test_feedback_ratings_become_a_distribution_with_one_bucket_per_rating() -> None:
    agg = Aggregator(start=T0)
    for value in (5, 4, 4, 1):
        agg.add_feedback(rating(value))
    (score,) = by_metric(agg.due(T0 + 60, min_spacing_s=10))["feedback_score"]
    dist = score.value
    assert isinstance(dist, Distribution)
    assert dist.count == 4 and dist.mean == pytest.approx(3.5)
    assert dist.bucket_counts == (0, 1, 0, 0, 2, 1)  # underflow, 1, 2, 3, 4, 5
    assert dict(score.labels) == {
        "prompt": "support-answer",
        "version": "3",
        "label": "production",
        "model": "publishers/google/models/gemini-2.5-flash",
    }


def test_label_sets_beyond_the_bound_are_folded_into_other() -> None:
    agg = Aggregator(start=T0, max_label_sets=3)
    for i in range(10):
        agg.add_request(request(i, prompt=f"p{i}"))
    requests = by_metric(agg.due(T0 + 60, min_spacing_s=10))["requests"]
    prompts = sorted(dict(p.labels)["prompt"] for p in requests)
    assert prompts == [OTHER, "p0", "p1", "p2"]
    assert {dict(p.labels)["prompt"]: p.value for p in requests}[OTHER] == 7
    assert agg.folded == 7


def test_long_label_values_are_truncated() -> None:
    agg = Aggregator(start=T0)
    agg.add_request(request(prompt="x" * 5000))
    (point,) = by_metric(agg.due(T0 + 60, min_spacing_s=10))["requests"]
    assert len(dict(point.labels)["prompt"]) == 256


def test_a_series_is_written_again_only_when_it_changed_and_10_seconds_later() -> None:
    agg = Aggregator(start=T0)
    agg.add_request(request())
    first = agg.due(T0 + 1, min_spacing_s=10)
    agg.written(first, ok=True)
    assert agg.due(T0 + 100, min_spacing_s=10) == []  # unchanged
    agg.add_request(request())
    assert agg.due(T0 + 5, min_spacing_s=10) == []  # changed, but only 4 s after the last point
    later = agg.due(T0 + 11, min_spacing_s=10)
    assert {p.metric.name for p in later} >= {"requests", "latency", "input_tokens"}
    assert all(p.end == T0 + 11 and p.start == T0 for p in later)


def test_closing_stamps_a_recent_series_10_seconds_after_its_last_point() -> None:
    agg = Aggregator(start=T0)
    agg.add_request(request())
    agg.written(agg.due(T0 + 1, min_spacing_s=10), ok=True)
    agg.add_request(request())
    final = agg.due(T0 + 3, min_spacing_s=10, force=True)
    assert final and all(p.end == T0 + 11 for p in final)


def test_a_failed_write_leaves_the_series_dirty_but_still_counts_for_spacing() -> None:
    agg = Aggregator(start=T0)
    agg.add_request(request())
    attempt = agg.due(T0 + 1, min_spacing_s=10)
    agg.written(attempt, ok=False)
    assert agg.due(T0 + 5, min_spacing_s=10) == []
    retry = agg.due(T0 + 12, min_spacing_s=10)
    assert len(retry) == len(attempt)


def test_the_first_point_ends_after_the_start_even_at_the_same_instant() -> None:
    agg = Aggregator(start=T0)
    agg.add_request(request())
    assert all(p.end > p.start for p in agg.due(T0, min_spacing_s=10))


def test_zero_series_are_not_written() -> None:
    agg = Aggregator(start=T0)
    agg.add_request(request(usage=Usage(input_tokens=7), cost=0.0))
    names = {p.metric.name for p in agg.due(T0 + 60, min_spacing_s=10)}
    assert "input_tokens" in names
    assert not names & {"output_tokens", "cached_tokens", "thinking_tokens", "cost", "cache_hits", "errors"}


def test_batches_hold_at_most_200_series() -> None:
    points = [SeriesPoint(METRICS[0], (("prompt", str(i)),), T0, T0 + 1, i) for i in range(450)]
    sizes = [len(b) for b in batches(points)]
    assert sizes == [200, 200, 50]
    assert batches([]) == []


# ---- the batching recorder -----------------------------------------------------------------------------


class FakeWriter:
    """A `MetricWriter` that keeps every call, can fail, and can block inside a call."""

    def __init__(self) -> None:
        self.calls: list[list[SeriesPoint]] = []
        self.descriptor_calls = 0
        self.fail_descriptors = 0
        self.fail_writes = 0
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()
        self.closed = False

    def ensure_descriptors(self, metrics: Sequence[MetricDef]) -> None:
        self.descriptor_calls += 1
        assert tuple(metrics) == ALL_METRICS
        if self.fail_descriptors:
            self.fail_descriptors -= 1
            raise TransientError("CreateMetricDescriptor: UNAVAILABLE")

    def write(self, points: Sequence[SeriesPoint]) -> WriteResult:
        self.entered.set()
        self.release.wait(10)
        self.calls.append(list(points))
        assert len(points) <= 200
        assert len({(p.metric.name, p.labels) for p in points}) == len(points)
        if self.fail_writes:
            self.fail_writes -= 1
            return WriteResult(written=3, error="INVALID_ARGUMENT: One or more TimeSeries could not be written")
        return WriteResult(len(points))

    def close(self) -> None:
        self.closed = True

    def written(self, metric: str) -> list[SeriesPoint]:
        return [p for call in self.calls for p in call if p.metric.name == metric]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_closing_the_recorder_writes_everything_and_closes_the_writer() -> None:
    writer, clock = FakeWriter(), Clock()
    recorder = BatchingRecorder(writer, clock=clock, background=False, register_atexit=False)
    for i in range(5):
        recorder.record(request(i))
    recorder.record_feedback(rating(5))
    clock.now += 2
    recorder.close()
    recorder.close()  # idempotent
    assert [p.value for p in writer.written("requests")] == [5]
    assert len(writer.written("feedback_score")) == 1
    assert writer.closed and writer.descriptor_calls == 1


def test_many_label_sets_are_written_in_calls_of_at_most_200_series() -> None:
    writer, clock = FakeWriter(), Clock()
    recorder = BatchingRecorder(writer, clock=clock, background=False, register_atexit=False)
    for i in range(120):
        recorder.record(request(i, prompt=f"p{i}"))
    clock.now += 60
    recorder.flush()
    series = sum(len(c) for c in writer.calls)
    assert series == 120 * 7  # requests, latency and 5 nonzero per-prompt counters (no errors, blocks, hits)
    assert len(writer.calls) == math.ceil(series / 200)
    assert recorder.stats.points == series


def test_a_failed_call_is_logged_not_raised_and_its_series_go_out_with_the_next_flush(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer, clock = FakeWriter(), Clock()
    writer.fail_writes = 1
    recorder = BatchingRecorder(writer, clock=clock, background=False, register_atexit=False)
    recorder.record(request())
    clock.now += 1
    with caplog.at_level(logging.WARNING, logger="controller.runtime.recorder"):
        recorder.flush()
    assert "wrote 3 of" in caplog.text and "could not be written" in caplog.text
    first = len(writer.calls[0])
    clock.now += 5
    recorder.flush()
    assert len(writer.calls) == 1  # 10 s since the failed attempt have not passed
    clock.now += 10
    recorder.flush()
    assert len(writer.calls) == 2 and len(writer.calls[1]) == first
    assert recorder.stats.failed_calls == 1
    recorder.close()


def test_descriptors_are_created_once_and_retried_after_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    writer, clock = FakeWriter(), Clock()
    writer.fail_descriptors = 1
    recorder = BatchingRecorder(writer, clock=clock, background=False, register_atexit=False)
    recorder.record(request())
    with caplog.at_level(logging.WARNING, logger="controller.runtime.recorder"):
        clock.now += 1
        recorder.flush()
    assert "could not create the metric descriptors" in caplog.text
    assert writer.written("requests")  # the points went out anyway (CreateTimeSeries auto-creates)
    for _ in range(3):
        clock.now += 20
        recorder.flush()
    assert writer.descriptor_calls == 2
    recorder.close()


def test_recording_never_waits_for_a_flush_in_progress() -> None:
    writer = FakeWriter()
    writer.release.clear()
    recorder = BatchingRecorder(writer, interval_s=0.05, min_spacing_s=0, register_atexit=False)
    recorder.record(request())
    assert writer.entered.wait(5), "the background thread did not flush"
    started = time.perf_counter()
    for i in range(1000):
        recorder.record(request(i))
    elapsed = time.perf_counter() - started
    writer.release.set()
    recorder.close()
    assert elapsed < 1.0  # 1,000 records while the writer hangs: no record waited for it
    assert writer.written("requests")[-1].value == 1001


def test_the_background_thread_flushes_periodically_and_survives_a_broken_writer() -> None:
    writer = FakeWriter()
    writer.fail_writes = 2
    recorder = BatchingRecorder(writer, interval_s=0.02, min_spacing_s=0, register_atexit=False)
    recorder.record(request())
    deadline = time.monotonic() + 5
    while len(writer.calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    recorder.close()
    assert len(writer.calls) >= 3
    assert writer.written("requests")[-1].value == 1


def test_the_recorder_registers_its_close_with_atexit_and_unregisters_it_when_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registered: list[object] = []
    monkeypatch.setattr("atexit.register", registered.append)
    monkeypatch.setattr("atexit.unregister", registered.remove)
    recorder = BatchingRecorder(FakeWriter(), background=False)
    assert registered == [recorder.close]
    recorder.close()
    assert registered == []


# ---- against the emulator's Cloud Monitoring, through the real client ---------------------------------

PROJECT = "metrics-project"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running(project=PROJECT, rest_port=None, storage_port=None, min_alignment_period_s=1) as emu:
        yield emu


@pytest.fixture
def channel(emulator: Emulator) -> Iterator[grpc.Channel]:
    ch = grpc.insecure_channel(emulator.grpc_target)
    yield ch
    ch.close()


def monitoring_client(channel: grpc.Channel) -> Any:
    return monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))


def recorder_on(emulator: Emulator, *, task: str, clock: Callable[[], float] = time.time) -> BatchingRecorder:
    writer = CloudMonitoringWriter(project=PROJECT, emulator=emulator.grpc_target, task=task)
    return BatchingRecorder(writer, clock=clock, background=False, register_atexit=False)


def kind_name(kind: int) -> str:
    return str(metric_pb2.MetricDescriptor.MetricKind.Name(kind))


def type_name(value_type: int) -> str:
    return str(metric_pb2.MetricDescriptor.ValueType.Name(value_type))


def raw_series(channel: grpc.Channel, metric: str) -> list[Any]:
    now = time.time()
    pager = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel)).list_time_series(
        request={
            "name": f"projects/{PROJECT}",
            "filter": f'metric.type = "custom.googleapis.com/genaiops/{metric}"',
            "interval": {"start_time": {"seconds": int(now - 3600)}, "end_time": {"seconds": int(now + 60)}},
        }
    )
    return list(pager)


def test_points_are_written_as_cumulative_series_on_the_process_task_and_read_back(
    emulator: Emulator, channel: grpc.Channel
) -> None:
    recorder = recorder_on(emulator, task="task-a")
    started = recorder.aggregator.start
    for i in range(7):
        recorder.record(request(i))
    recorder.record(request(7, outcome=Outcome.MODEL_ERROR))
    recorder.record_feedback(rating(5))
    recorder.close()
    assert recorder.stats.failed_calls == 0
    (ok,) = [ts for ts in raw_series(channel, "requests") if ts.metric.labels["outcome"] == "ok"]
    assert kind_name(ok.metric_kind) == "CUMULATIVE"
    assert ok.resource.type == RESOURCE_TYPE
    assert dict(ok.resource.labels) == {
        "project_id": PROJECT,
        "location": "global",
        "namespace": "genaiops",
        "job": "genaiops-runtime",
        "task_id": "task-a",
    }
    assert dict(ok.metric.labels) == {
        "prompt": "support-answer",
        "version": "3",
        "label": "production",
        "model": "publishers/google/models/gemini-2.5-flash",
        "outcome": "ok",
    }
    (point,) = ok.points
    assert point.value.int64_value == 7
    assert point.interval.start_time.timestamp() == pytest.approx(started, abs=1e-3)
    (latency,) = [ts for ts in raw_series(channel, "latency") if ts.metric.labels["outcome"] == "ok"]
    dist = latency.points[0].value.distribution_value
    assert dist.count == 7 and dist.mean == pytest.approx(120.0)
    assert dist.bucket_options.exponential_buckets.growth_factor == pytest.approx(1.2)
    (score,) = raw_series(channel, "feedback_score")
    assert score.points[0].value.distribution_value.mean == 5.0
    assert [ts.points[0].value.double_value for ts in raw_series(channel, "cost")] == [pytest.approx(0.0008)]


def test_descriptors_are_created_once_with_kinds_units_and_the_allow_listed_labels(
    emulator: Emulator, channel: grpc.Channel
) -> None:
    first = CloudMonitoringWriter(project=PROJECT, channel=channel, task="a")
    first.ensure_descriptors(METRICS)
    first.ensure_descriptors(METRICS)  # nothing left to create
    CloudMonitoringWriter(project=PROJECT, channel=channel, task="b").ensure_descriptors(METRICS)  # already exist
    descriptors = {
        d.type: d
        for d in monitoring_client(channel).list_metric_descriptors(
            request={"name": f"projects/{PROJECT}", "filter": 'metric.type = starts_with("custom.googleapis.com/")'}
        )
    }
    assert set(descriptors) == {m.type for m in METRICS}
    for metric in METRICS:
        d = descriptors[metric.type]
        assert (kind_name(d.metric_kind), type_name(d.value_type), d.unit) == (
            "CUMULATIVE",
            metric.value_type,
            metric.unit,
        )
        assert sorted(label.key for label in d.labels) == sorted(metric.labels)


def test_usage_totals_sum_over_processes_and_groups(emulator: Emulator, channel: grpc.Channel) -> None:
    for task, count in (("replica-1", 30), ("replica-2", 20)):
        recorder = recorder_on(emulator, task=task)
        for i in range(count):
            recorder.record(request(i, version="3" if i % 2 else "4", cache_hit=i % 5 == 0))
        recorder.record(request(99, outcome=Outcome.RATE_LIMITED, usage=Usage(), cost=0.0))
        recorder.close()
    now = time.time()
    totals = CloudMonitoringUsage(project=PROJECT, channel=channel, min_alignment_s=1).read_totals(
        start=now - 3600, end=now + 1
    )
    rows, total = usage_rows(totals, by="version")
    assert [(dict(r.group)["version"], r.requests) for r in rows] == [("3", 27), ("4", 25)]  # 99 is odd
    assert total.requests == 52 and total.errors == 2
    assert total.cache_hits == 10 and total.input_tokens == 5000
    assert total.cost_usd == pytest.approx(0.005)
    assert total.latency_p50_ms is not None and 100 <= total.latency_p50_ms <= 144


def test_many_label_sets_go_out_in_several_calls_of_at_most_200(emulator: Emulator, channel: grpc.Channel) -> None:
    recorder = recorder_on(emulator, task="t")
    for i in range(60):
        recorder.record(request(i, prompt=f"prompt-{i}"))
    recorder.close()
    assert recorder.stats.calls == math.ceil(60 * 7 / 200) and recorder.stats.failed_calls == 0
    assert len(raw_series(channel, "requests")) == 60


def test_a_partly_refused_write_is_logged_with_the_accepted_count_and_not_raised(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    writer = CloudMonitoringWriter(project=PROJECT, emulator=emulator.grpc_target, task="t")
    recorder = BatchingRecorder(writer, min_spacing_s=0, background=False, register_atexit=False)
    recorder.record(request(1, prompt="a"))
    recorder.flush()
    recorder.record(request(2, prompt="a"))  # its series were written a moment ago: the API refuses them
    recorder.record(request(3, prompt="b"))  # new series: accepted
    with caplog.at_level(logging.WARNING, logger="controller.runtime.recorder"):
        recorder.flush()
    assert recorder.stats.failed_calls == 1
    assert "wrote 7 of 14 points" in caplog.text and "INVALID_ARGUMENT" in caplog.text
    recorder.close()

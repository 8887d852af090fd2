"""User-written Cloud Monitoring metrics on the emulator, through the real `monitoring_v3.MetricServiceClient`
over its gRPC port: CreateMetricDescriptor, CreateTimeSeries with the API's validation rules and partial
success, and ListTimeSeries reading GAUGE and CUMULATIVE points (DISTRIBUTION values too) back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.api import metric_pb2
from google.api_core import exceptions
from google.cloud import monitoring_v3

from controller.emulator.server import Emulator, running

PROJECT = "writer-project"
NAME = f"projects/{PROJECT}"
NOW = 1_800_000_000.0
METRIC = "custom.googleapis.com/genaiops/requests"
LATENCY = "custom.googleapis.com/genaiops/latency"
Kind = metric_pb2.MetricDescriptor.MetricKind
ValueType = metric_pb2.MetricDescriptor.ValueType
Aligner = monitoring_v3.Aggregation.Aligner
Reducer = monitoring_v3.Aggregation.Reducer


@dataclass
class Clock:
    """The emulator's clock, moved by the tests."""

    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    emulator: Emulator
    client: Any  # monitoring_v3.MetricServiceClient
    clock: Clock

    def write(self, *series: dict[str, Any]) -> None:
        self.client.create_time_series(name=NAME, time_series=[monitoring_v3.TimeSeries(s) for s in series])

    def read(self, metric_type: str, start: float, end: float, **extra: Any) -> list[Any]:
        request = {
            "name": NAME,
            "filter": f'metric.type = "{metric_type}"',
            "interval": {"start_time": _ts(start), "end_time": _ts(end)},
            **extra,
        }
        return list(self.client.list_time_series(request=request))


@pytest.fixture
def env() -> Iterator[Env]:
    clock = Clock()
    with running(project=PROJECT, rest_port=None, storage_port=None, clock=clock) as emulator:
        yield Env(emulator, emulator.metric_client(), clock)


def _ts(seconds: float) -> dict[str, int]:
    return {"seconds": int(seconds), "nanos": round((seconds - int(seconds)) * 1e9)}


def series(
    value: dict[str, Any],
    end: float,
    *,
    start: float | None = None,
    metric_type: str = METRIC,
    kind: int = 0,
    labels: dict[str, str] | None = None,
    task: str = "t1",
    points: int = 1,
) -> dict[str, Any]:
    """One TimeSeries as a dict for `monitoring_v3.TimeSeries`."""
    interval = {"end_time": _ts(end)} | ({"start_time": _ts(start)} if start is not None else {})
    return {
        "metric": {"type": metric_type, "labels": labels or {"prompt": "support"}},
        "resource": {"type": "generic_task", "labels": {"project_id": PROJECT, "task_id": task}},
        "metric_kind": kind,
        "points": [{"interval": interval, "value": value}] * points,
    }


def distribution(samples: list[float], *, bounds: tuple[float, ...] = (10.0, 100.0, 1000.0)) -> dict[str, Any]:
    """A Distribution value with explicit buckets holding `samples`."""
    counts = [0] * (len(bounds) + 1)
    for x in samples:
        counts[sum(1 for b in bounds if x >= b)] += 1
    mean = sum(samples) / len(samples) if samples else 0.0
    return {
        "distribution_value": {
            "count": len(samples),
            "mean": mean,
            "sum_of_squared_deviation": sum((x - mean) ** 2 for x in samples),
            "bucket_options": {"explicit_buckets": {"bounds": list(bounds)}},
            "bucket_counts": counts,
        }
    }


def descriptor(
    metric_type: str = METRIC,
    *,
    kind: int = Kind.CUMULATIVE,
    value_type: int = ValueType.INT64,
    labels: tuple[str, ...] = ("prompt",),
) -> metric_pb2.MetricDescriptor:
    return metric_pb2.MetricDescriptor(
        type=metric_type,
        metric_kind=kind,
        value_type=value_type,
        unit="1",
        description="Requests served.",
        labels=[{"key": key} for key in labels],
    )


def summary_of(error: exceptions.GoogleAPICallError) -> Any:
    """The CreateTimeSeriesSummary carried in an error's status details."""
    [detail] = error.details
    summary = monitoring_v3.CreateTimeSeriesSummary.pb()()
    assert detail.Unpack(summary)
    return summary


# ---- CreateMetricDescriptor --------------------------------------------------------------------------


def test_creating_the_same_descriptor_twice_is_idempotent(env: Env) -> None:
    first = env.client.create_metric_descriptor(name=NAME, metric_descriptor=descriptor())
    second = env.client.create_metric_descriptor(name=NAME, metric_descriptor=descriptor())
    assert first == second
    assert first.name == f"{NAME}/metricDescriptors/{METRIC}"
    got = env.client.get_metric_descriptor(name=first.name)
    assert (got.metric_kind, got.value_type, [label.key for label in got.labels]) == (
        Kind.CUMULATIVE,
        ValueType.INT64,
        ["prompt"],
    )
    listed = env.client.list_metric_descriptors(request={"name": NAME, "filter": f'metric.type = "{METRIC}"'})
    assert [d.type for d in listed] == [METRIC]


def test_a_descriptor_gains_new_labels_but_never_changes_its_kind_or_value_type(env: Env) -> None:
    env.client.create_metric_descriptor(name=NAME, metric_descriptor=descriptor())
    grown = env.client.create_metric_descriptor(name=NAME, metric_descriptor=descriptor(labels=("model",)))
    assert sorted(label.key for label in grown.labels) == ["model", "prompt"]
    with pytest.raises(exceptions.InvalidArgument, match="cannot be changed"):
        env.client.create_metric_descriptor(name=NAME, metric_descriptor=descriptor(value_type=ValueType.DOUBLE))


@pytest.mark.parametrize(
    ("metric_type", "kind", "value_type", "why"),
    [
        ("aiplatform.googleapis.com/prediction/online/x", Kind.GAUGE, ValueType.INT64, "user-defined"),
        (METRIC, Kind.DELTA, ValueType.INT64, "DELTA"),
        (METRIC, Kind.GAUGE, ValueType.STRING, "STRING"),
        (METRIC, Kind.CUMULATIVE, ValueType.BOOL, "not supported"),
        (METRIC, Kind.METRIC_KIND_UNSPECIFIED, ValueType.INT64, "required"),
    ],
)
def test_descriptors_the_api_refuses_are_invalid(
    env: Env, metric_type: str, kind: int, value_type: int, why: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=why):
        env.client.create_metric_descriptor(
            name=NAME, metric_descriptor=descriptor(metric_type, kind=kind, value_type=value_type)
        )


# ---- writing and reading back ------------------------------------------------------------------------


def test_gauge_points_of_every_value_type_read_back_newest_first(env: Env) -> None:
    gauges: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "custom.googleapis.com/g/double": ({"double_value": 1.5}, {"double_value": 2.5}),
        "custom.googleapis.com/g/int": ({"int64_value": 3}, {"int64_value": 4}),
        "external.googleapis.com/g/bool": ({"bool_value": True}, {"bool_value": False}),
    }
    for offset, index in ((-60, 0), (-30, 1)):
        env.write(*(series(values[index], NOW + offset, metric_type=t) for t, values in gauges.items()))
    for metric_type, (older, newer) in gauges.items():
        [read] = env.read(metric_type, NOW - 120, NOW)
        assert read.metric_kind == Kind.GAUGE
        [field] = older
        assert [getattr(p.value, field) for p in read.points] == [newer[field], older[field]]
        assert read.points[0].interval.start_time == read.points[0].interval.end_time


def test_cumulative_counts_read_back_raw_and_as_deltas_summed_over_tasks(env: Env) -> None:
    start = NOW - 600
    for task, values in (("t1", (5, 9, 20)), ("t2", (1, 1, 4))):
        for offset, value in zip((-300, -200, -100), values, strict=True):
            env.write(series({"int64_value": value}, NOW + offset, start=start, kind=Kind.CUMULATIVE, task=task))
    raw = env.read(METRIC, NOW - 400, NOW)
    t1 = next(s for s in raw if s.resource.labels["task_id"] == "t1")
    assert [p.value.int64_value for p in t1.points] == [20, 9, 5]
    assert t1.points[0].interval.start_time.timestamp() == start
    # One period over (NOW-250, NOW]: t1 grew 20-5, t2 grew 4-1 since the points before the window.
    aggregation = {
        "alignment_period": {"seconds": 250},
        "per_series_aligner": Aligner.ALIGN_DELTA,
        "cross_series_reducer": Reducer.REDUCE_SUM,
    }
    [summed] = env.read(METRIC, NOW - 250, NOW, aggregation=aggregation)
    assert [p.value.int64_value for p in summed.points] == [15 + 3]
    rate = {**aggregation, "per_series_aligner": Aligner.ALIGN_RATE}
    [per_second] = env.read(METRIC, NOW - 250, NOW, aggregation=rate)
    assert per_second.points[0].value.double_value == pytest.approx(18 / 250)


def test_a_new_start_time_resets_a_cumulative_series(env: Env) -> None:
    env.write(series({"int64_value": 50}, NOW - 300, start=NOW - 600, kind=Kind.CUMULATIVE))
    env.write(series({"int64_value": 7}, NOW - 100, start=NOW - 200, kind=Kind.CUMULATIVE))  # process restarted
    aggregation = {"alignment_period": {"seconds": 250}, "per_series_aligner": Aligner.ALIGN_DELTA}
    [delta] = env.read(METRIC, NOW - 250, NOW, aggregation=aggregation)
    assert [p.value.int64_value for p in delta.points] == [7]


def test_cumulative_distributions_read_back_and_align_to_the_samples_of_the_period(env: Env) -> None:
    env.client.create_metric_descriptor(
        name=NAME, metric_descriptor=descriptor(LATENCY, value_type=ValueType.DISTRIBUTION)
    )
    early, late = [5.0, 50.0], [500.0, 700.0, 2000.0]
    env.write(series(distribution(early), NOW - 300, start=NOW - 600, metric_type=LATENCY))
    env.write(series(distribution(early + late), NOW - 100, start=NOW - 600, metric_type=LATENCY))
    [raw] = env.read(LATENCY, NOW - 400, NOW)
    newest = raw.points[0].value.distribution_value
    assert (newest.count, list(newest.bucket_options.explicit_buckets.bounds)) == (5, [10.0, 100.0, 1000.0])
    assert list(newest.bucket_counts) == [1, 1, 2, 1]
    aggregation = {
        "alignment_period": {"seconds": 250},
        "per_series_aligner": Aligner.ALIGN_DELTA,
        "cross_series_reducer": Reducer.REDUCE_SUM,
    }
    [delta] = env.read(LATENCY, NOW - 250, NOW, aggregation=aggregation)
    dist = delta.points[0].value.distribution_value
    assert (dist.count, list(dist.bucket_counts)) == (3, [0, 0, 2, 1])
    assert dist.mean == pytest.approx(sum(late) / 3)


# ---- the API's validation ----------------------------------------------------------------------------


def test_a_request_with_more_than_200_series_is_refused_whole(env: Env) -> None:
    too_many = [series({"int64_value": 1}, NOW, task=f"t{i}") for i in range(201)]
    with pytest.raises(exceptions.InvalidArgument, match="at most 200"):
        env.write(*too_many)
    with pytest.raises(exceptions.NotFound):  # nothing was written, not even the descriptor
        env.read(METRIC, NOW - 60, NOW)
    env.write(*too_many[:200])
    assert len(env.read(METRIC, NOW - 60, NOW)) == 200


@pytest.mark.parametrize("points", [0, 2])
def test_each_series_carries_exactly_one_point(env: Env, points: int) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="Exactly one point"):
        env.write(series({"int64_value": 1}, NOW, points=points))


def test_delta_and_string_writes_are_refused_for_custom_metrics(env: Env) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="DELTA metrics are not allowed"):
        env.write(series({"int64_value": 1}, NOW, start=NOW - 10, kind=Kind.DELTA))
    with pytest.raises(exceptions.InvalidArgument, match="STRING values are not allowed"):
        env.write(series({"string_value": "x"}, NOW))


def test_metrics_that_are_not_user_defined_cannot_be_written(env: Env) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="not a user-defined metric"):
        env.write(series({"int64_value": 1}, NOW, metric_type="aiplatform.googleapis.com/prediction/online/x"))


def test_a_gauge_start_time_must_equal_its_end_time(env: Env) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="GAUGE point must equal"):
        env.write(series({"double_value": 1.0}, NOW, start=NOW - 1))
    env.write(series({"double_value": 1.0}, NOW, start=NOW))


@pytest.mark.parametrize("start", [NOW, NOW + 1, None])
def test_a_cumulative_start_time_must_be_before_its_end_time(env: Env, start: float | None) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        env.write(series({"int64_value": 1}, NOW, start=start, kind=Kind.CUMULATIVE))


@pytest.mark.parametrize(
    ("end", "accepted"),
    [
        (NOW - 25 * 3600 - 1, False),
        (NOW - 25 * 3600, True),
        (NOW + 300, True),
        (NOW + 301, False),
    ],
)
def test_end_times_older_than_25_hours_or_over_5_minutes_ahead_are_refused(
    env: Env, end: float, accepted: bool
) -> None:
    if accepted:
        env.write(series({"int64_value": 1}, end))
        return
    with pytest.raises(exceptions.InvalidArgument, match="25 hours in the past or more than 5 minutes"):
        env.write(series({"int64_value": 1}, end))


def test_points_must_be_written_in_order(env: Env) -> None:
    env.write(series({"int64_value": 1}, NOW - 100))
    for end in (NOW - 200, NOW - 100):  # older, and (for a GAUGE) the same end time
        with pytest.raises(exceptions.InvalidArgument, match="Points must be written in order"):
            env.write(series({"int64_value": 2}, end))
    cumulative = {"metric_type": "custom.googleapis.com/genaiops/total", "kind": Kind.CUMULATIVE}
    env.write(series({"int64_value": 1}, NOW - 500, start=NOW - 600, **cumulative))
    with pytest.raises(exceptions.InvalidArgument, match="Points must be written in order"):
        env.write(series({"int64_value": 2}, NOW - 400, start=NOW - 700, **cumulative))  # older start time


def test_points_of_one_series_closer_than_the_minimum_spacing_are_refused(env: Env) -> None:
    env.write(series({"int64_value": 1}, NOW - 60))
    with pytest.raises(exceptions.InvalidArgument, match="more frequently than the maximum sampling period") as err:
        env.write(series({"int64_value": 2}, NOW - 51))
    assert "Youngest Existing: '2027/01/15-07:59:00.000', New: '2027/01/15-07:59:09.000'" in err.value.message
    env.write(series({"int64_value": 2}, NOW - 50))
    env.write(series({"int64_value": 3}, NOW - 49, task="another series"))


def test_the_minimum_spacing_is_an_emulator_option() -> None:
    with running(project=PROJECT, rest_port=None, storage_port=None, min_point_spacing_s=5, clock=Clock()) as emu:
        client = emu.metric_client()
        for end in (NOW - 20, NOW - 15):
            client.create_time_series(name=NAME, time_series=[series({"int64_value": 1}, end)])
        with pytest.raises(exceptions.InvalidArgument, match="sampling period"):
            client.create_time_series(name=NAME, time_series=[series({"int64_value": 1}, NOW - 11)])


def test_a_series_may_be_written_only_once_per_request(env: Env) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="Duplicate TimeSeries") as err:
        env.write(series({"int64_value": 1}, NOW - 30), series({"int64_value": 2}, NOW))
    assert "timeSeries[1]" in err.value.message
    [read] = env.read(METRIC, NOW - 60, NOW)
    assert [p.value.int64_value for p in read.points] == [1]


def test_partial_success_writes_the_valid_series_and_names_the_failed_ones(env: Env) -> None:
    good = [series({"int64_value": i}, NOW, task=f"ok{i}") for i in range(3)]
    bad = [
        series({"int64_value": 1}, NOW - 26 * 3600, task="old"),
        series({"int64_value": 1}, NOW, start=NOW - 5, kind=Kind.DELTA, task="delta"),
    ]
    with pytest.raises(exceptions.InvalidArgument) as err:
        env.write(good[0], bad[0], good[1], bad[1], good[2])
    message = err.value.message
    assert message.startswith("One or more TimeSeries could not be written: ")
    assert "timeSeries[1]" in message and "timeSeries[3]" in message
    summary = summary_of(err.value)
    assert (summary.total_point_count, summary.success_point_count) == (5, 3)
    assert [(e.status.code, e.point_count) for e in summary.errors] == [(3, 2)]  # INVALID_ARGUMENT
    written = {s.resource.labels["task_id"] for s in env.read(METRIC, NOW - 60, NOW)}
    assert written == {"ok0", "ok1", "ok2"}


def test_the_value_type_and_kind_must_match_the_descriptor(env: Env) -> None:
    env.write(series({"int64_value": 1}, NOW - 60))  # auto-creates a GAUGE INT64 descriptor
    with pytest.raises(exceptions.InvalidArgument, match="must be INT64, but is DOUBLE"):
        env.write(series({"double_value": 1.0}, NOW, task="t2"))
    with pytest.raises(exceptions.InvalidArgument, match="metric kind"):
        env.write(series({"int64_value": 1}, NOW, start=NOW - 5, kind=Kind.CUMULATIVE, task="t3"))
    created = env.client.get_metric_descriptor(name=f"{NAME}/metricDescriptors/{METRIC}")
    assert (created.metric_kind, created.value_type) == (Kind.GAUGE, ValueType.INT64)


def test_undeclared_labels_are_refused_by_a_created_descriptor_and_extend_an_auto_created_one(env: Env) -> None:
    env.write(series({"int64_value": 1}, NOW - 60, metric_type="custom.googleapis.com/auto"))
    env.write(series({"int64_value": 1}, NOW, metric_type="custom.googleapis.com/auto", labels={"colour": "red"}))
    auto = env.client.get_metric_descriptor(name=f"{NAME}/metricDescriptors/custom.googleapis.com/auto")
    assert sorted(label.key for label in auto.labels) == ["colour", "prompt"]
    env.client.create_metric_descriptor(name=NAME, metric_descriptor=descriptor(kind=Kind.GAUGE))
    with pytest.raises(exceptions.InvalidArgument, match="Unrecognized metric labels"):
        env.write(series({"int64_value": 1}, NOW, labels={"prompt": "p", "colour": "red"}))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({**distribution([5.0, 50.0])["distribution_value"], "count": 3}, "sum to 2, not to count 3"),
        (
            {"count": 1, "mean": 1.0, "bucket_options": {"linear_buckets": {"num_finite_buckets": 3, "width": 0}}},
            "width > 0",
        ),
        (
            {
                "count": 1,
                "mean": 1.0,
                "bucket_options": {"exponential_buckets": {"num_finite_buckets": 3, "growth_factor": 1, "scale": 1}},
            },
            "growthFactor > 1",
        ),
        ({"count": 1, "mean": 1.0, "bucket_options": {"explicit_buckets": {"bounds": [2.0, 1.0]}}}, "increasing"),
        (
            {"count": 1, "mean": 1.0, "bucket_options": {"linear_buckets": {"num_finite_buckets": 199, "width": 1}}},
            "at most 200 buckets",
        ),
        ({"count": 0, "mean": 2.0, "bucket_options": {"explicit_buckets": {"bounds": [1.0]}}}, "empty distribution"),
    ],
)
def test_malformed_distributions_are_refused(env: Env, value: dict[str, Any], why: str) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=why):
        env.write(series({"distribution_value": value}, NOW, metric_type=LATENCY))


def test_label_values_over_1024_characters_are_refused(env: Env) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="1024"):
        env.write(series({"int64_value": 1}, NOW, labels={"prompt": "x" * 1025}))

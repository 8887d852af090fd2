"""Analysis verdicts: every built-in metric and threshold kind judged as in tests/cases/rollout/judge.yaml;
no data (below minRequests) is inconclusive, never a pass nor a failure; a failed query is an error; and
`overall` folds measurements into one verdict."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from controller.model import Metric
from controller.rollout.verdicts import Bound, Breach, Measurement, Sample, Shortfall, Verdict, judge, overall
from tests.rollout_builders import load_cases

CUSTOM_QUERY = {"filter": 'metric.type="custom.googleapis.com/tps"'}


def sample(fields: dict[str, Any] | None) -> Sample | None:
    """A Sample from its YAML form."""
    if fields is None:
        return None
    latency = {int(p): (None if v is None else float(v)) for p, v in fields.get("latency_ms", {}).items()}
    custom = {k: (None if v is None else float(v)) for k, v in fields.get("custom", {}).items()}
    return Sample(
        requests=fields.get("requests", 0),
        errors=fields.get("errors", 0),
        latency_ms=latency,
        custom=custom,
        error=fields.get("error"),
    )


@pytest.mark.parametrize("case", load_cases("judge"))
def test_a_metric_is_judged_as_in_the_table(case: dict[str, Any]) -> None:
    canary = sample(case["canary"])
    assert canary is not None
    got = judge(
        Metric.model_validate(case["metric"]),
        canary=canary,
        stable=sample(case.get("stable")),
        min_requests=case.get("minRequests", 50),
    )
    assert got.metric == case["metric"]["name"]
    assert got.verdict is Verdict(case["verdict"])
    assert got.requests == canary.requests
    if "value" in case:
        assert got.value == (None if case["value"] is None else pytest.approx(case["value"], rel=1e-6))
    if "threshold" in case:
        assert got.threshold == case["threshold"]
    if "detail" in case:
        assert got.detail == case["detail"]
    assert (got.breach is not None) == (got.verdict is Verdict.FAILED), "a failure says which threshold broke"
    assert (got.shortfall is not None) == (got.verdict in (Verdict.INCONCLUSIVE, Verdict.ERROR)), "and no verdict why"
    if "breach" in case:
        written = case["breach"]
        expected = Breach(Bound(written["bound"]), written["threshold"], written.get("baseline"))
        assert got.breach is not None and (got.breach.bound, got.breach.threshold) == (
            expected.bound,
            expected.threshold,
        )
        if expected.baseline is not None:
            assert got.breach.baseline == pytest.approx(expected.baseline, rel=1e-9)
    if "shortfall" in case:
        assert got.shortfall is Shortfall(case["shortfall"])


# Every built-in metric and threshold kind, each with a sample that would pass and one that would fail
# once there are enough requests: (metric, passing sample, failing sample, stable sample).
KINDS: list[tuple[dict[str, Any], Sample, Sample, Sample | None]] = [
    ({"name": "error-rate", "max": 0.05}, Sample(10, 0), Sample(10, 9), None),
    ({"name": "error-rate", "min": 0.01}, Sample(10, 1), Sample(10, 0), None),
    ({"name": "error-rate", "maxIncrease": 0.5}, Sample(10, 0), Sample(10, 9), Sample(500, 5)),
    *(
        ({"name": name, "maxMs": 1500}, Sample(10, latency_ms={p: 10.0}), Sample(10, latency_ms={p: 9e3}), None)
        for name, p in (("latency-p50", 50), ("latency-p95", 95), ("latency-p99", 99))
    ),
    ({"name": "latency-p99", "max": "1.5s"}, Sample(10, latency_ms={99: 10.0}), Sample(10, latency_ms={99: 9e3}), None),
    (
        {"name": "latency-p99", "max": "300ms"},
        Sample(10, latency_ms={99: 10.0}),
        Sample(10, latency_ms={99: 301}),
        None,
    ),
    ({"name": "latency-p50", "min": "5ms"}, Sample(10, latency_ms={50: 10.0}), Sample(10, latency_ms={50: 1.0}), None),
    ({"name": "error-rate", "max": "5%"}, Sample(10, 0), Sample(10, 1), None),
    (
        {"name": "latency-p95", "maxIncrease": 0.2},
        Sample(10, latency_ms={95: 100.0}),
        Sample(10, latency_ms={95: 900.0}),
        Sample(500, latency_ms={95: 100.0}),
    ),
    (
        {"name": "tps", "query": CUSTOM_QUERY, "min": 10},
        Sample(10, custom={"tps": 20.0}),
        Sample(10, custom={"tps": 1.0}),
        None,
    ),
    (
        {"name": "tps", "query": CUSTOM_QUERY, "max": 10},
        Sample(10, custom={"tps": 1.0}),
        Sample(10, custom={"tps": 20.0}),
        None,
    ),
    (
        {"name": "tps", "query": CUSTOM_QUERY, "maxIncrease": 0.1},
        Sample(10, custom={"tps": 1.0}),
        Sample(10, custom={"tps": 20.0}),
        Sample(500, custom={"tps": 1.0}),
    ),
]
REQUEST_COUNT_KINDS = [
    ({"name": "request-count", "min": 5}, Sample(10), Sample(3), None),
    ({"name": "request-count", "max": 8}, Sample(3), Sample(10), None),
]
BELOW_MIN_REQUESTS = 20  # every canary sample above has at most 10 requests


def _id(metric: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in metric.items() if k != "query")


@pytest.mark.parametrize(
    ("metric", "passing", "failing", "stable"),
    [pytest.param(*kind, id=_id(kind[0])) for kind in KINDS]
    + [pytest.param(*kind, id=_id(kind[0])) for kind in REQUEST_COUNT_KINDS],
)
def test_below_min_requests_every_metric_is_inconclusive_never_passed_nor_failed(
    metric: dict[str, Any], passing: Sample, failing: Sample, stable: Sample | None
) -> None:
    checked = Metric.model_validate(metric)
    for canary in (passing, failing):
        got = judge(checked, canary=canary, stable=stable, min_requests=BELOW_MIN_REQUESTS)
        assert got.verdict is Verdict.INCONCLUSIVE, got.describe()
        assert got.shortfall is Shortfall.TOO_FEW_REQUESTS and "minRequests" in got.detail
    # The same samples with enough requests are judged, so the table above really passes and fails.
    for canary, verdict in ((passing, Verdict.SUCCESSFUL), (failing, Verdict.FAILED)):
        assert judge(checked, canary=canary, stable=stable, min_requests=1).verdict is verdict


@pytest.mark.parametrize(
    ("metric", "passing", "failing", "stable"),
    [pytest.param(*kind, id=_id(kind[0])) for kind in KINDS + REQUEST_COUNT_KINDS],
)
def test_a_failed_query_is_an_error_whatever_the_metric(
    metric: dict[str, Any], passing: Sample, failing: Sample, stable: Sample | None
) -> None:
    del passing
    broken = Sample(requests=failing.requests, error="ListTimeSeries: DEADLINE_EXCEEDED")
    got = judge(Metric.model_validate(metric), canary=broken, stable=stable, min_requests=1)
    assert got.verdict is Verdict.ERROR and got.shortfall is Shortfall.QUERY_FAILED
    assert got.value is None
    assert got.detail == "ListTimeSeries: DEADLINE_EXCEEDED"


def test_a_failed_query_is_an_error_even_with_plenty_of_requests() -> None:
    broken = Sample(requests=10_000, errors=10_000, error="PERMISSION_DENIED")
    got = judge(Metric(name="error-rate", max=0.01), canary=broken, stable=None, min_requests=50)
    assert got.verdict is Verdict.ERROR


def test_a_measurement_describes_metric_value_threshold_verdict_and_requests() -> None:
    failing = judge(Metric(name="error-rate", max=0.05), canary=Sample(412, 95), stable=None, min_requests=50)
    assert failing.describe() == "error-rate 0.2306 vs max 0.05 (failed, 412 requests)"
    relative = judge(
        Metric(name="latency-p99", max_increase=0.2),
        canary=Sample(100, latency_ms={99: 1300.0}),
        stable=Sample(100, latency_ms={99: 1000.0}),
        min_requests=50,
    )
    assert relative.describe() == "latency-p99 1300 vs at most +20% vs stable (failed, 100 requests; stable 1000)"
    empty = judge(Metric(name="latency-p99", max_ms=900), canary=Sample(3), stable=None, min_requests=50)
    assert empty.describe() == "latency-p99 no data vs max 900 ms (inconclusive: 3 requests, below minRequests 50)"


@pytest.mark.parametrize(
    ("requests", "window_s", "text"),
    [
        (12, 60.0, "12 requests in 1m, below minRequests 50"),
        (1, 90.0, "1 request in 1m30s, below minRequests 50"),
        (0, 37.4, "no requests in 37s, below minRequests 50"),
        (3, 3600.0, "3 requests in 1h, below minRequests 50"),
        (3, 0.25, "3 requests in 0.25s, below minRequests 50"),
        (3, None, "3 requests, below minRequests 50"),
    ],
)
def test_an_inconclusive_measurement_says_requests_seen_against_min_requests_and_the_window(
    requests: int, window_s: float | None, text: str
) -> None:
    got = judge(
        Metric(name="error-rate", max=0.05), canary=Sample(requests), stable=None, min_requests=50, window_s=window_s
    )
    assert got.shortfall is Shortfall.TOO_FEW_REQUESTS
    assert (got.min_requests, got.window_s, got.detail) == (50, window_s, text)
    value = "no data" if requests == 0 else "0"
    assert got.describe() == f"error-rate {value} vs max 0.05 (inconclusive: {text})"


def test_every_measurement_keeps_the_min_requests_and_window_it_was_judged_on() -> None:
    metric = Metric(name="latency-p99", max="1.5s")
    for canary in (Sample(100, latency_ms={99: 10.0}), Sample(100, latency_ms={99: 2e3}), Sample(100), Sample(1)):
        got = judge(metric, canary=canary, stable=None, min_requests=50, window_s=60.0)
        assert (got.min_requests, got.window_s) == (50, 60.0), got.verdict


@pytest.mark.parametrize(
    ("written", "threshold", "failing_ms"),
    [
        ({"maxMs": 1500}, "max 1500 ms", 1500.5),
        ({"max": "1.5s"}, "max 1500 ms", 1500.5),
        ({"max": "1500ms"}, "max 1500 ms", 1500.5),
        ({"max": "0.3s"}, "max 300 ms", 300.001),
        ({"max": "2.5ms"}, "max 2.5 ms", 2.6),
    ],
)
def test_a_latency_threshold_means_the_same_whichever_way_it_is_written(
    written: dict[str, Any], threshold: str, failing_ms: float
) -> None:
    metric = Metric.model_validate({"name": "latency-p99", **written})
    at = threshold.split()[1]
    passing = judge(metric, canary=Sample(100, latency_ms={99: float(at)}), stable=None, min_requests=1)
    failing = judge(metric, canary=Sample(100, latency_ms={99: failing_ms}), stable=None, min_requests=1)
    assert (passing.verdict, failing.verdict) == (Verdict.SUCCESSFUL, Verdict.FAILED)
    assert passing.threshold == failing.threshold == threshold
    assert failing.breach == Breach(Bound.MAX, float(at))


def _m(verdict: Verdict) -> Measurement:
    return Measurement("error-rate", 0.01, "max 0.05", verdict)


S, F, N, E = Verdict.SUCCESSFUL, Verdict.FAILED, Verdict.INCONCLUSIVE, Verdict.ERROR  # N: no verdict


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ((), N),
        ((S,), S),
        ((S, S, S), S),
        ((F,), F),
        ((N,), N),
        ((E,), N),
        ((S, F), F),
        ((S, N), N),
        ((S, E), N),
        ((F, N, E), F),
        ((E, F), F),
        ((N, E), N),
    ],
    ids=lambda v: "-".join(x.value for x in v) if isinstance(v, tuple) else v.value,
)
def test_overall_folds_measurements_into_one_verdict(verdicts: tuple[Verdict, ...], expected: Verdict) -> None:
    assert overall([_m(v) for v in verdicts]) is expected


def test_overall_fails_on_any_failure_and_passes_only_when_every_measurement_passes() -> None:
    for size in range(5):
        for verdicts in itertools.product(Verdict, repeat=size):
            got = overall([_m(v) for v in verdicts])
            assert got is not Verdict.ERROR, "errors count as inconclusive"
            assert (got is Verdict.FAILED) == (F in verdicts), verdicts
            assert (got is Verdict.SUCCESSFUL) == (bool(verdicts) and set(verdicts) == {S}), verdicts

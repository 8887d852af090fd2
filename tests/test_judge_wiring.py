"""The statistical judge wired into the analysis (issue 14 item 4): `judge: mann-whitney` in the model (its
settings, defaults and what it refuses), the verdict of a judged metric from per-interval series (High or Low
in the watched direction fails with `Bound.JUDGE`, Pass succeeds, no data is inconclusive, minRequests
still applies to both sides), and the endpoint provider filling `Sample.series` for judged metrics from
the emulator's Cloud Monitoring."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from controller.emulator.server import Emulator, running
from controller.model import Analysis, Metric
from controller.model.analysis import Judge, JudgeDirection, NanStrategy
from controller.model.schema import json_schemas
from controller.observed import Sample
from controller.providers.monitoring import CloudMonitoringMetrics, QueryWindow, series_window
from controller.rollout.judge import Classification
from controller.rollout.verdicts import Bound, Shortfall, Verdict, judge

# ---- the model --------------------------------------------------------------------------------------


def metric(**written: Any) -> Metric:
    return Metric.model_validate(written)


def test_judge_mann_whitney_takes_kayentas_defaults_and_the_metrics_bad_direction() -> None:
    settings = metric(name="latency-p99", judge="mann-whitney").judge_settings
    assert settings == Judge(direction=JudgeDirection.INCREASE)
    assert (settings.confidence_level, settings.increase, settings.decrease, settings.critical) == (0.98, 0, 0, False)
    assert settings.nan_strategy is NanStrategy.REMOVE
    assert metric(name="feedback-score", judge="mann-whitney").judge_settings == Judge(
        direction=JudgeDirection.DECREASE
    )
    custom = metric(name="tps", query={"filter": 'metric.type="x"'}, judge="mann-whitney")
    assert custom.judge_settings == Judge(direction=JudgeDirection.EITHER)
    assert metric(name="error-rate", max=0.1).judge_settings is None


def test_judge_settings_are_written_in_camel_case_and_normalised() -> None:
    written = {
        "test": "mann-whitney",
        "confidenceLevel": 0.95,
        "direction": "either",
        "allowedIncrease": "10%",
        "allowedDecrease": 0.2,
        "critical": True,
        "nanStrategy": "replace",
    }
    m = metric(name="cost-per-request", judge=written)
    settings = m.judge_settings
    assert settings is not None
    assert (settings.confidence_level, settings.direction, settings.increase, settings.decrease) == (
        0.95,
        JudgeDirection.EITHER,
        0.1,
        0.2,
    )
    assert settings.critical and settings.nan_strategy is NanStrategy.REPLACE
    assert m.model_dump(by_alias=True, exclude_none=True, mode="json")["judge"] == written


def test_a_judge_needs_no_threshold_and_asks_for_the_stable() -> None:
    judged = metric(name="latency-p99", judge="mann-whitney")
    assert (judged.lower, judged.upper, judged.increase, judged.decrease) == (None, None, None, None)
    assert judged.compares_with_stable
    assert not metric(name="latency-p99", max="1s").compares_with_stable
    assert metric(name="feedback-score", maxDecrease="5%").compares_with_stable
    analysis = Analysis(metrics=(judged, metric(name="error-rate", max=0.1)))
    assert analysis.compares_with_stable and analysis.judged == ("latency-p99",)


JUDGE_INVALID: list[tuple[dict[str, Any], str, str]] = [
    ({"name": "latency-p99", "judge": "t-test"}, "judge", "unknown judge 't-test': use mann-whitney"),
    ({"name": "latency-p99", "judge": {"test": "t-test"}}, "judge.Judge.test", "Input should be 'mann-whitney'"),
    ({"name": "latency-p99", "judge": {"confidenceLevel": 1}}, "judge.Judge.confidenceLevel", "less than 1"),
    ({"name": "latency-p99", "judge": {"confidenceLevel": 98}}, "judge.Judge.confidenceLevel", "less than 1"),
    ({"name": "latency-p99", "judge": {"allowedIncrease": 10}}, "judge.Judge.allowedIncrease", "write 0.1 or 10%"),
    ({"name": "latency-p99", "judge": {"allowedDecrease": "150%"}}, "judge.Judge.allowedDecrease", "more than 100%"),
    ({"name": "latency-p99", "judge": {"direction": "up"}}, "judge.Judge.direction", "'increase', 'decrease'"),
    ({"name": "latency-p99", "judge": {"alpha": 0.05}}, "judge.Judge.alpha", "Extra inputs are not permitted"),
    ({"name": "request-count", "judge": "mann-whitney"}, "", "request-count cannot be judged against the stable"),
]


@pytest.mark.parametrize(("written", "field", "fragment"), JUDGE_INVALID, ids=[str(c[0]) for c in JUDGE_INVALID])
def test_a_judge_that_cannot_work_is_refused_with_one_message(
    written: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Metric.model_validate(written)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    assert ".".join(str(p) for p in errors[0]["loc"]) == field
    assert fragment in errors[0]["msg"], errors[0]["msg"]


@pytest.mark.parametrize(
    ("written", "valid"),
    [
        ({"name": "latency-p99", "judge": "mann-whitney"}, True),
        ({"name": "feedback-score", "judge": {"confidenceLevel": 0.9, "allowedDecrease": "5%"}}, True),
        ({"name": "latency-p99", "judge": "t-test"}, False),
        ({"name": "latency-p99", "judge": {"confidenceLevel": 2}}, False),
        ({"name": "request-count", "judge": "mann-whitney"}, False),
        ({"name": "latency-p99"}, False),
    ],
    ids=str,
)
def test_the_json_schema_knows_the_judge(written: dict[str, Any], valid: bool) -> None:
    schema = json_schemas()["endpoint.schema.json"]
    validator = jsonschema.Draft202012Validator({"$defs": schema["$defs"], **schema["$defs"]["Metric"]})
    errors = list(validator.iter_errors(written))
    assert (not errors) == valid, [e.message for e in errors]


# ---- verdicts of judged metrics -------------------------------------------------------------------------

BASE = (100.0, 104.0, 98.0, 101.0, 99.0, 103.0, 97.0, 102.0, 100.5, 99.5)


def scaled(factor: float, values: tuple[float, ...] = BASE) -> tuple[float, ...]:
    return tuple(v * factor for v in values)


def with_series(name: str, values: tuple[float, ...], *, requests: int = 200, **fields: Any) -> Sample:
    mean = None if not values or all(math.isnan(v) for v in values) else sum(values) / len(values)
    latency = {99: mean} if name.startswith("latency") else {}
    value = {name: mean} if name in ("feedback-score", "cost-per-request") else {}
    return Sample(requests=requests, latency_ms=latency, values=value, series={name: values}, **fields)


# (metric as written, canary, stable, verdict, bound or shortfall, classification)
JUDGED: list[tuple[dict[str, Any], Sample, Sample | None, Verdict, Bound | Shortfall | None, Classification | None]] = [
    (
        {"name": "latency-p99", "judge": "mann-whitney"},
        with_series("latency-p99", scaled(1.5)),
        with_series("latency-p99", BASE),
        Verdict.FAILED,
        Bound.JUDGE,
        Classification.HIGH,
    ),
    (
        {"name": "latency-p99", "judge": "mann-whitney"},
        with_series("latency-p99", BASE[::-1]),
        with_series("latency-p99", BASE),
        Verdict.SUCCESSFUL,
        None,
        Classification.PASS,
    ),
    (
        {"name": "latency-p99", "judge": "mann-whitney"},
        with_series("latency-p99", (101.0, 97.5, 103.5, 99.0, 100.0, 102.5, 98.5, 101.5, 99.8, 100.2)),
        with_series("latency-p99", BASE),
        Verdict.SUCCESSFUL,
        None,
        Classification.PASS,
    ),
    (  # faster is not watched for latency
        {"name": "latency-p99", "judge": "mann-whitney"},
        with_series("latency-p99", scaled(0.5)),
        with_series("latency-p99", BASE),
        Verdict.SUCCESSFUL,
        None,
        Classification.PASS,
    ),
    (  # ... unless the judge says either
        {"name": "latency-p99", "judge": {"direction": "either"}},
        with_series("latency-p99", scaled(0.5)),
        with_series("latency-p99", BASE),
        Verdict.FAILED,
        Bound.JUDGE,
        Classification.LOW,
    ),
    (  # feedback: a lower score fails, a higher one passes
        {"name": "feedback-score", "judge": "mann-whitney"},
        with_series("feedback-score", scaled(0.03)),
        with_series("feedback-score", scaled(0.04)),
        Verdict.FAILED,
        Bound.JUDGE,
        Classification.LOW,
    ),
    (
        {"name": "feedback-score", "judge": "mann-whitney"},
        with_series("feedback-score", scaled(0.045)),
        with_series("feedback-score", scaled(0.04)),
        Verdict.SUCCESSFUL,
        None,
        Classification.PASS,
    ),
    (  # a significant 20% increase within the allowed 50%
        {"name": "latency-p99", "judge": {"allowedIncrease": "50%"}},
        with_series("latency-p99", scaled(1.2)),
        with_series("latency-p99", BASE),
        Verdict.SUCCESSFUL,
        None,
        Classification.PASS,
    ),
    (
        {"name": "latency-p99", "judge": {"allowedIncrease": "50%"}},
        with_series("latency-p99", scaled(1.8)),
        with_series("latency-p99", BASE),
        Verdict.FAILED,
        Bound.JUDGE,
        Classification.HIGH,
    ),
    (  # an absolute threshold is checked first
        {"name": "latency-p99", "max": "50ms", "judge": "mann-whitney"},
        with_series("latency-p99", scaled(1.5)),
        with_series("latency-p99", BASE),
        Verdict.FAILED,
        Bound.MAX,
        None,
    ),
    (  # no per-interval values on one side: no data, never a pass
        {"name": "latency-p99", "judge": "mann-whitney"},
        Sample(requests=200, latency_ms={99: 100.0}),
        with_series("latency-p99", BASE),
        Verdict.INCONCLUSIVE,
        Shortfall.NO_DATA,
        Classification.NODATA,
    ),
    (  # every interval without a value, removed: no data
        {"name": "cost-per-request", "judge": "mann-whitney"},
        Sample(requests=200, values={"cost-per-request": 0.01}, series={"cost-per-request": (math.nan,) * 10}),
        with_series("cost-per-request", scaled(0.001)),
        Verdict.INCONCLUSIVE,
        Shortfall.NO_DATA,
        Classification.NODATA,
    ),
    (
        {"name": "latency-p99", "judge": "mann-whitney"},
        with_series("latency-p99", scaled(1.5)),
        None,
        Verdict.INCONCLUSIVE,
        Shortfall.NO_BASELINE,
        None,
    ),
    (  # minRequests applies to the stable ...
        {"name": "latency-p99", "judge": "mann-whitney"},
        with_series("latency-p99", scaled(1.5)),
        with_series("latency-p99", BASE, requests=10),
        Verdict.INCONCLUSIVE,
        Shortfall.NO_BASELINE,
        None,
    ),
    (  # ... and to the canary
        {"name": "latency-p99", "judge": "mann-whitney"},
        with_series("latency-p99", scaled(1.5), requests=10),
        with_series("latency-p99", BASE),
        Verdict.INCONCLUSIVE,
        Shortfall.TOO_FEW_REQUESTS,
        None,
    ),
]


def _case_id(case: tuple[Any, ...]) -> str:
    return f"{case[0]} -> {case[3].value} {case[5] or case[4] or ''}"


@pytest.mark.parametrize(
    ("written", "canary", "stable", "verdict", "why", "classification"), JUDGED, ids=map(_case_id, JUDGED)
)
def test_a_judged_metric_compares_the_per_interval_values_with_the_stables(
    written: dict[str, Any],
    canary: Sample,
    stable: Sample | None,
    verdict: Verdict,
    why: Bound | Shortfall | None,
    classification: Classification | None,
) -> None:
    got = judge(Metric.model_validate(written), canary=canary, stable=stable, min_requests=50)
    assert got.verdict is verdict, got.describe()
    assert (got.breach.bound if got.breach else None) is (why if isinstance(why, Bound) else None)
    assert got.shortfall is (why if isinstance(why, Shortfall) else None)
    assert (got.judgement.classification if got.judgement else None) is classification


def test_a_judge_failure_carries_the_p_value_effect_size_and_confidence_for_display() -> None:
    m = metric(name="latency-p99", judge={"confidenceLevel": 0.95})
    got = judge(
        m, canary=with_series("latency-p99", scaled(1.5)), stable=with_series("latency-p99", BASE), min_requests=1
    )
    assert got.breach is not None and got.breach.threshold == 0.95
    assert got.breach.baseline == pytest.approx(sum(BASE) / 10)
    assert got.judgement is not None and got.judgement.p_value is not None and got.judgement.p_value < 0.001
    assert got.judgement.effect_size == pytest.approx(1.5)
    assert got.threshold == "mann-whitney increase vs stable at 0.95"
    assert "mann-whitney High: p " in got.detail and "mean x1.5 of stable, 95% confidence" in got.detail
    assert not got.critical


def test_a_critical_judge_marks_its_failure_critical() -> None:
    m = metric(name="latency-p99", judge={"critical": True})
    failed = judge(
        m, canary=with_series("latency-p99", scaled(2)), stable=with_series("latency-p99", BASE), min_requests=1
    )
    passed = judge(m, canary=with_series("latency-p99", BASE), stable=with_series("latency-p99", BASE), min_requests=1)
    assert failed.critical and "critical" in failed.detail
    assert not passed.critical


def test_nan_strategy_replace_counts_intervals_without_a_value_as_zero() -> None:
    canary = Sample(requests=200, errors=0, series={"error-rate": (math.nan,) * 10})
    stable = Sample(requests=200, errors=10, series={"error-rate": scaled(0.0005)})
    removed = judge(metric(name="error-rate", judge="mann-whitney"), canary=canary, stable=stable, min_requests=1)
    replaced = judge(
        metric(name="error-rate", judge={"nanStrategy": "replace", "direction": "either"}),
        canary=canary,
        stable=stable,
        min_requests=1,
    )
    assert removed.verdict is Verdict.INCONCLUSIVE
    assert replaced.judgement is not None and replaced.judgement.classification is Classification.LOW


# ---- the endpoint provider fills the series ------------------------------------------------------------

T0 = 1_700_000_000.0


def test_the_series_window_cuts_the_window_into_ten_periods_of_at_least_the_minimum() -> None:
    assert series_window(T0 - 600, T0, min_alignment_s=60) == QueryWindow(T0 - 600, T0, 60)
    assert series_window(T0 - 100, T0, min_alignment_s=1) == QueryWindow(T0 - 100, T0, 10)
    assert series_window(T0 - 120, T0, min_alignment_s=60) == QueryWindow(T0 - 120, T0, 60)  # two periods
    assert series_window(T0 - 30, T0, min_alignment_s=60) == QueryWindow(T0 - 60, T0, 60)  # widened to one
    assert series_window(T0 - 95, T0, min_alignment_s=1) == QueryWindow(T0 - 100, T0, 10)  # whole periods


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running(rest_port=None, storage_port=None, min_alignment_period_s=1, clock=lambda: T0) as emu:
        yield emu


def predictions(emulator: Emulator, model: str, *, latency_ms: float, seed: int, error_every: int = 0) -> None:
    """20 predictions in each of the ten 10-second periods before T0, at about `latency_ms` (10% jitter)."""
    rng = random.Random(seed)
    for k in range(10):
        for i in range(20):
            emulator.metrics.record_prediction(
                project=emulator.project,
                location=emulator.location,
                endpoint_id="chat",
                endpoint_display_name="chat",
                deployed_model_id=model,
                model_display_name=f"model-{model}",
                latency_ms=latency_ms * rng.uniform(0.9, 1.1),
                response_code=500 if error_every and i % error_every == 0 else 200,
                at=T0 - 100 + 10 * k + 0.2 + i * 0.4,
            )


def test_the_endpoint_provider_fills_series_for_judged_metrics_and_the_judge_flags_the_slower_model(
    emulator: Emulator,
) -> None:
    predictions(emulator, "stable", latency_ms=100, seed=1)
    predictions(emulator, "slower", latency_ms=200, seed=2, error_every=4)
    predictions(emulator, "same", latency_ms=100, seed=3)
    calls: list[str] = []
    provider = CloudMonitoringMetrics(
        project=emulator.project, channel=emulator.channel, min_alignment_s=1, on_call=calls.append
    )
    checks = (metric(name="latency-p99", judge="mann-whitney"), metric(name="error-rate", judge="mann-whitney"))

    def sample(model: str) -> Sample:
        return provider.sample(
            region="us-central1", endpoint_id="chat", deployed_model_id=model, start=T0 - 100, end=T0, metrics=checks
        )

    stable, slower, same = sample("stable"), sample("slower"), sample("same")
    assert calls == ["ListTimeSeries"] * 9  # requests, errors, latency per sample: series come with the totals
    assert (slower.requests, slower.errors) == (200, 50)
    assert slower.series["error-rate"] == pytest.approx((0.25,) * 10)
    assert len(slower.series["latency-p99"]) == 10 and all(180 <= v <= 330 for v in slower.series["latency-p99"])
    assert len(stable.series["latency-p99"]) == 10 and all(90 <= v <= 130 for v in stable.series["latency-p99"])
    assert stable.series["error-rate"] == (0.0,) * 10

    verdicts = {
        name: {m.name: judge(m, canary=s, stable=stable, min_requests=100).verdict for m in checks}
        for name, s in (("slower", slower), ("same", same))
    }
    assert verdicts == {
        "slower": {"latency-p99": Verdict.FAILED, "error-rate": Verdict.FAILED},
        "same": {"latency-p99": Verdict.SUCCESSFUL, "error-rate": Verdict.SUCCESSFUL},
    }


def test_a_judged_custom_query_gets_its_own_aligned_values(emulator: Emulator) -> None:
    predictions(emulator, "stable", latency_ms=100, seed=1)
    query = {
        "filter": 'metric.type = "aiplatform.googleapis.com/prediction/online/prediction_count" AND '
        'metric.labels.deployed_model_id = "${deployed_model_id}"',
        "aligner": "ALIGN_DELTA",
        "reducer": "REDUCE_SUM",
    }
    calls: list[str] = []
    provider = CloudMonitoringMetrics(
        project=emulator.project, channel=emulator.channel, min_alignment_s=1, on_call=calls.append
    )
    got = provider.sample(
        region="us-central1",
        endpoint_id="chat",
        deployed_model_id="stable",
        start=T0 - 100,
        end=T0,
        metrics=(metric(name="served", query=query, judge="mann-whitney"),),
    )
    assert got.custom == {"served": 200.0} and got.series == {"served": (20.0,) * 10}
    assert len(calls) == 3  # requests, the query over the window, the query per period

"""The experiment core (controller/rollout/experiment.py): per-variant samples -> report -> decision.

Pure and table-driven: each case names what each variant served (requests, errors, the mean of its
per-interval latency or feedback series), and the verdicts, conclusion and winner the report must reach.
The interval maths is checked against Newcombe's and Wilson's published examples.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any

import pytest

from controller.model import Metric
from controller.model.experiment_settings import Experiment
from controller.observed import Sample
from controller.rollout.experiment import (
    Better,
    Conclusion,
    DecisionKind,
    ExperimentReport,
    Method,
    Outcome,
    Shortfall,
    decision,
    duration_over,
    endpoint_variants,
    experiment_report,
    prompt_variants,
)
from controller.rollout.proportions import Interval, newcombe_interval, two_proportion_p_value, wilson_interval
from controller.rollout.verdicts import Bound
from tests.builders import endpoint

ERROR_RATE = Metric.model_validate({"name": "error-rate", "max": 0.05})
LATENCY = Metric.model_validate({"name": "latency-p99", "max": "5s"})
FEEDBACK = Metric.model_validate({"name": "feedback-score", "min": 1})
REQUESTS = Metric.model_validate({"name": "request-count", "min": 0})
METRICS = (ERROR_RATE, LATENCY, REQUESTS, FEEDBACK)
INTERVALS = 60  # one-minute series over an hour


def series(mean: float, *, seed: int, spread: float = 0.05) -> tuple[float, ...]:
    """Per-interval values around `mean` (Gaussian, `spread` of the mean), the same for the same seed."""
    rng = random.Random(seed)
    return tuple(rng.gauss(mean, mean * spread) for _ in range(INTERVALS))


def sample(
    *,
    requests: int = 2000,
    errors: int = 20,
    latency: float | None = 800.0,
    feedback: float | None = None,
    seed: int = 1,
    series_for_latency: bool = True,
    error: str | None = None,
) -> Sample:
    """One variant's sample: a latency-p99 series (ms) and optionally a feedback-score series."""
    values: dict[str, float | None] = {}
    by_interval: dict[str, tuple[float, ...]] = {}
    latency_ms: dict[int, float | None] = {}
    if latency is not None:
        latency_ms[99] = latency
        if series_for_latency:
            by_interval["latency-p99"] = series(latency, seed=seed)
    if feedback is not None:
        values["feedback-score"] = feedback
        by_interval["feedback-score"] = series(feedback, seed=seed + 100, spread=0.1)
    return Sample(
        requests=requests, errors=errors, latency_ms=latency_ms, values=values, series=by_interval, error=error
    )


def report(
    variants: Mapping[str, Mapping[str, Any]],
    *,
    weights: Mapping[str, float] | None = None,
    min_requests: int = 200,
    over: bool = True,
) -> ExperimentReport:
    """The report over `variants` (name -> sample fields, the first is the control), equal weights by default,
    on error-rate, latency-p99 and request-count, and feedback-score when a variant gives feedback."""
    with_feedback = any("feedback" in fields for fields in variants.values())
    samples = {name: sample(seed=index + 2, **fields) for index, (name, fields) in enumerate(variants.items())}
    return experiment_report(
        samples=samples,
        weights=weights or dict.fromkeys(variants, 1.0),
        control=next(iter(variants)),
        metrics=METRICS if with_feedback else (ERROR_RATE, LATENCY, REQUESTS),
        min_requests=min_requests,
        duration_over=over,
    )


def outcomes(got: ExperimentReport, variant: str) -> dict[str, Outcome]:
    """Each metric's outcome for a treatment."""
    out = {}
    for result in got.metrics:
        comparison = result.of(variant).comparison
        assert comparison is not None
        out[result.metric] = comparison.outcome
    return out


SAME = Outcome.NO_DIFFERENCE
CASES = [
    pytest.param(
        {"control": {}, "new": {"latency": 600.0}},
        {"latency-p99": Outcome.BETTER, "error-rate": SAME},
        Conclusion.WINNER,
        "new",
        id="a treatment 25% faster with the same errors is the winner",
    ),
    pytest.param(
        {"control": {}, "new": {"errors": 100}},
        {"error-rate": Outcome.WORSE, "latency-p99": SAME},
        Conclusion.CONTROL_BETTER,
        None,
        id="a treatment with five times the errors loses to the control",
    ),
    pytest.param(
        {"control": {}, "new": {"errors": 22}},
        {"error-rate": SAME, "latency-p99": SAME},
        Conclusion.NO_SIGNIFICANT_DIFFERENCE,
        None,
        id="the same service in both variants shows no significant difference",
    ),
    pytest.param(
        {"control": {"requests": 150}, "new": {"requests": 150, "latency": 400.0}},
        {"error-rate": Outcome.NOT_ENOUGH_DATA, "latency-p99": Outcome.NOT_ENOUGH_DATA},
        Conclusion.NOT_ENOUGH_DATA,
        None,
        id="below minRequests nothing is judged, however large the difference",
    ),
    pytest.param(
        {"control": {}, "new": {"latency": 600.0, "series_for_latency": False}},
        {"latency-p99": Outcome.NOT_ENOUGH_DATA, "error-rate": SAME},
        Conclusion.NOT_ENOUGH_DATA,
        None,
        id="a latency without per-interval values has no interval and is never judged on the point value",
    ),
    pytest.param(
        {"control": {}, "new": {"latency": 600.0, "feedback": 4.2}},
        {"latency-p99": Outcome.BETTER, "feedback-score": Outcome.NOT_ENOUGH_DATA},
        Conclusion.NOT_ENOUGH_DATA,
        None,
        id="a metric the control has no value of blocks a winner however much better the rest",
    ),
    pytest.param(
        {"control": {"feedback": 3.5}, "new": {"feedback": 4.2}},
        {"feedback-score": Outcome.BETTER, "latency-p99": SAME},
        Conclusion.WINNER,
        "new",
        id="a higher feedback score is better",
    ),
    pytest.param(
        {"control": {"feedback": 4.2}, "new": {"feedback": 3.5}},
        {"feedback-score": Outcome.WORSE},
        Conclusion.CONTROL_BETTER,
        None,
        id="a lower feedback score is worse",
    ),
    pytest.param(
        {"control": {}, "new": {"latency": 600.0, "errors": 100}},
        {"latency-p99": Outcome.BETTER, "error-rate": Outcome.WORSE},
        Conclusion.TRADE_OFF,
        None,
        id="faster but failing more is a trade-off with no winner",
    ),
    pytest.param(
        {"control": {"errors": 110}, "new": {"latency": 600.0, "errors": 120}},
        {"latency-p99": Outcome.BETTER, "error-rate": SAME},
        Conclusion.GUARDRAIL_BREACHED,
        None,
        id="a faster treatment above the error-rate max is no winner even when no worse than the control",
    ),
    pytest.param(
        {"control": {}, "a": {"latency": 600.0}, "b": {"latency": 600.0}},
        {"latency-p99": Outcome.BETTER},
        Conclusion.TIE,
        None,
        id="two treatments better on as many metrics tie",
    ),
    pytest.param(
        {
            "control": {"feedback": 3.5},
            "a": {"latency": 600.0, "feedback": 3.5},
            "b": {"latency": 600.0, "feedback": 4.2},
        },
        {"latency-p99": Outcome.BETTER, "feedback-score": SAME},
        Conclusion.WINNER,
        "b",
        id="of two qualifying treatments the one better on more metrics wins",
    ),
    pytest.param(
        {"control": {}, "new": {"latency": 600.0, "error": "the metrics query timed out"}},
        {"latency-p99": Outcome.NOT_ENOUGH_DATA, "error-rate": Outcome.NOT_ENOUGH_DATA},
        Conclusion.NOT_ENOUGH_DATA,
        None,
        id="a failed query is not enough data, not a sample-ratio mismatch",
    ),
]


@pytest.mark.parametrize(("variants", "expected", "conclusion", "winner"), CASES)
def test_the_report_judges_each_metric_and_suggests_a_winner_only_when_one_is_clear(
    variants: Mapping[str, Mapping[str, Any]],
    expected: Mapping[str, Outcome],
    conclusion: Conclusion,
    winner: str | None,
) -> None:
    got = report(variants)
    first_treatment = got.treatments[0]
    assert {m: o for m, o in outcomes(got, first_treatment).items() if m in expected} == expected
    assert (got.conclusion, got.winner) == (conclusion, winner)
    assert got.significant == any(o.significant for t in got.treatments for o in outcomes(got, t).values())


def test_a_sample_ratio_mismatch_leaves_no_winner_however_clear_the_difference() -> None:
    got = report({"control": {"requests": 2000}, "new": {"requests": 2300, "latency": 600.0}})
    assert outcomes(got, "new")["latency-p99"] is Outcome.BETTER
    assert got.srm.mismatch
    assert (got.conclusion, got.winner, got.significant, got.trustworthy) == (
        Conclusion.SAMPLE_RATIO_MISMATCH,
        None,
        False,
        False,
    )


def test_requests_that_fit_unequal_weights_are_no_mismatch() -> None:
    got = report(
        {"control": {"requests": 9000, "errors": 90}, "new": {"requests": 1000, "errors": 10, "latency": 600.0}},
        weights={"control": 90, "new": 10},
    )
    assert not got.srm.mismatch
    assert (got.conclusion, got.winner) == (Conclusion.WINNER, "new")


def test_rates_use_the_newcombe_interval_of_the_two_proportions_and_the_z_test() -> None:
    got = report({"control": {"errors": 20}, "new": {"errors": 40}})
    comparison = got.metrics[0].of("new").comparison
    assert comparison is not None
    assert comparison.method is Method.NEWCOMBE
    assert comparison.difference == pytest.approx(0.01)
    assert comparison.interval == newcombe_interval(40, 2000, 20, 2000, confidence=0.95)
    assert comparison.p_value == pytest.approx(two_proportion_p_value(40, 2000, 20, 2000))
    assert comparison.outcome is Outcome.WORSE


def test_sparse_errors_are_no_significant_difference_whatever_the_ratio() -> None:
    got = report({"control": {"errors": 0}, "new": {"errors": 3}})
    comparison = got.metrics[0].of("new").comparison
    assert comparison is not None
    assert comparison.interval is not None and comparison.interval.lower < 0 < comparison.interval.upper
    assert comparison.outcome is Outcome.NO_DIFFERENCE


def test_series_metrics_take_the_judges_hodges_lehmann_shift_and_interval() -> None:
    got = report({"control": {"latency": 800.0}, "new": {"latency": 600.0}})
    comparison = got.metrics[1].of("new").comparison
    assert comparison is not None
    assert comparison.method is Method.MANN_WHITNEY
    assert comparison.interval is not None and comparison.difference is not None
    assert comparison.interval.lower < comparison.difference < comparison.interval.upper < 0
    assert comparison.difference == pytest.approx(-200, rel=0.15)
    assert comparison.p_value is not None and comparison.p_value < 0.001


@pytest.mark.parametrize(
    ("judge", "outcome"),
    [
        pytest.param(None, Outcome.BETTER, id="any significant change counts without judge settings"),
        pytest.param({"allowedDecrease": "10%"}, Outcome.NO_DIFFERENCE, id="a 5% drop under allowedDecrease 10%"),
        pytest.param({"allowedDecrease": "2%"}, Outcome.BETTER, id="a 5% drop over allowedDecrease 2%"),
    ],
)
def test_a_metrics_judge_settings_set_the_smallest_change_that_matters(
    judge: dict[str, Any] | None, outcome: Outcome
) -> None:
    metric = Metric.model_validate({"name": "latency-p99", "max": "5s", **({"judge": judge} if judge else {})})
    got = experiment_report(
        samples={"c": sample(latency=800.0, seed=2), "t": sample(latency=760.0, seed=3)},
        weights={"c": 1, "t": 1},
        control="c",
        metrics=[metric],
        min_requests=200,
        duration_over=True,
    )
    comparison = got.metrics[0].of("t").comparison
    assert comparison is not None and comparison.outcome is outcome


def test_request_count_is_shown_but_never_judged() -> None:
    got = report({"control": {}, "new": {"latency": 600.0}})
    result = next(r for r in got.metrics if r.metric == "request-count")
    assert result.better is None
    comparison = result.of("new").comparison
    assert comparison is not None and comparison.outcome is Outcome.NOT_JUDGED
    assert result.of("control").value == 2000


def test_the_control_comes_first_and_has_no_comparison() -> None:
    got = report({"b": {}, "a": {}, "c": {}})
    assert got.variants == ("b", "a", "c")
    assert all(r.variants[0].comparison is None for r in got.metrics)


def test_a_breached_guardrail_is_recorded_with_its_bound() -> None:
    got = report({"control": {}, "new": {"errors": 200}})
    breach = got.metrics[0].of("new").breach
    assert breach is not None and (breach.bound, breach.threshold) == (Bound.MAX, 0.05)
    assert got.metrics[0].of("control").breach is None


def test_a_comparison_names_why_it_lacks_data() -> None:
    got = report({"control": {"requests": 10}, "new": {}})
    comparison = got.metrics[0].of("new").comparison
    assert comparison is not None and comparison.shortfall is Shortfall.TOO_FEW_REQUESTS


@pytest.mark.parametrize(
    ("metric", "better"),
    [
        ({"name": "error-rate", "max": 0.05}, Better.LOWER),
        ({"name": "latency-p50", "max": "1s"}, Better.LOWER),
        ({"name": "feedback-score", "min": 3}, Better.HIGHER),
        ({"name": "cost-per-request", "max": 0.01}, Better.LOWER),
        ({"name": "request-count", "min": 1}, None),
        ({"name": "conversions", "query": {"filter": 'metric.type="x"'}, "min": 0.1}, Better.HIGHER),
        ({"name": "queue-depth", "query": {"filter": 'metric.type="x"'}, "max": 10}, Better.LOWER),
        (
            {"name": "revenue", "query": {"filter": 'metric.type="x"'}, "judge": {"direction": "decrease"}},
            Better.HIGHER,
        ),
        ({"name": "refunds", "query": {"filter": 'metric.type="x"'}, "judge": {"direction": "increase"}}, Better.LOWER),
    ],
)
def test_lower_is_better_except_for_feedback_and_custom_floors(metric: dict[str, Any], better: Better | None) -> None:
    got = experiment_report(
        samples={},
        weights={"c": 1, "t": 1},
        control="c",
        metrics=[Metric.model_validate(metric)],
        min_requests=1,
        duration_over=False,
    )
    assert got.metrics[0].better is better


# --- decision -------------------------------------------------------------------------------------------

BASE = report({"control": {}, "new": {"latency": 600.0}})


@pytest.mark.parametrize(
    ("conclusion", "winner", "over", "auto", "kind", "variant"),
    [
        (Conclusion.WINNER, "new", True, True, DecisionKind.PROMOTE, "new"),
        (Conclusion.WINNER, "new", True, False, DecisionKind.WAIT_FOR_HUMAN, "new"),
        (Conclusion.WINNER, "new", False, True, DecisionKind.KEEP_RUNNING, "new"),
        (Conclusion.CONTROL_BETTER, None, True, False, DecisionKind.KEEP, "control"),
        (Conclusion.CONTROL_BETTER, None, True, True, DecisionKind.KEEP, "control"),
        (Conclusion.CONTROL_BETTER, None, False, True, DecisionKind.KEEP_RUNNING, None),
        (Conclusion.NO_SIGNIFICANT_DIFFERENCE, None, True, True, DecisionKind.WAIT_FOR_HUMAN, None),
        (Conclusion.TRADE_OFF, None, True, True, DecisionKind.WAIT_FOR_HUMAN, None),
        (Conclusion.NOT_ENOUGH_DATA, None, True, True, DecisionKind.WAIT_FOR_HUMAN, None),
        (Conclusion.NOT_ENOUGH_DATA, None, False, True, DecisionKind.KEEP_RUNNING, None),
        (Conclusion.SAMPLE_RATIO_MISMATCH, None, False, True, DecisionKind.WAIT_FOR_HUMAN, None),
    ],
)
def test_the_decision_waits_for_the_duration_and_promotes_only_a_winner_with_auto_promote(
    conclusion: Conclusion, winner: str | None, over: bool, auto: bool, kind: DecisionKind, variant: str | None
) -> None:
    got = decision(
        dataclasses.replace(BASE, conclusion=conclusion, winner=winner, duration_over=over), auto_promote=auto
    )
    assert (got.kind, got.variant, got.conclusion, got.auto_promote) == (kind, variant, conclusion, auto)


# --- statistics, against published values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "lower", "upper"),
    [
        ((56, 70, 48, 80), 0.0524, 0.3339),  # Newcombe (1998), Statistics in Medicine 17, table II, method 10
        ((9, 10, 3, 10), 0.1705, 0.8090),
        ((6, 7, 2, 7), 0.0582, 0.8062),
        ((5, 56, 0, 29), -0.0381, 0.1926),
        ((0, 10, 0, 20), -0.1611, 0.2775),
        ((10, 10, 0, 20), 0.6791, 1.0000),
    ],
)
def test_the_newcombe_interval_matches_newcombes_table(
    counts: tuple[int, int, int, int], lower: float, upper: float
) -> None:
    got = newcombe_interval(*counts, confidence=0.95)
    assert (got.lower, got.upper) == pytest.approx((lower, upper), abs=1e-4)


@pytest.mark.parametrize(
    ("successes", "trials", "lower", "upper"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_the_wilson_interval_matches_newcombes_examples(
    successes: int, trials: int, lower: float, upper: float
) -> None:
    got = wilson_interval(successes, trials, confidence=0.95)
    assert got == pytest.approx((lower, upper), abs=1e-4)


def test_an_interval_is_significant_only_when_it_excludes_zero() -> None:
    assert Interval(0.01, 0.2, 0.95).excludes_zero
    assert Interval(-0.2, -0.01, 0.95).excludes_zero
    assert not Interval(-0.01, 0.2, 0.95).excludes_zero


# --- variants and time ----------------------------------------------------------------------------------

SETTINGS = Experiment.model_validate({"duration": "1h", "weight": 20})


def test_a_prompt_experiment_has_the_labels_version_as_control_and_the_new_one_at_weight() -> None:
    got = prompt_variants(control="v3", treatment="v4", settings=SETTINGS)
    assert (got.control, dict(got.weights)) == ("v3", {"v3": 80.0, "v4": 20.0})


def test_an_endpoint_experiment_has_its_deployments_with_traffic_at_their_traffic() -> None:
    spec = endpoint(
        "chat",
        deployments=[{"name": "a", "model": "m@1"}, {"name": "b", "model": "m@2"}, {"name": "c", "model": "m@3"}],
        traffic={"a": 0, "b": 70, "c": 30},
        rollout={
            "strategy": "experiment",
            "experiment": {"duration": "1h"},
            "analysis": {"metrics": [{"name": "error-rate", "max": 0.05}]},
        },
    ).spec
    got = endpoint_variants(spec)
    assert (got.control, dict(got.weights)) == ("b", {"b": 70.0, "c": 30.0})


@pytest.mark.parametrize(("elapsed", "over"), [(0, False), (3599, False), (3600, True), (7200, True)])
def test_the_duration_is_over_once_it_has_run(elapsed: int, over: bool) -> None:
    assert duration_over(started_at=1000.0, now=1000.0 + elapsed, settings=SETTINGS) is over

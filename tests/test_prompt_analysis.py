"""Prompt metrics and maxDecrease in the analysis model and the verdicts: cost-per-request,
output-tokens-per-request, safety-block-rate and feedback-score take their own threshold forms (and the JSON
Schema agrees), maxDecrease mirrors maxIncrease against the stable, and a prompt metric is read from
`Sample.values` (a feedback score without ratings is no data, never a pass)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from controller.model import Metric
from controller.model.metric_thresholds import BUILTIN_METRICS, PROMPT_METRICS, Unit
from controller.model.schema import json_schemas
from controller.observed import Sample
from controller.rollout.verdicts import Bound, Shortfall, Verdict, judge, value_of

# (metric as written, unit, lower, upper, decrease)
VALID: list[tuple[dict[str, Any], Unit, float | None, float | None, float | None]] = [
    ({"name": "cost-per-request", "max": 0.002}, Unit.NUMBER, None, 0.002, None),
    ({"name": "cost-per-request", "maxIncrease": "20%"}, Unit.NUMBER, None, None, None),
    ({"name": "output-tokens-per-request", "max": 800, "min": 10}, Unit.NUMBER, 10.0, 800.0, None),
    ({"name": "safety-block-rate", "max": 0.02}, Unit.FRACTION, None, 0.02, None),
    ({"name": "safety-block-rate", "max": "2%"}, Unit.FRACTION, None, 0.02, None),
    ({"name": "feedback-score", "min": 3.5}, Unit.NUMBER, 3.5, None, None),
    ({"name": "feedback-score", "min": 1, "max": 5}, Unit.NUMBER, 1.0, 5.0, None),
    ({"name": "feedback-score", "maxDecrease": 0.1}, Unit.NUMBER, None, None, 0.1),
    ({"name": "feedback-score", "maxDecrease": "10%"}, Unit.NUMBER, None, None, 0.1),
    ({"name": "request-count", "maxDecrease": "100%"}, Unit.NUMBER, None, None, 1.0),
    ({"name": "error-rate", "maxDecrease": 0}, Unit.FRACTION, None, None, 0.0),
]


def _id(written: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in written.items())


@pytest.mark.parametrize(("written", "unit", "lower", "upper", "decrease"), VALID, ids=[_id(c[0]) for c in VALID])
def test_a_prompt_metric_threshold_is_normalised_in_the_model(
    written: dict[str, Any], unit: Unit, lower: float | None, upper: float | None, decrease: float | None
) -> None:
    metric = Metric.model_validate(written)
    assert (metric.unit, metric.lower, metric.upper, metric.decrease) == (unit, lower, upper, decrease)
    dumped = metric.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert {k: dumped[k] for k in written} == written  # what was written is kept


# (metric as written, the field the error points at, a fragment of the message)
INVALID: list[tuple[dict[str, Any], str, str]] = [
    ({"name": "safety-block-rate", "max": 2}, "max", "2 is not a fraction; write 0.02 or 2%"),
    ({"name": "safety-block-rate", "max": "150%"}, "max", "a safety block rate is at most 100%"),
    ({"name": "feedback-score", "min": 7}, "min", "7 is not a rating: feedback-score is a mean rating from 1 to 5"),
    ({"name": "feedback-score", "min": 0}, "min", "0 is not a rating"),
    ({"name": "feedback-score", "min": "80%"}, "min", "feedback-score takes a plain number (got '80%')"),
    ({"name": "cost-per-request", "max": "1s"}, "max", "cost-per-request takes a plain number"),
    ({"name": "output-tokens-per-request", "max": "5%"}, "max", "output-tokens-per-request takes a plain number"),
    ({"name": "feedback-score", "maxDecrease": 10}, "maxDecrease", "for 10% lower write 0.1 or 10%"),
    ({"name": "feedback-score", "maxDecrease": 500}, "maxDecrease", "at most 1 (100%)"),
    ({"name": "feedback-score", "maxDecrease": -0.1}, "maxDecrease", "maxDecrease must be 0 or more"),
    ({"name": "feedback-score", "maxDecrease": "120%"}, "maxDecrease", "more than 100%"),
    ({"name": "feedback-score", "maxDecrease": "a lot"}, "maxDecrease", "'a lot' is not a decrease"),
    ({"name": "feedback-score", "maxDecrease": True}, "maxDecrease", "expected a number or a percentage"),
    ({"name": "cost-per-request"}, "", "needs a threshold (min, max, maxMs, maxIncrease or maxDecrease) or a judge"),
    ({"name": "feedback-score", "maxMs": 10}, "", "'maxMs' applies only to latency metrics"),
    ({"name": "tokens-per-request", "max": 10}, "", "unknown metric 'tokens-per-request'"),
]


@pytest.mark.parametrize(("written", "field", "fragment"), INVALID, ids=[_id(c[0]) for c in INVALID])
def test_a_prompt_metric_threshold_that_cannot_mean_what_it_says_is_refused(
    written: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Metric.model_validate(written)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    assert ".".join(str(p) for p in errors[0]["loc"]) == field
    assert fragment in errors[0]["msg"], errors[0]["msg"]


def test_the_prompt_only_metrics_are_built_ins_named_in_one_constant() -> None:
    assert PROMPT_METRICS == (
        "cost-per-request",
        "input-tokens-per-request",
        "output-tokens-per-request",
        "safety-block-rate",
        "feedback-score",
    )
    assert set(PROMPT_METRICS) < set(BUILTIN_METRICS)
    assert not set(PROMPT_METRICS) & {"error-rate", "latency-p50", "latency-p95", "latency-p99", "request-count"}


def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json_schemas()["prompt.schema.json"]
    metric = {"$defs": schema["$defs"], **schema["$defs"]["Metric"]}
    return jsonschema.Draft202012Validator(metric)


SCHEMA_CASES = [(c[0], True) for c in VALID] + [
    (c[0], False) for c in INVALID if c[1] in ("min", "max", "maxDecrease") or "needs a threshold" in c[2]
]


@pytest.mark.parametrize(("written", "valid"), SCHEMA_CASES, ids=[_id(c[0]) for c in SCHEMA_CASES])
def test_the_json_schema_accepts_and_refuses_the_same_prompt_metric_forms(written: dict[str, Any], valid: bool) -> None:
    errors = list(_schema_validator().iter_errors(written))
    assert (not errors) == valid, [e.message for e in errors]


# ---- verdicts ---------------------------------------------------------------------------------------


def prompt_sample(requests: int = 100, **values: float | None) -> Sample:
    return Sample(requests=requests, values={k.replace("_", "-"): v for k, v in values.items()})


# (metric, canary, stable, verdict, bound or shortfall, value)
VERDICTS: list[tuple[dict[str, Any], Sample, Sample | None, Verdict, Bound | Shortfall | None, float | None]] = [
    (
        {"name": "cost-per-request", "max": 0.002},
        prompt_sample(cost_per_request=0.001),
        None,
        Verdict.SUCCESSFUL,
        None,
        0.001,
    ),
    (
        {"name": "cost-per-request", "max": 0.002},
        prompt_sample(cost_per_request=0.003),
        None,
        Verdict.FAILED,
        Bound.MAX,
        0.003,
    ),
    (
        {"name": "cost-per-request", "maxIncrease": "20%"},
        prompt_sample(cost_per_request=0.0013),
        prompt_sample(cost_per_request=0.001),
        Verdict.FAILED,
        Bound.MAX_INCREASE,
        0.0013,
    ),
    (
        {"name": "output-tokens-per-request", "max": 500},
        prompt_sample(output_tokens_per_request=480.0),
        None,
        Verdict.SUCCESSFUL,
        None,
        480.0,
    ),
    (
        {"name": "safety-block-rate", "max": "2%"},
        prompt_sample(safety_block_rate=0.03),
        None,
        Verdict.FAILED,
        Bound.MAX,
        0.03,
    ),
    (
        {"name": "safety-block-rate", "max": "2%"},
        prompt_sample(safety_block_rate=0.0),
        None,
        Verdict.SUCCESSFUL,
        None,
        0.0,
    ),
    ({"name": "feedback-score", "min": 3.5}, prompt_sample(feedback_score=3.2), None, Verdict.FAILED, Bound.MIN, 3.2),
    ({"name": "feedback-score", "min": 3.5}, prompt_sample(feedback_score=4.1), None, Verdict.SUCCESSFUL, None, 4.1),
    # no ratings: no data, never a pass, whatever the threshold
    (
        {"name": "feedback-score", "min": 1},
        prompt_sample(feedback_score=None),
        None,
        Verdict.INCONCLUSIVE,
        Shortfall.NO_DATA,
        None,
    ),
    ({"name": "feedback-score", "min": 1}, prompt_sample(), None, Verdict.INCONCLUSIVE, Shortfall.NO_DATA, None),
    (
        {"name": "feedback-score", "maxDecrease": "10%"},
        prompt_sample(feedback_score=4.0),
        prompt_sample(feedback_score=None),
        Verdict.INCONCLUSIVE,
        Shortfall.NO_BASELINE,
        4.0,
    ),
    # maxDecrease: below stable x (1 - maxDecrease) fails; at the limit, or above the stable, passes
    (
        {"name": "feedback-score", "maxDecrease": "10%"},
        prompt_sample(feedback_score=3.5),
        prompt_sample(feedback_score=4.0),
        Verdict.FAILED,
        Bound.MAX_DECREASE,
        3.5,
    ),
    (
        {"name": "feedback-score", "maxDecrease": "10%"},
        prompt_sample(feedback_score=3.6),
        prompt_sample(feedback_score=4.0),
        Verdict.SUCCESSFUL,
        None,
        3.6,
    ),
    (
        {"name": "feedback-score", "maxDecrease": 0},
        prompt_sample(feedback_score=4.9),
        prompt_sample(feedback_score=4.0),
        Verdict.SUCCESSFUL,
        None,
        4.9,
    ),
    (
        {"name": "feedback-score", "maxDecrease": 0},
        prompt_sample(feedback_score=3.99),
        prompt_sample(feedback_score=4.0),
        Verdict.FAILED,
        Bound.MAX_DECREASE,
        3.99,
    ),
    # the stable is held to minRequests too
    (
        {"name": "feedback-score", "maxDecrease": "10%"},
        prompt_sample(feedback_score=3.0),
        prompt_sample(10, feedback_score=4.0),
        Verdict.INCONCLUSIVE,
        Shortfall.NO_BASELINE,
        3.0,
    ),
    (
        {"name": "request-count", "maxDecrease": "50%"},
        Sample(requests=60),
        Sample(requests=200),
        Verdict.FAILED,
        Bound.MAX_DECREASE,
        60.0,
    ),
    (
        {"name": "error-rate", "maxIncrease": "50%", "maxDecrease": "50%"},
        Sample(requests=100, errors=1),
        Sample(requests=100, errors=4),
        Verdict.FAILED,
        Bound.MAX_DECREASE,
        0.01,
    ),
    # below minRequests nothing is judged
    (
        {"name": "cost-per-request", "max": 0.002},
        prompt_sample(10, cost_per_request=9.0),
        None,
        Verdict.INCONCLUSIVE,
        Shortfall.TOO_FEW_REQUESTS,
        9.0,
    ),
    # a metric's own failed query
    (
        {"name": "cost-per-request", "max": 0.002},
        Sample(requests=100, custom_errors={"cost-per-request": "ListTimeSeries failed"}),
        None,
        Verdict.ERROR,
        Shortfall.QUERY_FAILED,
        None,
    ),
]


@pytest.mark.parametrize(
    ("written", "canary", "stable", "verdict", "why", "value"),
    VERDICTS,
    ids=[f"{_id(c[0])} -> {c[3].value}" for c in VERDICTS],
)
def test_a_prompt_metric_is_judged_from_the_samples_values(
    written: dict[str, Any],
    canary: Sample,
    stable: Sample | None,
    verdict: Verdict,
    why: Bound | Shortfall | None,
    value: float | None,
) -> None:
    metric = Metric.model_validate(written)
    got = judge(metric, canary=canary, stable=stable, min_requests=50)
    assert got.verdict is verdict, got.describe()
    assert got.value == (None if value is None else pytest.approx(value))
    if isinstance(why, Bound):
        assert got.breach is not None and got.breach.bound is why
    else:
        assert got.breach is None
    assert got.shortfall is (why if isinstance(why, Shortfall) else None)


def test_a_max_decrease_breach_names_the_stable_value_and_the_allowed_fraction() -> None:
    metric = Metric.model_validate({"name": "feedback-score", "maxDecrease": "10%"})
    got = judge(
        metric, canary=prompt_sample(feedback_score=3.0), stable=prompt_sample(feedback_score=4.0), min_requests=1
    )
    assert got.breach is not None
    assert (got.breach.threshold, got.breach.baseline) == (0.1, 4.0)
    assert got.threshold == "at most -10% vs stable" and got.detail == "stable 4"


def test_prompt_metrics_are_read_only_from_the_samples_values() -> None:
    sample = Sample(requests=10, errors=1, values={"cost-per-request": 0.5})
    assert value_of(Metric(name="cost-per-request", max=1), sample) == 0.5
    assert value_of(Metric(name="safety-block-rate", max=1), sample) is None
    assert value_of(Metric(name="error-rate", max=1), sample) == 0.1  # endpoint metrics as before

"""Canary analysis on the runtime's streaming metrics: `time-to-first-token-p50/p95/p99` take durations like
`latency-p*`, `tokens-per-second` a plain number (a minimum, higher is better); both are judged from the
sample's values for endpoints and prompts alike, and a canary without streamed answers is inconclusive,
saying why, never passed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from controller.model import Metric
from controller.model.analysis import JudgeDirection
from controller.model.metric_thresholds import STREAMING_METRICS, Unit
from controller.observed import Sample
from controller.rollout.reason import Kind, Reason
from controller.rollout.verdicts import NO_STREAMS, Bound, Shortfall, Verdict, judge
from tests.test_prompt_rollout_model import endpoint, prompt


def test_time_to_first_token_takes_a_duration_like_latency() -> None:
    metric = Metric(name="time-to-first-token-p95", max="500ms")
    assert metric.unit is Unit.SECONDS and metric.upper == pytest.approx(0.5)
    assert Metric(name="time-to-first-token-p50", max_ms=40).upper == pytest.approx(0.04)
    with pytest.raises(ValidationError, match="no unit: a latency threshold is a duration"):
        Metric(name="time-to-first-token-p99", max=500)


def test_tokens_per_second_takes_a_plain_minimum_and_a_judge_watches_it_fall() -> None:
    metric = Metric(name="tokens-per-second", min=20)
    assert metric.unit is Unit.NUMBER and metric.lower == 20
    judged = Metric(name="tokens-per-second", judge="mann-whitney").judge_settings
    assert judged is not None and judged.direction is JudgeDirection.DECREASE
    with pytest.raises(ValidationError, match="takes a plain number"):
        Metric(name="tokens-per-second", min="20ms")


def test_endpoint_and_prompt_canaries_may_judge_the_streaming_metrics() -> None:
    metrics = [{"name": "time-to-first-token-p95", "max": "40ms"}, {"name": "tokens-per-second", "min": 20}]
    rollout = {"strategy": "canary", "stepWeight": 20, "analysis": {"metrics": metrics}}
    on_endpoint = endpoint(rollout, {"a": 100, "b": 0}).spec.rollout.analysis
    on_prompt = prompt(rollout, ["production"]).spec.rollout.analysis
    assert on_endpoint is not None and on_prompt is not None
    assert (
        [m.name for m in on_endpoint.metrics]
        == [m.name for m in on_prompt.metrics]
        == [
            "time-to-first-token-p95",
            "tokens-per-second",
        ]
    )


def test_a_slow_first_token_fails_in_milliseconds() -> None:
    metric = Metric(name="time-to-first-token-p95", max="40ms")
    canary = Sample(requests=60, values={"time-to-first-token-p95": 62.5})
    measured = judge(metric, canary=canary, stable=None, min_requests=20)
    assert measured.verdict is Verdict.FAILED and measured.breach is not None
    assert (measured.breach.bound, measured.breach.threshold) == (Bound.MAX, 40.0)
    assert measured.describe().startswith("time-to-first-token-p95 62.5 vs max 40 ms (failed")


def test_a_slow_stream_fails_the_tokens_per_second_minimum_and_against_the_stable() -> None:
    floor = judge(
        Metric(name="tokens-per-second", min=100),
        canary=Sample(requests=60, values={"tokens-per-second": 66.0}),
        stable=None,
        min_requests=20,
    )
    assert floor.verdict is Verdict.FAILED and floor.breach is not None and floor.breach.bound is Bound.MIN
    relative = judge(
        Metric(name="tokens-per-second", max_decrease="50%"),
        canary=Sample(requests=60, values={"tokens-per-second": 66.0}),
        stable=Sample(requests=200, values={"tokens-per-second": 200.0}),
        min_requests=20,
    )
    assert relative.verdict is Verdict.FAILED and relative.breach is not None
    assert relative.breach.bound is Bound.MAX_DECREASE


@pytest.mark.parametrize("name", STREAMING_METRICS)
def test_a_canary_without_streamed_answers_is_inconclusive_and_says_why(name: str) -> None:
    metric = Metric(name=name, min=1) if name == "tokens-per-second" else Metric(name=name, max="1s")
    measured = judge(metric, canary=Sample(requests=500), stable=None, min_requests=20)
    assert measured.verdict is Verdict.INCONCLUSIVE and measured.shortfall is Shortfall.NO_DATA
    assert measured.detail == NO_STREAMS
    reason = Reason(Kind.NO_DATA, metric=name)
    assert "stream answers through the runtime client" in reason.describe()

"""`source: vertex` on a time-to-first-token metric (issue 21, item 4): the Endpoint canary reads what Vertex AI
publishes (AI AutoMetrics' copy of a vLLM container's `vllm:time_to_first_token_seconds` histogram) instead of
the runtime client's metrics. What the manifest accepts and refuses, and what the Cloud Monitoring provider
reads from the emulator (seconds become the samples' milliseconds; minRequests still counts predictions)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from controller.emulator.server import Emulator, running
from controller.model import Metric
from controller.providers.monitoring import CloudMonitoringMetrics
from controller.rollout.verdicts import NO_VERTEX_STREAMS, Verdict, judge
from tests.test_prompt_rollout_model import endpoint, prompt

T0 = 1_700_000_000.0
VERTEX_P95 = {"name": "time-to-first-token-p95", "max": "40ms", "source": "vertex"}


def test_an_endpoint_canary_may_read_time_to_first_token_from_vertex() -> None:
    made = endpoint({"strategy": "canary", "stepWeight": 20, "analysis": {"metrics": [VERTEX_P95]}})
    assert made.spec.rollout.analysis is not None
    (metric,) = made.spec.rollout.analysis.metrics
    assert metric.from_vertex and metric.upper == 0.04
    assert not Metric(name="time-to-first-token-p95", max="40ms").from_vertex  # runtime by default
    assert not Metric(name="time-to-first-token-p95", max="40ms", source="runtime").from_vertex


@pytest.mark.parametrize(
    "metric",
    [
        {"name": "latency-p95", "max": "40ms", "source": "vertex"},
        {"name": "tokens-per-second", "min": 50, "source": "vertex"},
        {"name": "ttft", "query": {"filter": 'metric.type = "x"'}, "max": 1, "source": "vertex"},
    ],
)
def test_source_vertex_is_refused_on_metrics_vertex_does_not_publish(metric: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="source: vertex applies only to time-to-first-token-p50"):
        Metric.model_validate(metric)


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(ValidationError, match="source"):
        Metric.model_validate({**VERTEX_P95, "source": "prometheus"})


def test_a_prompt_canary_refuses_source_vertex_its_versions_are_not_deployed_models() -> None:
    rollout = {"strategy": "canary", "stepWeight": 20, "analysis": {"metrics": [VERTEX_P95]}}
    with pytest.raises(ValidationError, match="a Prompt's versions are not deployed models"):
        prompt(rollout, ["production"])
    in_a_step = {"strategy": "canary", "steps": [{"weight": 20, "analysis": {"metrics": [VERTEX_P95]}}]}
    with pytest.raises(ValidationError, match="a Prompt's versions are not deployed models"):
        prompt(in_a_step, ["production"])


# ---- the provider, against the emulator -------------------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running(rest_port=None, storage_port=None, min_alignment_period_s=1, clock=lambda: T0) as emu:
        yield emu


def served(emulator: Emulator, *, model: str, at: float, first_token_s: float | None) -> None:
    """One prediction of `model` on `chat`, streamed (with its server-side time to first token) or whole."""
    where: dict[str, Any] = {
        "project": emulator.project,
        "location": emulator.location,
        "endpoint_id": "chat",
        "endpoint_display_name": "chat",
        "deployed_model_id": model,
        "model_display_name": f"model-{model}",
        "at": at,
    }
    emulator.metrics.record_prediction(**where, latency_ms=first_token_s or 0.05, response_code=200)
    if first_token_s is not None:
        emulator.metrics.record_first_token(**where, seconds=first_token_s)


def test_the_provider_reads_vertex_time_to_first_token_per_deployed_model_in_milliseconds(
    emulator: Emulator,
) -> None:
    for i in range(20):
        served(emulator, model="1", at=T0 - 50 + i, first_token_s=0.07)  # vLLM bucket [0.06, 0.08)
        served(emulator, model="2", at=T0 - 50 + i, first_token_s=0.015)  # [0.01, 0.02)
    metrics = CloudMonitoringMetrics(project=emulator.project, channel=emulator.channel, min_alignment_s=1)
    wanted = (Metric.model_validate(VERTEX_P95), Metric(name="time-to-first-token-p50", max="1s"))
    slow, fast = (
        metrics.sample(
            region="us-central1", endpoint_id="chat", deployed_model_id=m, start=T0 - 60, end=T0, metrics=wanted
        )
        for m in ("1", "2")
    )
    assert slow.requests == fast.requests == 20 and slow.error is None
    assert 60 <= (slow.values["time-to-first-token-p95"] or 0) <= 80
    assert 10 <= (fast.values["time-to-first-token-p95"] or 0) <= 20
    assert slow.values["time-to-first-token-p50"] is None  # runtime source: no runtime metrics written
    verdict = judge(wanted[0], canary=slow, stable=None, min_requests=5)
    assert verdict.verdict is Verdict.FAILED


def test_without_autometrics_the_vertex_metric_is_inconclusive_saying_vllm_only(emulator: Emulator) -> None:
    for i in range(20):
        served(emulator, model="1", at=T0 - 50 + i, first_token_s=None)  # whole answers, or not a vLLM container
    metrics = CloudMonitoringMetrics(project=emulator.project, channel=emulator.channel, min_alignment_s=1)
    metric = Metric.model_validate(VERTEX_P95)
    got = metrics.sample(
        region="us-central1", endpoint_id="chat", deployed_model_id="1", start=T0 - 60, end=T0, metrics=(metric,)
    )
    assert got.requests == 20 and got.values["time-to-first-token-p95"] is None and not got.custom_errors
    verdict = judge(metric, canary=got, stable=None, min_requests=5)
    assert verdict.verdict is Verdict.INCONCLUSIVE and verdict.detail == NO_VERTEX_STREAMS

"""The prompt canary's metrics (`CloudMonitoringPromptMetrics`) against the emulator's Cloud Monitoring
through the real client: requests written by the runtime's real recorder and writer (CUMULATIVE custom
metrics per process), read back per prompt version and label, judged by `rollout/verdicts.py`.

The emulator runs on a fixed clock and the recorder on a clock the test moves, so every point lands in a
known alignment period and every count is exact.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import grpc
import pytest

from controller.emulator.server import Emulator, running
from controller.model import Metric
from controller.observed import Sample
from controller.providers.metric_writer import CloudMonitoringWriter
from controller.providers.prompt_metrics import CloudMonitoringPromptMetrics
from controller.rollout.judge import Classification
from controller.rollout.verdicts import Bound, Shortfall, Verdict, judge
from controller.runtime.recorder import BatchingRecorder
from controller.runtime.records import Feedback, Outcome, RequestRecord, Usage

PROJECT = "prompt-metrics"
T0 = 1_700_000_000.0  # the emulator's clock, and the end of every analysis window
PROMPT, LABEL = "support-answer", "production"
FLASH = "publishers/google/models/gemini-2.5-flash"

ERROR_RATE = Metric(name="error-rate", max=0.5)
P50 = Metric(name="latency-p50", max="10s")
COST = Metric(name="cost-per-request", max=1.0)
TOKENS = Metric(name="output-tokens-per-request", max=10_000)
SAFETY = Metric(name="safety-block-rate", max=0.5)
FEEDBACK = Metric(name="feedback-score", min=1)
ALL = (ERROR_RATE, P50, COST, TOKENS, SAFETY, FEEDBACK)


class Clock:
    """The recorder's clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running(project=PROJECT, rest_port=None, storage_port=None, min_alignment_period_s=1, clock=lambda: T0) as emu:
        yield emu


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def reader(emulator: Emulator, calls: list[str]) -> Iterator[CloudMonitoringPromptMetrics]:
    channel = grpc.insecure_channel(emulator.grpc_target)
    yield CloudMonitoringPromptMetrics(
        project=PROJECT, channel=channel, min_alignment_s=1, timeout_s=5, on_call=calls.append
    )
    channel.close()


def recorder(emulator: Emulator, clock: Clock, *, task: str = "replica-1") -> BatchingRecorder:
    writer = CloudMonitoringWriter(project=PROJECT, emulator=emulator.grpc_target, task=task)
    return BatchingRecorder(writer, clock=clock, background=False, register_atexit=False)


def request(
    version: str,
    *,
    outcome: Outcome = Outcome.OK,
    latency_ms: float = 100.0,
    output_tokens: int = 0,
    cost: float = 0.0,
    label: str = LABEL,
    prompt: str = PROMPT,
) -> RequestRecord:
    return RequestRecord(
        request_id="r",
        prompt=prompt,
        version=version,
        label=label,
        model=FLASH,
        outcome=outcome,
        latency_s=latency_ms / 1000,
        usage=Usage(input_tokens=10, output_tokens=output_tokens),
        cost_usd=cost,
        cache_hit=outcome is Outcome.CACHE_HIT,
        at=T0,
    )


def rating(version: str, value: int) -> Feedback:
    return Feedback(request_id="r", rating=value, prompt=PROMPT, version=version, label=LABEL, model=FLASH, at=T0)


def served(rec: BatchingRecorder, version: str, count: int, **fields: object) -> None:
    for _ in range(count):
        rec.record(request(version, **fields))  # type: ignore[arg-type]


def sample(reader: CloudMonitoringPromptMetrics, version: str, metrics: Sequence[Metric] = ALL) -> Sample:
    return reader.sample_prompt(prompt=PROMPT, label=LABEL, version=version, start=T0 - 60, end=T0, metrics=metrics)


@pytest.fixture
def two_versions(emulator: Emulator) -> None:
    """Version 1 (stable) and version 2 (candidate) under `production`, written by two processes, plus
    traffic that must not count: version 1 under another label, and another prompt."""
    clock = Clock(T0 - 100)
    first, second = recorder(emulator, clock, task="replica-1"), recorder(emulator, clock, task="replica-2")
    served(first, "1", 60, latency_ms=100, output_tokens=50, cost=0.001)
    served(second, "1", 30, latency_ms=100, output_tokens=50, cost=0.001)
    served(first, "1", 5, outcome=Outcome.MODEL_ERROR, latency_ms=2000)
    served(second, "1", 5, outcome=Outcome.CACHE_HIT, latency_ms=1)
    for value in (4, 5, 5):
        first.record_feedback(rating("1", value))
    served(first, "2", 70, latency_ms=400, output_tokens=200, cost=0.003)
    served(second, "2", 20, outcome=Outcome.TIMEOUT, latency_ms=5000)
    served(second, "2", 10, outcome=Outcome.BLOCKED_OUTPUT, latency_ms=400, output_tokens=100, cost=0.003)
    for value in (1, 2):
        second.record_feedback(rating("2", value))
    served(first, "1", 40, outcome=Outcome.MODEL_ERROR, label="beta")
    served(first, "2", 40, outcome=Outcome.MODEL_ERROR, prompt="other-prompt")
    clock.now = T0 - 50
    for rec in (first, second):
        rec.close()
        assert rec.stats.failed_calls == 0


@pytest.mark.usefixtures("two_versions")
def test_each_version_under_the_label_has_its_own_requests_errors_latency_cost_tokens_blocks_and_feedback(
    reader: CloudMonitoringPromptMetrics,
) -> None:
    stable, candidate = sample(reader, "1"), sample(reader, "2")

    assert (stable.error, stable.custom_errors) == (None, {})
    assert (stable.requests, stable.errors) == (100, 5)
    assert stable.latency_ms[50] == pytest.approx(100, rel=0.2)
    assert stable.values == {
        "cost-per-request": pytest.approx(90 * 0.001 / 100),
        "output-tokens-per-request": pytest.approx(50.0),  # the 5 cache hits and 5 errors reached no model
        "safety-block-rate": 0.0,
        "feedback-score": pytest.approx(14 / 3),
    }
    assert (candidate.requests, candidate.errors) == (100, 20)
    assert candidate.latency_ms[50] == pytest.approx(400, rel=0.2)
    assert candidate.values == {
        "cost-per-request": pytest.approx(80 * 0.003 / 100),
        "output-tokens-per-request": pytest.approx((70 * 200 + 10 * 100) / 80),
        "safety-block-rate": pytest.approx(0.1),
        "feedback-score": pytest.approx(1.5),
    }


@pytest.mark.usefixtures("two_versions")
def test_the_rollout_verdicts_fail_the_worse_candidate_on_each_prompt_metric(
    reader: CloudMonitoringPromptMetrics,
) -> None:
    checks = (
        Metric(name="error-rate", max_increase="100%"),
        Metric(name="latency-p50", max_increase="50%"),
        Metric(name="cost-per-request", max_increase="50%"),
        Metric(name="output-tokens-per-request", max=150),
        Metric(name="safety-block-rate", max="5%"),
        Metric(name="feedback-score", max_decrease="20%"),
    )
    stable, candidate = sample(reader, "1", checks), sample(reader, "2", checks)
    verdicts = {m.name: judge(m, canary=candidate, stable=stable, min_requests=50) for m in checks}
    assert {name: v.verdict for name, v in verdicts.items()} == dict.fromkeys(verdicts, Verdict.FAILED)
    feedback = verdicts["feedback-score"].breach
    assert feedback is not None and feedback.bound is Bound.MAX_DECREASE
    assert feedback.baseline == pytest.approx(14 / 3)
    # ... and the stable held to the same checks against itself passes every one
    assert {judge(m, canary=stable, stable=stable, min_requests=50).verdict for m in checks} == {Verdict.SUCCESSFUL}


@pytest.mark.usefixtures("two_versions")
def test_a_version_without_ratings_has_no_feedback_score_and_is_not_judged(
    reader: CloudMonitoringPromptMetrics,
) -> None:
    beta = reader.sample_prompt(prompt=PROMPT, label="beta", version="1", start=T0 - 60, end=T0, metrics=ALL)
    assert (beta.requests, beta.errors, beta.values["feedback-score"]) == (40, 40, None)
    got = judge(Metric(name="feedback-score", min=3), canary=beta, stable=None, min_requests=10)
    assert (got.verdict, got.shortfall) == (Verdict.INCONCLUSIVE, Shortfall.NO_DATA)


def test_a_version_that_served_nothing_has_no_requests_and_no_values(
    emulator: Emulator, reader: CloudMonitoringPromptMetrics
) -> None:
    got = sample(reader, "9")
    assert (got.error, got.requests, got.errors) == (None, 0, 0)  # never written: NOT_FOUND is no data
    assert set(got.values.values()) == {None} and set(got.latency_ms.values()) == {None}


@pytest.mark.usefixtures("two_versions")
def test_one_call_per_metric_type_whatever_the_number_of_series(
    reader: CloudMonitoringPromptMetrics, calls: list[str]
) -> None:
    sample(reader, "1", ALL)
    assert calls == ["ListTimeSeries"] * 7  # requests, errors, latency, cost, output tokens, blocks, feedback
    calls.clear()
    sample(reader, "1", (Metric(name="request-count", min=1),))
    assert calls == ["ListTimeSeries"]


@pytest.mark.usefixtures("two_versions")
def test_a_failed_requests_query_is_the_samples_error_and_never_raised(
    emulator: Emulator, reader: CloudMonitoringPromptMetrics
) -> None:
    emulator.faults.add("ListTimeSeries:fail_next=1:code=UNAVAILABLE")
    got = sample(reader, "1")
    assert got.error is not None and "UNAVAILABLE" in got.error and "requests" in got.error
    verdict = judge(COST, canary=got, stable=None, min_requests=1)
    assert (verdict.verdict, verdict.shortfall) == (Verdict.ERROR, Shortfall.QUERY_FAILED)


@pytest.mark.usefixtures("two_versions")
def test_a_failed_metric_query_errors_only_the_metrics_that_read_it(emulator: Emulator) -> None:
    seen: list[str] = []

    def fail_the_second_call(what: str) -> None:  # the requests query passes; the cost query fails
        seen.append(what)
        if len(seen) == 2:
            emulator.faults.add("ListTimeSeries:fail_next=1:code=INTERNAL")

    channel = grpc.insecure_channel(emulator.grpc_target)
    reader = CloudMonitoringPromptMetrics(
        project=PROJECT, channel=channel, min_alignment_s=1, on_call=fail_the_second_call
    )
    got = sample(reader, "1", (COST, FEEDBACK))
    channel.close()
    assert got.error is None and got.requests == 100
    assert set(got.custom_errors) == {"cost-per-request"} and "INTERNAL" in got.custom_errors["cost-per-request"]
    assert got.values == {"feedback-score": pytest.approx(14 / 3)}
    verdict = judge(COST, canary=got, stable=None, min_requests=1)
    assert (verdict.verdict, verdict.shortfall) == (Verdict.ERROR, Shortfall.QUERY_FAILED)
    assert judge(FEEDBACK, canary=got, stable=None, min_requests=1).verdict is Verdict.SUCCESSFUL


@pytest.mark.usefixtures("two_versions")
def test_a_custom_query_is_scoped_to_the_version_with_placeholders(reader: CloudMonitoringPromptMetrics) -> None:
    query = {
        "filter": 'metric.type = "custom.googleapis.com/genaiops/cost" AND metric.labels.prompt = "${prompt}" '
        'AND metric.labels.label = "${label}" AND metric.labels.version = "${version}"',
        "aligner": "ALIGN_DELTA",
        "reducer": "REDUCE_SUM",
    }
    spend = Metric(name="spend", query=query, max=1)
    broken = Metric(name="broken", query={"filter": "metric.type = "}, max=1)
    got = sample(reader, "2", (spend, broken))
    assert got.custom["spend"] == pytest.approx(80 * 0.003)
    assert set(got.custom_errors) == {"broken"} and got.error is None


# ---- per-interval series and the statistical judge ------------------------------------------------------


def write_intervals(emulator: Emulator, latency_ms: dict[str, float], *, seed: int = 7) -> None:
    """Ten 10-second intervals before T0, each with 20 requests per version at about `latency_ms[version]`
    (10% jitter, seeded), flushed once per interval; version 3 errs on a fifth of its requests."""
    rng = random.Random(seed)
    clock = Clock(T0 - 100)
    rec = recorder(emulator, clock)
    for k in range(10):
        for version, ms in latency_ms.items():
            for i in range(20):
                failed = version == "3" and i % 5 == 0
                rec.record(
                    request(
                        version,
                        latency_ms=ms * rng.uniform(0.9, 1.1),
                        outcome=Outcome.MODEL_ERROR if failed else Outcome.OK,
                        cost=0.001,
                    )
                )
        clock.now = T0 - 100 + 10 * k + 5
        rec.flush()
    rec.close()
    assert rec.stats.failed_calls == 0


JUDGED_P99 = Metric(name="latency-p99", judge="mann-whitney")
JUDGED_ERRORS = Metric(name="error-rate", judge="mann-whitney")


def judged_sample(reader: CloudMonitoringPromptMetrics, version: str, metrics: Sequence[Metric]) -> Sample:
    return reader.sample_prompt(prompt=PROMPT, label=LABEL, version=version, start=T0 - 100, end=T0, metrics=metrics)


def test_a_judged_metric_gets_one_value_per_interval_and_the_totals_stay_whole(
    emulator: Emulator, reader: CloudMonitoringPromptMetrics, calls: list[str]
) -> None:
    write_intervals(emulator, {"1": 100.0, "3": 100.0})
    got = judged_sample(reader, "3", (JUDGED_P99, JUDGED_ERRORS, COST))
    assert calls == ["ListTimeSeries"] * 4  # requests, latency, errors, cost: the series come with the totals
    assert (got.requests, got.errors) == (200, 40)
    assert got.values == {"cost-per-request": pytest.approx(0.001)}
    assert got.series["error-rate"] == pytest.approx((0.2,) * 10)
    assert len(got.series["latency-p99"]) == 10
    assert all(90 <= v <= 130 for v in got.series["latency-p99"])
    assert "cost-per-request" not in got.series  # only judged metrics get series


def test_the_judge_flags_the_slower_version_and_passes_an_equal_one(
    emulator: Emulator, reader: CloudMonitoringPromptMetrics
) -> None:
    write_intervals(emulator, {"1": 100.0, "2": 180.0, "4": 100.0})
    stable = judged_sample(reader, "1", (JUDGED_P99,))
    slower = judge(JUDGED_P99, canary=judged_sample(reader, "2", (JUDGED_P99,)), stable=stable, min_requests=50)
    equal = judge(JUDGED_P99, canary=judged_sample(reader, "4", (JUDGED_P99,)), stable=stable, min_requests=50)

    assert slower.verdict is Verdict.FAILED
    assert slower.breach is not None and slower.breach.bound is Bound.JUDGE and slower.breach.threshold == 0.98
    assert slower.judgement is not None and slower.judgement.classification is Classification.HIGH
    assert slower.judgement.p_value is not None and slower.judgement.p_value < 0.01
    assert slower.judgement.deviation == pytest.approx(1.8, rel=0.1)
    assert "mann-whitney High" in slower.describe()
    assert equal.verdict is Verdict.SUCCESSFUL
    assert equal.judgement is not None and equal.judgement.classification is Classification.PASS


@pytest.mark.usefixtures("two_versions")
def test_input_tokens_per_request_count_the_requests_a_model_answered(reader: CloudMonitoringPromptMetrics) -> None:
    metric = Metric(name="input-tokens-per-request", min=0)
    # every record the fixture wrote carries 10 input tokens; the denominator is the requests a model answered
    # (ok, fallback, blocked output): version 1 has 100 records, 90 answered; version 2 100 records, 80 answered
    assert sample(reader, "1", (metric,)).values[metric.name] == pytest.approx(1000 / 90)
    assert sample(reader, "2", (metric,)).values[metric.name] == pytest.approx(1000 / 80)

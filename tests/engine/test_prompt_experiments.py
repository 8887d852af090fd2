"""A Prompt's A/B experiment run by the prompt rollout driver: the label's record holds the new version at its
fixed weight for the duration, then the experiment's report decides (promote a significant winner with
autoPromote, keep a control that was significantly better, otherwise wait for a person).

Real pieces throughout: a local prompt store, the emulator's Cloud Monitoring written by the runtime's own
recorder and writer on a clock the test moves, read back by `CloudMonitoringPromptMetrics`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from controller.emulator.server import Emulator, running
from controller.engine.audit import AuditLog
from controller.engine.experiments import prompt_report, series_metrics
from controller.engine.prompt_rollouts import PromptRolloutDriver
from controller.model import Metric, Prompt
from controller.observed import Phase
from controller.prompts.canary import new_rollout, prompt_steps, start
from controller.prompts.store import PromptStore, publish
from controller.providers.metric_writer import CloudMonitoringWriter
from controller.providers.prompt_metrics import CloudMonitoringPromptMetrics
from controller.providers.prompt_store import LocalPromptStore
from controller.rollout.experiment import Conclusion, DecisionKind
from controller.rollout.reason import Kind
from controller.runtime.recorder import BatchingRecorder
from controller.runtime.records import Feedback, Outcome, RequestRecord, Usage
from tests.runtime.conftest import version

PROJECT = "experiments"
T0 = 1_700_000_000.0
LABEL = "production"
FLASH = "publishers/google/models/gemini-2.5-flash"


class Clock:
    """One clock for the emulator, the recorder and the driver, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def experiment(*, auto_promote: bool = True, duration: str = "1m") -> Prompt:
    """The `support` prompt under an experiment: half of production's requests to the new version for
    `duration`, compared on latency (by the judge) and feedback."""
    return Prompt.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Prompt",
            "metadata": {"name": "support"},
            "spec": {
                "model": "gemini-flash",
                "template": "Answer {{ question }}",
                "labels": [LABEL],
                "rollout": {
                    "strategy": "experiment",
                    "experiment": {"duration": duration, "weight": 50, "minRequests": 40, "autoPromote": auto_promote},
                    "analysis": {
                        "metrics": [
                            {"name": "latency-p50", "max": "10s"},
                            {"name": "feedback-score", "min": 1},
                        ]
                    },
                },
            },
        }
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def emulator(clock: Clock) -> Iterator[Emulator]:
    with running(
        project=PROJECT, rest_port=None, storage_port=None, min_alignment_period_s=1, min_point_spacing_s=1, clock=clock
    ) as emu:
        yield emu


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    return LocalPromptStore(tmp_path / "store")


@pytest.fixture
def metrics(emulator: Emulator) -> Iterator[CloudMonitoringPromptMetrics]:
    channel = grpc.insecure_channel(emulator.grpc_target)
    yield CloudMonitoringPromptMetrics(project=PROJECT, channel=channel, min_alignment_s=1, timeout_s=5)
    channel.close()


def started(store: PromptStore, clock: Clock) -> tuple[str, str]:
    """Control published on production, the new version published beside it and its experiment started
    at 50% (what `apply` does); (control, treatment)."""
    control = publish(store, version("support", template="Answer {{ question }}"), [LABEL]).version
    treatment = publish(store, version("support", template="Answer briefly: {{ question }}"), []).version
    record = new_rollout(label=LABEL, stable=control, candidate=treatment, weight=50, now=clock())
    store.update_index("support", lambda index: start(index, record, name="support"))
    return control, treatment


def traffic(emulator: Emulator, clock: Clock, latency: dict[str, float], ratings: dict[str, int]) -> None:
    """60 s of requests, 10 per version every 5 s (latency around `latency[version]` ms, each rated
    `ratings[version]`), flushed every 5 s so every alignment period has points."""
    rng = random.Random(7)
    writer = CloudMonitoringWriter(project=PROJECT, emulator=emulator.grpc_target, task="app-1")
    recorder = BatchingRecorder(writer, clock=clock, background=False, register_atexit=False, min_spacing_s=1)
    for _ in range(12):
        clock.now += 5
        for name, ms in latency.items():
            for i in range(10):
                at = clock.now
                recorder.record(
                    RequestRecord(
                        f"{name}-{at}-{i}",
                        "support",
                        name,
                        LABEL,
                        FLASH,
                        Outcome.OK,
                        rng.gauss(ms, ms / 10) / 1000,
                        Usage(10, 20),
                        0.0001,
                        False,
                        at,
                    )
                )
                recorder.record_feedback(Feedback(f"{name}-{at}-{i}", ratings[name], "support", name, LABEL, FLASH, at))
        recorder.flush()
    recorder.close()
    assert recorder.stats.failed_calls == 0


def driver(
    store: PromptStore, metrics: CloudMonitoringPromptMetrics, clock: Clock, tmp_path: Path
) -> PromptRolloutDriver:
    return PromptRolloutDriver(store=store, metrics=metrics, clock=clock, audit=AuditLog(tmp_path / "audit.log"))


def test_an_experiment_is_one_step_at_its_fixed_weight_for_its_duration() -> None:
    steps = prompt_steps(experiment().spec.rollout)
    assert [(s.weight, s.pause_s, s.analysis) for s in steps] == [(50, 60.0, None)]


def test_the_series_metrics_ask_for_per_interval_values_of_what_the_judge_compares() -> None:
    asked = series_metrics((Metric(name="latency-p50", max="10s"), Metric(name="error-rate", max=0.1)))
    assert asked[0].judge is not None  # compared by Mann-Whitney: needs per-interval values
    assert asked[1].judge is None  # a rate: compared as two proportions from the totals


def test_before_its_duration_an_experiment_holds_its_weight(
    store: PromptStore, metrics: CloudMonitoringPromptMetrics, clock: Clock, emulator: Emulator, tmp_path: Path
) -> None:
    control, treatment = started(store, clock)
    traffic(emulator, clock, {control: 300, treatment: 120}, {control: 3, treatment: 5})
    clock.now = T0 + 30
    status = driver(store, metrics, clock, tmp_path).advance(experiment())[0]
    assert status.state.phase is Phase.PROGRESSING and status.weight == 50
    index = store.read_index("support")
    assert index is not None and index.labels[LABEL] == control and index.rollouts[LABEL].weight == 50


def test_a_significantly_better_new_version_is_promoted_with_auto_promote(
    store: PromptStore, metrics: CloudMonitoringPromptMetrics, clock: Clock, emulator: Emulator, tmp_path: Path
) -> None:
    control, treatment = started(store, clock)
    traffic(emulator, clock, {control: 300, treatment: 120}, {control: 3, treatment: 5})
    clock.now = T0 + 61
    prompt = experiment()
    record = store.read_index("support").rollouts[LABEL]  # type: ignore[union-attr]
    report, decided = prompt_report(metrics, prompt, record, now=clock.now)
    assert report.conclusion is Conclusion.WINNER and report.winner == treatment, report
    assert decided.kind is DecisionKind.PROMOTE
    status = driver(store, metrics, clock, tmp_path).advance(prompt)[0]
    assert status.state.phase is Phase.HEALTHY
    index = store.read_index("support")
    assert index is not None and index.labels[LABEL] == treatment and LABEL not in index.rollouts
    assert '"experiment-concluded"' in (tmp_path / "audit.log").read_text(encoding="utf-8")


def test_a_control_that_was_significantly_better_is_kept_and_the_new_version_not_retried(
    store: PromptStore, metrics: CloudMonitoringPromptMetrics, clock: Clock, emulator: Emulator, tmp_path: Path
) -> None:
    control, treatment = started(store, clock)
    traffic(emulator, clock, {control: 120, treatment: 300}, {control: 5, treatment: 2})
    clock.now = T0 + 61
    status = driver(store, metrics, clock, tmp_path).advance(experiment())[0]
    assert status.state.phase is Phase.DEGRADED and status.weight == 0
    assert status.state.reason is not None and status.state.reason.kind is Kind.EXPERIMENT_LOST
    index = store.read_index("support")
    assert index is not None and index.labels[LABEL] == control
    assert index.rollouts[LABEL].state.failed_revision == treatment


def test_a_winner_without_auto_promote_waits_for_a_person(
    store: PromptStore, metrics: CloudMonitoringPromptMetrics, clock: Clock, emulator: Emulator, tmp_path: Path
) -> None:
    control, treatment = started(store, clock)
    traffic(emulator, clock, {control: 300, treatment: 120}, {control: 3, treatment: 5})
    clock.now = T0 + 61
    status = driver(store, metrics, clock, tmp_path).advance(experiment(auto_promote=False))[0]
    assert status.state.phase is Phase.PAUSED and status.weight == 50
    assert status.state.reason is not None and status.state.reason.kind is Kind.EXPERIMENT_UNDECIDED
    assert status.waiting_for_human


def test_equal_versions_end_without_a_winner_and_wait_for_a_person(
    store: PromptStore, metrics: CloudMonitoringPromptMetrics, clock: Clock, emulator: Emulator, tmp_path: Path
) -> None:
    control, treatment = started(store, clock)
    traffic(emulator, clock, {control: 200, treatment: 200}, {control: 4, treatment: 4})
    clock.now = T0 + 61
    status = driver(store, metrics, clock, tmp_path).advance(experiment())[0]
    assert status.state.phase is Phase.PAUSED
    assert status.state.reason is not None and status.state.reason.kind is Kind.EXPERIMENT_UNDECIDED

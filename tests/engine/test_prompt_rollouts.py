"""The prompt rollout driver against real stores: a `GcsPromptStore` on the emulator's Cloud Storage (the
real google-cloud-storage client, compare-and-swap with ifGenerationMatch) and the runtime's metrics
written by the real recorder and writer into the emulator's Cloud Monitoring, read back by
`CloudMonitoringPromptMetrics`. The emulator, the recorder, the engine and the driver share one fake
clock that only the test moves, so every analysis window holds exactly the requests the test served.

Covered: a healthy candidate steps then promotes (the label moves and the record is cleared in one write);
a bad one is rolled back; two controllers that decided from the same record never both write it; a human
command racing a pass is retried then applied; and the kill points of a pass, of StartPromptRollout and of
a promotion. Races are forced with `Held`, a real store whose first `update_index` waits at a chosen point
until the test lets it go; kills with `Killed`, a real store whose `update_index` dies before or after its
write, as a SIGKILLed process would (nothing after that point runs).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

from controller.emulator.server import Emulator, running
from controller.engine.apply import ApplyOptions, ApplyOutcome, apply_changes
from controller.engine.audit import AuditLog
from controller.engine.prompt_rollouts import PromptRolloutDriver
from controller.engine.session import NoLock, Session
from controller.engine.steps import Context, run_operation
from controller.loader import load
from controller.model import Prompt
from controller.plans.operations import PublishPromptVersion, StartPromptRollout
from controller.plans.plan import Action, HealthState, ResourceChange
from controller.prompts.index import LabelRollout, PromptIndex
from controller.prompts.prompt_plan import plan_prompts
from controller.prompts.source import sources_of
from controller.prompts.store import PromptStore, list_version, move_label
from controller.prompts.version import PromptVersion, Provenance
from controller.providers.connections import plain_channel
from controller.providers.metric_writer import CloudMonitoringWriter
from controller.providers.prompt_metrics import CloudMonitoringPromptMetrics
from controller.providers.prompt_store import GcsPromptStore
from controller.rollout.events import EventKind, RolloutStatus
from controller.rollout.reason import Kind
from controller.rollout.state import Phase
from controller.runtime.recorder import BatchingRecorder
from controller.runtime.records import Feedback, Outcome, RequestRecord, Usage
from tests.engine.conftest import FakeClock

PROJECT = "prompt-rollouts"
BUCKET = "prompt-rollouts"
LABEL = "production"
FLASH = "publishers/google/models/gemini-2.0-flash"
STABLE, CANDIDATE = "Hello {{ customer }}!", "Hi {{ customer }}, welcome back!"
MANIFESTS = """\
apiVersion: genaiops/v1
kind: Model
metadata: {{name: gemini-flash}}
spec: {{publisher: {model}}}
---
apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: greet}}
spec:
  model: gemini-flash
  template: "{template}"
  variables: {{customer: {{type: string}}}}
  labels: [{label}]
  rollout:
    strategy: canary
    steps: [{{weight: 20}}, {{weight: 50}}]
    analysis:
      interval: 10s
      initialDelay: 10s
      minRequests: 20
      failureLimit: 0
      metrics: [{{name: error-rate, max: 10%}}, {{name: feedback-score, min: 3.5}}]
"""


class Killed(BaseException):
    """The process died here (a BaseException: nothing in the driver may catch it)."""


class Delegating:
    """A PromptStore that passes every call to a real one (the wrappers below change `update_index`)."""

    def __init__(self, inner: PromptStore) -> None:
        self.inner = inner
        self.location = inner.location

    def list_prompts(self) -> list[str]:
        return self.inner.list_prompts()

    def read_index(self, name: str) -> PromptIndex | None:
        return self.inner.read_index(name)

    def read_version(self, name: str, version: str) -> PromptVersion | None:
        return self.inner.read_version(name, version)

    def create_version(self, version: PromptVersion) -> bool:
        return self.inner.create_version(version)

    def update_index(self, name: str, change: Callable[[PromptIndex | None], PromptIndex]) -> PromptIndex:
        return self.inner.update_index(name, change)


class Held(Delegating):
    """The first `update_index` waits until `go` is set: `before-cas` before the compare-and-swap reads the
    index (the caller has decided), `before-write` inside it, once the change was applied to what it read
    and before the conditional write. `changes` counts how often the caller's change ran."""

    def __init__(self, inner: PromptStore, where: str) -> None:
        super().__init__(inner)
        self.where = where
        self.reached = threading.Event()
        self.go = threading.Event()
        self.changes = 0
        self._first = True

    def _hold(self) -> None:
        self.reached.set()
        assert self.go.wait(timeout=20), "the test never let the held write go"

    def update_index(self, name: str, change: Callable[[PromptIndex | None], PromptIndex]) -> PromptIndex:
        first, self._first = self._first, False

        def counted(index: PromptIndex | None) -> PromptIndex:
            self.changes += 1
            result = change(index)
            if first and self.changes == 1 and self.where == "before-write":
                self._hold()
            return result

        if first and self.where == "before-cas":
            self._hold()
        return self.inner.update_index(name, counted)


class Dying(Delegating):
    """`update_index` dies `before` its write or right `after` it; every index it wrote is kept."""

    def __init__(self, inner: PromptStore, when: str) -> None:
        super().__init__(inner)
        self.when = when
        self.written: list[PromptIndex] = []

    def update_index(self, name: str, change: Callable[[PromptIndex | None], PromptIndex]) -> PromptIndex:
        if self.when == "before":
            raise Killed
        self.written.append(self.inner.update_index(name, change))
        raise Killed


class Recording(Delegating):
    """Keeps every index `update_index` wrote."""

    def __init__(self, inner: PromptStore) -> None:
        super().__init__(inner)
        self.written: list[PromptIndex] = []

    def update_index(self, name: str, change: Callable[[PromptIndex | None], PromptIndex]) -> PromptIndex:
        self.written.append(self.inner.update_index(name, change))
        return self.written[-1]


@dataclass
class Rig:
    """The emulator, a GCS prompt store on it, an engine session, the runtime's metrics recorder, one clock."""

    emulator: Emulator
    new_store: Callable[[], GcsPromptStore]
    clock: FakeClock
    root: Path
    session: Session
    recorder: BatchingRecorder
    audit: AuditLog
    request_ids: Iterator[int] = field(default_factory=itertools.count)

    @property
    def store(self) -> PromptStore:
        return self.session.prompts()

    def write(self, template: str) -> Prompt:
        """The manifests: `greet` on `template` under the canary label; its Prompt."""
        (self.root / "manifests.yaml").write_text(MANIFESTS.format(model=FLASH, template=template, label=LABEL))
        (prompt,) = (i.manifest for i in load(self.root).manifests if isinstance(i.manifest, Prompt))
        return prompt

    def apply(self) -> ApplyOutcome:
        """The engine's one apply routine, prompts only (it also makes one driver pass)."""
        outcome = apply_changes(
            self.session, load(self.root), options=ApplyOptions(prompts_only=True), audit=self.audit
        )
        assert outcome.ok, outcome.result.failed
        return outcome

    def plan(self) -> ResourceChange:
        (change,) = plan_prompts(sources_of(load(self.root).manifests), self.store)
        return change

    def driver(
        self, store: PromptStore | None = None, *, clock: Callable[[], float] | None = None
    ) -> PromptRolloutDriver:
        """A controller's driver (its own store client unless given one)."""
        return PromptRolloutDriver(
            store=store or self.new_store(),
            metrics=self.session.prompt_metrics,
            clock=clock or self.clock,
            audit=self.audit,
        )

    def index(self) -> PromptIndex:
        index = self.store.read_index("greet")
        assert index is not None
        return index

    def record(self) -> LabelRollout | None:
        return self.index().rollouts.get(LABEL)

    def started(self) -> tuple[str, str]:
        """Publish STABLE, then start a canary of CANDIDATE: (stable id, candidate id)."""
        self.write(STABLE)
        self.apply()
        self.write(CANDIDATE)
        self.apply()
        record = self.record()
        assert record is not None and (record.weight, record.state.step) == (20, 0)
        return record.stable, record.candidate

    def serve(self, requests: int = 200, *, candidate_errors: float = 0.0, candidate_rating: int = 5) -> None:
        """Let 10 s pass with `requests` requests split by the record's weight, counted by the runtime's
        recorder and written at the middle of the span: the stable answers every request well and is rated 5,
        the candidate fails `candidate_errors` of its requests and is rated `candidate_rating`."""
        record = self.record()
        assert record is not None
        to_candidate = requests * record.weight // 100
        self.clock.advance(5)
        for version, count, errors, rating in (
            (record.stable, requests - to_candidate, 0, 5),
            (record.candidate, to_candidate, round(to_candidate * candidate_errors), candidate_rating),
        ):
            for i in range(count):
                outcome = Outcome.MODEL_ERROR if i < errors else Outcome.OK
                self._request(version, outcome, rating)
        self.recorder.flush()
        assert self.recorder.stats.failed_calls == 0
        self.clock.advance(5)

    def _request(self, version: str, outcome: Outcome, rating: int) -> None:
        request_id = f"r{next(self.request_ids)}"
        common: dict[str, Any] = {"prompt": "greet", "version": version, "label": LABEL, "model": FLASH}
        self.recorder.record(
            RequestRecord(
                request_id=request_id,
                outcome=outcome,
                latency_s=0.05,
                usage=Usage(input_tokens=10, output_tokens=20),
                cost_usd=0.0001,
                cache_hit=False,
                at=self.clock(),
                **common,
            )
        )
        if outcome is Outcome.OK:
            self.recorder.record_feedback(Feedback(request_id=request_id, rating=rating, at=self.clock(), **common))

    def events(self, *kinds: EventKind | str) -> list[dict[str, Any]]:
        """The audit log's `rollout-<kind>` records of these kinds (`EventKind`s or other names), in order."""
        assert self.audit.path is not None
        lines = self.audit.path.read_text(encoding="utf-8").splitlines() if self.audit.path.exists() else []
        wanted = {f"rollout-{k}" for k in kinds}
        return [r for r in map(json.loads, lines) if r.get("event") in wanted]


def new_store_client(emulator: Emulator) -> storage.Client:
    """A Cloud Storage client of its own on the emulator (each controller has one, as processes would)."""
    return storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": emulator.storage_host},
    )


@pytest.fixture
def rig(clock: FakeClock, tmp_path: Path) -> Iterator[Rig]:
    with running(
        project=PROJECT, rest_port=None, storage_port=0, clock=clock, min_alignment_period_s=1, min_point_spacing_s=1
    ) as emulator:

        def new_store() -> GcsPromptStore:
            return GcsPromptStore(new_store_client(emulator), BUCKET, "team", retry_deadline_s=5)

        new_store_client(emulator).create_bucket(BUCKET)
        channel = plain_channel(emulator.grpc_target)
        writer = CloudMonitoringWriter(project=PROJECT, emulator=emulator.grpc_target, task="replica-1")
        recorder = BatchingRecorder(writer, clock=clock, background=False, register_atexit=False, min_spacing_s=1)
        session = Session(
            name="emulator",
            ports={},
            metrics=None,
            lock=NoLock(),
            open_prompts=new_store,
            clock=clock,
            prompt_metrics=CloudMonitoringPromptMetrics(
                project=PROJECT, channel=channel, min_alignment_s=1, timeout_s=5
            ),
        )
        root = tmp_path / "manifests"
        root.mkdir()
        try:
            yield Rig(emulator, new_store, clock, root, session, recorder, AuditLog(tmp_path / "audit.log"))
        finally:
            recorder.close()
            channel.close()


def kinds(status: RolloutStatus | None) -> list[EventKind]:
    assert status is not None
    return [e.kind for e in status.events]


def test_a_healthy_candidate_steps_then_promotes_moving_the_label_and_clearing_the_record_in_one_write(
    rig: Rig,
) -> None:
    stable, candidate = rig.started()
    prompt = rig.write(CANDIDATE)
    rig.serve()
    assert kinds(rig.driver().advance_label(prompt, LABEL)) == [EventKind.MEASURED, EventKind.STEP]
    record = rig.record()
    assert record is not None and (record.state.step, record.weight) == (1, 50)
    assert rig.index().labels[LABEL] == stable

    rig.serve()
    store = Recording(rig.new_store())
    assert kinds(rig.driver(store).advance_label(prompt, LABEL)) == [EventKind.MEASURED, EventKind.PROMOTED]
    (written,) = store.written  # one compare-and-swap
    assert written.labels[LABEL] == candidate and LABEL not in written.rollouts
    assert rig.index() == written
    assert [e["event"] for e in rig.events(*EventKind)] == [
        "rollout-started",
        "rollout-measured",
        "rollout-step",
        "rollout-measured",
        "rollout-promoted",
    ]
    assert rig.plan().action is Action.NOOP


@pytest.mark.parametrize(
    ("serving", "metric"),
    [({"candidate_errors": 0.5}, "error-rate"), ({"candidate_rating": 2}, "feedback-score")],
    ids=["errors", "feedback"],
)
def test_a_bad_candidate_is_rolled_back_to_weight_zero_with_the_failed_version_and_the_reason(
    rig: Rig, serving: dict[str, Any], metric: str
) -> None:
    stable, candidate = rig.started()
    prompt = rig.write(CANDIDATE)
    rig.serve(**serving)
    assert kinds(rig.driver().advance_label(prompt, LABEL)) == [EventKind.MEASURED, EventKind.ABORTED]
    record = rig.record()
    assert record is not None
    assert (record.weight, record.state.phase, record.state.failed_revision, record.candidate) == (
        0,
        Phase.DEGRADED,
        candidate,
        "",
    )
    assert record.state.reason is not None and record.state.reason.kind is Kind.ANALYSIS_FAILED
    assert metric in record.state.reason.describe()
    assert rig.index().labels[LABEL] == stable
    change = rig.plan()
    assert (change.action, change.health.state) == (Action.NOOP, HealthState.DEGRADED)


@pytest.mark.parametrize("where", ["before-cas", "before-write"])
def test_two_controllers_that_decided_from_the_same_record_never_both_write_it(rig: Rig, where: str) -> None:
    rig.started()
    prompt = rig.write(CANDIDATE)
    rig.serve()
    held = Held(rig.new_store(), where)
    second = rig.driver(held, clock=lambda: rig.clock() + 1)  # decides one second later: its record would differ
    result: list[RolloutStatus | None] = []
    racing = threading.Thread(target=lambda: result.append(second.advance_label(prompt, LABEL)))
    racing.start()
    assert held.reached.wait(timeout=20), "the second controller never came to write"
    assert kinds(rig.driver().advance_label(prompt, LABEL)) == [EventKind.MEASURED, EventKind.STEP]
    held.go.set()
    racing.join(timeout=20)

    assert kinds(result[0]) == []  # it found the record changed and did nothing this pass
    record = rig.record()
    assert record is not None and (record.state.step, record.weight) == (1, 50)
    assert record.state.step_started == int(rig.clock())  # the first controller's write, not the second's
    if where == "before-write":
        assert held.changes == 2, "the conditional write should have failed and been re-read"
    assert len(rig.events(EventKind.STEP)) == 1
    (conflict,) = rig.events("conflict")
    assert conflict["label"] == LABEL


def test_a_human_command_racing_a_pass_is_retried_and_then_applied(rig: Rig) -> None:
    rig.started()
    prompt = rig.write(CANDIDATE)
    rig.serve()
    held = Held(rig.new_store(), "before-write")
    human = rig.driver(held)
    result: list[RolloutStatus] = []
    racing = threading.Thread(target=lambda: result.append(human.act(prompt, LABEL, "pause")))
    racing.start()
    assert held.reached.wait(timeout=20)
    assert kinds(rig.driver().advance_label(prompt, LABEL)) == [EventKind.MEASURED, EventKind.STEP]
    held.go.set()
    racing.join(timeout=20)

    assert kinds(result[0]) == [EventKind.PAUSED]
    record = rig.record()
    assert record is not None
    assert (record.state.phase, record.state.step, record.weight) == (Phase.PAUSED, 1, 50)  # both kept
    assert held.changes == 3  # decided on the old record, re-read and refused, then applied to the new one


def test_a_pass_killed_before_its_write_leaves_the_record_and_the_rerun_measures_again(rig: Rig) -> None:
    rig.started()
    prompt = rig.write(CANDIDATE)
    rig.serve()
    before = rig.record()
    with pytest.raises(Killed):
        rig.driver(Dying(rig.new_store(), "before")).advance_label(prompt, LABEL)
    assert rig.record() == before
    assert rig.events(EventKind.MEASURED) == []

    rig.clock.advance(1)
    assert kinds(rig.driver().advance_label(prompt, LABEL)) == [EventKind.MEASURED, EventKind.STEP]
    record = rig.record()
    assert record is not None and (record.state.step, record.weight) == (1, 50)
    assert len(rig.events(EventKind.MEASURED)) == 1


def _killed_after_the_version_is_listed(rig: Rig) -> None:
    change = rig.plan()
    (publish,) = [op for op in change.operations if isinstance(op, PublishPromptVersion)]
    run_operation(
        publish, Context(region="global", ports={}, new_versions={}, lock=threading.Lock(), prompts=rig.store)
    )


def _killed_after_the_record(rig: Rig) -> None:
    _killed_after_the_version_is_listed(rig)
    (start,) = [op for op in rig.plan().operations if isinstance(op, StartPromptRollout)]
    context = Context(
        region="global", ports={}, new_versions={}, lock=threading.Lock(), prompts=rig.store, now=rig.clock
    )
    run_operation(start, context)


@pytest.mark.parametrize(
    ("kill", "replanned"),
    [(_killed_after_the_version_is_listed, ["StartPromptRollout"]), (_killed_after_the_record, [])],
    ids=["after-version-listed", "after-record"],
)
def test_a_rerun_from_each_kill_point_of_a_start_converges_on_one_rollout(
    rig: Rig, kill: Callable[[Rig], None], replanned: list[str]
) -> None:
    rig.write(STABLE)
    rig.apply()
    stable = rig.index().labels[LABEL]
    prompt = rig.write(CANDIDATE)
    kill(rig)
    change = rig.plan()
    assert [type(op).__name__ for op in change.operations] == replanned
    rig.apply()
    record = rig.record()
    assert record is not None
    assert (record.stable, record.weight, record.state.step, record.state.phase) == (stable, 20, 0, Phase.PROGRESSING)
    assert rig.index().labels[LABEL] == stable
    assert rig.plan().action is Action.NOOP
    rig.serve()
    assert kinds(rig.driver().advance_label(prompt, LABEL)) == [EventKind.MEASURED, EventKind.STEP]


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_promotion_killed_at_its_write_is_either_not_done_or_done_never_half(rig: Rig, when: str) -> None:
    stable, candidate = rig.started()
    prompt = rig.write(CANDIDATE)
    rig.serve()
    rig.driver().advance_label(prompt, LABEL)
    rig.serve()
    dying = Dying(rig.new_store(), when)
    with pytest.raises(Killed):
        rig.driver(dying).advance_label(prompt, LABEL)
    index = rig.index()
    moved, cleared = index.labels[LABEL] == candidate, LABEL not in index.rollouts
    assert (moved, cleared) == ((False, False) if when == "before" else (True, True))
    assert all((i.labels[LABEL] == candidate) == (LABEL not in i.rollouts) for i in dying.written)

    rig.clock.advance(1)
    rerun = rig.driver().advance_label(prompt, LABEL)
    if when == "before":  # measured again, never promoted on the lost decision
        assert kinds(rerun) == [EventKind.MEASURED, EventKind.PROMOTED]
    else:
        assert rerun is None  # nothing left to drive
    index = rig.index()
    assert index.labels[LABEL] == candidate and index.rollouts == {}
    assert stable != candidate and rig.plan().action is Action.NOOP


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_rollback_killed_at_its_write_is_either_not_done_or_done_and_the_rerun_never_routes_to_the_candidate(
    rig: Rig, when: str
) -> None:
    stable, candidate = rig.started()
    prompt = rig.write(CANDIDATE)
    rig.serve(candidate_errors=0.5)
    with pytest.raises(Killed):
        rig.driver(Dying(rig.new_store(), when)).advance_label(prompt, LABEL)
    record = rig.record()
    assert record is not None
    assert (record.weight, record.state.phase) == ((20, Phase.PROGRESSING) if when == "before" else (0, Phase.DEGRADED))

    rig.clock.advance(1)
    rerun = rig.driver().advance_label(prompt, LABEL)
    if when == "before":  # the lost decision is measured again, never skipped
        assert kinds(rerun) == [EventKind.MEASURED, EventKind.ABORTED]
    record = rig.record()
    assert record is not None and (record.weight, record.state.failed_revision) == (0, candidate)
    assert rig.index().labels[LABEL] == stable
    assert rig.plan().action is Action.NOOP  # not retried until the content changes


def test_a_pass_never_moves_a_label_that_a_person_moved_away_from_the_records_stable(rig: Rig) -> None:
    stable, _ = rig.started()
    prompt = rig.write(CANDIDATE)
    old = rig.store.read_version("greet", stable)
    assert old is not None
    third = replace(old, template="Good day, {{ customer }}.")
    list_version(rig.store, third)
    move_label(rig.store, "greet", LABEL, third.id, Provenance(created="2025-01-01T00:00:00Z"))  # by hand
    rig.serve()
    rig.driver().advance_label(prompt, LABEL)
    rig.serve()
    rig.driver().advance_label(prompt, LABEL)
    assert rig.index().labels[LABEL] == third.id  # the runtime routed all to it: the candidate was never judged
    held = rig.index().rollouts[LABEL].state
    assert held.phase is Phase.PAUSED and held.reason is not None and held.reason.kind is Kind.LABEL_MOVED

"""The rollout driver against the in-process emulator on a fake clock: each pass reads the endpoint,
measures the canary when analysis is due, steps, promotes, pauses or rolls back, and persists the result in
the endpoint's labels in the same UpdateEndpoint that moves the traffic. Time moves only when the test
says, with the prediction traffic of that span synthesised by the emulator."""

from __future__ import annotations

import pytest

from controller.engine.apply import ApplyOptions, apply_changes
from controller.engine.rollout_driver import RolloutDriver
from controller.model import Endpoint
from controller.observed import Phase
from controller.rollout.events import EventKind
from controller.rollout.reason import Kind
from controller.rollout.state import from_labels
from tests.engine.conftest import ERRORING_V2, HEALTHY_V2, Cloud, endpoint_yaml, model_yaml


def _start_canary(cloud: Cloud, artifact: str, *, min_requests: int = 50) -> Endpoint:
    """v1 serving directly, then v2 as a canary at its first step (20%); the Endpoint manifest."""
    first = cloud.write(models=model_yaml(), endpoints=endpoint_yaml())
    assert apply_changes(cloud.session, first, options=ApplyOptions(), audit=cloud.audit).ok
    second = cloud.write(models=model_yaml(artifact), endpoints=endpoint_yaml(canary=True, min_requests=min_requests))
    assert apply_changes(cloud.session, second, options=ApplyOptions(), audit=cloud.audit).ok
    (endpoint,) = [i.manifest for i in second.manifests if isinstance(i.manifest, Endpoint)]
    return endpoint


@pytest.fixture
def driver(cloud: Cloud) -> RolloutDriver:
    """A driver on the session's ports, metrics and fake clock."""
    assert cloud.session.metrics is not None
    return RolloutDriver(ports=cloud.session.ports, metrics=cloud.session.metrics, clock=cloud.clock, audit=cloud.audit)


def test_a_pass_before_the_initial_delay_measures_nothing_and_writes_nothing(
    cloud: Cloud, driver: RolloutDriver
) -> None:
    endpoint = _start_canary(cloud, HEALTHY_V2)
    before = cloud.endpoint()
    cloud.serve(5)  # initialDelay is 10 s
    status = driver.advance(endpoint)
    assert status is not None and status.events == () and status.state.phase is Phase.PROGRESSING
    assert cloud.endpoint().etag == before.etag  # nothing persisted


def test_a_pass_measures_the_canary_steps_and_persists_the_step_with_the_traffic(
    cloud: Cloud, driver: RolloutDriver
) -> None:
    endpoint = _start_canary(cloud, HEALTHY_V2)
    cloud.serve(10)
    measured = driver.advance(endpoint)  # the first analysis: successful, but the 30 s pause is not over
    assert measured is not None and [e.kind for e in measured.events] == [EventKind.MEASURED]
    assert all(m.verdict.value == "successful" for m in measured.measurements)
    assert cloud.split_by_version() == {"1": 80, "2": 20}
    cloud.serve(20)
    stepped = driver.advance(endpoint)
    assert stepped is not None and EventKind.STEP in [e.kind for e in stepped.events]
    assert cloud.split_by_version() == {"1": 50, "2": 50}
    state = from_labels(cloud.endpoint().labels)
    assert state is not None and (state.step, state.successes) == (1, 0)
    assert state.step_started == int(cloud.clock())  # the step started now, on the fake clock


def test_a_failing_canary_is_rolled_back_undeployed_and_the_reason_persisted(
    cloud: Cloud, driver: RolloutDriver
) -> None:
    endpoint = _start_canary(cloud, ERRORING_V2)
    cloud.serve(10)
    assert driver.advance(endpoint) is not None  # one failed measurement is tolerated (failureLimit 1)
    cloud.serve(10)
    status = driver.advance(endpoint)
    assert status is not None and EventKind.ABORTED in [e.kind for e in status.events]
    live = cloud.endpoint()
    assert cloud.split_by_version() == {"1": 100} and [d.spec.version for d in live.deployed_models] == ["1"]
    state = from_labels(live.labels)
    assert state is not None and state.phase is Phase.DEGRADED and state.reason is not None
    assert (state.reason.kind, state.reason.metric) == (Kind.ANALYSIS_FAILED, "error-rate")
    assert state.reason.requests is not None and state.reason.requests >= 50


def test_too_few_requests_hold_the_canary_then_pause_it_and_never_promote_it(
    cloud: Cloud, driver: RolloutDriver
) -> None:
    endpoint = _start_canary(cloud, HEALTHY_V2)
    kinds: list[EventKind] = []
    for _ in range(6):
        cloud.serve(10, rps=1)  # 2 canary requests per interval, minRequests 50
        status = driver.advance(endpoint)
        assert status is not None
        kinds += [e.kind for e in status.events]
    assert EventKind.PROMOTED not in kinds and EventKind.STEP not in kinds
    assert kinds[-1] is EventKind.PAUSED or status.state.phase is Phase.PAUSED
    assert cloud.split_by_version() == {"1": 80, "2": 20}
    state = from_labels(cloud.endpoint().labels)
    assert state is not None and state.phase is Phase.PAUSED and state.reason is not None
    assert state.reason.kind is Kind.TOO_FEW_REQUESTS


def test_a_fresh_driver_resumes_from_the_labels_and_finishes_the_rollout(cloud: Cloud, driver: RolloutDriver) -> None:
    endpoint = _start_canary(cloud, HEALTHY_V2)
    cloud.serve(30)
    driver.advance(endpoint)  # measured, and the 30 s pause is over: stepped to 50%
    assert cloud.split_by_version() == {"1": 50, "2": 50}
    assert cloud.session.metrics is not None
    restarted = RolloutDriver(
        ports=cloud.session.ports, metrics=cloud.session.metrics, clock=cloud.clock, audit=cloud.audit
    )
    phases = []
    for _ in range(4):
        cloud.serve(10)
        status = restarted.advance(endpoint)
        assert status is not None
        phases.append(status.state.phase)
    assert phases[-1] is Phase.HEALTHY
    assert cloud.split_by_version() == {"2": 100} and len(cloud.endpoint().deployed_models) == 1


def test_status_measures_the_current_window_without_persisting_anything(cloud: Cloud, driver: RolloutDriver) -> None:
    endpoint = _start_canary(cloud, HEALTHY_V2)
    cloud.serve(15)
    before = cloud.endpoint()
    status = driver.status(endpoint)
    assert status is not None and status.measurements and status.events == ()
    assert cloud.endpoint().etag == before.etag

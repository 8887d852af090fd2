"""The one apply routine (`engine.apply.apply_changes`) against the in-process emulator on a fake clock: it
plans, executes every operation (models, endpoints, prompts alike), starts rollouts stamped with the
session's clock, refuses stale saved plans and plans with errors, and `drive` takes a canary to its end
with the clock advanced by hand instead of sleeping."""

from __future__ import annotations

import math

import pytest

from controller.engine.apply import EXIT_ERROR, EXIT_OK, ApplyOptions, QuietHooks, apply_changes, drive
from controller.engine.planning import canary_endpoints, manifests_of, plan_load
from controller.engine.rollout_driver import RolloutDriver
from controller.errors import LockedError, UserError
from controller.observed import Phase
from controller.providers.locks_file import FileLock
from controller.rollout.events import EventKind
from controller.rollout.state import from_labels
from tests.engine.conftest import ERRORING_V2, HEALTHY_V2, Cloud, endpoint_yaml, model_yaml, prompt_yaml


def test_apply_creates_the_model_and_the_endpoint_and_a_second_apply_has_nothing_to_do(cloud: Cloud) -> None:
    load = cloud.write(models=model_yaml(), endpoints=endpoint_yaml())
    outcome = apply_changes(cloud.session, load, options=ApplyOptions(commit="c1"), audit=cloud.audit)
    assert outcome.ok and outcome.exit_code(wait=False) == EXIT_OK
    assert sorted(r.address for r in outcome.result.results) == ["Endpoint/us-central1/chat", "Model/us-central1/llm"]
    assert cloud.operations() == ["UploadModel", "CreateEndpoint", "DeployModel", "SetTraffic"]
    live = cloud.endpoint()
    assert [(d.spec.name, d.spec.version, d.spec.max_replicas) for d in live.deployed_models] == [("primary", "1", 2)]
    assert cloud.split_by_version() == {"1": 100} and live.labels["genaiops-commit"] == "c1"

    again = apply_changes(cloud.session, load, options=ApplyOptions(), audit=cloud.audit)
    assert again.ok and not again.result.results and not again.plan.actionable


def test_a_changed_canary_revision_starts_its_rollout_stamped_with_the_sessions_clock(cloud: Cloud) -> None:
    apply_changes(
        cloud.session,
        cloud.write(models=model_yaml(), endpoints=endpoint_yaml()),
        options=ApplyOptions(),
        audit=cloud.audit,
    )
    cloud.clock.advance(3600.25)
    load = cloud.write(models=model_yaml(HEALTHY_V2), endpoints=endpoint_yaml(canary=True))
    outcome = apply_changes(cloud.session, load, options=ApplyOptions(), audit=cloud.audit)
    assert outcome.ok and outcome.exit_code(wait=False) == EXIT_OK
    assert [e.kind for e in outcome.events] == [EventKind.STARTED]
    state = from_labels(cloud.endpoint().labels)
    assert state is not None and state.phase is Phase.PROGRESSING and state.step == 0
    assert state.step_started == math.ceil(cloud.clock())  # the session's clock, never the wall clock
    assert cloud.split_by_version() == {"1": 80, "2": 20}
    started = [r for r in cloud.audit_records() if r.get("event") == "rollout-started"]
    assert len(started) == 1 and started[0]["at"] == cloud.clock()


def test_apply_publishes_a_prompt_through_the_same_executor_and_moves_its_label(cloud: Cloud) -> None:
    load = cloud.write(prompts=prompt_yaml())
    outcome = apply_changes(cloud.session, load, options=ApplyOptions(commit="c1", author="ci"), audit=cloud.audit)
    assert outcome.ok, outcome.result.failed
    assert cloud.operations() == ["PublishPromptVersion", "MovePromptLabels"]
    store = cloud.session.prompts()
    index = store.read_index("greet")
    assert index is not None and set(index.labels) == {"production"}
    version = store.read_version("greet", index.labels["production"])
    assert (version.provenance.commit, version.provenance.author) == ("c1", "ci")
    assert version.provenance.created.startswith("2023-11-14T22:13:20")  # the fake clock's reading

    changed = apply_changes(
        cloud.session, cloud.write(prompts=prompt_yaml("Hi {{ customer }}!")), options=ApplyOptions(), audit=cloud.audit
    )
    assert changed.ok and cloud.operations()[-2:] == ["PublishPromptVersion", "MovePromptLabels"]
    moved = store.read_index("greet")
    assert moved is not None and moved.labels["production"] != index.labels["production"]


def test_a_saved_plan_is_refused_when_the_endpoint_changed_since_planning(cloud: Cloud) -> None:
    apply_changes(
        cloud.session,
        cloud.write(models=model_yaml(), endpoints=endpoint_yaml()),
        options=ApplyOptions(),
        audit=cloud.audit,
    )
    saved = plan_load(
        cloud.session,
        cloud.write(models=model_yaml(), endpoints=endpoint_yaml().replace("maxReplicas: 2", "maxReplicas: 3")),
        prune=False,
    )
    assert [c.address for c in saved.actionable] == ["Endpoint/us-central1/chat"]
    # someone else changes the endpoint after the plan was saved
    apply_changes(
        cloud.session,
        cloud.write(models=model_yaml(), endpoints=endpoint_yaml().replace("maxReplicas: 2", "maxReplicas: 4")),
        options=ApplyOptions(),
        audit=cloud.audit,
    )
    with pytest.raises(UserError, match="stale"):
        apply_changes(cloud.session, saved, options=ApplyOptions(), audit=cloud.audit)
    assert cloud.endpoint().deployed_models[0].spec.max_replicas == 4


def test_a_saved_plan_still_current_is_applied_exactly_as_reviewed(cloud: Cloud) -> None:
    apply_changes(
        cloud.session,
        cloud.write(models=model_yaml(), endpoints=endpoint_yaml()),
        options=ApplyOptions(),
        audit=cloud.audit,
    )
    saved = plan_load(
        cloud.session,
        cloud.write(models=model_yaml(), endpoints=endpoint_yaml().replace("maxReplicas: 2", "maxReplicas: 3")),
        prune=False,
    )
    outcome = apply_changes(cloud.session, saved, options=ApplyOptions(), audit=cloud.audit)
    assert outcome.ok and cloud.operations()[-1] == "MutateDeployedModel"
    assert cloud.endpoint().deployed_models[0].spec.max_replicas == 3


def test_a_lock_held_by_another_apply_stops_the_whole_apply_before_anything_is_planned(cloud: Cloud) -> None:
    load = cloud.write(models=model_yaml(), endpoints=endpoint_yaml())
    other = FileLock(cloud.root / "apply.lock")  # another process on the same target
    held = other.acquire(owner="someone else", wait_s=0)
    try:
        with pytest.raises(LockedError):
            apply_changes(cloud.session, load, options=ApplyOptions(), audit=cloud.audit)
    finally:
        other.release(held)
    assert cloud.operations() == []
    assert cloud.session.ports["us-central1"].get_endpoint("chat") is None


def _canary_in_progress(cloud: Cloud, artifact: str) -> RolloutDriver:
    apply_changes(
        cloud.session,
        cloud.write(models=model_yaml(), endpoints=endpoint_yaml()),
        options=ApplyOptions(),
        audit=cloud.audit,
    )
    load = cloud.write(models=model_yaml(artifact), endpoints=endpoint_yaml(canary=True))
    apply_changes(cloud.session, load, options=ApplyOptions(), audit=cloud.audit)
    assert cloud.session.metrics is not None
    return RolloutDriver(ports=cloud.session.ports, metrics=cloud.session.metrics, clock=cloud.clock, audit=cloud.audit)


def test_drive_with_wait_takes_a_healthy_canary_to_promotion_with_the_clock_advanced_by_hand(cloud: Cloud) -> None:
    driver = _canary_in_progress(cloud, HEALTHY_V2)
    load = cloud.write(models=model_yaml(HEALTHY_V2), endpoints=endpoint_yaml(canary=True))
    endpoints = canary_endpoints(manifests_of(load))
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # time passes only here, with traffic for that span
        slept.append(seconds)
        cloud.serve(seconds)

    statuses, events = drive(
        driver, endpoints, wait=True, timeout_s=600, hooks=QuietHooks(), clock=cloud.clock, sleep=sleep
    )
    assert [s.state.phase for s in statuses] == [Phase.HEALTHY]
    assert [e.kind for e in events if e.kind is not EventKind.MEASURED] == [EventKind.STEP, EventKind.PROMOTED]
    assert cloud.split_by_version() == {"2": 100} and len(cloud.endpoint().deployed_models) == 1
    assert slept and all(0.1 <= s <= 1.0 for s in slept)  # polls at least every second, never busy-waits


def test_the_apply_whose_pass_rolls_a_canary_back_exits_1_and_names_the_rollout(cloud: Cloud) -> None:
    _canary_in_progress(cloud, ERRORING_V2)
    load = cloud.write(models=model_yaml(ERRORING_V2), endpoints=endpoint_yaml(canary=True))
    cloud.serve(20)
    first = apply_changes(cloud.session, load, options=ApplyOptions(), audit=cloud.audit)
    assert not first.rolled_back and first.exit_code(wait=False) == EXIT_OK  # one failure is tolerated
    cloud.serve(10)
    second = apply_changes(cloud.session, load, options=ApplyOptions(), audit=cloud.audit)
    assert [s.endpoint for s in second.rolled_back] == ["chat"]
    assert second.exit_code(wait=False) == EXIT_ERROR
    assert cloud.split_by_version() == {"1": 100}

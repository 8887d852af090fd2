"""The executor against the in-process emulator: phases (models before the endpoints that deploy them),
retries of transient errors with the engine's one retry policy, re-planning after a conflict, a failed
model stopping only its endpoints, a stop request honoured before the next operation, and one audit line
per operation."""

from __future__ import annotations

from controller.engine.executor import Executor
from controller.engine.planning import plan_load
from controller.engine.retry import RetryPolicy
from controller.plans.plan import Plan, ResourceChange
from tests.engine.conftest import REGION, Cloud, endpoint_yaml, model_yaml

FAST = RetryPolicy(attempts=4, initial_s=0.01, max_s=0.02)
TWO = (
    "apiVersion: genaiops/v1\nkind: Endpoint\nmetadata: {name: chat}\nspec:\n"
    "  deployments: [{name: a, model: llm}, {name: b, model: llm}]\n"
    "  traffic: {a: %d, b: %d}\n"
)


def _executor(cloud: Cloud, **options: object) -> Executor:
    return Executor(ports=cloud.session.ports, audit=cloud.audit, retry=FAST, clock=cloud.clock, **options)  # type: ignore[arg-type]


def _plan(cloud: Cloud, **files: str) -> Plan:
    return plan_load(cloud.session, cloud.write(**files), prune=False)


def test_models_are_created_before_the_endpoints_that_deploy_them_and_each_operation_is_audited(cloud: Cloud) -> None:
    result = _executor(cloud, commit="abc").apply(_plan(cloud, models=model_yaml(), endpoints=endpoint_yaml()))
    assert result.ok
    records = [r for r in cloud.audit_records() if "op" in r]
    assert [r["op"] for r in records] == ["UploadModel", "CreateEndpoint", "DeployModel", "SetTraffic"]
    assert all(r["status"] == "ok" and r["commit"] == "abc" and r["attempts"] == 1 for r in records)
    assert cloud.endpoint().labels["genaiops-commit"] == "abc"


def test_a_transient_error_is_retried_and_the_audit_line_counts_the_attempts(cloud: Cloud) -> None:
    cloud.emulator.faults.add("DeployModel:fail_next=2:code=UNAVAILABLE")
    result = _executor(cloud).apply(_plan(cloud, models=model_yaml(), endpoints=endpoint_yaml()))
    assert result.ok, result.failed
    (deploy,) = [r for r in cloud.audit_records() if r.get("op") == "DeployModel"]
    assert deploy["attempts"] == 3
    assert len(cloud.endpoint().deployed_models) == 1  # no duplicate from the failed attempts


def test_a_model_that_fails_stops_the_endpoints_that_deploy_it_and_nothing_else(cloud: Cloud) -> None:
    cloud.emulator.faults.add("UploadModel:fail_next=10:code=INVALID_ARGUMENT")
    events: list[str] = []
    result = _executor(cloud, on_event=events.append).apply(
        _plan(cloud, models=model_yaml(), endpoints=endpoint_yaml())
    )
    failed = {r.address: r.error for r in result.failed}
    assert set(failed) == {"Model/us-central1/llm", "Endpoint/us-central1/chat"}
    assert failed["Endpoint/us-central1/chat"] == "skipped: Model/us-central1/llm failed"
    assert cloud.session.ports[REGION].get_endpoint("chat") is None
    assert any("FAILED" in e for e in events)


def test_traffic_moved_by_someone_else_is_re_observed_and_re_planned_not_overwritten(cloud: Cloud) -> None:
    assert _executor(cloud).apply(_plan(cloud, models=model_yaml(), endpoints=TWO % (50, 50))).ok
    planned = _plan(cloud, models=model_yaml(), endpoints=TWO % (100, 0))
    live = cloud.endpoint()
    ids = {d.spec.name: d.id for d in live.deployed_models}
    cloud.session.ports[REGION].update_endpoint(  # a person moves traffic after the plan was made
        endpoint_id="chat",
        etag=live.etag,
        traffic_split={ids["a"]: 30, ids["b"]: 70},
        labels=live.labels,
        display_name=live.display_name,
        description=live.description,
    )
    replans: list[str] = []

    def replan(change: ResourceChange) -> ResourceChange | None:
        replans.append(change.address)
        fresh = _plan(cloud, models=model_yaml(), endpoints=TWO % (100, 0))
        return next(c for c in fresh.changes if c.address == change.address)

    events: list[str] = []
    result = _executor(cloud, replan=replan, on_event=events.append).apply(planned)
    assert result.ok, result.failed
    assert replans == ["Endpoint/us-central1/chat"]
    assert any("re-observing and re-planning" in e for e in events)
    assert cloud.endpoint().traffic_split == {ids["a"]: 100}


def test_a_stop_request_is_honoured_before_the_next_operation(cloud: Cloud) -> None:
    done: list[str] = []
    executor = _executor(cloud, on_event=done.append, interrupted=lambda: "SIGTERM" if done else None)
    result = executor.apply(_plan(cloud, models=model_yaml(), endpoints=endpoint_yaml()))
    (stopped,) = result.failed  # the model's one operation ran; the endpoint stopped before its first
    assert stopped.address == "Endpoint/us-central1/chat" and stopped.operations == 0
    assert cloud.operations() == ["UploadModel"]
    assert any("stopped before" in r.error and "SIGTERM" in r.error for r in result.failed)

"""The pure planner: desired x observed -> ordered operations that keep every traffic split safe."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.observed import Observed, ObservedEndpoint
from controller.plans.operations import (
    NEW_VERSION,
    CreateEndpoint,
    DeleteEndpoint,
    DeleteModel,
    DeployModel,
    MutateDeployedModel,
    Operation,
    SetTraffic,
    StartRollout,
    UndeployModel,
    UploadModel,
)
from controller.plans.plan import Action, Plan
from controller.plans.planner import plan
from tests.builders import deployed, endpoint, live_endpoint, live_model, model

R = "us-central1"


def observed(*, endpoints: tuple[ObservedEndpoint, ...] = (), models: tuple[object, ...] = ()) -> Observed:
    return Observed(
        endpoints={(R, e.endpoint_id): e for e in endpoints},
        models={(R, m.model_id): m for m in models},  # type: ignore[attr-defined]
    )


def ops_of(the_plan: Plan, address: str) -> list[Operation]:
    return [op for c in the_plan.changes if c.address == address for op in c.operations]


def kinds(ops: list[Operation]) -> list[str]:
    return [type(op).__name__ for op in ops]


@dataclass
class SimEndpoint:
    """Replays operations the way Vertex AI applies them, asserting the safety rules at every step."""

    deployed: dict[str, str] = field(default_factory=dict)  # id -> display name
    split: dict[str, int] = field(default_factory=dict)
    counter: int = 100

    def run(self, ops: list[Operation]) -> None:
        new: dict[str, str] = {}
        for op in ops:
            match op:
                case DeployModel():
                    self.counter += 1
                    self.deployed[str(self.counter)] = op.spec.name
                    new[f"new:{op.spec.name}"] = str(self.counter)
                case SetTraffic():
                    split = {new.get(k, k): v for k, v in op.split.items()}
                    assert not split or sum(split.values()) == 100, split
                    assert set(split) <= set(self.deployed), f"routes to undeployed models: {split}"
                    self.split = split
                case UndeployModel():
                    assert self.split.get(op.deployed_model_id, 0) == 0, "undeployed a model carrying traffic"
                    del self.deployed[op.deployed_model_id]
                case MutateDeployedModel():
                    assert op.deployed_model_id in self.deployed
                case DeleteEndpoint():
                    assert not self.deployed, "deleted an endpoint with models deployed"
                case _:
                    pass


def test_everything_is_created_from_empty_in_a_safe_order() -> None:
    the_plan = plan([model(), endpoint()], Observed())
    assert [c.action for c in the_plan.changes] == [Action.CREATE, Action.CREATE]
    assert kinds(ops_of(the_plan, "Model/us-central1/llm")) == ["UploadModel"]
    ops = ops_of(the_plan, "Endpoint/us-central1/chat")
    assert kinds(ops) == ["CreateEndpoint", "DeployModel", "SetTraffic"]
    deploy, traffic = ops[1], ops[2]
    assert isinstance(deploy, DeployModel) and deploy.spec.version == NEW_VERSION
    assert isinstance(traffic, SetTraffic) and dict(traffic.split) == {"new:primary": 100}
    assert isinstance(ops[0], CreateEndpoint) and ops[0].labels["managed-by"] == "genaiops"
    summary = the_plan.summary()
    assert summary.line() == "Plan: 2 to add, 0 to change, 0 to destroy, 0 traffic shifts."


def test_matching_live_state_plans_no_changes() -> None:
    live = live_endpoint(models=(deployed("11"),), split={"11": 100})
    the_plan = plan([model(), endpoint()], observed(endpoints=(live,), models=(live_model(),)))
    assert [c.action for c in the_plan.changes] == [Action.NOOP, Action.NOOP]
    assert not the_plan.summary().has_changes


def test_a_traffic_change_is_one_update_with_the_planned_split_as_precondition() -> None:
    desired = endpoint(
        deployments=[{"name": "a", "model": "llm"}, {"name": "b", "model": "llm"}], traffic={"a": 50, "b": 50}
    )
    live = live_endpoint(models=(deployed("1", "a"), deployed("2", "b")), split={"1": 90, "2": 10})
    the_plan = plan([model(), desired], observed(endpoints=(live,), models=(live_model(),)))
    ops = ops_of(the_plan, "Endpoint/us-central1/chat")
    assert kinds(ops) == ["SetTraffic"]
    assert isinstance(ops[0], SetTraffic)
    assert dict(ops[0].split) == {"1": 50, "2": 50} and dict(ops[0].expect) == {"1": 90, "2": 10}
    change = the_plan.changes[1]
    assert change.shifts_traffic
    assert {(c.path, c.before, c.after) for c in change.changes} == {("traffic.a", 90, 50), ("traffic.b", 10, 50)}
    assert the_plan.summary().line() == "Plan: 0 to add, 1 to change, 0 to destroy, 1 traffic shift."


def test_a_model_version_bump_deploys_new_then_shifts_then_undeploys_old() -> None:
    live = live_endpoint(models=(deployed("7"),), split={"7": 100})
    the_plan = plan([model(artifact="gs://bk/llm/v2"), endpoint()], observed(endpoints=(live,), models=(live_model(),)))
    upload = ops_of(the_plan, "Model/us-central1/llm")
    assert kinds(upload) == ["UploadModel"] and isinstance(upload[0], UploadModel) and upload[0].parent_exists
    ops = ops_of(the_plan, "Endpoint/us-central1/chat")
    assert kinds(ops) == ["DeployModel", "SetTraffic", "UndeployModel"]
    sim = SimEndpoint(deployed={"7": "primary"}, split={"7": 100})
    sim.run(ops)
    assert list(sim.deployed.values()) == ["primary"] and sum(sim.split.values()) == 100


def test_a_replica_change_mutates_in_place() -> None:
    live = live_endpoint(models=(deployed("7", replicas=(1, 1)),), split={"7": 100})
    desired = endpoint(deployments=[{"name": "primary", "model": "llm", "minReplicas": 2, "maxReplicas": 4}])
    the_plan = plan([model(), desired], observed(endpoints=(live,), models=(live_model(),)))
    ops = ops_of(the_plan, "Endpoint/us-central1/chat")
    assert ops == [MutateDeployedModel("chat", "7", 2, 4, deployment="primary")]


def test_a_removed_deployment_loses_its_traffic_before_it_is_undeployed() -> None:
    live = live_endpoint(models=(deployed("1", "a"), deployed("2", "b")), split={"1": 50, "2": 50})
    desired = endpoint(deployments=[{"name": "a", "model": "llm"}], traffic={"a": 100})
    the_plan = plan([model(), desired], observed(endpoints=(live,), models=(live_model(),)))
    ops = ops_of(the_plan, "Endpoint/us-central1/chat")
    assert kinds(ops) == ["SetTraffic", "UndeployModel"]
    SimEndpoint(deployed={"1": "a", "2": "b"}, split={"1": 50, "2": 50}).run(ops)


def test_managed_resources_outside_the_manifests_are_only_deleted_with_prune() -> None:
    orphan = live_endpoint("old", models=(deployed("5"),), split={"5": 100})
    world = observed(endpoints=(orphan,), models=(live_model(), live_model("gone")))
    kept = plan([model()], world)
    assert all(c.action is not Action.DELETE for c in kept.changes)
    assert any("Endpoint/us-central1/old" in note and "--prune" in note for note in kept.notes)
    pruned = plan([model()], world, prune=True)
    deletes = {c.address: c for c in pruned.changes if c.action is Action.DELETE}
    assert set(deletes) == {"Endpoint/us-central1/old", "Model/us-central1/gone"}
    ops = list(deletes["Endpoint/us-central1/old"].operations)
    assert kinds(ops) == ["SetTraffic", "UndeployModel", "DeleteEndpoint"]
    SimEndpoint(deployed={"5": "primary"}, split={"5": 100}).run(ops)
    assert list(deletes["Model/us-central1/gone"].operations) == [DeleteModel("gone")]
    assert pruned.summary().destroy == 2


def test_a_retained_resource_is_never_pruned() -> None:
    retained = live_endpoint("keep", labels={"managed-by": "genaiops", "genaiops-retain": "true"})
    the_plan = plan([], observed(endpoints=(retained,)), prune=True)
    assert the_plan.changes == ()
    assert any("retain" in note for note in the_plan.notes)


def test_deletion_policy_retain_is_written_as_a_label() -> None:
    the_plan = plan([model(), endpoint(deletionPolicy="retain")], Observed())
    create = ops_of(the_plan, "Endpoint/us-central1/chat")[0]
    assert isinstance(create, CreateEndpoint) and create.labels["genaiops-retain"] == "true"


def test_a_canary_endpoint_marks_a_version_bump_as_a_rollout() -> None:
    canary = {"strategy": "canary", "steps": [{"weight": 10}, {"weight": 50}]}
    live = live_endpoint(models=(deployed("7"),), split={"7": 100})
    the_plan = plan(
        [model(artifact="gs://bk/llm/v2"), endpoint(rollout=canary)],
        observed(endpoints=(live,), models=(live_model(),)),
    )
    assert the_plan.changes[1].action is Action.ROLLOUT
    assert the_plan.summary().rollouts == 1


def test_an_explicit_version_is_deployed_as_written() -> None:
    live = live_endpoint(models=(deployed("7", version="1"),), split={"7": 100})
    desired = endpoint(deployments=[{"name": "primary", "model": "llm@3"}])
    the_plan = plan([model(), desired], observed(endpoints=(live,), models=(live_model(),)))
    deploy = ops_of(the_plan, "Endpoint/us-central1/chat")[0]
    assert isinstance(deploy, DeployModel) and deploy.spec.version == "3"


def test_an_unknown_alias_is_a_diagnostic_not_a_guess() -> None:
    live = live_endpoint(models=(deployed("7"),), split={"7": 100})
    desired = endpoint(deployments=[{"name": "primary", "model": "llm@canary"}])
    the_plan = plan([model(), desired], observed(endpoints=(live,), models=(live_model(),)))
    assert the_plan.diagnostics and "canary" in the_plan.diagnostics[0].summary
    assert all(c.kind != "Endpoint" for c in the_plan.changes)


def test_leftover_duplicates_from_an_interrupted_apply_converge() -> None:
    # A crash after deploying the new version but before the shift leaves two "primary" deployed models.
    live = live_endpoint(models=(deployed("7", version="1"), deployed("8", version="2")), split={"7": 100})
    the_plan = plan(
        [model(artifact="gs://bk/llm/v2"), endpoint()],
        observed(endpoints=(live,), models=(live_model(version="2", artifact="gs://bk/llm/v2"),)),
    )
    ops = ops_of(the_plan, "Endpoint/us-central1/chat")
    assert kinds(ops) == ["SetTraffic", "UndeployModel"]
    assert isinstance(ops[0], SetTraffic) and dict(ops[0].split) == {"8": 100}
    SimEndpoint(deployed={"7": "primary", "8": "primary"}, split={"7": 100}).run(ops)


def test_a_canary_deployed_at_zero_by_an_apply_that_was_killed_starts_its_rollout_instead_of_taking_traffic() -> None:
    # Killed between DeployModel and the first canary step: v2 is deployed at 0%, no rollout is recorded.
    canary = {"strategy": "canary", "steps": [{"weight": 10}, {"weight": 50}]}
    live = live_endpoint(models=(deployed("7", version="1"), deployed("8", version="2")), split={"7": 100})
    the_plan = plan(
        [model(artifact="gs://bk/llm/v2"), endpoint(rollout=canary)],
        observed(endpoints=(live,), models=(live_model(version="2", artifact="gs://bk/llm/v2"),)),
    )
    change = next(c for c in the_plan.changes if c.kind == "Endpoint")
    assert change.action is Action.ROLLOUT
    assert kinds(list(change.operations)) == ["StartRollout"]
    start = change.operations[0]
    assert isinstance(start, StartRollout)
    assert (start.canary, start.stable_id, start.weight, dict(start.split)) == ("8", "7", 10, {"7": 100})
    assert "stopped before its first step" in " ".join(change.reasons)


def test_a_direct_endpoint_still_switches_to_a_matching_model_left_at_zero() -> None:
    live = live_endpoint(models=(deployed("7", version="1"), deployed("8", version="2")), split={"7": 100})
    the_plan = plan(
        [model(artifact="gs://bk/llm/v2"), endpoint(rollout={"strategy": "direct"})],
        observed(endpoints=(live,), models=(live_model(version="2", artifact="gs://bk/llm/v2"),)),
    )
    ops = ops_of(the_plan, "Endpoint/us-central1/chat")
    assert kinds(ops) == ["SetTraffic", "UndeployModel"]
    assert isinstance(ops[0], SetTraffic) and dict(ops[0].split) == {"8": 100}


weights = st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=4)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[object], Observed, SimEndpoint]:
    """A random live endpoint and a random desired one over the same deployment names."""
    names = ["a", "b", "c", "d"]
    live_count = draw(st.integers(min_value=0, max_value=4))
    live_models = tuple(
        deployed(str(10 + i), draw(st.sampled_from(names)), version=draw(st.sampled_from(["1", "2"])))
        for i in range(live_count)
    )
    split: dict[str, int] = {}
    if live_models:
        cut = draw(st.lists(st.integers(0, 100), min_size=len(live_models) - 1, max_size=len(live_models) - 1))
        points = sorted(cut)
        shares = [b - a for a, b in zip([0, *points], [*points, 100], strict=True)]
        split = {m.id: s for m, s in zip(live_models, shares, strict=True) if s}
    wanted = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    raw = draw(st.lists(st.integers(0, 100), min_size=len(wanted), max_size=len(wanted)))
    if sum(raw) == 0:
        raw[0] = 1
    shares_d = [r * 100 // sum(raw) for r in raw]
    shares_d[0] += 100 - sum(shares_d)
    desired = endpoint(
        deployments=[{"name": n, "model": f"llm@{draw(st.sampled_from(['1', '2']))}"} for n in wanted],
        traffic=dict(zip(wanted, shares_d, strict=True)),
    )
    world = observed(
        endpoints=(live_endpoint(models=live_models, split=split),) if live_count or draw(st.booleans()) else (),
        models=(live_model(),),
    )
    sim = SimEndpoint(deployed={m.id: m.spec.name for m in live_models}, split=dict(split))
    return [model(), desired], world, sim


@settings(max_examples=300, deadline=None, derandomize=True)
@given(worlds())
def test_every_plan_keeps_splits_summing_to_100_over_deployed_models_only(
    world: tuple[list[object], Observed, SimEndpoint],
) -> None:
    manifests, live, sim = world
    the_plan = plan(manifests, live)  # type: ignore[arg-type]
    ops = ops_of(the_plan, "Endpoint/us-central1/chat")
    if ("us-central1", "chat") not in live.endpoints:
        sim = SimEndpoint()
    sim.run(ops)
    desired = manifests[1]
    expected = {n: p for n, p in desired.spec.traffic.items() if p}  # type: ignore[attr-defined]
    by_name: dict[str, int] = {}
    for id_, share in sim.split.items():
        by_name[sim.deployed[id_]] = by_name.get(sim.deployed[id_], 0) + share
    assert by_name == expected
    assert sorted(sim.deployed.values()) == sorted(d.name for d in desired.spec.deployments)  # type: ignore[attr-defined]

"""Plans speak of deployments, not deployed-model ids: traffic operations carry the names (the ids stay in
the split, and in JSON), a rollout's canary and stable are told apart by role; and the summary counts a
first apply that splits traffic between deployments as a traffic shift."""

from __future__ import annotations

import pytest

from controller.observed import Observed, ObservedEndpoint
from controller.plans.endpoint_plan import revision_of
from controller.plans.operations import (
    MutateDeployedModel,
    SetTraffic,
    StartRollout,
    describe,
    from_json,
    split_text,
    to_json,
)
from controller.plans.plan import Action
from controller.plans.planner import plan
from controller.rollout.state import to_labels
from tests.builders import MANAGED, deployed, endpoint, live_endpoint, live_model, model
from tests.rollout_builders import state

R = "us-central1"
CANARY = {"strategy": "canary", "steps": [{"weight": 10}, {"weight": 50}]}


def observed(*endpoints: ObservedEndpoint, version: str = "1", artifact: str = "gs://bk/llm/v1") -> Observed:
    return Observed(
        endpoints={(R, e.endpoint_id): e for e in endpoints},
        models={(R, "llm"): live_model(version=version, artifact=artifact)},
    )


@pytest.mark.parametrize(
    ("split", "names", "text"),
    [
        (
            {"6419309551": 80, "5150902423": 20},
            {"6419309551": "primary", "5150902423": "canary"},
            "primary=80%, canary=20%",
        ),
        ({"new:primary": 50, "new:canary": 50}, {}, "primary=50%, canary=50%"),
        ({"7": 50, "new:primary": 50}, {"7": "primary"}, "primary (7)=50%, primary (new)=50%"),
        ({"7": 50, "8": 50}, {"7": "primary", "8": "primary"}, "primary (7)=50%, primary (8)=50%"),
        (
            {"7": 90, "8": 10},
            {"7": "primary (stable)", "8": "primary (canary)"},
            "primary (stable)=90%, primary (canary)=10%",
        ),
        ({"123": 100}, {}, "123=100%"),  # a deployed model nobody named: its id
        ({}, {}, "empty"),
    ],
)
def test_a_split_is_shown_by_deployment_name(split: dict[str, int], names: dict[str, str], text: str) -> None:
    assert split_text(split, names) == text


def test_a_traffic_change_names_deployments_and_keeps_the_ids_in_json() -> None:
    desired = endpoint(
        deployments=[{"name": "a", "model": "llm"}, {"name": "b", "model": "llm"}], traffic={"a": 80, "b": 20}
    )
    live = live_endpoint(models=(deployed("6419309551", "a"), deployed("5150902423", "b")), split={"6419309551": 50})
    change = plan([model(), desired], observed(live)).changes[1]
    traffic = next(op for op in change.operations if isinstance(op, SetTraffic))
    assert describe(traffic) == "update endpoint chat: traffic a=80%, b=20%"
    assert dict(traffic.split) == {"6419309551": 80, "5150902423": 20}
    written = to_json(traffic)
    assert written["split"] == {"6419309551": 80, "5150902423": 20}
    assert written["names"] == {"5150902423": "b", "6419309551": "a"}
    assert from_json(written) == traffic


def test_a_rollout_in_progress_tells_its_canary_and_stable_apart() -> None:
    v2 = model(artifact="gs://bk/llm/v2")
    desired = endpoint(rollout=CANARY, description="support chat")  # a metadata change: one SetTraffic
    record = state(revision=revision_of(desired.spec.deployments[0], v2), canary_id="8", stable_id="7")
    live = live_endpoint(
        models=(deployed("7", version="1"), deployed("8", version="2")),
        split={"7": 90, "8": 10},
        labels={**MANAGED, **to_labels(record)},
    )
    change = plan([v2, desired], observed(live, version="2", artifact="gs://bk/llm/v2")).changes[1]
    traffic = next(op for op in change.operations if isinstance(op, SetTraffic))
    assert describe(traffic) == "update endpoint chat: traffic primary (canary)=10%, primary (stable)=90%"


def test_starting_a_canary_shows_the_first_split_by_role() -> None:
    live = live_endpoint(models=(deployed("7"),), split={"7": 100})
    change = plan([model(artifact="gs://bk/llm/v2"), endpoint(rollout=CANARY)], observed(live)).changes[1]
    start = next(op for op in change.operations if isinstance(op, StartRollout))
    assert describe(start) == (
        "start canary of primary on chat: 10% of its 100% share to the new deployed model: "
        "traffic primary (stable)=90%, primary (canary)=10%"
    )
    assert start.names == {"7": "primary"}


def test_a_replica_change_names_its_deployment() -> None:
    live = live_endpoint(models=(deployed("7"),), split={"7": 100})
    desired = endpoint(deployments=[{"name": "primary", "model": "llm", "minReplicas": 2, "maxReplicas": 3}])
    ops = plan([model(), desired], observed(live)).changes[1].operations
    mutate = next(op for op in ops if isinstance(op, MutateDeployedModel))
    assert describe(mutate) == "set replicas of primary (deployed model 7) on chat to 2..3"


def test_a_first_apply_that_splits_traffic_counts_one_traffic_shift() -> None:
    desired = endpoint(
        deployments=[{"name": "primary", "model": "llm"}, {"name": "canary", "model": "llm"}],
        traffic={"primary": 50, "canary": 50},
    )
    the_plan = plan([model(), desired], Observed())
    change = the_plan.changes[1]
    assert change.action is Action.CREATE and change.shifts_traffic
    traffic = next(op for op in change.operations if isinstance(op, SetTraffic))
    assert describe(traffic) == "update endpoint chat: traffic canary=50%, primary=50%"
    assert the_plan.summary().line() == "Plan: 2 to add, 0 to change, 0 to destroy, 1 traffic shift."


def test_a_first_apply_that_sends_all_traffic_to_one_deployment_shifts_none() -> None:
    desired = endpoint(
        deployments=[{"name": "primary", "model": "llm"}, {"name": "spare", "model": "llm"}],
        traffic={"primary": 100, "spare": 0},
    )
    the_plan = plan([model(), desired], Observed())
    assert not the_plan.changes[1].shifts_traffic
    assert the_plan.summary().traffic_shifts == 0

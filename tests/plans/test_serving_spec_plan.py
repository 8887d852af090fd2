"""The rest of the Vertex serving spec in plans (issue 17): each field in the views, autoscaling and container
logging changed in place, Spot / reservation / explanation as a new revision (through the canary when the
rollout is one), request-response logging as its own operation after the traffic moved, a create-only
setting changed on a live endpoint as a diagnostic (with the rest of the change still planned), and
manifests that use none of them planned exactly as before."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from controller.model.serving import ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION, REQUEST_COUNT
from controller.observed import (
    EndpointSettings,
    ExplanationParameters,
    Observed,
    ObservedDeployedModel,
    ObservedEndpoint,
    RequestLogging,
    ReservationAffinity,
)
from controller.plans.endpoint_plan import revision_of
from controller.plans.operations import (
    CreateEndpoint,
    DeployModel,
    MutateDeployedModel,
    Operation,
    SetRequestLogging,
    SetTraffic,
    StartRollout,
    describe,
    to_json,
)
from controller.plans.plan import Action, Plan
from controller.plans.planner import plan
from controller.plans.views_of import deployment_spec, desired_endpoint_view, spec_hash
from tests.builders import deployed, endpoint, live_endpoint, live_model, model

R = "us-central1"
RESERVATION_NAME = "projects/p/zones/us-central1-a/reservations/r1"
TABLE = "bq://acme-prod.serving.chat_logs"
KEY = f"projects/p/locations/{R}/keyRings/ring/cryptoKeys/key"
NETWORK = "projects/123456/global/networks/vpc"
L4 = {"machineType": "g2-standard-8", "accelerator": {"type": "NVIDIA_L4"}}


def observed(*endpoints: ObservedEndpoint) -> Observed:
    return Observed(endpoints={(R, e.endpoint_id): e for e in endpoints}, models={(R, "llm"): live_model()})


def kinds(ops: tuple[Operation, ...] | list[Operation]) -> list[str]:
    return [type(op).__name__ for op in ops]


def the_endpoint(the_plan: Plan) -> Any:
    return next(c for c in the_plan.changes if c.kind == "Endpoint")


def live_like(manifest: Any, **settings: Any) -> ObservedEndpoint:
    """The live endpoint exactly as `manifest` asks (one deployed model `1`, `2`... per deployment, of
    version 1), with the endpoint settings `settings`, labelled with the manifest's spec hash."""
    revisions = {d.name: revision_of(d, model()) for d in manifest.spec.deployments}
    view = desired_endpoint_view(manifest, {d.name: "1" for d in manifest.spec.deployments}, revisions)
    models = tuple(
        ObservedDeployedModel(str(i + 1), deployment_spec(d, "1")) for i, d in enumerate(manifest.spec.deployments)
    )
    split = {m.id: manifest.spec.traffic[m.spec.name] for m in models if manifest.spec.traffic.get(m.spec.name)}
    live = live_endpoint(models=models, split=split, labels=view["labels"])
    return dataclasses.replace(live, settings=EndpointSettings(**settings))


# -- each field in the views -------------------------------------------------------------------------------
DEPLOYMENT_FIELDS = [
    pytest.param(
        {"autoscaling": {"cpuUtilization": 70, "requestsPerReplica": 40}},
        {"autoscaling": {"cpuUtilization": 70, "requestsPerReplica": 40}},
        id="autoscaling",
    ),
    pytest.param(
        {**L4, "autoscaling": {"acceleratorDutyCycle": 80}},
        {"autoscaling": {"acceleratorDutyCycle": 80}},
        id="duty-cycle",
    ),
    pytest.param({"spot": True}, {"spot": True}, id="spot"),
    pytest.param({"reservation": {"type": "any"}}, {"reservation": {"type": "any"}}, id="any-reservation"),
    pytest.param(
        {
            "reservation": {
                "type": "specific",
                "key": "compute.googleapis.com/reservation-name",
                "values": [RESERVATION_NAME],
            }
        },
        {
            "reservation": {
                "type": "specific",
                "key": "compute.googleapis.com/reservation-name",
                "values": [RESERVATION_NAME],
            }
        },
        id="specific-reservation",
    ),
    pytest.param(
        {"explanation": {"method": "sampled-shapley", "pathCount": 10, "topK": 3}},
        {"explanation": {"method": "sampled-shapley", "pathCount": 10, "topK": 3}},
        id="sampled-shapley",
    ),
    pytest.param(
        {"explanation": {"method": "xrai", "stepCount": 50}},
        {"explanation": {"method": "xrai", "stepCount": 50}},
        id="xrai",
    ),
]


@pytest.mark.parametrize(("fields", "shown"), DEPLOYMENT_FIELDS)
def test_each_deployment_field_shows_in_the_view_and_a_live_match_plans_nothing(
    fields: dict[str, Any], shown: dict[str, Any]
) -> None:
    manifest = endpoint(deployments=[{"name": "primary", "model": "llm", **fields}])
    after = desired_endpoint_view(manifest, {"primary": "1"})["deployments"]["primary"]
    assert {k: after[k] for k in shown} == shown
    change = the_endpoint(plan([model(), manifest], observed(live_like(manifest))))
    assert change.action is Action.NOOP, (change.changes, change.operations)
    assert change.before["deployments"] == change.after["deployments"]


ENDPOINT_FIELDS = [
    pytest.param(
        {"requestResponseLogging": {"samplingRate": 0.25, "bigqueryTable": TABLE}},
        {"logging": RequestLogging(True, 0.25, TABLE)},
        {"requestResponseLogging": {"samplingRate": 0.25, "bigqueryTable": TABLE}},
        id="logging",
    ),
    pytest.param({"dedicated": True}, {"dedicated": True}, {"dedicated": True}, id="dedicated"),
    pytest.param({"network": NETWORK}, {"network": NETWORK}, {"network": NETWORK}, id="network"),
    pytest.param(
        {"privateServiceConnect": {"projectAllowlist": ["b-proj", "a-proj"]}},
        {"private_service_connect": True, "psc_project_allowlist": ("a-proj", "b-proj")},
        {"privateServiceConnect": {"projectAllowlist": ["a-proj", "b-proj"]}},
        id="private-service-connect",
    ),
    pytest.param(
        {"encryption": {"kmsKeyName": KEY}}, {"kms_key_name": KEY}, {"encryption": {"kmsKeyName": KEY}}, id="cmek"
    ),
]


@pytest.mark.parametrize(("fields", "settings", "shown"), ENDPOINT_FIELDS)
def test_each_endpoint_setting_shows_in_both_views_and_a_live_match_plans_nothing(
    fields: dict[str, Any], settings: dict[str, Any], shown: dict[str, Any]
) -> None:
    manifest = endpoint(**fields)
    the_plan = plan([model(), manifest], observed(live_like(manifest, **settings)))
    change = the_endpoint(the_plan)
    assert {k: change.after[k] for k in shown} == shown
    assert {k: change.before[k] for k in shown} == shown
    assert change.action is Action.NOOP and not the_plan.diagnostics, (change.operations, the_plan.diagnostics)


def test_a_manifest_without_the_new_fields_plans_hashes_and_serialises_as_before() -> None:
    plain = endpoint()
    # spec hashes and revisions computed by genaiops before issue 17 (commit 5e44a75)
    assert spec_hash(plain) == "e18ca8b8cbd8dc47"
    assert spec_hash(model()) == "00ccab34460c4be9"
    assert revision_of(plain.spec.deployments[0], model()) == "6804cc2a00ef"
    created = plan([model(), plain], Observed())
    change = the_endpoint(created)
    new_keys = {"autoscaling", "spot", "reservation", "explanation"}
    assert not new_keys & set(change.after["deployments"]["primary"])
    assert set(change.after) == {"displayName", "description", "labels", "deployments", "traffic"}
    written = [to_json(op) for op in change.operations]
    assert "settings" not in written[0] and not new_keys & set(written[1])
    bumped = plan(
        [model(), endpoint(deployments=[{"name": "primary", "model": "llm", "maxReplicas": 3}])], created_live()
    )
    mutate = [to_json(op) for op in the_endpoint(bumped).operations if isinstance(op, MutateDeployedModel)]
    assert mutate == [
        {
            "op": "MutateDeployedModel",
            "endpoint_id": "chat",
            "deployed_model_id": "1",
            "min_replicas": 1,
            "max_replicas": 3,
            "deployment": "primary",
        }
    ]
    assert "1 deployment(s) change replica counts in place" in the_endpoint(bumped).reasons


def created_live() -> Observed:
    return observed(live_like(endpoint()))


# -- autoscaling and container logging change in place -----------------------------------------------------
IN_PLACE = [
    pytest.param(
        {},
        {"autoscaling": {"cpuUtilization": 75}},
        {"autoscaling": ((CPU_UTILIZATION, 75),), "disable_container_logging": None},
        id="autoscaling-added",
    ),
    pytest.param(
        {"autoscaling": {"cpuUtilization": 75}},
        {"autoscaling": {"cpuUtilization": 60, "requestsPerReplica": 20}},
        {"autoscaling": ((CPU_UTILIZATION, 60), (REQUEST_COUNT, 20)), "disable_container_logging": None},
        id="autoscaling-changed",
    ),
    pytest.param(
        {**L4, "autoscaling": {"acceleratorDutyCycle": 70}},
        {**L4},
        {"autoscaling": (), "disable_container_logging": None},
        id="autoscaling-removed",
    ),
    pytest.param(
        {},
        {"disableContainerLogging": True},
        {"autoscaling": None, "disable_container_logging": True},
        id="container-logging",
    ),
]


@pytest.mark.parametrize(("live_fields", "wanted_fields", "mutation"), IN_PLACE)
def test_autoscaling_and_container_logging_change_in_place_never_as_a_new_deployment(
    live_fields: dict[str, Any], wanted_fields: dict[str, Any], mutation: dict[str, Any]
) -> None:
    before = endpoint(deployments=[{"name": "primary", "model": "llm", **live_fields}])
    after = endpoint(
        deployments=[{"name": "primary", "model": "llm", **wanted_fields}],
        rollout={"strategy": "canary", "stepWeight": 10},
    )
    change = the_endpoint(plan([model(), after], observed(live_like(before))))
    assert change.action is Action.UPDATE
    mutates = [op for op in change.operations if isinstance(op, MutateDeployedModel)]
    assert kinds(change.operations) == ["SetTraffic", "MutateDeployedModel"]  # labels: the spec hash changed
    assert len(mutates) == 1 and mutates[0].deployed_model_id == "1"
    assert {k: getattr(mutates[0], k) for k in mutation} == mutation
    assert "1 deployment(s) change replica counts, autoscaling targets or container logging in place" in change.reasons
    assert revision_of(before.spec.deployments[0], model()) == revision_of(after.spec.deployments[0], model())


def test_a_mutation_describes_the_autoscaling_targets_it_sets() -> None:
    op = MutateDeployedModel("chat", "1", 1, 3, "primary", ((ACCELERATOR_DUTY_CYCLE, 70), (CPU_UTILIZATION, 80)))
    assert describe(op) == (
        "set replicas of primary (deployed model 1) on chat to 1..3, autoscaling targets "
        "accelerator/duty_cycle=70, cpu/utilization=80"
    )
    off = MutateDeployedModel("chat", "1", 1, 1, "primary", (), disable_container_logging=False)
    assert describe(off).endswith("to 1..1, autoscaling targets Vertex AI defaults, container logging on")


# -- Spot, reservation and explanation: a new revision -----------------------------------------------------
DEPLOY_ONLY = [
    pytest.param({}, {"spot": True}, id="spot-on"),
    pytest.param({"spot": True}, {}, id="spot-off"),
    pytest.param({}, {"reservation": {"type": "any"}}, id="reservation"),
    pytest.param({"reservation": {"type": "any"}}, {"reservation": {"type": "none"}}, id="reservation-changed"),
    pytest.param({}, {"explanation": {"method": "integrated-gradients", "stepCount": 50}}, id="explanation"),
    pytest.param(
        {"explanation": {"method": "sampled-shapley", "pathCount": 5}},
        {"explanation": {"method": "sampled-shapley", "pathCount": 6}},
        id="explanation-changed",
    ),
]


@pytest.mark.parametrize(("live_fields", "wanted_fields"), DEPLOY_ONLY)
def test_a_deploy_only_change_is_a_new_revision_deployed_beside_the_old_one(
    live_fields: dict[str, Any], wanted_fields: dict[str, Any]
) -> None:
    before = endpoint(deployments=[{"name": "primary", "model": "llm", **live_fields}])
    after = endpoint(deployments=[{"name": "primary", "model": "llm", **wanted_fields}])
    assert revision_of(before.spec.deployments[0], model()) != revision_of(after.spec.deployments[0], model())
    change = the_endpoint(plan([model(), after], observed(live_like(before))))
    assert kinds(change.operations) == ["DeployModel", "SetTraffic", "UndeployModel"]
    deploy = change.operations[0]
    assert isinstance(deploy, DeployModel) and deploy.spec.spot == after.spec.deployments[0].spot
    traffic = change.operations[1]
    assert isinstance(traffic, SetTraffic) and traffic.split == {"new:primary": 100}
    assert not any(isinstance(op, MutateDeployedModel) for op in change.operations)


@pytest.mark.parametrize(("live_fields", "wanted_fields"), DEPLOY_ONLY)
def test_a_deploy_only_change_goes_through_the_canary_when_the_rollout_is_one(
    live_fields: dict[str, Any], wanted_fields: dict[str, Any]
) -> None:
    canary = {"strategy": "canary", "steps": [{"weight": 10, "pause": "1m"}, {"weight": 50, "pause": "1m"}]}
    before = endpoint(deployments=[{"name": "primary", "model": "llm", **live_fields}], rollout=canary)
    after = endpoint(deployments=[{"name": "primary", "model": "llm", **wanted_fields}], rollout=canary)
    change = the_endpoint(plan([model(), after], observed(live_like(before))))
    assert change.action is Action.ROLLOUT
    assert kinds(change.operations) == ["DeployModel", "StartRollout"]
    start = change.operations[1]
    assert isinstance(start, StartRollout)
    assert (start.stable_id, start.canary, start.weight) == ("1", "new:primary", 10)
    assert start.revision == revision_of(after.spec.deployments[0], model())


def test_the_deploy_op_carries_reservation_explanation_and_autoscaling_as_the_api_values() -> None:
    wanted = {
        "reservation": {"type": "specific", "key": "compute.googleapis.com/reservation-name", "values": ["r/1"]},
        "explanation": {"method": "xrai", "stepCount": 30, "topK": 2},
        "autoscaling": {"requestsPerReplica": 15},
    }
    created = plan([model(), endpoint(deployments=[{"name": "primary", "model": "llm", **wanted}])], Observed())
    deploy = next(op for op in the_endpoint(created).operations if isinstance(op, DeployModel))
    assert deploy.spec.spot is False
    assert deploy.spec.reservation == ReservationAffinity(
        "specific", "compute.googleapis.com/reservation-name", ("r/1",)
    )
    assert deploy.spec.explanation == ExplanationParameters("xrai", step_count=30, top_k=2)
    assert deploy.spec.autoscaling == ((REQUEST_COUNT, 15),)


def test_deployed_models_that_differ_only_in_autoscaling_are_the_same_revision() -> None:
    live = deployed("1")
    tuned = dataclasses.replace(live.spec, autoscaling=((CPU_UTILIZATION, 90),))
    assert live.spec.identity() == tuned.identity()
    assert live.spec.identity() != dataclasses.replace(live.spec, spot=True).identity()


# -- request-response logging: its own operation, after the traffic moved ---------------------------------
def test_a_logging_change_is_one_set_request_logging_after_the_traffic_update() -> None:
    before = endpoint()
    after = endpoint(
        deployments=[{"name": "primary", "model": "llm", "maxReplicas": 2}],
        requestResponseLogging={"samplingRate": 0.1, "bigqueryTable": TABLE},
    )
    change = the_endpoint(plan([model(), after], observed(live_like(before))))
    assert kinds(change.operations) == ["SetTraffic", "SetRequestLogging", "MutateDeployedModel"]
    assert change.operations[1] == SetRequestLogging("chat", RequestLogging(True, 0.1, TABLE))
    assert "request-response logging differs" in change.reasons
    assert describe(change.operations[1]) == f"log 0.1 of the requests of chat to {TABLE}"


LOGGING = [
    pytest.param(RequestLogging(True, 0.5, TABLE), {}, SetRequestLogging("chat", None), id="turned-off"),
    pytest.param(
        RequestLogging(True, 0.5, TABLE),
        {"requestResponseLogging": {"enabled": False}},
        SetRequestLogging("chat", None),
        id="disabled-in-the-manifest",
    ),
    pytest.param(
        RequestLogging(True, 0.5, TABLE),
        {"requestResponseLogging": {"samplingRate": 0.5}},
        SetRequestLogging("chat", RequestLogging(True, 0.5, "")),
        id="table-dropped",
    ),
    pytest.param(RequestLogging(False, 0.0, ""), {}, None, id="live-disabled-is-none"),
    pytest.param(
        RequestLogging(False, 0.3, TABLE), {"requestResponseLogging": {"enabled": False}}, None, id="both-off"
    ),
]


@pytest.mark.parametrize(("live", "fields", "wanted"), LOGGING)
def test_request_logging_is_compared_as_none_unless_enabled(
    live: RequestLogging, fields: dict[str, Any], wanted: SetRequestLogging | None
) -> None:
    manifest = endpoint(**fields)
    change = the_endpoint(plan([model(), manifest], observed(live_like(manifest, logging=live))))
    ops = [op for op in change.operations if isinstance(op, SetRequestLogging)]
    assert ops == ([wanted] if wanted else [])
    if wanted is not None and wanted.logging is None:
        assert describe(wanted) == "turn off request-response logging of chat"


def test_a_new_endpoint_is_created_with_its_settings_and_no_separate_logging_update() -> None:
    manifest = endpoint(
        requestResponseLogging={"samplingRate": 0.2, "bigqueryTable": TABLE},
        dedicated=True,
        encryption={"kmsKeyName": KEY},
    )
    change = the_endpoint(plan([model(), manifest], Observed()))
    assert kinds(change.operations) == ["CreateEndpoint", "DeployModel", "SetTraffic"]
    create = change.operations[0]
    assert isinstance(create, CreateEndpoint)
    assert create.settings == EndpointSettings(
        logging=RequestLogging(True, 0.2, TABLE), dedicated=True, kms_key_name=KEY
    )
    assert to_json(create)["settings"] == {
        "logging": {"enabled": True, "sampling_rate": 0.2, "bigquery_table": TABLE},
        "dedicated": True,
        "kms_key_name": KEY,
    }


# -- create-only settings on a live endpoint: a diagnostic, the rest still planned -------------------------
CREATE_ONLY = [
    pytest.param({}, {"dedicated": True}, "spec.dedicated", "off", "on", id="dedicated"),
    pytest.param({"network": NETWORK}, {}, "spec.network", NETWORK, "none", id="network-removed"),
    pytest.param(
        {"network": "projects/1/global/networks/a"},
        {"network": "projects/1/global/networks/b"},
        "spec.network",
        "projects/1/global/networks/a",
        "projects/1/global/networks/b",
        id="network-changed",
    ),
    pytest.param(
        {"private_service_connect": True, "psc_project_allowlist": ("a-proj",)},
        {"privateServiceConnect": {"projectAllowlist": ["a-proj", "b-proj"]}},
        "spec.privateServiceConnect",
        "on (allowing a-proj)",
        "on (allowing a-proj, b-proj)",
        id="psc-allowlist",
    ),
    pytest.param({}, {"encryption": {"kmsKeyName": KEY}}, "spec.encryption.kmsKeyName", "none", KEY, id="cmek"),
]


@pytest.mark.parametrize(("live_settings", "fields", "path", "live_value", "wanted_value"), CREATE_ONLY)
def test_a_create_only_change_is_a_diagnostic_and_the_rest_of_the_change_is_still_planned(
    live_settings: dict[str, Any], fields: dict[str, Any], path: str, live_value: str, wanted_value: str
) -> None:
    live = live_like(endpoint(), **live_settings)
    manifest = endpoint(deployments=[{"name": "primary", "model": "llm", "maxReplicas": 4}], **fields)
    the_plan = plan([model(), manifest], observed(live))
    [problem] = the_plan.diagnostics
    assert problem.path == path
    assert f"is {live_value}, the manifest asks for {wanted_value}" in problem.summary
    assert "only when an endpoint is created (CreateEndpoint)" in problem.summary
    assert "new Endpoint under another name" in problem.detail and "move the traffic" in problem.detail
    change = the_endpoint(the_plan)
    assert kinds(change.operations) == ["SetTraffic", "MutateDeployedModel"]  # labels and replicas, nothing else
    assert not any(isinstance(op, CreateEndpoint | DeployModel) for op in change.operations)


def test_a_create_only_difference_alone_plans_no_operation_but_still_reports_it() -> None:
    manifest = endpoint(network=NETWORK)
    live = live_like(manifest)  # labelled with the manifest's hash, but made without the network
    the_plan = plan([model(), manifest], observed(live))
    assert the_endpoint(the_plan).operations == ()
    assert [d.path for d in the_plan.diagnostics] == ["spec.network"]
    assert json.dumps([d.to_json() for d in the_plan.diagnostics])  # plain data, for --output json

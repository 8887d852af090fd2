"""Conformance: the rest of the Vertex AI serving spec -- request-response logging, dedicated endpoints,
VPC network, Private Service Connect and CMEK on an Endpoint; autoscaling metrics, Spot, reservation
affinity and explanation parameters on a DeployedModel -- through the real aiplatform_v1 gapic clients over
gRPC and over REST, and the high-level SDK.

Over REST an INVALID_ARGUMENT arrives as `BadRequest` (its parent class), so the shared tests expect that.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform import initializer
from google.protobuf import field_mask_pb2

from controller.emulator.server import Emulator, running
from controller.emulator.vertex.convert import project_number
from tests.emulator.conftest import Vertex, rest_client

CPU = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
DUTY = "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"
REQUESTS = "aiplatform.googleapis.com/prediction/online/request_count"
GPU = {"machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_L4", "accelerator_count": 1}
CPU_ONLY = {"machine_type": "n1-standard-4"}
RESERVATION = "projects/local-project/zones/us-central1-a/reservations/l4-pool"
KMS_KEY = "projects/local-project/locations/us-central1/keyRings/ring/cryptoKeys/key"
NETWORK = "projects/123456789/global/networks/serving"
LOGGING = {"enabled": True, "sampling_rate": 0.25, "bigquery_destination": {"output_uri": "bq://proj.logs.chat"}}


@pytest.fixture(params=["grpc", "rest"])
def cloud(request: pytest.FixtureRequest) -> Iterator[Vertex]:
    """A fresh emulator reached by the real gapic clients over gRPC, then over REST."""
    with running(storage_port=None) as emu:
        if request.param == "grpc":
            yield Vertex(emu, emu.endpoint_client(), emu.model_client(), emu.prediction_client())
        else:
            endpoints = rest_client(emu, v1.EndpointServiceClient)
            models = rest_client(emu, v1.ModelServiceClient)
            yield Vertex(emu, endpoints, models, rest_client(emu, v1.PredictionServiceClient))


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def serving_endpoint(vx: Vertex, endpoint_id: str = "chat") -> Any:
    return vx.create_endpoint(
        endpoint_id,
        predict_request_response_logging_config=LOGGING,
        dedicated_endpoint_enabled=True,
        private_service_connect_config={"enable_private_service_connect": True, "project_allowlist": ["team-a"]},
        encryption_spec={"kms_key_name": KMS_KEY},
    )


def deploy(vx: Vertex, endpoint: str, *, machine: dict[str, Any], **resources: Any) -> Any:
    """Deploy a fresh model version with the given machine spec and extra dedicated_resources / fields."""
    fields = {k: resources.pop(k) for k in ("explanation_spec",) if k in resources}
    dedicated = {"machine_spec": machine, "min_replica_count": 1, "max_replica_count": 3, **resources}
    model = vx.upload(f"m{len(vx.models.list_models(parent=vx.parent).models)}").model
    deployed = v1.DeployedModel(model=model, dedicated_resources=dedicated, **fields)
    op = vx.endpoints.deploy_model(endpoint=endpoint, deployed_model=deployed, traffic_split={"0": 100})
    return op.result(timeout=10).deployed_model


# -- read back ----------------------------------------------------------------------------------------------
def test_an_endpoint_created_with_every_serving_field_reads_them_back_from_get_and_list(cloud: Vertex) -> None:
    created = serving_endpoint(cloud)
    peered = cloud.create_endpoint("peered", network=NETWORK)
    listed = {e.name: e for e in cloud.endpoints.list_endpoints(parent=cloud.parent)}
    for got in (cloud.endpoints.get_endpoint(name=created.name), listed[created.name], created):
        logging = got.predict_request_response_logging_config
        assert (logging.enabled, logging.sampling_rate) == (True, 0.25)
        assert logging.bigquery_destination.output_uri == "bq://proj.logs.chat"
        assert got.dedicated_endpoint_enabled
        assert got.private_service_connect_config.enable_private_service_connect
        assert list(got.private_service_connect_config.project_allowlist) == ["team-a"]
        assert got.encryption_spec.kms_key_name == KMS_KEY
    assert cloud.endpoints.get_endpoint(name=peered.name).network == NETWORK
    assert listed[peered.name].network == NETWORK
    assert not listed[peered.name].dedicated_endpoint_dns


def test_a_dedicated_endpoint_gets_a_dns_name_of_its_id_region_and_project_number(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat", dedicated_endpoint_enabled=True)
    number = project_number("local-project")
    assert re.fullmatch(r"[1-9][0-9]{11}", number)
    assert endpoint.dedicated_endpoint_dns == f"chat.us-central1-{number}.prediction.vertexai.goog"
    assert vx.endpoints.get_endpoint(name=endpoint.name).dedicated_endpoint_dns == endpoint.dedicated_endpoint_dns


def test_output_only_fields_a_client_sends_are_ignored(vx: Vertex) -> None:
    endpoint = vx.create_endpoint(
        "chat",
        dedicated_endpoint_dns="evil.example.com",
        private_service_connect_config={"enable_private_service_connect": True, "service_attachment": "sa"},
    )
    got = vx.endpoints.get_endpoint(name=endpoint.name)
    assert (got.dedicated_endpoint_dns, got.private_service_connect_config.service_attachment) == ("", "")


def test_a_deployment_keeps_autoscaling_spot_reservation_and_explanation(cloud: Vertex) -> None:
    endpoint = cloud.create_endpoint("chat")
    machine = {
        **GPU,
        "reservation_affinity": {
            "reservation_affinity_type": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": [RESERVATION],
        },
    }
    specs = [
        {"metric_name": CPU, "target": 70},
        {"metric_name": DUTY, "target": 80},
        {"metric_name": REQUESTS, "target": 500},
    ]
    explanation = {
        "parameters": {"xrai_attribution": {"step_count": 50, "smooth_grad_config": {"noisy_sample_count": 5}}}
    }
    deploy(
        cloud, endpoint.name, machine=machine, autoscaling_metric_specs=specs, spot=True, explanation_spec=explanation
    )
    got = cloud.endpoints.get_endpoint(name=endpoint.name).deployed_models[0]
    resources = got.dedicated_resources
    assert [(s.metric_name, s.target) for s in resources.autoscaling_metric_specs] == [
        (CPU, 70),
        (DUTY, 80),
        (REQUESTS, 500),
    ]
    assert resources.spot
    affinity = resources.machine_spec.reservation_affinity
    assert affinity.reservation_affinity_type == v1.ReservationAffinity.Type.SPECIFIC_RESERVATION
    assert (affinity.key, list(affinity.values)) == ("compute.googleapis.com/reservation-name", [RESERVATION])
    xrai = got.explanation_spec.parameters.xrai_attribution
    assert (xrai.step_count, xrai.smooth_grad_config.noisy_sample_count) == (50, 5)


def test_any_and_no_reservation_need_no_key_or_values(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    for kind in ("ANY_RESERVATION", "NO_RESERVATION"):
        machine = {**CPU_ONLY, "reservation_affinity": {"reservation_affinity_type": kind}}
        deploy(vx, endpoint.name, machine=machine)
    kinds = [
        d.dedicated_resources.machine_spec.reservation_affinity.reservation_affinity_type.name
        for d in vx.endpoints.get_endpoint(name=endpoint.name).deployed_models
    ]
    assert kinds == ["ANY_RESERVATION", "NO_RESERVATION"]


# -- UpdateEndpoint -------------------------------------------------------------------------------------------
def test_the_logging_config_is_updated_through_the_mask_and_read_back(cloud: Vertex) -> None:
    endpoint = cloud.create_endpoint("chat", labels={"team": "a"})
    change = v1.Endpoint(name=endpoint.name, predict_request_response_logging_config=LOGGING)
    updated = cloud.endpoints.update_endpoint(
        endpoint=change, update_mask=mask("predict_request_response_logging_config")
    )
    assert updated.predict_request_response_logging_config.sampling_rate == 0.25
    assert updated.etag != endpoint.etag and dict(updated.labels) == {"team": "a"}
    rate_only = v1.Endpoint(name=endpoint.name, predict_request_response_logging_config={"sampling_rate": 0.5})
    path = "predict_request_response_logging_config.sampling_rate"
    cloud.endpoints.update_endpoint(endpoint=rate_only, update_mask=mask(path))
    logging = cloud.endpoints.get_endpoint(name=endpoint.name).predict_request_response_logging_config
    assert (logging.enabled, logging.sampling_rate) == (True, 0.5)
    assert logging.bigquery_destination.output_uri == "bq://proj.logs.chat"


def test_a_mask_naming_the_logging_config_without_a_value_removes_it(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat", predict_request_response_logging_config=LOGGING)
    cleared = vx.endpoints.update_endpoint(
        endpoint=v1.Endpoint(name=endpoint.name), update_mask=mask("predict_request_response_logging_config")
    )
    assert "predict_request_response_logging_config" not in cleared


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("network", {"network": NETWORK}),
        ("encryption_spec", {"encryption_spec": {"kms_key_name": KMS_KEY}}),
        (
            "private_service_connect_config",
            {"private_service_connect_config": {"enable_private_service_connect": True}},
        ),
        (
            "private_service_connect_config.project_allowlist",
            {"private_service_connect_config": {"project_allowlist": ["b"]}},
        ),
        ("enable_private_service_connect", {"enable_private_service_connect": True}),
        ("dedicated_endpoint_enabled", {"dedicated_endpoint_enabled": True}),
    ],
)
def test_an_update_naming_a_create_only_field_is_refused(cloud: Vertex, path: str, value: dict[str, Any]) -> None:
    endpoint = cloud.create_endpoint("chat")
    top = path.split(".", maxsplit=1)[0]
    with pytest.raises(exceptions.BadRequest, match=rf"endpoint\.{top} cannot be updated"):
        cloud.endpoints.update_endpoint(endpoint=v1.Endpoint(name=endpoint.name, **value), update_mask=mask(path))
    got = cloud.endpoints.get_endpoint(name=endpoint.name)
    assert got.etag == endpoint.etag and not got.network and not got.dedicated_endpoint_enabled


def test_an_update_refuses_an_invalid_logging_config_and_an_unknown_sub_path(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat", predict_request_response_logging_config=LOGGING)
    bad = v1.Endpoint(name=endpoint.name, predict_request_response_logging_config={**LOGGING, "sampling_rate": 1.5})
    with pytest.raises(exceptions.InvalidArgument, match=r"predict_request_response_logging_config\.sampling_rate"):
        vx.endpoints.update_endpoint(endpoint=bad, update_mask=mask("predict_request_response_logging_config"))
    with pytest.raises(exceptions.InvalidArgument, match=r"predict_request_response_logging_config\.no_such"):
        vx.endpoints.update_endpoint(
            endpoint=v1.Endpoint(name=endpoint.name),
            update_mask=mask("predict_request_response_logging_config.no_such"),
        )
    assert vx.endpoints.get_endpoint(name=endpoint.name).predict_request_response_logging_config.sampling_rate == 0.25


# -- invalid values ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"predict_request_response_logging_config": {**LOGGING, "sampling_rate": 1.01}}, "sampling_rate"),
        ({"predict_request_response_logging_config": {**LOGGING, "sampling_rate": -0.1}}, "sampling_rate"),
        (
            {
                "predict_request_response_logging_config": {
                    "enabled": True,
                    "bigquery_destination": {"output_uri": "gs://b/t"},
                }
            },
            "bigquery_destination.output_uri",
        ),
        ({"network": "projects/my-project/global/networks/serving"}, "endpoint.network"),
        ({"network": "serving"}, "endpoint.network"),
        (
            {"network": NETWORK, "private_service_connect_config": {"enable_private_service_connect": True}},
            "mutually exclusive",
        ),
        ({"network": NETWORK, "enable_private_service_connect": True}, "mutually exclusive"),
        ({"encryption_spec": {}}, "kms_key_name is required"),
        ({"encryption_spec": {"kms_key_name": "my-key"}}, "encryption_spec.kms_key_name"),
        (
            {"encryption_spec": {"kms_key_name": KMS_KEY.replace("us-central1", "europe-west4")}},
            "must be in the Endpoint's region us-central1",
        ),
    ],
)
def test_create_refuses_an_invalid_serving_field_naming_it(cloud: Vertex, fields: dict[str, Any], named: str) -> None:
    with pytest.raises(exceptions.BadRequest, match=re.escape(named)):
        cloud.create_endpoint("chat", **fields)
    assert not list(cloud.endpoints.list_endpoints(parent=cloud.parent))


def test_create_accepts_a_logging_config_without_rate_or_table_as_the_sdk_sends_it(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat", predict_request_response_logging_config={"enabled": True})
    assert endpoint.predict_request_response_logging_config.enabled


def _specific(**affinity: Any) -> dict[str, Any]:
    return {**CPU_ONLY, "reservation_affinity": {"reservation_affinity_type": "SPECIFIC_RESERVATION", **affinity}}


NAME_KEY = "compute.googleapis.com/reservation-name"


@pytest.mark.parametrize(
    ("machine", "resources", "named"),
    [
        (
            CPU_ONLY,
            {"autoscaling_metric_specs": [{"metric_name": "cpu", "target": 60}]},
            "autoscaling_metric_specs[0].metric_name",
        ),
        (CPU_ONLY, {"autoscaling_metric_specs": [{"target": 60}]}, "autoscaling_metric_specs[0].metric_name"),
        (
            CPU_ONLY,
            {"autoscaling_metric_specs": [{"metric_name": CPU, "target": 101}]},
            "autoscaling_metric_specs[0].target",
        ),
        (
            CPU_ONLY,
            {"autoscaling_metric_specs": [{"metric_name": CPU, "target": -1}]},
            "autoscaling_metric_specs[0].target",
        ),
        (
            GPU,
            {"autoscaling_metric_specs": [{"metric_name": DUTY, "target": 150}]},
            "autoscaling_metric_specs[0].target",
        ),
        (
            CPU_ONLY,
            {"autoscaling_metric_specs": [{"metric_name": REQUESTS, "target": -5}]},
            "autoscaling_metric_specs[0].target",
        ),
        (
            CPU_ONLY,
            {"autoscaling_metric_specs": [{"metric_name": CPU, "target": 60}, {"metric_name": CPU, "target": 70}]},
            "autoscaling_metric_specs[1]",
        ),
        (
            CPU_ONLY,
            {"autoscaling_metric_specs": [{"metric_name": DUTY, "target": 60}]},
            "needs a machine_spec with accelerators",
        ),
        ({**CPU_ONLY, "reservation_affinity": {"key": NAME_KEY}}, {}, "reservation_affinity.reservation_affinity_type"),
        (_specific(), {}, "reservation_affinity: SPECIFIC_RESERVATION needs a key"),
        (_specific(key=NAME_KEY), {}, "reservation_affinity: SPECIFIC_RESERVATION needs a key"),
        (_specific(values=[RESERVATION]), {}, "reservation_affinity: SPECIFIC_RESERVATION needs a key"),
        (_specific(key=NAME_KEY, values=["l4-pool"]), {}, "reservation_affinity.values[0]"),
    ],
)
def test_deploy_refuses_invalid_autoscaling_and_reservation_naming_the_field(
    cloud: Vertex, machine: dict[str, Any], resources: dict[str, Any], named: str
) -> None:
    endpoint = cloud.create_endpoint("chat")
    with pytest.raises(exceptions.BadRequest, match=re.escape(named)):
        deploy(cloud, endpoint.name, machine=machine, **resources)
    assert not cloud.endpoints.get_endpoint(name=endpoint.name).deployed_models


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"sampled_shapley_attribution": {"path_count": 0}}, "sampled_shapley_attribution.path_count 0"),
        ({"sampled_shapley_attribution": {"path_count": 51}}, "sampled_shapley_attribution.path_count 51"),
        ({"integrated_gradients_attribution": {"step_count": 101}}, "integrated_gradients_attribution.step_count"),
        ({"integrated_gradients_attribution": {}}, "integrated_gradients_attribution.step_count 0"),
        ({"xrai_attribution": {"step_count": 0}}, "xrai_attribution.step_count"),
        (
            {"xrai_attribution": {"step_count": 50, "smooth_grad_config": {"noisy_sample_count": 51}}},
            "xrai_attribution.smooth_grad_config.noisy_sample_count",
        ),
    ],
)
def test_deploy_refuses_explanation_parameters_out_of_their_documented_range(
    cloud: Vertex, parameters: dict[str, Any], named: str
) -> None:
    endpoint = cloud.create_endpoint("chat")
    with pytest.raises(exceptions.BadRequest, match=re.escape(f"explanation_spec.parameters.{named}")):
        deploy(cloud, endpoint.name, machine=CPU_ONLY, explanation_spec={"parameters": parameters})


def test_deploy_accepts_the_bounds_of_each_documented_range(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    for parameters in (
        {"sampled_shapley_attribution": {"path_count": 1}},
        {"sampled_shapley_attribution": {"path_count": 50}},
        {"integrated_gradients_attribution": {"step_count": 100}},
        {"xrai_attribution": {"step_count": 1}},
    ):
        deploy(vx, endpoint.name, machine=CPU_ONLY, explanation_spec={"parameters": parameters})
    specs = [
        {"metric_name": CPU, "target": 1},
        {"metric_name": DUTY, "target": 100},
        {"metric_name": REQUESTS, "target": 10_000},
    ]
    deploy(vx, endpoint.name, machine=GPU, autoscaling_metric_specs=specs)
    assert len(vx.endpoints.get_endpoint(name=endpoint.name).deployed_models) == 5


# -- MutateDeployedModel --------------------------------------------------------------------------------------
AUTOSCALING = mask("dedicated_resources.autoscaling_metric_specs")


def test_autoscaling_is_mutated_in_place_replacing_the_old_targets(cloud: Vertex) -> None:
    endpoint = cloud.create_endpoint("chat")
    first = deploy(cloud, endpoint.name, machine=GPU, autoscaling_metric_specs=[{"metric_name": CPU, "target": 70}])
    specs = [{"metric_name": DUTY, "target": 50}, {"metric_name": REQUESTS, "target": 200}]
    change = v1.DeployedModel(id=first.id, dedicated_resources={"autoscaling_metric_specs": specs})
    op = cloud.endpoints.mutate_deployed_model(endpoint=endpoint.name, deployed_model=change, update_mask=AUTOSCALING)
    op.result(timeout=10)
    got = cloud.endpoints.get_endpoint(name=endpoint.name).deployed_models[0]
    assert got.id == first.id
    assert [(s.metric_name, s.target) for s in got.dedicated_resources.autoscaling_metric_specs] == [
        (DUTY, 50),
        (REQUESTS, 200),
    ]
    assert got.dedicated_resources.machine_spec.accelerator_count == 1


def test_mutate_refuses_invalid_autoscaling_and_keeps_the_old_targets(cloud: Vertex) -> None:
    endpoint = cloud.create_endpoint("chat")
    first = deploy(
        cloud, endpoint.name, machine=CPU_ONLY, autoscaling_metric_specs=[{"metric_name": CPU, "target": 70}]
    )
    for specs, named in (
        ([{"metric_name": DUTY, "target": 60}], "needs a machine_spec with accelerators"),
        ([{"metric_name": CPU, "target": 0}, {"metric_name": CPU, "target": 90}], "autoscaling_metric_specs[1]"),
        ([{"metric_name": "memory", "target": 50}], "autoscaling_metric_specs[0].metric_name"),
    ):
        change = v1.DeployedModel(id=first.id, dedicated_resources={"autoscaling_metric_specs": specs})
        with pytest.raises(exceptions.BadRequest, match=re.escape(named)):
            cloud.endpoints.mutate_deployed_model(
                endpoint=endpoint.name, deployed_model=change, update_mask=AUTOSCALING
            )
    got = cloud.endpoints.get_endpoint(name=endpoint.name).deployed_models[0].dedicated_resources
    assert [(s.metric_name, s.target) for s in got.autoscaling_metric_specs] == [(CPU, 70)]


def test_mutate_refuses_dedicated_paths_on_an_automatically_resourced_model(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    deployed = v1.DeployedModel(model=vx.upload("auto").model, automatic_resources={"min_replica_count": 1})
    first = vx.endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed).result(timeout=10).deployed_model
    change = v1.DeployedModel(id=first.id, dedicated_resources={"autoscaling_metric_specs": [{"metric_name": CPU}]})
    with pytest.raises(exceptions.InvalidArgument, match="deployed with automatic_resources"):
        vx.endpoints.mutate_deployed_model(endpoint=endpoint.name, deployed_model=change, update_mask=AUTOSCALING)


# -- persistence and the SDK ---------------------------------------------------------------------------------
def test_the_state_file_keeps_every_serving_field_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "cloud.json"
    with running(state_path=state, rest_port=None, storage_port=None) as first:
        vx = Vertex(first, first.endpoint_client(), first.model_client(), first.prediction_client())
        endpoint = serving_endpoint(vx)
        specs = [{"metric_name": DUTY, "target": 75}]
        machine = {**GPU, "reservation_affinity": {"reservation_affinity_type": "ANY_RESERVATION"}}
        explanation = {"parameters": {"sampled_shapley_attribution": {"path_count": 10}}}
        deploy(
            vx, endpoint.name, machine=machine, autoscaling_metric_specs=specs, spot=True, explanation_spec=explanation
        )
        before = vx.endpoints.get_endpoint(name=endpoint.name)
    with running(state_path=state, rest_port=None, storage_port=None, seed=9) as second:
        after = second.endpoint_client().get_endpoint(name=endpoint.name)
    assert v1.Endpoint.to_dict(after) == v1.Endpoint.to_dict(before)
    assert after.dedicated_endpoint_dns and after.encryption_spec.kms_key_name == KMS_KEY
    resources = after.deployed_models[0].dedicated_resources
    assert (resources.spot, resources.autoscaling_metric_specs[0].target) == (True, 75)
    assert after.deployed_models[0].explanation_spec.parameters.sampled_shapley_attribution.path_count == 10


@pytest.fixture
def sdk() -> Iterator[tuple[Any, Emulator]]:
    """The high-level SDK over REST on a fresh emulator (aiplatform.init is global: reset after)."""
    with running(storage_port=None) as emu:
        aiplatform.init(
            project=emu.project,
            location=emu.location,
            api_endpoint=emu.rest_endpoint,
            api_transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
        try:
            yield aiplatform, emu
        finally:
            config: Any = initializer.global_config
            config.__init__()


def test_the_sdk_creates_a_dedicated_endpoint_with_logging_and_reads_its_dns(sdk: tuple[Any, Emulator]) -> None:
    ai, emu = sdk
    endpoint = ai.Endpoint.create(
        display_name="chat",
        endpoint_id="chat",
        dedicated_endpoint_enabled=True,
        enable_request_response_logging=True,
    )
    assert endpoint.dedicated_endpoint_enabled
    number = project_number(emu.project)
    assert endpoint.dedicated_endpoint_dns == f"chat.{emu.location}-{number}.prediction.vertexai.goog"
    logging = ai.Endpoint("chat").gca_resource.predict_request_response_logging_config
    assert (logging.enabled, logging.sampling_rate, logging.bigquery_destination.output_uri) == (True, 0.0, "")

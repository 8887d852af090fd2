"""Conformance: deployments, traffic splits and long-running operations through the real gapic clients."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from google.api_core import exceptions
from google.api_core.future.polling import DEFAULT_POLLING
from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2

from controller.emulator.server import running
from tests.emulator.conftest import MACHINE, Vertex


def split_update(vx: Vertex, endpoint: Any, split: dict[str, int]) -> Any:
    change = v1.Endpoint(name=endpoint.name, traffic_split=split)
    return vx.endpoints.update_endpoint(endpoint=change, update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]))


def test_deploy_with_key_zero_gives_the_new_model_its_share(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    model = vx.upload("llm").model
    first = vx.deploy(endpoint.name, model, {"0": 100})
    second = vx.deploy(endpoint.name, f"{model}@1", {first: 90, "0": 10})
    got = vx.endpoints.get_endpoint(name=endpoint.name)
    assert dict(got.traffic_split) == {first: 90, second: 10}
    assert [d.id for d in got.deployed_models] == [first, second]
    assert all(d.id.isdigit() and 1 <= len(d.id) <= 10 for d in got.deployed_models)
    assert got.deployed_models[1].model == model and got.deployed_models[1].model_version_id == "1"
    assert got.deployed_models[0].dedicated_resources.machine_spec.machine_type == "n1-standard-4"


def test_deploy_without_a_split_leaves_the_split_unchanged(vx: Vertex) -> None:
    endpoint, (first,) = vx.endpoint_with_models(count=1)
    vx.deploy(endpoint.name, vx.upload("other").model)
    assert dict(vx.endpoints.get_endpoint(name=endpoint.name).traffic_split) == {first: 100}


def test_deploy_with_a_split_not_summing_to_100_is_rejected(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    with pytest.raises(exceptions.InvalidArgument):
        vx.deploy(endpoint.name, vx.upload("llm").model, {"0": 90})
    assert not vx.endpoints.get_endpoint(name=endpoint.name).deployed_models


def test_deploy_with_a_split_naming_an_unknown_model_is_rejected(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    with pytest.raises(exceptions.InvalidArgument):
        vx.deploy(endpoint.name, vx.upload("llm").model, {"0": 50, "12345": 50})


def test_deploy_of_an_unknown_model_or_to_an_unknown_endpoint_is_not_found(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    with pytest.raises(exceptions.NotFound):
        vx.deploy(endpoint.name, f"{vx.parent}/models/nope")
    with pytest.raises(exceptions.NotFound):
        vx.deploy(f"{vx.parent}/endpoints/nope", vx.upload("llm").model)


def test_deploy_without_resources_or_with_zero_replicas_is_rejected(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    model = vx.upload("llm").model
    for deployed in (
        v1.DeployedModel(model=model),
        v1.DeployedModel(model=model, dedicated_resources={**MACHINE, "min_replica_count": 0}),
    ):
        with pytest.raises(exceptions.InvalidArgument):
            vx.endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed)


@pytest.mark.parametrize(
    ("machine_spec", "fragment"),
    [
        ({"machine_type": "g2-standard-7"}, "did you mean 'g2-standard-8'?"),
        ({"machine_type": "g2-standard-8"}, "g2-standard-8 comes with 1 NVIDIA_L4"),
        (
            {"machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1},
            "not NVIDIA_TESLA_T4",
        ),
        (
            {"machine_type": "g2-standard-24", "accelerator_type": "NVIDIA_L4", "accelerator_count": 1},
            "takes 2 NVIDIA_L4",
        ),
        ({"machine_type": "n1-standard-4", "accelerator_type": "TPU_V2", "accelerator_count": 1}, "not offered"),
    ],
)
def test_deploy_refuses_what_the_catalogue_refuses_with_the_same_message(
    vx: Vertex, machine_spec: dict[str, Any], fragment: str
) -> None:
    endpoint = vx.create_endpoint("chat")
    resources = {"machine_spec": machine_spec, "min_replica_count": 1}
    deployed = v1.DeployedModel(model=vx.upload("llm").model, dedicated_resources=resources)
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(fragment)):
        vx.endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed)


def test_deploy_accepts_a_gpu_machine_with_the_accelerators_it_comes_with(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    spec = {"machine_type": "g2-standard-24", "accelerator_type": "NVIDIA_L4", "accelerator_count": 2}
    deployed = v1.DeployedModel(
        model=vx.upload("llm").model, dedicated_resources={"machine_spec": spec, "min_replica_count": 1}
    )
    vx.endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed).result(timeout=10)
    got = vx.endpoints.get_endpoint(name=endpoint.name).deployed_models[0].dedicated_resources.machine_spec
    assert (got.machine_type, got.accelerator_type.name, got.accelerator_count) == ("g2-standard-24", "NVIDIA_L4", 2)


def test_a_caller_chosen_deployed_model_id_is_kept_and_must_be_unique(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    model = vx.upload("llm").model
    assert vx.deploy(endpoint.name, model, {"0": 100}, id="42") == "42"
    with pytest.raises(exceptions.AlreadyExists):
        vx.deploy(endpoint.name, model, id="42")
    with pytest.raises(exceptions.InvalidArgument):
        vx.deploy(endpoint.name, model, id="12345678901")


def test_update_split_must_sum_to_100_and_name_deployed_models(vx: Vertex) -> None:
    endpoint, (a, b) = vx.endpoint_with_models(count=2)
    for bad in ({a: 50, b: 40}, {a: 50, "999": 50}, {a: 110, b: -10}):
        with pytest.raises(exceptions.InvalidArgument):
            split_update(vx, endpoint, bad)
    assert dict(split_update(vx, endpoint, {a: 30, b: 70}).traffic_split) == {a: 30, b: 70}
    assert dict(split_update(vx, endpoint, {}).traffic_split) == {}


def test_undeploy_with_traffic_is_rejected(vx: Vertex) -> None:
    endpoint, (a, _) = vx.endpoint_with_models(count=2)
    with pytest.raises(exceptions.FailedPrecondition):
        vx.endpoints.undeploy_model(endpoint=endpoint.name, deployed_model_id=a)
    assert len(vx.endpoints.get_endpoint(name=endpoint.name).deployed_models) == 2


def test_undeploy_succeeds_when_the_request_split_moves_the_traffic_away(vx: Vertex) -> None:
    endpoint, (a, b) = vx.endpoint_with_models(count=2)
    vx.endpoints.undeploy_model(endpoint=endpoint.name, deployed_model_id=a, traffic_split={b: 100}).result()
    got = vx.endpoints.get_endpoint(name=endpoint.name)
    assert ([d.id for d in got.deployed_models], dict(got.traffic_split)) == ([b], {b: 100})


def test_undeploy_request_split_must_not_keep_the_undeployed_model(vx: Vertex) -> None:
    endpoint, (a, b) = vx.endpoint_with_models(count=2)
    with pytest.raises(exceptions.InvalidArgument):
        vx.endpoints.undeploy_model(endpoint=endpoint.name, deployed_model_id=a, traffic_split={a: 50, b: 50})


def test_undeploy_of_a_model_without_traffic_keeps_the_split(vx: Vertex) -> None:
    endpoint, (a, b) = vx.endpoint_with_models(count=2)
    vx.endpoints.undeploy_model(endpoint=endpoint.name, deployed_model_id=b).result()
    assert dict(vx.endpoints.get_endpoint(name=endpoint.name).traffic_split) == {a: 100}


def test_undeploying_the_last_model_empties_the_split(vx: Vertex) -> None:
    endpoint, (a,) = vx.endpoint_with_models(count=1)
    vx.endpoints.undeploy_model(endpoint=endpoint.name, deployed_model_id=a).result()
    got = vx.endpoints.get_endpoint(name=endpoint.name)
    assert (list(got.deployed_models), dict(got.traffic_split)) == ([], {})


def test_undeploy_of_an_unknown_deployed_model_is_not_found(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    with pytest.raises(exceptions.NotFound):
        vx.endpoints.undeploy_model(endpoint=endpoint.name, deployed_model_id="1")


def test_every_mutation_changes_the_etag(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    etags = [endpoint.etag]
    deployed = vx.deploy(endpoint.name, vx.upload("llm").model, {"0": 100})
    etags.append(vx.endpoints.get_endpoint(name=endpoint.name).etag)
    vx.endpoints.undeploy_model(endpoint=endpoint.name, deployed_model_id=deployed).result()
    etags.append(vx.endpoints.get_endpoint(name=endpoint.name).etag)
    assert len(set(etags)) == 3


def test_delete_endpoint_with_deployed_models_is_refused(vx: Vertex) -> None:
    endpoint, _ = vx.endpoint_with_models(count=1)
    with pytest.raises(exceptions.FailedPrecondition):
        vx.endpoints.delete_endpoint(name=endpoint.name)


def test_mutate_changes_replica_counts_in_place(vx: Vertex) -> None:
    endpoint, (a,) = vx.endpoint_with_models(count=1)
    change = v1.DeployedModel(id=a, dedicated_resources={"min_replica_count": 2, "max_replica_count": 5})
    mask = field_mask_pb2.FieldMask(
        paths=["dedicated_resources.min_replica_count", "dedicated_resources.max_replica_count"]
    )
    op = vx.endpoints.mutate_deployed_model(endpoint=endpoint.name, deployed_model=change, update_mask=mask)
    assert op.result().deployed_model.dedicated_resources.max_replica_count == 5
    got = vx.endpoints.get_endpoint(name=endpoint.name).deployed_models[0]
    assert (got.id, got.dedicated_resources.min_replica_count) == (a, 2)
    assert got.dedicated_resources.machine_spec.machine_type == "n1-standard-4"


def test_mutate_refuses_the_machine_type_and_bad_replica_counts(vx: Vertex) -> None:
    endpoint, (a,) = vx.endpoint_with_models(count=1)
    machine = field_mask_pb2.FieldMask(paths=["dedicated_resources.machine_spec"])
    change = v1.DeployedModel(id=a, dedicated_resources={"machine_spec": {"machine_type": "n1-highmem-8"}})
    with pytest.raises(exceptions.InvalidArgument):
        vx.endpoints.mutate_deployed_model(endpoint=endpoint.name, deployed_model=change, update_mask=machine)
    shrink = v1.DeployedModel(id=a, dedicated_resources={"max_replica_count": 0, "min_replica_count": 3})
    mins = field_mask_pb2.FieldMask(paths=["dedicated_resources.min_replica_count"])
    with pytest.raises(exceptions.InvalidArgument):
        vx.endpoints.mutate_deployed_model(endpoint=endpoint.name, deployed_model=shrink, update_mask=mins)


FAST = DEFAULT_POLLING.with_delay(initial=0.02, maximum=0.05, multiplier=1.5)


def test_a_pending_deploy_takes_effect_only_when_the_operation_completes() -> None:
    with running(rest_port=None, storage_port=None, lro_delay_s={"DeployModel": 0.5}) as emu:
        vx = Vertex(emu, emu.endpoint_client(), emu.model_client(), emu.prediction_client())
        endpoint = vx.create_endpoint("chat")
        model = vx.upload("llm").model
        deployed = v1.DeployedModel(model=model, dedicated_resources=MACHINE)
        started = time.monotonic()
        op = vx.endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed, traffic_split={"0": 100})
        assert not op.done()
        assert not vx.endpoints.get_endpoint(name=endpoint.name).deployed_models
        response = op.result(timeout=10, polling=FAST)
        assert time.monotonic() - started >= 0.5
        assert isinstance(op.metadata, v1.DeployModelOperationMetadata)
        got = vx.endpoints.get_endpoint(name=endpoint.name)
        assert dict(got.traffic_split) == {response.deployed_model.id: 100}


def test_a_pending_operation_that_becomes_invalid_finishes_with_an_error() -> None:
    with running(rest_port=None, storage_port=None, lro_delay_s={"DeployModel": 0.5}) as emu:
        vx = Vertex(emu, emu.endpoint_client(), emu.model_client(), emu.prediction_client())
        endpoint = vx.create_endpoint("chat")
        deployed = v1.DeployedModel(model=vx.upload("llm").model, dedicated_resources=MACHINE)
        op = vx.endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed)
        vx.endpoints.delete_endpoint(name=endpoint.name).result()
        with pytest.raises(exceptions.NotFound):
            op.result(timeout=10, polling=FAST)


def test_wait_operation_blocks_until_the_operation_is_done() -> None:
    with running(rest_port=None, storage_port=None, lro_delay_s=0.2) as emu:
        vx = Vertex(emu, emu.endpoint_client(), emu.model_client(), emu.prediction_client())
        op = vx.endpoints.create_endpoint(parent=vx.parent, endpoint=v1.Endpoint(display_name="x"), endpoint_id="x")
        raw = vx.endpoints.wait_operation(request={"name": op.operation.name, "timeout": {"seconds": 5}})
        # The gapic mixin declares no response deserializer for WaitOperation, so it hands back bytes.
        assert operations_pb2.Operation.FromString(raw).done
        assert vx.endpoints.get_endpoint(name=f"{vx.parent}/endpoints/x").display_name == "x"

"""Fault injection: the spec grammar, and injected failures and latency as the real clients see them."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from google.api_core import exceptions
from google.protobuf import struct_pb2

from controller.emulator.faults import FaultInjector, FaultRule, FaultSpecError, parse_fault
from controller.emulator.server import running
from tests.emulator.conftest import Vertex

UNAVAILABLE, INTERNAL = grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ("UpdateEndpoint:rate=0.3:code=UNAVAILABLE", FaultRule("UpdateEndpoint", rate=0.3)),
        ("*:latency_ms=20", FaultRule("*", latency_ms=20)),
        ("GetEndpoint:fail_next=2:code=INTERNAL", FaultRule("GetEndpoint", fail_next=2, code=INTERNAL)),
        (
            "DeployModel:rate=1:code=resource_exhausted",
            FaultRule("DeployModel", rate=1.0, code=grpc.StatusCode.RESOURCE_EXHAUSTED),
        ),
        (" storage.objects.insert : fail_next = 1 ", FaultRule("storage.objects.insert", fail_next=1)),
        ("DeployModel:lost_reply=0.3", FaultRule("DeployModel", lost_reply=0.3)),
        ("UpdateEndpoint:hold_ms=5000", FaultRule("UpdateEndpoint", hold_ms=5000)),
    ],
)
def test_fault_specs_parse_into_rules(spec: str, rule: FaultRule) -> None:
    assert parse_fault(spec) == rule
    assert parse_fault(rule.spec()) == rule


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("GetEndpoint", "no settings"),
        (":rate=0.5", "missing METHOD"),
        ("GetEndpoint:rate=1.5", "between 0 and 1"),
        ("GetEndpoint:rate=lots", "not a number"),
        ("GetEndpoint:fail_next=1.5", "not an integer"),
        ("GetEndpoint:latency_ms=-3", ">= 0"),
        ("GetEndpoint:code=TEAPOT:rate=1", "unknown code 'TEAPOT'"),
        ("GetEndpoint:code=OK:rate=1", "unknown code 'OK'"),
        ("GetEndpoint:ratio=1", "bad setting 'ratio=1'"),
        ("GetEndpoint:code=INTERNAL", "does nothing"),
        ("GetEndpoint:lost_reply=2", "between 0 and 1"),
        ("GetEndpoint:hold_ms=-1", ">= 0"),
    ],
)
def test_malformed_fault_specs_are_rejected_with_a_clear_reason(spec: str, complaint: str) -> None:
    with pytest.raises(FaultSpecError, match=complaint):
        parse_fault(spec)


@pytest.mark.parametrize(
    ("method", "call", "matches"),
    [
        ("*", "google.cloud.aiplatform.v1.EndpointService/GetEndpoint", True),
        ("GetEndpoint", "google.cloud.aiplatform.v1.EndpointService/GetEndpoint", True),
        ("EndpointService/GetEndpoint", "google.cloud.aiplatform.v1.EndpointService/GetEndpoint", True),
        (
            "google.cloud.aiplatform.v1.EndpointService/GetEndpoint",
            "google.cloud.aiplatform.v1.EndpointService/GetEndpoint",
            True,
        ),
        ("ModelService/GetEndpoint", "google.cloud.aiplatform.v1.EndpointService/GetEndpoint", False),
        ("GetEndpoints", "google.cloud.aiplatform.v1.EndpointService/GetEndpoint", False),
        ("storage.objects.insert", "storage.objects.insert", True),
        ("insert", "storage.objects.insert", False),
    ],
)
def test_rules_match_methods_by_short_service_or_full_name(method: str, call: str, matches: bool) -> None:
    assert FaultRule(method, rate=1).matches(call) is matches


def test_the_admin_service_is_never_faulted() -> None:
    FaultInjector(["*:fail_next=5"]).before_call("genaiops.emulator.v1.Admin/ListFaults")


def test_injected_unavailable_reaches_the_client_as_service_unavailable() -> None:
    with running(rest_port=None, storage_port=None, faults=["GetEndpoint:rate=1:code=UNAVAILABLE"]) as emu:
        client = emu.endpoint_client()
        with pytest.raises(exceptions.ServiceUnavailable):
            client.get_endpoint(name=f"{emu.parent}/endpoints/x", retry=None)
        with pytest.raises(exceptions.NotFound):  # other methods are untouched
            client.delete_endpoint(name=f"{emu.parent}/endpoints/x")


def test_an_error_rate_fails_about_that_fraction_of_calls(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    vx.emulator.faults.set_error_rate("GetEndpoint", 0.3, grpc.StatusCode.RESOURCE_EXHAUSTED)
    failures = 0
    for _ in range(300):
        try:
            vx.endpoints.get_endpoint(name=endpoint.name, retry=None)
        except exceptions.ResourceExhausted:
            failures += 1
    assert 0.2 < failures / 300 < 0.4


def test_fail_next_fails_exactly_the_next_n_calls(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    vx.emulator.faults.add("GetEndpoint:fail_next=2:code=INTERNAL")
    for _ in range(2):
        with pytest.raises(exceptions.InternalServerError):
            vx.endpoints.get_endpoint(name=endpoint.name, retry=None)
    assert vx.endpoints.get_endpoint(name=endpoint.name).name == endpoint.name
    assert vx.emulator.faults.rules() == []
    assert vx.emulator.faults.injected == {"google.cloud.aiplatform.v1.EndpointService/GetEndpoint": 2}


def test_added_latency_delays_every_call_until_cleared(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    vx.emulator.faults.add_latency("*", 250)
    started = time.monotonic()
    vx.endpoints.get_endpoint(name=endpoint.name)
    assert time.monotonic() - started >= 0.25
    vx.emulator.faults.clear()
    assert vx.emulator.faults.rules() == []
    started = time.monotonic()
    vx.endpoints.get_endpoint(name=endpoint.name)
    assert time.monotonic() - started < 0.25


def test_a_lost_reply_carries_out_the_call_and_answers_with_the_error(vx: Vertex) -> None:
    vx.emulator.faults.add("CreateEndpoint:lost_reply=1")
    with pytest.raises(exceptions.ServiceUnavailable, match="lost reply"):
        vx.create_endpoint("chat")
    vx.emulator.faults.clear()
    assert [e.name.rpartition("/")[2] for e in vx.endpoints.list_endpoints(parent=vx.parent)] == ["chat"]
    assert vx.emulator.faults.lost == {"google.cloud.aiplatform.v1.EndpointService/CreateEndpoint": 1}
    assert vx.emulator.faults.injected == {}


def test_a_held_reply_lands_the_change_first_and_is_released_when_the_emulator_stops() -> None:
    with running(rest_port=None, storage_port=None, faults=["CreateEndpoint:hold_ms=30000"]) as emulator:
        client = emulator.endpoint_client()
        answer: list[object] = []
        caller = threading.Thread(
            target=lambda: answer.append(
                client.create_endpoint(parent=emulator.parent, endpoint_id="chat", endpoint={"display_name": "chat"})
            )
        )
        caller.start()
        reader = emulator.endpoint_client()
        deadline = time.monotonic() + 10
        while not list(reader.list_endpoints(parent=emulator.parent)):
            assert time.monotonic() < deadline, "the held call never landed"
            time.sleep(0.01)
        assert caller.is_alive() and not answer  # landed, and the caller has not heard back
        started = time.monotonic()
        emulator.faults.release()
        caller.join(timeout=10)
        assert answer and time.monotonic() - started < 5


def test_faults_can_be_changed_at_run_time_over_the_admin_grpc_service(vx: Vertex) -> None:
    def call(method: str, body: dict[str, str]) -> list[str]:
        stub = vx.emulator.channel.unary_unary(
            f"/genaiops.emulator.v1.Admin/{method}",
            request_serializer=struct_pb2.Struct.SerializeToString,
            response_deserializer=struct_pb2.Struct.FromString,
        )
        request = struct_pb2.Struct()
        request.update(body)
        return list(stub(request)["rules"])

    assert call("AddFault", {"spec": "ListEndpoints:fail_next=1:code=UNAVAILABLE"}) == [
        "ListEndpoints:fail_next=1:code=UNAVAILABLE"
    ]
    with pytest.raises(exceptions.ServiceUnavailable):
        vx.endpoints.list_endpoints(parent=vx.parent, retry=None)
    with pytest.raises(grpc.RpcError) as bad:
        call("AddFault", {"spec": "ListEndpoints:rate=9"})
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    call("AddFault", {"spec": "*:rate=1"})
    assert call("ClearFaults", {}) == []
    assert list(vx.endpoints.list_endpoints(parent=vx.parent)) == []

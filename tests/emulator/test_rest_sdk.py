"""The REST gateway (`controller/emulator/rest.py`) driven by the real Google clients over HTTP/JSON.

Two parts. First the wire itself, with a small service defined here on real aiplatform_v1 types: routes
read from the installed transports, URL-encoded path variables, query parameters, bodies, Google's error
mapping, fault hooks, keep-alive. Then the whole emulator through the high-level SDK
(`from google.cloud import aiplatform`, `api_transport="rest"`) and the gapic clients with `transport="rest"`.
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform, monitoring_v3
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform import initializer
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2, json_format, struct_pb2

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.rest import RestGateway, start_rest_gateway
from controller.emulator.rest_routes import build_routes
from controller.emulator.server import Emulator, running

_ENDPOINTS = "google.cloud.aiplatform.v1.EndpointService"
_MODELS = "google.cloud.aiplatform.v1.ModelService"
_PREDICTION = "google.cloud.aiplatform.v1.PredictionService"
_PARENT = "projects/p/locations/us-central1"


class EchoService:
    """Answers with what it received, so each test can see how the gateway decoded the HTTP request."""

    def get_endpoint(self, request: v1.GetEndpointRequest) -> v1.Endpoint:
        if request.name.endswith("/missing"):
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"Endpoint {request.name} not found.")
        return v1.Endpoint(name=request.name, display_name="echo")

    def list_endpoints(self, request: v1.ListEndpointsRequest) -> v1.ListEndpointsResponse:
        seen = {
            "parent": request.parent,
            "filter": request.filter,
            "page_size": request.page_size,
            "page_token": request.page_token,
            "read_mask": list(request.read_mask.paths),
            "order_by": request.order_by,
        }
        return v1.ListEndpointsResponse(endpoints=[v1.Endpoint(description=json.dumps(seen))])

    def update_endpoint(self, request: v1.UpdateEndpointRequest) -> v1.Endpoint:
        endpoint = v1.Endpoint(request.endpoint)
        endpoint.description = ",".join(request.update_mask.paths)
        return endpoint

    def get_model(self, request: v1.GetModelRequest) -> v1.Model:
        return v1.Model(name=request.name, version_id="2")

    def predict(self, request: v1.PredictRequest) -> v1.PredictResponse:
        response = v1.PredictResponse(deployed_model_id="1")
        response.predictions.extend(list(request.instances))
        return response

    def methods(self) -> list[RpcMethod]:
        return [
            RpcMethod(_ENDPOINTS, "GetEndpoint", v1.GetEndpointRequest, v1.Endpoint, self.get_endpoint),
            RpcMethod(
                _ENDPOINTS,
                "ListEndpoints",
                v1.ListEndpointsRequest,
                v1.ListEndpointsResponse,
                self.list_endpoints,
            ),
            RpcMethod(_ENDPOINTS, "UpdateEndpoint", v1.UpdateEndpointRequest, v1.Endpoint, self.update_endpoint),
            RpcMethod(_MODELS, "GetModel", v1.GetModelRequest, v1.Model, self.get_model),
            RpcMethod(_PREDICTION, "Predict", v1.PredictRequest, v1.PredictResponse, self.predict),
        ]


class FailNext:
    """A fault hook: the next call of `full_name` raises the given error; records every call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.pending: dict[str, ApiError] = {}

    def after_call(self, full_name: str) -> None:
        return

    def before_call(self, full_name: str) -> None:
        self.calls.append(full_name)
        error = self.pending.pop(full_name, None)
        if error is not None:
            raise error


@pytest.fixture(scope="module")
def hook() -> FailNext:
    return FailNext()


@pytest.fixture(scope="module")
def echo_gateway(hook: FailNext) -> Iterator[tuple[RestGateway, int]]:
    gateway, port = start_rest_gateway(EchoService().methods(), hook=hook)
    yield gateway, port
    gateway.shutdown()


def _rest_client(client_class: Any, port: int) -> Any:
    """A gapic client on its REST transport, pointed at the local gateway."""
    return client_class(
        client_options={"api_endpoint": f"http://127.0.0.1:{port}"},
        transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )


@pytest.fixture(scope="module")
def echo_endpoints(echo_gateway: tuple[RestGateway, int]) -> v1.EndpointServiceClient:
    client: v1.EndpointServiceClient = _rest_client(v1.EndpointServiceClient, echo_gateway[1])
    return client


# ------------------------------------------------------------------------------------------------------
# The wire


def test_path_parameters_arrive_url_decoded(echo_gateway: tuple[RestGateway, int]) -> None:
    models = _rest_client(v1.ModelServiceClient, echo_gateway[1])
    model = models.get_model(name=f"{_PARENT}/models/support-llm@2")
    assert model.name == f"{_PARENT}/models/support-llm@2"


def test_query_parameters_fill_the_request(echo_endpoints: v1.EndpointServiceClient) -> None:
    request = {
        "parent": _PARENT,
        "filter": 'labels.managed-by="genaiops" AND display_name="a b"',
        "page_size": 7,
        "page_token": "tok/en=",
        "read_mask": field_mask_pb2.FieldMask(paths=["display_name", "traffic_split"]),
        "order_by": "create_time desc",
    }
    page = echo_endpoints.list_endpoints(request=request)
    seen = json.loads(page.endpoints[0].description)
    assert seen == {
        "parent": _PARENT,
        "filter": 'labels.managed-by="genaiops" AND display_name="a b"',
        "page_size": 7,
        "page_token": "tok/en=",
        "read_mask": ["display_name", "traffic_split"],
        "order_by": "create_time desc",
    }


def test_query_parameters_may_use_proto_or_json_names(echo_gateway: tuple[RestGateway, int]) -> None:
    query = "page_size=4&pageToken=t&read_mask=displayName,trafficSplit&%24alt=json%3Benum-encoding%3Dint"
    status, body = _raw(echo_gateway[1], "GET", f"/v1/{_PARENT}/endpoints?{query}")
    assert status == 200
    seen = json.loads(body["endpoints"][0]["description"])
    assert (seen["page_size"], seen["page_token"]) == (4, "t")
    assert seen["read_mask"] == ["display_name", "traffic_split"]


def test_patch_body_and_update_mask_reach_the_handler(echo_endpoints: v1.EndpointServiceClient) -> None:
    endpoint = v1.Endpoint(
        name=f"{_PARENT}/endpoints/chat", display_name="chat", traffic_split={"11": 90, "12": 10}, etag="e1"
    )
    mask = field_mask_pb2.FieldMask(paths=["display_name", "traffic_split"])
    updated = echo_endpoints.update_endpoint(endpoint=endpoint, update_mask=mask)
    assert updated.name == f"{_PARENT}/endpoints/chat"
    assert dict(updated.traffic_split) == {"11": 90, "12": 10}
    assert updated.etag == "e1"
    assert updated.description == "display_name,traffic_split"


def test_predict_carries_json_values_both_ways(echo_gateway: tuple[RestGateway, int]) -> None:
    prediction = _rest_client(v1.PredictionServiceClient, echo_gateway[1])
    instance = json_format.ParseDict({"prompt": "hi", "n": 2, "tags": ["a"]}, struct_pb2.Value())
    response = prediction.predict(endpoint=f"{_PARENT}/endpoints/chat", instances=[instance])
    assert json_format.MessageToDict(v1.PredictResponse.pb(response))["predictions"] == [
        {"prompt": "hi", "n": 2, "tags": ["a"]}
    ]
    assert response.deployed_model_id == "1"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, exceptions.BadRequest),
        (grpc.StatusCode.FAILED_PRECONDITION, exceptions.BadRequest),
        (grpc.StatusCode.NOT_FOUND, exceptions.NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, exceptions.Conflict),
        (grpc.StatusCode.ABORTED, exceptions.Conflict),
        (grpc.StatusCode.PERMISSION_DENIED, exceptions.Forbidden),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, exceptions.TooManyRequests),
        (grpc.StatusCode.INTERNAL, exceptions.InternalServerError),
        (grpc.StatusCode.UNIMPLEMENTED, exceptions.MethodNotImplemented),
        (grpc.StatusCode.UNAVAILABLE, exceptions.ServiceUnavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, exceptions.GatewayTimeout),
    ],
)
def test_injected_errors_reach_the_client_as_google_http_errors(
    echo_endpoints: v1.EndpointServiceClient, hook: FailNext, code: grpc.StatusCode, expected: type[Exception]
) -> None:
    hook.pending[f"{_ENDPOINTS}/GetEndpoint"] = ApiError(code, "injected fault")
    with pytest.raises(expected, match="injected fault"):
        echo_endpoints.get_endpoint(name=f"{_PARENT}/endpoints/chat")
    assert echo_endpoints.get_endpoint(name=f"{_PARENT}/endpoints/chat").display_name == "echo"


def test_handler_errors_keep_their_message(echo_endpoints: v1.EndpointServiceClient) -> None:
    with pytest.raises(exceptions.NotFound, match="endpoints/missing not found"):
        echo_endpoints.get_endpoint(name=f"{_PARENT}/endpoints/missing")


def _raw(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_unknown_route_is_a_404_in_google_error_format(echo_gateway: tuple[RestGateway, int]) -> None:
    status, body = _raw(echo_gateway[1], "GET", "/v1/projects/p/locations/l/nothingHere/x")
    assert status == 404
    assert body["error"]["code"] == 404
    assert body["error"]["status"] == "NOT_FOUND"
    assert "/v1/projects/p/locations/l/nothingHere/x" in body["error"]["message"]


def test_an_unknown_custom_verb_is_not_taken_for_part_of_a_name(echo_gateway: tuple[RestGateway, int]) -> None:
    status, body = _raw(echo_gateway[1], "GET", f"/v1/{_PARENT}/endpoints/chat:bogusVerb")
    assert (status, body["error"]["status"]) == (404, "NOT_FOUND")


def test_an_rpc_the_client_knows_but_the_emulator_does_not_serve_is_unimplemented(
    echo_endpoints: v1.EndpointServiceClient,
) -> None:
    with pytest.raises(exceptions.MethodNotImplemented, match="EndpointService/DeleteEndpoint"):
        echo_endpoints.delete_endpoint(name=f"{_PARENT}/endpoints/chat")


def test_malformed_json_body_is_invalid_argument(echo_gateway: tuple[RestGateway, int]) -> None:
    status, body = _raw(echo_gateway[1], "POST", f"/v1/{_PARENT}/endpoints/chat:predict", b"{not json")
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT")


def test_unknown_field_in_the_body_is_invalid_argument(echo_gateway: tuple[RestGateway, int]) -> None:
    payload = json.dumps({"instances": [], "noSuchField": 1}).encode()
    status, body = _raw(echo_gateway[1], "POST", f"/v1/{_PARENT}/endpoints/chat:predict", payload)
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert "noSuchField" in body["error"]["message"]


def test_unknown_query_parameter_is_invalid_argument(echo_gateway: tuple[RestGateway, int]) -> None:
    status, body = _raw(echo_gateway[1], "GET", f"/v1/{_PARENT}/endpoints?bogus=1")
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT")


def test_one_kept_alive_connection_serves_many_calls_without_nagle_stalls(
    echo_gateway: tuple[RestGateway, int],
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", echo_gateway[1], timeout=5)
    durations: list[float] = []
    sockets = set()
    try:
        for _ in range(25):
            started = time.perf_counter()
            connection.request("GET", f"/v1/{_PARENT}/endpoints/chat")
            response = connection.getresponse()
            assert json.loads(response.read())["displayName"] == "echo"
            durations.append(time.perf_counter() - started)
            sockets.add(id(connection.sock))
    finally:
        connection.close()
    assert len(sockets) == 1  # one socket all along: HTTP/1.1 keep-alive
    # Without TCP_NODELAY every call waits for the client's delayed ACK: ~40 ms instead of ~1 ms.
    assert statistics.median(durations) < 0.02, f"median call took {statistics.median(durations):.3f}s"


def test_shutdown_closes_the_port_and_kept_alive_connections() -> None:
    gateway, port = start_rest_gateway(EchoService().methods())
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", f"/v1/{_PARENT}/endpoints/chat")
    assert connection.getresponse().read()
    gateway.shutdown()
    gateway.shutdown()  # idempotent
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        connection.request("GET", f"/v1/{_PARENT}/endpoints/chat")
        connection.getresponse()
    connection.close()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_routes_come_from_the_installed_transports_and_skip_grpc_only_services() -> None:
    def no_op(request: Any) -> Any:
        return request

    methods = [
        RpcMethod(_ENDPOINTS, "DeployModel", v1.DeployModelRequest, operations_pb2.Operation, no_op),
        RpcMethod(
            "google.longrunning.Operations",
            "GetOperation",
            operations_pb2.GetOperationRequest,
            operations_pb2.Operation,
            no_op,
        ),
        RpcMethod(
            "google.monitoring.v3.MetricService",
            "ListTimeSeries",
            monitoring_v3.ListTimeSeriesRequest,
            monitoring_v3.ListTimeSeriesResponse,
            no_op,
        ),
    ]
    routes = build_routes(methods)
    by_method = {(route.http_method, route.template) for route in routes}
    assert ("POST", "/v1/{endpoint=projects/*/locations/*/endpoints/*}:deployModel") in by_method
    assert ("GET", "/v1/{name=projects/*/locations/*/endpoints/*/operations/*}") in by_method
    assert not [route for route in routes if route.rpc.startswith("google.monitoring")]
    unserved = {route.rpc for route in routes if route.method is None}
    assert f"{_ENDPOINTS}/UndeployModel" in unserved
    assert "google.longrunning.Operations/GetOperation" not in unserved


# ------------------------------------------------------------------------------------------------------
# The whole emulator through the high-level SDK and the gapic REST transport

_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with running(project="rest-project", location="us-central1", storage_port=None) as emu:
        yield emu


@pytest.fixture(scope="module")
def sdk(emulator: Emulator) -> Iterator[Any]:
    """The high-level SDK, initialised against the emulator's REST endpoint (global, so reset after)."""
    aiplatform.init(
        project=emulator.project,
        location=emulator.location,
        api_endpoint=emulator.rest_endpoint,
        api_transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    yield aiplatform
    config: Any = initializer.global_config
    config.__init__()  # aiplatform.init is global and sticky: forget it for the other test modules


def _upload(sdk: Any, model_id: str, **extra: Any) -> Any:
    return sdk.Model.upload(
        display_name=model_id,
        model_id=model_id,
        artifact_uri=f"gs://models/{model_id}",
        serving_container_image_uri=_IMAGE,
        **extra,
    )


def test_sdk_creates_an_endpoint_with_a_chosen_id_and_labels(sdk: Any, emulator: Emulator) -> None:
    created = sdk.Endpoint.create(display_name="sdk create", endpoint_id="sdk-create", labels={"team": "a"})
    assert created.resource_name == f"{emulator.parent}/endpoints/sdk-create"
    again = sdk.Endpoint("sdk-create")
    assert (again.display_name, dict(again.labels)) == ("sdk create", {"team": "a"})
    with pytest.raises(exceptions.Conflict):
        sdk.Endpoint.create(display_name="twice", endpoint_id="sdk-create")


def test_sdk_uploads_a_model_and_a_second_version_that_becomes_default(sdk: Any, emulator: Emulator) -> None:
    first = _upload(sdk, "sdk-versions")
    second = sdk.Model.upload(
        display_name="sdk-versions",
        parent_model=first.resource_name,
        artifact_uri="gs://models/sdk-versions-2",
        serving_container_image_uri=_IMAGE,
    )
    assert first.resource_name == f"{emulator.parent}/models/sdk-versions"
    assert (first.version_id, second.version_id) == ("1", "2")
    assert second.versioned_resource_name == f"{emulator.parent}/models/sdk-versions@2"
    assert sdk.Model(f"{first.resource_name}@1").uri == "gs://models/sdk-versions"
    assert sdk.Model(first.resource_name).version_id == "2"


def test_sdk_deploys_with_a_traffic_percentage_and_predicts(sdk: Any) -> None:
    endpoint = sdk.Endpoint.create(display_name="sdk deploy", endpoint_id="sdk-deploy")
    stable, canary = _upload(sdk, "sdk-stable"), _upload(sdk, "sdk-canary")
    endpoint.deploy(stable, traffic_percentage=100, machine_type="n1-standard-2")
    endpoint.deploy(canary, traffic_percentage=20, machine_type="n1-standard-2")
    ids = {deployed.model.rsplit("/", 1)[-1]: deployed.id for deployed in endpoint.list_models()}
    assert endpoint.traffic_split == {ids["sdk-stable"]: 80, ids["sdk-canary"]: 20}
    prediction = endpoint.predict(instances=[{"prompt": "hi"}, {"prompt": "there"}])
    assert len(prediction.predictions) == 2
    assert prediction.deployed_model_id in ids.values()


def test_sdk_undeploy_moves_traffic_and_the_last_undeploy_empties_the_split(sdk: Any) -> None:
    endpoint = sdk.Endpoint.create(display_name="sdk undeploy", endpoint_id="sdk-undeploy")
    first, second = _upload(sdk, "sdk-undeploy-a"), _upload(sdk, "sdk-undeploy-b")
    endpoint.deploy(first, traffic_percentage=100, machine_type="n1-standard-2")
    endpoint.deploy(second, traffic_percentage=50, machine_type="n1-standard-2")
    ids = {deployed.model.rsplit("/", 1)[-1]: deployed.id for deployed in endpoint.list_models()}
    endpoint.undeploy(ids["sdk-undeploy-b"])
    assert endpoint.traffic_split == {ids["sdk-undeploy-a"]: 100}
    endpoint.undeploy_all()
    assert endpoint.traffic_split == {}
    assert endpoint.list_models() == []


def test_sdk_update_with_a_split_not_summing_to_100_is_rejected(sdk: Any) -> None:
    endpoint = sdk.Endpoint.create(display_name="sdk split", endpoint_id="sdk-split")
    endpoint.deploy(_upload(sdk, "sdk-split-model"), traffic_percentage=100, machine_type="n1-standard-2")
    deployed_id = endpoint.list_models()[0].id
    with pytest.raises(exceptions.BadRequest, match="100"):
        endpoint.update(traffic_split={deployed_id: 60})
    assert endpoint.traffic_split == {deployed_id: 100}


def test_unknown_resources_raise_not_found_in_the_sdk(sdk: Any) -> None:
    with pytest.raises(exceptions.NotFound):
        _ = sdk.Endpoint("nope").display_name  # the SDK loads an Endpoint lazily
    with pytest.raises(exceptions.NotFound):
        sdk.Model("nope")


def test_injected_unavailable_reaches_sdk_predict_as_service_unavailable(sdk: Any, emulator: Emulator) -> None:
    endpoint = sdk.Endpoint.create(display_name="sdk faults", endpoint_id="sdk-faults")
    endpoint.deploy(_upload(sdk, "sdk-faults-model"), traffic_percentage=100, machine_type="n1-standard-2")
    emulator.faults.add("Predict:fail_next=1:code=UNAVAILABLE")
    with pytest.raises(exceptions.ServiceUnavailable):
        endpoint.predict(instances=[{"x": 1}])
    assert len(endpoint.predict(instances=[{"x": 1}]).predictions) == 1


def _endpoints(emulator: Emulator) -> Any:
    """A real `EndpointServiceClient` on the REST transport, pointed at the emulator's gateway."""
    return _rest_client(v1.EndpointServiceClient, emulator.rest_port)


def test_gapic_rest_client_lists_endpoints_by_label_page_by_page(emulator: Emulator) -> None:
    client = _endpoints(emulator)
    for index in range(3):
        client.create_endpoint(
            parent=emulator.parent,
            endpoint=v1.Endpoint(display_name=f"paged {index}", labels={"suite": "paging"}),
            endpoint_id=f"paged-{index}",
        ).result(timeout=10)
    pager = client.list_endpoints(
        request={"parent": emulator.parent, "filter": 'labels.suite="paging"', "page_size": 2}
    )
    pages = list(pager.pages)
    assert [len(page.endpoints) for page in pages] == [2, 1]
    names = sorted(endpoint.name for page in pages for endpoint in page.endpoints)
    assert names == [f"{emulator.parent}/endpoints/paged-{index}" for index in range(3)]
    got = client.get_endpoint(name=f"{emulator.parent}/endpoints/paged-1")
    assert (got.display_name, dict(got.labels)) == ("paged 1", {"suite": "paging"})


def test_gapic_rest_update_with_a_stale_etag_is_a_conflict(emulator: Emulator) -> None:
    client = _endpoints(emulator)
    client.create_endpoint(
        parent=emulator.parent, endpoint=v1.Endpoint(display_name="etag"), endpoint_id="etag"
    ).result(timeout=10)
    read = client.get_endpoint(name=f"{emulator.parent}/endpoints/etag")
    mask = field_mask_pb2.FieldMask(paths=["display_name"])
    fresh = client.update_endpoint(endpoint=v1.Endpoint(read, display_name="first"), update_mask=mask)
    assert fresh.etag != read.etag
    with pytest.raises(exceptions.Conflict):
        client.update_endpoint(endpoint=v1.Endpoint(read, display_name="second"), update_mask=mask)
    assert client.get_endpoint(name=read.name).display_name == "first"


def test_gapic_rest_undeploy_of_a_model_with_traffic_is_rejected(sdk: Any, emulator: Emulator) -> None:
    endpoint = sdk.Endpoint.create(display_name="busy", endpoint_id="busy")
    endpoint.deploy(_upload(sdk, "busy-a"), traffic_percentage=100, machine_type="n1-standard-2")
    endpoint.deploy(_upload(sdk, "busy-b"), traffic_percentage=50, machine_type="n1-standard-2")
    busy = endpoint.list_models()[0].id
    with pytest.raises(exceptions.BadRequest):
        _endpoints(emulator).undeploy_model(endpoint=endpoint.resource_name, deployed_model_id=busy)
    assert busy in endpoint.traffic_split


def test_gapic_rest_client_polls_a_pending_operation_until_done() -> None:
    with running(lro_delay_s=0.2, storage_port=None) as slow:
        client = _endpoints(slow)
        operation = client.create_endpoint(
            parent=slow.parent, endpoint=v1.Endpoint(display_name="slow"), endpoint_id="slow"
        )
        assert not operation.done()
        with pytest.raises(exceptions.NotFound):
            client.get_endpoint(name=f"{slow.parent}/endpoints/slow")
        assert operation.result(timeout=10).name == f"{slow.parent}/endpoints/slow"


def test_sdk_raw_predict_ignores_api_endpoint_and_the_gapic_client_is_the_way_around(
    sdk: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's first SDK limitation, proven without leaving loopback: `Endpoint.raw_predict()` builds
    its URL from the location (never `api_endpoint`), so the post is caught before it is sent; the gapic
    PredictionServiceClient on the emulator's REST endpoint serves the same call."""
    from google.api import httpbody_pb2
    from google.auth.transport import requests as google_auth_requests

    endpoint = sdk.Endpoint.create(display_name="sdk raw", endpoint_id="sdk-raw")
    endpoint.deploy(_upload(sdk, "sdk-raw-model"), traffic_percentage=100, machine_type="n1-standard-2")
    posted: list[str] = []

    def caught(self: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        posted.append(url)
        raise RuntimeError("caught before leaving the machine")

    monkeypatch.setattr(google_auth_requests.AuthorizedSession, "post", caught)
    with pytest.raises(RuntimeError, match="caught before"):
        endpoint.raw_predict(body=b'{"instances": [{"prompt": "hi"}]}', headers={"Content-Type": "application/json"})
    assert posted == [f"https://us-central1-aiplatform.googleapis.com/v1/{endpoint.resource_name}:rawPredict"]
    monkeypatch.undo()  # the gapic REST transport posts through the same session class

    client = v1.PredictionServiceClient(
        client_options={"api_endpoint": emulator.rest_endpoint},
        transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    body = httpbody_pb2.HttpBody(content_type="application/json", data=b'{"instances": [{"prompt": "hi"}]}')
    answer = client.raw_predict(endpoint=endpoint.resource_name, http_body=body)
    assert json.loads(answer.data)["predictions"]

"""Conformance: UpdateEndpointLongRunning through the real gapic clients (gRPC and REST) — it replaces the
Endpoint's `client_connection_config` and answers a done operation holding the Endpoint; a request that
changes any other field (the client library's generated sample sets `display_name` and no name) is
INVALID_ARGUMENT."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1
from google.protobuf import duration_pb2

from tests.emulator.conftest import Vertex, rest_client


def with_timeout(endpoint: Any, seconds: int) -> Any:
    changed = v1.Endpoint(endpoint)
    changed.client_connection_config = v1.ClientConnectionConfig(
        inference_timeout=duration_pb2.Duration(seconds=seconds)
    )
    return changed


def test_it_updates_the_client_connection_config_and_returns_the_endpoint(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("ep")
    operation = vx.endpoints.update_endpoint_long_running(endpoint=with_timeout(endpoint, 120))
    updated = operation.result(timeout=10)
    assert updated.name == endpoint.name
    assert updated.client_connection_config.inference_timeout.seconds == 120
    assert updated.etag != endpoint.etag
    assert isinstance(operation.metadata, v1.UpdateEndpointOperationMetadata)
    read = vx.endpoints.get_endpoint(name=endpoint.name)
    assert read.client_connection_config.inference_timeout.seconds == 120
    assert read.display_name == endpoint.display_name


def test_it_works_over_rest_with_only_the_name_and_the_config(rvx: Vertex) -> None:
    endpoint = rvx.create_endpoint("ep")
    client = rest_client(rvx.emulator, v1.EndpointServiceClient)
    sent = v1.Endpoint(name=endpoint.name, client_connection_config={"inference_timeout": {"seconds": 30}})
    updated = client.update_endpoint_long_running(endpoint=sent).result(timeout=10)
    assert updated.client_connection_config.inference_timeout.seconds == 30
    cleared = client.update_endpoint_long_running(endpoint=v1.Endpoint(name=endpoint.name)).result(timeout=10)
    assert not v1.Endpoint.pb(cleared).HasField("client_connection_config")


def test_the_generated_samples_request_is_invalid_argument(rvx: Vertex) -> None:
    sample = v1.UpdateEndpointLongRunningRequest(endpoint=v1.Endpoint(display_name="display_name_value"))
    with pytest.raises(exceptions.InvalidArgument, match=r"endpoint\.name is required"):
        rvx.endpoints.update_endpoint_long_running(request=sample)
    endpoint = rvx.create_endpoint("ep")
    with pytest.raises(exceptions.BadRequest, match="display_name"):  # REST needs the name in the URL
        rest_client(rvx.emulator, v1.EndpointServiceClient).update_endpoint_long_running(
            request={"endpoint": {"name": endpoint.name, "display_name": "display_name_value"}}
        )


def test_changing_any_other_field_is_invalid_argument(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("ep")
    renamed = with_timeout(endpoint, 60)
    renamed.display_name = "another"
    with pytest.raises(exceptions.InvalidArgument, match="display_name"):
        vx.endpoints.update_endpoint_long_running(endpoint=renamed)
    relabelled = v1.Endpoint(name=endpoint.name, labels={"team": "x"})
    with pytest.raises(exceptions.InvalidArgument, match="labels"):
        vx.endpoints.update_endpoint_long_running(endpoint=relabelled)
    assert vx.endpoints.get_endpoint(name=endpoint.name).etag == endpoint.etag


def test_an_unknown_endpoint_is_not_found_and_a_stale_etag_aborted(vx: Vertex) -> None:
    with pytest.raises(exceptions.NotFound):
        vx.endpoints.update_endpoint_long_running(endpoint=v1.Endpoint(name=f"{vx.parent}/endpoints/nope"))
    endpoint = vx.create_endpoint("ep")
    stale = with_timeout(endpoint, 60)
    stale.etag = "stale"
    with pytest.raises(exceptions.Aborted):
        vx.endpoints.update_endpoint_long_running(endpoint=stale)


def test_a_negative_inference_timeout_is_invalid_argument(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("ep")
    with pytest.raises(exceptions.InvalidArgument, match="inference_timeout"):
        vx.endpoints.update_endpoint_long_running(endpoint=with_timeout(endpoint, -5))

"""Conformance: EndpointService CRUD, etags, update masks, list filters and pagination, through the real
aiplatform_v1 gapic client over gRPC."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from tests.emulator.conftest import Vertex


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def test_created_endpoint_has_a_real_resource_name_and_an_etag(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("support-chat", labels={"managed-by": "genaiops"}, description="d")
    assert endpoint.name == "projects/local-project/locations/us-central1/endpoints/support-chat"
    assert endpoint.etag
    got = vx.endpoints.get_endpoint(name=endpoint.name)
    assert (got.display_name, got.description, dict(got.labels)) == ("support-chat", "d", {"managed-by": "genaiops"})
    assert got.create_time == endpoint.create_time


def test_create_endpoint_without_id_generates_a_numeric_id(vx: Vertex) -> None:
    op = vx.endpoints.create_endpoint(parent=vx.parent, endpoint=v1.Endpoint(display_name="anon"))
    endpoint_id = op.result().name.rsplit("/", 1)[1]
    assert endpoint_id.isdigit()


def test_creating_an_endpoint_twice_is_already_exists(vx: Vertex) -> None:
    vx.create_endpoint("chat")
    with pytest.raises(exceptions.AlreadyExists):
        vx.create_endpoint("chat")


@pytest.mark.parametrize("bad_id", ["Chat", "1chat-", "chat_x", "-chat", "a" * 64, "0123"])
def test_an_invalid_endpoint_id_is_rejected(vx: Vertex, bad_id: str) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        vx.create_endpoint(bad_id)


def test_an_invalid_label_is_rejected(vx: Vertex) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        vx.create_endpoint("chat", labels={"Team": "x"})


def test_a_missing_display_name_is_rejected(vx: Vertex) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        vx.endpoints.create_endpoint(parent=vx.parent, endpoint=v1.Endpoint(), endpoint_id="x")


def test_an_unknown_endpoint_is_not_found(vx: Vertex) -> None:
    with pytest.raises(exceptions.NotFound):
        vx.endpoints.get_endpoint(name=f"{vx.parent}/endpoints/nope")


def test_a_malformed_name_is_invalid_argument(vx: Vertex) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        vx.endpoints.get_endpoint(name="endpoints/nope")


def test_update_changes_only_the_fields_in_the_mask_and_the_etag(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat", description="old", labels={"a": "1"})
    change = v1.Endpoint(name=endpoint.name, display_name="new", description="new", labels={"b": "2"})
    updated = vx.endpoints.update_endpoint(endpoint=change, update_mask=mask("labels"))
    assert (updated.display_name, updated.description, dict(updated.labels)) == ("chat", "old", {"b": "2"})
    assert updated.etag != endpoint.etag
    assert updated.update_time > endpoint.update_time


def test_update_with_a_stale_etag_is_aborted(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    fresh = v1.Endpoint(name=endpoint.name, display_name="one", etag=endpoint.etag)
    vx.endpoints.update_endpoint(endpoint=fresh, update_mask=mask("display_name"))
    stale = v1.Endpoint(name=endpoint.name, display_name="two", etag=endpoint.etag)
    with pytest.raises(exceptions.Aborted):
        vx.endpoints.update_endpoint(endpoint=stale, update_mask=mask("display_name"))
    assert vx.endpoints.get_endpoint(name=endpoint.name).display_name == "one"


def test_update_with_the_current_etag_succeeds(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    change = v1.Endpoint(name=endpoint.name, display_name="x", etag=endpoint.etag)
    assert vx.endpoints.update_endpoint(endpoint=change, update_mask=mask("display_name")).display_name == "x"


def test_update_without_a_mask_or_with_an_output_only_path_is_rejected(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    for paths in ((), ("deployed_models",), ("etag",)):
        with pytest.raises(exceptions.InvalidArgument):
            vx.endpoints.update_endpoint(endpoint=v1.Endpoint(name=endpoint.name), update_mask=mask(*paths))


def test_delete_removes_the_endpoint(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    vx.endpoints.delete_endpoint(name=endpoint.name).result(timeout=10)
    with pytest.raises(exceptions.NotFound):
        vx.endpoints.get_endpoint(name=endpoint.name)
    with pytest.raises(exceptions.NotFound):
        vx.endpoints.delete_endpoint(name=endpoint.name)


def test_list_filters_by_label_value_presence_and_display_name(vx: Vertex) -> None:
    vx.create_endpoint("a", labels={"managed-by": "genaiops", "team": "x"})
    vx.create_endpoint("b", labels={"managed-by": "genaiops"}, display_name="bee")
    vx.create_endpoint("c", labels={"managed-by": "someone-else"})
    vx.create_endpoint("d")

    def ids(filter_: str) -> list[str]:
        pager = vx.endpoints.list_endpoints(request={"parent": vx.parent, "filter": filter_})
        return sorted(e.name.rsplit("/", 1)[1] for e in pager)

    assert ids("") == ["a", "b", "c", "d"]
    assert ids('labels.managed-by="genaiops"') == ["a", "b"]
    assert ids("labels.managed-by:*") == ["a", "b", "c"]
    assert ids('display_name="bee"') == ["b"]
    assert ids('labels.managed-by="genaiops" AND labels.team="x"') == ["a"]
    assert ids('labels.managed-by="genaiops" labels.team:*') == ["a"]
    assert ids("endpoint=c") == ["c"]


def test_list_rejects_an_unsupported_filter(vx: Vertex) -> None:
    for bad in ('labels.a="x" OR labels.b="y"', "no_such_field=1", "labels.a="):
        with pytest.raises(exceptions.InvalidArgument):
            list(vx.endpoints.list_endpoints(request={"parent": vx.parent, "filter": bad}))


def test_list_pages_through_every_endpoint_once(vx: Vertex) -> None:
    for i in range(7):
        vx.create_endpoint(f"e{i}")
    pager = vx.endpoints.list_endpoints(request={"parent": vx.parent, "page_size": 3})
    pages = [[e.name.rsplit("/", 1)[1] for e in page.endpoints] for page in pager.pages]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(name for page in pages for name in page) == [f"e{i}" for i in range(7)]


def test_a_bad_page_token_is_rejected(vx: Vertex) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        vx.endpoints.list_endpoints(request={"parent": vx.parent, "page_token": "garbage!"})


def test_list_orders_by_display_name_descending(vx: Vertex) -> None:
    for endpoint_id, name in (("a", "beta"), ("b", "alpha"), ("c", "gamma")):
        vx.create_endpoint(endpoint_id, display_name=name)
    pager = vx.endpoints.list_endpoints(request={"parent": vx.parent, "order_by": "display_name desc"})
    assert [e.display_name for e in pager] == ["gamma", "beta", "alpha"]


def test_list_only_sees_its_own_project_and_location(vx: Vertex) -> None:
    vx.create_endpoint("here")
    other = "projects/other/locations/europe-west4"
    vx.endpoints.create_endpoint(parent=other, endpoint=v1.Endpoint(display_name="x"), endpoint_id="there").result()
    assert [e.name for e in vx.endpoints.list_endpoints(parent=other)] == [f"{other}/endpoints/there"]
    assert len(list(vx.endpoints.list_endpoints(parent=vx.parent))) == 1

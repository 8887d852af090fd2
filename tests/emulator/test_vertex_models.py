"""Conformance: ModelService (Model Registry) uploads, versions, aliases, lists and deletes through the
real aiplatform_v1 gapic client over gRPC."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from tests.emulator.conftest import Vertex


def test_upload_creates_version_1_with_the_default_alias(vx: Vertex) -> None:
    response = vx.upload("support-llm", labels={"managed-by": "genaiops"})
    assert response.model == f"{vx.parent}/models/support-llm"
    assert response.model_version_id == "1"
    model = vx.models.get_model(name=response.model)
    assert (model.version_id, list(model.version_aliases)) == ("1", ["default"])
    assert dict(model.labels) == {"managed-by": "genaiops"}
    assert model.container_spec.image_uri.startswith("us-docker.pkg.dev/")


def test_uploading_the_same_model_id_twice_is_already_exists(vx: Vertex) -> None:
    vx.upload("llm")
    with pytest.raises(exceptions.AlreadyExists):
        vx.upload("llm")


@pytest.mark.parametrize("bad_id", ["Llm", "-llm", "1llm", "llm.v2", "x" * 64])
def test_an_invalid_model_id_is_rejected(vx: Vertex, bad_id: str) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        vx.upload(bad_id)


def test_upload_without_a_container_or_with_a_malformed_behaviour_uri_is_rejected(vx: Vertex) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        vx.models.upload_model(parent=vx.parent, model=v1.Model(display_name="x", artifact_uri="gs://b/m"))
    with pytest.raises(exceptions.InvalidArgument):
        vx.upload("llm", uri="gs://emulator-models/echo?error_rate=2")


def test_uploading_with_parent_model_adds_a_version(vx: Vertex) -> None:
    first = vx.upload("llm").model
    second = vx.upload("ignored", parent_model=first, aliases=("canary",))
    assert (second.model, second.model_version_id) == (first, "2")
    assert vx.models.get_model(name=first).version_id == "1"  # default stays on version 1
    assert vx.models.get_model(name=f"{first}@2").version_id == "2"
    assert vx.models.get_model(name=f"{first}@canary").version_id == "2"
    versions = vx.models.list_model_versions(name=first)
    assert [(m.version_id, list(m.version_aliases)) for m in versions] == [("1", ["default"]), ("2", ["canary"])]


def test_uploading_a_version_with_the_default_alias_moves_it(vx: Vertex) -> None:
    first = vx.upload("llm").model
    vx.upload("llm", parent_model=first, aliases=("default",))
    assert vx.models.get_model(name=first).version_id == "2"
    assert list(vx.models.get_model(name=f"{first}@1").version_aliases) == []


def test_parent_model_must_exist(vx: Vertex) -> None:
    with pytest.raises(exceptions.NotFound):
        vx.upload("llm", parent_model=f"{vx.parent}/models/nope")


def test_unknown_versions_and_aliases_are_not_found(vx: Vertex) -> None:
    model = vx.upload("llm").model
    for name in (f"{model}@7", f"{model}@prod", f"{vx.parent}/models/nope"):
        with pytest.raises(exceptions.NotFound):
            vx.models.get_model(name=name)


def test_merge_version_aliases_adds_moves_and_removes(vx: Vertex) -> None:
    model = vx.upload("llm", aliases=("prod",)).model
    vx.upload("llm", parent_model=model)
    moved = vx.models.merge_version_aliases(name=f"{model}@2", version_aliases=["prod", "stable"])
    assert sorted(moved.version_aliases) == ["prod", "stable"]
    assert list(vx.models.get_model(name=f"{model}@1").version_aliases) == ["default"]
    removed = vx.models.merge_version_aliases(name=f"{model}@prod", version_aliases=["-stable"])
    assert list(removed.version_aliases) == ["prod"]


def test_merge_version_aliases_refuses_bad_aliases_and_removing_default(vx: Vertex) -> None:
    model = vx.upload("llm").model
    for aliases in (["-default"], ["Prod"], ["1"], ["a-"], ["x", "-x"]):
        with pytest.raises(exceptions.InvalidArgument):
            vx.models.merge_version_aliases(name=f"{model}@1", version_aliases=aliases)
    with pytest.raises(exceptions.InvalidArgument):
        vx.models.merge_version_aliases(name=model, version_aliases=["prod"])


def test_moving_default_keeps_it_on_exactly_one_version(vx: Vertex) -> None:
    model = vx.upload("llm").model
    vx.upload("llm", parent_model=model)
    vx.models.merge_version_aliases(name=f"{model}@2", version_aliases=["default"])
    holders = [m.version_id for m in vx.models.list_model_versions(name=model) if "default" in m.version_aliases]
    assert holders == ["2"]


def test_list_models_shows_default_versions_filtered_and_paged(vx: Vertex) -> None:
    for i in range(5):
        vx.upload(f"m{i}", labels={"managed-by": "genaiops"} if i % 2 == 0 else {})
    vx.upload("m0", parent_model=f"{vx.parent}/models/m0")
    managed = vx.models.list_models(request={"parent": vx.parent, "filter": 'labels.managed-by="genaiops"'})
    assert sorted(m.name.rsplit("/", 1)[1] for m in managed) == ["m0", "m2", "m4"]
    pages = vx.models.list_models(request={"parent": vx.parent, "page_size": 2}).pages
    assert [len(p.models) for p in pages] == [2, 2, 1]
    named = vx.models.list_models(request={"parent": vx.parent, "filter": 'display_name="m3"'})
    assert [m.display_name for m in named] == ["m3"]


def test_list_model_versions_filters_by_label(vx: Vertex) -> None:
    model = vx.upload("llm").model
    vx.upload("llm", parent_model=model, labels={"stage": "canary"})
    versions = vx.models.list_model_versions(request={"name": model, "filter": "labels.stage:*"})
    assert [m.version_id for m in versions] == ["2"]


def test_a_deployed_model_lists_its_endpoint_and_cannot_be_deleted(vx: Vertex) -> None:
    endpoint, (deployed,) = vx.endpoint_with_models(count=1)
    model = f"{vx.parent}/models/m0"
    refs = vx.models.get_model(name=model).deployed_models
    assert [(r.endpoint, r.deployed_model_id) for r in refs] == [(endpoint.name, deployed)]
    with pytest.raises(exceptions.FailedPrecondition):
        vx.models.delete_model(name=model)
    vx.endpoints.undeploy_model(endpoint=endpoint.name, deployed_model_id=deployed).result()
    vx.models.delete_model(name=model).result()
    with pytest.raises(exceptions.NotFound):
        vx.models.get_model(name=model)


def test_deploying_by_alias_pins_the_resolved_version(vx: Vertex) -> None:
    model = vx.upload("llm").model
    vx.upload("llm", parent_model=model, aliases=("canary",))
    endpoint = vx.create_endpoint("chat")
    vx.deploy(endpoint.name, f"{model}@canary", {"0": 100})
    deployed = vx.endpoints.get_endpoint(name=endpoint.name).deployed_models[0]
    assert (deployed.model, deployed.model_version_id) == (model, "2")


def test_update_model_changes_the_masked_fields_of_one_version(vx: Vertex) -> None:
    model = vx.upload("llm", labels={"a": "1"}).model
    vx.upload("llm", parent_model=model)
    change = v1.Model(name=f"{model}@2", labels={"managed-by": "genaiops"}, description="ignored")
    updated = vx.models.update_model(model=change, update_mask=field_mask_pb2.FieldMask(paths=["labels"]))
    assert (updated.version_id, dict(updated.labels), updated.description) == ("2", {"managed-by": "genaiops"}, "")
    assert dict(vx.models.get_model(name=f"{model}@1").labels) == {"a": "1"}
    stale = v1.Model(name=model, display_name="x", etag="stale")
    with pytest.raises(exceptions.Aborted):
        vx.models.update_model(model=stale, update_mask=field_mask_pb2.FieldMask(paths=["display_name"]))
    with pytest.raises(exceptions.InvalidArgument):
        vx.models.update_model(model=change, update_mask=field_mask_pb2.FieldMask(paths=["artifact_uri"]))


def test_delete_model_version_refuses_the_default_and_deployed_versions(vx: Vertex) -> None:
    model = vx.upload("llm").model
    vx.upload("llm", parent_model=model)
    vx.upload("llm", parent_model=model)
    with pytest.raises(exceptions.FailedPrecondition):
        vx.models.delete_model_version(name=f"{model}@1")
    endpoint = vx.create_endpoint("chat")
    vx.deploy(endpoint.name, f"{model}@2", {"0": 100})
    with pytest.raises(exceptions.FailedPrecondition):
        vx.models.delete_model_version(name=f"{model}@2")
    vx.models.delete_model_version(name=f"{model}@3").result()
    assert [m.version_id for m in vx.models.list_model_versions(name=model)] == ["1", "2"]
    with pytest.raises(exceptions.InvalidArgument):
        vx.models.delete_model_version(name=model)

"""Conversion between state records and `google.cloud.aiplatform.v1` messages.

Fields the emulator manages are typed attributes on the records; the rest of what a client sent is kept
as the proto's JSON form (`spec`) and restored verbatim, so nothing a client set is lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from google.cloud import aiplatform_v1 as v1
from google.protobuf import json_format
from google.protobuf.message import Message

from controller.emulator.vertex.lro import timestamp
from controller.emulator.vertex.state import (
    CloudState,
    DeployedModelRecord,
    EndpointRecord,
    ModelRecord,
    ModelVersionRecord,
)

_ENDPOINT_MANAGED = (
    "name",
    "display_name",
    "description",
    "labels",
    "traffic_split",
    "deployed_models",
    "etag",
    "create_time",
    "update_time",
    "model_deployment_monitoring_job",
    "dedicated_endpoint_dns",
    "satisfies_pzs",
    "satisfies_pzi",
)
_DEPLOYED_MANAGED = ("id", "model", "model_version_id", "display_name", "create_time", "private_endpoints")
_MODEL_MANAGED = (
    "name",
    "version_id",
    "version_aliases",
    "version_create_time",
    "version_update_time",
    "display_name",
    "description",
    "version_description",
    "artifact_uri",
    "labels",
    "create_time",
    "update_time",
    "deployed_models",
    "etag",
)


def spec_of(message: Message, managed: Iterable[str]) -> dict[str, Any]:
    """The JSON form of a raw protobuf message without the managed fields."""
    copy = type(message)()
    copy.CopyFrom(message)
    for field in managed:
        copy.ClearField(field)
    spec: dict[str, Any] = json_format.MessageToDict(copy, preserving_proto_field_name=True)
    return spec


def endpoint_spec(endpoint: v1.Endpoint) -> dict[str, Any]:
    """Unmanaged fields of a client-sent Endpoint, without the output-only ones nested in them
    (`private_service_connect_config.service_attachment`: "Output only", types/service_networking.py)."""
    spec = spec_of(v1.Endpoint.pb(endpoint), _ENDPOINT_MANAGED)
    spec.get("private_service_connect_config", {}).pop("service_attachment", None)
    return spec


def project_number(project: str) -> str:
    """The emulated project's number: the project itself when numeric, else 12 digits derived from its id
    (stable across restarts, so names that embed it do not change)."""
    if project.isdigit():
        return project
    digest = hashlib.sha256(project.encode()).digest()
    return str(10**11 + int.from_bytes(digest[:8], "big") % (9 * 10**11))


def dedicated_endpoint_dns(name: str) -> str:
    """`Endpoint.dedicated_endpoint_dns` of a dedicated endpoint: `{endpoint_id}.{region}-{project_number}.
    prediction.vertexai.goog` (the v1 docstring's "https://{endpoint_id}.{region}-{uid}.prediction.vertexai.goog"
    with the project number as uid, as Google's Terraform resource documents it; the field holds the host
    only: Google's SDK builds `https://{dedicated_endpoint_dns}/v1/...:predict` from it)."""
    _, project, _, region, _, endpoint_id = name.split("/")
    return f"{endpoint_id}.{region}-{project_number(project)}.prediction.vertexai.goog"


def deployed_model_spec(deployed: v1.DeployedModel) -> dict[str, Any]:
    """Unmanaged fields of a client-sent DeployedModel."""
    return spec_of(v1.DeployedModel.pb(deployed), _DEPLOYED_MANAGED)


def model_spec(model: v1.Model) -> dict[str, Any]:
    """Unmanaged fields of a client-sent Model."""
    return spec_of(v1.Model.pb(model), _MODEL_MANAGED)


def deployed_model_pb(record: DeployedModelRecord) -> Any:
    """A raw `DeployedModel` protobuf for a record."""
    pb: Any = json_format.ParseDict(record.spec, v1.DeployedModel.pb(v1.DeployedModel()))
    pb.id = record.id
    pb.model = record.model
    pb.model_version_id = record.model_version_id
    pb.display_name = record.display_name
    pb.create_time.CopyFrom(timestamp(record.create_time))
    return pb


_ENDPOINT_CACHE: dict[str, tuple[tuple[str, float], bytes]] = {}


def endpoint_proto(record: EndpointRecord) -> v1.Endpoint:
    """An `Endpoint` message for a record. Every mutation changes the etag, so the serialised message is
    cached per (etag, update time): a List over many unchanged endpoints does not rebuild each one."""
    key = (record.etag, record.update_time)
    cached = _ENDPOINT_CACHE.get(record.name)
    if cached is not None and cached[0] == key:
        restored: v1.Endpoint = v1.Endpoint.deserialize(cached[1])
        return restored
    message = _build_endpoint_proto(record)
    if len(_ENDPOINT_CACHE) > 100_000:
        _ENDPOINT_CACHE.clear()
    _ENDPOINT_CACHE[record.name] = (key, v1.Endpoint.serialize(message))
    return message


def _build_endpoint_proto(record: EndpointRecord) -> v1.Endpoint:
    pb: Any = json_format.ParseDict(record.spec, v1.Endpoint.pb(v1.Endpoint()))
    pb.name = record.name
    pb.display_name = record.display_name
    pb.description = record.description
    pb.labels.update(record.labels)
    pb.traffic_split.update(record.traffic_split)
    pb.etag = record.etag
    pb.create_time.CopyFrom(timestamp(record.create_time))
    pb.update_time.CopyFrom(timestamp(record.update_time))
    pb.deployed_models.extend(deployed_model_pb(d) for d in record.deployed_models)
    if pb.dedicated_endpoint_enabled:
        pb.dedicated_endpoint_dns = dedicated_endpoint_dns(record.name)
    message: v1.Endpoint = v1.Endpoint.wrap(pb)
    return message


def model_proto(state: CloudState, model: ModelRecord, version: ModelVersionRecord) -> v1.Model:
    """A `Model` message for one version of a model, with the endpoints that serve it."""
    pb: Any = json_format.ParseDict(version.spec, v1.Model.pb(v1.Model()))
    pb.name = model.name
    pb.version_id = version.version_id
    pb.version_aliases.extend(version.aliases)
    pb.version_create_time.CopyFrom(timestamp(version.create_time))
    pb.version_update_time.CopyFrom(timestamp(version.update_time))
    pb.display_name = version.display_name
    pb.description = version.description
    pb.version_description = version.version_description
    pb.artifact_uri = version.artifact_uri
    pb.labels.update(version.labels)
    pb.create_time.CopyFrom(timestamp(model.create_time))
    pb.update_time.CopyFrom(timestamp(version.update_time))
    pb.etag = f"{version.version_id}-{round(version.update_time * 1e6)}"
    if not pb.supported_deployment_resources_types:
        pb.supported_deployment_resources_types.append(int(v1.Model.DeploymentResourcesType.DEDICATED_RESOURCES))
    for endpoint in state.endpoints.values():
        for deployed in endpoint.deployed_models:
            if deployed.model == model.name and deployed.model_version_id == version.version_id:
                pb.deployed_models.add(endpoint=endpoint.name, deployed_model_id=deployed.id)
    message: v1.Model = v1.Model.wrap(pb)
    return message


def from_json(message_type: Any, body: dict[str, Any]) -> Any:
    """A proto-plus message of `message_type` from its JSON form (as stored in operation requests)."""
    return message_type.wrap(json_format.ParseDict(body, message_type.pb(message_type())))

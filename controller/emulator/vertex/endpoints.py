"""google.cloud.aiplatform.v1.EndpointService: endpoints, deployments and traffic splits.

Requests are validated when they arrive (errors reach the caller directly, as in the cloud); mutations
that are long-running in Vertex AI become operations whose effect is applied when they complete
(`StateStore.start_operation`), re-validated then against the state of that moment. The serving spec's
field rules (autoscaling, reservations, explanations, logging, network, PSC, CMEK, create-only fields) live in
`serving_checks.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import grpc
from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, field_mask_pb2, json_format

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.vertex import common as c
from controller.emulator.vertex import serving_checks as checks
from controller.emulator.vertex.convert import (
    deployed_model_pb,
    deployed_model_spec,
    endpoint_proto,
    endpoint_spec,
    from_json,
)
from controller.emulator.vertex.models import resolve_version
from controller.emulator.vertex.state import CloudState, DeployedModelRecord, EndpointRecord
from controller.emulator.vertex.store import StateStore

SERVICE = "google.cloud.aiplatform.v1.EndpointService"
_UPDATABLE = {"display_name", "description", "labels", "traffic_split"}
_CONNECTION = "client_connection_config"  # the one field UpdateEndpointLongRunning updates
_MUTABLE = {
    "dedicated_resources.min_replica_count",
    "dedicated_resources.max_replica_count",
    "dedicated_resources.required_replica_count",
    "dedicated_resources.autoscaling_metric_specs",
    "automatic_resources.min_replica_count",
    "automatic_resources.max_replica_count",
    "disable_container_logging",
}


def check_split(split: Mapping[str, int], deployed_ids: Collection[str]) -> dict[str, int]:
    """A traffic split must be empty, or name only deployed models and sum to 100."""
    if not split:
        return {}
    unknown = sorted(k for k in split if k not in deployed_ids)
    if unknown:
        raise c.invalid(f"traffic_split names DeployedModels not deployed on the Endpoint: {unknown}.")
    if any(v < 0 or v > 100 for v in split.values()):
        raise c.invalid(f"traffic_split percentages must be between 0 and 100, got {dict(split)}.")
    total = sum(split.values())
    if total != 100:
        raise c.invalid(f"Sum of all traffic within traffic_split needs to be 100, got {total}.")
    return dict(split)


def _same_field(a: Any, b: Any, field: str) -> bool:
    """Whether two raw Endpoint messages hold the same value in a top-level field."""
    return bool(getattr(a, field) == getattr(b, field))


def _check_etag(endpoint: EndpointRecord, etag: str) -> None:
    """ABORTED when the caller sent an etag the endpoint no longer has."""
    if etag and etag != endpoint.etag:
        raise ApiError(
            grpc.StatusCode.ABORTED,
            f"Etag mismatch for Endpoint {endpoint.name}: the resource changed since it was read.",
        )


def _find(state: CloudState, name: str) -> EndpointRecord:
    c.parse_name(name, "endpoints")
    endpoint = state.endpoints.get(name)
    if endpoint is None:
        raise c.not_found("Endpoint", name)
    return endpoint


def _merged_spec(endpoint: EndpointRecord, new: v1.Endpoint, paths: list[str]) -> dict[str, Any]:
    """The Endpoint's unmanaged fields with the masked paths (logging configs, the client connection config)
    taken from `new`, validated. A path in the mask replaces that field (AIP-134): a config left out of `new`
    is removed."""
    current = json_format.ParseDict(endpoint.spec, v1.Endpoint.pb(v1.Endpoint()))
    mask = field_mask_pb2.FieldMask(paths=paths)
    mask.MergeMessage(v1.Endpoint.pb(new), current, replace_message_field=True, replace_repeated_field=True)
    if current.HasField(checks.LOGGING_CONFIG):
        checks.check_logging_config(current.predict_request_response_logging_config, "endpoint")
    return endpoint_spec(v1.Endpoint.wrap(current))


def _deployed(endpoint: EndpointRecord, deployed_model_id: str) -> DeployedModelRecord:
    deployed = endpoint.deployed(deployed_model_id)
    if deployed is None:
        raise c.not_found("DeployedModel", f"{deployed_model_id} of Endpoint {endpoint.name}")
    return deployed


class EndpointService:
    """The emulated EndpointService; all state lives in the shared `StateStore`."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        for method, applier in {
            "CreateEndpoint": self._apply_create,
            "DeleteEndpoint": self._apply_delete,
            "DeployModel": self._apply_deploy,
            "UndeployModel": self._apply_undeploy,
            "MutateDeployedModel": self._apply_mutate,
            "UpdateEndpointLongRunning": self._apply_update_long_running,
        }.items():
            store.register_applier(method, applier)

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service."""
        lro = operations_pb2.Operation
        return [
            RpcMethod(SERVICE, "CreateEndpoint", v1.CreateEndpointRequest, lro, self.create_endpoint),
            RpcMethod(SERVICE, "GetEndpoint", v1.GetEndpointRequest, v1.Endpoint, self.get_endpoint),
            RpcMethod(SERVICE, "ListEndpoints", v1.ListEndpointsRequest, v1.ListEndpointsResponse, self.list_endpoints),
            RpcMethod(SERVICE, "UpdateEndpoint", v1.UpdateEndpointRequest, v1.Endpoint, self.update_endpoint),
            RpcMethod(SERVICE, "DeleteEndpoint", v1.DeleteEndpointRequest, lro, self.delete_endpoint),
            RpcMethod(SERVICE, "DeployModel", v1.DeployModelRequest, lro, self.deploy_model),
            RpcMethod(SERVICE, "UndeployModel", v1.UndeployModelRequest, lro, self.undeploy_model),
            RpcMethod(SERVICE, "MutateDeployedModel", v1.MutateDeployedModelRequest, lro, self.mutate_deployed_model),
            RpcMethod(
                SERVICE,
                "UpdateEndpointLongRunning",
                v1.UpdateEndpointLongRunningRequest,
                lro,
                self.update_endpoint_long_running,
            ),
        ]

    def _touch(self, endpoint: EndpointRecord) -> None:
        endpoint.update_time = self.store.clock()
        endpoint.etag = self.store.new_etag()

    # -- create / get / list / update / delete ------------------------------------------------------
    def create_endpoint(self, request: v1.CreateEndpointRequest) -> operations_pb2.Operation:
        """CreateEndpoint: caller-chosen or generated id; ALREADY_EXISTS on a repeat."""
        parent = c.check_parent(request.parent)
        endpoint_id = request.endpoint_id
        if endpoint_id and not c.ENDPOINT_ID.match(endpoint_id):
            raise c.invalid(f"Invalid endpoint_id {endpoint_id!r}: a letter, then [a-z0-9-], at most 63.")
        if not request.endpoint.display_name:
            raise c.invalid("endpoint.display_name is required.")
        c.check_labels(request.endpoint.labels)
        check_split(request.endpoint.traffic_split, ())
        sent = v1.Endpoint.pb(request.endpoint)
        checks.check_endpoint(sent, location=parent.split("/")[3])
        with self.store.transaction(write=True) as state:
            name = f"{parent}/endpoints/{endpoint_id or self.store.new_id(19)}"
            pending = any(
                not op.done and op.method == "CreateEndpoint" and op.request["name"] == name
                for op in state.operations.values()
            )
            if name in state.endpoints or pending:
                raise ApiError(grpc.StatusCode.ALREADY_EXISTS, f"Endpoint {name} already exists.")
            body = json_format.MessageToDict(sent, preserving_proto_field_name=True)
            return self.store.start_operation(
                state, parent=name, method="CreateEndpoint", request={"name": name, "endpoint": body}
            )

    def _apply_create(self, state: CloudState, request: dict[str, Any]) -> Any:
        name = request["name"]
        if name in state.endpoints:
            raise ApiError(grpc.StatusCode.ALREADY_EXISTS, f"Endpoint {name} already exists.")
        endpoint = from_json(v1.Endpoint, request["endpoint"])
        now = self.store.clock()
        record = EndpointRecord(
            name=name,
            display_name=endpoint.display_name,
            description=endpoint.description,
            labels=dict(endpoint.labels),
            create_time=now,
            spec=endpoint_spec(endpoint),
        )
        self._touch(record)
        state.endpoints[name] = record
        return v1.Endpoint.pb(endpoint_proto(record))

    def get_endpoint(self, request: v1.GetEndpointRequest) -> v1.Endpoint:
        """GetEndpoint."""
        with self.store.transaction(write=False) as state:
            return endpoint_proto(_find(state, request.name))

    def list_endpoints(self, request: v1.ListEndpointsRequest) -> v1.ListEndpointsResponse:
        """ListEndpoints with filter, order_by and pagination."""
        prefix = c.check_parent(request.parent) + "/endpoints/"
        with self.store.transaction(write=False) as state:
            items = [e for e in state.endpoints.values() if e.name.startswith(prefix)]
            items.sort(key=lambda e: (e.create_time, e.name))
            items = c.filter_items(
                items,
                request.filter,
                lambda e: (
                    {"display_name": e.display_name, "endpoint": e.name.rsplit("/", 1)[1], "name": e.name},
                    e.labels,
                ),
                ("display_name", "endpoint", "name"),
            )
            items = c.order_items(
                items,
                request.order_by,
                {
                    "display_name": lambda e: e.display_name,
                    "create_time": lambda e: e.create_time,
                    "update_time": lambda e: e.update_time,
                },
            )
            page, token = c.paginate(items, request.page_size, request.page_token)
            response = v1.ListEndpointsResponse(next_page_token=token)
            response.endpoints.extend(endpoint_proto(e) for e in page)
            return response

    def update_endpoint(self, request: v1.UpdateEndpointRequest) -> v1.Endpoint:
        """UpdateEndpoint: honours update_mask; a stale etag is ABORTED."""
        paths = c.mask_paths(request.update_mask.paths)
        if not paths:
            raise c.invalid("update_mask is required.")
        logging_paths, paths = checks.split_update_paths(paths)
        unsupported = sorted(set(paths) - _UPDATABLE)
        if unsupported:
            raise c.invalid(f"update_mask paths not updatable: {unsupported}.")
        new = request.endpoint
        with self.store.transaction(write=True) as state:
            endpoint = _find(state, new.name)
            _check_etag(endpoint, new.etag)
            if "display_name" in paths and not new.display_name:
                raise c.invalid("endpoint.display_name must not be empty.")
            labels = c.check_labels(new.labels) if "labels" in paths else endpoint.labels
            ids = [d.id for d in endpoint.deployed_models]
            split = check_split(new.traffic_split, ids) if "traffic_split" in paths else endpoint.traffic_split
            if logging_paths:
                endpoint.spec = _merged_spec(endpoint, new, logging_paths)
            if "display_name" in paths:
                endpoint.display_name = new.display_name
            if "description" in paths:
                endpoint.description = new.description
            endpoint.labels, endpoint.traffic_split = labels, split
            self._touch(endpoint)
            return endpoint_proto(endpoint)

    def update_endpoint_long_running(self, request: v1.UpdateEndpointLongRunningRequest) -> operations_pb2.Operation:
        """UpdateEndpointLongRunning: the sent Endpoint replaces `client_connection_config`, the only field this
        method may change (the v1 proto: "all the other fields' update will be blocked"). Other fields may be
        sent only unchanged (as read by GetEndpoint); a change, or a missing `endpoint.name`, is
        INVALID_ARGUMENT, a stale etag ABORTED. The operation's response is the updated Endpoint."""
        new = v1.Endpoint.pb(request.endpoint)
        if not new.name:
            raise c.invalid("endpoint.name is required: the Endpoint to update (projects/P/locations/L/endpoints/E).")
        if new.HasField(_CONNECTION):
            timeout = new.client_connection_config.inference_timeout
            if timeout.seconds < 0 or timeout.nanos < 0 or timeout.nanos >= 10**9:
                raise c.invalid("endpoint.client_connection_config.inference_timeout must be a positive duration.")
        with self.store.transaction(write=True) as state:
            endpoint = _find(state, new.name)
            _check_etag(endpoint, new.etag)
            current = v1.Endpoint.pb(endpoint_proto(endpoint))
            changed = [
                field.name
                for field, _ in new.ListFields()
                if field.name not in ("name", "etag", _CONNECTION) and not _same_field(new, current, field.name)
            ]
            if changed:
                raise c.invalid(
                    f"UpdateEndpointLongRunning can update only endpoint.{_CONNECTION}; the request changes "
                    f"{sorted(changed)} (use UpdateEndpoint for those)."
                )
            sent = v1.Endpoint.pb(v1.Endpoint(name=endpoint.name))
            if new.HasField(_CONNECTION):
                sent.client_connection_config.CopyFrom(new.client_connection_config)
            payload = json_format.MessageToDict(sent, preserving_proto_field_name=True)
            return self.store.start_operation(
                state, parent=endpoint.name, method="UpdateEndpointLongRunning", request=payload
            )

    def _apply_update_long_running(self, state: CloudState, payload: dict[str, Any]) -> Any:
        endpoint = _find(state, payload["name"])
        # An operation saved by an older emulator holds `client_connection_config: null` (ParseDict: not set).
        sent = json_format.ParseDict(payload, v1.Endpoint.pb(v1.Endpoint()))
        endpoint.spec = _merged_spec(endpoint, v1.Endpoint.wrap(sent), [_CONNECTION])
        self._touch(endpoint)
        return v1.Endpoint.pb(endpoint_proto(endpoint))

    def delete_endpoint(self, request: v1.DeleteEndpointRequest) -> operations_pb2.Operation:
        """DeleteEndpoint: refused while models are deployed."""
        with self.store.transaction(write=True) as state:
            self._check_deletable(_find(state, request.name))
            return self.store.start_operation(
                state, parent=request.name, method="DeleteEndpoint", request={"name": request.name}
            )

    @staticmethod
    def _check_deletable(endpoint: EndpointRecord) -> None:
        if endpoint.deployed_models:
            raise c.failed_precondition(
                f"Endpoint {endpoint.name} has deployed models; undeploy them before deleting it."
            )

    def _apply_delete(self, state: CloudState, request: dict[str, Any]) -> Any:
        self._check_deletable(_find(state, request["name"]))
        del state.endpoints[request["name"]]
        return empty_pb2.Empty()

    # -- deployments --------------------------------------------------------------------------------
    def deploy_model(self, request: v1.DeployModelRequest) -> operations_pb2.Operation:
        """DeployModel: the "0" key of traffic_split means the model being deployed."""
        dm = v1.DeployedModel.pb(request.deployed_model)
        checks.check_deployed_model(dm)
        if dm.id and not c.DEPLOYED_MODEL_ID.match(dm.id):
            raise c.invalid(f"Invalid deployed_model.id {dm.id!r}: 1 to 10 digits.")
        with self.store.transaction(write=True) as state:
            endpoint = _find(state, request.endpoint)
            model, version = resolve_version(state, dm.model)
            deployed_id = dm.id or self._fresh_deployed_id(state)
            body = json_format.MessageToDict(dm, preserving_proto_field_name=True)
            body.update(id=deployed_id, model=model.name, model_version_id=version.version_id)
            split = {(deployed_id if k == "0" else k): v for k, v in request.traffic_split.items()}
            payload = {"endpoint": endpoint.name, "deployed_model": body, "traffic_split": split}
            self._plan_deploy(state, payload)
            return self.store.start_operation(state, parent=endpoint.name, method="DeployModel", request=payload)

    def _fresh_deployed_id(self, state: CloudState) -> str:
        used = {d.id for e in state.endpoints.values() for d in e.deployed_models}
        while (candidate := self.store.new_id(10)) in used:
            pass
        return candidate

    def _plan_deploy(self, state: CloudState, payload: dict[str, Any]) -> EndpointRecord:
        endpoint = _find(state, payload["endpoint"])
        body = payload["deployed_model"]
        if endpoint.deployed(body["id"]) is not None:
            raise ApiError(grpc.StatusCode.ALREADY_EXISTS, f"DeployedModel id {body['id']} is in use.")
        resolve_version(state, f"{body['model']}@{body['model_version_id']}")
        check_split(payload["traffic_split"], [d.id for d in endpoint.deployed_models] + [body["id"]])
        return endpoint

    def _apply_deploy(self, state: CloudState, payload: dict[str, Any]) -> Any:
        endpoint = self._plan_deploy(state, payload)
        body = payload["deployed_model"]
        model, version = resolve_version(state, f"{body['model']}@{body['model_version_id']}")
        dm = from_json(v1.DeployedModel, body)
        record = DeployedModelRecord(
            id=body["id"],
            model=model.name,
            model_version_id=version.version_id,
            display_name=dm.display_name or version.display_name,
            create_time=self.store.clock(),
            spec=deployed_model_spec(dm),
        )
        endpoint.deployed_models.append(record)
        if payload["traffic_split"]:
            endpoint.traffic_split = dict(payload["traffic_split"])
        self._touch(endpoint)
        return v1.DeployModelResponse.pb(v1.DeployModelResponse(deployed_model=deployed_model_pb(record)))

    def undeploy_model(self, request: v1.UndeployModelRequest) -> operations_pb2.Operation:
        """UndeployModel: FAILED_PRECONDITION while the model has traffic and the request keeps it."""
        payload = {
            "endpoint": request.endpoint,
            "deployed_model_id": request.deployed_model_id,
            "traffic_split": dict(request.traffic_split),
        }
        with self.store.transaction(write=True) as state:
            self._plan_undeploy(state, payload)
            return self.store.start_operation(state, parent=request.endpoint, method="UndeployModel", request=payload)

    @staticmethod
    def _plan_undeploy(state: CloudState, payload: dict[str, Any]) -> tuple[EndpointRecord, dict[str, int]]:
        endpoint = _find(state, payload["endpoint"])
        gone = _deployed(endpoint, payload["deployed_model_id"]).id
        remaining = [d.id for d in endpoint.deployed_models if d.id != gone]
        if payload["traffic_split"]:
            return endpoint, check_split(payload["traffic_split"], remaining)
        if endpoint.traffic_split.get(gone, 0) > 0 and remaining:
            raise c.failed_precondition(
                f"DeployedModel {gone} still has {endpoint.traffic_split[gone]}% of the traffic of Endpoint "
                f"{endpoint.name}; move its traffic first or pass a traffic_split without it."
            )
        split = {k: v for k, v in endpoint.traffic_split.items() if k != gone} if remaining else {}
        return endpoint, split

    def _apply_undeploy(self, state: CloudState, payload: dict[str, Any]) -> Any:
        endpoint, split = self._plan_undeploy(state, payload)
        endpoint.deployed_models = [d for d in endpoint.deployed_models if d.id != payload["deployed_model_id"]]
        endpoint.traffic_split = split
        self._touch(endpoint)
        return v1.UndeployModelResponse.pb(v1.UndeployModelResponse())

    def mutate_deployed_model(self, request: v1.MutateDeployedModelRequest) -> operations_pb2.Operation:
        """MutateDeployedModel: only replica counts, autoscaling and container logging."""
        paths = c.mask_paths(request.update_mask.paths)
        paths = [p if "." in p or p == "disable_container_logging" else f"dedicated_resources.{p}" for p in paths]
        if not paths or set(paths) - _MUTABLE:
            raise c.invalid(f"update_mask may name only {sorted(_MUTABLE)}; got {paths}.")
        body = json_format.MessageToDict(v1.DeployedModel.pb(request.deployed_model), preserving_proto_field_name=True)
        payload = {"endpoint": request.endpoint, "deployed_model": body, "paths": paths}
        with self.store.transaction(write=True) as state:
            self._plan_mutate(state, payload)
            return self.store.start_operation(
                state, parent=request.endpoint, method="MutateDeployedModel", request=payload
            )

    @staticmethod
    def _plan_mutate(state: CloudState, payload: dict[str, Any]) -> tuple[EndpointRecord, Any, Any]:
        endpoint = _find(state, payload["endpoint"])
        record = _deployed(endpoint, payload["deployed_model"].get("id", ""))
        current = deployed_model_pb(record)
        source = v1.DeployedModel.pb(from_json(v1.DeployedModel, payload["deployed_model"]))
        kind = current.WhichOneof("prediction_resources")
        for path in payload["paths"]:
            named = path.split(".", 1)[0]
            if named in ("dedicated_resources", "automatic_resources") and named != kind:
                raise c.invalid(f"deployed_model.{path}: DeployedModel {record.id} is deployed with {kind}.")
        # A masked field is replaced, a list included (autoscaling_metric_specs), never appended to.
        mask = field_mask_pb2.FieldMask(paths=payload["paths"])
        mask.MergeMessage(source, current, replace_message_field=True, replace_repeated_field=True)
        if current.HasField("dedicated_resources"):
            res = current.dedicated_resources
            if res.min_replica_count < 1 or (res.max_replica_count and res.max_replica_count < res.min_replica_count):
                raise c.invalid("Replica counts need 1 <= min_replica_count <= max_replica_count.")
            checks.check_autoscaling(res, "deployed_model.dedicated_resources")
        return endpoint, record, current

    def _apply_mutate(self, state: CloudState, payload: dict[str, Any]) -> Any:
        endpoint, record, current = self._plan_mutate(state, payload)
        record.spec = deployed_model_spec(v1.DeployedModel.wrap(current))
        self._touch(endpoint)
        response = v1.MutateDeployedModelResponse(deployed_model=deployed_model_pb(record))
        return v1.MutateDeployedModelResponse.pb(response)

"""google.cloud.aiplatform.v1.ModelService: the Model Registry with versions and version aliases.

A model is `projects/P/locations/L/models/M`; its versions are `M@1`, `M@2`, ... and may carry aliases
(`M@prod`); a name without a suffix means the version holding the `default` alias, which is on exactly
one version at all times. Uploading with `parent_model` adds a version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, json_format

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.behaviour import parse_behaviour
from controller.emulator.vertex import common as c
from controller.emulator.vertex.convert import from_json, model_proto, model_spec
from controller.emulator.vertex.state import CloudState, ModelRecord, ModelVersionRecord
from controller.emulator.vertex.store import StateStore

SERVICE = "google.cloud.aiplatform.v1.ModelService"
DEFAULT_ALIAS = "default"


def resolve_version(state: CloudState, ref: str) -> tuple[ModelRecord, ModelVersionRecord]:
    """The model and version named by `models/M`, `models/M@VERSION_ID` or `models/M@ALIAS`."""
    parsed = c.parse_name(ref, "models", allow_version=True)
    model = state.models.get(parsed.name)
    if model is None:
        raise c.not_found("Model", parsed.name)
    selector = parsed.version or DEFAULT_ALIAS
    version = model.version(selector) if selector.isdigit() else model.by_alias(selector)
    if version is None:
        raise c.not_found("Model version", ref)
    return model, version


def _check_aliases(aliases: Iterable[str]) -> list[str]:
    result = list(aliases)
    for alias in result:
        if not c.VERSION_ALIAS.match(alias):
            raise c.invalid(f"Invalid version alias {alias!r}: [a-z][a-zA-Z0-9-]{{0,126}}[a-z0-9].")
    if len(set(result)) != len(result):
        raise c.invalid(f"Duplicate version aliases: {result}.")
    return result


def _move_aliases(model: ModelRecord, version: ModelVersionRecord, aliases: Iterable[str]) -> None:
    """Put the aliases on `version`, taking them off whichever version had them."""
    for alias in aliases:
        for other in model.versions:
            if other is not version and alias in other.aliases:
                other.aliases.remove(alias)
        if alias not in version.aliases:
            version.aliases.append(alias)


def _serving_endpoints(state: CloudState, model_name: str, version_id: str | None = None) -> list[str]:
    return sorted(
        e.name
        for e in state.endpoints.values()
        if any(d.model == model_name and version_id in (None, d.model_version_id) for d in e.deployed_models)
    )


def _view(version: ModelVersionRecord, model: ModelRecord) -> tuple[dict[str, str], dict[str, str]]:
    fields = {
        "display_name": version.display_name,
        "model": model.name.rsplit("/", 1)[1],
        "name": model.name,
        "version_id": version.version_id,
    }
    return fields, version.labels


_MODEL_UPDATABLE = {"display_name", "description", "version_description", "labels"}
_FILTER_FIELDS = ("display_name", "model", "name", "version_id")
_ORDER = {
    "display_name": lambda pair: pair[1].display_name,
    "create_time": lambda pair: pair[1].create_time,
    "update_time": lambda pair: pair[1].update_time,
    "version_id": lambda pair: int(pair[1].version_id),
}


class ModelService:
    """The emulated ModelService; all state lives in the shared `StateStore`."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        store.register_applier("UploadModel", self._apply_upload)
        store.register_applier("DeleteModel", self._apply_delete)
        store.register_applier("DeleteModelVersion", self._apply_delete_version)

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service."""
        lro = operations_pb2.Operation
        return [
            RpcMethod(SERVICE, "UploadModel", v1.UploadModelRequest, lro, self.upload_model),
            RpcMethod(SERVICE, "GetModel", v1.GetModelRequest, v1.Model, self.get_model),
            RpcMethod(SERVICE, "ListModels", v1.ListModelsRequest, v1.ListModelsResponse, self.list_models),
            RpcMethod(
                SERVICE,
                "ListModelVersions",
                v1.ListModelVersionsRequest,
                v1.ListModelVersionsResponse,
                self.list_model_versions,
            ),
            RpcMethod(SERVICE, "UpdateModel", v1.UpdateModelRequest, v1.Model, self.update_model),
            RpcMethod(SERVICE, "DeleteModel", v1.DeleteModelRequest, lro, self.delete_model),
            RpcMethod(SERVICE, "DeleteModelVersion", v1.DeleteModelVersionRequest, lro, self.delete_model_version),
            RpcMethod(
                SERVICE, "MergeVersionAliases", v1.MergeVersionAliasesRequest, v1.Model, self.merge_version_aliases
            ),
        ]

    # -- upload -------------------------------------------------------------------------------------
    def upload_model(self, request: v1.UploadModelRequest) -> operations_pb2.Operation:
        """UploadModel: a new model (caller-chosen `model_id`), or a new version under `parent_model`."""
        parent = c.check_parent(request.parent)
        model = request.model
        if not model.display_name:
            raise c.invalid("model.display_name is required.")
        if not model.container_spec.image_uri:
            raise c.invalid("model.container_spec.image_uri is required for a custom model.")
        try:
            parse_behaviour(model.artifact_uri)
        except ValueError as err:
            raise c.invalid(f"model.artifact_uri: {err}") from err
        c.check_labels(model.labels)
        _check_aliases(model.version_aliases)
        with self.store.transaction(write=True) as state:
            if request.parent_model:
                name = c.parse_name(request.parent_model, "models").name
                if not name.startswith(parent + "/"):
                    raise c.invalid(f"parent_model {name} is not under {parent}.")
                if name not in state.models:
                    raise c.not_found("Model", name)
            else:
                if request.model_id and not c.MODEL_ID.match(request.model_id):
                    raise c.invalid(f"Invalid model_id {request.model_id!r}: [a-z0-9_-], at most 63.")
                name = f"{parent}/models/{request.model_id or self.store.new_id(19)}"
                pending = any(
                    not op.done and op.method == "UploadModel" and op.request["new"] and op.request["name"] == name
                    for op in state.operations.values()
                )
                if name in state.models or pending:
                    raise ApiError(grpc.StatusCode.ALREADY_EXISTS, f"Model {name} already exists.")
            body = json_format.MessageToDict(v1.Model.pb(model), preserving_proto_field_name=True)
            payload = {"name": name, "new": not request.parent_model, "model": body}
            return self.store.start_operation(state, parent=name, method="UploadModel", request=payload)

    def _apply_upload(self, state: CloudState, payload: dict[str, Any]) -> Any:
        name, now = payload["name"], self.store.clock()
        if payload["new"]:
            if name in state.models:
                raise ApiError(grpc.StatusCode.ALREADY_EXISTS, f"Model {name} already exists.")
            state.models[name] = ModelRecord(name=name, create_time=now)
        record = state.models.get(name)
        if record is None:
            raise c.not_found("Model", name)
        model = from_json(v1.Model, payload["model"])
        version = ModelVersionRecord(
            version_id=str(record.next_version),
            display_name=model.display_name,
            description=model.description,
            version_description=model.version_description,
            artifact_uri=model.artifact_uri,
            labels=dict(model.labels),
            create_time=now,
            update_time=now,
            spec=model_spec(model),
        )
        record.next_version += 1
        record.versions.append(version)
        aliases = list(model.version_aliases)
        if len(record.versions) == 1 and DEFAULT_ALIAS not in aliases:
            aliases.insert(0, DEFAULT_ALIAS)
        _move_aliases(record, version, aliases)
        response = v1.UploadModelResponse(model=name, model_version_id=version.version_id)
        return v1.UploadModelResponse.pb(response)

    # -- read ---------------------------------------------------------------------------------------
    def get_model(self, request: v1.GetModelRequest) -> v1.Model:
        """GetModel: `models/M` (default version), `models/M@2` or `models/M@alias`."""
        with self.store.transaction(write=False) as state:
            model, version = resolve_version(state, request.name)
            return model_proto(state, model, version)

    def list_models(self, request: v1.ListModelsRequest) -> v1.ListModelsResponse:
        """ListModels: the default version of each model, filtered, ordered and paged."""
        prefix = c.check_parent(request.parent) + "/models/"
        with self.store.transaction(write=False) as state:
            pairs = [
                (m, v)
                for m in state.models.values()
                if m.name.startswith(prefix) and (v := m.by_alias(DEFAULT_ALIAS)) is not None
            ]
            pairs.sort(key=lambda p: (p[0].create_time, p[0].name))
            page, token = self._select(pairs, request.filter, request.order_by, request.page_size, request.page_token)
            response = v1.ListModelsResponse(next_page_token=token)
            response.models.extend(model_proto(state, m, v) for m, v in page)
            return response

    def list_model_versions(self, request: v1.ListModelVersionsRequest) -> v1.ListModelVersionsResponse:
        """ListModelVersions: every version of one model, oldest first unless ordered."""
        with self.store.transaction(write=False) as state:
            name = c.parse_name(request.name, "models").name
            model = state.models.get(name)
            if model is None:
                raise c.not_found("Model", name)
            pairs = [(model, v) for v in model.versions]
            page, token = self._select(pairs, request.filter, request.order_by, request.page_size, request.page_token)
            response = v1.ListModelVersionsResponse(next_page_token=token)
            response.models.extend(model_proto(state, m, v) for m, v in page)
            return response

    @staticmethod
    def _select(
        pairs: list[tuple[ModelRecord, ModelVersionRecord]], text: str, order_by: str, size: int, token: str
    ) -> tuple[list[tuple[ModelRecord, ModelVersionRecord]], str]:
        pairs = c.filter_items(pairs, text, lambda p: _view(p[1], p[0]), _FILTER_FIELDS)
        pairs = c.order_items(pairs, order_by, _ORDER)
        return c.paginate(pairs, size, token)

    # -- delete / aliases ---------------------------------------------------------------------------
    def delete_model(self, request: v1.DeleteModelRequest) -> operations_pb2.Operation:
        """DeleteModel: all versions; refused while any endpoint serves the model."""
        name = c.parse_name(request.name, "models").name
        with self.store.transaction(write=True) as state:
            self._check_deletable(state, name)
            return self.store.start_operation(state, parent=name, method="DeleteModel", request={"name": name})

    @staticmethod
    def _check_deletable(state: CloudState, name: str) -> None:
        if name not in state.models:
            raise c.not_found("Model", name)
        serving = _serving_endpoints(state, name)
        if serving:
            raise c.failed_precondition(
                f"Model {name} is deployed on Endpoint(s) {serving}; undeploy it before deleting it."
            )

    def _apply_delete(self, state: CloudState, payload: dict[str, Any]) -> Any:
        self._check_deletable(state, payload["name"])
        del state.models[payload["name"]]
        return empty_pb2.Empty()

    def update_model(self, request: v1.UpdateModelRequest) -> v1.Model:
        """UpdateModel: display_name, description, version_description, labels of one version (etag checked)."""
        paths = c.mask_paths(request.update_mask.paths)
        if not paths or set(paths) - _MODEL_UPDATABLE:
            raise c.invalid(f"update_mask may name only {sorted(_MODEL_UPDATABLE)}; got {paths}.")
        new = request.model
        labels = c.check_labels(new.labels) if "labels" in paths else None
        if "display_name" in paths and not new.display_name:
            raise c.invalid("model.display_name must not be empty.")
        with self.store.transaction(write=True) as state:
            model, version = resolve_version(state, new.name)
            if new.etag and new.etag != model_proto(state, model, version).etag:
                raise ApiError(grpc.StatusCode.ABORTED, f"Etag mismatch for Model {new.name}.")
            for path in paths:
                setattr(version, path, labels if path == "labels" else getattr(new, path))
            version.update_time = self.store.clock()
            return model_proto(state, model, version)

    def delete_model_version(self, request: v1.DeleteModelVersionRequest) -> operations_pb2.Operation:
        """DeleteModelVersion: not the default version (nor so the only one), not while deployed."""
        parsed = c.parse_name(request.name, "models", allow_version=True)
        if not parsed.version:
            raise c.invalid(f"name must name a version (models/M@VERSION): {request.name!r}.")
        with self.store.transaction(write=True) as state:
            _, version = self._check_version_deletable(state, request.name)
            payload = {"name": parsed.name, "version_id": version.version_id}
            return self.store.start_operation(state, parent=parsed.name, method="DeleteModelVersion", request=payload)

    @staticmethod
    def _check_version_deletable(state: CloudState, ref: str) -> tuple[ModelRecord, ModelVersionRecord]:
        model, version = resolve_version(state, ref)
        if DEFAULT_ALIAS in version.aliases:
            raise c.failed_precondition(f"Version {version.version_id} holds the default alias; move it first.")
        serving = _serving_endpoints(state, model.name, version.version_id)
        if serving:
            raise c.failed_precondition(f"Version {version.version_id} of {model.name} is deployed on {serving}.")
        return model, version

    def _apply_delete_version(self, state: CloudState, payload: dict[str, Any]) -> Any:
        model, version = self._check_version_deletable(state, f"{payload['name']}@{payload['version_id']}")
        model.versions.remove(version)
        return empty_pb2.Empty()

    def merge_version_aliases(self, request: v1.MergeVersionAliasesRequest) -> v1.Model:
        """MergeVersionAliases: add `alias`, remove `-alias`; an added alias moves off its old version."""
        parsed = c.parse_name(request.name, "models", allow_version=True)
        if not parsed.version:
            raise c.invalid(f"name must name a version (models/M@VERSION): {request.name!r}.")
        requested = list(request.version_aliases)
        if not requested:
            raise c.invalid("version_aliases must not be empty.")
        removals = _check_aliases(a.removeprefix("-") for a in requested if a.startswith("-"))
        additions = _check_aliases(a for a in requested if not a.startswith("-"))
        if DEFAULT_ALIAS in removals:
            raise c.invalid("The default alias cannot be removed; add it to another version instead.")
        if set(removals) & set(additions):
            raise c.invalid(f"An alias cannot be added and removed at once: {sorted(set(removals) & set(additions))}.")
        with self.store.transaction(write=True) as state:
            model, version = resolve_version(state, request.name)
            version.aliases = [a for a in version.aliases if a not in removals]
            _move_aliases(model, version, additions)
            version.update_time = self.store.clock()
            return model_proto(state, model, version)

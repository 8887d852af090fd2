"""The emulated cloud's state: plain dataclasses, serializable to JSON.

Records hold the fields the emulator reasons about (names, labels, traffic, versions, aliases) as typed
attributes; every other field a client sent (machine specs, container specs, ...) rides along in `spec`,
the proto's JSON form, so it round-trips unchanged. `convert.py` turns records into API messages.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

STATE_VERSION = 1


@dataclass
class DeployedModelRecord:
    """A model version deployed on an endpoint."""

    id: str
    model: str  # full model name without version suffix
    model_version_id: str
    display_name: str
    create_time: float
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class EndpointRecord:
    """An endpoint: `projects/P/locations/L/endpoints/E`."""

    name: str
    display_name: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    traffic_split: dict[str, int] = field(default_factory=dict)
    deployed_models: list[DeployedModelRecord] = field(default_factory=list)
    etag: str = ""
    create_time: float = 0.0
    update_time: float = 0.0
    spec: dict[str, Any] = field(default_factory=dict)

    def deployed(self, deployed_model_id: str) -> DeployedModelRecord | None:
        """The deployed model with this id, if any."""
        return next((d for d in self.deployed_models if d.id == deployed_model_id), None)


@dataclass
class ModelVersionRecord:
    """One version of a registry model."""

    version_id: str
    display_name: str
    description: str = ""
    version_description: str = ""
    artifact_uri: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    create_time: float = 0.0
    update_time: float = 0.0
    spec: dict[str, Any] = field(default_factory=dict)
    tuned_from: str = ""  # the publisher model id a tuning job tuned this version from ("": not tuned)


@dataclass
class ModelRecord:
    """A registry model, `projects/P/locations/L/models/M`, with its versions (oldest first)."""

    name: str
    versions: list[ModelVersionRecord] = field(default_factory=list)
    next_version: int = 1
    create_time: float = 0.0

    def version(self, version_id: str) -> ModelVersionRecord | None:
        """The version with this id, if any."""
        return next((v for v in self.versions if v.version_id == version_id), None)

    def by_alias(self, alias: str) -> ModelVersionRecord | None:
        """The version carrying this alias, if any."""
        return next((v for v in self.versions if alias in v.aliases), None)


@dataclass
class OperationRecord:
    """A long-running operation: pending until `due_at`, then applied once and kept as a finished proto.

    While pending, `request` holds the JSON request to apply; once done, `result_b64` holds the finished
    `google.longrunning.Operation`, serialized.
    """

    name: str
    method: str
    request: dict[str, Any]
    create_time: float
    due_at: float
    done: bool = False
    result_b64: str = ""


@dataclass
class CloudState:
    """Everything the emulated Vertex AI knows, keyed by full resource name."""

    endpoints: dict[str, EndpointRecord] = field(default_factory=dict)
    models: dict[str, ModelRecord] = field(default_factory=dict)
    operations: dict[str, OperationRecord] = field(default_factory=dict)
    version: int = STATE_VERSION
    serial: int = 0  # counts generated ids and etags, so none repeats across restarts

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole state."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CloudState:
        """Rebuild the state from `to_json` output; raises ValueError for another format version."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"state format version {data.get('version')!r}, expected {STATE_VERSION}")
        endpoints = {
            name: EndpointRecord(
                **{
                    **raw,
                    "deployed_models": [DeployedModelRecord(**d) for d in raw.get("deployed_models", [])],
                }
            )
            for name, raw in data.get("endpoints", {}).items()
        }
        models = {
            name: ModelRecord(**{**raw, "versions": [ModelVersionRecord(**v) for v in raw.get("versions", [])]})
            for name, raw in data.get("models", {}).items()
        }
        operations = {name: OperationRecord(**raw) for name, raw in data.get("operations", {}).items()}
        return cls(endpoints=endpoints, models=models, operations=operations, serial=int(data.get("serial", 0)))

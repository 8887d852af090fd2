"""Fixtures for the Vertex AI emulator conformance tests: a fresh emulator per test, reached only
through the real `aiplatform_v1` gapic clients over loopback gRPC."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1

from controller.emulator.server import Emulator, running

HEALTHY_URI = "gs://my-bucket/models/llm"
MACHINE = {"machine_spec": {"machine_type": "n1-standard-4"}, "min_replica_count": 1, "max_replica_count": 2}


@dataclass
class Recorded:
    """One prediction as the metrics recorder saw it."""

    endpoint_id: str
    deployed_model_id: str
    model_display_name: str
    latency_ms: float
    response_code: int
    at: float


@dataclass
class ListRecorder:
    """A `PredictionRecorder` that keeps every call."""

    calls: list[Recorded] = field(default_factory=list)
    first_tokens: list[dict[str, Any]] = field(default_factory=list)  # record_first_token's arguments

    def record_prediction(self, **kw: Any) -> None:
        self.calls.append(
            Recorded(
                kw["endpoint_id"],
                kw["deployed_model_id"],
                kw["model_display_name"],
                kw["latency_ms"],
                kw["response_code"],
                kw["at"],
            )
        )

    def record_first_token(self, **kw: Any) -> None:
        self.first_tokens.append(kw)


@dataclass
class Vertex:
    """The real clients of one emulator, plus shorthands for the common set-up steps.

    The clients are typed `Any`: the gapic signatures are stricter than what the clients accept (dicts
    for messages, plain values for `google.protobuf.Value`), and api_core's futures are untyped.
    """

    emulator: Emulator
    endpoints: Any  # v1.EndpointServiceClient
    models: Any  # v1.ModelServiceClient
    prediction: Any  # v1.PredictionServiceClient

    @property
    def parent(self) -> str:
        return self.emulator.parent

    def create_endpoint(self, endpoint_id: str, **fields: Any) -> Any:
        endpoint = v1.Endpoint(display_name=fields.pop("display_name", endpoint_id), **fields)
        request = {"parent": self.parent, "endpoint": endpoint, "endpoint_id": endpoint_id}
        return self.endpoints.create_endpoint(request=request).result(timeout=10)

    def upload(
        self,
        model_id: str,
        *,
        uri: str = HEALTHY_URI,
        aliases: tuple[str, ...] = (),
        parent_model: str = "",
        **fields: Any,
    ) -> Any:
        model = v1.Model(
            display_name=fields.pop("display_name", model_id),
            artifact_uri=uri,
            container_spec={"image_uri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"},
            version_aliases=list(aliases),
            **fields,
        )
        request = {"parent": self.parent, "model": model, "model_id": model_id, "parent_model": parent_model}
        return self.models.upload_model(request=request).result(timeout=10)

    def deploy(self, endpoint: str, model: str, split: dict[str, int] | None = None, **fields: Any) -> str:
        deployed = v1.DeployedModel(model=model, dedicated_resources=MACHINE, **fields)
        op = self.endpoints.deploy_model(endpoint=endpoint, deployed_model=deployed, traffic_split=split or {})
        return str(op.result(timeout=10).deployed_model.id)

    def endpoint_with_models(self, *, count: int, uris: tuple[str, ...] = ()) -> tuple[Any, list[str]]:
        """An endpoint `ep` with `count` deployed models; the first one carries all traffic."""
        endpoint = self.create_endpoint("ep")
        ids = []
        for i in range(count):
            model = self.upload(f"m{i}", uri=uris[i] if i < len(uris) else HEALTHY_URI).model
            ids.append(self.deploy(endpoint.name, model, {"0": 100} if i == 0 else None))
        return self.endpoints.get_endpoint(name=endpoint.name), ids


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh in-memory emulator (gRPC only) on an ephemeral loopback port."""
    with running(rest_port=None, storage_port=None) as emu:
        yield emu


@pytest.fixture
def vx(emulator: Emulator) -> Vertex:
    """Real gapic clients on the emulator."""
    return Vertex(emulator, emulator.endpoint_client(), emulator.model_client(), emulator.prediction_client())


@pytest.fixture
def rest_emulator() -> Iterator[Emulator]:
    """A fresh in-memory emulator with its REST gateway (no Cloud Storage)."""
    with running(storage_port=None) as emu:
        yield emu


@pytest.fixture
def rvx(rest_emulator: Emulator) -> Vertex:
    """Real gapic clients (gRPC) on the REST-enabled emulator, for set-up beside REST calls."""
    emu = rest_emulator
    return Vertex(emu, emu.endpoint_client(), emu.model_client(), emu.prediction_client())


def rest_client(emulator: Emulator, client_class: Any) -> Any:
    """A real gapic client of `client_class` (e.g. `v1.PredictionServiceClient`) on its REST transport."""
    return client_class(
        client_options={"api_endpoint": emulator.rest_endpoint},
        transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )

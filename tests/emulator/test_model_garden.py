"""The emulated ModelGardenService (GetPublisherModel) through the real `aiplatform_v1` gapic client, over
gRPC and over REST, and the Model Garden provider reading its deploy actions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform_v1.services.model_garden_service.transports.grpc import ModelGardenServiceGrpcTransport

from controller.emulator.server import Emulator, running
from controller.emulator.vertex.model_garden import CATALOGUE, publisher_model
from controller.providers.connections import plain_channel
from controller.providers.model_garden import ModelGardenProvider, open_model_source

LLAMA = "publishers/meta/models/llama3_1@llama-3.1-8b-instruct"
GEMMA = "publishers/google/models/gemma3@gemma-3-1b-it"


@pytest.fixture
def garden(emulator: Emulator) -> Iterator[Any]:
    """The real gapic client on the emulator's gRPC port."""
    channel = plain_channel(emulator.grpc_target)
    yield v1.ModelGardenServiceClient(transport=ModelGardenServiceGrpcTransport(channel=channel))
    channel.close()


def test_get_publisher_model_answers_the_name_without_version_and_the_version_id_apart(garden: Any) -> None:
    model = garden.get_publisher_model(name=LLAMA)
    assert model.name == "publishers/meta/models/llama3_1"
    assert model.version_id == "llama-3.1-8b-instruct"
    assert model.open_source_category == v1.PublisherModel.OpenSourceCategory.THIRD_PARTY_OWNED_OSS


def test_the_deploy_action_names_a_vllm_container_and_model_gardens_machines(garden: Any) -> None:
    deploy = garden.get_publisher_model(name=GEMMA).supported_actions.deploy
    container = deploy.container_spec
    assert "pytorch-vllm-serve" in container.image_uri
    assert "--model=gs://vertex-model-garden-restricted-us/gemma3/gemma-3-1b-it" in container.args
    assert {e.name: e.value for e in container.env}["MODEL_ID"] == "google/gemma-3-1b-it"
    assert [p.container_port for p in container.ports] == [8080]
    assert (container.predict_route, container.health_route) == ("/generate", "/ping")
    machine = deploy.dedicated_resources.machine_spec
    assert (machine.machine_type, machine.accelerator_type, machine.accelerator_count) == (
        "g2-standard-12",
        v1.AcceleratorType.NVIDIA_L4,
        1,
    )


def test_a_name_without_a_version_gets_the_models_default_version(garden: Any) -> None:
    assert garden.get_publisher_model(name="publishers/meta/models/llama3-2").version_id == "llama-3.2-3b-instruct"
    pinned = garden.get_publisher_model(name="publishers/meta/models/llama3-2@llama-3.2-1b-instruct")
    assert pinned.version_id == "llama-3.2-1b-instruct"


def test_an_unknown_model_is_not_found_as_vertex_answers(garden: Any) -> None:
    with pytest.raises(exceptions.NotFound, match="publishers/meta/models/llama9"):
        garden.get_publisher_model(name="publishers/meta/models/llama9@llama-9-1t")
    with pytest.raises(exceptions.NotFound):
        garden.get_publisher_model(name="publishers/meta/models/llama3_1@llama-3.1-800b")


def test_a_malformed_name_is_an_invalid_argument(garden: Any) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        garden.get_publisher_model(name="models/llama3_1")


def test_gemini_is_a_publisher_model_with_no_deploy_action(garden: Any) -> None:
    gemini = garden.get_publisher_model(name="publishers/google/models/gemini-2.0-flash")
    assert gemini.open_source_category == v1.PublisherModel.OpenSourceCategory.PROPRIETARY
    assert "deploy" not in gemini.supported_actions


def test_the_rest_transport_reaches_the_same_catalogue() -> None:
    with running(rest_port=0, storage_port=None) as emulator:
        client = v1.ModelGardenServiceClient(
            client_options={"api_endpoint": f"http://127.0.0.1:{emulator.rest_port}"},
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
        assert client.get_publisher_model(name=LLAMA).version_id == "llama-3.1-8b-instruct"
        with pytest.raises(exceptions.NotFound):
            client.get_publisher_model(name="publishers/meta/models/nothing@none")


def test_the_provider_reads_the_deploy_action_into_an_open_model_source(emulator: Emulator) -> None:
    channel = plain_channel(emulator.grpc_target)
    calls: list[str] = []
    try:
        provider = ModelGardenProvider(channel=channel, on_call=calls.append)
        source = provider.get_open_model(region="us-central1", publisher_model=LLAMA)
        missing = provider.get_open_model(region="us-central1", publisher_model="publishers/meta/models/x@y")
    finally:
        channel.close()
    assert source is not None and source.container is not None
    assert source.reference == LLAMA
    assert source.eula_required
    assert source.artifact_uri == ""  # the weights are named by the container's --model argument
    assert dict(source.container.env)["MODEL_ID"] == "meta-llama/Llama-3.1-8B-Instruct"
    machines = (source.machine_type, source.accelerator_type, source.accelerator_count)
    assert machines == ("g2-standard-12", "NVIDIA_L4", 1)
    assert missing is None
    assert calls == ["GetPublisherModel", "GetPublisherModel"]


def test_only_a_google_owned_open_source_model_without_request_access_needs_no_licence() -> None:
    gemma = next(e for e in CATALOGUE if e.model == "gemma3")
    assert open_model_source(publisher_model(gemma)).eula_required
    apache = replace(gemma, category="GOOGLE_OWNED_OSS")
    assert not open_model_source(publisher_model(apache)).eula_required
    assert open_model_source(publisher_model(replace(apache, request_access=True))).eula_required


def test_a_model_without_a_deploy_action_has_no_container() -> None:
    source = open_model_source(v1.PublisherModel(name="publishers/google/models/gemini-2.0-flash", version_id="001"))
    assert source.container is None

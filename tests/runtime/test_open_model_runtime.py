"""Open models on endpoints through the runtime client, against the real emulator: OpenAI chat completions
on :rawPredict (whole) and :streamRawPredict (server-sent events), token usage from the response, the
deployed model that answered, errors as the runtime's types, `GenAIClient.stream` end to end, and
`genaiops prompts test --live` on a prompt whose Model serves chat completions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1 as v1
from pydantic import ValidationError

from controller.cli.main import main
from controller.emulator.server import Emulator, running
from controller.emulator.vertex.gemini import tokens
from controller.emulator.vertex.llm import words
from controller.errors import NotFoundError, PermanentError
from controller.loader import load
from controller.model.registry_model import ModelSpec
from controller.prompts.client import PromptClient
from controller.prompts.models import chat_endpoints
from controller.prompts.store import PromptStore
from controller.providers.open_model import ChatEndpointModel, chat_body
from controller.providers.runtime_models import VertexModels, vertex_models
from controller.runtime import GenAIClient
from controller.runtime.model import ModelRequest
from tests.runtime.conftest import publish_version, version

PROJECT, LOCATION = "local-project", "us-central1"
CHAT_URI = "gs://emulator-models/open-chat?llm=chat"
OTHER_URI = "gs://emulator-models/open-chat-b?llm=chat&output_tokens=3"
ECHO_URI = "gs://emulator-models/echo?latency_ms=1"
PROMPT = "why is the sky blue at noon"
SYSTEM = "Be brief."
SPLIT = 40  # requests sent to the 50/50 endpoint


def _name(endpoint_id: str) -> str:
    return f"projects/{PROJECT}/locations/{LOCATION}/endpoints/{endpoint_id}"


def _upload(emu: Emulator, name: str, uri: str) -> str:
    model = v1.Model(
        display_name=name,
        artifact_uri=uri,
        container_spec={"image_uri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"},
    )
    request = {"parent": emu.parent, "model": model, "model_id": name}
    return str(emu.model_client().upload_model(request=request).result(timeout=10).model)


def _endpoint(emu: Emulator, endpoint_id: str, models: list[str], splits: list[dict[str, int]]) -> list[str]:
    """Create `endpoint_id` and deploy `models` in order, each with its traffic split ("0": the new one)."""
    endpoints = emu.endpoint_client()
    request = {"parent": emu.parent, "endpoint": v1.Endpoint(display_name=endpoint_id), "endpoint_id": endpoint_id}
    endpoint = endpoints.create_endpoint(request=request).result(timeout=10)
    for model, split in zip(models, splits, strict=True):
        deployed = v1.DeployedModel(
            model=model,
            dedicated_resources={"machine_spec": {"machine_type": "n1-standard-2"}, "min_replica_count": 1},
        )
        endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed, traffic_split=split).result(timeout=10)
    return [d.id for d in endpoints.get_endpoint(name=endpoint.name).deployed_models]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """An emulator (gRPC and REST) with `open-chat` (one chat model), `open-split` (two chat models, 50/50),
    `open-empty` (no deployed model) and `open-echo` (a Predict model, not a chat model)."""
    with running(project=PROJECT, location=LOCATION, rest_port=0, storage_port=None) as emulator:
        chat, other, echo = (
            _upload(emulator, "open-llm", CHAT_URI),
            _upload(emulator, "open-llm-b", OTHER_URI),
            _upload(emulator, "echo", ECHO_URI),
        )
        _endpoint(emulator, "open-chat", [chat], [{"0": 100}])
        first = _endpoint(emulator, "open-split", [chat], [{"0": 100}])[0]
        endpoints = emulator.endpoint_client()
        deployed = v1.DeployedModel(
            model=other,
            dedicated_resources={"machine_spec": {"machine_type": "n1-standard-2"}, "min_replica_count": 1},
        )
        endpoints.deploy_model(
            endpoint=_name("open-split"), deployed_model=deployed, traffic_split={"0": 50, first: 50}
        ).result(timeout=10)
        _endpoint(emulator, "open-empty", [], [])
        _endpoint(emulator, "open-echo", [echo], [{"0": 100}])
        yield emulator


@pytest.fixture(scope="module")
def model(emu: Emulator) -> ChatEndpointModel:
    return ChatEndpointModel(base_url=emu.rest_endpoint)


def request(endpoint_id: str = "open-chat", **config: Any) -> ModelRequest:
    return ModelRequest(model=_name(endpoint_id), text=PROMPT, system_instruction=SYSTEM, generation_config=config)


def deployed_ids(emu: Emulator, endpoint_id: str) -> list[str]:
    return [d.id for d in emu.endpoint_client().get_endpoint(name=_name(endpoint_id)).deployed_models]


def test_the_chat_body_maps_the_system_instruction_text_and_generation_config() -> None:
    body = chat_body(request(maxOutputTokens=64, temperature=0.2, topP=0.9, stopSequences=["END"]), stream=True)
    assert body["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["stop"]) == (64, 0.2, 0.9, ["END"])
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert chat_body(request())["stream"] is False and "stream_options" not in chat_body(request())


def test_a_whole_answer_carries_the_usage_the_emulator_counted_and_the_deployed_model(
    emu: Emulator, model: ChatEndpointModel
) -> None:
    answer = model.generate(request())
    assert answer.text == PROMPT  # the emulated chat model echoes the last user message
    assert answer.usage is not None and not answer.usage.estimated
    assert answer.usage.input_tokens == tokens(SYSTEM) + tokens(PROMPT)
    assert answer.usage.output_tokens == tokens(PROMPT)
    assert answer.finish_reason == "STOP"
    assert answer.deployed_model_id == deployed_ids(emu, "open-chat")[0]


def test_max_output_tokens_cuts_the_answer_and_finishes_with_max_tokens(model: ChatEndpointModel) -> None:
    answer = model.generate(request(maxOutputTokens=2))
    assert answer.finish_reason == "MAX_TOKENS"
    assert answer.usage is not None and answer.usage.output_tokens == 2


def test_a_stream_yields_one_chunk_per_token_then_the_usage(emu: Emulator, model: ChatEndpointModel) -> None:
    chunks = list(model.stream(request()))
    *texts, last = chunks
    assert [c.text for c in texts] == list(words(PROMPT))
    assert all(c.usage is None for c in texts)
    assert last.text == "" and last.finish_reason == "STOP"
    assert last.usage is not None
    assert (last.usage.input_tokens, last.usage.output_tokens) == (tokens(SYSTEM) + tokens(PROMPT), tokens(PROMPT))
    assert {c.deployed_model_id for c in chunks} == {deployed_ids(emu, "open-chat")[0]}


def test_the_async_calls_answer_as_the_sync_ones(emu: Emulator) -> None:
    async def both() -> tuple[Any, list[Any]]:
        model = ChatEndpointModel(base_url=emu.rest_endpoint)
        try:
            whole = await model.agenerate(request())
            streamed = [c async for c in model.astream(request())]
            return whole, streamed
        finally:
            await model.aclose()

    whole, streamed = asyncio.run(both())
    assert whole.text == PROMPT and whole.usage.output_tokens == tokens(PROMPT)
    assert "".join(c.text for c in streamed) == PROMPT
    assert streamed[-1].usage == whole.usage


def test_a_50_50_split_is_answered_by_both_deployed_models(emu: Emulator, model: ChatEndpointModel) -> None:
    seen = [model.generate(request("open-split")).deployed_model_id for _ in range(SPLIT)]
    assert set(seen) == set(deployed_ids(emu, "open-split"))
    streamed = {next(iter(model.stream(request("open-split")))).deployed_model_id for _ in range(SPLIT)}
    assert streamed == set(deployed_ids(emu, "open-split"))


def test_a_malformed_request_is_a_permanent_error_with_the_apis_message(model: ChatEndpointModel) -> None:
    said = r"RawPredict .*/endpoints/open-chat: 400 INVALID_ARGUMENT max_tokens must be a whole number"
    with pytest.raises(PermanentError, match=said):
        model.generate(request(maxOutputTokens=0))
    with pytest.raises(PermanentError, match="max_tokens must be a whole number"):
        list(model.stream(request(maxOutputTokens=0)))


def test_an_unknown_endpoint_is_not_found(model: ChatEndpointModel) -> None:
    with pytest.raises(NotFoundError, match=r"404 .*nowhere"):
        model.generate(request("nowhere"))
    with pytest.raises(NotFoundError, match="nowhere"):
        list(model.stream(request("nowhere")))


def test_an_endpoint_without_a_deployed_model_is_a_permanent_error_saying_so(model: ChatEndpointModel) -> None:
    with pytest.raises(PermanentError) as caught:
        model.generate(request("open-empty"))
    assert not isinstance(caught.value, NotFoundError)
    assert "400 FAILED_PRECONDITION" in str(caught.value)
    assert "endpoints/open-empty has no deployed model receiving traffic" in str(caught.value)


def test_a_model_that_does_not_serve_chat_completions_is_a_permanent_error(model: ChatEndpointModel) -> None:
    with pytest.raises(PermanentError, match="instances is required"):
        model.generate(request("open-echo"))


def test_the_router_sends_chat_endpoints_to_the_chat_adapter_and_others_to_predict(emu: Emulator) -> None:
    models = vertex_models(
        project=PROJECT,
        location=LOCATION,
        grpc_target=emu.grpc_target,
        genai_base_url=emu.rest_endpoint,
        chat_endpoints=[_name("open-chat")],
    )
    assert isinstance(models.model_for(_name("open-chat")), ChatEndpointModel)
    assert not isinstance(models.model_for(_name("open-echo")), ChatEndpointModel)
    assert isinstance(models.model_for(_name("open-chat"), api="generateContent"), type(models.model_for(FLASH)))
    with pytest.raises(PermanentError, match="no chat-completions adapter"):
        VertexModels(chat_endpoints=[_name("open-chat")]).model_for(_name("open-chat"))


FLASH = "publishers/google/models/gemini-2.5-flash"


def test_genai_client_streams_a_prompt_on_an_open_model_end_to_end(emu: Emulator, store: PromptStore) -> None:
    publish_version(store, version(model=_name("open-chat"), generation_config={"temperature": 0.3}))
    models = vertex_models(
        project=PROJECT,
        location=LOCATION,
        grpc_target=emu.grpc_target,
        genai_base_url=emu.rest_endpoint,
        chat_endpoints=[_name("open-chat")],
    )
    client = GenAIClient(PromptClient(store, project=PROJECT), models, project=PROJECT)
    stream = client.stream("support", {"question": "why is the sky blue"})
    deltas = list(stream)
    assert "".join(deltas) == "Answer why is the sky blue"
    assert len(deltas) == len(words("Answer why is the sky blue"))
    result = stream.result
    assert result is not None and result.outcome.value == "ok"
    assert result.usage.output_tokens == tokens("Answer why is the sky blue") and not result.usage.estimated
    assert result.usage.input_tokens == tokens("Be brief.") + tokens("Answer why is the sky blue")
    assert result.finish_reason == "STOP"
    whole = client.generate("support", {"question": "why is the sky blue"})
    assert whole.text == "Answer why is the sky blue" and whole.usage == result.usage


MANIFESTS = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: open-llm}
spec:
  endpointApi: chatCompletions
  upload:
    artifactUri: gs://emulator-models/open-chat?llm=chat
    servingContainer: {imageUri: us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest}
---
apiVersion: genaiops/v1
kind: Endpoint
metadata: {name: open-chat}
spec:
  deployments: [{name: primary, model: open-llm, machineType: n1-standard-2}]
  traffic: {primary: 100}
---
apiVersion: genaiops/v1
kind: Prompt
metadata: {name: greet}
spec:
  model: open-llm
  template: "Hello {{ customer }}!"
  variables: {customer: {type: string}}
  labels: [production]
  systemInstruction: Be kind.
  generationConfig: {temperature: 0.1, maxOutputTokens: 64}
  tests:
    - name: the-chat-model-answers
      vars: {customer: Ada}
      assert:
        - {type: equals, value: "Hello Ada!"}
    - name: not-the-predict-echo
      vars: {customer: Bo}
      assert:
        - {type: not-contains, value: instances}
        - {type: not-contains, value: max_tokens}
"""


def _write(tmp_path: Path) -> Path:
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "open.yaml").write_text(MANIFESTS)
    return root


def test_the_manifests_list_the_endpoint_serving_a_chat_model(tmp_path: Path) -> None:
    manifests = [item.manifest for item in load(_write(tmp_path)).manifests]
    assert chat_endpoints(manifests, PROJECT) == (_name("open-chat"),)


def run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


def test_prompts_test_live_calls_the_open_model_with_chat_completions(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _write(tmp_path)
    code = run(["prompts", "test", str(root), "--live", "--emulator", emu.grpc_target])
    printed = capsys.readouterr().out
    assert "PASS greet / the-chat-model-answers" in printed, printed
    assert "PASS greet / not-the-predict-echo" in printed, printed
    assert code == 0, printed


def test_an_open_model_serves_chat_by_default_and_a_manifest_can_say_otherwise() -> None:
    llama = {"publisher": "publishers/meta/models/llama3_1@llama-3.1-8b-instruct", "deploy": {"acceptEula": True}}
    upload = {"artifactUri": "gs://bucket/m", "servingContainer": {"imageUri": "img"}}
    assert ModelSpec.model_validate(llama).serves_chat
    assert not ModelSpec.model_validate({**llama, "endpointApi": "predict"}).serves_chat
    assert not ModelSpec.model_validate({"upload": upload}).serves_chat
    assert ModelSpec.model_validate({"upload": upload, "endpointApi": "chatCompletions"}).serves_chat
    with pytest.raises(ValidationError, match="Google serves a publisher model itself"):
        ModelSpec.model_validate({"publisher": "publishers/google/models/gemini-2.5-flash", "endpointApi": "predict"})


def test_a_published_version_records_chat_completions_so_the_client_needs_no_endpoint_list(
    emu: Emulator, store: PromptStore, tmp_path: Path
) -> None:
    from controller.prompts.source import sources_of
    from controller.prompts.version import version_of

    (source,) = sources_of(load(_write(tmp_path)).manifests)
    assert source.endpoint_api == "chatCompletions"
    assert source.vertex_model == "locations/us-central1/endpoints/open-chat"
    recorded = version_of(source)
    assert recorded.runtime["endpointApi"] == "chatCompletions"
    publish_version(store, version(model=_name("open-chat"), runtime=recorded.runtime))
    models = vertex_models(
        project=PROJECT, location=LOCATION, grpc_target=emu.grpc_target, genai_base_url=emu.rest_endpoint
    )  # no chat_endpoints: the version says how its endpoint is called
    client = GenAIClient(PromptClient(store, project=PROJECT), models, project=PROJECT)
    whole = client.generate("support", {"question": "why is the sky blue"})
    assert whole.text == "Answer why is the sky blue" and not whole.usage.estimated
    assert "".join(client.stream("support", {"question": "why is the sky blue"})) == whole.text

"""Gemini on the emulator, driven by the official google-genai SDK in Vertex mode over the REST gateway
(and by the aiplatform_v1 gapic client over gRPC and REST): echoed text, usage metadata, streaming,
errors, safety blocks, tuned-model endpoints, and the publisher metrics each call leaves behind."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from google import genai
from google.cloud import aiplatform_v1 as v1
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from controller.emulator.server import Emulator, running
from controller.emulator.vertex.gemini import tokens

MODEL = "gemini-2.5-flash"
PUBLISHER_METRICS = "aiplatform.googleapis.com/publisher/online_serving/"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """An emulator with the REST gateway (no Cloud Storage)."""
    with running(storage_port=None, gemini_models={"flaky-model": "error_rate=1;error_code=503"}) as emu:
        yield emu


class Clients:
    """google-genai clients in Vertex mode on the emulator, built as the docs tell users to. They are kept
    for the test's duration: a `genai.Client` closes its HTTP client when it is garbage collected."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._kept: list[genai.Client] = []

    def __call__(self, *, api_version: str | None = None, paths: list[str] | None = None) -> genai.Client:
        args: dict[str, Any] = {}
        if paths is not None:
            args["event_hooks"] = {"request": [lambda request: paths.append(request.url.path)]}
        made = genai.Client(
            vertexai=True,
            project=self.emulator.project,
            location=self.emulator.location,
            credentials=Credentials(token="fake"),  # type: ignore[no-untyped-call]
            http_options=types.HttpOptions(
                base_url=self.emulator.rest_endpoint, api_version=api_version, client_args=args
            ),
        )
        self._kept.append(made)
        return made


@pytest.fixture
def client(emulator: Emulator) -> Clients:
    """Builds google-genai clients on the emulator."""
    return Clients(emulator)


def test_the_sdk_gets_the_last_user_turn_echoed_with_deterministic_usage(client: Clients) -> None:
    system, first, answer, last = "You are terse.", "What is 2+2?", "4", "And the capital of France, please?"
    contents = [
        types.Content(role="user", parts=[types.Part(text=first)]),
        types.Content(role="model", parts=[types.Part(text=answer)]),
        types.Content(role="user", parts=[types.Part(text=last)]),
    ]
    response = client().models.generate_content(
        model=MODEL, contents=contents, config=types.GenerateContentConfig(system_instruction=system)
    )
    assert response.text == last
    [candidate] = response.candidates or []
    assert candidate.content is not None and candidate.content.role == "model"
    assert candidate.finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    prompt = sum(math.ceil(len(t) / 4) for t in (system, first, answer, last))
    assert (usage.prompt_token_count, usage.candidates_token_count) == (prompt, math.ceil(len(last) / 4))
    assert usage.total_token_count == prompt + math.ceil(len(last) / 4)
    assert response.model_version == MODEL
    assert response.response_id


def test_the_default_client_calls_v1beta1_and_an_explicit_v1_client_calls_v1(
    emulator: Emulator, client: Clients
) -> None:
    beta_paths: list[str] = []
    v1_paths: list[str] = []
    beta = client(paths=beta_paths).models.generate_content(model=MODEL, contents="beta")
    stable = client(api_version="v1", paths=v1_paths).models.generate_content(model=MODEL, contents="one")
    assert (beta.text, stable.text) == ("beta", "one")
    parent = f"projects/{emulator.project}/locations/{emulator.location}"
    assert beta_paths == [f"/v1beta1/{parent}/publishers/google/models/{MODEL}:generateContent"]
    assert v1_paths == [f"/v1/{parent}/publishers/google/models/{MODEL}:generateContent"]


@pytest.mark.parametrize("api_version", [None, "v1"])
def test_a_stream_arrives_in_several_chunks_that_join_to_the_answer(api_version: str | None, client: Clients) -> None:
    text = "Streaming answers arrive in pieces."
    chunks = list(
        client(api_version=api_version).models.generate_content_stream(model=f"{MODEL};chunks=4", contents=text)
    )
    assert len(chunks) == 4
    assert "".join(chunk.text or "" for chunk in chunks) == text
    assert [chunk.usage_metadata is not None for chunk in chunks] == [False, False, False, True]
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert len({chunk.response_id for chunk in chunks}) == 1


def test_the_stream_is_server_sent_events_on_the_wire(emulator: Emulator) -> None:
    url = (
        f"{emulator.rest_endpoint}/v1beta1/{emulator.parent}/publishers/google/models/{MODEL};chunks=2"
        ":streamGenerateContent?alt=sse"
    )
    body = {"contents": [{"role": "user", "parts": [{"text": "two pieces"}]}]}
    reply = httpx.post(url, json=body)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = [line for line in reply.text.split("\r\n\r\n") if line]
    assert len(events) == 2 and all(event.startswith("data: {") for event in events)


def test_the_async_client_generates_and_streams(client: Clients) -> None:
    async def calls() -> tuple[str | None, list[str | None]]:
        aio = client().aio
        single = await aio.models.generate_content(model=MODEL, contents="async")
        stream = await aio.models.generate_content_stream(model=MODEL, contents="async stream")
        return single.text, [chunk.text async for chunk in stream]

    text, pieces = asyncio.run(calls())
    assert text == "async"
    assert "".join(p or "" for p in pieces) == "async stream"


def test_an_injected_429_surfaces_as_a_client_error(emulator: Emulator, client: Clients) -> None:
    with pytest.raises(errors.ClientError) as raised:
        client().models.generate_content(model=f"{MODEL};error_rate=1;error_code=429", contents="x")
    assert (raised.value.code, raised.value.status) == (429, "RESOURCE_EXHAUSTED")
    emulator.faults.add("GenerateContent:fail_next=1:code=RESOURCE_EXHAUSTED")
    with pytest.raises(errors.ClientError) as injected:
        client(api_version="v1").models.generate_content(model=MODEL, contents="x")
    assert injected.value.code == 429


def test_a_failing_model_surfaces_as_a_server_error_also_when_streaming(client: Clients) -> None:
    with pytest.raises(errors.ServerError) as raised:
        client().models.generate_content(model=f"{MODEL};error_rate=1", contents="x")
    assert (raised.value.code, raised.value.status) == (500, "INTERNAL")
    with pytest.raises(errors.ServerError) as streamed:
        list(client().models.generate_content_stream(model="flaky-model", contents="x"))
    assert streamed.value.code == 503


def test_a_safety_block_answers_no_text_with_a_blocked_rating(client: Clients) -> None:
    response = client().models.generate_content(model=f"{MODEL};block_rate=1", contents="how to ...")
    [candidate] = response.candidates or []
    assert response.text is None
    assert candidate.finish_reason == types.FinishReason.SAFETY
    blocked = [r for r in candidate.safety_ratings or [] if r.blocked]
    assert [(r.category, r.probability) for r in blocked] == [
        (types.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT, types.HarmProbability.HIGH)
    ]


def test_block_none_for_the_category_lets_a_flagged_answer_through(client: Clients) -> None:
    config = types.GenerateContentConfig(
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT,
                threshold=types.HarmBlockThreshold.BLOCK_NONE,
            )
        ]
    )
    response = client().models.generate_content(model=f"{MODEL};block_rate=1", contents="flagged", config=config)
    assert response.text == "flagged"
    [candidate] = response.candidates or []
    assert candidate.finish_reason == types.FinishReason.STOP
    assert not any(r.blocked for r in candidate.safety_ratings or [])


def test_a_blocked_prompt_has_a_block_reason_and_no_candidates(client: Clients) -> None:
    response = client().models.generate_content(model=f"{MODEL};prompt_block_rate=1", contents="bad")
    assert not response.candidates
    assert response.prompt_feedback is not None
    assert response.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert response.usage_metadata is not None and response.usage_metadata.prompt_token_count == tokens("bad")


def test_thinking_and_cached_tokens_are_reported_and_a_zero_budget_turns_thinking_off(client: Clients) -> None:
    text = "x" * 40
    model = f"{MODEL};thinking_tokens=7;cached_ratio=0.5"
    usage = client().models.generate_content(model=model, contents=text).usage_metadata
    assert usage is not None
    assert (usage.thoughts_token_count, usage.cached_content_token_count) == (7, 5)
    assert usage.total_token_count == 10 + 10 + 7
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0))
    off = client().models.generate_content(model=model, contents=text, config=config).usage_metadata
    assert off is not None and not off.thoughts_token_count and off.total_token_count == 20


def test_max_output_tokens_truncates_and_a_stop_sequence_cuts(client: Clients) -> None:
    genai_client = client()
    text = "one two three four five six seven"
    short = genai_client.models.generate_content(
        model=MODEL, contents=text, config=types.GenerateContentConfig(max_output_tokens=2)
    )
    assert short.text == text[:8]
    assert short.candidates and short.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    cut = genai_client.models.generate_content(
        model=MODEL, contents=text, config=types.GenerateContentConfig(stop_sequences=[" four"])
    )
    assert cut.text == "one two three"


def test_requests_the_api_refuses_are_client_errors(client: Clients) -> None:
    genai_client = client()
    with pytest.raises(errors.ClientError, match="valid role"):
        genai_client.models.generate_content(
            model=MODEL, contents=[types.Content(role="bot", parts=[types.Part(text="x")])]
        )
    with pytest.raises(errors.ClientError, match="temperature"):
        genai_client.models.generate_content(
            model=MODEL, contents="x", config=types.GenerateContentConfig(temperature=3.0)
        )
    with pytest.raises(errors.ClientError, match="unknown behaviour parameter"):
        genai_client.models.generate_content(model=f"{MODEL};colour=blue", contents="x")


def test_unknown_models_are_not_found_and_retired_ones_too(client: Clients) -> None:
    with pytest.raises(errors.ClientError) as unknown:
        client().models.generate_content(model="text-bison", contents="x")
    assert unknown.value.code == 404 and "was not found" in (unknown.value.message or "")
    assert client().models.generate_content(model="gemini-2.0-flash", contents="still here").text
    with running(storage_port=None, today=date(2026, 12, 1)) as retiring:
        retiring_client = Clients(retiring)()
        with pytest.raises(errors.ClientError) as retired:
            retiring_client.models.generate_content(model="gemini-2.0-flash", contents="x")
        assert retired.value.code == 404
        assert retiring_client.models.generate_content(model="gemini-3.5-flash-lite", contents="ok").text == "ok"


def test_grpc_generate_content_and_its_stream_answer_like_rest(emulator: Emulator) -> None:
    prediction = emulator.prediction_client()
    request = {
        "model": f"{emulator.parent}/publishers/google/models/{MODEL}?chunks=3",
        "contents": [{"role": "user", "parts": [{"text": "over gRPC"}]}],
    }
    response = prediction.generate_content(request=request)
    assert response.candidates[0].content.parts[0].text == "over gRPC"
    assert response.usage_metadata.total_token_count == 2 * tokens("over gRPC")
    events = list(prediction.stream_generate_content(request=request))
    assert len(events) == 3
    assert "".join(e.candidates[0].content.parts[0].text for e in events) == "over gRPC"


def test_the_gapic_rest_transport_reads_a_stream_as_a_json_array(emulator: Emulator) -> None:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    rest = v1.PredictionServiceClient(
        transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=emulator.rest_endpoint),
    )
    request = {
        "model": f"{emulator.parent}/publishers/google/models/{MODEL}",
        "contents": [{"role": "user", "parts": [{"text": "array"}]}],
    }
    events = list(rest.stream_generate_content(request=request))
    assert "".join(e.candidates[0].content.parts[0].text for e in events) == "array"


def _tuned_endpoint(emulator: Emulator, uri: str) -> str:
    models, endpoints = emulator.model_client(), emulator.endpoint_client()
    model = v1.Model(
        display_name="tuned",
        artifact_uri=uri,
        container_spec={"image_uri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"},
    )
    uploaded = models.upload_model(request={"parent": emulator.parent, "model": model, "model_id": "tuned"})
    created = endpoints.create_endpoint(
        request={"parent": emulator.parent, "endpoint": v1.Endpoint(display_name="tuned-ep"), "endpoint_id": "tuned-ep"}
    ).result(timeout=10)
    deployed = v1.DeployedModel(
        model=uploaded.result(timeout=10).model,
        dedicated_resources={"machine_spec": {"machine_type": "n1-standard-4"}, "min_replica_count": 1},
    )
    endpoints.deploy_model(endpoint=created.name, deployed_model=deployed, traffic_split={"0": 100}).result(timeout=10)
    return str(created.name)


def test_a_tuned_model_endpoint_answers_with_the_behaviour_of_its_deployed_model(
    emulator: Emulator, client: Clients
) -> None:
    endpoint = _tuned_endpoint(emulator, "gs://emulator-models/tuned?block_rate=1")
    blocked = client().models.generate_content(model=endpoint, contents="tuned")
    assert blocked.candidates and blocked.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert emulator.prediction_client().predict(endpoint=endpoint, instances=[1]).predictions  # Predict still works
    now = time.time()
    series = emulator.metric_client().list_time_series(
        request={
            "name": f"projects/{emulator.project}",
            "filter": 'metric.type = "aiplatform.googleapis.com/prediction/online/prediction_count"',
            "interval": {"start_time": {"seconds": int(now) - 60}, "end_time": {"seconds": int(now) + 2}},
        }
    )
    assert sum(p.value.int64_value for ts in series for p in ts.points) == 2


def test_a_missing_endpoint_is_not_found(emulator: Emulator, client: Clients) -> None:
    with pytest.raises(errors.ClientError) as raised:
        client().models.generate_content(model=f"{emulator.parent}/endpoints/nope", contents="x")
    assert raised.value.code == 404


def _metric(emulator: Emulator, name: str, **labels: str) -> int:
    now = int(time.time())
    selector = "".join(f' AND metric.label.{k} = "{v}"' for k, v in labels.items())
    series = emulator.metric_client().list_time_series(
        request={
            "name": f"projects/{emulator.project}",
            "filter": f'metric.type = "{PUBLISHER_METRICS}{name}" AND resource.label.model_user_id = "{MODEL}"'
            + selector,
            "interval": {"start_time": {"seconds": now - 60}, "end_time": {"seconds": now + 2}},
        }
    )
    return sum(p.value.int64_value or p.value.distribution_value.count for ts in series for p in ts.points)


def test_each_call_is_counted_in_the_publisher_model_metrics(emulator: Emulator, client: Clients) -> None:
    genai_client = client()
    for _ in range(3):
        genai_client.models.generate_content(model=MODEL, contents="x" * 8)
    with pytest.raises(errors.ClientError):
        genai_client.models.generate_content(model=f"{MODEL};error_rate=1;error_code=429", contents="x")
    assert _metric(emulator, "model_invocation_count", response_code="200") == 3
    assert _metric(emulator, "model_invocation_count", response_code="429", error_category="capacity") == 1
    assert _metric(emulator, "token_count", type="input") == 3 * 2
    assert _metric(emulator, "token_count", type="output") == 3 * 2
    assert _metric(emulator, "model_invocation_latencies") == 4

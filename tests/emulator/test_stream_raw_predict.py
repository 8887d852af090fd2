"""Conformance: StreamRawPredict, ServerStreamingPredict and an endpoint's OpenAI-compatible chat completions,
streamed token by token at the model's pace, through the real gapic clients (gRPC and REST) and plain HTTP
(server-sent events)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.api import httpbody_pb2
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from controller.emulator.server import Emulator
from controller.emulator.vertex.gemini import tokens
from tests.emulator.conftest import ListRecorder, Vertex, rest_client
from tests.emulator.test_raw_predict import chat_body

TTFT_MS = 60
PACED = f"gs://emulator-models/chat?llm=chat&ttft_ms={TTFT_MS}&tokens_per_s=100"
QUICK = "gs://emulator-models/chat-b?llm=chat&output_tokens=2"
PROMPT = "one two three four five"


def body(**extra: Any) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type="application/json", data=chat_body(PROMPT, **extra))


def sse_events(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if line.startswith("data: "):
            yield line.removeprefix("data: ")


def timed_sse(url: str, payload: bytes, **headers: str) -> tuple[float, list[tuple[float, str]], httpx.Headers]:
    """(the send time, each SSE data with the time it arrived, the response headers)."""
    started = time.monotonic()
    events = []
    with httpx.stream("POST", url, content=payload, headers=headers, timeout=10) as reply:
        assert reply.status_code == 200, reply.read()
        assert reply.headers["content-type"].startswith("text/event-stream")
        for data in sse_events(reply.iter_lines()):
            events.append((time.monotonic(), data))
        return started, events, reply.headers


def contents(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        c["choices"][0]["delta"]["content"] for c in chunks if c["choices"] and "content" in c["choices"][0]["delta"]
    ]


def test_grpc_stream_raw_predict_sends_one_sse_event_per_token_after_the_ttft(vx: Vertex) -> None:
    endpoint, _ = vx.endpoint_with_models(count=1, uris=(PACED,))
    started = time.monotonic()
    arrivals = []
    for piece in vx.prediction.stream_raw_predict(endpoint=endpoint.name, http_body=body()):
        arrivals.append((time.monotonic(), piece))
    assert all(p.content_type == "text/event-stream" for _, p in arrivals)
    datas = [p.data.decode().removeprefix("data: ").strip() for _, p in arrivals]
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert contents(chunks) == ["one", " two", " three", " four", " five"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert arrivals[0][0] - started >= TTFT_MS / 1000
    assert arrivals[4][0] - arrivals[0][0] >= 4 * 0.01 * 0.9  # 100 tokens/s after the first


def test_usage_comes_last_when_asked_and_sums(vx: Vertex) -> None:
    endpoint, _ = vx.endpoint_with_models(count=1, uris=(QUICK,))
    stream = vx.prediction.stream_raw_predict(
        endpoint=endpoint.name, http_body=body(stream_options={"include_usage": True})
    )
    datas = [p.data.decode().removeprefix("data: ").strip() for p in stream]
    usage_chunk = json.loads(datas[-2])
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["completion_tokens"] == 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_plain_http_stream_raw_predict_is_server_sent_events(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint, (deployed,) = rvx.endpoint_with_models(count=1, uris=(PACED,))
    url = f"{rest_emulator.rest_endpoint}/v1/{endpoint.name}:streamRawPredict"
    started, events, headers = timed_sse(url, chat_body(PROMPT, stream=True), Accept="text/event-stream")
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert contents(chunks) == ["one", " two", " three", " four", " five"]
    assert events[0][0] - started >= TTFT_MS / 1000
    assert headers["x-vertex-ai-deployed-model-id"] == deployed


def test_the_rest_gapic_client_reads_the_stream_as_http_bodies(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint, _ = rvx.endpoint_with_models(count=1, uris=(QUICK,))
    client = rest_client(rest_emulator, v1.PredictionServiceClient)
    pieces = list(client.stream_raw_predict(endpoint=endpoint.name, http_body=body()))
    assert [p.data.decode().strip() for p in pieces][-1] == "data: [DONE]"
    first = json.loads(pieces[0].data.decode().removeprefix("data: "))
    assert first["object"] == "chat.completion.chunk"


def test_a_non_streaming_body_on_stream_raw_predict_answers_once(vx: Vertex) -> None:
    endpoint, _ = vx.endpoint_with_models(count=1, uris=(QUICK,))
    (piece,) = list(vx.prediction.stream_raw_predict(endpoint=endpoint.name, http_body=body(stream=False)))
    assert json.loads(piece.data)["object"] == "chat.completion"


def test_server_streaming_predict_streams_string_tensors_word_by_word(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint, _ = rvx.endpoint_with_models(count=1, uris=(PACED,))
    prompt = v1.Tensor(dtype=v1.Tensor.DataType.STRING, string_val=["hello big world"])
    request = {"endpoint": endpoint.name, "inputs": [prompt]}
    for client in (rvx.prediction, rest_client(rest_emulator, v1.PredictionServiceClient)):
        started = time.monotonic()
        responses = list(client.server_streaming_predict(request=request))
        assert time.monotonic() - started >= TTFT_MS / 1000
        assert [r.outputs[0].string_val[0] for r in responses] == ["hello", " big", " world"]


def test_server_streaming_predict_echoes_an_ordinary_models_tensors(vx: Vertex) -> None:
    endpoint, _ = vx.endpoint_with_models(count=1)
    tensor = v1.Tensor(dtype=v1.Tensor.DataType.INT64, int64_val=[1, 2], shape=[2])
    (response,) = list(vx.prediction.server_streaming_predict(request={"endpoint": endpoint.name, "inputs": [tensor]}))
    assert list(response.outputs[0].int64_val) == [1, 2]


def test_chat_completions_route_answers_and_streams(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint, _ = rvx.endpoint_with_models(count=1, uris=(PACED,))
    for version in ("v1", "v1beta1"):
        url = f"{rest_emulator.rest_endpoint}/{version}/{endpoint.name}/chat/completions"
        reply = httpx.post(url, content=chat_body(PROMPT), timeout=10)
        assert reply.status_code == 200
        assert reply.json()["choices"][0]["message"]["content"] == PROMPT
    started, events, _ = timed_sse(url, chat_body(PROMPT, stream=True))
    assert events[0][0] - started >= TTFT_MS / 1000
    assert contents([json.loads(d) for _, d in events[:-1]]) == ["one", " two", " three", " four", " five"]
    assert events[-1][1] == "[DONE]"


def test_chat_completions_follow_a_fifty_fifty_split_and_are_recorded(rvx: Vertex, rest_emulator: Emulator) -> None:
    recorder = ListRecorder()
    rest_emulator.vertex.prediction.recorder = recorder
    endpoint, (a, b) = rvx.endpoint_with_models(count=2, uris=("gs://emulator-models/a?llm=chat", QUICK))
    change = {"name": endpoint.name, "traffic_split": {a: 50, b: 50}}
    rvx.endpoints.update_endpoint(endpoint=change, update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]))
    url = f"{rest_emulator.rest_endpoint}/v1/{endpoint.name}/chat/completions"
    served: Counter[str] = Counter()
    with httpx.Client(timeout=10) as http:
        for _ in range(120):
            completion = http.post(url, content=chat_body(PROMPT)).json()
            served[completion["model"]] += 1
            expected = 2 if completion["model"] == "m1" else tokens(PROMPT)
            assert completion["usage"]["completion_tokens"] == expected
    assert 0.3 < served["m1"] / 120 < 0.7
    assert Counter(r.deployed_model_id for r in recorder.calls) == Counter({a: served["m0"], b: served["m1"]})
    assert {r.response_code for r in recorder.calls} == {200}


def test_streams_fail_like_predict(rvx: Vertex, rest_emulator: Emulator) -> None:
    empty = rvx.create_endpoint("empty")
    unknown = f"{rvx.parent}/endpoints/nope"
    with pytest.raises(exceptions.NotFound):
        list(rvx.prediction.stream_raw_predict(endpoint=unknown, http_body=body()))
    with pytest.raises(exceptions.FailedPrecondition):
        list(rvx.prediction.stream_raw_predict(endpoint=empty.name, http_body=body()))
    with pytest.raises(exceptions.FailedPrecondition):
        list(rvx.prediction.server_streaming_predict(request={"endpoint": empty.name, "inputs": []}))
    assert (
        httpx.post(f"{rest_emulator.rest_endpoint}/v1/{unknown}/chat/completions", content=chat_body()).status_code
        == 404
    )
    assert (
        httpx.post(f"{rest_emulator.rest_endpoint}/v1/{empty.name}:streamRawPredict", content=chat_body()).status_code
        == 400
    )


def test_a_malformed_streaming_body_is_invalid_argument(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint, _ = rvx.endpoint_with_models(count=1, uris=(QUICK,))
    bad = httpbody_pb2.HttpBody(data=b'{"messages": "hi"}')
    with pytest.raises(exceptions.InvalidArgument, match="messages"):
        list(rvx.prediction.stream_raw_predict(endpoint=endpoint.name, http_body=bad))
    reply = httpx.post(f"{rest_emulator.rest_endpoint}/v1/{endpoint.name}/chat/completions", content=b"{")
    assert reply.status_code == 400
    assert reply.json()["error"]["status"] == "INVALID_ARGUMENT"
    with pytest.raises(exceptions.InvalidArgument, match="string tensor"):
        list(rvx.prediction.server_streaming_predict(request={"endpoint": endpoint.name, "inputs": []}))


def test_chat_completions_on_a_model_that_is_not_a_chat_model_is_400(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint, _ = rvx.endpoint_with_models(count=1)
    reply = httpx.post(f"{rest_emulator.rest_endpoint}/v1/{endpoint.name}/chat/completions", content=chat_body())
    assert reply.status_code == 400
    assert "Chat Completions" in reply.json()["error"]["message"]


def test_a_cancelled_grpc_stream_stops_and_is_recorded_as_abandoned(vx: Vertex) -> None:
    recorder = ListRecorder()
    vx.emulator.vertex.prediction.recorder = recorder
    slow = "gs://emulator-models/slow?llm=chat&ttft_ms=10&tokens_per_s=2&output_tokens=40"
    endpoint, _ = vx.endpoint_with_models(count=1, uris=(slow,))
    stream = vx.prediction.stream_raw_predict(endpoint=endpoint.name, http_body=body())
    next(iter(stream))
    started = time.monotonic()
    stream.cancel()
    deadline = time.monotonic() + 3
    while not recorder.calls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [r.response_code for r in recorder.calls] == [499]
    assert time.monotonic() - started < 1.5  # not the 20 s the whole answer takes

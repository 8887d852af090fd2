"""Conformance: RawPredict through the real gapic clients (gRPC and REST) and plain HTTP — an emulated chat
model answers OpenAI chat-completion bodies, any other model echoes Predict's JSON, calls are routed by the
live split and counted in the same series as Predict, and the failure cases answer as Predict's do."""

from __future__ import annotations

import json
import time
from collections import Counter
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

CHAT = "gs://emulator-models/chat?llm=chat"
CHAT_B = "gs://emulator-models/chat-b?llm=chat&output_tokens=3"


def chat_body(text: str = "why is the sky blue", **extra: Any) -> bytes:
    return json.dumps({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
                       **extra}).encode()  # fmt: skip


def http_body(data: bytes) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type="application/json", data=data)


def chat_endpoint(vx: Vertex, *uris: str) -> tuple[Any, list[str]]:
    endpoint, ids = vx.endpoint_with_models(count=len(uris), uris=uris)
    return endpoint, ids


def test_a_chat_model_answers_an_openai_chat_completion_over_grpc(vx: Vertex) -> None:
    endpoint, _ = chat_endpoint(vx, CHAT)
    answer = vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(chat_body()))
    assert answer.content_type == "application/json"
    completion = json.loads(answer.data)
    assert completion["object"] == "chat.completion"
    assert completion["id"].startswith("chatcmpl-")
    assert completion["model"] == "m0"
    (choice,) = completion["choices"]
    assert choice["message"] == {"role": "assistant", "content": "why is the sky blue"}
    assert choice["finish_reason"] == "stop"
    usage = completion["usage"]
    assert usage["prompt_tokens"] == tokens("be brief") + tokens("why is the sky blue")
    assert usage["completion_tokens"] == tokens("why is the sky blue")
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_max_tokens_cuts_the_answer_and_finishes_with_length(vx: Vertex) -> None:
    endpoint, _ = chat_endpoint(vx, CHAT)
    body = chat_body("one two three four five six seven eight", max_tokens=2)
    completion = json.loads(vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(body)).data)
    assert completion["choices"][0]["finish_reason"] == "length"
    assert completion["usage"]["completion_tokens"] == 2
    assert completion["choices"][0]["message"]["content"] == "one two "


def test_content_parts_are_read_as_text(vx: Vertex) -> None:
    endpoint, _ = chat_endpoint(vx, CHAT)
    parts = [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}]
    body = json.dumps({"messages": [{"role": "user", "content": parts}]}).encode()
    completion = json.loads(vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(body)).data)
    assert completion["choices"][0]["message"]["content"] == "hello there"


def test_an_ordinary_model_echoes_the_instances_like_predict(vx: Vertex) -> None:
    endpoint, (deployed,) = vx.endpoint_with_models(count=1)
    body = json.dumps({"instances": [{"q": "hi"}, 3]}).encode()
    answer = json.loads(vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(body)).data)
    assert answer["predictions"] == [{"q": "hi"}, 3]
    assert answer["deployedModelId"] == deployed


def test_the_rest_gapic_client_gets_the_http_body_it_parses(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint, _ = chat_endpoint(rvx, CHAT)
    client = rest_client(rest_emulator, v1.PredictionServiceClient)
    answer = client.raw_predict(endpoint=endpoint.name, http_body=http_body(chat_body("hello")))
    assert answer.content_type == "application/json"
    assert json.loads(answer.data)["choices"][0]["message"]["content"] == "hello"


def test_a_plain_http_caller_sends_and_gets_the_model_body_itself(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint, (deployed,) = chat_endpoint(rvx, CHAT)
    url = f"{rest_emulator.rest_endpoint}/v1/{endpoint.name}:rawPredict"
    reply = httpx.post(url, content=chat_body("hi"), headers={"Content-Type": "application/json"})
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"] == "hi"
    assert reply.headers["X-Vertex-AI-Deployed-Model-Id"] == deployed
    assert reply.headers["X-Vertex-AI-Endpoint-Id"] == "ep"


def test_raw_predict_is_routed_by_the_split(vx: Vertex) -> None:
    endpoint, (a, b) = chat_endpoint(vx, CHAT, CHAT_B)
    split = {"name": endpoint.name, "traffic_split": {a: 50, b: 50}}
    vx.endpoints.update_endpoint(endpoint=split, update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]))
    served: Counter[str] = Counter()
    for _ in range(200):
        answer = vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(chat_body()))
        completion = json.loads(answer.data)
        served[completion["model"]] += 1
        if completion["model"] == "m1":  # CHAT_B answers output_tokens=3
            assert completion["usage"]["completion_tokens"] == 3
    assert served["m0"] + served["m1"] == 200
    assert 0.35 < served["m1"] / 200 < 0.65


def test_raw_predict_is_counted_in_predicts_monitoring_series(vx: Vertex) -> None:
    endpoint, (deployed,) = chat_endpoint(vx, CHAT)
    for _ in range(3):
        vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(chat_body()))
    vx.prediction.predict(endpoint=endpoint.name, instances=[1])
    series = prediction_series(vx.emulator)
    assert sum(p.value.int64_value for ts in series for p in ts.points) == 4
    assert {ts.metric.labels["deployed_model_id"] for ts in series} == {deployed}


def prediction_series(emulator: Emulator) -> list[Any]:
    """The `prediction_count` series of the endpoint `ep`, read through the real Monitoring client."""
    now = int(time.time())
    request = {
        "name": f"projects/{emulator.project}",
        "filter": 'metric.type = "aiplatform.googleapis.com/prediction/online/prediction_count" '
        'AND resource.type = "aiplatform.googleapis.com/Endpoint" AND resource.labels.endpoint_id = "ep"',
        "interval": {"start_time": {"seconds": now - 60}, "end_time": {"seconds": now + 2}},
    }
    return list(emulator.metric_client().list_time_series(request=request))


def test_every_raw_call_reaches_the_recorder_with_its_code(vx: Vertex) -> None:
    recorder = ListRecorder()
    vx.emulator.vertex.prediction.recorder = recorder
    endpoint, (deployed,) = chat_endpoint(vx, CHAT)
    vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(chat_body()))
    with pytest.raises(exceptions.InvalidArgument):
        vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(b'{"messages": []}'))
    assert [(r.deployed_model_id, r.response_code) for r in recorder.calls] == [(deployed, 200), (deployed, 400)]
    assert recorder.first_tokens == []  # a whole answer has no time to first token
    list(vx.prediction.stream_raw_predict(endpoint=endpoint.name, http_body=http_body(chat_body())))
    assert [t["deployed_model_id"] for t in recorder.first_tokens] == [deployed]


def test_a_failing_model_fails_raw_predict_with_internal(vx: Vertex) -> None:
    endpoint, _ = chat_endpoint(vx, "gs://emulator-models/chat?llm=chat&error_rate=1")
    with pytest.raises(exceptions.InternalServerError):
        vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(chat_body()))


def test_an_unknown_endpoint_is_not_found_over_grpc_rest_and_http(rvx: Vertex, rest_emulator: Emulator) -> None:
    name = f"{rvx.parent}/endpoints/nope"
    with pytest.raises(exceptions.NotFound):
        rvx.prediction.raw_predict(endpoint=name, http_body=http_body(chat_body()))
    with pytest.raises(exceptions.NotFound):
        rest_client(rest_emulator, v1.PredictionServiceClient).raw_predict(
            endpoint=name, http_body=http_body(chat_body())
        )
    reply = httpx.post(f"{rest_emulator.rest_endpoint}/v1/{name}:rawPredict", content=chat_body())
    assert reply.status_code == 404
    assert reply.json()["error"]["status"] == "NOT_FOUND"


def test_an_endpoint_without_a_deployed_model_fails_as_predict_does(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint = rvx.create_endpoint("empty")
    with pytest.raises(exceptions.FailedPrecondition):
        rvx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(chat_body()))
    with pytest.raises(exceptions.FailedPrecondition):
        rvx.prediction.predict(endpoint=endpoint.name, instances=[1])
    with pytest.raises(exceptions.BadRequest):
        rest_client(rest_emulator, v1.PredictionServiceClient).raw_predict(
            endpoint=endpoint.name, http_body=http_body(chat_body())
        )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"messages": []}', "messages"),
        (b'{"messages": [{"role": "robot", "content": "x"}]}', "messages[0].role"),
        (b'{"messages": [{"role": "user", "content": 3}]}', "messages[0].content"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
    ],
)
def test_a_malformed_chat_body_is_invalid_argument_naming_the_field(vx: Vertex, body: bytes, field: str) -> None:
    endpoint, _ = chat_endpoint(vx, CHAT)
    with pytest.raises(exceptions.InvalidArgument, match=field.replace("[", r"\[").replace("]", r"\]")):
        vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(body))


def test_a_malformed_body_is_http_400_over_rest(rvx: Vertex, rest_emulator: Emulator) -> None:
    endpoint, _ = rvx.endpoint_with_models(count=1)
    reply = httpx.post(f"{rest_emulator.rest_endpoint}/v1/{endpoint.name}:rawPredict", content=b'{"rows": []}')
    assert reply.status_code == 400
    assert "instances" in reply.json()["error"]["message"]
    with pytest.raises(exceptions.BadRequest, match="instances"):
        rest_client(rest_emulator, v1.PredictionServiceClient).raw_predict(
            endpoint=endpoint.name, http_body=http_body(b"[1]")
        )


def test_a_malformed_llm_parameter_is_refused_when_the_model_is_uploaded(vx: Vertex) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="llm"):
        vx.upload("bad", uri="gs://emulator-models/x?llm=completion")
    with pytest.raises(exceptions.InvalidArgument, match="ttft_ms"):
        vx.upload("bad2", uri="gs://emulator-models/x?ttft_ms=10")


def test_a_model_on_an_openai_compatible_serving_image_answers_chat_without_emulated_behaviour(vx: Vertex) -> None:
    """Model Garden's open models carry no artifact URI; their vLLM serving image speaks chat completions."""
    from controller.emulator.vertex.model_garden import VLLM_IMAGE

    model = v1.Model(
        display_name="gemma", container_spec={"image_uri": VLLM_IMAGE, "ports": [{"container_port": 8080}]}
    )
    request = {"parent": vx.parent, "model": model, "model_id": "gemma"}
    uploaded = vx.models.upload_model(request=request).result(timeout=10).model
    endpoint = vx.create_endpoint("ep")
    vx.deploy(endpoint.name, uploaded, {"0": 100})
    answer = vx.prediction.raw_predict(endpoint=endpoint.name, http_body=http_body(chat_body("hello there")))
    completion = json.loads(answer.data)
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == "hello there"

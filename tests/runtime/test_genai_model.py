"""The Gemini adapter builds the google-genai request from a prompt version (system instruction, every
generation-config field, safety settings, timeout) and reads the response (text without thoughts, usage
metadata, finish and block reasons, safety ratings), over the SDK's real wire format; SDK errors become
genaiops errors with retry meaning."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from controller.errors import NotFoundError, PermanentError, TransientError
from controller.providers.genai_model import GeminiModel, gemini_client
from controller.runtime.failures import ModelTimeoutError, RateLimitedError
from controller.runtime.model import ModelRequest, SafetyRating
from controller.runtime.records import Usage

MODEL = "publishers/google/models/gemini-2.5-flash"
Handler = Callable[[httpx.Request], httpx.Response]


def _model(handler: Handler, seen: list[httpx.Request]) -> GeminiModel:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    transport = httpx.MockTransport(record)
    client = gemini_client(
        project="p",
        location="us-central1",
        base_url="http://gemini.test",
        httpx_client=httpx.Client(transport=transport),
        httpx_async_client=httpx.AsyncClient(transport=transport),
    )
    return GeminiModel(client)


def _ok(body: dict[str, Any]) -> Handler:
    return lambda request: httpx.Response(200, json=body)


ANSWER = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": "thinking...", "thought": True}, {"text": "Hello"}]},
            "finishReason": "STOP",
            "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "LOW", "severity": "HARM_SEVERITY_LOW"}
            ],
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 10,
        "candidatesTokenCount": 2,
        "cachedContentTokenCount": 4,
        "thoughtsTokenCount": 7,
        "totalTokenCount": 19,
    },
    "modelVersion": "gemini-2.5-flash-001",
}


def test_the_request_carries_everything_the_version_declares() -> None:
    seen: list[httpx.Request] = []
    request = ModelRequest(
        model=MODEL,
        text="Answer hi",
        system_instruction="Be brief.",
        generation_config={
            "temperature": 0.0,
            "maxOutputTokens": 64,
            "topP": 0.9,
            "topK": 20,
            "stopSequences": ("END",),
            "responseMimeType": "application/json",
            "responseSchema": {"type": "object"},
            "seed": 7,
        },
        safety_settings=({"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"},),
        timeout_s=2.5,
    )
    _model(_ok(ANSWER), seen).generate(request)
    [sent] = seen
    assert (
        sent.url.path
        == "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert sent.headers["authorization"] == "Bearer genaiops-emulator"
    assert sent.headers["x-server-timeout"] == "3"  # the SDK rounds the per-call timeout up to seconds
    body = json.loads(sent.content)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Answer hi"}]}]
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert body["safetySettings"] == [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}]
    assert body["generationConfig"] == {
        "temperature": 0.0,
        "maxOutputTokens": 64,
        "topP": 0.9,
        "topK": 20,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
        "seed": 7,
    }


def test_an_unknown_generation_config_field_is_an_error_not_silently_dropped() -> None:
    request = ModelRequest(model=MODEL, text="x", generation_config={"temprature": 0.1})
    with pytest.raises(PermanentError, match="temprature"):
        _model(_ok(ANSWER), []).generate(request)


def test_the_answer_holds_text_usage_and_safety_signals() -> None:
    answer = _model(_ok(ANSWER), []).generate(ModelRequest(model=MODEL, text="x"))
    assert answer.text == "Hello"  # the thought part is not the answer
    assert answer.usage == Usage(input_tokens=10, output_tokens=2, cached_tokens=4, thinking_tokens=7)
    assert answer.finish_reason == "STOP" and answer.block_reason is None
    assert answer.ratings == (SafetyRating("HARM_CATEGORY_HARASSMENT", "LOW", "HARM_SEVERITY_LOW", False),)
    assert answer.model_version == "gemini-2.5-flash-001"


def test_a_blocked_prompt_has_a_block_reason_and_no_text() -> None:
    body = {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "HIGH", "blocked": True}],
        }
    }
    answer = _model(_ok(body), []).generate(ModelRequest(model=MODEL, text="x"))
    assert answer.text == "" and answer.block_reason == "SAFETY" and answer.usage is None
    assert answer.ratings[0].blocked


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (429, RateLimitedError),
        (503, TransientError),
        (500, TransientError),
        (504, ModelTimeoutError),
        (404, NotFoundError),
        (400, PermanentError),
    ],
)
def test_sdk_errors_become_genaiops_errors_with_retry_meaning(code: int, error: type[Exception]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, json={"error": {"code": code, "message": "no", "status": "X"}})

    undated = "publishers/google/models/gemini-undated"  # not in the model catalogue: a 404 stays NotFoundError
    with pytest.raises(error) as raised:
        _model(fail, []).generate(ModelRequest(model=undated, text="x"))
    assert type(raised.value) is error


def test_a_transport_timeout_is_a_model_timeout() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ModelTimeoutError):
        _model(slow, []).generate(ModelRequest(model=MODEL, text="x"))


def _sse(*events: dict[str, Any]) -> Handler:
    payload = "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events)
    return lambda request: httpx.Response(200, content=payload.encode(), headers={"content-type": "text/event-stream"})


CHUNKS = (
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]},
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
    },
)


def test_a_stream_yields_each_chunk_and_the_last_carries_the_usage() -> None:
    seen: list[httpx.Request] = []
    chunks = list(_model(_sse(*CHUNKS), seen).stream(ModelRequest(model=MODEL, text="x")))
    assert [c.text for c in chunks] == ["Hel", "lo"]
    assert chunks[-1].usage == Usage(3, 2) and chunks[-1].finish_reason == "STOP"
    assert seen[0].url.path.endswith(":streamGenerateContent") and seen[0].url.params["alt"] == "sse"


def test_the_async_calls_match_the_sync_ones() -> None:
    model = _model(_ok(ANSWER), [])
    streaming = _model(_sse(*CHUNKS), [])

    async def run() -> None:
        answer = await model.agenerate(ModelRequest(model=MODEL, text="x"))
        assert answer.text == "Hello" and answer.usage is not None
        texts = [c.text async for c in streaming.astream(ModelRequest(model=MODEL, text="x"))]
        assert texts == ["Hel", "lo"]

    asyncio.run(run())

"""The runtime client on Gemini served by the genaiops emulator, through the real google-genai SDK over
HTTP (wired by `vertex_models`, as an application would): echo answers with deterministic usage
metadata, exact costs with cached and thinking tokens, retries, the fallback model, safety blocks and
safety settings, streams (sync and async), and the cache."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controller.emulator.server import Emulator
from controller.prompts.client import PromptClient
from controller.prompts.store import PromptStore
from controller.providers.runtime_models import VertexModels, vertex_models
from controller.runtime import AsyncGenAIClient, GenAIClient, ModelCallError, Outcome, bundled_prices
from tests.runtime.conftest import LOCATION, PROJECT, Records, publish_version, version

FLASH = "publishers/google/models/gemini-2.5-flash"
SAFETY = {"fallbackText": "Sorry."}


@pytest.fixture(scope="module")
def emulator_models(emulator: Emulator) -> Iterator[VertexModels]:
    """Both adapters on the emulator: Predict over gRPC, google-genai over the REST gateway."""
    yield vertex_models(
        project=PROJECT, location=LOCATION, grpc_target=emulator.grpc_target, genai_base_url=emulator.rest_endpoint
    )


@pytest.fixture
def make(store: PromptStore, emulator_models: VertexModels, records: Records) -> Callable[..., GenAIClient]:
    """A client on the emulator (fast retries)."""

    def build(**options: Any) -> GenAIClient:
        prompts = PromptClient(store, project=PROJECT)
        return GenAIClient(
            prompts,
            emulator_models,
            recorder=records,
            backoff_s=0.01,
            max_backoff_s=0.02,
            **options,
        )

    return build


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def test_gemini_answers_with_usage_metadata_and_an_exact_cost(
    store: PromptStore, make: Callable[..., GenAIClient]
) -> None:
    model = f"{FLASH};thinking_tokens=100;cached_ratio=0.5"
    publish_version(store, version(model=model, system_instruction="Be brief."))
    result = make().generate("support", {"question": "where is my parcel?"})
    assert result.text == "Answer where is my parcel?" and result.outcome is Outcome.OK
    usage = result.usage
    assert not usage.estimated
    assert usage.input_tokens == _tokens("Answer where is my parcel?") + _tokens("Be brief.")
    assert (usage.output_tokens, usage.thinking_tokens) == (_tokens(result.text), 100)
    assert 0 < usage.cached_tokens <= usage.input_tokens
    expected = (
        (usage.input_tokens - usage.cached_tokens) * 0.30
        + usage.cached_tokens * 0.03
        + (usage.output_tokens + usage.thinking_tokens) * 2.50
    ) / 1e6
    assert abs(result.cost_usd - expected) < 1e-9
    assert result.cost_usd == bundled_prices().cost(FLASH, usage).usd


def test_generation_config_reaches_the_model(store: PromptStore, make: Callable[..., GenAIClient]) -> None:
    publish_version(store, version(model=FLASH, generation_config={"temperature": 0.0, "maxOutputTokens": 2}))
    result = make().generate("support", {"question": "a long question that will be cut"})
    assert result.usage.output_tokens <= 2 and len(result.text) <= 8


def test_a_rate_limited_model_is_retried_then_the_fallback_answers(
    store: PromptStore, make: Callable[..., GenAIClient], records: Records
) -> None:
    primary = f"{FLASH};error_rate=1;error_code=429"
    fallback = "publishers/google/models/gemini-2.5-flash-lite"
    publish_version(store, version("alone", model=primary))
    publish_version(store, version(model=primary, runtime={"fallbackModel": "lite", "fallbackVertexModel": fallback}))
    with pytest.raises(ModelCallError) as raised:
        make(max_attempts=2).generate("alone", {"question": "q"})
    assert raised.value.outcome is Outcome.RATE_LIMITED
    result = make(max_attempts=2).generate("support", {"question": "q"})
    assert result.outcome is Outcome.FALLBACK and result.model == fallback and result.text == "Answer q"
    assert [r.outcome for r in records.records] == [Outcome.RATE_LIMITED, Outcome.FALLBACK]


def test_a_safety_block_is_a_verdict_with_the_fallback_text(
    store: PromptStore, make: Callable[..., GenAIClient]
) -> None:
    publish_version(store, version("answer", model=f"{FLASH};block_rate=1", runtime={"safety": SAFETY}))
    publish_version(store, version("prompt", model=f"{FLASH};prompt_block_rate=1", runtime={"safety": SAFETY}))
    answer = make().generate("answer", {"question": "q"})
    assert answer.outcome is Outcome.BLOCKED_OUTPUT and answer.text == "Sorry."
    assert any(v.reason == "finishReason SAFETY" for v in answer.verdicts)
    prompt = make().generate("prompt", {"question": "q"})
    assert prompt.outcome is Outcome.BLOCKED_OUTPUT and prompt.text == "Sorry."
    assert any(v.source == "block-reason" and v.reason == "blockReason SAFETY" for v in prompt.verdicts)


def test_safety_settings_are_sent_and_honoured(store: PromptStore, make: Callable[..., GenAIClient]) -> None:
    settings = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_NONE"}]
    publish_version(store, version(model=f"{FLASH};block_rate=1", runtime={"safetySettings": settings}))
    result = make().generate("support", {"question": "q"})
    assert result.outcome is Outcome.OK and result.text == "Answer q"


def test_a_stream_arrives_in_chunks_and_is_cached(store: PromptStore, make: Callable[..., GenAIClient]) -> None:
    publish_version(store, version(model=f"{FLASH};chunks=4"))
    client = make()
    stream = client.stream("support", {"question": "tell me about streams"})
    deltas = list(stream)
    assert len(deltas) == 4 and "".join(deltas) == "Answer tell me about streams"
    assert stream.result is not None and stream.result.usage.output_tokens == _tokens("".join(deltas))
    again = client.stream("support", {"question": "tell me about streams"})
    assert list(again) == ["Answer tell me about streams"] and again.result is not None and again.result.cache_hit


def test_the_async_client_on_the_emulator(store: PromptStore, make: Callable[..., GenAIClient]) -> None:
    publish_version(store, version(model=f"{FLASH};chunks=3"))
    publish_version(store, version("endpoint"))
    sync = make()
    client = AsyncGenAIClient(sync.core.prompts, sync.core.models)

    async def run() -> None:
        results = await asyncio.gather(*(client.generate("support", {"question": f"q{i}"}) for i in range(5)))
        assert [r.text for r in results] == [f"Answer q{i}" for i in range(5)]
        stream = client.stream("support", {"question": "streamed"})
        assert "".join([d async for d in stream]) == "Answer streamed"
        endpoint = await client.generate("endpoint", {"question": "q"})
        assert endpoint.outcome is Outcome.OK

    asyncio.run(run())

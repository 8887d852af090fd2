"""The runtime client end to end: prompts from a local store, registry models through Endpoint Predict on
the in-process emulator (real aiplatform_v1 gRPC client), Gemini through the real google-genai SDK on a
scripted transport: one call returns text, version, model, usage, cost, latency, cache hit and verdicts;
retries, timeouts and the fallback model; one record and one log line per request."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.emulator.server import Emulator
from controller.errors import UserError
from controller.prompts.render import RenderError
from controller.prompts.store import PromptStore
from controller.providers.sqlite_feedback import SqliteFeedbackStore
from controller.runtime import AsyncGenAIClient, GenAIClient, ModelCallError, Outcome, PriceTable
from controller.runtime.core import REQUEST_LOGGER
from controller.runtime.feedback import FeedbackRecorder
from tests.runtime.conftest import CHAT, FLAKY, FLASH, LITE, FakeGemini, Records, publish_version, version

Make = Callable[..., GenAIClient]


def test_one_call_returns_the_answer_and_everything_known_about_it(
    store: PromptStore, make_client: Make, records: Records
) -> None:
    version_id = publish_version(store, version())
    result = make_client().generate("support", {"question": "where is my parcel?"})
    assert json.loads(result.text)["prompt"] == "Be brief.\n\nAnswer where is my parcel?"  # the emulator echoes
    assert (result.prompt, result.version, result.label, result.model) == ("support", version_id, "production", CHAT)
    assert result.outcome is Outcome.OK and not result.cache_hit and not result.blocked
    assert result.usage.estimated and result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.cost_usd == 0.0 and not result.priced  # an endpoint is billed per node-hour, not per token
    assert result.latency_s > 0 and len(result.request_id) == 32
    [record] = records.records
    assert (record.request_id, record.outcome, record.model, record.version) == (
        result.request_id,
        Outcome.OK,
        CHAT,
        version_id,
    )


def test_gemini_answers_carry_real_usage_and_an_exact_cost(
    store: PromptStore, make_client: Make, gemini: FakeGemini
) -> None:
    gemini.usage = {"promptTokenCount": 1000, "candidatesTokenCount": 200, "thoughtsTokenCount": 50}
    publish_version(store, version(model=FLASH))
    result = make_client().generate("support", {"question": "hi"})
    assert result.text == "echo: Answer hi" and result.model == FLASH and result.finish_reason == "STOP"
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.thinking_tokens) == (1000, 200, 50)
    assert not result.usage.estimated
    assert result.cost_usd == pytest.approx(1000 * 0.30e-6 + 250 * 2.50e-6, abs=1e-9)
    body = gemini.bodies[0]
    assert body["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert body["generationConfig"] == {"temperature": 0.0}


def test_a_second_identical_deterministic_request_is_a_free_cache_hit(
    store: PromptStore, make_client: Make, gemini: FakeGemini, records: Records
) -> None:
    publish_version(store, version(model=FLASH))
    client = make_client()
    first = client.generate("support", {"question": "hi"})
    second = client.generate("support", {"question": "hi"})
    other = client.generate("support", {"question": "hello"})
    assert len(gemini.bodies) == 2  # the second call never reached the model
    assert second.cache_hit and second.outcome is Outcome.CACHE_HIT and second.text == first.text
    assert second.cost_usd == 0.0 and second.cost_saved_usd == pytest.approx(first.cost_usd)
    assert second.usage.input_tokens == 0
    assert not other.cache_hit
    stats = client.cache_stats()
    assert (stats.hits, stats.misses, stats.stores) == (1, 2, 2)
    assert stats.saved_usd == pytest.approx(first.cost_usd)
    assert [r.cache_hit for r in records.records] == [False, True, False]


def test_sampled_answers_are_not_cached_unless_the_prompt_says_always(
    store: PromptStore, make_client: Make, gemini: FakeGemini
) -> None:
    publish_version(store, version("warm", model=FLASH, generation_config={"temperature": 0.7}))
    publish_version(
        store,
        version("always", model=FLASH, generation_config={"temperature": 0.7}, runtime={"cache": {"when": "always"}}),
    )
    publish_version(store, version("never", model=FLASH, runtime={"cache": {"when": "never"}}))
    client = make_client()
    for name in ("warm", "warm", "always", "always", "never", "never"):
        client.generate(name, {"question": "q"})
    assert len(gemini.bodies) == 5
    assert client.cache_stats().bypassed == 4


def test_transient_errors_are_retried_with_backoff(
    store: PromptStore, make_client: Make, emulator: Emulator, records: Records
) -> None:
    publish_version(store, version())
    emulator.faults.add("Predict:fail_next=2:code=RESOURCE_EXHAUSTED")
    result = make_client().generate("support", {"question": "q"})
    assert result.outcome is Outcome.OK
    assert len(records.records) == 1


def test_a_model_that_keeps_failing_raises_after_the_retries_and_is_recorded(
    store: PromptStore, make_client: Make, gemini: FakeGemini, records: Records
) -> None:
    gemini.errors = [429, 429, 429]
    publish_version(store, version(model=FLASH))
    with pytest.raises(ModelCallError) as raised:
        make_client(max_attempts=3).generate("support", {"question": "q"})
    assert raised.value.outcome is Outcome.RATE_LIMITED
    assert len(gemini.bodies) == 3
    assert [r.outcome for r in records.records] == [Outcome.RATE_LIMITED]
    assert records.records[0].request_id == raised.value.request_id


def test_a_permanent_error_is_not_retried(store: PromptStore, make_client: Make, gemini: FakeGemini) -> None:
    gemini.errors = [400]
    publish_version(store, version(model=FLASH))
    with pytest.raises(ModelCallError) as raised:
        make_client().generate("support", {"question": "q"})
    assert raised.value.outcome is Outcome.MODEL_ERROR and len(gemini.bodies) == 1


def test_the_fallback_model_answers_when_the_primary_fails(
    store: PromptStore, make_client: Make, gemini: FakeGemini, records: Records
) -> None:
    publish_version(store, version(model=FLAKY, runtime={"fallbackModel": "x", "fallbackVertexModel": LITE}))
    result = make_client(max_attempts=2).generate("support", {"question": "q"})
    assert result.outcome is Outcome.FALLBACK and result.model == LITE and result.text == "echo: Answer q"
    assert [r.model for r in records.records] == [LITE]
    again = make_client(max_attempts=2).generate("support", {"question": "q"})
    assert again.outcome is Outcome.FALLBACK  # a fallback answer is never cached under the primary's key


def test_a_fallback_on_an_endpoint_is_completed_with_the_project(store: PromptStore, make_client: Make) -> None:
    relative = "locations/us-central1/endpoints/chat"
    publish_version(store, version(model=FLAKY, runtime={"fallbackModel": "llm", "fallbackVertexModel": relative}))
    result = make_client(max_attempts=1).generate("support", {"question": "q"})
    assert result.outcome is Outcome.FALLBACK and result.model == CHAT


def test_a_timeout_is_retried_then_reported_as_a_timeout(
    store: PromptStore, make_client: Make, emulator: Emulator
) -> None:
    publish_version(store, version())
    emulator.faults.add("Predict:fail_next=2:code=DEADLINE_EXCEEDED")
    assert make_client().generate("support", {"question": "q"}).outcome is Outcome.OK
    emulator.faults.add("Predict:fail_next=2:code=DEADLINE_EXCEEDED")
    with pytest.raises(ModelCallError) as raised:
        make_client(max_attempts=2).generate("support", {"question": "q2"})
    assert raised.value.outcome is Outcome.TIMEOUT


def test_a_slow_model_times_out_per_attempt(store: PromptStore, make_client: Make, emulator: Emulator) -> None:
    publish_version(store, version())
    emulator.faults.add_latency("Predict", 400)
    try:
        with pytest.raises(ModelCallError) as raised:
            make_client(timeout_s=0.1, max_attempts=2).generate("support", {"question": "slow"})
    finally:
        emulator.faults.clear("Predict")
    assert raised.value.outcome is Outcome.TIMEOUT


def test_bad_variables_raise_the_render_error_and_are_recorded_as_blocked_input(
    store: PromptStore, make_client: Make, records: Records
) -> None:
    publish_version(store, version(variables={"question": {"type": "string", "maxLength": 5}}))
    with pytest.raises(RenderError):
        make_client().generate("support", {"question": "far too long"})
    assert [r.outcome for r in records.records] == [Outcome.BLOCKED_INPUT]


def test_one_structured_log_line_per_request(
    store: PromptStore, make_client: Make, caplog: pytest.LogCaptureFixture
) -> None:
    publish_version(store, version(model=FLASH))
    with caplog.at_level(logging.INFO, logger=REQUEST_LOGGER):
        result = make_client(log_prompt_chars=8).generate("support", {"question": "a long question"})
    [line] = [r for r in caplog.records if r.name == REQUEST_LOGGER]
    fields = line.json_fields  # type: ignore[attr-defined]
    assert fields["requestId"] == result.request_id and fields["outcome"] == "ok"
    assert fields["promptPreview"] == "Answer a..."  # truncated
    assert fields["inputTokens"] == 1200 and fields["costUsd"] == result.cost_usd
    assert json.loads(line.getMessage().removeprefix("genaiops request ")) == fields


def test_price_overrides_replace_the_bundled_prices(store: PromptStore, make_client: Make) -> None:
    publish_version(store, version())
    per_token = {CHAT: {"tiers": [{"input": 1.0, "output": 2.0}]}}
    result = make_client(prices=per_token).generate("support", {"question": "q"})
    assert result.priced and result.cost_usd > 0
    assert make_client(prices=PriceTable({})).generate("support", {"question": "r"}).priced is False


def test_labels_must_be_environment_names(store: PromptStore, make_client: Make) -> None:
    publish_version(store, version())
    with pytest.raises(ValueError, match="label"):
        make_client().generate("support", {"question": "q"}, label="ada@example.com")


def test_the_async_client_generates_and_caches_like_the_sync_one(
    store: PromptStore, make_client: Make, gemini: FakeGemini
) -> None:
    publish_version(store, version(model=FLASH))
    publish_version(store, version("endpoint"))
    client = AsyncGenAIClient(make_client().core.prompts, make_client().core.models, backoff_s=0.01)

    async def run() -> None:
        first = await client.generate("support", {"question": "hi"})
        second = await client.generate("support", {"question": "hi"})
        threaded = await client.generate("endpoint", {"question": "hi"})  # Predict runs in a worker thread
        assert first.text == "echo: Answer hi" and second.cache_hit and threaded.outcome is Outcome.OK
        gemini.errors = [503]
        retried = await client.generate("support", {"question": "again"})
        assert retried.outcome is Outcome.OK

    asyncio.run(run())
    assert len(gemini.bodies) == 3


def test_the_client_records_feedback_joined_with_what_served_the_request(
    store: PromptStore, make_client: Make, records: Records, tmp_path: Path
) -> None:
    version_id = publish_version(store, version())
    feedback = FeedbackRecorder(SqliteFeedbackStore(tmp_path / "feedback.sqlite"))
    client = make_client(feedback=feedback)
    result = client.generate("support", {"question": "where is my parcel?"})
    assert records.records and records.records[0].request_id == result.request_id  # metrics still recorded
    stored = client.record_feedback(result.request_id, 4, text="Thanks, write to ada@example.com")
    assert (stored.prompt, stored.version, stored.label, stored.model, stored.rating) == (
        "support",
        version_id,
        "production",
        CHAT,
        4,
    )
    assert stored.text is not None and "ada@example.com" not in stored.text
    [kept] = feedback.store.query(prompt="support")
    assert kept.request_id == result.request_id and kept.rating == 4
    with pytest.raises(UserError, match="no feedback store"):
        make_client().record_feedback(result.request_id, 5)

"""Prompt canaries end to end: `GenAIClient` on a local prompt store whose index carries a label's rollout
record, registry models through Endpoint Predict on the in-process emulator (real aiplatform_v1 gRPC
client), Gemini streams through the real google-genai SDK on a scripted transport. Each request is routed
once, by its routing key; the version that answered is the one rendered, cached under and recorded; the
routing key is never logged nor recorded."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable

import pytest

from controller.observed import Phase
from controller.prompts.client import PromptClient
from controller.prompts.index import LabelRollout, PromptIndex, with_rollout
from controller.prompts.store import PromptStore, list_version
from controller.prompts.version import PromptVersion
from controller.providers.runtime_models import VertexModels
from controller.rollout.state import RolloutState
from controller.runtime import AsyncGenAIClient, GenAIClient, Outcome
from tests.runtime.conftest import FLASH, PROJECT, FakeGemini, Records, publish_version, version

Make = Callable[..., GenAIClient]
QUESTIONS = [f"question {i}" for i in range(5)]  # few distinct requests: most answers are cache hits


def start_canary(store: PromptStore, stable: PromptVersion, candidate: PromptVersion, *, weight: int) -> None:
    """Publish `stable` to production, list `candidate`, and record a canary of it at `weight` percent."""
    publish_version(store, stable)
    list_version(store, candidate)
    state = RolloutState(
        deployment="production",
        revision=candidate.id,
        phase=Phase.PROGRESSING,
        canary_id=candidate.id,
        stable_id=stable.id,
    )

    def change(index: PromptIndex | None) -> PromptIndex:
        assert index is not None
        return with_rollout(index, LabelRollout(state, weight))

    store.update_index(stable.name, change)


STABLE = version(template="Answer {{ question }}")
CANDIDATE = version(template="Reply to {{ question }}")


def answered_by(text: str) -> str:
    """Which version's template the emulator's echo shows (the model saw exactly that rendering)."""
    prompt = json.loads(text)["prompt"]
    return STABLE.id if "\n\nAnswer " in prompt else CANDIDATE.id


def test_ten_thousand_routing_keys_split_by_the_weight_and_keep_their_version(
    store: PromptStore, make_client: Make, records: Records
) -> None:
    start_canary(store, STABLE, CANDIDATE, weight=20)
    client = make_client()
    keys = [f"user-{i}" for i in range(10_000)]
    first = [client.generate("support", {"question": QUESTIONS[i % 5]}, routing_key=k) for i, k in enumerate(keys)]
    split = Counter(r.version for r in records.records)
    assert set(split) == {STABLE.id, CANDIDATE.id}
    assert abs(split[CANDIDATE.id] / len(keys) - 0.20) <= 0.02
    assert [r.version for r in records.records] == [r.version for r in first]
    assert all(answered_by(r.text) == r.version for r in first)  # the cache key holds the chosen version
    assert client.cache_stats().misses == 10  # 5 questions x 2 versions reached the model
    del records.records[:]
    again = [client.generate("support", {"question": QUESTIONS[i % 5]}, routing_key=k) for i, k in enumerate(keys)]
    assert [r.version for r in records.records] == [r.version for r in first]
    assert all(r.outcome is Outcome.CACHE_HIT for r in again)


def test_a_keyless_request_draws_once_and_answers_with_the_version_it_drew(
    store: PromptStore, models: VertexModels, records: Records
) -> None:
    start_canary(store, STABLE, CANDIDATE, weight=50)
    draws: list[int] = []

    def rng(n: int) -> int:
        draws.append(n)
        return [0, 9_999][len(draws) % 2]  # alternately the candidate's and the stable's bucket

    prompts = PromptClient(store, project=PROJECT, rng=rng)
    client = GenAIClient(prompts, models, recorder=records, project=PROJECT, cache="off")
    results = [client.generate("support", {"question": "where is it?"}) for _ in range(6)]
    assert len(draws) == 6  # one choice per request: not one to pick and another to render
    assert [r.version for r in results] == [STABLE.id, CANDIDATE.id] * 3
    assert [answered_by(r.text) for r in results] == [r.version for r in results]
    assert [r.version for r in records.records] == [r.version for r in results]


def test_a_rolled_back_canary_answers_every_key_with_the_stable(
    store: PromptStore, make_client: Make, records: Records
) -> None:
    start_canary(store, STABLE, CANDIDATE, weight=0)
    client = make_client()
    for i in range(500):
        client.generate("support", {"question": QUESTIONS[i % 5]}, routing_key=f"user-{i}")
    assert {r.version for r in records.records} == {STABLE.id}


def test_streams_and_the_async_client_route_a_key_as_generate_does(
    store: PromptStore, models: VertexModels, gemini: FakeGemini, records: Records
) -> None:
    stable, candidate = (
        version(template="Answer {{ question }}", model=FLASH),
        version(template="Say {{ question }}", model=FLASH),
    )
    start_canary(store, stable, candidate, weight=50)
    sync = GenAIClient(PromptClient(store, project=PROJECT), models, recorder=records, cache="off")
    keys = [f"user-{i}" for i in range(40)]
    expected = [sync.generate("support", {"question": "hi"}, routing_key=k).version for k in keys]
    assert set(expected) == {stable.id, candidate.id}
    streamed = []
    for key in keys:
        stream = sync.stream("support", {"question": "hi"}, routing_key=key)
        text = "".join(stream)
        assert stream.result is not None
        assert text == ("echo: Answer hi" if stream.result.version == stable.id else "echo: Say hi")
        streamed.append(stream.result.version)
    assert streamed == expected
    aclient = AsyncGenAIClient(PromptClient(store, project=PROJECT), models, cache="off")

    async def run() -> tuple[list[str], list[str]]:
        generated = [(await aclient.generate("support", {"question": "hi"}, routing_key=k)).version for k in keys]
        astreamed = []
        for key in keys:
            stream = aclient.stream("support", {"question": "hi"}, routing_key=key)
            _ = [delta async for delta in stream]
            assert stream.result is not None
            astreamed.append(stream.result.version)
        return generated, astreamed

    assert asyncio.run(run()) == (expected, expected)


def test_the_routing_key_is_never_logged_nor_recorded(
    store: PromptStore, make_client: Make, records: Records, caplog: pytest.LogCaptureFixture
) -> None:
    start_canary(store, STABLE, CANDIDATE, weight=50)
    secret = "session-7f3a9c-private"
    with caplog.at_level(logging.DEBUG):
        result = make_client().generate("support", {"question": "hi"}, routing_key=secret)
    assert caplog.records and all(secret not in r.getMessage() for r in caplog.records)
    assert all(secret not in json.dumps(getattr(r, "json_fields", {})) for r in caplog.records)
    assert secret not in repr(records.records) and secret not in repr(result)

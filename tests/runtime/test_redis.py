"""The response cache on a real redis-server (started by the test on a free loopback port): shared by
clients, with expiry and AUTH as on Memorystore; killed mid-run, it costs no request: the client warns
once and answers without a cache."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from controller.prompts.store import PromptStore
from controller.providers.redis_cache import RedisCache
from controller.runtime import GenAIClient, Outcome
from tests.runtime.conftest import FLASH, FakeGemini, RedisServer, publish_version, start_redis, version

Make = Callable[..., GenAIClient]


def test_entries_are_stored_read_back_and_expire(redis_server: RedisServer) -> None:
    cache = RedisCache.from_url(redis_server.url)
    cache.set("k", b"v", 0.2)
    assert cache.get("k") == b"v"
    time.sleep(0.3)
    assert cache.get("k") is None
    cache.close()


def test_an_auth_string_in_the_url_is_used(tmp_path: Path) -> None:
    server = start_redis(tmp_path, password="s3cret")
    try:
        cache = RedisCache.from_url(server.url)
        cache.set("k", b"v", 10)
        assert cache.get("k") == b"v"
        with pytest.raises(redis.AuthenticationError):
            RedisCache.from_url(f"redis://127.0.0.1:{server.port}/0").get("k")
    finally:
        server.kill()


def test_two_clients_share_answers_through_redis(
    redis_server: RedisServer, store: PromptStore, make_client: Make, gemini: FakeGemini
) -> None:
    publish_version(store, version(model=FLASH))
    first = make_client(cache=RedisCache.from_url(redis_server.url)).generate("support", {"question": "q"})
    second = make_client(cache=RedisCache.from_url(redis_server.url)).generate("support", {"question": "q"})
    assert not first.cache_hit and second.cache_hit and second.text == first.text
    assert second.cost_saved_usd == pytest.approx(first.cost_usd) and len(gemini.bodies) == 1


def test_a_redis_killed_mid_run_costs_no_request(
    redis_server: RedisServer,
    store: PromptStore,
    make_client: Make,
    gemini: FakeGemini,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publish_version(store, version(model=FLASH))
    client = make_client(cache=RedisCache.from_url(redis_server.url, timeout_s=0.2))
    questions = [f"question {i % 10}" for i in range(40)]
    results = []
    with caplog.at_level(logging.WARNING):
        for index, question in enumerate(questions):
            if index == 20:
                redis_server.kill()
            results.append(client.generate("support", {"question": question}))
    assert len(results) == 40 and all(r.outcome in (Outcome.OK, Outcome.CACHE_HIT) for r in results)
    assert [r.cache_hit for r in results[:20]] == [False] * 10 + [True] * 10
    assert not any(r.cache_hit for r in results[20:])  # no cache after the kill: every answer from the model
    warnings = [r for r in caplog.records if "response cache unavailable" in r.getMessage()]
    assert len(warnings) == 1
    stats = client.cache_stats()
    assert stats.errors >= 1 and stats.hits == 10
    assert len(gemini.bodies) == 30

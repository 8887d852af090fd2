"""The response cache: the key changes with every field that shapes an answer (and no content appears in
it in clear), the memory store is a bounded LRU with expiry, and a failing store becomes no cache with one
warning, never a failed request."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from google.genai import types

from controller.model.prompt import GenerationConfig
from controller.runtime.cache import KEY_SCHEMA, CachedAnswer, GuardedCache, MemoryCache, cache_key
from controller.runtime.records import Usage
from controller.runtime.safety import Verdict

BASE: dict[str, Any] = {
    "prompt": "support",
    "version": "0123456789abcdef",
    "model": "publishers/google/models/gemini-2.5-flash",
    "contents": "Answer: where is my parcel?",
    "system_instruction": "Be brief.",
    "generation_config": {"temperature": 0.0},
    "safety_settings": ({"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"},),
    "scope": "tenant-a",
}
SAMPLES = {
    "temperature": 0.5,
    "max_output_tokens": 64,
    "top_p": 0.5,
    "top_k": 3,
    "stop_sequences": ["END"],
    "response_mime_type": "application/json",
    "response_schema": {"type": "object"},
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prompt", "other"),
        ("version", "fedcba9876543210"),
        ("model", "publishers/google/models/gemini-2.5-pro"),
        ("contents", "Answer: where is my parcel!"),
        ("system_instruction", "Be kind."),
        ("system_instruction", None),
        ("safety_settings", ({"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"},)),
        ("safety_settings", ({"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"},)),
        ("safety_settings", ()),
        ("scope", "tenant-b"),
    ],
)
def test_the_key_changes_with_each_field_that_shapes_the_answer(field: str, value: Any) -> None:
    assert cache_key(**{**BASE, field: value}) != cache_key(**BASE)


@pytest.mark.parametrize("name", sorted(GenerationConfig.model_fields))
def test_the_key_changes_with_every_generation_config_field_of_the_manifest(name: str) -> None:
    changed = {**BASE["generation_config"], _camel(name): SAMPLES[name]}
    assert cache_key(**{**BASE, "generation_config": changed}) != cache_key(**BASE)


@pytest.mark.parametrize(
    "name",
    sorted(
        _camel(f)
        for f in types.GenerateContentConfig.model_fields
        if f not in {"http_options", "system_instruction", "safety_settings", "should_return_http_response"}
    ),
)
def test_the_key_changes_with_every_field_the_sdk_can_send(name: str) -> None:
    changed = {**BASE["generation_config"], name: {"any": "value"}}
    assert cache_key(**{**BASE, "generation_config": changed}) != cache_key(**BASE)


def test_the_key_shows_only_the_prompt_version_and_a_hash() -> None:
    key = cache_key(**{**BASE, "contents": "mail ada@example.com", "scope": "acme-corp"})
    prefix, schema, prompt, version, digest = key.rsplit(":", 4)
    assert (prefix, schema, prompt, version) == ("genaiops:rc", KEY_SCHEMA, "support", "0123456789abcdef")
    assert len(digest) == 64 and "ada" not in key and "acme" not in key


def test_the_memory_cache_evicts_the_least_recently_used_and_expires_entries() -> None:
    now = [0.0]
    cache = MemoryCache(max_entries=2, clock=lambda: now[0])
    cache.set("a", b"1", 10)
    cache.set("b", b"2", 10)
    assert cache.get("a") == b"1"  # a is now the most recently used
    cache.set("c", b"3", 10)
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"
    now[0] = 11
    assert cache.get("a") is None and len(cache) == 1


def test_the_memory_cache_is_bounded_in_bytes() -> None:
    cache = MemoryCache(max_bytes=10)
    cache.set("a", b"12345", 10)
    cache.set("b", b"123456", 10)
    assert cache.get("a") is None and cache.get("b") == b"123456"
    cache.set("huge", b"x" * 11, 10)
    assert cache.get("huge") is None


def test_a_cached_answer_reads_back_as_stored() -> None:
    answer = CachedAnswer("hi", "m", Usage(1, 2, 3, 4, True), "STOP", (Verdict("output", "pii", False, "x"),), 5.0)
    assert CachedAnswer.from_bytes(answer.to_bytes()) == answer
    with pytest.raises(ValueError):
        CachedAnswer.from_bytes(b"{}")


class Broken:
    """A store that fails while `down`."""

    def __init__(self) -> None:
        self.down = True
        self.inner = MemoryCache()

    def get(self, key: str) -> bytes | None:
        if self.down:
            raise ConnectionError("refused")
        return self.inner.get(key)

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if self.down:
            raise ConnectionError("refused")
        self.inner.set(key, value, ttl_s)


def test_a_broken_store_means_no_cache_with_one_warning_then_recovers(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    store = Broken()
    guarded = GuardedCache(store, retry_after_s=30, clock=lambda: now[0])
    answer = CachedAnswer("hi", "m", Usage(1, 1))
    with caplog.at_level(logging.INFO, logger="controller.runtime.cache"):
        for _ in range(5):
            assert guarded.get("k") is None
            guarded.put("k", answer, 60)
        store.down = False
        assert guarded.get("k") is None  # still within retry_after_s: the store is not asked
        now[0] = 31
        guarded.put("k", answer, 60)
        assert guarded.get("k") == answer
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "serving without a cache" in warnings[0].getMessage()
    assert any("answering again" in r.getMessage() for r in caplog.records)
    stats = guarded.stats
    assert (stats.errors, stats.hits, stats.stores) == (1, 1, 1)


def test_an_unreadable_entry_is_a_miss() -> None:
    store = MemoryCache()
    store.set("k", b"not json", 10)
    guarded = GuardedCache(store)
    assert guarded.get("k") is None and guarded.stats.misses == 1

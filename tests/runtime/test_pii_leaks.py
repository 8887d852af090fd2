"""No PII from the 50-input corpus reaches a log line (any logger, any level), a cache key or a request
record's label fields, whatever happens to the request: answered, served from the cache, failed with an
error that quotes the prompt, refused for a bad variable, or answered by an endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.errors import GenaiopsError
from controller.prompts.store import PromptStore
from controller.runtime import GenAIClient, MemoryCache
from tests.runtime.conftest import FLASH, FakeGemini, Records, publish_version, version

CORPUS: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "pii_corpus.yaml").read_text(encoding="utf-8"))[
    "inputs"
]
VARIABLES: dict[str, dict[str, Any]] = {"question": {"type": "string"}, "count": {"type": "integer", "required": False}}


@dataclass
class KeyRecordingCache:
    """A memory cache that remembers every key it was asked for."""

    keys: list[str] = field(default_factory=list)
    inner: MemoryCache = field(default_factory=MemoryCache)

    def get(self, key: str) -> bytes | None:
        self.keys.append(key)
        return self.inner.get(key)

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self.keys.append(key)
        self.inner.set(key, value, ttl_s)


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts += [record.getMessage(), str(getattr(record, "json_fields", "")), record.exc_text or ""]
    return "\n".join(parts)


def test_no_planted_pii_reaches_logs_cache_keys_or_record_labels(
    store: PromptStore,
    make_client: Callable[..., GenAIClient],
    gemini: FakeGemini,
    records: Records,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publish_version(store, version("gemini", model=FLASH, variables=VARIABLES))
    publish_version(store, version("endpoint", variables=VARIABLES))
    cache = KeyRecordingCache()
    client = make_client(cache=cache, max_attempts=1, log_prompt_chars=400)
    gemini.echo_in_errors = True
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for index, case in enumerate(CORPUS):
            text = case["text"]
            try:
                match index % 5:
                    case 0:
                        client.generate("gemini", {"question": text})
                    case 1:
                        client.generate("gemini", {"question": text})
                        assert client.generate("gemini", {"question": text}).cache_hit
                    case 2:
                        gemini.errors = [400]
                        client.generate("gemini", {"question": text})
                    case 3:
                        client.generate("endpoint", {"question": text})
                    case _:
                        client.generate("gemini", {"question": "q", "count": text})  # a string for an integer
            except GenaiopsError as err:
                errors.append(str(err) if index % 5 == 2 else "")
    logged = _logged(caplog)
    labels = [(r.prompt, r.version, r.label, r.model, r.outcome.value) for r in records.records]
    assert len(records.records) == 60 and len(cache.keys) >= 40
    assert "[EMAIL]" in logged or "[PHONE]" in logged  # the log lines do show the (redacted) prompts
    for case in CORPUS:
        for value in case["pii"]:
            assert value not in logged, f"{value!r} was logged"
            assert not any(value in key for key in cache.keys), f"{value!r} is in a cache key"
            assert not any(value in field for label in labels for field in label), f"{value!r} is a label"
            assert not any(value in message for message in errors), f"{value!r} is in an error message"

"""The response cache: its key, what is stored, the port a store implements, the in-memory LRU store
(the default) and the guard that turns a broken store (a dead Redis) into no cache with one warning.
Redis lives in controller/providers/redis_cache.py. Pure apart from the memory store's own state.

The key covers everything that shapes the answer: the rendered contents (after redaction when the
prompt redacts its input), the system instruction, the model, every generation-config field, the safety
settings, the prompt name and version, a tenant scope and `KEY_SCHEMA` (bumped when the key's material
changes, so old entries are never misread). The material is hashed (SHA-256 of canonical JSON): no
request content, and so no PII, appears in a key in clear; only the prompt name and version do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.runtime.records import Usage
from controller.runtime.safety import Verdict

KEY_SCHEMA = "1"
KEY_PREFIX = "genaiops:rc"
_log = logging.getLogger(__name__)


def cache_key(
    *,
    prompt: str,
    version: str,
    model: str,
    contents: str,
    system_instruction: str | None,
    generation_config: Mapping[str, Any],
    safety_settings: tuple[Mapping[str, str], ...] = (),
    scope: str = "",
) -> str:
    """`genaiops:rc:<schema>:<prompt>:<version>:<sha256>` of the material that shapes the answer."""
    material = {
        "schema": KEY_SCHEMA,
        "prompt": prompt,
        "version": version,
        "model": model,
        "contents": [{"role": "user", "parts": [{"text": contents}]}],
        "systemInstruction": system_instruction,
        "generationConfig": dict(generation_config),
        "safetySettings": [dict(s) for s in safety_settings],
        "scope": scope,
    }
    digest = hashlib.sha256(
        json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    ).hexdigest()
    return f"{KEY_PREFIX}:{KEY_SCHEMA}:{prompt}:{version}:{digest}"


@dataclass(frozen=True)
class CachedAnswer:
    """What a cache entry holds: the answer as it was first served."""

    text: str
    model: str
    usage: Usage
    finish_reason: str | None = None
    verdicts: tuple[Verdict, ...] = ()
    stored_at: float = 0.0

    def to_bytes(self) -> bytes:
        """The stored form (JSON)."""
        u = self.usage
        return json.dumps(
            {
                "text": self.text,
                "model": self.model,
                "usage": [u.input_tokens, u.output_tokens, u.cached_tokens, u.thinking_tokens, u.estimated],
                "finishReason": self.finish_reason,
                "verdicts": [v.to_json() for v in self.verdicts],
                "storedAt": self.stored_at,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> CachedAnswer:
        """Read the stored form; ValueError when it is not one (a foreign or corrupt entry)."""
        try:
            data = json.loads(raw)
            i, o, c, t, e = data["usage"]
            return cls(
                text=str(data["text"]),
                model=str(data["model"]),
                usage=Usage(int(i), int(o), int(c), int(t), bool(e)),
                finish_reason=data.get("finishReason"),
                verdicts=tuple(Verdict.from_json(v) for v in data.get("verdicts") or ()),
                stored_at=float(data.get("storedAt") or 0.0),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"not a cached answer: {err}") from err


class ResponseCache(Protocol):
    """A key-value store with per-entry expiry. Errors may be raised freely: `GuardedCache` absorbs them."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_s: float) -> None: ...


class MemoryCache:
    """A bounded in-process LRU with per-entry expiry (thread-safe): at most `max_entries` entries and
    `max_bytes` of values; the least recently used go first."""

    def __init__(
        self,
        *,
        max_entries: int = 4096,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self._max_entries, self._max_bytes, self._clock = max_entries, max_bytes, clock
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, expires = entry
            if expires <= self._clock():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store `value` for `ttl_s` seconds (a value larger than the whole cache is not stored)."""
        if ttl_s <= 0 or len(value) > self._max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (value, self._clock() + ttl_s)
            self._bytes += len(value)
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        value, _ = self._entries.pop(key)
        self._bytes -= len(value)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class CacheStats:
    """Counters of the response cache (read with `GenAIClient.cache_stats()`)."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    errors: int = 0
    bypassed: int = 0  # requests the policy kept out of the cache (temperature > 0, `when: never`)
    saved_usd: float = 0.0  # what the hits would have cost

    def snapshot(self) -> CacheStats:
        """A copy."""
        return CacheStats(self.hits, self.misses, self.stores, self.errors, self.bypassed, self.saved_usd)


@dataclass
class GuardedCache:
    """A store behind a circuit breaker: any error makes it 'down' for `retry_after_s` (lookups miss,
    stores are dropped), with ONE warning per outage and one info line when it answers again. A request
    never fails because of its cache."""

    store: ResponseCache
    retry_after_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    stats: CacheStats = field(default_factory=CacheStats)
    _down_until: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _usable(self) -> bool:
        return self._down_until is None or self.clock() >= self._down_until

    def _failed(self, err: Exception, what: str) -> None:
        with self._lock:
            self.stats.errors += 1
            first = self._down_until is None
            self._down_until = self.clock() + self.retry_after_s
        if first:
            _log.warning(
                "response cache unavailable (%s failed: %s: %s); serving without a cache, retrying it every %gs",
                what,
                type(err).__name__,
                err,
                self.retry_after_s,
            )

    def _worked(self) -> None:
        if self._down_until is not None:
            with self._lock:
                recovered, self._down_until = self._down_until is not None, None
            if recovered:
                _log.info("response cache is answering again")

    def get(self, key: str) -> CachedAnswer | None:
        """The cached answer, or None (absent, expired, unreadable, or the store is down)."""
        if not self._usable():
            self._count(miss=True)
            return None
        try:
            raw = self.store.get(key)
        except Exception as err:  # a broken cache must never fail a request
            self._failed(err, "get")
            self._count(miss=True)
            return None
        self._worked()
        answer = None
        if raw is not None:
            try:
                answer = CachedAnswer.from_bytes(raw)
            except ValueError:
                answer = None
        self._count(miss=answer is None)
        return answer

    def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        """Store an answer (silently dropped while the store is down)."""
        if not self._usable():
            return
        try:
            self.store.set(key, answer.to_bytes(), ttl_s)
        except Exception as err:  # a broken cache must never fail a request
            self._failed(err, "set")
            return
        self._worked()
        with self._lock:
            self.stats.stores += 1

    def _count(self, *, miss: bool) -> None:
        with self._lock:
            if miss:
                self.stats.misses += 1
            else:
                self.stats.hits += 1

    def bypassed(self) -> None:
        """Count a request the policy kept out of the cache."""
        with self._lock:
            self.stats.bypassed += 1

    def saved(self, usd: float) -> None:
        """Count what a hit saved."""
        with self._lock:
            self.stats.saved_usd += usd

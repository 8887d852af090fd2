"""The runtime client's response cache on Redis (redis-py; Memorystore for Redis and Valkey speak the same
protocol: `redis://HOST:6379/0`, `rediss://` for in-transit encryption, `redis://:AUTH@HOST:6379/0` for
an AUTH string). Entries are plain `SET key value PX ttl` / `GET key`, so any number of application
instances share one cache.

Built to fail fast: short socket timeouts and no retries inside redis-py, because the client's
`GuardedCache` turns any error into "no cache for a while" with one warning, and a slow cache must not
become a slow request. Cluster mode is not supported (one primary endpoint).
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["RedisCache"]


class RedisCache:
    """A `ResponseCache` on one Redis (thread-safe: redis-py pools connections)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.25, **options: Any) -> RedisCache:
        """Connect lazily to `url`; `timeout_s` bounds connecting and each command."""
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            **options,
        )
        return cls(client)

    def get(self, key: str) -> bytes | None:
        """GET key."""
        value = self._client.get(key)
        if value is None:
            return None
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """SET key value PX ttl (at least 1 ms)."""
        self._client.set(key, value, px=max(1, int(ttl_s * 1000)))

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

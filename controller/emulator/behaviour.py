"""A simulated model's behaviour, read from its artifact URI.

`gs://emulator-models/<name>?error_rate=0.2&latency_ms=120&latency_jitter_ms=40` describes a model that
fails 20% of its predictions and answers in 120 ± 40 ms. Any other URI (any other `gs://` bucket, or
anything else) is a healthy model with a small latency. The high-level SDK refuses artifact URIs that are
neither `gs://` nor an existing local path, which is why the behaviour rides on a `gs://` URI.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

BEHAVIOUR_BUCKET = "emulator-models"
_KNOWN = {"error_rate", "latency_ms", "latency_jitter_ms"}


@dataclass(frozen=True)
class Behaviour:
    """How a simulated model answers: error probability and latency (milliseconds)."""

    error_rate: float = 0.0
    latency_ms: float = 20.0
    latency_jitter_ms: float = 5.0

    def draw(self, rng: random.Random) -> tuple[float, bool]:
        """One simulated request: (latency in ms, whether it failed)."""
        jitter = rng.uniform(-self.latency_jitter_ms, self.latency_jitter_ms) if self.latency_jitter_ms else 0.0
        failed = self.error_rate > 0 and rng.random() < self.error_rate
        return max(0.0, self.latency_ms + jitter), failed


HEALTHY = Behaviour()


def _number(params: dict[str, list[str]], key: str, default: float) -> float:
    if key not in params:
        return default
    raw = params[key][-1]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a number") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"{key}={raw!r} must be a finite number >= 0")
    return value


def parse_behaviour(uri: str) -> Behaviour:
    """The behaviour of a model with this artifact URI; raises ValueError for a malformed emulator URI."""
    parts = urlsplit(uri)
    if parts.scheme != "gs" or parts.netloc != BEHAVIOUR_BUCKET:
        return HEALTHY
    params = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise ValueError(f"unknown behaviour parameter(s) {unknown} in {uri!r}; known: {sorted(_KNOWN)}")
    error_rate = _number(params, "error_rate", 0.0)
    if error_rate > 1:
        raise ValueError(f"error_rate must be between 0 and 1 in {uri!r}")
    return Behaviour(
        error_rate=error_rate,
        latency_ms=_number(params, "latency_ms", HEALTHY.latency_ms),
        latency_jitter_ms=_number(
            params, "latency_jitter_ms", HEALTHY.latency_jitter_ms if "latency_ms" not in params else 0.0
        ),
    )


@functools.lru_cache(maxsize=1024)
def behaviour_of(uri: str) -> Behaviour:
    """Like `parse_behaviour`, cached, and healthy for a URI that does not parse (never raises)."""
    try:
        return parse_behaviour(uri)
    except ValueError:
        return HEALTHY

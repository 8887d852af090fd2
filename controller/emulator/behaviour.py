"""A simulated model's behaviour, read from its artifact URI.

`gs://emulator-models/<name>?error_rate=0.2&latency_ms=120&latency_jitter_ms=40` describes a model that
fails 20% of its predictions and answers in 120 ± 40 ms. Any other URI (any other `gs://` bucket, or
anything else) is a healthy model with a small latency. The high-level SDK refuses artifact URIs that are
neither `gs://` nor an existing local path, which is why the behaviour rides on a `gs://` URI.

`GENERATE_KEYS` are read only by the emulated GenerateContent (`vertex/gemini.py`: safety blocks, thinking
and output tokens, stream chunks...); Predict accepts and ignores them, so one URI can describe a tuned
Gemini model. `LLM_KEYS` (`llm=chat`, `ttft_ms`, `tokens_per_s`, with `output_tokens`) make an emulated
OpenAI-style chat model for RawPredict and its streaming forms (`vertex/llm.py`).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

BEHAVIOUR_BUCKET = "emulator-models"
GENERATE_KEYS = frozenset(
    {
        "error_code",
        "block_rate",
        "prompt_block_rate",
        "thinking_tokens",
        "cached_ratio",
        "chunks",
        "output_tokens",
        "output_tokens_jitter",
    }
)
LLM_KEYS = frozenset({"llm", "ttft_ms", "tokens_per_s"})
LLM_KINDS = ("chat",)
KNOWN_KEYS = frozenset({"error_rate", "latency_ms", "latency_jitter_ms"}) | GENERATE_KEYS | LLM_KEYS


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


def number_param(params: Mapping[str, list[str]], key: str, default: float, *, where: str = "") -> float:
    """The finite, non-negative number `key` in parsed query parameters (the last one given), or `default`;
    the ValueError for a malformed one names `where` (the model) when given."""
    if key not in params:
        return default
    raw = params[key][-1]
    in_where = f" in {where!r}" if where else ""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a number{in_where}") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"{key}={raw!r} must be a finite number >= 0{in_where}")
    return value


def parse_behaviour(uri: str) -> Behaviour:
    """The behaviour of a model with this artifact URI; raises ValueError for a malformed emulator URI."""
    parts = urlsplit(uri)
    if parts.scheme != "gs" or parts.netloc != BEHAVIOUR_BUCKET:
        return HEALTHY
    return behaviour_from(parse_qs(parts.query, keep_blank_values=True), uri)


def behaviour_from(params: dict[str, list[str]], where: str) -> Behaviour:
    """The behaviour described by parsed query parameters; ValueError (naming `where`) when malformed."""
    unknown = sorted(set(params) - KNOWN_KEYS)
    if unknown:
        raise ValueError(f"unknown behaviour parameter(s) {unknown} in {where!r}; known: {sorted(KNOWN_KEYS)}")
    check_llm(params, where)
    error_rate = number_param(params, "error_rate", 0.0, where=where)
    if error_rate > 1:
        raise ValueError(f"error_rate must be between 0 and 1 in {where!r}")
    return Behaviour(
        error_rate=error_rate,
        latency_ms=number_param(params, "latency_ms", HEALTHY.latency_ms, where=where),
        latency_jitter_ms=number_param(
            params,
            "latency_jitter_ms",
            HEALTHY.latency_jitter_ms if "latency_ms" not in params else 0.0,
            where=where,
        ),
    )


def check_llm(params: Mapping[str, list[str]], where: str) -> tuple[float, float] | None:
    """The emulated-LLM parameters, checked: `llm` names a known kind, its numbers are numbers, and
    `ttft_ms` / `tokens_per_s` come with `llm` (ValueError naming `where`). Returns (ttft_ms, tokens_per_s),
    or None without `llm`."""
    if "llm" not in params:
        extra = sorted(k for k in ("ttft_ms", "tokens_per_s") if k in params)
        if extra:
            raise ValueError(f"{extra} need llm=chat in {where!r}")
        return None
    kind = params["llm"][-1]
    if kind not in LLM_KINDS:
        raise ValueError(f"llm={kind!r} is not one of {list(LLM_KINDS)} in {where!r}")
    return number_param(params, "ttft_ms", 0.0, where=where), number_param(params, "tokens_per_s", 0.0, where=where)


@functools.lru_cache(maxsize=1024)
def behaviour_of(uri: str) -> Behaviour:
    """Like `parse_behaviour`, cached, and healthy for a URI that does not parse (never raises)."""
    try:
        return parse_behaviour(uri)
    except ValueError:
        return HEALTHY

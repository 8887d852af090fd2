"""What one application request leaves behind, as plain frozen values, and the ports the runtime client
writes them through (metrics, feedback). Shared by the client, the metrics recorder, the feedback stores
and the usage report, so each can be built and tested alone.

No request content is ever part of these records' label fields: `prompt`, `version`, `label`, `model`,
`outcome`, `endpoint_id` and `deployed_model_id` come from manifests, typed results and Vertex AI's response
headers, never from what a user typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    """How a request ended (a metric label: a closed set)."""

    OK = "ok"
    CACHE_HIT = "cache_hit"
    BLOCKED_INPUT = "blocked_input"  # refused before the model call (validation, deny pattern)
    BLOCKED_OUTPUT = "blocked_output"  # the model's answer was filtered (safety rating, deny pattern)
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    MODEL_ERROR = "model_error"  # the model or the API failed after retries
    FALLBACK = "fallback"  # the primary model failed and the fallback model answered


@dataclass(frozen=True)
class Usage:
    """Token counts of one call, from the response's usage metadata (or `estimated` when it had none)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # part of input_tokens served from Gemini's context cache
    thinking_tokens: int = 0  # billed at the output rate
    estimated: bool = False


@dataclass(frozen=True)
class RequestRecord:
    """One request as the metrics recorder and the usage report see it."""

    request_id: str
    prompt: str
    version: str
    label: str
    model: str  # the Vertex model name actually called
    outcome: Outcome
    latency_s: float
    usage: Usage
    cost_usd: float
    cache_hit: bool
    at: float  # unix seconds, from the client's clock
    # Streamed answers only (None for a whole answer, a cache hit or a failure): seconds from the request to
    # the first non-empty chunk, and output tokens per second after it (output tokens / (end - first chunk)).
    time_to_first_token_s: float | None = None
    tokens_per_second: float | None = None
    # An endpoint model's endpoint id and the deployed model that answered (from the adapter), else None.
    endpoint_id: str | None = None
    deployed_model_id: str | None = None


@dataclass(frozen=True)
class Feedback:
    """A user's rating of one request, joined with what served it."""

    request_id: str
    rating: int  # 1..5
    prompt: str
    version: str
    label: str
    model: str
    at: float
    text: str | None = None  # redacted before it is stored
    user_id: str | None = None


class Recorder(Protocol):
    """Where request records go (Cloud Monitoring custom metrics, batched). Never blocks a request."""

    def record(self, record: RequestRecord) -> None: ...

    def record_feedback(self, feedback: Feedback) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class FeedbackStore(Protocol):
    """Where feedback is kept (Firestore, or a local SQLite file without a project)."""

    def add(self, feedback: Feedback) -> None: ...

    def query(self, *, prompt: str | None = None, since: float = 0.0) -> list[Feedback]: ...

"""The runtime client applications call on every request (prompt + model call + cache + tokens and cost +
monitoring + feedback + safety). Public import path: `controller.runtime`; see docs/runtime.md.

The names below are the stable API; modules under `controller.runtime` not re-exported here may change.
The Google and Redis adapters live in `controller.providers` (genai_model, endpoint_model,
runtime_models, redis_cache): this package never imports google.* or redis.
"""

from controller.runtime.aclient import AsyncGenAIClient, AsyncStream
from controller.runtime.cache import CacheStats, MemoryCache, ResponseCache, cache_key
from controller.runtime.core import NullRecorder
from controller.runtime.failures import (
    ModelCallError,
    ModelRetiredError,
    ModelTimeoutError,
    NotStreamableError,
    RateLimitedError,
)
from controller.runtime.genai_client import GenAIClient, Stream
from controller.runtime.model import ModelAnswer, ModelRequest, ModelRouter, SafetyRating, TextModel
from controller.runtime.pii import redact, redact_text
from controller.runtime.records import Feedback, FeedbackStore, Outcome, Recorder, RequestRecord, Usage
from controller.runtime.result import Result
from controller.runtime.safety import Verdict
from controller.runtime.token_prices import ModelPrice, PriceTable, bundled_prices

__all__ = [
    "AsyncGenAIClient",
    "AsyncStream",
    "CacheStats",
    "Feedback",
    "FeedbackStore",
    "GenAIClient",
    "MemoryCache",
    "ModelAnswer",
    "ModelCallError",
    "ModelPrice",
    "ModelRequest",
    "ModelRetiredError",
    "ModelRouter",
    "ModelTimeoutError",
    "NotStreamableError",
    "NullRecorder",
    "Outcome",
    "PriceTable",
    "RateLimitedError",
    "Recorder",
    "RequestRecord",
    "ResponseCache",
    "Result",
    "SafetyRating",
    "Stream",
    "TextModel",
    "Usage",
    "Verdict",
    "bundled_prices",
    "cache_key",
    "redact",
    "redact_text",
]

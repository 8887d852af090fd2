"""The port between the runtime client and the models it calls: one request shape, one answer shape, and
the protocols the Google adapters implement (controller/providers/genai_model.py for Gemini through
google-genai, controller/providers/endpoint_model.py for Endpoint Predict, and
controller/providers/runtime_models.py, which picks one by model name). Pure values; no I/O here.

Adapters raise `controller.errors` types: `RateLimitedError` / `ModelTimeoutError` / `TransientError`
for what a retry may cure (429, 5xx, deadlines), `PermanentError` for the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from controller.prompts.models import EndpointApi
from controller.runtime.records import Usage

# `EndpointApi`, how an endpoint is called: Predict (a model served through Predict), GenerateContent (a
# tuned Gemini model's endpoint) or OpenAI chat completions over rawPredict (an open chat model: vLLM, TGI).
# The prompt version records it (`endpointApi`); None: decided by the model name (`ModelRouter.model_for`).
__all__ = [
    "AsyncModel",
    "EndpointApi",
    "ModelAnswer",
    "ModelRequest",
    "ModelRouter",
    "SafetyRating",
    "StreamingModel",
    "TextModel",
    "endpoint_parts",
]


def endpoint_parts(name: str) -> tuple[str, str] | None:
    """The region and endpoint id of an endpoint's resource name (`projects/P/locations/R/endpoints/E` ->
    `(R, E)`), else None (a publisher model, a bare model name)."""
    parts = name.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations" or parts[4] != "endpoints":
        return None
    region, endpoint_id = parts[3], parts[5]
    return (region, endpoint_id) if region and endpoint_id else None


@dataclass(frozen=True)
class ModelRequest:
    """One call: the rendered text and everything that shapes the answer."""

    model: str  # publishers/google/models/M, a bare Gemini name, or projects/P/locations/R/endpoints/E
    text: str
    system_instruction: str | None = None
    generation_config: Mapping[str, Any] = field(default_factory=dict)  # camelCase, as in the manifest
    safety_settings: tuple[Mapping[str, str], ...] = ()  # [{category, threshold, method?}]
    timeout_s: float = 30.0
    endpoint_api: EndpointApi | None = None  # how an endpoint is called, when the prompt version says


@dataclass(frozen=True)
class SafetyRating:
    """One of Gemini's safety ratings of a prompt or an answer."""

    category: str
    probability: str = ""
    severity: str = ""
    blocked: bool = False


@dataclass(frozen=True)
class ModelAnswer:
    """What a model said (a whole answer, or one streamed chunk: then `text` is the delta and the last
    chunk carries the usage and finish reason)."""

    text: str
    usage: Usage | None = None  # None: the model reported no usage metadata
    finish_reason: str | None = None  # STOP, MAX_TOKENS, SAFETY, ... (Gemini's FinishReason names)
    block_reason: str | None = None  # promptFeedback.blockReason: the prompt itself was refused
    ratings: tuple[SafetyRating, ...] = ()
    model_version: str | None = None
    deployed_model_id: str | None = None  # the endpoint's deployed model that answered (X-Vertex-AI-Deployed-Model-Id)


class TextModel(Protocol):
    """A model that answers whole requests."""

    def generate(self, request: ModelRequest) -> ModelAnswer: ...


@runtime_checkable
class StreamingModel(Protocol):
    """A model that can also stream its answer."""

    def generate(self, request: ModelRequest) -> ModelAnswer: ...

    def stream(self, request: ModelRequest) -> Iterator[ModelAnswer]: ...


@runtime_checkable
class AsyncModel(Protocol):
    """A model with native async calls (others run in a worker thread under the async client)."""

    async def agenerate(self, request: ModelRequest) -> ModelAnswer: ...

    def astream(self, request: ModelRequest) -> AsyncIterator[ModelAnswer]: ...


class ModelRouter(Protocol):
    """Which adapter serves a model name (`controller.providers.runtime_models.VertexModels`)."""

    def model_for(self, name: str, *, api: EndpointApi | None = None) -> TextModel:
        """The adapter for `name`; `api`: how an endpoint is called (None: by the name)."""
        ...

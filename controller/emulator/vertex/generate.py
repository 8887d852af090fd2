"""google.cloud.aiplatform.v1.PredictionService GenerateContent / StreamGenerateContent in the emulator.

Serves Gemini publisher models (`projects/P/locations/L/publishers/google/models/M`, also without the
project and location) and tuned models behind endpoints (`projects/P/locations/L/endpoints/E`, routed by
the endpoint's traffic split like Predict). `gemini.py` decides what a model answers; this service checks
the request as the API does, draws the outcome (seeded), records the call into the metric store, and
returns the response events. The gRPC adapter serves `methods()`; the REST gateway (`rest_generate.py`)
calls `respond` for `/v1/` and `/v1beta1/` URLs, JSON and server-sent events alike.

Each call draws, in this order and from one generator seeded by `seed`: latency (and error), prompt
block, answer block, answer length; each draw only when its parameter is set (latency jitter, a rate above
0, `output_tokens_jitter`), so the same seed and calls replay the same outcomes.

Publisher-model calls are recorded as Vertex AI's publisher metrics (`record_generation`); endpoint calls as
online predictions of the endpoint (`record_prediction`), so canary analysis reads them as it reads Predict.
The simulated latency is reported, and slept only with `real_latency`.

A model a tuning job produced (`tuning.py`) answers what it learned: `tuned_text(model, request)` gives
the answer text for a deployed model, or None to echo as other models do.

Retirement: judged on the emulator's `Calendar` (`controller/emulator/calendar.py`), a call to a publisher
model after its last day (`gemini.py`, from the one model catalogue) answers NOT_FOUND, and so does a call
routed to a tuned model whose base model (the route target's `base_model`) is retired: "If you tune a Gemini model, then
the tuned model shares the same discontinuation date as the base model" (Vertex "Model versions and
lifecycle"). `count_tokens` serves `LlmUtilityService/CountTokens` (gRPC, and REST through
`rest_generate.py`) for the same models, with the same NOT_FOUND.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.cloud import aiplatform_v1 as v1

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.behaviour import BEHAVIOUR_BUCKET
from controller.emulator.calendar import Calendar
from controller.emulator.vertex import common as c
from controller.emulator.vertex.gemini import (
    Draw,
    GeminiBehaviour,
    PublisherModel,
    answer,
    find_publisher_model,
    gemini_behaviour,
    parse_params,
    prompt_tokens,
    split_model,
)
from controller.emulator.vertex.prediction import PredictionRecorder, Target, route_of
from controller.emulator.vertex.store import StateStore

SERVICE = "google.cloud.aiplatform.v1.PredictionService"
GENERATE = f"{SERVICE}/GenerateContent"
STREAM_GENERATE = f"{SERVICE}/StreamGenerateContent"
LLM_UTILITY_SERVICE = "google.cloud.aiplatform.v1.LlmUtilityService"
COUNT_TOKENS = f"{LLM_UTILITY_SERVICE}/CountTokens"
COUNT_TOKENS_RESPONSE_PB = type(v1.CountTokensResponse.pb(v1.CountTokensResponse()))
_PUBLISHER_NAME = re.compile(r"(?:projects/([^/]+)/locations/([^/]+)/)?publishers/([^/]+)/models/([^/]+)")
_ENDPOINT_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/endpoints/[^/]+")
_ROLES = ("", "user", "model")
_MAX_CANDIDATES = 8
_ERRORS = {
    429: (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
    ),
    500: (grpc.StatusCode.INTERNAL, "Internal error encountered."),
    503: (grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable."),
}


class GenerationRecorder(Protocol):
    """Receives every publisher-model call (implemented by `metrics.MetricStore`)."""

    def record_generation(
        self,
        *,
        project: str,
        location: str,
        publisher: str,
        model_id: str,
        response_code: int,
        latency_ms: float,
        first_token_ms: float,
        input_tokens: int,
        output_tokens: int,
        at: float,
    ) -> None: ...


@dataclass(frozen=True)
class Reply:
    """One call's answer: raw `GenerateContentResponse` protobufs (one, or a stream's events)."""

    events: list[Any]
    latency_ms: float


@dataclass(frozen=True)
class _Target:
    """What serves a call: its behaviour, the modelVersion it reports, and how the call is recorded."""

    behaviour: GeminiBehaviour
    version: str
    record: Callable[[float, int, list[Any]], None]  # (latency_ms, response code, events)
    text: Callable[[Any], str | None] | None = None  # the answer to a raw request (None: echo)


def _invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _not_found(name: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.NOT_FOUND,
        f"Publisher Model `{name}` was not found or your project does not have access to it. Please ensure you "
        "are using a valid model version. For more information, see: "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
    )


def _retired(name: str) -> ApiError:
    # UNCONFIRMED: Vertex AI documents only that "API requests that reference a retired model ID typically
    # return a 404 Not Found error" (Model versions and lifecycle); the exact message for a retired model was
    # not found in any source, so it is the one the API gives an unknown publisher model.
    return _not_found(name)


def check_request(request: Any) -> None:
    """Reject what the API rejects before any model runs (raw `GenerateContentRequest` protobuf)."""
    if not request.contents:
        raise _invalid("Unable to submit request because it must have at least one contents field.")
    for content in request.contents:
        if content.role not in _ROLES:
            raise _invalid("Please use a valid role: user, model.")
        if not content.parts:
            raise _invalid(
                "Unable to submit request because it must include at least one parts field, which describes the "
                "prompt input. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"
            )
    config = request.generation_config
    if config.HasField("temperature") and not 0 <= config.temperature < 2.0001:
        raise _invalid(
            f"Unable to submit request because it has a temperature value of {config.temperature:g} but the "
            "supported range is from 0 (inclusive) to 2.0001 (exclusive). Update the value and try again."
        )
    if config.HasField("candidate_count") and not 1 <= config.candidate_count <= _MAX_CANDIDATES:
        raise _invalid(
            f"Unable to submit request because candidateCount must be between 1 and {_MAX_CANDIDATES}; "
            f"got {config.candidate_count}."
        )


@functools.lru_cache(maxsize=1024)
def _parsed_behaviour(defaults: str, params: str, where: str) -> GeminiBehaviour:
    """A model's default parameters overridden by the ones in its name (ValueError when malformed)."""
    return gemini_behaviour({**parse_params(defaults), **parse_params(params)}, where)


def _output_tokens(events: list[Any]) -> tuple[int, int]:
    usage = events[-1].usage_metadata
    return usage.prompt_token_count, usage.candidates_token_count + usage.thoughts_token_count


def check_models(models: Mapping[str, str]) -> None:
    """Refuse emulated publisher models (id -> default parameters) that no call could reach or that
    describe no behaviour: ValueError naming the model."""
    for model_id, params in models.items():
        if not model_id or any(ch in model_id for ch in "/;?&"):
            raise ValueError(f"emulated model id {model_id!r} must be a plain id such as gemini-2.5-flash-002")
        gemini_behaviour(parse_params(params), f"{model_id}={params}")


class GenerateService:
    """The emulated GenerateContent and StreamGenerateContent."""

    def __init__(
        self,
        store: StateStore,
        *,
        recorder: GenerationRecorder | None = None,
        prediction_recorder: PredictionRecorder | None = None,
        models: Mapping[str, str] | None = None,
        calendar: Calendar,
        real_latency: bool = False,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        tuned_text: Callable[[str, Any], str | None] | None = None,
    ) -> None:
        """`models` adds or overrides emulated publisher models: model id (any: `gemini-2.5-flash-002`,
        `gemini-2.5-flash-bad`) -> default behaviour parameters (`"error_rate=0.2;latency_ms=400"`, see
        `gemini.py`), which a call's model name overrides; ValueError naming the model for a malformed one.
        Calls to a catalogue model after its last day on `calendar` (the emulator's, shared by every
        Vertex service) answer NOT_FOUND. `seed` fixes every drawn outcome (errors, latency, blocks, answer
        lengths) for a given sequence of calls. `tuned_text(model name, raw request)`: what a tuned model
        deployed on an endpoint answers (None: echo)."""
        self.store = store
        self.recorder = recorder
        self.prediction_recorder = prediction_recorder
        self.models = dict(models or {})
        self.calendar = calendar
        self.real_latency = real_latency
        self.clock = clock
        self.tuned_text = tuned_text
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._calls = 0
        check_models(self.models)

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service."""
        return [
            RpcMethod(SERVICE, "GenerateContent", v1.GenerateContentRequest, v1.GenerateContentResponse, self.generate),
            RpcMethod(
                SERVICE,
                "StreamGenerateContent",
                v1.GenerateContentRequest,
                v1.GenerateContentResponse,
                self.stream_generate,
                streaming=True,
            ),
            RpcMethod(
                LLM_UTILITY_SERVICE, "CountTokens", v1.CountTokensRequest, v1.CountTokensResponse, self.count_tokens
            ),
        ]

    def generate(self, request: v1.GenerateContentRequest) -> v1.GenerateContentResponse:
        """GenerateContent over gRPC."""
        reply = self.respond(v1.GenerateContentRequest.pb(request), stream=False)
        [event] = self.paced(reply)
        response: v1.GenerateContentResponse = v1.GenerateContentResponse.wrap(event)
        return response

    def stream_generate(self, request: v1.GenerateContentRequest) -> Iterator[v1.GenerateContentResponse]:
        """StreamGenerateContent over gRPC (the outcome is drawn when the stream starts)."""
        reply = self.respond(v1.GenerateContentRequest.pb(request), stream=True)
        for event in self.paced(reply):
            yield v1.GenerateContentResponse.wrap(event)

    def count_tokens(self, request: v1.CountTokensRequest) -> v1.CountTokensResponse:
        """CountTokens over gRPC (`LlmUtilityService`)."""
        response: v1.CountTokensResponse = v1.CountTokensResponse.wrap(self.count(v1.CountTokensRequest.pb(request)))
        return response

    def count(self, request: Any) -> Any:
        """Answer a raw `CountTokensRequest` protobuf (its `endpoint` names the model, as the URL does): the
        emulator's token count of the contents and system instruction, and their characters without
        whitespace as billable characters; NOT_FOUND for an unknown or retired model."""
        self._check_served(request.endpoint or request.model)
        total = prompt_tokens(request)
        texts = [p.text for content in (*request.contents, request.system_instruction) for p in content.parts]
        out = COUNT_TOKENS_RESPONSE_PB()
        out.total_tokens = total
        out.total_billable_characters = sum(len("".join(t.split())) for t in texts)
        if total:
            out.prompt_tokens_details.add(modality=v1.Modality.TEXT, token_count=total)
        return out

    def _check_served(self, model: str) -> None:
        """Resolve a model name as a call would, without drawing anything: ApiError when no call could reach it."""
        name, _ = split_model(model)
        found = _PUBLISHER_NAME.fullmatch(name)
        if found is not None:
            self._publisher_model(name, found)
            return
        if not _ENDPOINT_NAME.fullmatch(name):
            raise _invalid(
                f"Invalid model name {model!r}: expected projects/P/locations/L/publishers/google/models/MODEL "
                "or projects/P/locations/L/endpoints/ENDPOINT."
            )
        with self.store.transaction(write=False) as state:
            endpoint = state.endpoints.get(name)
            if endpoint is None:
                raise c.not_found("Endpoint", name)
            route = route_of(state, endpoint)
        if route is None:
            raise c.failed_precondition(f"Endpoint {name} has no deployed model receiving traffic.")
        for _, target in route.weighted:
            self._check_tuned_base(target)

    def paced(self, reply: Reply) -> Iterator[Any]:
        """The reply's events, spread over its latency when `real_latency` is on."""
        pause = reply.latency_ms / 1000 / len(reply.events) if self.real_latency else 0.0
        for event in reply.events:
            if pause:
                time.sleep(pause)
            yield event

    def respond(self, request: Any, *, stream: bool) -> Reply:
        """Answer a raw `GenerateContentRequest` protobuf, or raise the `ApiError` the call fails with."""
        check_request(request)
        target = self._target(request.model)
        behaviour = target.behaviour
        with self._lock:
            latency_ms, failed = behaviour.base.draw(self._rng)
            prompt_blocked = behaviour.prompt_block_rate > 0 and self._rng.random() < behaviour.prompt_block_rate
            blocked = behaviour.block_rate > 0 and self._rng.random() < behaviour.block_rate
            output_tokens = behaviour.draw_output_tokens(self._rng)
            self._calls += 1
            call = self._calls
        if failed:
            target.record(latency_ms, behaviour.error_code, [])
            code, message = _ERRORS[behaviour.error_code]
            raise ApiError(code, message)
        digest = hashlib.sha256(f"{self._seed}:{call}".encode()).digest()[:15]
        draw = Draw(prompt_blocked, blocked, base64.urlsafe_b64encode(digest).decode(), self.clock(), output_tokens)
        text = target.text(request) if target.text is not None else None
        events = answer(request, behaviour, version=target.version, draw=draw, stream=stream, text=text)
        target.record(latency_ms, 200, events)
        return Reply(events, latency_ms)

    # -- resolving the model -----------------------------------------------------------------------

    def _target(self, model: str) -> _Target:
        name, params = split_model(model)
        found = _PUBLISHER_NAME.fullmatch(name)
        if found is not None:
            return self._publisher_target(name, params, found)
        if _ENDPOINT_NAME.fullmatch(name):
            return self._endpoint_target(name, params)
        raise _invalid(
            f"Invalid model name {model!r}: expected projects/P/locations/L/publishers/google/models/MODEL "
            "or projects/P/locations/L/endpoints/ENDPOINT."
        )

    def _behaviour(self, defaults: str, params: str, where: str) -> GeminiBehaviour:
        try:
            return _parsed_behaviour(defaults, params, where)
        except ValueError as err:
            raise _invalid(f"Invalid emulated model behaviour: {err}") from None

    def _publisher_model(self, name: str, found: re.Match[str]) -> PublisherModel:
        """The publisher model a name resolves to; NOT_FOUND when unknown or retired on the calendar's day."""
        publisher, model_id = found.group(3), found.group(4)
        model = find_publisher_model(model_id, self.models) if publisher == "google" else None
        if model is None:
            raise _not_found(name)
        if model.retired_on(self.calendar.today()):
            raise _retired(name)
        return model

    def _check_tuned_base(self, target: Target) -> None:
        """NOT_FOUND when `target` is a tuned model whose base model is retired on the calendar's day."""
        base_id = target.base_model
        if not base_id:
            return
        base = find_publisher_model(base_id, self.models)
        if base is not None and base.retired_on(self.calendar.today()):
            # UNCONFIRMED: what Vertex AI answers for a tuned model after its base model retired is not
            # documented beyond the shared discontinuation date; the emulator answers the base model's 404.
            project_location = target.model.split("/models/", 1)[0]
            raise _retired(f"{project_location}/publishers/google/models/{base_id}")

    def _publisher_target(self, name: str, params: str, found: re.Match[str]) -> _Target:
        project, location, publisher, model_id = found.groups()
        model = self._publisher_model(name, found)
        behaviour = self._behaviour(model.behaviour, params, model_id)

        def record(latency_ms: float, code: int, events: list[Any]) -> None:
            if self.recorder is None:
                return
            prompt, output = _output_tokens(events) if events else (0, 0)
            self.recorder.record_generation(
                project=project or "",
                location=location or "global",
                publisher=publisher,
                model_id=model_id,
                response_code=code,
                latency_ms=latency_ms,
                first_token_ms=latency_ms / len(events) if events else latency_ms,
                input_tokens=prompt,
                output_tokens=output,
                at=self.clock(),
            )

        return _Target(behaviour, model.version, record)

    def _endpoint_target(self, name: str, params: str) -> _Target:
        with self.store.transaction(write=False) as state:
            endpoint = state.endpoints.get(name)
            if endpoint is None:
                raise c.not_found("Endpoint", name)
            route = route_of(state, endpoint)
        if route is None:
            raise c.failed_precondition(f"Endpoint {name} has no deployed model receiving traffic.")
        with self._lock:
            picked = route.pick(self._rng.random())
        self._check_tuned_base(picked)
        uri = picked.artifact_uri
        defaults = uri.partition("?")[2] if uri.startswith(f"gs://{BEHAVIOUR_BUCKET}/") else ""
        behaviour = self._behaviour(defaults, params, uri or name)

        def record(latency_ms: float, code: int, events: list[Any]) -> None:
            if self.prediction_recorder is not None:
                route.record(self.prediction_recorder, picked, latency_ms=latency_ms, code=code, at=self.clock())

        version = f"{picked.model}@{picked.model_version_id}" if picked.model_version_id else picked.model
        tuned = self.tuned_text
        text = None if tuned is None else (lambda request: tuned(picked.model, request))
        return _Target(behaviour, version, record, text)

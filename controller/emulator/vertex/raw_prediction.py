"""PredictionService's raw and streaming methods: RawPredict, StreamRawPredict, ServerStreamingPredict, and
the OpenAI-compatible chat-completions route of an endpoint.

Every call is routed by the endpoint's live traffic split exactly as Predict (`PredictionService.route`:
NOT_FOUND for an unknown endpoint, FAILED_PRECONDITION when no deployed model gets traffic), fails at the
model's error rate (INTERNAL, HTTP 500), and is recorded through the same `PredictionRecorder`, so it
feeds the same Cloud Monitoring series (latency = the call's whole time, the model's simulated latency
included; a stream the caller abandons is recorded with code 499). A chat model's answer sent as a stream
(StreamRawPredict, ServerStreamingPredict, `"stream": true` on `/chat/completions`) also records its
server-side time to first token (`record_first_token`: the call's simulated latency plus the wait until its
first piece is sent), which Vertex AI's AutoMetrics would export from a vLLM container's own histogram; a
whole answer (RawPredict, a non-streamed chat completion) records none.

What the model answers depends on its artifact URI (`llm.py`): an emulated chat model (`llm=chat`) takes
OpenAI chat-completion bodies and streams server-sent events token by token, really waiting `ttft_ms`
and `1/tokens_per_s` (interruptibly: a cancelled gRPC stream stops waiting); any other model takes
Predict's JSON (`{"instances": [...]}`) and echoes it as `{"predictions": [...], "deployedModelId"...}`.
A malformed body is INVALID_ARGUMENT (HTTP 400) naming the field.

The wire:
- gRPC: RawPredict answers one `google.api.HttpBody`; StreamRawPredict one HttpBody per piece (per SSE
  event for a streaming chat model); ServerStreamingPredict `StreamingPredictResponse`s whose output
  tensors are the answer's words (a chat model) or the input tensors (any other model).
- REST, `POST /v1/{endpoint}:rawPredict` and `:streamRawPredict`: a plain HTTP caller sends the model's
  body itself and gets the model's answer itself (`text/event-stream` for a streaming chat model, sent
  event by event with chunked encoding), with the `X-Vertex-AI-Endpoint-Id` and
  `X-Vertex-AI-Deployed-Model-Id` headers. The gapic REST transport (it sends `$alt=json;enum-encoding=int`)
  wraps the body as `{"httpBody": {"contentType", "data": base64}}` and parses the answer as HttpBody JSON
  (a JSON array of them for the stream): it gets those.
- REST, `POST /{v1|v1beta1}/projects/P/locations/L/endpoints/E/chat/completions`: the chat model's OpenAI
  answer (`"stream": true` gives server-sent events ending with `data: [DONE]`).
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from google.api import httpbody_pb2
from google.cloud import aiplatform_v1 as v1
from google.protobuf import json_format

from controller.emulator.api import ApiError, HttpCall, HttpReply, RpcMethod, cancellation
from controller.emulator.vertex import common as c
from controller.emulator.vertex import llm
from controller.emulator.vertex.gemini import shaped
from controller.emulator.vertex.prediction import SERVICE, PredictionService, Route, Target, model_failed
from controller.emulator.wire_streams import json_array, sse_event

CHAT_PATH = r"/(?P<version>v1|v1beta1)/(?P<endpoint>projects/[^/]+/locations/[^/]+/endpoints/[^/:]+)/chat/completions"
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream"
_HTTP_BODY = httpbody_pb2.HttpBody
_CLIENT_GONE = 499
_STRING = v1.Tensor.DataType.STRING


@dataclass
class _Call:
    """One routed call: where it went, and what remains to be recorded when it ends."""

    route: Route
    target: Target
    simulated_ms: float  # the model's drawn latency when it is not slept
    started: float  # time.monotonic()
    recorded: bool = False


@dataclass(frozen=True)
class _Answer:
    """What the model answers: a content type, and its pieces with the wait before each (seconds)."""

    content_type: str
    pieces: tuple[tuple[float, bytes], ...]
    chat: bool = False  # a chat model's streamed answer: sent as a stream, its server times the first token


class RawPredictionService:
    """RawPredict, StreamRawPredict, ServerStreamingPredict and `/chat/completions`, over `PredictionService`'s
    routing, recorder, clock and `real_latency`."""

    def __init__(self, prediction: PredictionService, *, seed: int = 0) -> None:
        self.prediction = prediction
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service (plus the REST-only chat-completions route)."""
        body = _HTTP_BODY
        return [
            RpcMethod(SERVICE, "RawPredict", v1.RawPredictRequest, body, self.raw_predict, http=self.raw_predict_http),
            RpcMethod(
                SERVICE,
                "StreamRawPredict",
                v1.StreamRawPredictRequest,
                body,
                self.stream_raw_predict,
                streaming=True,
                http=self.stream_raw_predict_http,
            ),
            RpcMethod(
                SERVICE,
                "ServerStreamingPredict",
                v1.StreamingPredictRequest,
                v1.StreamingPredictResponse,
                self.server_streaming_predict,
                streaming=True,
            ),
            RpcMethod(SERVICE, "ChatCompletions", body, body, None, http=self.chat_http, http_paths=(CHAT_PATH,)),
        ]

    # -- routing and recording ----------------------------------------------------------------------------
    def _begin(self, endpoint: str) -> _Call:
        if "/publishers/" in endpoint:
            raise c.not_found("Publisher model", f"{endpoint} (the emulator serves raw predictions of endpoints)")
        route, target, latency_ms, failed = self.prediction.route(endpoint)
        call = _Call(route, target, 0.0 if self.prediction.real_latency else latency_ms, time.monotonic())
        if self.prediction.real_latency:
            time.sleep(latency_ms / 1000)
        if failed:
            self._end(call, 500)
            raise model_failed(target)
        return call

    def _end(self, call: _Call, code: int) -> None:
        if call.recorded:
            return
        call.recorded = True
        recorder = self.prediction.recorder
        if recorder is not None:
            latency = call.simulated_ms + (time.monotonic() - call.started) * 1000
            call.route.record(recorder, call.target, latency_ms=latency, code=code, at=self.prediction.clock())

    def _refuse(self, call: _Call, err: ValueError) -> ApiError:
        self._end(call, 400)
        return c.invalid(str(err))

    def _completion_id(self) -> str:
        with self._lock:
            return f"chatcmpl-{self._rng.getrandbits(96):024x}"

    # -- what the model answers ---------------------------------------------------------------------------
    def _answer(self, call: _Call, data: bytes, *, stream_default: bool) -> _Answer:
        """The model's answer to a raw body; INVALID_ARGUMENT (recorded as 400) for a malformed one."""
        behaviour = llm.chat_behaviour(call.target.artifact_uri, call.target.image_uri)
        if behaviour is None:
            try:
                return _Answer(JSON_TYPE, ((0.0, _echo(call.target, data)),))
            except ValueError as err:
                raise self._refuse(call, err) from None
        try:
            chat = llm.parse_chat(data, stream_default=stream_default)
        except ValueError as err:
            raise self._refuse(call, err) from None
        said = llm.answer(chat, behaviour)
        completion_id, created = self._completion_id(), int(self.prediction.clock())
        model = call.target.model_display_name
        if not chat.stream:
            body = llm.completion(said, completion_id=completion_id, created=created, model=model)
            wait = behaviour.generation_s(len(said.pieces))
            return _Answer(JSON_TYPE, ((wait, json.dumps(body).encode()),))
        events = list(
            llm.chunks(
                said, completion_id=completion_id, created=created, model=model, include_usage=chat.include_usage
            )
        )
        waits = behaviour.waits(len(said.pieces))
        pieces = [
            (waits[n] if n < len(waits) else 0.0, sse_event(json.dumps(event, separators=(",", ":"))))
            for n, event in enumerate(events)
        ]
        return _Answer(SSE_TYPE, (*pieces, (0.0, sse_event(llm.DONE))), chat=True)

    def _paced(self, call: _Call, answer: _Answer, *, streamed: bool = True) -> Iterator[bytes]:
        """The answer's pieces, each after its wait; records the call when it ends (499 if abandoned), and a
        chat model's time to first token when the answer is `streamed`."""
        cancelled = cancellation()
        code = _CLIENT_GONE
        timed = not (streamed and answer.chat)
        try:
            for wait, piece in answer.pieces:
                if wait > 0 and cancelled.wait(wait):
                    return
                if not timed:
                    timed = True
                    self._first_token(call)
                yield piece
            code = 200
        finally:
            self._end(call, code)

    def _first_token(self, call: _Call) -> None:
        recorder = self.prediction.recorder
        if recorder is not None:
            seconds = (call.simulated_ms / 1000) + time.monotonic() - call.started
            call.route.record_first_token(recorder, call.target, seconds=seconds, at=self.prediction.clock())

    def _whole(self, call: _Call, answer: _Answer) -> bytes:
        return b"".join(self._paced(call, answer, streamed=False))

    # -- gRPC ----------------------------------------------------------------------------------------------
    def raw_predict(self, request: v1.RawPredictRequest) -> httpbody_pb2.HttpBody:
        """RawPredict: the whole answer as one HttpBody."""
        call = self._begin(request.endpoint)
        answer = self._answer(call, request.http_body.data, stream_default=False)
        return _HTTP_BODY(content_type=answer.content_type, data=self._whole(call, answer))

    def stream_raw_predict(self, request: v1.StreamRawPredictRequest) -> Iterator[httpbody_pb2.HttpBody]:
        """StreamRawPredict: one HttpBody per piece of the answer (an SSE event of a streaming chat model)."""
        call = self._begin(request.endpoint)
        answer = self._answer(call, request.http_body.data, stream_default=True)
        return (_HTTP_BODY(content_type=answer.content_type, data=piece) for piece in self._paced(call, answer))

    def server_streaming_predict(self, request: v1.StreamingPredictRequest) -> Iterator[v1.StreamingPredictResponse]:
        """ServerStreamingPredict: a chat model streams the words of its answer to the string tensors of
        `inputs`, one string tensor per response; any other model answers once, echoing `inputs`."""
        call = self._begin(request.endpoint)
        behaviour = llm.chat_behaviour(call.target.artifact_uri, call.target.image_uri)
        if behaviour is None:
            echo = v1.StreamingPredictResponse(outputs=list(request.inputs), parameters=request.parameters)
            return self._tensors(call, _Answer(JSON_TYPE, ((0.0, b""),)), lambda _: echo)
        prompt = "".join(text for tensor in request.inputs for text in _strings(tensor))
        if not prompt:
            raise self._refuse(call, ValueError("inputs must hold a string tensor (dtype STRING, string_val)."))
        pieces = llm.words(shaped(prompt, behaviour.output_tokens)) or ("",)
        waits = behaviour.waits(len(pieces))
        answer = _Answer(JSON_TYPE, tuple((w, p.encode()) for w, p in zip(waits, pieces, strict=True)), chat=True)

        def response(piece: bytes) -> v1.StreamingPredictResponse:
            tensor = v1.Tensor(dtype=_STRING, string_val=[piece.decode()], shape=[1])
            return v1.StreamingPredictResponse(outputs=[tensor])

        return self._tensors(call, answer, response)

    def _tensors(self, call: _Call, answer: _Answer, build: Any) -> Iterator[v1.StreamingPredictResponse]:
        for piece in self._paced(call, answer):
            yield build(piece)

    # -- REST ----------------------------------------------------------------------------------------------
    def raw_predict_http(self, http: HttpCall) -> HttpReply:
        """`POST /v1/{endpoint}:rawPredict` (see the module docstring for the two callers)."""
        wrapped, data = _raw_request(http)
        call = self._begin(http.path_params.get("endpoint", ""))
        answer = self._answer(call, data, stream_default=False)
        whole = self._whole(call, answer)
        if wrapped:
            return HttpReply(200, JSON_TYPE, _http_body_json(answer.content_type, whole))
        return HttpReply(200, answer.content_type, whole, _vertex_headers(call))

    def stream_raw_predict_http(self, http: HttpCall) -> HttpReply:
        """`POST /v1/{endpoint}:streamRawPredict`: the answer as it is produced."""
        wrapped, data = _raw_request(http)
        call = self._begin(http.path_params.get("endpoint", ""))
        answer = self._answer(call, data, stream_default=True)
        pieces = self._paced(call, answer)
        if wrapped:
            return HttpReply(200, JSON_TYPE, json_array(_http_body_json(answer.content_type, p) for p in pieces))
        return HttpReply(200, answer.content_type, pieces, _vertex_headers(call))

    def chat_http(self, http: HttpCall) -> HttpReply:
        """`POST /{v1|v1beta1}/{endpoint}/chat/completions`: OpenAI's chat completions on the endpoint's models
        (a deployed model that is not an emulated chat model answers 400, as a non-OpenAI container would)."""
        call = self._begin(http.path_params.get("endpoint", ""))
        if llm.chat_behaviour(call.target.artifact_uri, call.target.image_uri) is None:
            raise self._refuse(
                call,
                ValueError(
                    f"DeployedModel {call.target.deployed_model_id} does not serve the Chat Completions API "
                    "(an emulated chat model has llm=chat in its artifact URI or an OpenAI-compatible serving image)."
                ),
            )
        answer = self._answer(call, http.body, stream_default=False)
        pieces = self._paced(call, answer)
        return HttpReply(200, answer.content_type, pieces, _vertex_headers(call))


def _echo(target: Target, data: bytes) -> bytes:
    """Predict's answer to a JSON `{"instances": [...]}` body, as JSON; ValueError for a malformed body."""
    try:
        payload = json.loads(data or b"")
    except ValueError as err:
        raise ValueError(f"{llm.INVALID_JSON} {err}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        raise ValueError('instances is required: the body must be a JSON object {"instances": [...]}.')
    answer = {
        "predictions": payload["instances"],
        "deployedModelId": target.deployed_model_id,
        "model": target.model,
        "modelDisplayName": target.model_display_name,
        "modelVersionId": target.model_version_id,
    }
    return json.dumps(answer).encode()


def _strings(tensor: v1.Tensor) -> list[str]:
    return [*tensor.string_val, *(t for inner in tensor.list_val for t in _strings(inner))]


def _raw_request(http: HttpCall) -> tuple[bool, bytes]:
    """(whether the gapic REST transport sent it, the model's body). That transport marks its calls with
    `$alt` and sends the RawPredictRequest as JSON, the body in `httpBody.data` (base64)."""
    if "$alt" not in http.query:
        return False, http.body
    request = v1.RawPredictRequest.pb(v1.RawPredictRequest())
    try:
        json_format.Parse(http.body or b"{}", request, ignore_unknown_fields=True)
    except json_format.ParseError as err:
        raise c.invalid(f"{llm.INVALID_JSON} {err}") from None
    return True, request.http_body.data


def _http_body_json(content_type: str, data: bytes) -> bytes:
    return json.dumps({"contentType": content_type, "data": base64.b64encode(data).decode()}).encode()


def _vertex_headers(call: _Call) -> dict[str, str]:
    """The headers Vertex AI adds to raw predictions: which endpoint and deployed model answered."""
    return {
        "X-Vertex-AI-Endpoint-Id": call.route.endpoint_id,
        "X-Vertex-AI-Deployed-Model-Id": call.target.deployed_model_id,
    }

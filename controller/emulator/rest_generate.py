"""Gemini's REST surface on the emulator's gateway: `:generateContent` and `:streamGenerateContent`.

Beside the generic REST adapter (`rest.py`), which answers one JSON document per call from the installed
transports' http rules, these URLs need what it does not do: both API versions (the google-genai SDK
defaults to `v1beta1` in Vertex mode, the gapic clients use `v1`) and streamed answers. Served URLs:

    POST /{v1|v1beta1}/[projects/P/locations/L/]publishers/PUB/models/MODEL:generateContent
    POST /{v1|v1beta1}/[projects/P/locations/L/]publishers/PUB/models/MODEL:streamGenerateContent[?alt=sse]
    POST /{v1|v1beta1}/projects/P/locations/L/endpoints/E:{generateContent|streamGenerateContent}[?alt=sse]
    POST /{v1|v1beta1}/.../{publishers/PUB/models/MODEL|endpoints/E}:countTokens   (LlmUtilityService/CountTokens)

`alt=sse` streams server-sent events (`data: {json}` then a blank line, what the SDK reads); without it a
stream is one JSON array, as the gapic REST transport reads it. Both go out with chunked transfer encoding,
paced by the model's latency when the emulator runs with `real_latency`. Errors are Google's JSON error
body (a retired model's is 404 NOT_FOUND, see `vertex/generate.py`); the fault-injection hook sees
`PredictionService/GenerateContent` or `/StreamGenerateContent`, or `LlmUtilityService/CountTokens`.

The generic adapter alone would route `/v1/projects/P/locations/L/{publishers/PUB/models/MODEL|endpoints/E}`
`:countTokens` and `:generateContent` (the installed transports' http rules), but neither `/v1beta1/`, nor
model names without project and location, nor streamed answers, nor request fields newer than the installed
protos; so every URL above is served here first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import grpc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import json_format

from controller.emulator.api import ApiError, CallHook, HttpReply, RpcMethod
from controller.emulator.rest import EVENT_STREAM, JSON, RestGateway, _Handler, guarded, hooked, wants_sse
from controller.emulator.rest_routes import build_routes
from controller.emulator.vertex.generate import COUNT_TOKENS, GENERATE, STREAM_GENERATE, GenerateService
from controller.emulator.wire_streams import json_array, sse_event

GENERATE_URL = re.compile(
    r"/(v1|v1beta1)/((?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/models/[^/:]+|endpoints/[^/:]+))"
    r":(generateContent|streamGenerateContent|countTokens)"
)
_REQUEST_PB = type(v1.GenerateContentRequest.pb(v1.GenerateContentRequest()))
_COUNT_REQUEST_PB = type(v1.CountTokensRequest.pb(v1.CountTokensRequest()))


def _json(event: object) -> bytes:
    return json_format.MessageToJson(event, indent=None).encode()  # type: ignore[arg-type]


def parse_body(body: bytes, model: str, *, count: bool = False) -> Any:
    """The raw `GenerateContentRequest` (or, with `count`, `CountTokensRequest`, the model in `endpoint` as
    the URL binds it) for a JSON body (fields newer than the installed protos are ignored)."""
    try:
        payload = json.loads(body or b"{}")
        if not isinstance(payload, dict):
            raise ValueError("Expected an object.")
        request = _COUNT_REQUEST_PB() if count else _REQUEST_PB()
        json_format.ParseDict(payload, request, ignore_unknown_fields=True)
    except (ValueError, json_format.ParseError) as err:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid JSON payload received. {err}") from err
    if count:
        request.endpoint = model
    else:
        request.model = model
    return request


@dataclass(frozen=True)
class _Verb:
    full_name: str  # what the fault-injection hook sees
    count: bool  # the body is a CountTokensRequest (else a GenerateContentRequest)
    stream: bool


_VERBS = {
    "generateContent": _Verb(GENERATE, count=False, stream=False),
    "streamGenerateContent": _Verb(STREAM_GENERATE, count=False, stream=True),
    "countTokens": _Verb(COUNT_TOKENS, count=True, stream=False),
}


class GenerateHandler(_Handler):
    """The gateway's handler: Gemini URLs here, everything else through the generic REST adapter."""

    server: GenerateGateway

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        found = GENERATE_URL.fullmatch(unquote(path))
        if found is None or self.command != "POST":
            super()._dispatch()
            return
        body = self._read_body()
        verb = _VERBS[found.group(3)]
        generate, headers = self.server.generate, {name.lower(): value for name, value in self.headers.items()}

        def call() -> HttpReply:
            request = parse_body(body, found.group(2), count=verb.count)
            if verb.count:
                return HttpReply(
                    200, JSON, _json(hooked(self.server.hook, verb.full_name, lambda: generate.count(request)))
                )
            reply = hooked(self.server.hook, verb.full_name, lambda: generate.respond(request, stream=verb.stream))
            events = generate.paced(reply)
            if not verb.stream:
                return HttpReply(200, JSON, _json(next(events)))
            if wants_sse(parse_qs(query), headers):
                return HttpReply(200, EVENT_STREAM, (sse_event(_json(e), newline=b"\r\n") for e in events))
            return HttpReply(200, JSON, json_array(_json(e) for e in events))

        self._write_reply(guarded(verb.full_name, call))


class GenerateGateway(RestGateway):
    """The REST gateway with Gemini's URLs served by `GenerateHandler`."""

    def __init__(
        self, address: tuple[str, int], methods: Sequence[RpcMethod], hook: CallHook | None, generate: GenerateService
    ) -> None:
        super().__init__(address, build_routes(methods), hook)
        self.RequestHandlerClass = GenerateHandler
        self.generate = generate


def start_gateway(
    methods: Iterable[RpcMethod],
    *,
    generate: GenerateService,
    host: str = "127.0.0.1",
    port: int = 0,
    hook: CallHook | None = None,
) -> tuple[RestGateway, int]:
    """Like `rest.start_rest_gateway`, with Gemini's URLs (both API versions, streaming) served too."""
    gateway = GenerateGateway((host, port), list(methods), hook, generate)
    gateway.start()
    return gateway, gateway.port

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
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote

import grpc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import json_format

from controller.emulator.api import ApiError, CallHook, RpcMethod
from controller.emulator.rest import RestGateway, _Handler, error_body
from controller.emulator.rest_routes import build_routes
from controller.emulator.vertex.generate import COUNT_TOKENS, GENERATE, STREAM_GENERATE, GenerateService

_LOG = logging.getLogger(__name__)
GENERATE_URL = re.compile(
    r"/(v1|v1beta1)/((?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/models/[^/:]+|endpoints/[^/:]+))"
    r":(generateContent|streamGenerateContent|countTokens)"
)
_REQUEST_PB = type(v1.GenerateContentRequest.pb(v1.GenerateContentRequest()))
_COUNT_REQUEST_PB = type(v1.CountTokensRequest.pb(v1.CountTokensRequest()))


def _json(event: object) -> str:
    return json_format.MessageToJson(event, indent=None)  # type: ignore[arg-type]


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
        if found.group(3) == "countTokens":
            self._count_tokens(body, found.group(2))
            return
        stream = found.group(3) == "streamGenerateContent"
        full_name = STREAM_GENERATE if stream else GENERATE
        hook = self.server.hook
        try:
            request = parse_body(body, found.group(2))
            if hook is not None:
                hook.before_call(full_name)
            reply = self.server.generate.respond(request, stream=stream)
            if hook is not None:
                hook.after_call(full_name)
        except ApiError as err:
            self._send(*error_body(err.code, err.message))
            return
        except Exception:
            _LOG.exception("emulator REST handler for %s failed", full_name)
            self._send(*error_body(grpc.StatusCode.INTERNAL, "Internal error encountered."))
            return
        events = self.server.generate.paced(reply)
        if not stream:
            self._send(200, _json(next(events)).encode("utf-8"))
        elif "sse" in parse_qs(query).get("alt", []):
            self._send_chunked("text/event-stream", (f"data: {_json(e)}\r\n\r\n" for e in events))
        else:
            self._send_chunked("application/json; charset=UTF-8", _json_array(events))

    def _count_tokens(self, body: bytes, model: str) -> None:
        hook = self.server.hook
        try:
            request = parse_body(body, model, count=True)
            if hook is not None:
                hook.before_call(COUNT_TOKENS)
            response = self.server.generate.count(request)
            if hook is not None:
                hook.after_call(COUNT_TOKENS)
        except ApiError as err:
            self._send(*error_body(err.code, err.message))
            return
        except Exception:
            _LOG.exception("emulator REST handler for %s failed", COUNT_TOKENS)
            self._send(*error_body(grpc.StatusCode.INTERNAL, "Internal error encountered."))
            return
        self._send(200, _json(response).encode("utf-8"))

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_chunked(self, content_type: str, pieces: Iterable[str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in pieces:
            data = piece.encode("utf-8")
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def _json_array(events: Iterator[object]) -> Iterator[str]:
    yield "["
    for n, event in enumerate(events):
        yield ("," if n else "") + _json(event)
    yield "]"


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

"""Serve `RpcMethod`s over HTTP/1.1 + JSON, the wire the Google REST transports speak.

This is the REST adapter beside `grpc_adapter.py`: the high-level SDK (`from google.cloud import
aiplatform` with `api_transport="rest"`) and the gapic clients with `transport="rest"` talk to it. Routes
come from the installed transports' http rules (`rest_routes.py`); `ApiError`s become Google's JSON error
body with the HTTP status Google maps each gRPC code to, so `google.api_core.exceptions.from_http_response`
raises the same exception class the real service would cause. A URL of an RPC that the client library
knows but the emulator does not serve answers UNIMPLEMENTED (501), as the gRPC adapter does; any other
URL answers NOT_FOUND (404).

A server-streaming method answers with chunked transfer encoding: one JSON array of the responses (what
the gapic REST transports read with `rest_streaming.ResponseIterator`), or server-sent events
(`data: {json}`) when the caller asks `?alt=sse` or `Accept: text/event-stream`. A method with its own
`http` handler (RawPredict's raw bodies, `/chat/completions`) gets the `HttpCall` and answers the
`HttpReply` it returns, streamed when its body is an iterable.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs

import grpc

from controller.emulator.api import ApiError, CallHook, HttpCall, HttpReply, RpcMethod
from controller.emulator.rest_routes import (
    RequestDecodeError,
    Route,
    build_routes,
    decode_request,
    encode_response,
    find_route,
)
from controller.emulator.wire_streams import json_array, sse_event

_LOG = logging.getLogger(__name__)
T = TypeVar("T")

# google.rpc.Code -> HTTP status, as in googleapis' google/rpc/code.proto.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


def error_body(code: grpc.StatusCode, message: str) -> tuple[int, bytes]:
    """HTTP status and Google's JSON error body `{"error": {"code", "message", "status"}}`."""
    status = HTTP_STATUS.get(code, 500)
    payload = {"error": {"code": status, "message": message, "status": code.name}}
    return status, json.dumps(payload).encode("utf-8")


JSON = "application/json; charset=UTF-8"
EVENT_STREAM = "text/event-stream"


def wants_sse(query: Mapping[str, list[str]], headers: Mapping[str, str]) -> bool:
    """Whether a streamed answer goes out as server-sent events: `?alt=sse` or `Accept: text/event-stream`."""
    return "sse" in query.get("alt", []) or EVENT_STREAM in headers.get("accept", "")


def json_error(code: grpc.StatusCode, message: str) -> HttpReply:
    """Google's JSON error body as an `HttpReply`."""
    status, payload = error_body(code, message)
    return HttpReply(status, JSON, payload)


def guarded(full_name: str, call: Callable[[], HttpReply]) -> HttpReply:
    """`call()`, with a failure mapped to Google's JSON error: a bad request body INVALID_ARGUMENT, an
    `ApiError` its code, anything else INTERNAL (logged)."""
    try:
        return call()
    except RequestDecodeError as err:
        return json_error(grpc.StatusCode.INVALID_ARGUMENT, str(err))
    except ApiError as err:
        return json_error(err.code, err.message)
    except Exception:
        _LOG.exception("emulator REST handler for %s failed", full_name)
        return json_error(grpc.StatusCode.INTERNAL, "Internal error encountered.")


def hooked(hook: CallHook | None, full_name: str, call: Callable[[], T]) -> T:
    """`call()` between the fault-injection hook's `before_call` and `after_call`."""
    if hook is not None:
        hook.before_call(full_name)
    result = call()
    if hook is not None:
        hook.after_call(full_name)
    return result


def respond(
    routes: Sequence[Route],
    hook: CallHook | None,
    http_method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
) -> HttpReply:
    """Answer one HTTP request (`target` is the request line's path with its query; `headers` have
    lower-case names): a unary method's JSON, a streaming method's stream, or what a method's own `http`
    handler answers. A stream's first response is produced before the status is sent, so an error before
    it is still an HTTP error."""
    path, _, query = target.partition("?")
    found = find_route(routes, http_method, path)
    if found is None:
        return json_error(grpc.StatusCode.NOT_FOUND, f"The requested URL {path} was not found on this server.")
    route, path_params = found
    method = route.method
    if method is None:
        return json_error(grpc.StatusCode.UNIMPLEMENTED, f"Method {route.rpc} is not implemented by the emulator.")
    served = method

    def call() -> HttpReply:
        params = parse_qs(query, keep_blank_values=True)
        if served.http is not None:
            http, http_call = served.http, HttpCall(params, body, path_params)
            return hooked(hook, served.full_name, lambda: http(http_call))
        handler = served.handler
        if handler is None:
            raise ApiError(grpc.StatusCode.UNIMPLEMENTED, f"Method {route.rpc} is not implemented by the emulator.")
        request, system = decode_request(served, route.body, path_params, query, body)
        int_enums = any("enum-encoding=int" in value for value in system.get("$alt", ()))
        if not served.streaming:
            response = hooked(hook, served.full_name, lambda: handler(request))
            return HttpReply(200, JSON, encode_response(served.response_type, response, int_enums=int_enums))

        def started() -> tuple[Any, Iterator[Any]]:
            responses = iter(handler(request))
            return next(responses), responses

        first, responses = hooked(hook, served.full_name, started)
        encoded = (encode_response(served.response_type, m, int_enums=int_enums) for m in _chain(first, responses))
        if wants_sse(params, headers):
            return HttpReply(200, EVENT_STREAM, (sse_event(data) for data in encoded))
        return HttpReply(200, JSON, json_array(encoded))

    return guarded(method.full_name, call)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


class _Handler(BaseHTTPRequestHandler):
    """One keep-alive HTTP/1.1 connection; every verb goes through `respond`."""

    protocol_version = "HTTP/1.1"
    server: RestGateway

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        _LOG.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = respond(self.server.routes, self.server.hook, self.command, self.path, headers, body)
        self._write_reply(reply)

    def _write_reply(self, reply: HttpReply) -> None:
        """Send an `HttpReply`: with a Content-Length, or chunk by chunk as its body iterable yields."""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if isinstance(reply.body, bytes):
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        pieces = iter(reply.body)
        try:
            for piece in pieces:
                if piece:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # a caller that hung up stops the generator (and its sleeps)


class RestGateway(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server for the emulator; `shutdown()` stops it and drops open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: Sequence[Route], hook: CallHook | None) -> None:
        super().__init__(address, _Handler)
        self.routes = routes
        self.hook = hook
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self.server_address[1])

    def start(self) -> None:
        """Serve in a background daemon thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator-rest", daemon=True
        )
        self._thread.start()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # Without this, a small response waits for the client's delayed ACK (~40 ms per call).
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Only connection-level errors get here (a client hanging up mid-call): routine, logged at debug."""
        _LOG.debug("connection from %s ended with an error", client_address, exc_info=True)

    def shutdown(self) -> None:
        """Stop serving, close the listening socket and every kept-alive connection (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            super().shutdown()
            self._thread.join()
        self.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Same as `shutdown()`."""
        self.shutdown()


def start_rest_gateway(
    methods: Iterable[RpcMethod],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    hook: CallHook | None = None,
) -> tuple[RestGateway, int]:
    """Start serving the methods over REST in a background thread; returns the gateway and its port.

    Methods without a REST transport in the installed client libraries (e.g. Cloud Monitoring) are not
    routed; an unknown URL gets a 404 in Google's JSON error format.
    """
    gateway = RestGateway((host, port), build_routes(methods), hook)
    gateway.start()
    return gateway, gateway.port

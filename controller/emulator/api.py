"""The contract between emulator services and the wire adapters (gRPC, REST).

A service is any object with a `methods()` returning `RpcMethod`s. A handler receives the deserialized
request (a proto-plus message, or a raw protobuf message for `google.longrunning` / `google.protobuf`
types) and returns the response of the declared type (a server-streaming method returns an iterator of
them), or raises `ApiError` with a gRPC status code.
Adapters translate `ApiError` to the wire (a gRPC status, or an HTTP status with a Google error body).

A method whose REST wire is not JSON transcoding (RawPredict's raw HTTP bodies, server-sent events) also
carries an `http` handler that the REST adapter calls with the `HttpCall` instead; `http_paths` adds URLs
that no http rule describes (the OpenAI-compatible `/chat/completions`); such a REST-only method has no
`handler` (None), so the gRPC adapter leaves it out. A
streaming handler can wait on `cancellation()`, which the adapter sets when the caller goes away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc


class ApiError(Exception):
    """An error the emulated API returns to its caller, as the real service would."""

    def __init__(self, code: grpc.StatusCode, message: str, details: Sequence[Any] = ()) -> None:
        """`details` are protobuf messages sent as `google.rpc.Status.details` (gRPC only)."""
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.details = tuple(details)


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request as the REST adapter received it: what the `http` handlers read of it."""

    query: Mapping[str, list[str]]
    body: bytes
    path_params: Mapping[str, str] = field(default_factory=dict)  # from the http rule or the path regex


@dataclass(frozen=True)
class HttpReply:
    """An HTTP answer; an iterable `body` is streamed with chunked transfer encoding, piece by piece."""

    status: int
    content_type: str
    body: bytes | Iterable[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)  # more response headers


@dataclass(frozen=True)
class RpcMethod:
    """One RPC: `service` is the full proto service name, `name` the method name; unary unless `streaming`
    (server streaming: the handler returns an iterator of responses)."""

    service: str  # e.g. "google.cloud.aiplatform.v1.EndpointService"
    name: str  # e.g. "GetEndpoint"
    request_type: Any  # proto-plus message class or protobuf message class
    response_type: Any
    handler: Callable[[Any], Any] | None  # None: served over REST only, by `http` (no gRPC method)
    streaming: bool = False
    http: Callable[[HttpCall], HttpReply] | None = None  # the REST wire, when it is not JSON transcoding
    http_paths: tuple[str, ...] = ()  # POST path regexes served with `http` only (no gRPC method)

    @property
    def full_name(self) -> str:
        """The gRPC method path without the leading slash: `Service/Method`."""
        return f"{self.service}/{self.name}"


class Service(Protocol):
    """Anything that offers RPC methods to the adapters."""

    def methods(self) -> Iterable[RpcMethod]: ...


class CallHook(Protocol):
    """Called by the adapters around every RPC (fault injection): may sleep or raise `ApiError`, before
    the handler runs (the call fails) or after it (the call was carried out, its reply is lost)."""

    def before_call(self, full_name: str) -> None: ...

    def after_call(self, full_name: str) -> None: ...


_LOCAL = threading.local()


def bind_cancellation(event: threading.Event | None) -> None:
    """Called by an adapter on the thread that runs a streaming handler: `event` is set when the caller
    goes away (None unbinds)."""
    _LOCAL.event = event


def cancellation() -> threading.Event:
    """The event set when the caller of the stream running on this thread goes away (an event that is
    never set when no adapter bound one)."""
    event: threading.Event | None = getattr(_LOCAL, "event", None)
    return event if event is not None else threading.Event()


def serialize(message_type: Any, message: Any) -> bytes:
    """Serialize a proto-plus or a raw protobuf message."""
    if hasattr(message_type, "serialize"):
        data: bytes = message_type.serialize(message)
        return data
    raw: bytes = message.SerializeToString()
    return raw


def deserialize(message_type: Any, data: bytes) -> Any:
    """Deserialize into a proto-plus or a raw protobuf message."""
    if hasattr(message_type, "deserialize"):
        return message_type.deserialize(data)
    return message_type.FromString(data)

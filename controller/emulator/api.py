"""The contract between emulator services and the wire adapters (gRPC, REST).

A service is any object with a `methods()` returning `RpcMethod`s. A handler receives the deserialized
request (a proto-plus message, or a raw protobuf message for `google.longrunning` / `google.protobuf`
types) and returns the response of the declared type (a server-streaming method returns an iterator of
them), or raises `ApiError` with a gRPC status code.
Adapters translate `ApiError` to the wire (a gRPC status, or an HTTP status with a Google error body).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
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
class RpcMethod:
    """One RPC: `service` is the full proto service name, `name` the method name; unary unless `streaming`
    (server streaming: the handler returns an iterator of responses)."""

    service: str  # e.g. "google.cloud.aiplatform.v1.EndpointService"
    name: str  # e.g. "GetEndpoint"
    request_type: Any  # proto-plus message class or protobuf message class
    response_type: Any
    handler: Callable[[Any], Any]
    streaming: bool = False

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

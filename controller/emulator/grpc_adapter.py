"""Serve `RpcMethod`s over plaintext gRPC: one generic handler per proto service.

Unary and server-streaming methods (a stream's handler sees `api.cancellation()` set when the client
cancels); REST-only methods (no `handler`) are left out. An `ApiError` with details is sent as a rich
`google.rpc.Status` (the `grpc-status-details-bin` trailer), which google-api-core exposes as the
exception's `details`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from google.rpc import status_pb2

from controller.emulator.api import ApiError, CallHook, RpcMethod, bind_cancellation, deserialize, serialize


@dataclass(frozen=True)
class _RichStatus(grpc.Status):  # type: ignore[misc]
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...]


def _abort(context: grpc.ServicerContext, err: ApiError) -> NoReturn:
    if not err.details:
        context.abort(err.code, err.message)
    status = status_pb2.Status(code=err.code.value[0], message=err.message)
    for detail in err.details:
        status.details.add().Pack(detail)
    context.abort_with_status(
        _RichStatus(err.code, err.message, (("grpc-status-details-bin", status.SerializeToString()),))
    )
    raise AssertionError("abort_with_status returned")  # it raises; this satisfies NoReturn


def _unary(method: RpcMethod, handler: Callable[[Any], Any], hook: CallHook | None) -> grpc.RpcMethodHandler:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            if hook is not None:
                hook.before_call(method.full_name)
            response = handler(request)
            if hook is not None:
                hook.after_call(method.full_name)
            return response
        except ApiError as err:
            _abort(context, err)

    def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        cancelled = threading.Event()
        context.add_callback(cancelled.set)  # on cancellation, deadline or the end of the call
        bind_cancellation(cancelled)
        try:
            if hook is not None:
                hook.before_call(method.full_name)
            yield from handler(request)
            if hook is not None:
                hook.after_call(method.full_name)
        except ApiError as err:
            _abort(context, err)
        finally:
            bind_cancellation(None)

    req_de: Callable[[bytes], Any] = lambda data: deserialize(method.request_type, data)  # noqa: E731
    resp_ser: Callable[[Any], bytes] = lambda msg: serialize(method.response_type, msg)  # noqa: E731
    if method.streaming:
        return grpc.unary_stream_rpc_method_handler(stream, request_deserializer=req_de, response_serializer=resp_ser)
    return grpc.unary_unary_rpc_method_handler(handle, request_deserializer=req_de, response_serializer=resp_ser)


def build_server(
    methods: Iterable[RpcMethod],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    hook: CallHook | None = None,
    max_workers: int = 16,
) -> tuple[grpc.Server, int]:
    """Create and start a gRPC server for the given methods; returns the server and its bound port.

    Raises OSError when the address cannot be bound. SO_REUSEPORT is off: with it (gRPC's default on
    Linux) a second emulator on a port in use would bind too and silently share the first one's traffic."""
    by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = defaultdict(dict)
    for method in methods:
        if method.handler is not None:  # None: a REST-only route
            by_service[method.service][method.name] = _unary(method, method.handler, hook)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=[("grpc.so_reuseport", 0)])
    for service, handlers in by_service.items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        server.stop(None)
        raise OSError(f"cannot listen on {host}:{port}: the port is in use (another emulator?) or not available")
    server.start()
    return server, bound

"""`genaiops.emulator.v1.Admin/GetInfo`: how a client given only the gRPC address finds the rest of the
emulator (its Cloud Storage JSON API holds the apply lease and the prompt store of `--emulator` targets).

GetInfo {} -> {"project", "location", "grpcPort", "restPort", "storagePort"}; a port is 0 when that server
is not running. google.protobuf.Struct bodies, like the fault admin RPCs, and, like them, exempt from
fault injection (a lost GetInfo would only make a client think the emulator is down).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf import struct_pb2

from controller.emulator.api import RpcMethod
from controller.emulator.faults import ADMIN_SERVICE


class EmulatorInfo:
    """The GetInfo RPC; `describe` is called per request, so it reports ports bound after the server started."""

    def __init__(self, describe: Callable[[], dict[str, Any]]) -> None:
        self._describe = describe

    def methods(self) -> Iterable[RpcMethod]:
        """The info RPC."""
        return [RpcMethod(ADMIN_SERVICE, "GetInfo", struct_pb2.Struct, struct_pb2.Struct, self._get)]

    def _get(self, request: struct_pb2.Struct) -> struct_pb2.Struct:
        body = struct_pb2.Struct()
        body.update(self._describe())
        return body

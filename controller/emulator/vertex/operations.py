"""google.longrunning.Operations: clients poll the emulated long-running operations here.

Operations complete lazily: any call that opens a transaction after an operation's delay has passed
applies it (see `StateStore`), so polling with GetOperation is what makes a pending deploy take effect.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import grpc
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.vertex import common as c
from controller.emulator.vertex.store import StateStore

SERVICE = "google.longrunning.Operations"
_MAX_WAIT_S = 60.0


class OperationsService:
    """GetOperation, WaitOperation, CancelOperation and DeleteOperation over the shared store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service (raw protobuf types)."""
        ops = operations_pb2
        return [
            RpcMethod(SERVICE, "GetOperation", ops.GetOperationRequest, ops.Operation, self.get_operation),
            RpcMethod(SERVICE, "WaitOperation", ops.WaitOperationRequest, ops.Operation, self.wait_operation),
            RpcMethod(SERVICE, "CancelOperation", ops.CancelOperationRequest, empty_pb2.Empty, self.cancel),
            RpcMethod(SERVICE, "DeleteOperation", ops.DeleteOperationRequest, empty_pb2.Empty, self.delete),
        ]

    def get_operation(self, request: operations_pb2.GetOperationRequest) -> operations_pb2.Operation:
        """The operation's current state (completing it if its time has come)."""
        with self.store.transaction(write=False) as state:
            record = state.operations.get(request.name)
            if record is None:
                raise c.not_found("Operation", request.name)
            return self.store.operation_proto(record)

    def wait_operation(self, request: operations_pb2.WaitOperationRequest) -> operations_pb2.Operation:
        """Block until the operation is done or the timeout (default and cap 60 s) passes."""
        timeout = request.timeout.ToTimedelta().total_seconds() if request.HasField("timeout") else _MAX_WAIT_S
        deadline = time.monotonic() + min(timeout, _MAX_WAIT_S)
        while True:
            with self.store.transaction(write=False) as state:
                record = state.operations.get(request.name)
                if record is None:
                    raise c.not_found("Operation", request.name)
                if record.done or time.monotonic() >= deadline:
                    return self.store.operation_proto(record)
                wait = record.due_at - self.store.clock()
            time.sleep(max(0.001, min(wait, deadline - time.monotonic())))

    def cancel(self, request: operations_pb2.CancelOperationRequest) -> empty_pb2.Empty:
        """Cancel a pending operation: it finishes with CANCELLED and never takes effect."""
        with self.store.transaction(write=True) as state:
            record = state.operations.get(request.name)
            if record is None:
                raise c.not_found("Operation", request.name)
            if not record.done:
                cancelled = ApiError(grpc.StatusCode.CANCELLED, "Operation was cancelled.")
                self.store.finish(record, cancelled, self.store.clock())
            return empty_pb2.Empty()

    def delete(self, request: operations_pb2.DeleteOperationRequest) -> empty_pb2.Empty:
        """Forget an operation."""
        with self.store.transaction(write=True) as state:
            if state.operations.pop(request.name, None) is None:
                raise c.not_found("Operation", request.name)
            return empty_pb2.Empty()

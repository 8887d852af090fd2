"""Building `google.longrunning.Operation` messages for the emulated Vertex AI methods.

Each long-running method names its metadata type (`<Rpc>OperationMetadata` holding `generic_metadata`)
and its response type; pending operations carry metadata only, finished ones a response or an error.
"""

from __future__ import annotations

from typing import Any

from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, timestamp_pb2
from google.rpc import status_pb2

from controller.emulator.api import ApiError

METADATA_TYPES: dict[str, Any] = {
    "CreateEndpoint": v1.CreateEndpointOperationMetadata,
    "DeleteEndpoint": v1.DeleteOperationMetadata,
    "DeployModel": v1.DeployModelOperationMetadata,
    "UndeployModel": v1.UndeployModelOperationMetadata,
    "MutateDeployedModel": v1.MutateDeployedModelOperationMetadata,
    "UpdateEndpointLongRunning": v1.UpdateEndpointOperationMetadata,
    "UploadModel": v1.UploadModelOperationMetadata,
    "DeleteModel": v1.DeleteOperationMetadata,
    "DeleteModelVersion": v1.DeleteOperationMetadata,
}


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for unix seconds."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp


def _metadata(method: str, create_time: float, update_time: float) -> any_pb2.Any:
    meta_type = METADATA_TYPES[method]
    meta = meta_type.pb(meta_type())
    meta.generic_metadata.create_time.CopyFrom(timestamp(create_time))
    meta.generic_metadata.update_time.CopyFrom(timestamp(update_time))
    packed = any_pb2.Any()
    packed.Pack(meta)
    return packed


def pending_operation(*, name: str, method: str, create_time: float) -> operations_pb2.Operation:
    """An operation that is not done yet."""
    return operations_pb2.Operation(name=name, done=False, metadata=_metadata(method, create_time, create_time))


def finished_operation(
    *, name: str, method: str, create_time: float, done_time: float, outcome: Any
) -> operations_pb2.Operation:
    """A done operation: `outcome` is the raw protobuf response, or an `ApiError`."""
    op = operations_pb2.Operation(name=name, done=True, metadata=_metadata(method, create_time, done_time))
    if isinstance(outcome, ApiError):
        op.error.CopyFrom(status_pb2.Status(code=outcome.code.value[0], message=outcome.message))
    else:
        op.response.Pack(outcome)
    return op

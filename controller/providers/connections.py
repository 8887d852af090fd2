"""Connections the CLI's composition root (`cli/target.py`) asks for: gRPC channels, a running emulator's
advertised addresses, Cloud Storage clients, and the apply lease and prompt store that live in a target.

A running emulator is named by its gRPC address alone (`--emulator HOST:PORT`, spelled however the user
likes). `connect_emulator` asks it (`genaiops.emulator.v1.Admin/GetInfo`) where its Cloud Storage JSON API
listens, so the lease (`gs://<project>-genaiops/locks/<project>.json`, as on Vertex AI) and the default
prompt store live in the emulator itself: two clients in different directories, or one writing
`127.0.0.1:P` and the other `localhost:P`, meet at the same lease object.

The same call is the connectivity check: it waits at most `CONNECT_TIMEOUT_S` for the channel (riding
gRPC's reconnect backoff, so an emulator started a moment ago is found), then fails with a UserError that
names the address, instead of every later API call retrying a refused connection for a minute. Errors from
a live server later on (UNAVAILABLE, injected faults) are not affected and keep their retries.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import grpc
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]  # mypy: namespace package quirk
from google.protobuf import struct_pb2

from controller.errors import UserError
from controller.prompts.store import PromptStore
from controller.providers.google_errors import translated
from controller.providers.locks_gcs import GcsLease
from controller.providers.prompt_store import GcsPromptStore

__all__ = [
    "CONNECT_TIMEOUT_S",
    "Channel",
    "EmulatorInfo",
    "cloud_storage_client",
    "connect_emulator",
    "emulator_storage_client",
    "ensure_bucket",
    "lease",
    "plain_channel",
    "prompt_store",
]

CONNECT_TIMEOUT_S = 3.0
Channel = grpc.Channel  # for annotations in the CLI, which does not import grpc itself
_GET_INFO = "/genaiops.emulator.v1.Admin/GetInfo"


@dataclass(frozen=True)
class EmulatorInfo:
    """What a running emulator says about itself, with its storage URL as reachable from this client."""

    address: str  # HOST:PORT of its gRPC API, as the user spelled it
    project: str  # its default project
    location: str
    storage_url: str | None  # http://HOST:PORT of its Cloud Storage JSON API; None when it serves none


def plain_channel(address: str) -> grpc.Channel:
    """A plaintext gRPC channel to `address` (HOST:PORT; a `grpc://` or `http://` prefix is ignored)."""
    return grpc.insecure_channel(_strip_scheme(address))


def _strip_scheme(address: str) -> str:
    return address.removeprefix("grpc://").removeprefix("http://")


def _host_of(address: str) -> str:
    """The host part of HOST:PORT (an IPv6 literal keeps its brackets)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UserError(f"--emulator must be HOST:PORT, e.g. 127.0.0.1:8680 (got {address!r})")
    return host


def connect_emulator(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> tuple[grpc.Channel, EmulatorInfo]:
    """Open a channel to the emulator at `address` and ask where the rest of it listens.

    Raises UserError naming the address when nothing answers within `timeout_s` (a refused connection, a
    wrong port) or when what answers is not a genaiops emulator. The caller closes the channel."""
    address = _strip_scheme(address)
    host = _host_of(address)
    channel = grpc.insecure_channel(address)
    get_info = channel.unary_unary(
        _GET_INFO,
        request_serializer=struct_pb2.Struct.SerializeToString,
        response_deserializer=struct_pb2.Struct.FromString,
    )
    try:
        reply = get_info(struct_pb2.Struct(), timeout=timeout_s, wait_for_ready=True)
    except grpc.RpcError as err:
        channel.close()
        code = err.code() if isinstance(err, grpc.Call) else None
        if code is grpc.StatusCode.UNIMPLEMENTED:
            raise UserError(
                f"{address} answers but is not a genaiops emulator (it has no {_GET_INFO.lstrip('/')}); "
                "point --emulator at the gRPC address `genaiops emulator start` prints"
            ) from None
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            raise UserError(
                f"cannot connect to the emulator at {address}: nothing answered within {timeout_s:g} s "
                "(connection refused or no route). Is `genaiops emulator start` running there, on that port?"
            ) from None
        detail = err.details() if isinstance(err, grpc.Call) else str(err)
        raise UserError(f"cannot connect to the emulator at {address}: {detail}") from None
    fields = dict(reply)
    storage_port = int(fields.get("storagePort", 0) or 0)
    return channel, EmulatorInfo(
        address=address,
        project=str(fields.get("project", "")),
        location=str(fields.get("location", "")),
        storage_url=f"http://{host}:{storage_port}" if storage_port else None,
    )


def emulator_storage_client(info: EmulatorInfo, *, project: str) -> storage.Client:
    """A real Cloud Storage client on the emulator's JSON API (anonymous credentials).

    Raises UserError when the emulator serves no Cloud Storage (only an in-process one can be started so)."""
    if info.storage_url is None:
        raise UserError(
            f"the emulator at {info.address} serves no Cloud Storage, where the apply lock and prompts live; "
            "start it with a storage port (`genaiops emulator start` always serves one)"
        )
    return storage.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": info.storage_url},
    )


def cloud_storage_client(project: str) -> storage.Client:
    """A Cloud Storage client with Application Default Credentials (STORAGE_EMULATOR_HOST is honoured)."""
    return storage.Client(project=project)


def ensure_bucket(client: storage.Client, bucket: str) -> None:
    """Create `bucket` in the client's project unless it exists (a concurrent creator is fine)."""
    with translated(f"creating the bucket gs://{bucket}"):
        if client.lookup_bucket(bucket) is not None:
            return
        with contextlib.suppress(gexc.Conflict):  # created meanwhile by another client: all we wanted
            client.create_bucket(bucket)


def lease(client: storage.Client, *, bucket: str, project: str, target: str | None = None) -> GcsLease:
    """The apply lease of `project`: `gs://<bucket>/locks/<project>.json`."""
    return GcsLease(client, bucket, f"locks/{project}.json", target=target)


def prompt_store(client: storage.Client, *, bucket: str) -> PromptStore:
    """The prompt store under `gs://<bucket>/prompts`."""
    return GcsPromptStore(client, bucket, "prompts")

"""The emulated Secret Manager: `google.cloud.secretmanager.v1.SecretManagerService`.

Part of the local emulator (controller/emulator): notification channels take their Slack token from a
secret version, so the emulator keeps secrets too. Served over gRPC and, through the installed REST
transport's http rules, over REST (/v1/projects/P/secrets...). Global secrets only (`projects/P`);
`projects/P/locations/L` (regional secrets) answers UNIMPLEMENTED. As the real API answers (docstrings of
google/cloud/secretmanager/v1/service.proto and resources.proto, and errors reported from the service):

- CreateSecret: the secret id is 1..255 letters, digits, `-` and `_`; an existing one is ALREADY_EXISTS
  `Secret [projects/P/secrets/S] already exists.`; labels as documented (keys `[\\p{Ll}\\p{Lo}][\\p{Ll}
  \\p{Lo}\\p{N}_-]{0,62}`, values up to 63 of those characters, at most 64).
- AddSecretVersion: versions are numbered from 1 and ENABLED; the payload is at most 64 KiB; a `data_crc32c`
  sent is verified, and one is computed when none is sent, returned by AccessSecretVersion.
- AccessSecretVersion / GetSecretVersion: `versions/latest` is "an alias to the most recently created
  SecretVersion" (docstring), whatever its state; a version that is not ENABLED answers FAILED_PRECONDITION
  `Secret Version [NAME] is in DISABLED state.` (as the service is reported to answer for `latest` too); an
  alias of `version_aliases` names a version as well. A missing secret or version is NOT_FOUND.
- DisableSecretVersion / EnableSecretVersion move a version between ENABLED and DISABLED.
- GetSecret, ListSecrets (newest first, `filter` in the list language of `list_filter.py`, `total_size` 0
  when filtered, as documented), DeleteSecret (with its versions).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import google_crc32c
import grpc
from google.cloud import secretmanager_v1 as sm
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from controller.emulator.alerting_policies import copy_of
from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.list_filter import compile_filter, invalid_field, page_of
from controller.emulator.message_store import MessageStore

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
SECRETS, VERSIONS, PAYLOADS = "secrets", "versions", "payloads"
MAX_PAYLOAD = 64 * 1024  # SecretPayload.data: "Must be no larger than 64KiB."
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_PROJECT = re.compile(r"projects/([^/]+)")
_SECRET = re.compile(r"projects/([^/]+)/secrets/([^/]+)")
_VERSION = re.compile(r"(projects/[^/]+/secrets/[^/]+)/versions/([^/]+)")
_ENABLED, _DISABLED = sm.SecretVersion.State.ENABLED, sm.SecretVersion.State.DISABLED


def _not_found(what: str) -> ApiError:
    return ApiError(grpc.StatusCode.NOT_FOUND, f"{what} not found.")


def _check_labels(labels: Mapping[str, str]) -> None:
    """Secret.labels (docstring): keys 1..63 characters `[\\p{Ll}\\p{Lo}][\\p{Ll}\\p{Lo}\\p{N}_-]{0,62}`, values
    0..63 of `[\\p{Ll}\\p{Lo}\\p{N}_-]`, each at most 128 bytes; no more than 64 labels."""

    def allowed(c: str) -> bool:
        return unicodedata.category(c) in ("Ll", "Lo") or unicodedata.category(c).startswith("N") or c in "_-"

    if len(labels) > 64:
        raise invalid_field("secret.labels", f"{len(labels)} labels", "No more than 64 labels can be assigned.")
    for key, value in labels.items():
        good_key = 1 <= len(key) <= 63 and unicodedata.category(key[0]) in ("Ll", "Lo") and all(map(allowed, key))
        good_value = len(value) <= 63 and all(map(allowed, value))
        if not good_key or not good_value or max(len(key.encode()), len(value.encode())) > 128:
            raise invalid_field(
                "secret.labels", f"{key}={value}", "Label keys and values do not have the form allowed."
            )


class SecretManager:
    """Secrets, their versions and payloads; `path` persists them (see `message_store.py`)."""

    def __init__(self, *, path: Path | None = None, clock: Callable[[], float]) -> None:
        kinds = {SECRETS: sm.Secret.pb(), VERSIONS: sm.SecretVersion.pb(), PAYLOADS: sm.SecretPayload.pb()}
        self._store = MessageStore(kinds, path=path)
        self._clock = clock

    def methods(self) -> list[RpcMethod]:
        """SecretManagerService methods for the adapters."""
        return [
            RpcMethod(SERVICE, "CreateSecret", sm.CreateSecretRequest, sm.Secret, self._create),
            RpcMethod(SERVICE, "GetSecret", sm.GetSecretRequest, sm.Secret, self._get),
            RpcMethod(SERVICE, "ListSecrets", sm.ListSecretsRequest, sm.ListSecretsResponse, self._list),
            RpcMethod(SERVICE, "DeleteSecret", sm.DeleteSecretRequest, empty_pb2.Empty, self._delete),
            RpcMethod(SERVICE, "AddSecretVersion", sm.AddSecretVersionRequest, sm.SecretVersion, self._add_version),
            RpcMethod(SERVICE, "GetSecretVersion", sm.GetSecretVersionRequest, sm.SecretVersion, self._get_version),
            RpcMethod(
                SERVICE,
                "AccessSecretVersion",
                sm.AccessSecretVersionRequest,
                sm.AccessSecretVersionResponse,
                self._access,
            ),
            RpcMethod(SERVICE, "DisableSecretVersion", sm.DisableSecretVersionRequest, sm.SecretVersion, self._disable),
            RpcMethod(SERVICE, "EnableSecretVersion", sm.EnableSecretVersionRequest, sm.SecretVersion, self._enable),
        ]

    # -- secrets -------------------------------------------------------------------------------------
    def _create(self, request: sm.CreateSecretRequest) -> Any:
        pb = sm.CreateSecretRequest.pb(request)
        project = _project(pb.parent)
        if not _SECRET_ID.fullmatch(pb.secret_id):  # docstring: at most 255 letters, numerals, `-` and `_`
            why = "A secret ID has at most 255 characters: letters, numerals, hyphens and underscores."
            raise invalid_field("secret_id", pb.secret_id, why)
        _check_labels(pb.secret.labels)
        secret = copy_of(pb.secret)
        secret.name = f"projects/{project}/secrets/{pb.secret_id}"
        with self._store.transaction(write=True) as collections:
            if secret.name in collections[SECRETS]:
                raise ApiError(grpc.StatusCode.ALREADY_EXISTS, f"Secret [{secret.name}] already exists.")
            secret.create_time.FromNanoseconds(round(self._clock() * 1e9))
            secret.etag = f'"{self._store.new_id({}, "")[:14]}"'
            collections[SECRETS][secret.name] = secret
            return sm.Secret.wrap(copy_of(secret))

    def _get(self, request: sm.GetSecretRequest) -> Any:
        name = sm.GetSecretRequest.pb(request).name
        with self._store.transaction(write=False) as collections:
            return sm.Secret.wrap(copy_of(_secret(collections, name)))

    def _list(self, request: sm.ListSecretsRequest) -> Any:
        pb = sm.ListSecretsRequest.pb(request)
        prefix = f"projects/{_project(pb.parent)}/secrets/"
        matches = compile_filter(sm.Secret.pb().DESCRIPTOR, pb.filter)
        with self._store.transaction(write=False) as collections:
            found: list[Any] = [copy_of(s) for n, s in collections[SECRETS].items() if n.startswith(prefix)]
        # docstring: "sorted in reverse by create_time (newest first)"; page_size "capped at 25000"
        found.sort(key=lambda s: (s.create_time.ToNanoseconds(), s.name), reverse=True)
        selected = [s for s in found if matches(s)]
        pb.page_size = min(pb.page_size, 25000)
        page, token = page_of(selected, pb, default_size=25000)
        total = 0 if pb.filter else len(selected)  # docstring: "0 when the filter field is set"
        return sm.ListSecretsResponse.wrap(
            sm.ListSecretsResponse.pb()(secrets=page, next_page_token=token, total_size=total)
        )

    def _delete(self, request: sm.DeleteSecretRequest) -> empty_pb2.Empty:
        name = sm.DeleteSecretRequest.pb(request).name
        with self._store.transaction(write=True) as collections:
            _secret(collections, name)
            del collections[SECRETS][name]
            for kind in (VERSIONS, PAYLOADS):
                for key in [k for k in collections[kind] if k.startswith(f"{name}/versions/")]:
                    del collections[kind][key]
        return empty_pb2.Empty()

    # -- versions ------------------------------------------------------------------------------------
    def _add_version(self, request: sm.AddSecretVersionRequest) -> Any:
        pb = sm.AddSecretVersionRequest.pb(request)
        payload = copy_of(pb.payload)
        if len(payload.data) > MAX_PAYLOAD:
            raise invalid_field(
                "payload.data", f"{len(payload.data)} bytes", "The secret data must be no larger than 64KiB."
            )
        checksum = google_crc32c.value(payload.data)
        if payload.HasField("data_crc32c") and payload.data_crc32c != checksum:
            raise invalid_field(
                "payload.data_crc32c", str(payload.data_crc32c), "The checksum does not match the data."
            )
        with self._store.transaction(write=True) as collections:
            _secret(collections, pb.parent)
            numbers = [
                int(k.rsplit("/", 1)[1]) for k in collections[VERSIONS] if k.startswith(f"{pb.parent}/versions/")
            ]
            # docstring: version ids "start at 1 and are incremented for each subsequent version"
            version = sm.SecretVersion.pb()(
                name=f"{pb.parent}/versions/{max(numbers, default=0) + 1}",
                state=_ENABLED,
                etag=f'"{self._store.new_id({}, "")[:14]}"',
                client_specified_payload_checksum=payload.HasField("data_crc32c"),
            )
            version.create_time.FromNanoseconds(round(self._clock() * 1e9))
            version.replication_status.automatic.SetInParent()
            payload.data_crc32c = checksum
            collections[VERSIONS][version.name] = version
            collections[PAYLOADS][version.name] = payload
            return sm.SecretVersion.wrap(copy_of(version))

    def _get_version(self, request: sm.GetSecretVersionRequest) -> Any:
        name = sm.GetSecretVersionRequest.pb(request).name
        with self._store.transaction(write=False) as collections:
            return sm.SecretVersion.wrap(copy_of(_version(collections, name)))

    def _access(self, request: sm.AccessSecretVersionRequest) -> Any:
        name = sm.AccessSecretVersionRequest.pb(request).name
        with self._store.transaction(write=False) as collections:
            version = _version(collections, name)
            if version.state != _ENABLED:
                state = sm.SecretVersion.State(version.state).name
                raise ApiError(
                    grpc.StatusCode.FAILED_PRECONDITION, f"Secret Version [{version.name}] is in {state} state."
                )
            payload = copy_of(collections[PAYLOADS][version.name])
        return sm.AccessSecretVersionResponse.wrap(
            sm.AccessSecretVersionResponse.pb()(name=version.name, payload=payload)
        )

    def _disable(self, request: sm.DisableSecretVersionRequest) -> Any:
        return self._set_state(sm.DisableSecretVersionRequest.pb(request).name, _DISABLED)

    def _enable(self, request: sm.EnableSecretVersionRequest) -> Any:
        return self._set_state(sm.EnableSecretVersionRequest.pb(request).name, _ENABLED)

    def _set_state(self, name: str, state: int) -> Any:
        with self._store.transaction(write=True) as collections:
            version = _version(collections, name)
            version.state = state
            return sm.SecretVersion.wrap(copy_of(version))


def _regional(name: str) -> None:
    if name.startswith("projects/") and "/locations/" in name:
        raise ApiError(grpc.StatusCode.UNIMPLEMENTED, "The emulator serves global secrets only (projects/P).")


def _project(parent: str) -> str:
    found = _PROJECT.fullmatch(parent)
    if found is None:
        _regional(parent)
        raise invalid_field("parent", parent, "expected projects/[PROJECT_ID]")
    return found.group(1)


def _secret(collections: dict[str, dict[str, Message]], name: str) -> Any:
    if _SECRET.fullmatch(name) is None:
        _regional(name)
        raise invalid_field("name", name, "expected projects/[PROJECT_ID]/secrets/[SECRET_ID]")
    secret = collections[SECRETS].get(name)
    if secret is None:
        raise _not_found(f"Secret [{name}]")
    return secret


def _version(collections: dict[str, dict[str, Message]], name: str) -> Any:
    """The version `name` names: a number, `latest` (the most recently created) or an alias of the secret."""
    found = _VERSION.fullmatch(name)
    if found is None:
        _regional(name)
        raise invalid_field("name", name, "expected projects/[PROJECT_ID]/secrets/[SECRET_ID]/versions/[VERSION]")
    secret_name, wanted = found.groups()
    secret = _secret(collections, secret_name)
    if wanted == "latest":
        numbers = [int(k.rsplit("/", 1)[1]) for k in collections[VERSIONS] if k.startswith(f"{secret_name}/versions/")]
        if not numbers:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"Secret [{secret_name}] not found or has no versions.")
        wanted = str(max(numbers))
    elif not wanted.isdigit() and wanted in secret.version_aliases:
        wanted = str(secret.version_aliases[wanted])
    version = collections[VERSIONS].get(f"{secret_name}/versions/{wanted}")
    if version is None:
        raise _not_found(f"Secret Version [{name}]")
    return version

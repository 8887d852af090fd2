"""Secret Manager on the emulator, through the real `secretmanager_v1.SecretManagerServiceClient` over gRPC (and
its REST transport for a couple of calls): secrets, numbered versions, `versions/latest`, aliases, disabled
versions, checksums, and the NOT_FOUND / ALREADY_EXISTS / FAILED_PRECONDITION answers of the real API.
Loopback only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager_v1

from controller.emulator.server import Emulator, running

PROJECT = "secret-project"
P = f"projects/{PROJECT}"


@dataclass
class Secrets:
    emulator: Emulator
    client: Any  # secretmanager_v1.SecretManagerServiceClient

    def secret(self, secret_id: str = "slack-token", **fields: Any) -> Any:
        return self.client.create_secret(
            parent=P, secret_id=secret_id, secret={"replication": {"automatic": {}}, **fields}
        )

    def add(self, secret: str, data: bytes) -> Any:
        return self.client.add_secret_version(parent=secret, payload={"data": data})

    def access(self, version: str) -> bytes:
        data: bytes = self.client.access_secret_version(name=version).payload.data
        return data


@pytest.fixture
def secrets() -> Iterator[Secrets]:
    with running(project=PROJECT, storage_port=None) as emulator:
        yield Secrets(emulator, emulator.secret_manager_client())


def test_versions_are_numbered_from_one_and_latest_is_the_newest(secrets: Secrets) -> None:
    secret = secrets.secret()
    assert secret.name == f"{P}/secrets/slack-token"
    first, second = secrets.add(secret.name, b"one"), secrets.add(secret.name, b"two")
    assert (first.name, second.name) == (f"{secret.name}/versions/1", f"{secret.name}/versions/2")
    assert first.state == secretmanager_v1.SecretVersion.State.ENABLED
    assert secrets.access(f"{secret.name}/versions/latest") == b"two"
    assert secrets.access(f"{secret.name}/versions/1") == b"one"
    answer = secrets.client.access_secret_version(name=f"{secret.name}/versions/latest")
    assert answer.name == second.name and answer.payload.data_crc32c == google_crc32c.value(b"two")


def test_latest_is_the_newest_version_even_when_it_is_disabled(secrets: Secrets) -> None:
    secret = secrets.secret()
    secrets.add(secret.name, b"one")
    second = secrets.add(secret.name, b"two")
    secrets.client.disable_secret_version(name=second.name)
    with pytest.raises(exceptions.FailedPrecondition, match=r"versions/2\] is in DISABLED state"):
        secrets.access(f"{secret.name}/versions/latest")
    assert secrets.access(f"{secret.name}/versions/1") == b"one"
    secrets.client.enable_secret_version(name=second.name)
    assert secrets.access(f"{secret.name}/versions/latest") == b"two"


def test_a_version_alias_names_a_version(secrets: Secrets) -> None:
    secret = secrets.secret(version_aliases={"current": 1})
    secrets.add(secret.name, b"one")
    secrets.add(secret.name, b"two")
    assert secrets.access(f"{secret.name}/versions/current") == b"one"


def test_a_second_secret_of_the_same_id_already_exists(secrets: Secrets) -> None:
    secrets.secret()
    with pytest.raises(exceptions.AlreadyExists, match=rf"Secret \[{P}/secrets/slack-token\] already exists"):
        secrets.secret()


@pytest.mark.parametrize(
    "name",
    [f"{P}/secrets/missing", f"{P}/secrets/missing/versions/latest", f"{P}/secrets/slack-token/versions/9"],
)
def test_a_missing_secret_or_version_is_not_found(secrets: Secrets, name: str) -> None:
    secrets.add(secrets.secret().name, b"one")
    call = secrets.access if "/versions/" in name else (lambda n: secrets.client.get_secret(name=n))
    with pytest.raises(exceptions.NotFound):
        call(name)


def test_latest_of_a_secret_without_versions_is_not_found(secrets: Secrets) -> None:
    secret = secrets.secret()
    with pytest.raises(exceptions.NotFound, match="not found or has no versions"):
        secrets.access(f"{secret.name}/versions/latest")


def test_a_version_for_a_missing_secret_is_not_found(secrets: Secrets) -> None:
    with pytest.raises(exceptions.NotFound):
        secrets.add(f"{P}/secrets/missing", b"x")


@pytest.mark.parametrize(("secret_id", "field"), [("bad id", "secret_id"), ("x" * 256, "secret_id")])
def test_a_bad_secret_id_is_invalid_argument(secrets: Secrets, secret_id: str, field: str) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=f"Field {field} had an invalid value"):
        secrets.secret(secret_id)


def test_a_payload_over_64_kib_or_with_a_wrong_checksum_is_invalid_argument(secrets: Secrets) -> None:
    secret = secrets.secret()
    with pytest.raises(exceptions.InvalidArgument, match=r"payload\.data"):
        secrets.add(secret.name, b"x" * (64 * 1024 + 1))
    with pytest.raises(exceptions.InvalidArgument, match=r"payload\.data_crc32c"):
        secrets.client.add_secret_version(parent=secret.name, payload={"data": b"abc", "data_crc32c": 1})
    checked = secrets.client.add_secret_version(
        parent=secret.name, payload={"data": b"abc", "data_crc32c": google_crc32c.value(b"abc")}
    )
    assert checked.client_specified_payload_checksum is True


def test_get_and_list_secrets_newest_first_with_a_label_filter(secrets: Secrets) -> None:
    secrets.secret("a", labels={"team": "x"})
    secrets.secret("b")
    assert secrets.client.get_secret(name=f"{P}/secrets/a").labels == {"team": "x"}
    assert [s.name.rsplit("/", 1)[1] for s in secrets.client.list_secrets(parent=P)] == ["b", "a"]
    filtered = secrets.client.list_secrets(request={"parent": P, "filter": 'labels.team = "x"'})
    assert [s.name.rsplit("/", 1)[1] for s in filtered] == ["a"]


def test_rest_transport_adds_and_accesses_the_latest_version(secrets: Secrets) -> None:
    client = secretmanager_v1.SecretManagerServiceClient(
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        transport="rest",
        client_options=ClientOptions(api_endpoint=secrets.emulator.rest_endpoint),
    )
    secret = client.create_secret(parent=P, secret_id="rest", secret={"replication": {"automatic": {}}})
    client.add_secret_version(parent=secret.name, payload={"data": b"over http"})
    assert client.access_secret_version(name=f"{secret.name}/versions/latest").payload.data == b"over http"
    with pytest.raises(exceptions.Conflict, match="already exists"):  # HTTP 409, as the real API answers
        client.create_secret(parent=P, secret_id="rest", secret={"replication": {"automatic": {}}})


def test_secrets_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running(project=PROJECT, state_path=state, storage_port=None, rest_port=None) as emulator:
        client = emulator.secret_manager_client()
        secret = client.create_secret(parent=P, secret_id="kept", secret={})
        client.add_secret_version(parent=secret.name, payload={"data": b"still here"})
    with running(project=PROJECT, state_path=state, storage_port=None, rest_port=None) as emulator:
        access = emulator.secret_manager_client().access_secret_version(name=f"{secret.name}/versions/latest")
        assert access.payload.data == b"still here"

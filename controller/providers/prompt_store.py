"""Prompt stores: Cloud Storage (`gs://bucket/prefix`, google-cloud-storage with generation
preconditions) and a local directory (the default on the local target), with the same layout.

Layout under the root (see `controller.prompts.store` for the port and the publishing rules):

    prompts/<name>/versions/<id>.json   immutable; created with ifGenerationMatch=0 (locally: link(2), which
                                        fails if the file exists), so a version is never overwritten
    prompts/<name>/index.json           versions (created, commit, author), labels, label history; updated
                                        by compare-and-swap: read with its generation, change, write with
                                        ifGenerationMatch=<that generation> (0 when new), retry on 412
                                        (locally: under flock on index.lock, replaced atomically)

Every write is conditional, so the client's own retries are safe: a write whose response was lost and
whose retry fails with 412 is re-read and, being already applied, needs no second write. Google and OS
errors leave as `controller.errors` types.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]  # mypy: namespace package quirk
from google.cloud.storage.retry import DEFAULT_RETRY

from controller.errors import ConflictError, PermanentError, TransientError, UserError
from controller.prompts.index import PromptIndex
from controller.prompts.store import ROOT, PromptStore, index_path, version_path
from controller.prompts.version import PromptVersion
from controller.providers.google_errors import translated

__all__ = ["GcsPromptStore", "LocalPromptStore", "open_store"]
_MAX_BACKOFF_S = 0.5


def _encode(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")


def _decode_version(data: bytes, where: str, name: str) -> PromptVersion:
    try:
        version = PromptVersion.from_json(json.loads(data))
    except ValueError as err:  # JSONDecodeError is a ValueError
        raise PermanentError(f"{where} is not a valid prompt version: {err}") from err
    if version.name != name:
        raise PermanentError(f"{where} holds prompt {version.name!r}, not {name!r}")
    return version


def _decode_index(data: bytes, where: str) -> PromptIndex:
    try:
        return PromptIndex.from_json(json.loads(data))
    except ValueError as err:
        raise PermanentError(f"{where} is not a valid prompt index: {err}") from err


def _same_or_fail(existing: PromptVersion, new: PromptVersion, where: str) -> bool:
    if existing.id != new.id:  # only a corrupt or hand-edited object can get here
        raise PermanentError(f"{where} already holds different content (id {existing.id}); refusing to overwrite")
    return False


class GcsPromptStore:
    """A PromptStore in a Cloud Storage bucket under an optional prefix."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        prefix: str = "",
        *,
        retry_deadline_s: float = 30.0,
        max_attempts: int = 100,
    ) -> None:
        self._bucket = client.bucket(bucket)
        self._prefix = prefix.strip("/")
        self._retry = DEFAULT_RETRY.with_timeout(retry_deadline_s)
        self._max_attempts = max_attempts
        self.location = f"gs://{bucket}/{self._prefix}".rstrip("/")

    def _key(self, relative: str) -> str:
        return f"{self._prefix}/{relative}" if self._prefix else relative

    def _read(self, relative: str) -> tuple[bytes, int] | None:
        blob = self._bucket.blob(self._key(relative))
        try:
            data = blob.download_as_bytes(retry=self._retry)
        except gexc.NotFound:
            return None
        return data, int(blob.generation)

    def list_prompts(self) -> list[str]:
        """Names of the prompts that have an index."""
        root = self._key(ROOT) + "/"
        with translated(f"listing prompts in {self.location}"):
            blobs = self._bucket.client.list_blobs(self._bucket, prefix=root, match_glob=f"{root}*/index.json")
            names = [b.name[len(root) :].split("/", 1)[0] for b in blobs]
        return sorted(set(names))

    def read_index(self, name: str) -> PromptIndex | None:
        """The index, or None."""
        found = self._read_index(name)
        return None if found is None else found[0]

    def _read_index(self, name: str) -> tuple[PromptIndex, int] | None:
        where = f"{self.location}/{index_path(name)}"
        with translated(f"reading {where}"):
            found = self._read(index_path(name))
        return None if found is None else (_decode_index(found[0], where), found[1])

    def read_version(self, name: str, version: str) -> PromptVersion | None:
        """One version, or None."""
        where = f"{self.location}/{version_path(name, version)}"
        with translated(f"reading {where}"):
            found = self._read(version_path(name, version))
        return None if found is None else _decode_version(found[0], where, name)

    def create_version(self, version: PromptVersion) -> bool:
        """Create the version object only if absent (ifGenerationMatch=0)."""
        relative = version_path(version.name, version.id)
        where = f"{self.location}/{relative}"
        with translated(f"writing {where}"):
            try:
                self._bucket.blob(self._key(relative)).upload_from_string(
                    _encode(version.to_json()),
                    content_type="application/json",
                    if_generation_match=0,
                    retry=self._retry,
                )
                return True
            except gexc.PreconditionFailed:
                pass  # there already (another publisher, or our own write whose response was lost)
        existing = self.read_version(version.name, version.id)
        if existing is None:
            raise TransientError(f"{where} was reported present but cannot be read; try again")
        return _same_or_fail(existing, version, where)

    def update_index(self, name: str, change: Callable[[PromptIndex | None], PromptIndex]) -> PromptIndex:
        """Compare-and-swap on the index object's generation, retried with jittered backoff."""
        relative = index_path(name)
        delay = 0.01
        for _ in range(self._max_attempts):
            found = self._read_index(name)
            current, generation = (None, 0) if found is None else found
            updated = change(current)
            if updated == current:
                return updated
            with translated(f"writing {self.location}/{relative}"):
                try:
                    self._bucket.blob(self._key(relative)).upload_from_string(
                        _encode(updated.to_json()),
                        content_type="application/json",
                        if_generation_match=generation,
                        retry=self._retry,
                    )
                    return updated
                except gexc.PreconditionFailed:
                    pass  # another writer got there first: read again and re-apply our change
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, _MAX_BACKOFF_S)
        raise ConflictError(f"{self.location}/{relative} kept changing; gave up after {self._max_attempts} attempts")


class LocalPromptStore:
    """A PromptStore in a local directory: versions created with link(2), the index under flock."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def list_prompts(self) -> list[str]:
        """Names of the prompts that have an index."""
        base = self.root / ROOT
        return sorted(p.parent.name for p in base.glob("*/index.json")) if base.is_dir() else []

    @contextlib.contextmanager
    def _os_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except PermissionError as err:
            raise PermanentError(f"{what}: {err}") from err
        except OSError as err:
            raise TransientError(f"{what}: {err}") from err

    def read_index(self, name: str) -> PromptIndex | None:
        """The index, or None."""
        path = self.root / index_path(name)
        with self._os_errors(f"reading {path}"):
            if not path.is_file():
                return None
            return _decode_index(path.read_bytes(), str(path))

    def read_version(self, name: str, version: str) -> PromptVersion | None:
        """One version, or None."""
        path = self.root / version_path(name, version)
        with self._os_errors(f"reading {path}"):
            if not path.is_file():
                return None
            return _decode_version(path.read_bytes(), str(path), name)

    def _temp_file(self, target: Path, data: bytes) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    def create_version(self, version: PromptVersion) -> bool:
        """Link a complete temporary file into place: fails (and we verify) if the version exists."""
        path = self.root / version_path(version.name, version.id)
        with self._os_errors(f"writing {path}"):
            temp = self._temp_file(path, _encode(version.to_json()))
            try:
                os.link(temp, path)
                return True
            except FileExistsError:
                pass
            finally:
                temp.unlink(missing_ok=True)
        existing = self.read_version(version.name, version.id)
        assert existing is not None
        return _same_or_fail(existing, version, str(path))

    def update_index(self, name: str, change: Callable[[PromptIndex | None], PromptIndex]) -> PromptIndex:
        """Read, change and atomically replace the index while holding an exclusive flock."""
        path = self.root / index_path(name)
        with self._os_errors(f"updating {path}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path.with_suffix(".lock"), "a+b") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                try:
                    current = self.read_index(name)
                    updated = change(current)
                    if updated != current:
                        os.replace(self._temp_file(path, _encode(updated.to_json())), path)
                    return updated
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def open_store(url: str, *, client: storage.Client | None = None, retry_deadline_s: float = 30.0) -> PromptStore:
    """`gs://bucket[/prefix]` -> GcsPromptStore (a default client honours STORAGE_EMULATOR_HOST); anything
    else is a local directory. Applications should pass a short `retry_deadline_s` (a few seconds), so that
    an unreachable store falls back to the cache or snapshot quickly."""
    if url.startswith("gs://"):
        bucket, _, prefix = url.removeprefix("gs://").partition("/")
        if not bucket:
            raise UserError(f"a prompt store URL needs a bucket: gs://BUCKET[/PREFIX] (got {url!r})")
        return GcsPromptStore(client or storage.Client(), bucket, prefix, retry_deadline_s=retry_deadline_s)
    if "://" in url:
        raise UserError(f"unsupported prompt store {url!r}: use gs://BUCKET[/PREFIX] or a directory")
    return LocalPromptStore(Path(url))

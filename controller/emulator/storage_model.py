"""Vocabulary of the Cloud Storage emulator: errors, preconditions, stored buckets and objects, checksums.

Shared by `storage_store.py` (state), `storage_listing.py` (listing), `storage_wire.py` (rendering) and
`storage_routes.py` (operations). Semantics follow the JSON API: a failed `...Match` precondition is 412;
a failed `...NotMatch` precondition is 304 on reads and 412 on writes, as Cloud Storage answers.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import google_crc32c

# Object fields a caller may set on insert, patch or update (besides `metadata` and `contentType`).
EXTRA_WRITABLE = (
    "cacheControl",
    "contentDisposition",
    "contentEncoding",
    "contentLanguage",
    "customTime",
    "storageClass",
    "temporaryHold",
    "eventBasedHold",
)


class StorageError(Exception):
    """An error the JSON API answers with: HTTP status, Google `reason` and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def precondition_failed() -> StorageError:
    return StorageError(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.")


def not_modified() -> StorageError:
    return StorageError(304, "notModified", "Not Modified")


def no_such_bucket() -> StorageError:
    return StorageError(404, "notFound", "The specified bucket does not exist.")


def no_such_object(bucket: str, name: str) -> StorageError:
    return StorageError(404, "notFound", f"No such object: {bucket}/{name}")


def invalid(message: str) -> StorageError:
    return StorageError(400, "invalid", message)


@dataclass(frozen=True)
class Preconditions:
    """The four generation preconditions of the JSON API; None means "not given"."""

    if_generation_match: int | None = None
    if_generation_not_match: int | None = None
    if_metageneration_match: int | None = None
    if_metageneration_not_match: int | None = None

    def check(self, generation: int | None, metageneration: int | None, *, read: bool) -> None:
        """Raise 412 (or 304 for a failed NotMatch on a read) unless all given conditions hold.

        `generation` is None when there is no live resource; `ifGenerationMatch=0` then holds, and every
        other condition fails (there is no live generation to compare).
        """
        live = generation is not None
        if self.if_generation_match is not None and (generation or 0) != self.if_generation_match:
            raise precondition_failed()
        if self.if_metageneration_match is not None and (not live or metageneration != self.if_metageneration_match):
            raise precondition_failed()
        failed_not = (self.if_generation_not_match is not None and generation == self.if_generation_not_match) or (
            self.if_metageneration_not_match is not None and metageneration == self.if_metageneration_not_match
        )
        any_not = self.if_generation_not_match is not None or self.if_metageneration_not_match is not None
        if any_not and not live:
            raise precondition_failed()
        if failed_not:
            raise not_modified() if read else precondition_failed()


NO_PRECONDITIONS = Preconditions()


@dataclass(frozen=True)
class StoredObject:
    """One live object version (immutable: a write or patch replaces it)."""

    bucket: str
    name: str
    data: bytes
    generation: int
    metageneration: int
    content_type: str
    created_us: int
    updated_us: int
    md5: str
    crc32c: str
    metadata: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredBucket:
    """One bucket's own metadata."""

    name: str
    project: str
    created_us: int
    updated_us: int
    metageneration: int = 1
    location: str = "US"
    storage_class: str = "STANDARD"
    labels: dict[str, str] = field(default_factory=dict)


def md5_b64(data: bytes) -> str:
    """The base64 MD5 digest, as in `md5Hash` and `x-goog-hash: md5=`."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def crc32c_b64(data: bytes) -> str:
    """The base64 big-endian CRC32C, as in `crc32c` and `x-goog-hash: crc32c=`."""
    return base64.b64encode(struct.pack(">I", google_crc32c.value(data))).decode("ascii")


def now_us() -> int:
    return time.time_ns() // 1000

"""State of the Cloud Storage emulator: buckets and live objects behind one lock, and persistence.

Part of the storage emulator (`storage.py` serves it over HTTP, `storage_wire.py` renders it). Every
read and write takes one lock, so a conditional write or delete is a compare-and-swap: of eight
concurrent create-if-absent calls (`ifGenerationMatch=0`) exactly one wins.

Semantics follow the JSON API: a generation is a store-wide, strictly increasing integer that looks like
Google's (microseconds since the epoch), given to each object write; a metageneration starts at 1 and
grows with each metadata update. Only live objects are kept (no versioning), so asking for any other
generation is NOT_FOUND. A failed `...Match` precondition is 412; a failed `...NotMatch` precondition is
304 on reads and 412 on writes, as Cloud Storage answers.

Persistence (optional): one JSON document, rewritten after each mutation by writing a temporary file next
to it and renaming it over the old one (atomic on POSIX). Object bytes are base64 in field `data`.
Format: `{"format": "genaiops-storage-emulator/1", "clock": INT, "buckets": [{...bucket,
"objects": [{...object, "data": BASE64}]}]}`. Resumable-upload sessions are not persisted.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from controller.emulator.storage_listing import Page, fold, glob_matcher, paginate
from controller.emulator.storage_model import (
    EXTRA_WRITABLE,
    NO_PRECONDITIONS,
    Preconditions,
    StorageError,
    StoredBucket,
    StoredObject,
    crc32c_b64,
    invalid,
    md5_b64,
    no_such_bucket,
    no_such_object,
    now_us,
)

FORMAT = "genaiops-storage-emulator/1"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


def _check_object_name(name: str) -> None:
    if not name or len(name.encode()) > 1024 or "\r" in name or "\n" in name or name in {".", ".."}:
        raise invalid(f"The object name '{name}' is invalid.")


class StorageStore:
    """Buckets and live objects behind one lock; every mutation is persisted when a path is given."""

    def __init__(self, persist_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._path = persist_path
        self._clock = 0
        self._buckets: dict[str, StoredBucket] = {}
        self._objects: dict[str, dict[str, StoredObject]] = {}
        if persist_path is not None and persist_path.exists() and persist_path.stat().st_size > 0:
            self._load(persist_path)

    # ----- buckets -----
    def insert_bucket(
        self,
        name: str,
        project: str,
        labels: dict[str, str] | None = None,
        location: str = "US",
        storage_class: str = "STANDARD",
    ) -> StoredBucket:
        if not _BUCKET_NAME.fullmatch(name) or ".." in name:
            raise invalid(f"Invalid bucket name: '{name}'")
        with self._lock:
            if name in self._buckets:
                raise StorageError(
                    409,
                    "conflict",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                )
            stamp = now_us()
            bucket = StoredBucket(
                name,
                project,
                stamp,
                stamp,
                location=location.upper(),
                storage_class=storage_class.upper(),
                labels=dict(labels or {}),
            )
            self._buckets[name] = bucket
            self._objects[name] = {}
            self._save()
            return bucket

    def get_bucket(self, name: str, pre: Preconditions = NO_PRECONDITIONS) -> StoredBucket:
        with self._lock:
            bucket = self._bucket(name)
            pre.check(1, bucket.metageneration, read=True)
            return bucket

    def patch_bucket(self, name: str, labels: dict[str, str | None], pre: Preconditions) -> StoredBucket:
        with self._lock:
            bucket = self._bucket(name)
            pre.check(1, bucket.metageneration, read=False)
            merged = {**bucket.labels, **labels}
            kept = {k: v for k, v in merged.items() if v is not None}
            bucket = replace(bucket, labels=kept, metageneration=bucket.metageneration + 1, updated_us=now_us())
            self._buckets[name] = bucket
            self._save()
            return bucket

    def delete_bucket(self, name: str, pre: Preconditions) -> None:
        with self._lock:
            bucket = self._bucket(name)
            pre.check(1, bucket.metageneration, read=False)
            if self._objects[name]:
                raise StorageError(409, "conflict", "The bucket you tried to delete is not empty.")
            del self._buckets[name]
            del self._objects[name]
            self._save()

    def list_buckets(self, project: str, prefix: str, max_results: int, token: str | None) -> Page:
        with self._lock:
            names = sorted(n for n, b in self._buckets.items() if b.project == project and n.startswith(prefix))
            return paginate(((n, False, self._buckets[n]) for n in names), max_results, token)

    # ----- objects -----
    def insert_object(
        self,
        bucket: str,
        name: str,
        data: bytes,
        resource: dict[str, Any],
        pre: Preconditions,
    ) -> StoredObject:
        """Create or overwrite `name`; `resource` holds the JSON object resource the caller sent."""
        _check_object_name(name)
        md5, crc = md5_b64(data), crc32c_b64(data)
        _verify_checksum("MD5", resource.get("md5Hash"), md5)
        _verify_checksum("CRC32C", resource.get("crc32c"), crc)
        metadata = resource.get("metadata")
        extra = {k: resource[k] for k in EXTRA_WRITABLE if resource.get(k) is not None}
        content_type = resource.get("contentType") or "application/octet-stream"
        with self._lock:
            objects = self._bucket_objects(bucket)
            current = objects.get(name)
            pre.check(
                current.generation if current else None,
                current.metageneration if current else None,
                read=False,
            )
            stamp = now_us()
            obj = StoredObject(
                bucket=bucket,
                name=name,
                data=data,
                generation=self._next_generation(stamp),
                metageneration=1,
                content_type=str(content_type),
                created_us=stamp,
                updated_us=stamp,
                md5=md5,
                crc32c=crc,
                metadata=_string_map(metadata) if metadata else None,
                extra=extra,
            )
            objects[name] = obj
            self._save()
            return obj

    def get_object(
        self, bucket: str, name: str, generation: int | None, pre: Preconditions = NO_PRECONDITIONS
    ) -> StoredObject:
        with self._lock:
            obj = self._live(bucket, name, generation)
            pre.check(obj.generation, obj.metageneration, read=True)
            return obj

    def delete_object(self, bucket: str, name: str, generation: int | None, pre: Preconditions) -> None:
        with self._lock:
            obj = self._live(bucket, name, generation)
            pre.check(obj.generation, obj.metageneration, read=False)
            del self._objects[bucket][name]
            self._save()

    def patch_object(
        self,
        bucket: str,
        name: str,
        generation: int | None,
        changes: dict[str, Any],
        pre: Preconditions,
        *,
        full_update: bool = False,
    ) -> StoredObject:
        """PATCH merges `changes` (a null clears); PUT (`full_update`) replaces all writable fields."""
        with self._lock:
            obj = self._live(bucket, name, generation)
            pre.check(obj.generation, obj.metageneration, read=False)
            updated = _apply_changes(obj, changes, full_update)
            updated = replace(updated, metageneration=obj.metageneration + 1, updated_us=now_us())
            self._objects[bucket][name] = updated
            self._save()
            return updated

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_offset: str = "",
        end_offset: str = "",
        include_trailing_delimiter: bool = False,
        match_glob: str = "",
        max_results: int = 1000,
        token: str | None = None,
    ) -> Page:
        glob = glob_matcher(match_glob) if match_glob else None
        with self._lock:
            objects = self._bucket_objects(bucket)
            chosen = sorted(
                (
                    o
                    for n, o in objects.items()
                    if n.startswith(prefix)
                    and n >= start_offset
                    and (not end_offset or n < end_offset)
                    and (glob is None or glob.fullmatch(n))
                ),
                key=lambda o: o.name,
            )
        return paginate(fold(chosen, prefix, delimiter, include_trailing_delimiter), max_results, token)

    # ----- internals -----
    def _bucket(self, name: str) -> StoredBucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            raise no_such_bucket()
        return bucket

    def _bucket_objects(self, bucket: str) -> dict[str, StoredObject]:
        self._bucket(bucket)
        return self._objects[bucket]

    def _live(self, bucket: str, name: str, generation: int | None) -> StoredObject:
        obj = self._bucket_objects(bucket).get(name)
        if obj is None or (generation is not None and obj.generation != generation):
            raise no_such_object(bucket, name)
        return obj

    def _next_generation(self, stamp: int) -> int:
        self._clock = max(self._clock + 1, stamp)
        return self._clock

    def _save(self) -> None:
        if self._path is None:
            return
        doc = {
            "format": FORMAT,
            "clock": self._clock,
            "buckets": [
                {**asdict(b), "objects": [_object_to_json(o) for o in self._objects[b.name].values()]}
                for b in self._buckets.values()
            ],
        }
        tmp = self._path.with_name(f"{self._path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, self._path)

    def _load(self, path: Path) -> None:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError(f"{path}: not a storage emulator state file (format {doc.get('format')!r})")
        self._clock = int(doc["clock"])
        for raw in doc["buckets"]:
            objects = raw.pop("objects")
            bucket = StoredBucket(**raw)
            self._buckets[bucket.name] = bucket
            self._objects[bucket.name] = {o["name"]: _object_from_json(o) for o in objects}


def _verify_checksum(kind: str, given: Any, actual: str) -> None:
    if given is not None and given != actual:
        raise invalid(f'Provided {kind} hash "{given}" doesn\'t match calculated {kind} hash "{actual}".')


def _string_map(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise invalid("Invalid value for metadata: expected an object.")
    return {str(k): str(v) for k, v in raw.items() if v is not None}


def _apply_changes(obj: StoredObject, changes: dict[str, Any], full_update: bool) -> StoredObject:
    if full_update:
        extra = {k: changes[k] for k in EXTRA_WRITABLE if changes.get(k) is not None}
        metadata = _string_map(changes["metadata"]) if changes.get("metadata") else None
        content_type = changes.get("contentType") or "application/octet-stream"
        return replace(obj, extra=extra, metadata=metadata, content_type=str(content_type))
    extra = dict(obj.extra)
    for key in EXTRA_WRITABLE:
        if key in changes:
            if changes[key] is None:
                extra.pop(key, None)
            else:
                extra[key] = changes[key]
    metadata = obj.metadata
    if "metadata" in changes:
        patch = changes["metadata"]
        if patch is None:
            metadata = None
        else:
            if not isinstance(patch, dict):
                raise invalid("Invalid value for metadata: expected an object.")
            merged = {**(obj.metadata or {}), **patch}
            metadata = {k: str(v) for k, v in merged.items() if v is not None} or None
    content_type = obj.content_type
    if "contentType" in changes:
        content_type = str(changes["contentType"] or "application/octet-stream")
    return replace(obj, extra=extra, metadata=metadata, content_type=content_type)


def _object_to_json(obj: StoredObject) -> dict[str, Any]:
    raw = asdict(obj)
    raw["data"] = base64.b64encode(obj.data).decode("ascii")
    return raw


def _object_from_json(raw: dict[str, Any]) -> StoredObject:
    return StoredObject(**{**raw, "data": base64.b64decode(raw["data"])})

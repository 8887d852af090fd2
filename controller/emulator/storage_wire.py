"""Wire formats of the Cloud Storage JSON API for the storage emulator (`storage.py` uses them).

Renders buckets and objects as the JSON resources Google returns, builds Google's error body, maps gRPC
status codes (from the fault-injection hook) to HTTP, and parses what the client sends: query
parameters, preconditions, `multipart/related` upload bodies, `Range` and `Content-Range` headers.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import grpc

from controller.emulator.storage_model import (
    EXTRA_WRITABLE,
    Preconditions,
    StorageError,
    StoredBucket,
    StoredObject,
    invalid,
)

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)

# How Google's HTTP front end reports each gRPC code (google.rpc.Code -> HTTP), with the JSON `reason`.
GRPC_TO_HTTP: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.CANCELLED: (499, "cancelled"),
    grpc.StatusCode.UNKNOWN: (500, "backendError"),
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "deadlineExceeded"),
    grpc.StatusCode.NOT_FOUND: (404, "notFound"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "forbidden"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "required"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "rateLimitExceeded"),
    grpc.StatusCode.FAILED_PRECONDITION: (412, "conditionNotMet"),
    grpc.StatusCode.ABORTED: (409, "conflict"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "outOfRange"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "notImplemented"),
    grpc.StatusCode.INTERNAL: (500, "backendError"),
    grpc.StatusCode.UNAVAILABLE: (503, "backendError"),
    grpc.StatusCode.DATA_LOSS: (500, "backendError"),
}


def error_body(err: StorageError) -> bytes:
    """Google's JSON error body, which google.api_core turns into the matching exception."""
    detail = {"message": err.message, "domain": "global", "reason": err.reason}
    return json.dumps({"error": {"code": err.status, "message": err.message, "errors": [detail]}}).encode()


def rfc3339(micros: int) -> str:
    """Timestamps as the JSON API writes them: UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def object_etag(obj: StoredObject) -> str:
    """Like Google's object etags: base64 of a protobuf carrying generation (1) and metageneration (2)."""
    raw = b"\x08" + _varint(obj.generation) + b"\x10" + _varint(obj.metageneration)
    return base64.b64encode(raw).decode("ascii")


def object_path(obj: StoredObject) -> str:
    return f"/b/{obj.bucket}/o/{quote(obj.name, safe='')}"


def object_resource(obj: StoredObject, base_url: str) -> dict[str, Any]:
    """The `storage#object` resource (projection noAcl)."""
    path = object_path(obj)
    resource: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{obj.bucket}/{obj.name}/{obj.generation}",
        "selfLink": f"{base_url}/storage/v1{path}",
        "mediaLink": f"{base_url}/download/storage/v1{path}?generation={obj.generation}&alt=media",
        "name": obj.name,
        "bucket": obj.bucket,
        "generation": str(obj.generation),
        "metageneration": str(obj.metageneration),
        "contentType": obj.content_type,
        "storageClass": "STANDARD",
        "size": str(len(obj.data)),
        "md5Hash": obj.md5,
        "crc32c": obj.crc32c,
        "etag": object_etag(obj),
        "timeCreated": rfc3339(obj.created_us),
        "updated": rfc3339(obj.updated_us),
        "timeStorageClassUpdated": rfc3339(obj.created_us),
        "timeFinalized": rfc3339(obj.created_us),
    }
    resource.update(obj.extra)
    if obj.metadata:
        resource["metadata"] = dict(obj.metadata)
    return resource


def bucket_resource(bucket: StoredBucket, base_url: str) -> dict[str, Any]:
    """The `storage#bucket` resource (projection noAcl)."""
    resource: dict[str, Any] = {
        "kind": "storage#bucket",
        "id": bucket.name,
        "selfLink": f"{base_url}/storage/v1/b/{bucket.name}",
        "name": bucket.name,
        "projectNumber": "0",
        "metageneration": str(bucket.metageneration),
        "location": bucket.location,
        "locationType": "multi-region",
        "storageClass": bucket.storage_class,
        "etag": base64.b64encode(b"\x10" + _varint(bucket.metageneration)).decode("ascii"),
        "timeCreated": rfc3339(bucket.created_us),
        "updated": rfc3339(bucket.updated_us),
    }
    if bucket.labels:
        resource["labels"] = dict(bucket.labels)
    return resource


def download_headers(obj: StoredObject) -> dict[str, str]:
    """The headers Google sends with object media; the client reads them into the blob and checks the hash."""
    headers = {
        "Content-Type": obj.content_type,
        "X-Goog-Generation": str(obj.generation),
        "X-Goog-Metageneration": str(obj.metageneration),
        "X-Goog-Hash": f"crc32c={obj.crc32c},md5={obj.md5}",
        "X-Goog-Stored-Content-Length": str(len(obj.data)),
        "X-Goog-Stored-Content-Encoding": str(obj.extra.get("contentEncoding", "identity")),
        "X-Goog-Storage-Class": "STANDARD",
        "ETag": object_etag(obj),
        "Last-Modified": datetime.fromtimestamp(obj.updated_us / 1_000_000, tz=UTC).strftime(
            "%a, %d %b %Y %H:%M:%S GMT"
        ),
        "Accept-Ranges": "bytes",
    }
    optional = {
        "Cache-Control": "cacheControl",
        "Content-Language": "contentLanguage",
        "Content-Disposition": "contentDisposition",
        "Content-Encoding": "contentEncoding",
    }
    for header, key in optional.items():
        if key in obj.extra:
            headers[header] = str(obj.extra[key])
    return headers


class Query:
    """Query parameters, looked up without regard to case (the client sends `ifMetaGenerationNotMatch`)."""

    def __init__(self, pairs: Mapping[str, list[str]]) -> None:
        self._values = {key.lower(): values[-1] for key, values in pairs.items() if values}

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._values.get(key.lower(), default)

    def text(self, key: str) -> str:
        return self._values.get(key.lower(), "")

    def integer(self, key: str) -> int | None:
        raw = self._values.get(key.lower())
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except ValueError as err:
            raise invalid(f"Invalid value for {key}: {raw!r}") from err

    def flag(self, key: str) -> bool:
        return self._values.get(key.lower(), "").lower() == "true"

    def preconditions(self) -> Preconditions:
        return Preconditions(
            if_generation_match=self.integer("ifGenerationMatch"),
            if_generation_not_match=self.integer("ifGenerationNotMatch"),
            if_metageneration_match=self.integer("ifMetagenerationMatch"),
            if_metageneration_not_match=self.integer("ifMetagenerationNotMatch"),
        )

    def max_results(self) -> int:
        value = self.integer("maxResults")
        return 1000 if value is None or value <= 0 else min(value, 1000)


def json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise StorageError(400, "parseError", "Parse Error") from err
    if not isinstance(parsed, dict):
        raise StorageError(400, "parseError", "Parse Error")
    return parsed


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, Any], bytes, str | None]:
    """Split a `multipart/related` upload into (JSON resource, media bytes, media content type)."""
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/") or match is None:
        raise invalid("Upload requests must have a multipart/related body with metadata and media.")
    parts: list[tuple[dict[str, str], bytes]] = []
    for piece in body.split(b"--" + match.group(1).encode())[1:]:
        if piece.startswith(b"--"):
            break
        part = piece.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, sep, payload = part.partition(b"\r\n\r\n")
        if not sep:
            raise invalid("Malformed multipart upload.")
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, colon, value = line.partition(":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        parts.append((headers, payload))
    if len(parts) != 2:
        raise invalid(f"Multipart upload has {len(parts)} parts; expected metadata and media.")
    return json_body(parts[0][1]), parts[1][1], parts[1][0].get("content-type")


def insert_resource(resource: dict[str, Any], name: str | None, content_type: str | None) -> dict[str, Any]:
    """The writable part of an insert's resource, with the name and content type filled in."""
    allowed = {"name", "contentType", "metadata", "md5Hash", "crc32c", *EXTRA_WRITABLE}
    chosen = {k: v for k, v in resource.items() if k in allowed}
    if name:
        chosen["name"] = name
    if not chosen.get("contentType") and content_type:
        chosen["contentType"] = content_type
    if not chosen.get("name"):
        raise StorageError(400, "required", "Required")
    return chosen


def hash_header(value: str | None) -> dict[str, str]:
    """Parse `x-goog-hash: crc32c=...,md5=...` into resource fields (`crc32c`, `md5Hash`)."""
    fields: dict[str, str] = {}
    for part in (value or "").split(","):
        kind, _, digest = part.strip().partition("=")
        if kind == "crc32c" and digest:
            fields["crc32c"] = digest
        elif kind == "md5" and digest:
            fields["md5Hash"] = digest
    return fields


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a `Range: bytes=...` header asks for, or None for the whole object."""
    if not header or not header.startswith("bytes="):
        return None
    spec = header[len("bytes=") :].split(",")[0].strip()
    first, _, last = spec.partition("-")
    try:
        if first == "":
            count = int(last)
            start, end = max(size - count, 0), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        return None
    if start >= size or start > end:
        raise StorageError(416, "requestedRangeNotSatisfiable", "The requested range cannot be satisfied.")
    return start, end


def parse_content_range(header: str | None) -> tuple[int | None, int | None, int | None]:
    """`bytes S-E/T`, `bytes S-E/*`, `bytes */T` or `bytes */*` -> (start, end, total), None if absent."""
    if not header or not header.startswith("bytes "):
        raise invalid(f"Invalid Content-Range header: {header!r}")
    span, _, total = header[len("bytes ") :].partition("/")
    try:
        size = None if total.strip() == "*" else int(total)
        if span.strip() == "*":
            return None, None, size
        first, _, last = span.partition("-")
        return int(first), int(last), size
    except ValueError as err:
        raise invalid(f"Invalid Content-Range header: {header!r}") from err

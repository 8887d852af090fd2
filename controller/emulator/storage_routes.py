"""The Cloud Storage JSON API operations of the storage emulator, independent of the socket server.

`StorageApi.handle` takes one HTTP request (method, path with query, headers, body) and returns the
response. URLs are those google-cloud-storage sends when `STORAGE_EMULATOR_HOST` points at us:
`/storage/v1/b[/B[/o[/O]]]` for metadata, `/download/storage/v1/b/B/o/O?alt=media` for media and
`/upload/storage/v1/b/B/o?uploadType=media|multipart|resumable` for writes (resumable sessions are
continued with `PUT ...&upload_id=ID`). Before each operation the fault-injection hook is called with the
JSON API method id (`storage.objects.insert`, `storage.objects.get` for metadata and media alike, ...).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from controller.emulator.api import ApiError, CallHook
from controller.emulator.storage_model import (
    Preconditions,
    StorageError,
    StoredObject,
    invalid,
)
from controller.emulator.storage_store import StorageStore
from controller.emulator.storage_wire import (
    GRPC_TO_HTTP,
    Query,
    bucket_resource,
    download_headers,
    error_body,
    hash_header,
    insert_resource,
    json_body,
    object_resource,
    parse_content_range,
    parse_multipart,
    parse_range,
)

_log = logging.getLogger(__name__)
_ROUTE = re.compile(
    r"^/(?:(?P<api>download|upload)/)?storage/v1/b(?:/(?P<bucket>[^/]+)(?P<o>/o(?:/(?P<object>.+))?)?)?/?$"
)
_JSON = "application/json; charset=UTF-8"


@dataclass
class Response:
    """One HTTP response: status, headers (without Content-Length) and body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request, as the operations see it."""

    method: str
    bucket: str | None
    object: str | None
    query: Query
    headers: Mapping[str, str]
    body: bytes
    base_url: str


@dataclass
class _Session:
    """A resumable upload under way: what was declared at initiation and the bytes received so far."""

    bucket: str
    resource: dict[str, Any]
    pre: Preconditions
    total: int | None
    data: bytearray = field(default_factory=bytearray)
    result: StoredObject | None = None


def json_response(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(status, {"Content-Type": _JSON}, json.dumps(payload).encode())


def error_response(err: StorageError) -> Response:
    if err.status == 304:
        return Response(304)
    return Response(err.status, {"Content-Type": _JSON}, error_body(err))


Operation = tuple[str, Callable[[Request], Response]]


class StorageApi:
    """Routes JSON API requests to the store; thread-safe (the store and the sessions have locks)."""

    def __init__(self, store: StorageStore, hook: CallHook | None = None) -> None:
        self._store = store
        self._hook = hook
        self._sessions: dict[str, _Session] = {}
        self._sessions_lock = threading.Lock()
        self._table: dict[tuple[str, str, str], Operation] = {
            ("storage", "GET", "service"): ("storage.buckets.list", self._list_buckets),
            ("storage", "POST", "service"): ("storage.buckets.insert", self._insert_bucket),
            ("storage", "GET", "bucket"): ("storage.buckets.get", self._get_bucket),
            ("storage", "PATCH", "bucket"): ("storage.buckets.patch", self._patch_bucket),
            ("storage", "DELETE", "bucket"): ("storage.buckets.delete", self._delete_bucket),
            ("storage", "GET", "objects"): ("storage.objects.list", self._list_objects),
            ("storage", "GET", "object"): ("storage.objects.get", self._get_object),
            ("storage", "PATCH", "object"): ("storage.objects.patch", self._patch_object),
            ("storage", "PUT", "object"): ("storage.objects.update", self._update_object),
            ("storage", "DELETE", "object"): ("storage.objects.delete", self._delete_object),
            ("download", "GET", "object"): ("storage.objects.get", self._download),
            ("upload", "POST", "objects"): ("storage.objects.insert", self._upload),
            ("upload", "PUT", "objects"): ("storage.objects.insert", self._upload_chunk),
        }

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes, base_url: str) -> Response:
        """Answer one request; never raises (errors become Google's JSON error responses)."""
        try:
            url = urlsplit(target)
            match = _ROUTE.match(url.path)
            if match is None:
                raise StorageError(404, "notFound", f"Not Found: {url.path}")
            request = Request(
                method=method,
                bucket=unquote(match["bucket"]) if match["bucket"] else None,
                object=unquote(match["object"]) if match["object"] else None,
                query=Query(parse_qs(url.query, keep_blank_values=True)),
                headers=headers,
                body=body,
                base_url=base_url,
            )
            name, operation = self._route(match["api"] or "storage", method, request, match["o"] is not None)
            if self._hook is not None:
                self._hook.before_call(name)
            reply = operation(request)
            if self._hook is not None:
                self._hook.after_call(name)
            return reply
        except StorageError as err:
            return error_response(err)
        except ApiError as err:
            status, reason = GRPC_TO_HTTP.get(err.code, (500, "backendError"))
            return error_response(StorageError(status, reason, err.message))
        except Exception:
            _log.exception("storage emulator: unexpected error on %s %s", method, target)
            return error_response(StorageError(500, "backendError", "Internal error in the storage emulator."))

    def _route(self, api: str, method: str, request: Request, objects: bool) -> Operation:
        if request.object is not None:
            level = "object"
        elif objects:
            level = "objects"
        else:
            level = "bucket" if request.bucket is not None else "service"
        operation = self._table.get((api, method, level))
        if operation is None:
            raise StorageError(405, "methodNotAllowed", f"{method} is not allowed here.")
        return operation

    # ----- buckets -----
    def _list_buckets(self, request: Request) -> Response:
        q = request.query
        page = self._store.list_buckets(q.text("project"), q.text("prefix"), q.max_results(), q.get("pageToken"))
        payload: dict[str, Any] = {"kind": "storage#buckets"}
        if page.items:
            payload["items"] = [bucket_resource(b, request.base_url) for b in page.items]
        if page.next_token:
            payload["nextPageToken"] = page.next_token
        return json_response(payload)

    def _insert_bucket(self, request: Request) -> Response:
        body = json_body(request.body)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise StorageError(400, "required", "Required")
        project = request.query.text("project")
        if not project:
            raise StorageError(400, "required", "Required parameter: project")
        bucket = self._store.insert_bucket(
            name,
            project,
            _labels(body.get("labels")),
            location=str(body.get("location") or "US"),
            storage_class=str(body.get("storageClass") or "STANDARD"),
        )
        return json_response(bucket_resource(bucket, request.base_url))

    def _get_bucket(self, request: Request) -> Response:
        bucket = self._store.get_bucket(_need(request.bucket), request.query.preconditions())
        return json_response(bucket_resource(bucket, request.base_url))

    def _patch_bucket(self, request: Request) -> Response:
        labels = json_body(request.body).get("labels") or {}
        if not isinstance(labels, dict):
            raise invalid("Invalid value for labels.")
        bucket = self._store.patch_bucket(_need(request.bucket), labels, request.query.preconditions())
        return json_response(bucket_resource(bucket, request.base_url))

    def _delete_bucket(self, request: Request) -> Response:
        self._store.delete_bucket(_need(request.bucket), request.query.preconditions())
        return Response(204)

    # ----- object metadata -----
    def _list_objects(self, request: Request) -> Response:
        q = request.query
        page = self._store.list_objects(
            _need(request.bucket),
            prefix=q.text("prefix"),
            delimiter=q.text("delimiter"),
            start_offset=q.text("startOffset"),
            end_offset=q.text("endOffset"),
            include_trailing_delimiter=q.flag("includeTrailingDelimiter"),
            match_glob=q.text("matchGlob"),
            max_results=q.max_results(),
            token=q.get("pageToken"),
        )
        payload: dict[str, Any] = {"kind": "storage#objects"}
        if page.items:
            payload["items"] = [object_resource(o, request.base_url) for o in page.items]
        if page.prefixes:
            payload["prefixes"] = page.prefixes
        if page.next_token:
            payload["nextPageToken"] = page.next_token
        return json_response(payload)

    def _get_object(self, request: Request) -> Response:
        if request.query.text("alt") == "media":
            return self._download(request)
        q = request.query
        obj = self._store.get_object(
            _need(request.bucket), _need(request.object), q.integer("generation"), q.preconditions()
        )
        return json_response(object_resource(obj, request.base_url))

    def _patch_object(self, request: Request, *, full_update: bool = False) -> Response:
        q = request.query
        obj = self._store.patch_object(
            _need(request.bucket),
            _need(request.object),
            q.integer("generation"),
            json_body(request.body),
            q.preconditions(),
            full_update=full_update,
        )
        return json_response(object_resource(obj, request.base_url))

    def _update_object(self, request: Request) -> Response:
        return self._patch_object(request, full_update=True)

    def _delete_object(self, request: Request) -> Response:
        q = request.query
        self._store.delete_object(
            _need(request.bucket), _need(request.object), q.integer("generation"), q.preconditions()
        )
        return Response(204)

    # ----- media -----
    def _download(self, request: Request) -> Response:
        q = request.query
        obj = self._store.get_object(
            _need(request.bucket), _need(request.object), q.integer("generation"), q.preconditions()
        )
        headers = download_headers(obj)
        span = parse_range(_header(request.headers, "Range"), len(obj.data))
        if span is None:
            return Response(200, headers, obj.data)
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{len(obj.data)}"
        return Response(206, headers, obj.data[start : end + 1])

    def _upload(self, request: Request) -> Response:
        q = request.query
        bucket = _need(request.bucket)
        kind = q.text("uploadType")
        content_type = _header(request.headers, "Content-Type")
        if kind == "media":
            resource = insert_resource({}, q.get("name"), content_type)
            obj = self._store.insert_object(bucket, resource["name"], request.body, resource, q.preconditions())
            return json_response(object_resource(obj, request.base_url))
        if kind == "multipart":
            raw, data, media_type = parse_multipart(request.body, content_type or "")
            resource = insert_resource(raw, q.get("name"), media_type)
            obj = self._store.insert_object(bucket, resource["name"], data, resource, q.preconditions())
            return json_response(object_resource(obj, request.base_url))
        if kind == "resumable":
            return self._start_session(request, bucket)
        raise invalid(f"Invalid uploadType: {kind!r}")

    def _start_session(self, request: Request, bucket: str) -> Response:
        q = request.query
        resource = insert_resource(
            json_body(request.body), q.get("name"), _header(request.headers, "X-Upload-Content-Type")
        )
        pre = q.preconditions()
        current = self._current(bucket, resource["name"])
        pre.check(current.generation if current else None, current.metageneration if current else None, read=False)
        declared = _header(request.headers, "X-Upload-Content-Length")
        upload_id = secrets.token_urlsafe(18)
        with self._sessions_lock:
            self._sessions[upload_id] = _Session(bucket, resource, pre, int(declared) if declared else None)
        location = (
            f"{request.base_url}/upload/storage/v1/b/{quote(bucket, safe='')}/o?uploadType=resumable"
            f"&name={quote(resource['name'], safe='')}&upload_id={upload_id}"
        )
        return Response(200, {"Location": location, "X-GUploader-UploadID": upload_id})

    def _current(self, bucket: str, name: str) -> StoredObject | None:
        try:
            return self._store.get_object(bucket, name, None)
        except StorageError as err:
            if err.status == 404 and err.message.startswith("No such object"):
                return None
            raise

    def _upload_chunk(self, request: Request) -> Response:
        upload_id = request.query.text("upload_id")
        with self._sessions_lock:
            session = self._sessions.get(upload_id)
            if session is None:
                raise StorageError(404, "notFound", "No such upload session.")
            if session.result is not None:
                return json_response(object_resource(session.result, request.base_url))
            start, end, total = parse_content_range(_header(request.headers, "Content-Range"))
            if total is not None:
                session.total = total
            if start is not None and end is not None:
                _append(session, start, end, request.body)
            if session.total is None or len(session.data) < session.total:
                received = len(session.data)
                return Response(308, {"Range": f"bytes=0-{received - 1}"} if received else {})
            resource = {**session.resource, **hash_header(_header(request.headers, "X-Goog-Hash"))}
            try:
                obj = self._store.insert_object(
                    session.bucket, resource["name"], bytes(session.data), resource, session.pre
                )
            except StorageError:
                del self._sessions[upload_id]
                raise
            session.result = obj
            return json_response(object_resource(obj, request.base_url))


def _append(session: _Session, start: int, end: int, body: bytes) -> None:
    """Add a chunk at `start`, skipping bytes already received (a retried chunk overlaps)."""
    if end - start + 1 != len(body):
        raise invalid("Content-Range does not match the number of bytes sent.")
    have = len(session.data)
    if start > have:
        raise invalid(f"Chunk starts at byte {start} but only {have} bytes were received.")
    session.data.extend(body[have - start :])
    if session.total is not None and len(session.data) > session.total:
        raise invalid("More bytes were sent than the declared object size.")


def _labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid("Invalid value for labels.")
    return {str(k): str(v) for k, v in raw.items()}


def _need(value: str | None) -> str:
    if value is None:
        raise invalid("Missing resource name in the path.")
    return value


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value

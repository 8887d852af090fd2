"""Local Cloud Storage (JSON API subset) that the unmodified `google.cloud.storage` client talks to.

Point the client at it with `STORAGE_EMULATOR_HOST=<emulator.url>` (set before the client is created),
then `google.cloud.storage.Client(project=..., credentials=AnonymousCredentials())`. Unlike the emulators
on PyPI it honours generation and metageneration preconditions atomically, so leases and compare-and-swap
writes built on them are tested for real. Parts: `storage_model.py` (errors, preconditions, records),
`storage_store.py` (state under one lock, persistence), `storage_listing.py` (prefixes, globs, pages),
`storage_wire.py` (resources, errors, parsing), `storage_routes.py` (the operations); this module is the
threaded HTTP/1.1 server (keep-alive, TCP_NODELAY) around them.

Supported: buckets insert/get/list/patch(labels)/delete; objects insert (uploadType media, multipart,
resumable), get, download (`alt=media`, ranges, `x-goog-generation`, `x-goog-hash`), list (prefix,
delimiter, startOffset/endOffset, matchGlob, pagination), patch, update, delete. Not supported: ACLs,
IAM, object versioning, compose, rewrite/copy, notifications, XML API, signed URLs.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from controller.emulator.api import CallHook
from controller.emulator.storage_routes import Response, StorageApi
from controller.emulator.storage_store import StorageStore

__all__ = ["StorageEmulator"]
_log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    """A threaded HTTP server that knows its open connections, so `stop` can close idle keep-alives."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # many clients connect at once (e.g. eight contenders for one lease)

    def __init__(self, address: tuple[str, int], api: StorageApi) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-response is routine; anything else is logged, not printed."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            _log.warning("storage emulator: error serving %s", client_address, exc_info=True)

    def track(self, conn: socket.socket, *, is_open: bool) -> None:
        with self._open_lock:
            if is_open:
                self._open.add(conn)
            else:
                self._open.discard(conn)

    def close_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
            self._open.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection: reads each request whole, asks the API, writes the response."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, is_open=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, is_open=False)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the emulator serves thousands of calls in tests."""

    def _serve(self) -> None:
        body = self._read_body()
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        headers = {key.lower(): value for key, value in self.headers.items()}
        response = self.server.api.handle(self.command, self.path, headers, body, f"http://{host}")
        self._write(response)

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)


class StorageEmulator:
    """The Cloud Storage emulator: `start()` serves it in a background thread, `stop()` ends it.

    With `persist_path`, state is loaded from that file at `start()` and saved after every mutation;
    without it, state lives in memory (and survives a stop/start of the same instance). `hook.before_call`
    runs before each operation with its JSON API method id, e.g. `storage.objects.insert`; an `ApiError`
    it raises is answered with the matching HTTP status (UNAVAILABLE 503, RESOURCE_EXHAUSTED 429, ...).
    """

    def __init__(self, *, persist_path: Path | None = None, hook: CallHook | None = None) -> None:
        self._persist_path = persist_path
        self._hook = hook
        self._store: StorageStore | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._host = "127.0.0.1"
        self._port = 0

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind, serve in a daemon thread and return the bound port."""
        if self._server is not None:
            raise RuntimeError("the storage emulator is already running")
        if self._store is None or self._persist_path is not None:
            self._store = StorageStore(self._persist_path)
        server = _Server((host, port), StorageApi(self._store, self._hook))
        self._server = server
        self._host = host
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="storage-emulator", daemon=True
        )
        self._thread.start()
        return self._port

    def stop(self) -> None:
        """Stop serving and close open connections; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def port(self) -> int:
        """The bound port (0 before the first start)."""
        return self._port

    @property
    def url(self) -> str:
        """What `STORAGE_EMULATOR_HOST` must be set to, e.g. `http://127.0.0.1:PORT`."""
        host = "127.0.0.1" if self._host in {"", "0.0.0.0", "::"} else self._host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}"

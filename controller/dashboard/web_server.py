"""`genaiops dashboard`'s HTTP server: a `ThreadingHTTPServer` (one thread per connection, so an open event
stream never blocks a page) that hands every request to the router behind the access checks
(`access.py`) and writes what they answer.

Logs name the method, the path (never the query: a token may ride in it) and the status, at debug level;
any other line (a malformed request's) has its tokens redacted.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from controller.dashboard.access import Access
from controller.dashboard.routes import App, Response

log = logging.getLogger("genaiops.dashboard")


_TOKEN_IN_TEXT = re.compile(r"(token=|bearer\s+)[^&\s'\"]+", re.IGNORECASE)


def redacted(text: str) -> str:
    """`text` with any token in it (`token=...`, `Bearer ...`) replaced, for logs."""
    return _TOKEN_IN_TEXT.sub(r"\1<redacted>", text)


def write_response(handler: BaseHTTPRequestHandler, response: Response, *, head: bool) -> None:
    """Send `response` on `handler`'s connection: whole bodies with their length, streams chunk by chunk
    (flushed, until the client goes away or the stream ends; the connection closes after it)."""
    body = response.body
    handler.send_response(response.status)
    for name, value in response.headers:
        handler.send_header(name, value)
    if isinstance(body, bytes):
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)
        return
    handler.send_header("Connection", "close")
    handler.close_connection = True
    handler.end_headers()
    if head:
        _close(body)
        return
    try:
        for chunk in body:
            handler.wfile.write(chunk)
            handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
        pass  # the client went away: the stream ends here
    finally:
        _close(body)


def _close(body: Iterator[bytes]) -> None:
    close = getattr(body, "close", None)
    if callable(close):
        close()


def handler_for(app: App) -> type[BaseHTTPRequestHandler]:
    """A request handler class answering every method through `app`."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "genaiops-dashboard"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        timeout = 120  # an idle keep-alive connection is dropped after two minutes

        def _answer(self) -> None:
            headers: Mapping[str, str] = {k.lower(): v for k, v in self.headers.items()}
            response = app(method=self.command, target=self.path, headers=headers)
            if self.command not in ("GET", "HEAD"):
                self.close_connection = True  # a body we never read must not be taken for the next request
            write_response(self, response, head=self.command == "HEAD")

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer  # noqa: N815

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            path = self.path.split("?", 1)[0]  # never the query: it may carry the token
            log.debug("dashboard http: %s %s %s", self.command, path, code)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("dashboard http: %s", redacted(format % args))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is routine (a closed tab, a dropped keep-alive); anything else is logged."""
        failure = sys.exc_info()[1]
        if isinstance(failure, ConnectionError | TimeoutError):
            return
        log.exception("dashboard http: request from %s failed", client_address[0] if client_address else "?")


class _Server6(_Server):
    address_family = socket.AF_INET6


@dataclass
class DashboardServer:
    """A running server: where it listens, and how to stop it."""

    host: str
    port: int
    httpd: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Its base URL, e.g. http://127.0.0.1:8080 (a wildcard bind shows as 127.0.0.1)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else "::1" if self.host == "::" else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def serve(app: App, access: Access, *, host: str, port: int) -> DashboardServer:
    """Serve `app` behind `access` on host:port (0: any free port) from a daemon thread. OSError when the
    address cannot be bound."""
    server_class = _Server6 if ":" in host else _Server
    httpd = server_class((host, port), handler_for(access.guard(app)))
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="genaiops-dashboard", daemon=True
    )
    thread.start()
    return DashboardServer(host=host, port=int(httpd.server_address[1]), httpd=httpd, thread=thread)


__all__ = ["DashboardServer", "handler_for", "redacted", "serve", "write_response"]

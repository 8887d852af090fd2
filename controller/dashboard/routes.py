"""The dashboard's request router: `(method, target, headers) -> Response`, with no socket in sight (the
servers in `web_server.py` and `providers/telemetry.py` write what it answers).

Routes (GET and HEAD only; anything else is 405):
  /                      the page (`static/index.html`)
  /static/NAME           a file of `static/` (only names listed there: no path ever reaches the filesystem)
  /api/...               the JSON API of `shapes.py`; a bad query is 400 with {"error": why}, an unknown
                         resource 404, a target that does not answer 502/503
  /api/events            server-sent events: `event: changed` with {"version": n} whenever the snapshot
                         changes, and a comment every `heartbeat_s` seconds so proxies keep it open

Every answer carries a Content-Security-Policy that allows scripts, styles and connections to this origin
only, `X-Content-Type-Options: nosniff`, no framing and no referrer; the API is never cached.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from controller.dashboard.audit_page import MAX_LIMIT
from controller.dashboard.shapes import (
    AuditPage,
    CostPage,
    ExperimentPage,
    PromptDiff,
    PromptList,
    PromptPage,
    RolloutPage,
)
from controller.dashboard.snapshot import to_json
from controller.errors import GenaiopsError, NotFoundError, TransientError, UserError

log = logging.getLogger("genaiops.dashboard")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
EVENT_STREAM = "text/event-stream; charset=utf-8"
ALLOWED = ("GET", "HEAD")


@dataclass(frozen=True)
class Response:
    """An answer (a `ports.WebResponse`): status, every header to send, and the body (bytes, or chunks of
    an event stream)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes | Iterator[bytes]

    def header(self, name: str) -> str | None:
        """The value of header `name` (any case), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def respond(
    status: int, body: bytes | Iterator[bytes], content_type: str, *, cache: str = "no-store", extra: Any = ()
) -> Response:
    """A response with the content type, the cache policy, the security headers and `extra` headers."""
    headers = (("Content-Type", content_type), ("Cache-Control", cache), *SECURITY_HEADERS, *extra)
    return Response(status, headers, body)


def error(status: int, message: str, *, extra: Any = ()) -> Response:
    """A JSON error: {"error": message}."""
    return respond(status, to_json({"error": message}), JSON, extra=extra)


class App(Protocol):
    """A request handler: `(method, target, headers) -> Response` (a `ports.WebApp`); `Router` is one."""

    def __call__(self, *, method: str, target: str, headers: Mapping[str, str]) -> Response: ...


class ChangeFeed(Protocol):
    """What the event stream follows: the snapshot's version (`snapshot.SnapshotStore`)."""

    @property
    def stopping(self) -> bool: ...

    def version(self) -> int: ...

    def wait_for_change(self, version: int, *, timeout_s: float) -> int: ...


class PageSource(Protocol):
    """What the API serves (`page_data.Pages`)."""

    def overview_body(self) -> bytes: ...

    def rollout(self, *, kind: str, name: str, part: str = "") -> RolloutPage: ...

    def experiment(self, *, kind: str, name: str, part: str = "") -> ExperimentPage: ...

    def prompts(self) -> PromptList: ...

    def prompt(self, *, name: str) -> PromptPage: ...

    def prompt_diff(self, *, name: str, a: str, b: str) -> PromptDiff: ...

    def cost(self, *, since: str = "30d", by: str = "endpoint") -> CostPage: ...

    def audit_log(self, *, text: str = "", event: str = "", resource: str = "", limit: int = 200) -> AuditPage: ...


class StaticFiles:
    """The files of `controller/dashboard/static/`, listed once; only a listed name is ever read."""

    def __init__(self, package: str = "controller.dashboard", folder: str = "static") -> None:
        root = resources.files(package).joinpath(folder)
        self._entries = {e.name: e for e in root.iterdir() if e.is_file()} if root.is_dir() else {}
        self._cache: dict[str, bytes] = {}

    @property
    def names(self) -> list[str]:
        """Every file name served."""
        return sorted(self._entries)

    def read(self, name: str) -> bytes | None:
        """The bytes of a listed file, None for any other name."""
        entry = self._entries.get(name)
        if entry is None:
            return None
        if name not in self._cache:
            self._cache[name] = entry.read_bytes()
        return self._cache[name]


def _content_type(name: str) -> str:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


class Query:
    """A request's query parameters (the last value of each), with the checks the API needs."""

    def __init__(self, text: str) -> None:
        try:
            parsed = parse_qs(text, keep_blank_values=True, max_num_fields=32)
        except ValueError as err:
            raise UserError(f"bad query: {err}") from err
        self.values = {k: v[-1] for k, v in parsed.items()}

    def get(self, name: str, default: str = "") -> str:
        """The parameter, or `default`."""
        return self.values.get(name, default).strip()

    def required(self, name: str) -> str:
        """The parameter; UserError when it is missing or empty."""
        value = self.get(name)
        if not value:
            raise UserError(f"{name} is required")
        return value

    def number(self, name: str, default: int, *, low: int, high: int) -> int:
        """An integer parameter within [low, high]."""
        text = self.get(name)
        if not text:
            return default
        if not text.isdigit() or not low <= int(text) <= high:
            raise UserError(f"{name}: a whole number from {low} to {high} (got {text!r})")
        return int(text)


def _rollout(pages: PageSource, query: Query) -> RolloutPage:
    return pages.rollout(kind=query.required("kind"), name=query.required("name"), part=query.get("part"))


def _experiment(pages: PageSource, query: Query) -> ExperimentPage:
    return pages.experiment(kind=query.required("kind"), name=query.required("name"), part=query.get("part"))


def _audit(pages: PageSource, query: Query) -> AuditPage:
    limit = query.number("limit", 200, low=1, high=MAX_LIMIT)
    return pages.audit_log(text=query.get("q"), event=query.get("event"), resource=query.get("resource"), limit=limit)


class Router:
    """Routes requests to the pages, the static files and the event stream."""

    def __init__(
        self,
        pages: PageSource,
        feed: ChangeFeed,
        *,
        static: StaticFiles | None = None,
        heartbeat_s: float = 15.0,
        max_streams: int = 32,
    ) -> None:
        self.pages = pages
        self.feed = feed
        self.static = static if static is not None else StaticFiles()
        self.heartbeat_s = heartbeat_s
        self.max_streams = max_streams
        self._streams = 0
        self._lock = threading.Lock()
        self._api: dict[str, Callable[[PageSource, Query], object]] = {
            "/api/rollout": _rollout,
            "/api/experiment": _experiment,
            "/api/prompts": lambda p, _: p.prompts(),
            "/api/prompt": lambda p, q: p.prompt(name=q.required("name")),
            "/api/prompt-diff": lambda p, q: p.prompt_diff(
                name=q.required("name"), a=q.required("a"), b=q.required("b")
            ),
            "/api/cost": lambda p, q: p.cost(since=q.get("since") or "30d", by=q.get("by") or "endpoint"),
            "/api/audit": _audit,
        }

    def __call__(self, *, method: str, target: str, headers: Mapping[str, str]) -> Response:
        """The answer to one request (never raises: every failure is an error response)."""
        if method not in ALLOWED:
            return error(405, f"{method} is not allowed: the dashboard is read-only", extra=(("Allow", "GET, HEAD"),))
        split = urlsplit(target)
        path = unquote(split.path) or "/"
        try:
            return self._route(path, split.query)
        except NotFoundError as err:
            return error(404, str(err))
        except UserError as err:
            return error(400, str(err))
        except TransientError as err:
            return error(503, str(err), extra=(("Retry-After", "2"),))
        except GenaiopsError as err:
            return error(502, f"the target did not answer: {err}")
        except Exception:
            log.exception("dashboard: %s %s failed", method, path)
            return error(500, "internal error (see the dashboard's log)")

    def _route(self, path: str, query: str) -> Response:
        if path in ("/", "/index.html"):
            return self._file("index.html")
        if path.startswith("/static/"):
            return self._file(path.removeprefix("/static/"))
        if path == "/api/overview":
            return respond(200, self.pages.overview_body(), JSON)
        if path == "/api/events":
            return self._events()
        handler = self._api.get(path)
        if handler is None:
            if path.startswith("/api/"):
                raise NotFoundError(f"no API route {path}")
            return respond(404, b"not found\n", TEXT)
        return respond(200, to_json(handler(self.pages, Query(query))), JSON)

    def _file(self, name: str) -> Response:
        body = self.static.read(name)
        if body is None:
            return respond(404, b"not found\n", TEXT)
        return respond(200, body, _content_type(name), cache="no-cache")

    def _events(self) -> Response:
        with self._lock:
            if self._streams >= self.max_streams:
                return error(503, "too many open event streams", extra=(("Retry-After", "5"),))
        return respond(200, self._stream(), EVENT_STREAM, extra=(("X-Accel-Buffering", "no"),))

    def _stream(self) -> Iterator[bytes]:
        """The event stream; counted while it is being read (a stream never read, as for HEAD, is not)."""
        with self._lock:
            self._streams += 1
        try:
            yield b"retry: 2000\n\n"
            version = self.feed.version()
            yield changed(version)
            while not self.feed.stopping:
                now = self.feed.wait_for_change(version, timeout_s=self.heartbeat_s)
                if self.feed.stopping:
                    return
                if now != version:
                    version = now
                    yield changed(version)
                else:
                    yield b": keep-alive\n\n"
        finally:
            with self._lock:
                self._streams -= 1


def changed(version: int) -> bytes:
    """One server-sent event: the snapshot is now at `version`."""
    return b"event: changed\ndata: " + to_json({"version": version}) + b"\n\n"


__all__ = ["CSP", "SECURITY_HEADERS", "App", "ChangeFeed", "PageSource", "Response", "Router", "StaticFiles", "changed"]

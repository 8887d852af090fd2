"""The dashboard's router, without a socket: each API route reaches its page with the query's values, bad
queries are 400 with a message, unknown resources 404, anything but GET/HEAD 405; static files are served
by listed name only (no path traversal); the event stream is framed as server-sent events; every answer
carries the security headers and the API is never cached."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from controller.dashboard.routes import CSP, Response, Router, StaticFiles, changed
from controller.errors import GenaiopsError, NotFoundError, TransientError, UserError


class FakePages:
    """Records what each page was asked for and answers with it; `fail` raises instead."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.fail: BaseException | None = None

    def _page(self, page: str, /, **query: Any) -> Any:
        self.asked.append((page, query))
        if self.fail is not None:
            raise self.fail
        return {"page": page, **query}

    def overview_body(self) -> bytes:
        if self.fail is not None:
            raise self.fail
        return b'{"resources": []}'

    def rollout(self, *, kind: str, name: str, part: str = "") -> Any:
        return self._page("rollout", kind=kind, name=name, part=part)

    def experiment(self, *, kind: str, name: str, part: str = "") -> Any:
        return self._page("experiment", kind=kind, name=name, part=part)

    def prompts(self) -> Any:
        return self._page("prompts")

    def prompt(self, *, name: str) -> Any:
        return self._page("prompt", name=name)

    def prompt_diff(self, *, name: str, a: str, b: str) -> Any:
        return self._page("prompt-diff", name=name, a=a, b=b)

    def cost(self, *, since: str = "30d", by: str = "endpoint") -> Any:
        return self._page("cost", since=since, by=by)

    def audit_log(self, *, text: str = "", event: str = "", resource: str = "", limit: int = 200) -> Any:
        return self._page("audit", text=text, event=event, resource=resource, limit=limit)


class FakeFeed:
    """A snapshot version that moves when the test says, and a stop switch."""

    def __init__(self, versions: list[int]) -> None:
        self.versions = versions  # what each wait_for_change answers, in turn
        self.current = versions[0]
        self.stopping = False

    def version(self) -> int:
        return self.current

    def wait_for_change(self, version: int, *, timeout_s: float) -> int:
        if len(self.versions) > 1:
            self.versions.pop(0)
        else:
            self.stopping = True
        self.current = self.versions[0]
        return self.current


@pytest.fixture
def pages() -> FakePages:
    return FakePages()


@pytest.fixture
def router(pages: FakePages) -> Router:
    return Router(pages, FakeFeed([1]), heartbeat_s=0.01)


def get(router: Router, target: str, method: str = "GET", **headers: str) -> Response:
    return router(method=method, target=target, headers=headers)


def body_of(response: Response) -> Any:
    assert isinstance(response.body, bytes)
    return json.loads(response.body)


@pytest.mark.parametrize(
    ("target", "page", "query"),
    [
        (
            "/api/rollout?kind=Endpoint&name=chat&part=primary",
            "rollout",
            {"kind": "Endpoint", "name": "chat", "part": "primary"},
        ),
        ("/api/rollout?kind=Prompt&name=greet", "rollout", {"kind": "Prompt", "name": "greet", "part": ""}),
        ("/api/experiment?kind=Endpoint&name=ab", "experiment", {"kind": "Endpoint", "name": "ab", "part": ""}),
        ("/api/prompts", "prompts", {}),
        ("/api/prompt?name=greet", "prompt", {"name": "greet"}),
        ("/api/prompt-diff?name=greet&a=v1&b=v2", "prompt-diff", {"name": "greet", "a": "v1", "b": "v2"}),
        ("/api/cost", "cost", {"since": "30d", "by": "endpoint"}),
        ("/api/cost?since=7d&by=prompt", "cost", {"since": "7d", "by": "prompt"}),
        ("/api/audit", "audit", {"text": "", "event": "", "resource": "", "limit": 200}),
        (
            "/api/audit?q=error%20rate&event=rollout-aborted&resource=chat&limit=5",
            "audit",
            {"text": "error rate", "event": "rollout-aborted", "resource": "chat", "limit": 5},
        ),
    ],
)
def test_each_api_route_asks_its_page_for_the_querys_values(
    router: Router, pages: FakePages, target: str, page: str, query: dict[str, Any]
) -> None:
    response = get(router, target)
    assert response.status == 200, response.body
    assert response.header("Content-Type") == "application/json"
    assert pages.asked == [(page, query)]
    assert body_of(response) == {"page": page, **query}


def test_the_overview_is_served_as_the_snapshot_built_it(router: Router) -> None:
    response = get(router, "/api/overview")
    assert response.status == 200 and response.body == b'{"resources": []}'


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/api/rollout?name=chat", "kind is required"),
        ("/api/rollout?kind=Endpoint", "name is required"),
        ("/api/prompt", "name is required"),
        ("/api/audit?limit=0", "limit: a whole number from 1 to 5000"),
        ("/api/audit?limit=many", "limit: a whole number"),
        ("/api/audit?limit=-3", "limit: a whole number"),
    ],
)
def test_a_bad_query_is_a_400_with_a_message(router: Router, target: str, message: str) -> None:
    response = get(router, target)
    assert response.status == 400
    assert message in body_of(response)["error"]


@pytest.mark.parametrize(
    ("raised", "status", "message"),
    [
        (NotFoundError("no canary Endpoint named 'x'"), 404, "no canary Endpoint named 'x'"),
        (UserError("kind: Endpoint or Prompt (got 'Model')"), 400, "kind: Endpoint or Prompt"),
        (TransientError("still reading the target"), 503, "still reading the target"),
        (GenaiopsError("DEADLINE_EXCEEDED"), 502, "the target did not answer: DEADLINE_EXCEEDED"),
        (RuntimeError("secret detail"), 500, "internal error"),
    ],
)
def test_failures_of_a_page_become_error_responses(
    router: Router, pages: FakePages, raised: BaseException, status: int, message: str
) -> None:
    pages.fail = raised
    response = get(router, "/api/rollout?kind=Endpoint&name=x")
    assert response.status == status
    assert message in body_of(response)["error"]
    assert "secret detail" not in body_of(response)["error"]


def test_an_unknown_api_route_is_a_json_404_and_an_unknown_page_a_plain_one(router: Router) -> None:
    api = get(router, "/api/nothing")
    assert api.status == 404 and "no API route /api/nothing" in body_of(api)["error"]
    page = get(router, "/nowhere")
    assert page.status == 404 and page.header("Content-Type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_get_and_head_are_allowed(router: Router, pages: FakePages, method: str) -> None:
    response = get(router, "/api/prompts", method=method)
    assert response.status == 405
    assert response.header("Allow") == "GET, HEAD"
    assert "read-only" in body_of(response)["error"]
    assert pages.asked == []


def test_the_page_and_its_static_files_are_served_with_their_content_types(router: Router) -> None:
    index = get(router, "/")
    assert index.status == 200
    assert index.header("Content-Type") == "text/html; charset=utf-8"
    assert isinstance(index.body, bytes) and b"<html" in index.body
    names = StaticFiles().names
    assert "index.html" in names
    for name in names:
        response = get(router, f"/static/{name}")
        assert response.status == 200, name
        assert response.header("Cache-Control") == "no-cache"
    if "app.css" in names:
        assert get(router, "/static/app.css").header("Content-Type") == "text/css; charset=utf-8"
    if "app.js" in names:
        assert get(router, "/static/app.js").header("Content-Type") == "text/javascript; charset=utf-8"


@pytest.mark.parametrize(
    "target",
    [
        "/static/../page_data.py",
        "/static/%2e%2e/page_data.py",
        "/static/..%2fpage_data.py",
        "/static/../../../../etc/passwd",
        "/static//etc/passwd",
        "/static/",
        "/static/./index.html",
        "/static/sub/index.html",
        "/static/INDEX.HTML",
        "/static/__init__.py",
    ],
)
def test_a_static_path_that_is_not_a_listed_file_name_is_refused(router: Router, target: str) -> None:
    response = get(router, target)
    assert response.status == 404
    assert response.body == b"not found\n"


def test_every_answer_carries_the_security_headers_and_the_api_is_never_cached(router: Router) -> None:
    for target, method in (("/", "GET"), ("/api/prompts", "GET"), ("/api/x", "GET"), ("/api/prompts", "POST")):
        response = get(router, target, method=method)
        assert response.header("Content-Security-Policy") == CSP
        assert response.header("X-Content-Type-Options") == "nosniff"
        assert response.header("X-Frame-Options") == "DENY"
        assert response.header("Referrer-Policy") == "no-referrer"
    assert get(router, "/api/prompts").header("Cache-Control") == "no-store"
    assert "script-src 'self';" in CSP and "style-src 'self';" in CSP and "unsafe" not in CSP
    assert "default-src 'none'" in CSP and "frame-ancestors 'none'" in CSP


def _chunks(response: Response, count: int) -> list[bytes]:
    assert not isinstance(response.body, bytes)
    stream: Iterator[bytes] = response.body
    found = [chunk for _, chunk in zip(range(count), stream, strict=False)]
    stream.close()
    return found


def test_the_event_stream_announces_each_new_version_and_keeps_alive_between(pages: FakePages) -> None:
    feed = FakeFeed([3, 3, 4, 4])
    router = Router(pages, feed, heartbeat_s=0.01)
    response = get(router, "/api/events")
    assert response.status == 200
    assert response.header("Content-Type") == "text/event-stream; charset=utf-8"
    assert response.header("Cache-Control") == "no-store"
    chunks = _chunks(response, 10)
    assert chunks == [
        b"retry: 2000\n\n",
        b'event: changed\ndata: {"version":3}\n\n',
        b": keep-alive\n\n",
        b'event: changed\ndata: {"version":4}\n\n',
        b": keep-alive\n\n",
    ]
    assert changed(7) == b'event: changed\ndata: {"version":7}\n\n'


def test_event_streams_are_limited_and_counted_only_while_read(pages: FakePages) -> None:
    router = Router(pages, FakeFeed([1, 1, 1, 1, 1]), heartbeat_s=0.01, max_streams=1)
    first = get(router, "/api/events")
    assert not isinstance(first.body, bytes)
    next(first.body)  # reading: counted
    refused = get(router, "/api/events")
    assert refused.status == 503 and "too many" in body_of(refused)["error"]
    first.body.close()
    unread = get(router, "/api/events", method="HEAD")  # never read (HEAD): never counted
    assert unread.status == 200
    assert get(router, "/api/events").status == 200

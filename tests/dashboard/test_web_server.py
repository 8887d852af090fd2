"""The dashboard's HTTP server and its access rules, over real HTTP on loopback: no login on loopback (and
only loopback host names answered there); beyond loopback the server refuses to start without a token or
IAP; a token is checked on every request (bearer header, or the cookie `?token=` sets once); behind IAP
the IAP header is required; the event stream arrives as it is written; and `reconcile --ui`'s telemetry
server hands every path but its probes and metrics to the same guarded router."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from controller.dashboard.access import IAP_HEADER, Access, is_loopback
from controller.dashboard.routes import Router
from controller.dashboard.web_server import DashboardServer, redacted, serve
from controller.errors import UserError
from controller.providers.telemetry import Telemetry
from tests.dashboard.test_routes import FakeFeed, FakePages

TOKEN = "s3cret-token-0123456789"


@pytest.fixture
def router() -> Router:
    return Router(FakePages(), FakeFeed([1, 1, 2, 2]), heartbeat_s=0.05)


@pytest.fixture
def start(router: Router) -> Iterator[Any]:
    servers: list[DashboardServer] = []

    def start_with(access: Access) -> DashboardServer:
        server = serve(router, access, host="127.0.0.1", port=0)
        servers.append(server)
        return server

    yield start_with
    for server in servers:
        server.stop()


def request(
    server: DashboardServer | str, path: str, *, method: str = "GET", **headers: str
) -> http.client.HTTPResponse:
    url = server.url if isinstance(server, DashboardServer) else server
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
    return connection.getresponse()


def test_on_loopback_the_dashboard_needs_no_login(start: Any) -> None:
    server = start(Access.for_bind("127.0.0.1", token=None, behind_iap=False))
    answer = request(server, "/api/prompts")
    assert answer.status == 200
    assert json.loads(answer.read()) == {"page": "prompts"}
    assert answer.getheader("X-Content-Type-Options") == "nosniff"
    assert request(server, "/").status == 200


def test_on_loopback_a_request_naming_another_host_is_refused(start: Any) -> None:
    server = start(Access.for_bind("127.0.0.1", token=None, behind_iap=False))
    answer = request(server, "/api/prompts", Host="attacker.example:8080")
    assert answer.status == 403
    assert "only on loopback" in json.loads(answer.read())["error"]
    assert request(server, "/api/prompts", Host="localhost:8080").status == 200
    assert request(server, "/api/prompts", Host="[::1]:8080").status == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "dashboard.internal", "192.168.0.10"])
def test_beyond_loopback_the_dashboard_refuses_to_start_without_a_token_or_iap(host: str) -> None:
    with pytest.raises(UserError, match=r"beyond loopback, without a login: pass --token"):
        Access.for_bind(host, token=None, behind_iap=False)
    assert Access.for_bind(host, token=TOKEN, behind_iap=False).token == TOKEN
    assert Access.for_bind(host, token=None, behind_iap=True).behind_iap


@pytest.mark.parametrize(("token", "why"), [("short", "at least 16"), ("has spaces in it, quite long", "only letters")])
def test_a_weak_or_unsafe_token_is_refused(token: str, why: str) -> None:
    with pytest.raises(UserError, match=why):
        Access.for_bind("0.0.0.0", token=token, behind_iap=False)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        *[("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("[::1]", True), ("localhost", True)],
        *[("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("example.com", False), ("", False)],
    ],
)
def test_loopback_addresses_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_token_is_checked_on_every_request(start: Any) -> None:
    server = start(Access(loopback=False, token=TOKEN))
    missing = request(server, "/api/prompts")
    assert missing.status == 401
    assert missing.getheader("WWW-Authenticate") == 'Bearer realm="genaiops dashboard"'
    assert "a token is needed" in json.loads(missing.read())["error"]
    wrong = request(server, "/api/prompts", Authorization="Bearer " + TOKEN[:-1] + "x")
    assert wrong.status == 401 and "wrong token" in json.loads(wrong.read())["error"]
    assert request(server, "/api/prompts", Authorization=f"Bearer {TOKEN}").status == 200
    assert request(server, "/", Authorization=f"Bearer {TOKEN}").status == 200
    assert request(server, "/api/prompts", Cookie=f"other=1; token={TOKEN}").status == 200
    assert request(server, "/api/prompts", Cookie="token=nope").status == 401
    assert request(server, "/api/prompts?token=nope").status == 401


def test_opening_a_page_with_the_token_once_sets_a_cookie_and_drops_it_from_the_address(start: Any) -> None:
    server = start(Access(loopback=False, token=TOKEN))
    answer = request(server, f"/api/audit?q=chat&token={TOKEN}&limit=5")
    assert answer.status == 303
    assert answer.getheader("Location") == "/api/audit?q=chat&limit=5"
    cookie = answer.getheader("Set-Cookie") or ""
    assert cookie.startswith(f"token={TOKEN};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    followed = request(server, "/api/audit?q=chat&limit=5", Cookie=cookie.split(";")[0])
    assert followed.status == 200
    assert json.loads(followed.read())["limit"] == 5


def test_behind_iap_the_iap_header_is_required(start: Any) -> None:
    server = start(Access.for_bind("0.0.0.0", token=None, behind_iap=True))
    refused = request(server, "/api/prompts")
    assert refused.status == 401 and "Identity-Aware Proxy" in json.loads(refused.read())["error"]
    assert request(server, "/api/prompts", **{IAP_HEADER: "eyJhbGciOi.jwt.sig"}).status == 200


def test_the_server_answers_other_methods_with_405(start: Any) -> None:
    server = start(Access.for_bind("127.0.0.1", token=None, behind_iap=False))
    for method in ("POST", "DELETE", "PUT"):
        answer = request(server, "/api/prompts", method=method)
        assert answer.status == 405 and answer.getheader("Allow") == "GET, HEAD"
    head = request(server, "/api/prompts", method="HEAD")
    assert head.status == 200 and head.read() == b""


def test_the_event_stream_arrives_as_it_is_written(start: Any) -> None:
    server = start(Access.for_bind("127.0.0.1", token=None, behind_iap=False))
    answer = request(server, "/api/events")
    assert answer.status == 200
    assert answer.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    text = answer.read().decode()  # FakeFeed stops after its versions: the stream ends, the connection closes
    assert text.startswith('retry: 2000\n\nevent: changed\ndata: {"version":1}\n\n')
    assert 'event: changed\ndata: {"version":2}\n\n' in text and ": keep-alive\n\n" in text


def test_the_telemetry_server_serves_the_guarded_dashboard_beside_its_probes(router: Router) -> None:
    telemetry = Telemetry(interval_s=1)
    server = telemetry.serve("127.0.0.1", 0)
    try:
        assert request(server.url, "/api/prompts").status == 404  # no --ui: nothing but the telemetry
        telemetry.set_fallback(Access(loopback=False, token=TOKEN).guard(router))
        assert request(server.url, "/healthz").status == 200  # probes and metrics need no login
        assert request(server.url, "/metrics").status == 200
        assert request(server.url, "/api/prompts").status == 401
        answer = request(server.url, "/api/prompts", Authorization=f"Bearer {TOKEN}")
        assert answer.status == 200 and json.loads(answer.read()) == {"page": "prompts"}
        assert request(server.url, "/", Authorization=f"Bearer {TOKEN}").status == 200
        assert request(server.url, "/api/prompts", method="POST").status == 401
        events = request(server.url, "/api/events", Authorization=f"Bearer {TOKEN}")
        assert events.read().decode().startswith("retry: 2000\n\n")
    finally:
        telemetry.stop()


def test_tokens_never_reach_the_logs(start: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = start(Access(loopback=False, token=TOKEN))
    caplog.set_level("DEBUG", logger="genaiops.dashboard")
    request(server, f"/api/prompts?token={TOKEN}")
    request(server, "/api/prompts", Authorization=f"Bearer {TOKEN}")
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:  # a malformed request line
        raw.sendall(f"GET /x?token={TOKEN} HTTP/1.1 extra\r\n\r\n".encode())
        raw.recv(4096)
    server.stop()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "dashboard http: GET /api/prompts 303" in logged
    assert TOKEN not in logged
    assert redacted(f"GET /?a=1&token={TOKEN}&b=2 Bearer {TOKEN}") == "GET /?a=1&token=<redacted>&b=2 Bearer <redacted>"

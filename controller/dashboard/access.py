"""Who may read the dashboard. It changes nothing, but it shows the whole fleet, so:

- bound to loopback (127.0.0.1, ::1, localhost) it needs no login, and answers only requests that name a
  loopback host (a web page elsewhere cannot reach it by pointing a DNS name at 127.0.0.1);
- bound to any other address it refuses to start unless it has a token (`--token`, or
  GENAIOPS_DASHBOARD_TOKEN; at least 16 characters), checked on every request in constant time: an
  `Authorization: Bearer TOKEN` header, or the `token` cookie that opening any page with `?token=TOKEN`
  sets once (then redirected to the same address without it);
- or it sits behind Identity-Aware Proxy (`--behind-iap`): every request must carry the
  `x-goog-iap-jwt-assertion` header IAP adds. The signature is left to IAP: the port must be reachable
  only through the IAP-protected load balancer (docs/dashboard.md shows the firewall rule), since the
  header alone proves nothing to a client that can reach the port directly.

`Access.guard(app)` wraps the router: the same rules for `genaiops dashboard` and `reconcile --ui`.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from controller.dashboard.routes import App, Response, error, respond
from controller.errors import UserError

MIN_TOKEN_LENGTH = 16
IAP_HEADER = "x-goog-iap-jwt-assertion"
COOKIE = "token"
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")
_LOOPBACK_NAMES = ("localhost", "localhost.")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1), with or without brackets."""
    bare = host.strip().strip("[]").lower()
    if bare in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The host of a Host header (`127.0.0.1:8080`, `[::1]:80`, `localhost`)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass(frozen=True)
class Access:
    """The checks every request passes before the router sees it."""

    loopback: bool
    token: str | None = None
    behind_iap: bool = False

    @classmethod
    def for_bind(cls, host: str, *, token: str | None, behind_iap: bool) -> Access:
        """The rules for a server bound to `host`; UserError (saying what to do) when a bind beyond loopback
        has neither a token nor IAP in front, or the token is too short to guess."""
        token = token or None
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise UserError(
                f"the dashboard token must be at least {MIN_TOKEN_LENGTH} characters (e.g. `openssl rand -hex 24`)"
            )
        if token is not None and not _TOKEN.fullmatch(token):
            raise UserError("the dashboard token may hold only letters, digits and . _ ~ + / = - (a cookie carries it)")
        loopback = is_loopback(host)
        if not loopback and token is None and not behind_iap:
            raise UserError(
                f"refusing to serve the dashboard on {host}, beyond loopback, without a login: pass --token "
                "(or set GENAIOPS_DASHBOARD_TOKEN), or --behind-iap when Identity-Aware Proxy is in front "
                "(see docs/dashboard.md); or bind 127.0.0.1"
            )
        return cls(loopback=loopback, token=token, behind_iap=behind_iap)

    def check(self, *, target: str, headers: Mapping[str, str]) -> Response | None:
        """None when the request may go on; else the answer (401, 403, or the redirect that sets the cookie)."""
        if self.loopback and self.token is None and not self.behind_iap:
            host = _host_name(headers.get("host", ""))
            if host and not is_loopback(host):
                return error(403, f"this dashboard answers only on loopback addresses, not {host!r}")
        if self.behind_iap and not headers.get(IAP_HEADER):
            return error(401, "this dashboard is served behind Identity-Aware Proxy: open it through the proxy")
        if self.token is None:
            return None
        return self._check_token(target, headers)

    def _check_token(self, target: str, headers: Mapping[str, str]) -> Response | None:
        assert self.token is not None
        given = _bearer(headers.get("authorization", "")) or _cookie(headers.get("cookie", ""))
        if given is not None and _same(given, self.token):
            return None
        split = urlsplit(target)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        offered = next((v for k, v in reversed(pairs) if k == "token"), None)
        if offered is not None and _same(offered, self.token):
            rest = urlencode([(k, v) for k, v in pairs if k != "token"])
            location = urlunsplit(("", "", split.path or "/", rest, ""))
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            return respond(
                303, b"", "text/plain; charset=utf-8", extra=(("Location", location), ("Set-Cookie", cookie))
            )
        why = "wrong token" if given is not None or offered is not None else "a token is needed"
        return error(
            401,
            f"{why}: open the dashboard once with ?token=TOKEN (a cookie keeps it), "
            "or send Authorization: Bearer TOKEN",
            extra=(("WWW-Authenticate", 'Bearer realm="genaiops dashboard"'),),
        )

    def guard(self, app: App) -> App:
        """`app` behind these checks."""

        def guarded(*, method: str, target: str, headers: Mapping[str, str]) -> Response:
            refused = self.check(target=target, headers=headers)
            return refused if refused is not None else app(method=method, target=target, headers=headers)

        return guarded


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def _bearer(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _cookie(header: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


__all__ = ["IAP_HEADER", "MIN_TOKEN_LENGTH", "Access", "is_loopback"]

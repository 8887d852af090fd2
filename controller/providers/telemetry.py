"""Telemetry for `genaiops reconcile --watch`: Prometheus metrics plus the `/healthz` and `/readyz` probes,
served over HTTP from a background thread.

It sits at the edge (prometheus-client and a socket): the reconcile loop calls the plain methods below
after each pass (`pass_finished`, `set_resources`, `set_rollout`, ...), and `heartbeat()` whenever it is
alive and making progress. Nothing here decides anything; it only records what the loop reports.

Each `Telemetry` owns its own CollectorRegistry, never the process-global one, so several instances (tests,
two controllers in one process) never collide.

Probes, as Kubernetes uses them:
- `/healthz` (liveness) is 200 while the loop heartbeats; 503 once no heartbeat came for longer than
  `stale_after_s` (default 3 x the loop interval), so a wedged loop gets its pod restarted.
- `/readyz` (readiness) is 200 once the loop said so with `set_ready(True)` (first pass done, as leader or
  as standby) and the loop is healthy; 503 before, and after `set_ready(False)` (e.g. on SIGTERM).

Every other request goes to the `fallback` web app when one is set (`reconcile --ui`: the dashboard, which
checks its own access rules), else 404; the probes and /metrics never need its login.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder, generate_latest

from controller.observed import Phase
from controller.ports import WebApp, WebResponse

log = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = ("in_sync", "out_of_sync", "failed", "suspended")
PHASES: tuple[str, ...] = tuple(phase.value for phase in Phase)
PASS_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


@dataclass(frozen=True)
class TelemetryServer:
    """A running metrics/probe server: where it listens, and the handles to stop it."""

    host: str
    port: int
    httpd: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:9090."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


_TOKEN_IN_TEXT = re.compile(r"(token=|bearer\s+)[^&\s'\"]+", re.IGNORECASE)  # a dashboard token, for logs
ERROR_KINDS = ("invalid_commit", "resource", "pass")  # what the reconcile loop reports


class _Metrics:
    """The series, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.passes = Counter(
            "genaiops_reconcile_passes", "Reconcile passes, by result.", ["result"], registry=registry
        )
        self.pass_duration = Histogram(
            "genaiops_reconcile_pass_duration_seconds",
            "Wall-clock duration of a reconcile pass.",
            buckets=PASS_DURATION_BUCKETS,
            registry=registry,
        )
        self.last_success = Gauge(
            "genaiops_reconcile_last_success_timestamp_seconds",
            "Unix time at which the last successful pass finished.",
            registry=registry,
        )
        self.errors = Counter(
            "genaiops_reconcile_errors", "Errors met by the loop, by kind.", ["kind"], registry=registry
        )
        for kind in ERROR_KINDS:  # present from the start at 0, so rate() and alerts work before any error
            self.errors.labels(kind=kind)
        for result in ("ok", "error"):
            self.passes.labels(result=result)
        self.drift = Gauge(
            "genaiops_drift_resources", "Resources changed outside genaiops at the last pass.", registry=registry
        )
        self.resources = Gauge(
            "genaiops_resources",
            "Managed resources at the last pass, by kind and status.",
            ["kind", "status"],
            registry=registry,
        )
        self.rollout_phase = Gauge(
            "genaiops_rollout_phase",
            "Rollout phase per endpoint deployment: 1 for the current phase, 0 for the others.",
            ["endpoint", "deployment", "phase"],
            registry=registry,
        )
        self.canary_weight = Gauge(
            "genaiops_canary_weight_percent",
            "Traffic percent sent to the canary of a rollout.",
            ["endpoint", "deployment"],
            registry=registry,
        )
        self.prompt_rollout_phase = Gauge(
            "genaiops_prompt_rollout_phase",
            "Rollout phase per prompt label: 1 for the current phase, 0 for the others.",
            ["prompt", "label", "phase"],
            registry=registry,
        )
        self.prompt_canary_weight = Gauge(
            "genaiops_prompt_canary_weight_percent",
            "Percent of a prompt label's requests routed to the candidate version.",
            ["prompt", "label"],
            registry=registry,
        )
        self.commit = Gauge(
            "genaiops_applied_commit_info",
            "The git commit last applied (value is always 1).",
            ["sha"],
            registry=registry,
        )
        self.leader = Gauge("genaiops_leader", "1 when this replica holds the lease, else 0.", registry=registry)
        for result in ("ok", "error"):
            self.passes.labels(result=result)


class Telemetry:
    """Metrics and probe state of one controller process; optionally served over HTTP."""

    def __init__(
        self,
        *,
        interval_s: float = 60.0,
        stale_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.stale_after_s = stale_after_s if stale_after_s is not None else 3 * interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_heartbeat = clock()  # a fresh process counts as alive until it has had time to heartbeat
        self._ready = False
        self._server: TelemetryServer | None = None
        self._rollouts: set[tuple[str, str]] = set()
        self._metrics = _Metrics(self.registry)
        self.fallback: WebApp | None = None  # answers every other path (the dashboard with `reconcile --ui`)

    # --- what the loop reports ---------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """The loop is alive and making progress."""
        with self._lock:
            self._last_heartbeat = self._clock()

    def pass_finished(self, duration_s: float, ok: bool) -> None:
        """One pass ended (ok: without errors); also a heartbeat."""
        self._metrics.passes.labels(result="ok" if ok else "error").inc()
        self._metrics.pass_duration.observe(max(duration_s, 0.0))
        if ok:
            self._metrics.last_success.set_to_current_time()
        self.heartbeat()

    def error(self, kind: str) -> None:
        """Count one error of `kind` (e.g. transient, permanent, conflict, validation, git, lock)."""
        self._metrics.errors.labels(kind=kind).inc()

    def set_resources(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Replace the resource counts: {(kind, status): n}; every status of a listed kind is exported."""
        unknown = sorted({status for _, status in counts} - set(STATUSES))
        if unknown:
            raise ValueError(f"unknown resource status {unknown}; expected one of {list(STATUSES)}")
        gauge = self._metrics.resources
        gauge.clear()
        for kind in sorted({kind for kind, _ in counts}):
            for status in STATUSES:
                gauge.labels(kind=kind, status=status).set(counts.get((kind, status), 0))

    def set_drift(self, count: int) -> None:
        """How many resources were found changed outside genaiops at the last pass."""
        self._metrics.drift.set(count)

    def set_rollout(self, endpoint: str, deployment: str, phase: str, weight: float) -> None:
        """The rollout of `deployment` on `endpoint` is in `phase` with `weight` percent on the canary."""
        if phase not in PHASES:
            raise ValueError(f"unknown rollout phase {phase!r}; expected one of {list(PHASES)}")
        for known in PHASES:
            value = 1.0 if known == phase else 0.0
            self._metrics.rollout_phase.labels(endpoint=endpoint, deployment=deployment, phase=known).set(value)
        self._metrics.canary_weight.labels(endpoint=endpoint, deployment=deployment).set(weight)
        with self._lock:
            self._rollouts.add((endpoint, deployment))

    def set_prompt_rollout(self, prompt: str, label: str, phase: str, weight: float) -> None:
        """The canary of `prompt` on `label` is in `phase` with `weight` percent of its requests on the candidate."""
        if phase not in PHASES:
            raise ValueError(f"unknown rollout phase {phase!r}; expected one of {list(PHASES)}")
        for known in PHASES:
            self._metrics.prompt_rollout_phase.labels(prompt=prompt, label=label, phase=known).set(
                1.0 if known == phase else 0.0
            )
        self._metrics.prompt_canary_weight.labels(prompt=prompt, label=label).set(weight)

    def clear_rollout(self, endpoint: str, deployment: str | None = None) -> None:
        """Forget the rollout series of one deployment, or of every deployment of `endpoint`."""
        with self._lock:
            gone = {key for key in self._rollouts if key[0] == endpoint and deployment in (None, key[1])}
            self._rollouts -= gone
        for endpoint_, deployment_ in gone:
            for phase in PHASES:
                self._metrics.rollout_phase.remove(endpoint_, deployment_, phase)
            self._metrics.canary_weight.remove(endpoint_, deployment_)

    def set_commit(self, sha: str) -> None:
        """The commit whose manifests were last applied (replaces the previous one)."""
        self._metrics.commit.clear()
        self._metrics.commit.labels(sha=sha).set(1)

    def set_leader(self, leader: bool) -> None:
        """Whether this replica holds the lease (1) or is a standby (0)."""
        self._metrics.leader.set(1 if leader else 0)

    def set_ready(self, ready: bool) -> None:
        """Ready: the first pass is done, as leader or standby. Set False when shutting down."""
        with self._lock:
            self._ready = ready

    # --- probes ------------------------------------------------------------------------------------------

    def seconds_since_heartbeat(self) -> float:
        """Seconds since the last heartbeat (or since this object was created)."""
        with self._lock:
            return self._clock() - self._last_heartbeat

    def healthy(self) -> bool:
        """True while the last heartbeat is no older than `stale_after_s`."""
        return self.seconds_since_heartbeat() <= self.stale_after_s

    def ready(self) -> bool:
        """True once the loop said it is ready, while it stays healthy."""
        with self._lock:
            ready = self._ready
        return ready and self.healthy()

    def exposition(self) -> str:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry).decode("utf-8")

    # --- HTTP --------------------------------------------------------------------------------------------

    def set_fallback(self, app: WebApp | None) -> None:
        """Answer every path but /metrics, /healthz and /readyz with `app` (None: 404 again)."""
        self.fallback = app

    def serve(self, host: str = "0.0.0.0", port: int = 9090) -> TelemetryServer:
        """Start serving /metrics, /healthz and /readyz (and the fallback's paths) on a daemon thread; port 0
        picks a free port."""
        if self._server is not None:
            raise RuntimeError(f"telemetry is already served on {self._server.url}")
        httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        httpd.daemon_threads = True
        # a short poll keeps stop() (SIGTERM) prompt; 10 wake-ups a second cost nothing measurable
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="genaiops-telemetry", daemon=True
        )
        thread.start()
        self._server = TelemetryServer(host=host, port=int(httpd.server_address[1]), httpd=httpd, thread=thread)
        log.info("serving metrics and probes", extra={"address": self._server.url})
        return self._server

    def stop(self) -> None:
        """Stop the HTTP server, if any (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=5)


def _handler_for(telemetry: Telemetry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "genaiops-telemetry"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._send(200, encoder(telemetry.registry), content_type)
            elif path == "/healthz":
                self._probe(telemetry.healthy(), _health_detail(telemetry))
            elif path == "/readyz":
                self._probe(telemetry.ready(), "ready" if telemetry.ready() else _not_ready_detail(telemetry))
            elif telemetry.fallback is not None:
                self._fallback(telemetry.fallback)
            elif path == "/":
                self._send(200, b"genaiops: /metrics /healthz /readyz\n", "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def do_HEAD(self) -> None:
            self.do_GET()

        def _other(self) -> None:
            self.close_connection = True  # a body we never read must not be taken for the next request
            if telemetry.fallback is not None:
                self._fallback(telemetry.fallback)
            else:
                self._send(405, b"only GET and HEAD\n", "text/plain; charset=utf-8")

        do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _other  # noqa: N815

        def _fallback(self, app: WebApp) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            _write(self, app(method=self.command, target=self.path, headers=headers))

        def _probe(self, ok: bool, detail: str) -> None:
            self._send(200 if ok else 503, f"{detail}\n".encode(), "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            path = self.path.split("?", 1)[0]  # never the query: a dashboard token may ride in it
            log.debug("telemetry http: %s %s %s", self.command, path, code)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("telemetry http: %s", _TOKEN_IN_TEXT.sub(r"\1<redacted>", format % args))

    return Handler


def _write(handler: BaseHTTPRequestHandler, answer: WebResponse) -> None:
    """Send a fallback's answer: a whole body with its length, or a stream chunk by chunk until the client
    goes away (then the connection closes)."""
    handler.send_response(answer.status)
    for name, value in answer.headers:
        handler.send_header(name, value)
    body = answer.body
    head = handler.command == "HEAD"
    if isinstance(body, bytes):
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)
        return
    handler.close_connection = True
    handler.end_headers()
    try:
        for chunk in () if head else body:
            handler.wfile.write(chunk)
            handler.wfile.flush()
    except OSError:
        pass  # the client went away
    finally:
        _close(body)


def _close(body: Iterator[bytes]) -> None:
    close = getattr(body, "close", None)
    if callable(close):
        close()


def _health_detail(telemetry: Telemetry) -> str:
    age = telemetry.seconds_since_heartbeat()
    if age <= telemetry.stale_after_s:
        return f"ok (last heartbeat {age:.1f}s ago)"
    return f"unhealthy: no heartbeat for {age:.1f}s (limit {telemetry.stale_after_s:g}s)"


def _not_ready_detail(telemetry: Telemetry) -> str:
    if not telemetry.healthy():
        return "not ready: " + _health_detail(telemetry)
    return "not ready: the first pass has not finished (or the controller is shutting down)"

"""`genaiops reconcile`: one pass (for CI cron) or, with --watch, the GitOps loop as a service.

With --watch the process is either the active controller or a standby: it takes the target's lease
(Cloud Storage, or a file lock locally) before acting and keeps it renewed; a standby polls for the lease
and takes over within one lease TTL when the active one dies. SIGTERM finishes the current operation,
releases the lease and exits 0. `/healthz`, `/readyz` and `/metrics` are served on --metrics-port, and with
--ui the read-only dashboard too (`genaiops dashboard`'s pages, under `/`, with its access rules: beyond
loopback --ui-token or --behind-iap; the probes and /metrics need no login).
`--interval` is at least `MIN_INTERVAL_S` (a shorter one would hammer the API in a busy loop) and at most
30 days.
With `--webhook` the rollout events and the loop's model lifecycle events (`model-retiring`,
`model-retired`) are POSTed to the URL, through one queue, in order.
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from controller.cli.calendar_opts import horizon_source
from controller.cli.console import make_console
from controller.cli.options import EXIT_ERROR, EXIT_OK, current_region, target_options, target_spec
from controller.cli.paths import OutputDir, OutputFile
from controller.cli.target import Target, open_target
from controller.cli.wiring import notifier, session_of
from controller.engine.audit import AuditLog
from controller.engine.observe import regions_of
from controller.engine.reconciler import Checkout, PassReport, Reconciler
from controller.errors import GenaiopsError, LockedError
from controller.loader import load
from controller.model import check_duration, duration_seconds
from controller.ports import TelemetryPort

log = logging.getLogger("genaiops.reconcile")

MIN_INTERVAL_S = 1.0


def interval_seconds(text: str) -> float:
    """Seconds between passes for `--interval TEXT`; ValueError (saying which rule) when it is not a
    duration of at least MIN_INTERVAL_S and at most 30 days."""
    try:
        return duration_seconds(check_duration(text, minimum_s=MIN_INTERVAL_S))
    except ValueError as err:
        if "too short" in str(err):
            raise ValueError(
                f"{text!r} is too short: at least {MIN_INTERVAL_S:g}s between passes "
                "(a shorter interval would call the API in a busy loop)"
            ) from None
        raise


class _Stop:
    """Set by SIGTERM/SIGINT; the loop and the executor check it between operations."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.reason = signal.Signals(signum).name
        self.event.set()

    def interrupted(self) -> str | None:
        return f"{self.reason} received: shutting down" if self.event.is_set() else None


def _source(
    path: Path, git_url: str | None, branch: str, git_path: str, cache_dir: Path
) -> tuple[Callable[[], Checkout], str]:
    if git_url is None:
        return (lambda: Checkout(manifests=path)), str(path)
    from controller.providers.git_source import GitSource

    source = GitSource(git_url, branch=branch, path=git_path, cache_dir=cache_dir)

    def fetch() -> Checkout:
        checkout = source.fetch()
        return Checkout(manifests=checkout.manifests, commit=checkout.sha, root=source.workdir)

    return fetch, source.describe()


def _regions(path: Path, git_url: str | None, region: str, env: str | None) -> set[str]:
    if git_url is not None:
        return {region}  # a git source is read each pass; its manifests are expected in the default region
    result = load(path, default_region=region, env=env) if env else load(path, default_region=region)
    return regions_of([i.manifest for i in result.manifests]) if result.ok else set()


def _summary(report: PassReport) -> str:
    parts = [f"commit {report.commit[:12]}" if report.commit else "working tree"]
    if report.refused_commit:
        parts.append("commit refused (invalid manifests; last good state kept)")
    parts.append(f"{len(report.applied)} applied")
    if report.failed:
        parts.append(f"{len(report.failed)} failed")
    if report.problems:
        parts.append(f"{len(report.problems)} not planned (see the errors)")
    if report.drift:
        parts.append(f"{len(report.drift)} drifted ({len(report.healed)} healed)")
    if report.waiting:
        parts.append(f"{len(report.waiting)} backing off")
    for rollout in report.rollouts:
        parts.append(f"{rollout.name} {rollout.state.phase.value} {rollout.weight}%")
    return f"pass {'ok' if report.ok else 'with errors'} in {report.duration_s:.1f}s: " + ", ".join(parts)


@click.command("reconcile")
@click.argument("path", type=click.Path(path_type=Path), default=Path("manifests"))
@target_options
@click.option("--git-url", help="Reconcile this repository (cloned and fetched each pass) instead of PATH.")
@click.option("--branch", default="main", show_default=True)
@click.option("--path", "git_path", default="manifests", show_default=True, help="Manifests directory in the repo.")
@click.option("--cache-dir", type=OutputDir(), default=Path(".genaiops/git"), show_default=True)
@click.option("--watch", is_flag=True, help="Repeat forever (a long-running controller).")
@click.option("--interval", default="1m", show_default=True, help="Time between passes (+-10% jitter), 1s to 720h.")
@click.option("--self-heal", is_flag=True, help="Correct changes made outside genaiops (else only report them).")
@click.option("--prune", is_flag=True, help="Delete managed resources that left the manifests.")
@click.option("--parallelism", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--audit-log", type=OutputFile(special_ok=True), default=Path(".genaiops/audit.log"), show_default=True)
@click.option("--webhook", envvar="GENAIOPS_WEBHOOK_URL", help="POST rollout and model events as JSON here.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, help="Serve /metrics, /healthz, /readyz.")
@click.option("--metrics-host", default="0.0.0.0", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--traffic", type=click.FloatRange(0), default=0.0, help="Local target: synthetic requests/s.")
@click.option(
    "--ui", is_flag=True, help="Also serve the read-only dashboard on --metrics-port (see docs/dashboard.md)."
)
@click.option(
    "--ui-token",
    envvar="GENAIOPS_DASHBOARD_TOKEN",
    help="The dashboard's token, required when --metrics-host is beyond loopback (unless --behind-iap).",
)
@click.option("--behind-iap", is_flag=True, help="The dashboard is behind Identity-Aware Proxy: require its header.")
def reconcile_cmd(
    path: Path,
    git_url: str | None,
    branch: str,
    git_path: str,
    cache_dir: Path,
    watch: bool,
    interval: str,
    self_heal: bool,
    prune: bool,
    parallelism: int,
    audit_log: Path,
    webhook: str | None,
    metrics_port: int | None,
    metrics_host: str,
    log_format: str,
    traffic: float,
    ui: bool,
    ui_token: str | None,
    behind_iap: bool,
    **flags: Any,
) -> None:
    """Make Vertex AI match the manifests: one pass, or --watch to keep doing it."""
    from controller.logs import configure_logging

    configure_logging("json" if log_format == "json" else "text")
    try:
        every = interval_seconds(interval)
    except ValueError as err:
        click.echo(f"Error: --interval: {err}", err=True)
        sys.exit(EXIT_ERROR)
    from controller.cli.dashboard_cmd import beside_telemetry, ui_access

    access = ui_access(ui, metrics_port=metrics_port, metrics_host=metrics_host, token=ui_token, behind_iap=behind_iap)
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    telemetry = None
    if metrics_port is not None:
        from controller.providers.telemetry import Telemetry

        telemetry = Telemetry(interval_s=every)
        server = telemetry.serve(metrics_host, metrics_port)
        log.info("serving /metrics, /healthz and /readyz on %s", server.url)
    try:
        fetch, described = _source(path, git_url, branch, git_path, cache_dir)
        fetch, latest = _tracked(fetch, None if git_url is not None else path)
        env = flags.get("env") or None
        # The environment file names the target: from a git source, read it from the first checkout.
        root = fetch().manifests if env and git_url is not None else path
        spec = target_spec(**flags, manifests=root, traffic_rps=traffic)
        region = current_region()
        with (
            open_target(spec, _regions(path, git_url, region, env)) as opened,
            beside_telemetry(telemetry, access, opened, spec, latest, region=region, env=env, audit_log=audit_log),
        ):
            log.info("reconciling %s into %s", described, opened.name)
            code = _run(
                opened,
                fetch,
                default_region=region,
                environment=env,
                stop=stop,
                watch=watch,
                every=every,
                telemetry=telemetry,
                self_heal=self_heal,
                prune=prune,
                parallelism=parallelism,
                audit_log=audit_log,
                webhook=webhook,
            )
    except GenaiopsError as err:
        log.error("%s", err)
        code = EXIT_ERROR
    finally:
        if telemetry is not None:
            telemetry.stop()
    sys.exit(code)


def _tracked(fetch: Callable[[], Checkout], first: Path | None) -> tuple[Callable[[], Checkout], list[Path | None]]:
    """`fetch`, remembering where the last checkout's manifests are (for the dashboard of --ui)."""
    latest: list[Path | None] = [first]

    def tracked() -> Checkout:
        checkout = fetch()
        latest[0] = checkout.manifests
        return checkout

    return tracked, latest


def _run(
    opened: Target,
    fetch: Callable[[], Checkout],
    *,
    stop: _Stop,
    watch: bool,
    every: float,
    telemetry: TelemetryPort | None,
    self_heal: bool,
    prune: bool,
    parallelism: int,
    audit_log: Path,
    webhook: str | None,
    default_region: str,
    environment: str | None = None,
) -> int:
    audit = AuditLog(audit_log)
    lock = opened.lock

    def interrupted() -> str | None:
        if getattr(lock, "lost", False):
            return "the lease was lost to another controller"
        return stop.interrupted()

    with notifier(webhook, make_console(stderr=True)) as notify:
        reconciler = Reconciler(
            fetch=fetch,
            session=session_of(opened),
            audit=audit,
            notify=notify,
            notify_models=notify,
            self_heal=self_heal,
            prune=prune,
            parallelism=parallelism,
            telemetry=telemetry,
            interrupted=interrupted,
            default_region=default_region,
            environment=environment,
            horizon=horizon_source(),
        )
        return _loop(reconciler, opened, stop=stop, watch=watch, every=every, telemetry=telemetry)


def _loop(
    reconciler: Reconciler, opened: Target, *, stop: _Stop, watch: bool, every: float, telemetry: TelemetryPort | None
) -> int:
    lock = opened.lock
    owner = f"reconcile {opened.name}"
    if not watch:
        lock_id = lock.acquire(owner=owner, wait_s=60)
        try:
            report = reconciler.run_pass()
        finally:
            lock.release(lock_id)
        log.info("%s", _summary(report))
        return EXIT_OK if report.ok else EXIT_ERROR
    _watch(reconciler, opened, stop=stop, every=every, telemetry=telemetry, owner=owner)
    return EXIT_OK


def _watch(
    reconciler: Reconciler, opened: Target, *, stop: _Stop, every: float, telemetry: TelemetryPort | None, owner: str
) -> None:
    """Standby until the lease is ours, then pass after pass until stopped or the lease is lost."""
    lock = opened.lock
    while not stop.event.is_set():
        if telemetry is not None:
            telemetry.heartbeat()
            telemetry.set_leader(False)
        try:
            lock_id = lock.acquire(owner=owner, wait_s=0)
        except LockedError as err:
            log.info("standby: %s", str(err).splitlines()[0])
            if telemetry is not None:
                telemetry.set_ready(True)
            stop.event.wait(min(every, 5.0))
            continue
        log.info("leader: holding the lease %s", lock_id)
        try:
            _lead(reconciler, lock, stop=stop, every=every, telemetry=telemetry)
        finally:
            lock.release(lock_id)
            log.info("released the lease")


def _lead(reconciler: Reconciler, lock: object, *, stop: _Stop, every: float, telemetry: TelemetryPort | None) -> None:
    if telemetry is not None:
        telemetry.set_leader(True)
    while not stop.event.is_set() and not getattr(lock, "lost", False):
        if telemetry is not None:
            telemetry.heartbeat()
        try:
            report = reconciler.run_pass()
            log.info("%s", _summary(report), extra={"commit": report.commit})
        except GenaiopsError as err:  # the source or the API could not be read: next pass tries again
            log.error("pass failed: %s", err)
            if telemetry is not None:
                telemetry.error("pass")
                telemetry.pass_finished(0.0, False)
        if telemetry is not None:
            telemetry.set_ready(True)
            telemetry.heartbeat()
        stop.event.wait(every * random.uniform(0.9, 1.1))  # jitter: replicas and targets drift apart
    if getattr(lock, "lost", False):
        log.warning("lost the lease; stepping down to standby")

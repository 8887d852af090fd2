"""`genaiops dashboard`: the read-only web dashboard of a target (overview, rollouts, experiments, prompts,
cost, the audit log), served over HTTP until SIGTERM or Ctrl-C.

The composition root for the dashboard: opens the target like `status` does, builds the page data on its
session (`controller.dashboard`), gives it the cost readings on the providers' cost reader (the reads
`genaiops cost` makes), and serves the router behind the access rules: loopback needs no login; any other
address needs --token (GENAIOPS_DASHBOARD_TOKEN) or --behind-iap. `reconcile --ui` serves the same pages
on its telemetry port (`dashboard_app` below).

Exit codes: 0 when stopped by a signal, 1 on an error (bad flags, manifests, an address that cannot be
bound, a bind beyond loopback without a login).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from controller.cli.apply_cmd import fail
from controller.cli.calendar_opts import horizon_source
from controller.cli.options import (
    EXIT_ERROR,
    EXIT_OK,
    current_env,
    current_region,
    load_or_exit,
    target_options,
    target_spec,
)
from controller.cli.target import Target, TargetSpec, open_target
from controller.cli.wiring import session_of
from controller.cost.report import Machine, ReplicaUsage, TokenUsage, TuningUsage
from controller.dashboard.access import Access
from controller.dashboard.page_data import DashboardSource, Pages, reloading
from controller.dashboard.routes import Router
from controller.dashboard.web_server import serve
from controller.engine.observe import regions_of
from controller.engine.planning import manifests_of
from controller.errors import GenaiopsError, TransientError, UserError
from controller.loader import LoadResult, load
from controller.model import check_duration, duration_seconds
from controller.model.catalogue.lifecycle import Horizon

if TYPE_CHECKING:
    from controller.providers.telemetry import Telemetry

log = logging.getLogger("genaiops.dashboard")


class CostReadings:
    """The cost page's readings (`dashboard.cost_page.CostReading`) on the providers' cost reader."""

    def __init__(self, target: Target, spec: TargetSpec) -> None:
        from controller.providers.cost_reader import CostReader
        from controller.providers.metric_reader import CloudMonitoringUsage

        alignment = 60 if spec.kind == "cloud" else 1
        self._target = target
        self._reader = CostReader(project=target.project, channel=target.channel, min_alignment_s=alignment)
        self._usage = CloudMonitoringUsage(project=target.project, channel=target.channel, min_alignment_s=alignment)

    def replicas(self, *, start: float, end: float) -> list[ReplicaUsage]:
        return self._reader.read_replicas(start=start, end=end)

    def machines(self, *, regions: Iterable[str]) -> Mapping[tuple[str, str, str], Machine]:
        from controller.providers.cost_reader import machines

        return machines(e for region in regions for e in self._target.ports[region].list_endpoints())

    def runtime(self, *, start: float, end: float) -> tuple[list[TokenUsage], int]:
        from controller.providers.cost_reader import token_usage
        from controller.runtime.usage import usage_rows

        totals = self._usage.read_totals(start=start, end=end)
        return token_usage(totals), usage_rows(totals, by="prompt")[1].requests

    def tuning(self, *, regions: Iterable[str]) -> list[TuningUsage]:
        return self._reader.read_tuning(regions=regions)


def dashboard_app(
    opened: Target, spec: TargetSpec, *, load_manifests: Callable[[], LoadResult], audit_log: Path, refresh_s: float
) -> tuple[Pages, Router]:
    """The page data (not yet refreshing: call `start`) and the router of the dashboard of `opened`."""
    source = DashboardSource(
        session=session_of(opened), load=load_manifests, audit_log=audit_log, cost=CostReadings(opened, spec)
    )
    pages = Pages(source, refresh_s=refresh_s)
    return pages, Router(pages, pages.snapshots)


def ui_access(
    ui: bool, *, metrics_port: int | None, metrics_host: str, token: str | None, behind_iap: bool
) -> Access | None:
    """`reconcile --ui`'s access rules (None without --ui); exits 1 when they cannot be met."""
    if not ui:
        return None
    if metrics_port is None:
        click.echo("Error: --ui serves the dashboard on --metrics-port: give one (e.g. --metrics-port 9090)", err=True)
        sys.exit(EXIT_ERROR)
    try:
        return Access.for_bind(metrics_host, token=token, behind_iap=behind_iap)
    except UserError as err:
        message = str(err).replace("--token", "--ui-token").replace("bind 127.0.0.1", "--metrics-host 127.0.0.1")
        click.echo(f"Error: {message}", err=True)
        sys.exit(EXIT_ERROR)


@contextmanager
def beside_telemetry(
    telemetry: Telemetry | None,
    access: Access | None,
    opened: Target,
    spec: TargetSpec,
    latest: list[Path | None],
    *,
    region: str,
    env: str | None,
    audit_log: Path,
) -> Iterator[None]:
    """`reconcile --ui`: the dashboard of `opened` on the telemetry server while the block runs, reading the
    manifests of the loop's last checkout (`latest[0]`) and its audit log."""
    if telemetry is None or access is None:
        yield
        return
    loaders: dict[Path, Callable[[], LoadResult]] = {}
    horizon = horizon_source()

    def load_latest() -> LoadResult:
        manifests = latest[0]
        if manifests is None:
            raise TransientError("waiting for the first checkout of the repository")
        if manifests not in loaders:
            read = partial(_load_at, manifests, region, env, horizon)
            loaders[manifests] = reloading(manifests, read)
        return loaders[manifests]()

    pages, router = dashboard_app(opened, spec, load_manifests=load_latest, audit_log=audit_log, refresh_s=2.0)
    pages.start()
    telemetry.set_fallback(access.guard(router))
    log.info("serving the dashboard beside the metrics")
    try:
        yield
    finally:
        telemetry.set_fallback(None)
        pages.stop()


def refresh_seconds(_ctx: click.Context | None, _param: click.Parameter | None, text: str) -> float:
    """`--refresh`: a duration from 500ms to 1h."""
    try:
        seconds = duration_seconds(check_duration(text, minimum_s=0.5))
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    if seconds > 3600:
        raise click.BadParameter(f"{text!r} is too long: at most 1h")
    return seconds


class _Stop:
    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.event.set()


def _load_at(path: Path, region: str, env: str | None, horizon: Callable[[], Horizon]) -> LoadResult:
    """The manifests under `path` for `env` (if any), their models judged on the day `horizon` gives now."""
    if env:
        return load(path, default_region=region, env=env, horizon=horizon())
    return load(path, default_region=region, horizon=horizon())


def _loader(path: Path) -> Callable[[], LoadResult]:
    return reloading(path, partial(_load_at, path, current_region(), current_env(), horizon_source()))


@click.command("dashboard")
@click.argument("path", type=click.Path(path_type=Path), default=Path("manifests"))
@target_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback: no login).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0: any free port.")
@click.option(
    "--token",
    envvar="GENAIOPS_DASHBOARD_TOKEN",
    help="Required beyond loopback: send `Authorization: Bearer TOKEN`, or open the page once with ?token=TOKEN.",
)
@click.option("--behind-iap", is_flag=True, help="Served behind Identity-Aware Proxy: require its header instead.")
@click.option("--refresh", default="2s", show_default=True, callback=refresh_seconds, help="How often pages update.")
@click.option("--audit-log", type=click.Path(path_type=Path), default=Path(".genaiops/audit.log"), show_default=True)
def dashboard_cmd(
    path: Path,
    host: str,
    port: int,
    token: str | None,
    behind_iap: bool,
    refresh: float,
    audit_log: Path,
    **flags: Any,
) -> None:
    """Serve the read-only web dashboard of the manifests under PATH on the target: sync and health, rollouts
    with their metrics, experiments, prompts, cost and the audit log, updated live. Actions stay in the CLI
    and git."""
    stop = _Stop()
    try:
        access = Access.for_bind(host, token=token, behind_iap=behind_iap)
        result = load_or_exit(path)
        spec = target_spec(**flags)
        with open_target(spec, regions_of(manifests_of(result))) as opened:
            pages, router = dashboard_app(
                opened, spec, load_manifests=_loader(path), audit_log=audit_log, refresh_s=refresh
            )
            try:
                server = serve(router, access, host=host, port=port)
            except OSError as err:
                raise UserError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            pages.start()
            login = "" if access.token is None else " (open it once with ?token=TOKEN; a cookie keeps it)"
            click.echo(f"Dashboard of {opened.name}: {server.url}/{login}", nl=True)
            click.echo("Read-only; Ctrl-C stops it.")
            sys.stdout.flush()
            try:
                stop.event.wait()
            finally:
                server.stop()
                pages.stop()
    except GenaiopsError as err:
        fail(str(err))
        return
    sys.exit(EXIT_OK)


__all__ = ["CostReadings", "beside_telemetry", "dashboard_app", "dashboard_cmd", "refresh_seconds", "ui_access"]

"""Rollout commands: drive canaries after apply (`apply --wait`), and `genaiops rollout status | promote |
abort | retry | pause | resume` for the humans in the loop."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click
from rich.console import Console

from controller.cli.options import EXIT_ERROR, load_or_exit, target_options
from controller.cli.paths import OutputFile
from controller.cli.target import Target, open_target, spec_from_flags
from controller.engine.audit import AuditLog
from controller.engine.notify import WebhookNotifier
from controller.engine.rollout_driver import RolloutDriver
from controller.errors import GenaiopsError, UserError
from controller.model import Endpoint
from controller.rollout.events import RolloutEvent, RolloutStatus
from controller.rollout.state import Phase
from controller.views.rollout import event_line, status_table, timeline


def canary_endpoints(manifests: Sequence[object]) -> list[Endpoint]:
    """Endpoints whose rollouts the driver advances."""
    return [m for m in manifests if isinstance(m, Endpoint) and m.spec.rollout.strategy == "canary"]


def make_driver(
    opened: Target, audit: AuditLog, webhook: str | None, console: Console
) -> tuple[RolloutDriver, Callable[[], None]]:
    """A driver on the target; the returned callable flushes the webhook."""
    notifier = None
    if webhook:
        notifier = WebhookNotifier(webhook, on_failure=lambda msg: console.print(msg, style="yellow", markup=False))
    driver = RolloutDriver(
        ports=opened.ports, metrics=opened.metrics, clock=time.time, audit=audit, notify=notifier or (lambda _: None)
    )
    return driver, (notifier.close if notifier else (lambda: None))


def drive(
    driver: RolloutDriver,
    endpoints: Sequence[Endpoint],
    *,
    wait: bool,
    timeout_s: float,
    console: Console,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[RolloutStatus], list[RolloutEvent]]:
    """Advance every rollout one step; with `wait`, keep going until each is promoted, rolled back or
    paused for a human. Polls at least every second, so a failing measurement is acted on at once."""
    deadline = time.time() + timeout_s
    events: list[RolloutEvent] = []
    while True:
        statuses = [s for e in endpoints if (s := driver.advance(e)) is not None]
        for status in statuses:
            for event in status.events:
                console.print(event_line(event), soft_wrap=True)
                events.append(event)
        active = [s for s in statuses if not s.finished and not s.waiting_for_human]
        if not wait or not active:
            return statuses, events
        if time.time() > deadline:
            raise UserError(f"timed out after {timeout_s:.0f}s waiting for rollouts: {[s.endpoint for s in active]}")
        upcoming = [s.next_at for s in active if s.next_at is not None]
        pause = min(upcoming) - time.time() if upcoming else 1.0
        sleep(min(max(pause, 0.1), 1.0))


def report(statuses: Sequence[RolloutStatus], events: Sequence[RolloutEvent], console: Console) -> bool:
    """Print the outcome; False when a rollout was rolled back during this run."""
    if not statuses:
        return True
    console.print(status_table(statuses))
    if events:
        console.print("\nTimeline:")
        for line in timeline(events):
            console.print(line, soft_wrap=True)
    aborted = {e.endpoint for e in events if e.kind == "aborted"}
    rolled_back = [s for s in statuses if s.state.phase is Phase.DEGRADED and s.endpoint in aborted]
    for status in rolled_back:
        console.print(f"Rolled back {status.endpoint}/{status.state.deployment}: {status.state.reason}", style="red")
    return not rolled_back


@click.group("rollout")
def rollout_group() -> None:
    """Watch and steer canary rollouts."""


def _endpoints(path: Path, name: str | None) -> list[Endpoint]:
    result = load_or_exit(path)
    endpoints = canary_endpoints([i.manifest for i in result.manifests])
    if name is not None:
        endpoints = [e for e in endpoints if e.metadata.name == name]
        if not endpoints:
            raise UserError(f"no canary Endpoint named {name!r} in {path}")
    return endpoints


def _with_driver(
    path: Path,
    name: str | None,
    flags: dict[str, object],
    work: Callable[[RolloutDriver, list[Endpoint], Console], None],
) -> None:
    console = Console()
    webhook = flags.pop("webhook", None)
    audit_log = Path(str(flags.pop("audit_log", ".genaiops/audit.log")))
    try:
        endpoints = _endpoints(path, name)
        spec = spec_from_flags(**flags)  # type: ignore[arg-type]
        with open_target(spec, {e.spec.region for e in endpoints}) as opened:
            driver, flush = make_driver(
                opened, AuditLog(audit_log), webhook if isinstance(webhook, str) else None, console
            )
            try:
                work(driver, endpoints, console)
            finally:
                flush()
    except GenaiopsError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(EXIT_ERROR)


def _manifests_option(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--webhook", envvar="GENAIOPS_WEBHOOK_URL", help="POST rollout events as JSON to this URL.")(fn)
    fn = click.option(
        "--audit-log", type=OutputFile(special_ok=True), default=Path(".genaiops/audit.log"), show_default=True
    )(fn)
    return click.option(
        "--manifests", "-f", "path", type=click.Path(path_type=Path), default=Path("manifests"), show_default=True
    )(fn)


@rollout_group.command("status")
@click.argument("endpoint", required=False)
@_manifests_option
@target_options
@click.option("--watch", is_flag=True, help="Refresh every 2 s until every rollout has finished or paused.")
def status_cmd(endpoint: str | None, path: Path, watch: bool, **flags: object) -> None:
    """Show where each canary rollout stands."""

    def show(driver: RolloutDriver, endpoints: list[Endpoint], console: Console) -> None:
        while True:
            statuses = [s for e in endpoints if (s := driver.status(e)) is not None]
            console.print(status_table(statuses) if statuses else "No rollouts recorded on these endpoints.")
            if not watch or all(s.finished or s.waiting_for_human for s in statuses):
                return
            time.sleep(2)

    _with_driver(path, endpoint, flags, show)


def _action(action: str, help_text: str) -> click.Command:
    @click.argument("endpoint")
    @_manifests_option
    @target_options
    def command(endpoint: str, path: Path, full: bool = False, **flags: object) -> None:
        def act(driver: RolloutDriver, endpoints: list[Endpoint], console: Console) -> None:
            status = driver.act(endpoints[0], action, full=full)
            for event in status.events if status else ():
                console.print(event_line(event))
            if status is not None:
                console.print(status_table([status]))

        _with_driver(path, endpoint, flags, act)

    command.__doc__ = help_text
    if action == "promote":
        command = click.option("--full", is_flag=True, help="Skip every remaining step.")(command)
    return click.command(action, help=help_text)(command)


for _name, _help in (
    ("promote", "Skip the current step's pause and analysis (--full: promote completely)."),
    ("abort", "Roll back now: all traffic to the stable deployed model, canary undeployed."),
    ("retry", "Forget a rolled-back revision so the next apply tries it again."),
    ("pause", "Hold the rollout at its current weight until `rollout resume`."),
    ("resume", "Continue a paused rollout (the current step starts over)."),
):
    rollout_group.add_command(_action(_name, _help))

"""Rollout commands: drive canaries after apply (`apply --wait`), and `genaiops rollout status | promote |
abort | retry | pause | resume` for the humans in the loop."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from controller.cli.options import EXIT_ERROR, load_or_exit, target_options
from controller.cli.paths import OutputFile
from controller.cli.target import Target, open_target, spec_from_flags
from controller.cli.wiring import notifier
from controller.engine.apply import canary_endpoints
from controller.engine.audit import AuditLog
from controller.engine.rollout_driver import RolloutDriver
from controller.errors import GenaiopsError, UserError
from controller.model import Endpoint
from controller.rollout.events import RolloutEvent
from controller.views.rollout import event_line, status_table


def make_driver(
    opened: Target, audit: AuditLog, notify: Callable[[RolloutEvent], None] = lambda _: None
) -> RolloutDriver:
    """A driver on the target (for the human rollout commands)."""
    return RolloutDriver(ports=opened.ports, metrics=opened.metrics, clock=time.time, audit=audit, notify=notify)


@click.group("rollout")
def rollout_group() -> None:
    """Watch and steer canary rollouts."""


def _endpoints(path: Path, name: str | None) -> list[Endpoint]:
    result = load_or_exit(path)
    endpoints = list(canary_endpoints([i.manifest for i in result.manifests]))
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
        with (
            open_target(spec, {e.spec.region for e in endpoints}) as opened,
            notifier(webhook if isinstance(webhook, str) else None, console) as notify,
        ):
            work(make_driver(opened, AuditLog(audit_log), notify), endpoints, console)
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

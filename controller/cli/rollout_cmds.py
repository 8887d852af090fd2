"""Rollout commands: drive canaries after apply (`apply --wait`), and `genaiops rollout status | promote |
abort | retry | pause | resume` for the humans in the loop."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import click
from rich.console import Console, RenderableType
from rich.live import Live

from controller.cli.console import interactive, make_console, unclipped
from controller.cli.options import EXIT_ERROR, load_or_exit, target_options, target_spec
from controller.cli.paths import OutputFile
from controller.cli.target import Target, open_target
from controller.cli.wiring import author, notifier
from controller.engine.audit import AuditLog
from controller.engine.planning import canary_endpoints, canary_prompts
from controller.engine.prompt_rollouts import PromptRolloutDriver
from controller.engine.rollout_driver import RolloutDriver
from controller.engine.rollouts import Rollouts
from controller.errors import GenaiopsError
from controller.model import check_duration, duration_seconds
from controller.rollout.events import RolloutEvent, RolloutStatus
from controller.views.rollout import change_keys, changed, event_line, status_json, status_line, status_table


def make_driver(
    opened: Target, audit: AuditLog, notify: Callable[[RolloutEvent], None] = lambda _: None
) -> RolloutDriver:
    """A driver on the target (for the human rollout commands)."""
    return RolloutDriver(ports=opened.ports, metrics=opened.metrics, clock=time.time, audit=audit, notify=notify)


def make_rollouts(
    opened: Target,
    manifests: Sequence[object],
    audit: AuditLog,
    notify: Callable[[RolloutEvent], None] = lambda _: None,
) -> Rollouts:
    """Every canary of `manifests` on the target, endpoints and prompt labels (for the human commands)."""
    endpoints, prompts = canary_endpoints(manifests), canary_prompts(manifests)
    prompt_driver = (
        PromptRolloutDriver(
            store=opened.open_prompt_store(),
            metrics=opened.prompt_metrics,
            clock=time.time,
            audit=audit,
            notify=notify,
            author=author(),
        )
        if prompts
        else None
    )
    endpoint_driver = make_driver(opened, audit, notify) if endpoints else None
    return Rollouts(endpoints, prompts, endpoint_driver, prompt_driver)


@click.group("rollout")
def rollout_group() -> None:
    """Watch and steer canary rollouts."""


def _with_rollouts(
    path: Path,
    name: str | None,
    label: str | None,
    flags: dict[str, object],
    work: Callable[[Rollouts, Console], None],
) -> None:
    console = make_console()
    webhook = flags.pop("webhook", None)
    audit_log = Path(str(flags.pop("audit_log", ".genaiops/audit.log")))
    try:
        manifests = [i.manifest for i in load_or_exit(path).manifests]
        regions = {e.spec.region for e in canary_endpoints(manifests)}
        spec = target_spec(**flags)
        with (
            open_target(spec, regions) as opened,
            notifier(webhook if isinstance(webhook, str) else None, console) as notify,
        ):
            rollouts = make_rollouts(opened, manifests, AuditLog(audit_log), notify)
            work(rollouts.only(name, label=label), console)
    except GenaiopsError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(EXIT_ERROR)


def _manifests_option(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--webhook", envvar="GENAIOPS_WEBHOOK_URL", help="POST rollout events as JSON to this URL.")(fn)
    fn = click.option(
        "--audit-log", type=OutputFile(special_ok=True), default=Path(".genaiops/audit.log"), show_default=True
    )(fn)
    fn = click.option("--label", help="For a prompt: the label whose rollout (when several labels have one).")(fn)
    return click.option(
        "--manifests", "-f", "path", type=click.Path(path_type=Path), default=Path("manifests"), show_default=True
    )(fn)


def _interval(_ctx: click.Context, _param: click.Parameter, text: str) -> float:
    try:
        return duration_seconds(check_duration(text, minimum_s=0.1))
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


@rollout_group.command("status")
@click.argument("name", required=False)
@_manifests_option
@target_options
@click.option("--watch", is_flag=True, help="Follow until every rollout has finished or waits for a person.")
@click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True)
@click.option(
    "--interval",
    default="2s",
    show_default=True,
    callback=_interval,
    help="How often --watch measures: a duration, 100ms to 30 days.",
)
def status_cmd(
    name: str | None, path: Path, label: str | None, watch: bool, output: str, interval: float, **flags: object
) -> None:
    """Show where each canary rollout stands (endpoints and prompt labels; NAME: one endpoint or
    prompt), measuring the canary now (read-only: works beside a running apply, or without one). --watch
    updates in place on a terminal, and prints a line (or with --output json a JSON document) per change
    otherwise."""

    def show(rollouts: Rollouts, console: Console) -> None:
        snapshots = rollouts.watch(every_s=interval, sleep=time.sleep) if watch else iter([rollouts.statuses()])
        if output == "json":
            last: dict[str, Hashable] | None = None
            for statuses in snapshots:
                if (keys := change_keys(statuses)) != last:
                    click.echo(status_json(statuses, at=time.time(), one_line=watch))
                    last = keys
        elif watch and interactive(sys.stdout):  # the stream make_console chose
            with Live(console=console, auto_refresh=False) as live:
                for statuses in snapshots:
                    live.update(_table(statuses), refresh=True)
        elif watch:
            seen: dict[str, Hashable] = {}
            for statuses in snapshots:
                if not statuses and not seen:
                    console.print(_table(statuses))
                for status in changed(seen, statuses):
                    console.print(status_line(status, at=time.time()), soft_wrap=True)
                console.file.flush()  # a pipe buffers: a CI log or `| tee` sees each change as it happens
                seen.update(change_keys(statuses))
        else:
            console.print(_table(next(snapshots)))

    _with_rollouts(path, name, label, flags, show)


def _table(statuses: list[RolloutStatus]) -> RenderableType:
    return unclipped(status_table(statuses)) if statuses else "No rollouts recorded on these endpoints or prompts."


def _action(action: str, help_text: str) -> click.Command:
    @click.argument("name")
    @_manifests_option
    @target_options
    def command(name: str, path: Path, label: str | None, full: bool = False, **flags: object) -> None:
        def act(rollouts: Rollouts, console: Console) -> None:
            status = rollouts.act(name, action, label=label, full=full)
            for event in status.events if status else ():
                console.print(event_line(event))
            if status is not None:
                console.print(unclipped(status_table([status])))

        _with_rollouts(path, None, None, flags, act)

    command.__doc__ = help_text
    if action == "promote":
        command = click.option("--full", is_flag=True, help="Skip every remaining step.")(command)
    return click.command(action, help=help_text)(command)


for _name, _help in (
    ("promote", "Skip the current step's pause and analysis (--full: promote completely)."),
    ("abort", "Roll back now: all traffic to the stable (a prompt label: no more requests to the candidate)."),
    ("retry", "Forget a rolled-back revision (or prompt version) so the next apply tries it again."),
    ("pause", "Hold the rollout at its current weight until `rollout resume`."),
    ("resume", "Continue a paused rollout (the current step starts over)."),
):
    rollout_group.add_command(_action(_name, _help))

"""How the CLI talks to the engine: the engine `Session` of an opened target, hooks that print an apply's
progress on the console, the webhook notifier, and the rollout outcome lines. Commands stay thin: parse,
open the target, call `controller.engine.apply`, render."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console

from controller.cli.console import unclipped
from controller.cli.target import Target
from controller.engine.apply import ApplyOutcome
from controller.engine.notify import Notice, WebhookNotifier
from controller.engine.session import Session
from controller.errors import UserError
from controller.plans.plan import Action, Plan
from controller.rollout.events import RolloutEvent
from controller.views.plan_human import render_plan
from controller.views.rollout import event_line, status_table, timeline


def session_of(target: Target) -> Session:
    """The engine's view of an opened target."""
    return Session(
        name=target.name,
        ports=target.ports,
        metrics=target.metrics,
        lock=target.lock,
        open_prompts=target.open_prompt_store,
        prompt_metrics=target.prompt_metrics,
        tuning=target.tuning,
        compile_pipeline=target.compile_pipeline,
        model_garden=target.model_garden,
        alerts=target.alerts,
        project=target.project,
    )


def owner() -> str:
    """Who holds a lock taken by this process."""
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"


def author() -> str:
    """Who applies (recorded on prompt versions and label moves): GITHUB_ACTOR or the login name."""
    return os.environ.get("GITHUB_ACTOR") or getpass.getuser()


class ConsoleHooks:
    """Print the plan, ask for confirmation (unless auto-approved), print progress and rollout events."""

    def __init__(self, console: Console, *, auto_approve: bool, show_plan: bool = True) -> None:
        self.console = console
        self.auto_approve = auto_approve
        self.show_plan = show_plan

    def planned(self, plan: Plan) -> None:
        if self.show_plan:
            render_plan(plan, self.console)

    def confirm(self, plan: Plan) -> None:
        if self.auto_approve:
            return
        if not sys.stdin.isatty():
            raise UserError("apply needs confirmation: there is no terminal, so pass --auto-approve to apply")
        answer = click.prompt(
            "\nDo you want to perform these actions? Only 'yes' will be accepted", default="", show_default=False
        )
        if answer.strip() != "yes":
            raise UserError("apply cancelled")

    def step(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def rollout(self, event: RolloutEvent) -> None:
        self.console.print(event_line(event), soft_wrap=True)


@contextmanager
def notifier(webhook: str | None, console: Console) -> Iterator[Callable[[Notice], None]]:
    """A webhook poster for any `Notice` (rollout events, the reconcile loop's model events; a no-op without
    a URL), flushed on exit; a failed post is printed in yellow on `console`."""
    if not webhook:
        yield lambda _: None
        return
    posting = WebhookNotifier(webhook, on_failure=lambda msg: console.print(msg, style="yellow", markup=False))
    try:
        yield posting
    finally:
        posting.close()


def _plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def report_apply(outcome: ApplyOutcome, console: Console, *, wait: bool) -> None:
    """The closing lines of an apply: where each rollout stands (table, timeline, rolled back, waiting),
    then one summary line last, as a CI log is read from its end: the resource counts, failures, and
    "rolled back" when a canary was."""
    if outcome.rollouts:
        console.print(unclipped(status_table(outcome.rollouts)))
    if outcome.events:
        console.print("\nTimeline:")
        for line in timeline(outcome.events):
            console.print(line, soft_wrap=True)
    for status in outcome.rolled_back:
        console.print(
            f"Rolled back {status.name}: {status.state.reason}",
            style="red",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for status in outcome.waiting:
        console.print(
            f"Waiting for a person: {status.name} ({status.state.phase.value}); "
            "`genaiops rollout resume|promote|abort`",
            style="yellow",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    active = [s for s in outcome.rollouts if not s.finished and not s.waiting_for_human]
    if active and not wait:
        console.print(
            "Rollouts advance one step per apply: run `genaiops apply --wait` (or `reconcile`) to finish.",
            soft_wrap=True,
        )
    for change in outcome.skipped:
        console.print(
            f"Not applied: {change.address} (drift; corrected only with --self-heal)", highlight=False, soft_wrap=True
        )
    _summary(outcome, console)


def _summary(outcome: ApplyOutcome, console: Console) -> None:
    result = outcome.result
    done = {r.address for r in result.results if r.ok}
    changes = [c for c in outcome.plan.changes if c.address in done]
    added = sum(1 for c in changes if c.action is Action.CREATE)
    changed = sum(1 for c in changes if c.action in (Action.UPDATE, Action.ROLLOUT))
    destroyed = sum(1 for c in changes if c.action is Action.DELETE)
    counts = f"{added} added, {changed} changed, {destroyed} destroyed"
    rolled_back = ", ".join(s.name for s in outcome.rolled_back)
    if not result.ok:
        click.echo(f"\nApply finished with errors: {counts}; {len(result.failed)} failed:", err=True)
        for failure in result.failed:
            click.echo(f"  {failure.address}: {failure.error}", err=True)
        if rolled_back:
            click.echo(f"Rolled back: {rolled_back}.", err=True)
        click.echo("Fix the cause and run apply again: it converges from wherever this run stopped.", err=True)
    elif rolled_back:
        console.print(
            f"\nApply finished, rolled back {_plural(len(outcome.rolled_back), 'canary', 'canaries')}"
            f" ({rolled_back}): the previous version serves all traffic. Resources: {counts}.",
            style="bold red",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    elif result.results:
        console.print(f"\nApply complete! Resources: {counts}.", highlight=False, soft_wrap=True)

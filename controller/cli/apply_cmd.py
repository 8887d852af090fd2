"""`genaiops apply` and `genaiops force-unlock`: observe -> plan -> confirm -> execute under the lock ->
publish prompts -> advance canary rollouts (to the end with --wait).

Exit codes: 0 success (or no changes), 1 error, a failed resource or a rolled-back canary.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from controller.cli.options import EXIT_ERROR, EXIT_OK, load_or_exit, target_options
from controller.cli.paths import OutputFile, prepare_output_file
from controller.cli.plan_cmds import fail, manifests_of, plan_for, print_template_diffs, prompt_plan
from controller.cli.rollout_cmds import canary_endpoints, drive, make_driver, report
from controller.cli.target import Target, open_target, spec_from_flags
from controller.engine.audit import AuditLog
from controller.engine.executor import ApplyResult, Executor
from controller.engine.observe import observe, regions_of
from controller.errors import GenaiopsError, LockedError, UserError
from controller.loader import LoadResult
from controller.plans.operations import StartRollout
from controller.plans.plan import Action, Plan, ResourceChange
from controller.plans.planfile import load_plan
from controller.plans.planner import plan as make_plan
from controller.prompts.plan import PromptPlan, apply_prompt_plan, resource_changes
from controller.views.plan_human import render_plan
from controller.views.rollout import event_line


def _publish_prompts(prompts: PromptPlan, target: Target, audit: AuditLog, console: Console) -> None:
    """Publish new prompt versions and move their labels (idempotent; the store's preconditions guard races)."""
    from controller.cli.prompts_cmd import provenance

    published = apply_prompt_plan(prompts, target.open_prompt_store(), provenance(commit=None, author=None))
    for item in published:
        moved = ", ".join(sorted(item.moved)) or "no labels"
        verb = "published" if item.created else "already published"
        audit.write(
            event="prompt-published",
            prompt=item.name,
            version=item.version,
            created=item.created,
            labels=sorted(item.moved),
        )
        console.print(
            f"Prompt/{item.name}: version {item.version} {verb}; labels moved: {moved}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _is_planfile(source: Path) -> bool:
    return source.is_file() and source.suffix not in (".yaml", ".yml")


def _stale(saved: Plan, current: dict[str, str]) -> list[str]:
    problems = []
    for change in saved.actionable:
        before, now = saved.fingerprint.get(change.address), current.get(change.address)
        if before != now:
            was = "absent" if before is None else f"version {before}"
            is_ = "absent" if now is None else f"version {now}"
            problems.append(f"{change.address} changed since planning ({was} -> {is_})")
    return problems


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise UserError("apply needs confirmation: there is no terminal, so pass --auto-approve to apply")
    answer = click.prompt(
        "\nDo you want to perform these actions? Only 'yes' will be accepted", default="", show_default=False
    )
    if answer.strip() != "yes":
        raise UserError("apply cancelled")


def _report(result: ApplyResult, changes: Sequence[ResourceChange]) -> None:
    done = {r.address for r in result.results if r.ok}
    actions = [c.action for c in changes if c.address in done]
    added = actions.count(Action.CREATE) + actions.count(Action.REPLACE)
    changed = actions.count(Action.UPDATE) + actions.count(Action.ROLLOUT)
    destroyed = actions.count(Action.DELETE) + actions.count(Action.REPLACE)
    if result.ok:
        click.echo(f"\nApply complete! Resources: {added} added, {changed} changed, {destroyed} destroyed.")
        return
    click.echo(
        f"\nApply finished with errors: {added} added, {changed} changed, {destroyed} destroyed; "
        f"{len(result.failed)} failed:",
        err=True,
    )
    for failure in result.failed:
        click.echo(f"  {failure.address}: {failure.error}", err=True)
    click.echo("Fix the cause and run apply again: it converges from wherever this run stopped.", err=True)


def _owner() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"


@click.command("apply")
@click.argument("source", type=click.Path(path_type=Path), default=Path("manifests"))
@target_options
@click.option("--prune", is_flag=True, help="Delete managed resources that left the manifests.")
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--audit-log", type=OutputFile(special_ok=True), default=Path(".genaiops/audit.log"), show_default=True)
@click.option(
    "--lock-timeout", type=click.FloatRange(0), default=0.0, show_default=True, help="Seconds to wait for the lock."
)
@click.option("--wait", is_flag=True, help="Drive canary rollouts until each is promoted, rolled back or paused.")
@click.option("--wait-timeout", type=click.FloatRange(1), default=3600.0, show_default=True, help="Seconds.")
@click.option("--webhook", envvar="GENAIOPS_WEBHOOK_URL", help="POST rollout events as JSON to this URL.")
@click.option(
    "--traffic", type=click.FloatRange(0), default=0.0, help="Local target: synthetic requests/s per endpoint."
)
def apply_cmd(
    source: Path,
    prune: bool,
    auto_approve: bool,
    parallelism: int,
    audit_log: Path,
    lock_timeout: float,
    wait: bool,
    wait_timeout: float,
    webhook: str | None,
    traffic: float,
    **flags: Any,
) -> None:
    """Change Vertex AI to match the manifests under SOURCE, or carry out a plan saved by `plan --out`.

    Canary rollouts advance one step per apply; with --wait, apply drives them to the end."""
    console = Console()
    try:
        saved = load_plan(source) if _is_planfile(source) else None
        result = None if saved is not None else load_or_exit(source)
        spec = spec_from_flags(**flags, traffic_rps=traffic)
        if saved is not None and saved.plan.target != spec.describe():
            raise UserError(f"the saved plan is for {saved.plan.target}, not {spec.describe()}")
        regions = {c.region for c in saved.plan.changes} if saved is not None else regions_of(manifests_of(result))  # type: ignore[arg-type]
        prepare_output_file(audit_log, what="audit log")  # fails here, before the lock is taken, not under it
        with open_target(spec, regions) as opened:
            lock_id = opened.lock.acquire(owner=_owner(), wait_s=lock_timeout)
            try:
                outcome = _apply_locked(
                    opened,
                    saved.plan if saved else None,
                    result,
                    prune=prune,
                    auto_approve=auto_approve,
                    parallelism=parallelism,
                    audit_log=audit_log,
                    console=console,
                )
                ok, started = outcome
                if result is not None and ok:
                    ok = _drive_rollouts(opened, result, started, wait, wait_timeout, webhook, audit_log, console)
            finally:
                opened.lock.release(lock_id)
    except LockedError as err:
        fail(f"{err}")
        return
    except GenaiopsError as err:
        fail(str(err))
        return
    sys.exit(EXIT_OK if ok else EXIT_ERROR)


def _drive_rollouts(
    opened: Target,
    result: LoadResult,
    started: list[StartRollout],
    wait: bool,
    wait_timeout: float,
    webhook: str | None,
    audit_log: Path,
    console: Console,
) -> bool:
    endpoints = canary_endpoints(manifests_of(result))
    if not endpoints:
        return True
    driver, flush = make_driver(opened, AuditLog(audit_log), webhook, console)
    by_name = {e.metadata.name: e for e in endpoints}
    try:
        for op in started:
            if op.endpoint_id in by_name:
                event = driver.announce_start(
                    by_name[op.endpoint_id],
                    deployment=op.deployment,
                    revision=op.revision,
                    weight=op.weight,
                    share=op.share,
                )
                console.print(event_line(event), soft_wrap=True)
        statuses, events = drive(driver, endpoints, wait=wait, timeout_s=wait_timeout, console=console)
    finally:
        flush()
    ok = report(statuses, events, console)
    active = [s for s in statuses if not s.finished and not s.waiting_for_human]
    if active and not wait:
        console.print("Rollouts advance one step per apply: run `genaiops apply --wait` (or `reconcile`) to finish.")
    return ok


def _apply_locked(
    opened: Target,
    saved: Plan | None,
    result: LoadResult | None,
    *,
    prune: bool,
    auto_approve: bool,
    parallelism: int,
    audit_log: Path,
    console: Console,
) -> tuple[bool, list[StartRollout]]:
    manifests = manifests_of(result) if result is not None else []
    prompts = prompt_plan(result, opened) if result is not None else None
    if saved is not None:
        observed = observe(opened.ports, [])
        stale = _stale(saved, observed.fingerprint())
        if stale:
            raise UserError(
                "the saved plan is stale, refusing to apply it:\n  "
                + "\n  ".join(stale)
                + "\nRun `genaiops plan` again."
            )
        the_plan = saved
    else:
        assert result is not None
        the_plan = plan_for(result, opened, prune=prune)
    shown = the_plan
    if prompts is not None:
        vertex_only = tuple(c for c in the_plan.changes if c.kind != "Prompt")
        shown = replace(the_plan, changes=vertex_only + tuple(resource_changes(prompts)))
    render_plan(shown, console)
    if prompts is not None:
        print_template_diffs(prompts)
    elif any(c.kind == "Prompt" and c.action is not Action.NOOP for c in the_plan.changes):
        console.print("Note: a saved plan does not publish prompts; run `genaiops apply PATH` for those.")
    the_plan = replace(the_plan, changes=tuple(c for c in the_plan.changes if c.kind != "Prompt"))
    if shown.diagnostics:
        raise UserError("the plan has errors; nothing was applied")
    if not shown.summary().has_changes:
        return True, []
    if saved is None and (any(c.operations for c in the_plan.actionable) or (prompts and prompts.actionable)):
        _confirm(auto_approve)

    def replan(change: ResourceChange) -> ResourceChange | None:
        if result is None:
            return None
        fresh = make_plan(manifests, observe(opened.ports, manifests, regions=[change.region]), prune=prune)
        return next((c for c in fresh.changes if c.address == change.address), None)

    audit = AuditLog(audit_log)
    audit.write(event="apply-started", target=opened.name, changes=len(the_plan.actionable))

    def interrupted() -> str | None:
        lost = getattr(opened.lock, "lost", False)
        return "the apply lock was lost (another process took it over)" if lost else None

    executor = Executor(
        interrupted=interrupted,
        ports=opened.ports,
        audit=audit,
        parallelism=parallelism,
        replan=replan,
        on_event=lambda line: console.print(line, markup=False, highlight=False),
    )
    outcome = executor.apply(the_plan)
    if prompts is not None and prompts.actionable:
        _publish_prompts(prompts, opened, audit, console)
    audit.write(event="apply-finished", target=opened.name, ok=outcome.ok, failed=[r.address for r in outcome.failed])
    _report(outcome, the_plan.changes)
    done = {r.address for r in outcome.results if r.ok}
    started = [op for c in the_plan.changes if c.address in done for op in c.operations if isinstance(op, StartRollout)]
    return outcome.ok, started


@click.command("force-unlock")
@click.argument("lock_id")
@target_options
def force_unlock_cmd(lock_id: str, **flags: Any) -> None:
    """Remove the apply lock LOCK_ID left behind by a process that died."""
    try:
        spec = spec_from_flags(**flags)
        with open_target(spec, []) as opened:
            opened.lock.force_unlock(lock_id)
    except GenaiopsError as err:
        fail(str(err))
        return
    click.echo(f"Lock {lock_id} removed.")

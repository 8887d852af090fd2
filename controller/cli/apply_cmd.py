"""`genaiops apply` and `genaiops force-unlock`. Apply is thin: load (or read a saved plan), open the target,
call the engine's one apply routine (lock, stale check, execute endpoints, models and prompts, advance
canary rollouts, audit) and render what it returns.

Exit codes: 0 success (or no changes; with --wait, every rollout promoted), 1 an error, a failed resource
or a rolled-back canary, 3 (with --wait) a rollout paused or waiting for a person.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from controller.cli.console import make_console
from controller.cli.options import EXIT_ERROR, load_or_exit, target_options, target_spec, use_saved_environment
from controller.cli.paths import OutputFile, prepare_output_file
from controller.cli.target import open_target
from controller.cli.wiring import ConsoleHooks, author, notifier, owner, report_apply, session_of
from controller.engine.apply import ApplyOptions, apply_changes
from controller.engine.audit import AuditLog
from controller.engine.observe import regions_of
from controller.engine.planning import manifests_of
from controller.errors import GenaiopsError, UserError
from controller.plans.planfile import load_plan


def _is_planfile(source: Path) -> bool:
    return source.is_file() and source.suffix not in (".yaml", ".yml")


def fail(message: str) -> None:
    """Print an error and exit 1."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_ERROR)


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
    "--retry",
    multiple=True,
    metavar="TUNINGJOB",
    help="Start a failed or cancelled TuningJob again (its next attempt), though its spec did not change.",
)
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
    retry: tuple[str, ...],
    **flags: Any,
) -> None:
    """Change Vertex AI to match the manifests under SOURCE, or carry out a plan saved by `plan --out`.

    Canary rollouts advance one step per apply; with --wait, apply drives them to the end."""
    console = make_console()
    options = ApplyOptions(
        prune=prune,
        parallelism=parallelism,
        wait=wait,
        wait_timeout_s=wait_timeout,
        lock_timeout_s=lock_timeout,
        author=author(),
        owner=owner(),
        retry=frozenset(retry),
    )
    try:
        saved = load_plan(source) if _is_planfile(source) else None
        if saved is not None:
            use_saved_environment(saved.plan)
        result = None if saved is not None else load_or_exit(source)
        spec = target_spec(**flags, traffic_rps=traffic)
        if saved is not None and saved.plan.target != spec.describe():
            raise UserError(f"the saved plan is for {saved.plan.target}, not {spec.describe()}")
        if saved is not None:
            regions = {c.region for c in saved.plan.changes if c.kind in ("Endpoint", "Model")}
        else:
            assert result is not None
            regions = regions_of(manifests_of(result))
        prepare_output_file(audit_log, what="audit log")  # fails here, before the lock is taken, not under it
        with open_target(spec, regions) as opened, notifier(webhook, console) as notify:
            outcome = apply_changes(
                session_of(opened),
                saved.plan if saved is not None else result,  # type: ignore[arg-type]
                options=options,
                audit=AuditLog(audit_log),
                hooks=ConsoleHooks(
                    console, auto_approve=auto_approve or saved is not None
                ),  # a saved plan was reviewed
                notify=notify,
            )
    except GenaiopsError as err:
        fail(str(err))
        return
    report_apply(outcome, console, wait=wait)
    sys.exit(outcome.exit_code(wait=wait))


@click.command("force-unlock")
@click.argument("lock_id")
@target_options
def force_unlock_cmd(lock_id: str, **flags: Any) -> None:
    """Remove the apply lock LOCK_ID left behind by a process that died."""
    try:
        spec = target_spec(**flags)
        with open_target(spec, []) as opened:
            opened.lock.force_unlock(lock_id)
    except GenaiopsError as err:
        fail(str(err))
        return
    click.echo(f"Lock {lock_id} removed.")


@click.command("retry", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def retry_cmd(ctx: click.Context, name: str, args: tuple[str, ...]) -> None:
    """Start a failed or cancelled TuningJob NAME again (its next attempt): `genaiops apply --retry NAME`,
    with the rest of the arguments as for apply (the manifests, the target, --auto-approve...)."""
    # `parent`: the group's options (`--today`, `--retirement-horizon`) hold for the apply it runs
    apply_cmd.main(args=["--retry", name, *args], prog_name="genaiops apply", standalone_mode=True, parent=ctx)

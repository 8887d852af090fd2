"""`genaiops plan` and `genaiops status`: load -> open the target -> the engine plans (Vertex AI and the
prompt store alike) -> a view renders.

Exit codes: `plan`: 0 success or no changes, 1 error, 2 changes present (`--detailed-exitcode`);
`status`: 0 every resource synced and healthy, 1 error, 2 some resource needs attention.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from controller.cli.apply_cmd import fail
from controller.cli.calendar_opts import current_horizon
from controller.cli.console import make_console, unclipped
from controller.cli.options import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, load_or_exit, target_options, target_spec
from controller.cli.paths import OutputFile
from controller.cli.target import open_target
from controller.cli.wiring import session_of
from controller.engine.observe import regions_of
from controller.engine.planning import lifecycle_health, manifests_of, plan_load
from controller.errors import GenaiopsError
from controller.loader import LoadResult
from controller.plans.plan import Plan
from controller.plans.planfile import save_plan
from controller.views.plan_human import render_plan
from controller.views.plan_json import render_json
from controller.views.plan_markdown import render_markdown
from controller.views.status import needs_attention, status_json, status_table, summary


def _digest(result: LoadResult) -> str:
    body = json.dumps([m.model_dump(mode="json", by_alias=True) for m in manifests_of(result)], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _plan(path: Path, prune: bool, flags: dict[str, Any]) -> tuple[LoadResult, Plan]:
    result = load_or_exit(path)
    spec = target_spec(**flags)
    with open_target(spec, regions_of(manifests_of(result))) as opened:
        return result, plan_load(session_of(opened), result, prune=prune)


@click.command("plan")
@click.argument("path", type=click.Path(path_type=Path), default=Path("manifests"))
@target_options
@click.option("--prune", is_flag=True, help="Plan deletion of managed resources that left the manifests.")
@click.option("--out", type=OutputFile(), help="Save the plan for `genaiops apply FILE`.")
@click.option("--output", "-o", type=click.Choice(["human", "json", "markdown"]), default="human", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when there are none.")
def plan_cmd(
    path: Path,
    prune: bool,
    out: Path | None,
    output: str,
    detailed_exitcode: bool,
    **flags: Any,
) -> None:
    """Show what apply would change in Vertex AI and the prompt store to match the manifests under PATH."""
    try:
        result, the_plan = _plan(path, prune, flags)
        if out is not None:
            save_plan(the_plan, out, manifests_digest=_digest(result), created_at=datetime.now(UTC).isoformat())
    except GenaiopsError as err:
        fail(str(err))
        return
    if output == "json":
        click.echo(render_json(the_plan))
    elif output == "markdown":
        click.echo(render_markdown(the_plan))
    else:
        render_plan(the_plan, make_console())
        if out is not None:
            click.echo(f"\nSaved the plan to {out}. Apply exactly this plan with: genaiops apply {out}")
    if the_plan.errors:
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and the_plan.summary().has_changes:
        sys.exit(EXIT_CHANGES)
    sys.exit(EXIT_OK)


@click.command("status")
@click.argument("path", type=click.Path(path_type=Path), default=Path("manifests"))
@target_options
@click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True)
def status_cmd(path: Path, output: str, **flags: Any) -> None:
    """Sync (does live match the manifests) and health (is what serves healthy) of every resource; a
    resource calling a Google model that retires within --retirement-horizon of --today is `retiring`."""
    try:
        result, planned = _plan(path, False, flags)
    except GenaiopsError as err:
        fail(str(err))
        return
    the_plan = lifecycle_health(planned, result, current_horizon())
    if output == "json":
        click.echo(status_json(the_plan))
    else:
        console = make_console()
        console.print(f"Target: {the_plan.target}", highlight=False)
        for warning in the_plan.warnings:  # as `validate` prints them
            console.print(f"Warning: {warning.render()}", style="yellow", markup=False, highlight=False)
        console.print(unclipped(status_table(the_plan.changes)))
        for diagnostic in the_plan.errors:
            console.print(f"Error: {diagnostic.render()}", style="red", markup=False, highlight=False)
        console.print(summary(the_plan), highlight=False)
    if the_plan.errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_CHANGES if any(needs_attention(c) for c in the_plan.changes) else EXIT_OK)

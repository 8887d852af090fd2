"""`genaiops plan`, `genaiops apply` and `genaiops force-unlock`: load -> observe -> plan -> render -> apply.

Exit codes: 0 success or no changes, 1 error, 2 changes present (`plan --detailed-exitcode`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from controller.cli.options import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, load_or_exit, target_options
from controller.cli.paths import OutputFile
from controller.cli.target import Target, open_target, spec_from_flags
from controller.diagnostics import Source
from controller.engine.observe import observe, regions_of
from controller.errors import GenaiopsError, UserError
from controller.loader import LoadResult
from controller.model import Manifest
from controller.plans.plan import Plan
from controller.plans.planfile import save_plan
from controller.plans.planner import plan as make_plan
from controller.prompts.plan import PromptPlan, plan_prompts, resource_changes
from controller.prompts.source import sources_of
from controller.views.plan_human import render_plan
from controller.views.plan_json import render_json
from controller.views.plan_markdown import render_markdown


def manifests_of(result: LoadResult) -> list[Manifest]:
    return [item.manifest for item in result.manifests]


def _sources(result: LoadResult) -> dict[str, Source]:
    return {
        f"{i.manifest.kind}/{i.manifest.metadata.name}": Source(i.file, *i.positions.of_value(()))
        for i in result.manifests
    }


def _digest(result: LoadResult) -> str:
    body = json.dumps([m.model_dump(mode="json", by_alias=True) for m in manifests_of(result)], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def prompt_plan(result: LoadResult, target: Target) -> PromptPlan:
    """Prompt changes against the target's prompt store (published by apply, not by the executor)."""
    return plan_prompts(sources_of(result.manifests), target.open_prompt_store())


def print_template_diffs(prompts: PromptPlan) -> None:
    for change in prompts.actionable:
        if change.template_diff:
            click.echo(f"\nTemplate of Prompt/{change.name}:")
            click.echo(change.template_diff.rstrip("\n"))


def plan_for(result: LoadResult, target: Target, *, prune: bool) -> Plan:
    if not result.ok:  # load_or_exit stops before this; a partial load must never decide what to delete
        raise UserError("the manifests have errors: nothing is planned (and nothing pruned) from a partial load")
    manifests = manifests_of(result)
    observed = observe(target.ports, manifests)
    return make_plan(manifests, observed, prune=prune, sources=_sources(result), target=target.name)


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
    """Show what apply would change in Vertex AI to match the manifests under PATH."""
    result = load_or_exit(path)
    try:
        spec = spec_from_flags(**flags)
        with open_target(spec, regions_of(manifests_of(result))) as opened:
            the_plan = plan_for(result, opened, prune=prune)
            prompts = prompt_plan(result, opened)
        the_plan = replace(the_plan, changes=the_plan.changes + tuple(resource_changes(prompts)))
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
        render_plan(the_plan, Console())
        print_template_diffs(prompts)
        if out is not None:
            click.echo(f"\nSaved the plan to {out}. Apply exactly this plan with: genaiops apply {out}")
    if the_plan.diagnostics:
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and the_plan.summary().has_changes:
        sys.exit(EXIT_CHANGES)
    sys.exit(EXIT_OK)

"""`genaiops env list` and `genaiops env show NAME [KIND/NAME]`: the environments under the manifests, and
the manifests one makes (like `kustomize build`), each value with its origin. Read-only: no target is
opened. A load with errors prints its diagnostics and exits 1, as every command does."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.cli.calendar_opts import current_horizon
from controller.cli.options import DEFAULT_MANIFESTS, EXIT_ERROR, EXIT_OK
from controller.diagnostics import Severity
from controller.engine.planning import environment_file, environment_of
from controller.loader import LoadResult, load
from controller.model.suggest import did_you_mean
from controller.views.diagnostics import human_lines
from controller.views.merged_manifests import (
    EnvironmentInfo,
    environments_json,
    environments_text,
    merged_json,
    merged_yaml,
)


def _manifests_option(fn: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--manifests", "-f", "path", type=click.Path(path_type=Path), default=DEFAULT_MANIFESTS, show_default=True
    )(fn)


def _exit_with(result: LoadResult) -> None:
    for line in human_lines(result.diagnostics, files=result.files):
        click.echo(line, err=True)
    sys.exit(EXIT_ERROR)


def _info(result: LoadResult, name: str, description: str | None = None) -> EnvironmentInfo:
    fields = environment_of(result)
    return EnvironmentInfo(
        name=name,
        file=environment_file(result),
        settings=fields.get("environment_settings", {}),
        description=description or "",
        values=len(result.overrides),
        problems=sum(1 for d in result.diagnostics if d.severity is Severity.ERROR),
    )


@click.group("env")
def env_group() -> None:
    """Environments: one manifest tree, several targets (`--env NAME` on every command)."""


@env_group.command("list")
@_manifests_option
@click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True)
def list_cmd(path: Path, output: str) -> None:
    """The Environments under the manifests: file, project, region, bucket, prompt store, values set."""
    horizon = current_horizon()
    base = load(path, horizon=horizon)
    if not base.ok:
        _exit_with(base)
    infos = [
        _info(load(path, env=env.metadata.name, horizon=horizon), env.metadata.name, env.spec.description)
        for env in base.environments
    ]
    click.echo(environments_json(infos) if output == "json" else environments_text(infos))
    sys.exit(EXIT_OK)


@env_group.command("show")
@click.argument("name")
@click.argument("resource", metavar="[KIND/NAME]", required=False)
@_manifests_option
@click.option("--output", "-o", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def show_cmd(name: str, resource: str | None, path: Path, output: str) -> None:
    """The manifests as environment NAME makes them (one, with KIND/NAME), each value annotated with its
    origin: `base FILE:LINE:COL`, `NAME FILE:LINE:COL` (the environment file) or `default`."""
    result = load(path, env=name, horizon=current_horizon())
    if not result.ok:
        _exit_with(result)
    items = list(result.manifests)
    if resource is not None:
        items = [i for i in items if f"{i.manifest.kind}/{i.manifest.metadata.name}" == resource]
        if not items:
            known = sorted(f"{i.manifest.kind}/{i.manifest.metadata.name}" for i in result.manifests)
            click.echo(
                f"Error: no manifest {resource} under {path}{did_you_mean(resource, known)} "
                f"(manifests: {', '.join(known)})",
                err=True,
            )
            sys.exit(EXIT_ERROR)
    info = _info(result, name)
    render = merged_json if output == "json" else merged_yaml
    click.echo(render(info, items, result.overrides))
    sys.exit(EXIT_OK)

"""Shared click options and helpers for the commands that talk to a target."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from controller.cli.paths import OutputDir, check_store_url
from controller.loader import DEFAULT_REGION, LoadResult, load
from controller.views.diagnostics import human_lines

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def target_options(fn: F) -> F:
    """--target / --project / --emulator / --lock-bucket / --state-dir."""
    options = [
        click.option(
            "--target",
            type=click.Choice(["local", "cloud"]),
            default=None,
            help="local: the embedded emulator (default when no project is set); cloud: Vertex AI.",
        ),
        click.option("--project", envvar="GOOGLE_CLOUD_PROJECT", help="Google Cloud project (cloud target)."),
        click.option(
            "--region",
            envvar="GOOGLE_CLOUD_REGION",
            default=DEFAULT_REGION,
            show_default=True,
            help="Region of manifests that name no spec.region.",
        ),
        click.option(
            "--emulator",
            envvar="GENAIOPS_EMULATOR",
            metavar="HOST:PORT",
            help="Use a running `genaiops emulator start` instead of an embedded one.",
        ),
        click.option("--lock-bucket", envvar="GENAIOPS_LOCK_BUCKET", help="Bucket for the apply lease (cloud)."),
        click.option(
            "--allow-code",
            is_flag=True,
            envvar="GENAIOPS_ALLOW_CODE",
            help="Compile Pipelines given as `function: module:function` with kfp: runs code from the manifests' "
            "repository (in a child process without credentials variables).",
        ),
        click.option(
            "--prompt-store",
            envvar="GENAIOPS_PROMPT_STORE",
            callback=check_store_url,
            help="Where prompts are published: gs://BUCKET[/PREFIX] or a directory (default: the target's).",
        ),
        click.option(
            "--state-dir",
            type=OutputDir(),
            default=None,
            help="Where the local target keeps its emulator state (default .genaiops/local).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def current_region() -> str:
    """The --region of the running command (target commands take it), else the default."""
    context = click.get_current_context(silent=True)
    region = context.params.get("region") if context is not None else None
    return str(region) if region else DEFAULT_REGION


def load_or_exit(path: Path) -> LoadResult:
    """Load manifests; on any error print the diagnostics and exit 1 (nothing is planned from bad input)."""
    result = load(path, default_region=current_region())
    if not result.ok:
        lines = human_lines(result.diagnostics, files=result.files)
        for line in lines:
            click.echo(line, err=True)
        sys.exit(EXIT_ERROR)
    return result

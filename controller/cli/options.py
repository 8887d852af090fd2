"""Shared click options and helpers for the commands that talk to a target.

`--env NAME` selects an Environment: `load_or_exit` merges it over the manifests and remembers it for the
running command, and `target_spec` combines the flags with it (the file's project, region, lock bucket and
prompt store win over environment variables and defaults; a command-line flag that contradicts the file is
an error). A command that loads no manifests reads the environment from its manifests option, else
manifests/.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from pydantic import ValidationError

from controller.cli.calendar_opts import current_horizon
from controller.cli.paths import OutputDir, check_store_url
from controller.cli.target import TargetSpec, spec_from_flags
from controller.engine.planning import environment_file
from controller.errors import UserError
from controller.loader import DEFAULT_REGION, LoadResult, load
from controller.model import API_VERSION, Environment
from controller.plans.plan import Plan
from controller.views.diagnostics import human_lines

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
DEFAULT_MANIFESTS = Path("manifests")


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
            help="Where the local target keeps its emulator state (default .genaiops/local; <dir>/<env> with --env).",
        ),
        click.option(
            "--env",
            "env",
            envvar="GENAIOPS_ENV",
            metavar="NAME",
            help="The Environment NAME (e.g. manifests/environments/NAME.yaml) merged over the manifests; its "
            "project, region, lock bucket and prompt store set the target.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def current_region() -> str:
    """The default region of the running command: the environment's (`--env`, once read) unless --region
    was given on the command line, else --region (target commands take it), else the default."""
    context = click.get_current_context(silent=True)
    if context is None:
        return DEFAULT_REGION
    loaded = _loaded(context)
    if loaded is not None and loaded.environment.spec.region and not _explicit(context, "region"):
        return loaded.environment.spec.region
    region = context.params.get("region")
    return str(region) if region else DEFAULT_REGION


def current_env() -> str | None:
    """The --env (or GENAIOPS_ENV) of the running command, if it takes one and one was given."""
    context = click.get_current_context(silent=True)
    env = context.params.get("env") if context is not None else None
    return str(env) if env else None


def load_or_exit(path: Path) -> LoadResult:
    """Load manifests (merged for the running command's --env), judging the models they write on the
    command's day (`--today`, `--retirement-horizon`); on any error print the diagnostics and exit 1 (nothing
    is planned from bad input). Warnings (a model retiring soon) are kept in the result for the command to
    show. A flag given on the command line that contradicts the environment file is an error too."""
    env = current_env()
    horizon = current_horizon()
    result = (
        load(path, default_region=current_region(), env=env, horizon=horizon)
        if env
        else load(path, default_region=current_region(), horizon=horizon)
    )
    if not result.ok:
        lines = human_lines(result.diagnostics, files=result.files)
        for line in lines:
            click.echo(line, err=True)
        sys.exit(EXIT_ERROR)
    if env:
        _remember(env, result, path)
    return result


@dataclass(frozen=True)
class LoadedEnvironment:
    """The environment the running command merged in, and where it is."""

    environment: Environment
    file: str


def _loaded(context: click.Context) -> LoadedEnvironment | None:
    found = context.find_root().meta.get(_META_KEY)
    return found if isinstance(found, LoadedEnvironment) else None


def _explicit(context: click.Context, name: str) -> bool:
    """True when parameter `name` was given on the command line (not by an environment variable or default)."""
    return name in context.params and context.get_parameter_source(name) is ParameterSource.COMMANDLINE


def _remember(env: str, result: LoadResult, path: Path) -> None:
    environment = result.environment
    if environment is None or environment.metadata.name != env:
        known = ", ".join(sorted(e.metadata.name for e in result.environments)) or "none"
        click.echo(f"Error: no Environment named {env!r} under {path} (environments: {known})", err=True)
        sys.exit(EXIT_ERROR)
    loaded = LoadedEnvironment(environment, environment_file(result) or str(path))
    context = click.get_current_context()
    context.find_root().meta[_META_KEY] = loaded
    problem = contradiction(context, loaded)
    if problem:
        click.echo(f"Error: {problem}", err=True)
        sys.exit(EXIT_ERROR)


_META_KEY = "genaiops.environment"
_SETTINGS = (
    ("project", "project"),
    ("region", "region"),
    ("lock_bucket", "lockBucket"),
    ("prompt_store", "promptStore"),
)


def contradiction(context: click.Context, loaded: LoadedEnvironment) -> str | None:
    """Why a flag given on the command line disagrees with the environment file, or None. (The file wins
    over environment variables and defaults; a flag that says the same as the file is fine.)"""
    spec = loaded.environment.spec
    for param, field in _SETTINGS:
        wanted = getattr(spec, param)
        given = context.params.get(param)
        if wanted and _explicit(context, param) and given and str(given) != str(wanted):
            flag = "--" + param.replace("_", "-")
            return (
                f"{flag} {given} contradicts --env {loaded.environment.metadata.name}: {loaded.file} sets "
                f"{field}: {wanted}. Drop {flag}, or change the environment file"
            )
    return None


def use_saved_environment(plan: Plan) -> None:
    """`apply PLANFILE --env NAME` of a plan made for NAME takes the target from the environment settings
    the plan recorded (checksummed with it), so the manifests need not be at hand. A plan made for another
    environment, or none, is left to the target check, which refuses it."""
    env = current_env()
    if not plan.environment or plan.environment != env:
        return
    document = {"apiVersion": API_VERSION, "kind": "Environment", "metadata": {"name": env}}
    try:
        environment = Environment.model_validate({**document, "spec": dict(plan.environment_settings)})
    except ValidationError:
        return  # then read from the manifests, as for any other command
    click.get_current_context().find_root().meta[_META_KEY] = LoadedEnvironment(environment, plan.environment_file)


def selected_environment(env: str, manifests: Path | None) -> LoadedEnvironment:
    """The environment the running command loaded, else the one read from `manifests` (default manifests/)
    for a command that plans nothing (exits 1 with the diagnostics when that load fails)."""
    context = click.get_current_context()
    loaded = _loaded(context)
    if loaded is None or loaded.environment.metadata.name != env:
        load_or_exit(manifests or DEFAULT_MANIFESTS)
        loaded = _loaded(context)
    assert loaded is not None  # load_or_exit exits otherwise
    return loaded


def target_spec(**flags: Any) -> TargetSpec:
    """The target of the flags combined with the environment of --env: the file's project, lock bucket and
    prompt store win over environment variables and defaults (a command-line flag that contradicts one is
    a UserError). On the local target an environment keeps its own emulated cloud in `<state-dir>/<env>`
    (the file's bucket and prompt store name a real cloud, so they are not used there).

    `flags` are the target options' values, plus `manifests` (where a command that loads no manifests
    finds the environment; default manifests/) and `traffic_rps` (the local target's synthetic traffic)."""
    env: str | None = flags.pop("env", None) or None
    manifests: Path | None = flags.pop("manifests", None)
    traffic_rps = float(flags.pop("traffic_rps", 0.0))
    if not env:
        return spec_from_flags(**flags, traffic_rps=traffic_rps)
    loaded = selected_environment(env, manifests)
    problem = contradiction(click.get_current_context(), loaded)
    if problem:
        raise UserError(problem)
    spec = loaded.environment.spec
    merged = {
        **flags,
        "project": spec.project or flags.get("project"),
        "lock_bucket": spec.lock_bucket or flags.get("lock_bucket"),
        "prompt_store": spec.prompt_store or flags.get("prompt_store"),
    }
    resolved = spec_from_flags(**merged, traffic_rps=traffic_rps, environment=env)
    if resolved.kind != "local":
        return resolved
    return replace(
        resolved,
        state_dir=resolved.state_dir / env,
        prompt_store=flags.get("prompt_store"),
        lock_bucket=flags.get("lock_bucket"),
    )

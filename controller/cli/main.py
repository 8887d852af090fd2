"""`genaiops` entry point: a click group whose heavier commands load lazily (the emulator and cloud
commands import the Google clients, which take a second; `validate` should not pay for that).

Exit codes follow DESIGN.md: 0 success, 1 error (bad input or usage included), 2 changes present.
"""

from __future__ import annotations

import importlib
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from controller import __version__
from controller.cli.calendar_opts import current_horizon, day_option, days_option, remember
from controller.cli.paths import OutputDir
from controller.diagnostics import Severity
from controller.loader import validate_environments
from controller.model.schema import json_schemas, render
from controller.views.diagnostics import as_json, human_lines

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

LAZY_COMMANDS: dict[str, str] = {
    "emulator": "controller.cli.emulator_cmd:emulator_group",
    "plan": "controller.cli.plan_cmds:plan_cmd",
    "status": "controller.cli.plan_cmds:status_cmd",
    "apply": "controller.cli.apply_cmd:apply_cmd",
    "force-unlock": "controller.cli.apply_cmd:force_unlock_cmd",
    "retry": "controller.cli.apply_cmd:retry_cmd",
    "rollout": "controller.cli.rollout_cmds:rollout_group",
    "demo": "controller.cli.demo_cmd:demo_cmd",
    "prompts": "controller.cli.prompts_cmd:prompts_group",
    "reconcile": "controller.cli.reconcile_cmd:reconcile_cmd",
    "suspend": "controller.cli.suspend_cmd:suspend_cmd",
    "resume": "controller.cli.suspend_cmd:resume_cmd",
    "usage": "controller.cli.usage_cmd:usage_cmd",
    "cost": "controller.cli.cost_cmd:cost_cmd",
    "feedback": "controller.cli.usage_cmd:feedback_group",
    "experiment": "controller.cli.experiment_cmd:experiment_group",
    "data": "controller.cli.data_cmd:data_group",
    "env": "controller.cli.env_cmd:env_group",
    "import": "controller.cli.import_cmd:import_cmd",
    "dashboard": "controller.cli.dashboard_cmd:dashboard_cmd",
    "alerts": "controller.cli.alerts_cmd:alerts_group",
    "models": "controller.cli.models_cmd:models_group",
}


class LazyGroup(click.Group):
    """A group that imports some subcommands only when they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="genaiops")
@click.option(
    "--today",
    envvar="GENAIOPS_TODAY",
    metavar="YYYY-MM-DD",
    callback=day_option,
    help="The day model lifecycle is judged on (default: the current UTC date).",
)
@click.option(
    "--retirement-horizon",
    envvar="GENAIOPS_RETIREMENT_HORIZON",
    metavar="DAYS",
    callback=days_option,
    help="A model retiring within this many days (60d, 8w) is a warning; a retired one is an error. [default: 60d]",
)
@click.pass_context
def cli(ctx: click.Context, today: date | None, retirement_horizon: int | None) -> None:
    """GitOps for generative-AI serving on Vertex AI: validate, plan and apply YAML manifests."""
    remember(ctx, today, retirement_horizon)


def _echo_diagnostic_line(line: str, *, is_error: bool) -> None:
    color = sys.stdout.isatty()
    click.echo(click.style(line, fg="red" if is_error else "yellow") if color else line)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default=Path("manifests"))
@click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True)
@click.option("--env", "env", metavar="NAME", default=None, help="Check only this environment (default: every one).")
def validate(path: Path, output: str, env: str | None) -> None:
    """Check the manifests under PATH (default: manifests/) and each environment's merge of them, and report
    every problem."""
    report = validate_environments(path, env=env, horizon=current_horizon())
    result, diagnostics = report.base, report.diagnostics
    checked = len(report.checked)
    if output == "json":
        document = json.loads(as_json(diagnostics, files=result.files, manifests=len(result.manifests)))
        click.echo(json.dumps({**document, "environments": list(report.checked)}, indent=2))
    else:
        lines = human_lines(diagnostics, files=result.files)
        for diagnostic, line in zip(diagnostics, lines, strict=False):
            _echo_diagnostic_line(line, is_error=diagnostic.severity is Severity.ERROR)
        if checked:
            noun = "environment" if checked == 1 else "environments"
            lines[-1] = f"{lines[-1].removesuffix('.')}; {checked} {noun} checked ({', '.join(report.checked)})."
        click.echo(lines[-1])
    sys.exit(EXIT_OK if report.ok else EXIT_ERROR)


@cli.command()
@click.option("--out", "out_dir", type=OutputDir(writable=False), default=Path("schemas"), show_default=True)
@click.option("--check", is_flag=True, help="Exit 1 if the files in --out differ from the generated schemas.")
def schema(out_dir: Path, check: bool) -> None:
    """Write a JSON Schema per manifest kind, plus a combined one, for editors and CI."""
    stale: list[str] = []
    for name, document in json_schemas().items():
        target = out_dir / name
        text = render(document)
        if check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(str(target))
            continue
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as err:
            click.echo(f"Error: cannot write {target}: {err.strerror or err}", err=True)
            sys.exit(EXIT_ERROR)
        click.echo(f"wrote {target}")
    if stale:
        click.echo(f"out of date: {', '.join(stale)}; run `genaiops schema --out {out_dir}`", err=True)
        sys.exit(EXIT_ERROR)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; usage errors exit 1 (2 is reserved for 'changes present')."""
    try:
        return cli.main(args=argv, prog_name="genaiops", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as err:
        err.show()
        sys.exit(EXIT_ERROR)

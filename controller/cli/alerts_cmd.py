"""`genaiops alerts suggest [PATH] [--out FILE] [--force]`: write Alert manifests worth having for what PATH
declares (controller/plans/alert_suggest.py), for a human to review and commit.

The command loads the manifests (invalid ones: the diagnostics and exit 1), asks the pure generator for the
alerts no declared Alert covers, and writes them to FILE (default PATH/alerts/suggested.yaml) under a header
saying to review them. It never overwrites FILE without --force; with --force the file is written afresh,
its own alerts suggested again (minus those declared elsewhere). Nothing to suggest is success (exit 0) and
writes nothing, so a second run after the first is a no-op.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from controller.cli.options import EXIT_ERROR, EXIT_OK, load_or_exit
from controller.plans.alert_suggest import render, suggest_alerts


def _same_file(a: str | Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@click.group("alerts")
def alerts_group() -> None:
    """Alert manifests: suggest the ones worth having for what is declared."""


@alerts_group.command("suggest")
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=Path("manifests"))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The file to write (default: PATH/alerts/suggested.yaml).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists (its alerts are suggested again).")
def suggest_cmd(path: Path, out: Path | None, force: bool) -> None:
    """Write Alert manifests for what PATH declares: error rate and p99 latency of every endpoint, the
    project's cost per day, the feedback score of every prompt in production; with the first declared
    NotificationChannel. Alerts already declared (same target and metric) are skipped."""
    out = out if out is not None else path / "alerts" / "suggested.yaml"
    if not path.is_dir():
        click.echo(f"Error: {path} is not a directory of manifests", err=True)
        sys.exit(EXIT_ERROR)
    result = load_or_exit(path)
    exists = out.exists()
    items = result.manifests
    if exists and force:  # written afresh: what it declares now does not count as declared
        items = tuple(i for i in items if not _same_file(i.file, out))
    suggestions = suggest_alerts(i.manifest for i in items)
    if not suggestions:
        click.echo("Nothing to suggest: every endpoint, the project's cost and every production prompt has its alert.")
        sys.exit(EXIT_OK)
    if exists and not force:
        click.echo(f"Error: {out} exists; pass --force to write it again (nothing was written)", err=True)
        sys.exit(EXIT_ERROR)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(suggestions), encoding="utf-8")
    except OSError as err:
        click.echo(f"Error: cannot write {out}: {err.strerror or err}", err=True)
        sys.exit(EXIT_ERROR)
    click.echo(f"Wrote {len(suggestions)} suggested alert{'s' if len(suggestions) != 1 else ''} to {out}:")
    for suggestion in suggestions:
        click.echo(f"  + Alert {suggestion.name}: {suggestion.summary}")
    click.echo(f"Review them, then `genaiops validate {path}` and commit what you keep.")
    sys.exit(EXIT_OK)


__all__ = ["alerts_group", "suggest_cmd"]

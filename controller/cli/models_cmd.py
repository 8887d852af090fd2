"""`genaiops models`: the Google foundation models the manifests name, judged against the dated catalogue.

`models catalogue` lists the catalogue itself (with the project's ModelLifecycle rows) and where each model
stands on the day. `models outdated` lists every manifest field naming a Gemini model that is retired or
retires within the horizon, and with `--write` moves each one that has a successor to it by editing the
manifest files in place (only the model id text changes), so the move goes through review, `genaiops plan`
and the prompt canary like any other edit. Like `validate`, it judges the base manifests and each
Environment's merge of them (`--env NAME`: that one only), so a model an environment's patch sets is
listed, and moved, in the environment file. The judging is pure (`engine/model_upgrades.py`), the rendering
is `views/outdated_report.py` and `views/model_catalogue.py`, and the file writing is
`cli/manifest_edits.py`.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console

from controller.cli.calendar_opts import current_horizon, days_option
from controller.cli.console import make_console, unclipped
from controller.cli.manifest_edits import ManifestEditError, apply_edits
from controller.cli.options import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from controller.diagnostics import Diagnostic
from controller.engine.model_upgrades import TextEdit, Variant, outdated_across, planned_edits
from controller.loader import DEFAULT_REGION, LoadResult, load
from controller.model.catalogue.lifecycle import model_catalogue
from controller.model.model_lifecycle import project_catalogue
from controller.views.diagnostics import human_lines
from controller.views.model_catalogue import CatalogueView
from controller.views.outdated_report import outdated_json, outdated_table, summary_line


@click.group("models")
def models_group() -> None:
    """The Google foundation models the manifests name: which retire when, and moving off them."""


@models_group.command("outdated")
@click.argument("path", type=click.Path(path_type=Path), default=Path("manifests"))
@click.option(
    "--within",
    metavar="DAYS",
    callback=days_option,
    help="List models retiring within this many days (60d, 8w) too. [default: the group's --retirement-horizon, "
    "else 60d]",
)
@click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True)
@click.option(
    "--write",
    is_flag=True,
    help="Edit the manifest files in place: move each listed model that has a successor to it.",
)
@click.option(
    "--env",
    "env",
    envvar="GENAIOPS_ENV",
    metavar="NAME",
    default=None,
    help="Judge only the Environment NAME's merge of the manifests (default: the base and every environment).",
)
def outdated_cmd(path: Path, within: int | None, output: str, write: bool, env: str | None) -> None:
    """List every place the manifests under PATH (default: manifests/) name a Gemini model that is retired,
    or retires within --within days, on the day (`genaiops --today YYYY-MM-DD`, default the current UTC
    date): file:line:col, manifest, field, model, stage, last day, days left, the model to move to (the
    catalogue's successor, skipping successors that retire within the horizon too) and the prompts that
    call it through a Model or TuningJob. The catalogue is the bundled, dated one plus the project's
    ModelLifecycle manifests. A tuned model retires with its base model.

    Like `validate`, it judges the base manifests and each Environment's merge of them (--env NAME, or
    GENAIOPS_ENV: only NAME's merge). Each written value is listed once, where it is written: a model an
    environment's patch sets at its line in the environment file (ENV / `environment` names it), a base
    file's value once however many environments inherit it.

    \b
    Examples:
      genaiops models outdated                      # today, 60-day horizon
      genaiops --today 2026-01-10 models outdated manifests --within 90d
      genaiops models outdated -o json              # {today, within_days, catalogue, outdated: [...]}
      genaiops models outdated --write; git diff    # then `genaiops plan` shows the prompt canary
      genaiops models outdated --env prod           # only what prod deploys

    \b
    --write replaces only the model id text inside each listed field that has a successor (quotes,
    comments and formatting stay; a publisher path's @version suffix is dropped, as it names a version of
    the old model), in the file that writes it (an environment's patch value in the environment file),
    each file written atomically. It refuses, writing nothing, a file outside PATH or a
    field whose text no longer holds the loaded value. A model without a successor is listed and left
    alone. Running it again writes nothing.

    \b
    Exit codes: 0 nothing outdated; 2 something is outdated (with --write: found, whether or not it was
    moved, so CI can tell the files changed); 1 an error (bad manifests, a refused edit).
    """
    result = load(path, default_region=DEFAULT_REGION)
    _exit_on_errors(result)
    variants = _variants(path, result, env)
    environments = [v.environment for v in variants if v.environment is not None]
    horizon = current_horizon(within_days=within)
    read_on = model_catalogue().read_on  # each variant adds its own ModelLifecycle rows to the bundled one
    rows = outdated_across(variants, horizon)
    edits = planned_edits(rows)
    written: tuple[TextEdit, ...] = ()
    if write and edits:
        try:
            written = apply_edits(edits, manifests=path)
        except ManifestEditError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(EXIT_ERROR)
    if output == "json":
        lines = [edit.describe() for edit in written]
        click.echo(
            outdated_json(
                rows,
                horizon,
                catalogue_read_on=read_on,
                written=lines,
                environments=environments,
                base=env is None,
            )
        )
    else:
        console = make_console()
        if rows:
            console.print(unclipped(outdated_table(rows)))
        summary = summary_line(rows, horizon, catalogue_read_on=read_on, environments=environments, base=env is None)
        console.print(summary, highlight=False, markup=False)
        _report_edits(console, edits, written, stuck=sum(1 for r in rows if r.successor is None), write=write)
    sys.exit(EXIT_CHANGES if rows else EXIT_OK)


@models_group.command("catalogue")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True)
def catalogue_cmd(path: Path | None, output: str) -> None:
    """List the publisher models genaiops knows and where each stands on the day (`genaiops --today`):
    release, last day (`*`: unconfirmed, sources differ), stage, days left, the model to move to, context
    window and tuning support. With PATH, the manifests' ModelLifecycle rows are merged over the bundled,
    dated catalogue (controller/model/catalogue/publisher_models.yaml); `-o json` adds each row's source."""
    catalogue = project_catalogue(())
    if path is not None:
        result = load(path, default_region=DEFAULT_REGION)
        _exit_on_errors(result)
        catalogue = project_catalogue(item.manifest for item in result.manifests)
    view = CatalogueView.of(catalogue, current_horizon())
    if output == "json":
        click.echo(view.json())
    else:
        console = make_console()
        console.print(unclipped(view.table()))
        console.print(view.summary(), highlight=False, markup=False)
    sys.exit(EXIT_OK)


def _variants(path: Path, base: LoadResult, env: str | None) -> list[Variant]:
    """The base (unless --env) and each environment's merge (or only --env's), from `load`, in declaration
    order; exits 1 with the diagnostics when an environment is unknown or its merge has errors."""
    names = [env] if env is not None else list(dict.fromkeys(e.metadata.name for e in base.environments))
    variants = [] if env is not None else [Variant(None, base.manifests)]
    for name in names:
        merged = load(path, default_region=DEFAULT_REGION, env=name)
        prefix = "" if merged.environment is None else f"environment {name}: "
        _exit_on_errors(merged, prefix=prefix, known=base.diagnostics)
        variants.append(Variant(name, merged.manifests))
    return variants


def _exit_on_errors(result: LoadResult, *, prefix: str = "", known: tuple[Diagnostic, ...] = ()) -> None:
    """Print the diagnostics (but those in `known`, the base's) and exit 1 when `result` has an error."""
    if result.ok:
        return
    seen = {(d.severity, d.source, d.summary) for d in known}
    shown = [
        replace(d, summary=prefix + d.summary)
        for d in result.diagnostics
        if (d.severity, d.source, d.summary) not in seen
    ]
    for line in human_lines(shown, files=result.files):
        click.echo(line, err=True)
    sys.exit(EXIT_ERROR)


def _report_edits(
    console: Console, edits: tuple[TextEdit, ...], written: tuple[TextEdit, ...], *, stuck: int, write: bool
) -> None:
    """What --write changed and what next, or how to make the change."""

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    if written:
        say(f"Wrote {len(written)} change{'s' if len(written) != 1 else ''}:")
        for edit in written:
            say(f"  {edit.describe()}")
        say("Review the diff; `genaiops plan` shows the prompt canary each changed prompt goes through.")
    elif edits and not write:
        say(f"`genaiops models outdated --write` moves the {len(edits)} with a successor.")
    if stuck:
        say(
            f"{stuck} left as written: the catalogue names no successor (a ModelLifecycle manifest can add one).",
        )

"""`genaiops import [PATH] [--out DIR] [--region R ...] [--adopt] [--force]`: write manifests for the
endpoints, models and stored prompts of a target that no manifest declares, and with `--adopt` hand those
whose manifests plan to no changes to genaiops (the `managed-by: genaiops` label, one update each).

The command parses, opens the target, builds one `VertexInventory` per region on the target's channel and
calls the engine (`controller.engine.importer`); the lines below render its report. Exit codes: 0 when
everything asked for was done (or there was nothing to import), 1 when a file could not be written, an
imported resource was not adopted with `--adopt`, or on any error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from controller.cli.apply_cmd import fail
from controller.cli.options import EXIT_ERROR, EXIT_OK, F, target_options, target_spec
from controller.cli.target import Target, open_target
from controller.engine.import_drafts import SkipReason
from controller.engine.importer import ImportReport, ManifestLoadError, run_import
from controller.errors import GenaiopsError
from controller.loader import DEFAULT_REGION
from controller.ports import InventoryPort
from controller.views.diagnostics import human_lines


def _import_target_options(fn: F) -> F:
    """The target options, with --region repeatable: import reads every region given."""
    fn = target_options(fn)
    params: list[click.Parameter] = getattr(fn, "__click_params__", [])
    for index, param in enumerate(params):
        if param.name == "region":
            params[index] = click.Option(
                ["--region"],
                multiple=True,
                envvar="GOOGLE_CLOUD_REGION",
                help=f"A region to import from; repeat for several (default: {DEFAULT_REGION} and the regions "
                "the manifests use). The first is also the region of manifests that name none.",
            )
    return fn


def _inventories(target: Target, regions: list[str]) -> dict[str, InventoryPort]:
    from controller.providers.vertex_inventory import VertexInventory  # the Google clients: only when used

    return {r: VertexInventory(project=target.project, region=r, channel=target.channel) for r in regions}


def _regions(given: tuple[str, ...], root: Path) -> list[str]:
    """The regions to read: those given, else the default one and every region the manifests use."""
    if given:
        return list(dict.fromkeys(given))
    found = {DEFAULT_REGION}
    if root.is_dir():
        from controller.engine.importer import load_root

        try:
            result = load_root(root, default_region=DEFAULT_REGION)
        except GenaiopsError:
            return [DEFAULT_REGION]  # run_import reports the load errors
        found |= {str(getattr(i.manifest.spec, "region", "")) for i in result.manifests} - {""}
    return [DEFAULT_REGION, *sorted(found - {DEFAULT_REGION})]


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=Path("manifests"))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to write the manifests, inside PATH (default: PATH/imported).",
)
@click.option(
    "--adopt",
    is_flag=True,
    help="Add the managed-by: genaiops label to each imported resource whose manifest plans to no changes "
    "(one update per resource; nothing else changes).",
)
@click.option("--force", is_flag=True, help="Overwrite a file in --out that holds other content.")
@_import_target_options
def import_cmd(path: Path, out: Path | None, adopt: bool, force: bool, region: tuple[str, ...], **flags: Any) -> None:
    """Write manifests under PATH for what the target holds that no manifest declares (endpoints, models,
    prompts in the store); with --adopt, hand them to genaiops once they plan to no changes."""
    out = out if out is not None else path / "imported"
    regions = _regions(region, path)
    click.get_current_context().params["region"] = regions[0]  # the target helpers read one default region
    try:
        spec = target_spec(**flags, region=regions[0], manifests=path)
        with open_target(spec, regions) as target:
            report = run_import(
                root=path,
                out=out,
                ports=_inventories(target, regions),
                store=target.open_prompt_store(),
                default_region=regions[0],
                force=force,
                adopt_them=adopt,
            )
    except ManifestLoadError as err:
        for line in human_lines(err.diagnostics, files=err.files):
            click.echo(line, err=True)
        fail(str(err))
        return
    except GenaiopsError as err:
        fail(str(err))
        return
    for line in report_lines(report, path=path, out=out):
        click.echo(line)
    sys.exit(EXIT_ERROR if report.failed else EXIT_OK)


def report_lines(report: ImportReport, *, path: Path, out: Path) -> list[str]:
    """What import did, for people: files, skips, the check, adoptions, then what to do next."""
    where = ", ".join(report.regions)
    cannot = [f"  {s.address}: {s.detail}" for s in report.drafting.skips if s.reason is SkipReason.CANNOT]
    if report.nothing:
        lines = [
            f"Nothing to import: every endpoint and model in {where} and every stored prompt is declared or "
            "managed by genaiops" + (", or cannot be imported:" if cannot else ".")
        ]
        return lines + cannot
    lines = []
    if report.written:
        lines.append(f"Imported into {out} (from {where} and the prompt store):")
        for written in report.written:
            detail = f": {written.detail}" if written.detail else ""
            lines.append(f"  {written.status.value} {written.path.name} ({written.address}){detail}")
    lines += [f"  {d.address}: {note}" for d in report.drafting.drafts for note in d.notes]
    for reason in (SkipReason.DECLARED, SkipReason.MANAGED):
        found = [s.address for s in report.drafting.skips if s.reason is reason]
        if found:
            more = f" and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
            listed = ", ".join(found[:MAX_LISTED]) + more
            lines.append(f"Skipped {len(found)} {reason.value}: {listed}")
    if cannot:
        lines.append(f"Cannot import {len(cannot)} as they are (nothing written for them):")
        lines += cannot
    lines += _check_lines(report)
    lines += _adoption_lines(report, path=path)
    return lines


MAX_LISTED = 8


def _check_lines(report: ImportReport) -> list[str]:
    checks = [*report.verdicts, *report.prompts]
    if not checks:
        return []
    good = sum(1 for v in checks if v.adoptable)
    lines = [f"Checked the imported manifests against live: {good} of {len(checks)} plan to no changes."]
    lines += [f"  {v.address}: {v.why}" for v in checks if not v.adoptable]
    return lines


def _adoption_lines(report: ImportReport, *, path: Path) -> list[str]:
    adoptable = [v for v in report.verdicts if v.adoptable]
    if not report.adopt_requested:
        if not adoptable:
            return []
        return [
            f"Not adopted: genaiops manages nothing it imported until you adopt it. Review the files, commit them "
            f"where `genaiops apply` reads them, then run `genaiops import {path} --adopt`: it adds managed-by: "
            f"genaiops to the {len(adoptable)} resources that plan to no changes (one label update each)."
        ]
    done = [a for a in report.adoptions if a.ok]
    lines = [f"Adopted {len(done)} resources (added managed-by: genaiops):"] if done else []
    lines += [f"  {a.address}" for a in done]
    failed = [a for a in report.adoptions if not a.ok]
    refused = [v for v in report.verdicts if not v.adoptable]
    if failed or refused:
        lines.append("Not adopted:")
        lines += [f"  {a.address}: {a.error}" for a in failed]
        lines += [f"  {v.address}: its manifest does not plan to no changes" for v in refused]
    if done:
        lines.append(f"genaiops manages them now: `genaiops plan {path}` shows no changes for them.")
    return lines

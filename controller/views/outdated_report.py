"""`genaiops models outdated`: the manifest fields naming a retired or retiring Gemini model, as a table and
a one-line summary for people, or a stable JSON document for machines.

Place in the flow: the CLI loads the manifests, the pure `engine/model_upgrades.py` judges each model
reference on the day and horizon, and this module renders the rows (anything with the attributes of
`OutdatedRow`; the engine's `OutdatedModel` has them). A row an Environment's patch writes names that
environment (an ENV column, `environment` in JSON; None for a base file's value), and the summary says
which environments were judged. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from rich import box
from rich.table import Table

from controller.model.catalogue.lifecycle import Horizon, Stage

OUTDATED_SCHEMA = "genaiops.dev/models-outdated/v1"


class OutdatedRow(Protocol):
    """What the report shows of one outdated model reference."""

    @property
    def file(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...
    @property
    def manifest(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def stage(self) -> Stage: ...
    @property
    def retires(self) -> date | None: ...
    @property
    def days_left(self) -> int | None: ...
    @property
    def successor(self) -> str | None: ...
    @property
    def used_by(self) -> tuple[str, ...]: ...
    @property
    def environment(self) -> str | None: ...


def _days(row: OutdatedRow) -> str:
    return "-" if row.days_left is None else str(row.days_left)


def outdated_table(rows: Sequence[OutdatedRow]) -> Table:
    """One row per field: where, which manifest and field, the model, its stage, last day, days left, the
    model to move to and the prompts that call it through a Model or TuningJob. When an environment's patch
    writes a row, an ENV column says whose (`base` for a base file's value)."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), expand=False)
    with_env = any(row.environment is not None for row in rows)
    for column in ("WHERE", *(("ENV",) if with_env else ()), "MANIFEST", "FIELD", "MODEL", "STAGE", "LAST DAY"):
        table.add_column(column)
    table.add_column("DAYS\nLEFT", justify="right")
    table.add_column("MOVE TO")
    table.add_column("USED BY")
    for row in rows:
        stage = f"[red]{row.stage.value}[/red]" if row.stage is Stage.RETIRED else f"[yellow]{row.stage.value}[/yellow]"
        table.add_row(
            f"{row.file}:{row.line}:{row.column}",
            *((row.environment or "base",) if with_env else ()),
            row.manifest,
            row.path,
            row.model,
            stage,
            row.retires.isoformat() if row.retires is not None else "-",
            _days(row),
            row.successor or "- (none named)",
            ", ".join(row.used_by) or "-",
        )
    return table


def judged(environments: Sequence[str], *, base: bool = True) -> str:
    """What was judged: `the base and environments dev, prod`, `environment dev` or `the base`."""
    if not environments:
        return "the base" if base else "nothing"
    noun = "environment" if len(environments) == 1 else "environments"
    names = f"{noun} {', '.join(environments)}"
    return f"the base and {names}" if base else names


def summary_line(
    rows: Sequence[OutdatedRow],
    horizon: Horizon,
    *,
    catalogue_read_on: str,
    environments: Sequence[str] = (),
    base: bool = True,
) -> str:
    """`3 model references outdated on 2026-01-10 (horizon 60 days): 2 retired, 1 retiring; 3 have a successor.`
    With `environments` (judged as well as the base, or instead of it when `base` is False) it ends
    `Judged the base and environments dev, prod.`"""
    on = f"on {horizon.today.isoformat()} (horizon {horizon.within_days} days; catalogue read {catalogue_read_on})"
    scope = f" Judged {judged(environments, base=base)}." if environments else ""
    if not rows:
        return f"No manifest names a model that is retired or retiring {on}.{scope}"
    retired = sum(1 for r in rows if r.stage is Stage.RETIRED)
    movable = sum(1 for r in rows if r.successor)
    noun = "reference" if len(rows) == 1 else "references"
    return (
        f"{len(rows)} model {noun} outdated {on}: {retired} retired, {len(rows) - retired} retiring; "
        f"{movable} with a successor to move to.{scope}"
    )


def row_json(row: OutdatedRow) -> dict[str, Any]:
    """One row of the JSON document."""
    return {
        "file": row.file,
        "line": row.line,
        "column": row.column,
        "manifest": row.manifest,
        "path": row.path,
        "model": row.model,
        "stage": row.stage.value,
        "retires": row.retires.isoformat() if row.retires is not None else None,
        "days_left": row.days_left,
        "successor": row.successor,
        "used_by": list(row.used_by),
        "environment": row.environment,
    }


def outdated_json(
    rows: Sequence[OutdatedRow],
    horizon: Horizon,
    *,
    catalogue_read_on: str,
    written: Sequence[str] = (),
    environments: Sequence[str] = (),
    base: bool = True,
) -> str:
    """`models outdated --output json`: `{schema, today, within_days, catalogue, base, environments,
    outdated: [...], written}` (`base`: whether the base manifests were judged; `environments`: the
    Environments judged; each row's `environment`: the one whose patch writes it, null for a base file's
    value; `written`: the edits `--write` made, one `file:line:col path: old -> new` each)."""
    document = {
        "schema": OUTDATED_SCHEMA,
        "today": horizon.today.isoformat(),
        "within_days": horizon.within_days,
        "catalogue": catalogue_read_on,
        "base": base,
        "environments": list(environments),
        "outdated": [row_json(row) for row in rows],
        "written": list(written),
    }
    return json.dumps(document, indent=2)


__all__ = ["outdated_json", "outdated_table", "summary_line"]

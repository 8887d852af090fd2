"""`genaiops models catalogue`: the publisher models genaiops knows, judged on one day, as a table for people
or a stable JSON document for machines.

Each row is a catalogue row (bundled, or a project's `ModelLifecycle` row, which the `origin` names): its id
and aliases, release and last day, stage and days left on the day, the model to move to, context window,
tuning support, whether its dates are confirmed and where they come from. Pure: the day comes in the
`Horizon`.
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.table import Table

from controller.model.catalogue.lifecycle import Horizon, ModelCatalogue, Stage, lifecycle_of

CATALOGUE_SCHEMA = "genaiops.dev/model-catalogue/v1"
_STAGE_STYLE = {Stage.CURRENT: "green", Stage.RETIRING: "yellow", Stage.RETIRED: "red", Stage.UNKNOWN: "dim"}


def _rows(catalogue: ModelCatalogue, horizon: Horizon) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for info in catalogue.models.values():
        judged = lifecycle_of(info.model_id, horizon, catalogue)
        source = catalogue.sources.get(info.source)
        rows.append(
            {
                "model": info.model_id,
                "aliases": list(info.aliases),
                "family": info.family,
                "released": info.released.isoformat() if info.released else None,
                "retires": info.retires.isoformat() if info.retires else None,
                "stage": judged.stage.value,
                "days_left": judged.days_left,
                "successor": judged.successor,
                "context_window": info.context_window,
                "tuning": info.tuning,
                "confirmed": info.confirmed,
                "source": source.url if source is not None else info.source,
                "origin": info.origin,
                "note": info.note,
            }
        )
    return rows


def catalogue_json(catalogue: ModelCatalogue, horizon: Horizon) -> str:
    """`{schema, today, within_days, catalogue, models: [...]}`."""
    document = {
        "schema": CATALOGUE_SCHEMA,
        "today": horizon.today.isoformat(),
        "within_days": horizon.within_days,
        "catalogue": catalogue.read_on,
        "models": _rows(catalogue, horizon),
    }
    return json.dumps(document, indent=2)


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def catalogue_table(catalogue: ModelCatalogue, horizon: Horizon) -> Table:
    """One row per model, in catalogue order; an unconfirmed date is marked `*`."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("MODEL", "RELEASED", "LAST DAY", "STAGE", "DAYS LEFT", "MOVE TO", "CONTEXT", "TUNING"):
        table.add_column(column, justify="right" if column in ("DAYS LEFT", "CONTEXT") else "left")
    for row in _rows(catalogue, horizon):
        aliases = f" ({', '.join(row['aliases'])})" if row["aliases"] else ""
        retires = (row["retires"] or "none published") + ("" if row["confirmed"] else " *")
        stage = row["stage"]
        style = _STAGE_STYLE[Stage(stage)]
        table.add_row(
            row["model"] + aliases + ("" if row["origin"] == "catalogue" else f" [{row['origin']}]"),
            row["released"] or "?",
            retires,
            f"[{style}]{stage}[/]",
            "" if row["days_left"] is None else str(row["days_left"]),
            row["successor"] or "",
            f"{row['context_window']:,}" if row["context_window"] else "?",
            _yes_no(row["tuning"]),
        )
    return table


def catalogue_summary(catalogue: ModelCatalogue, horizon: Horizon) -> str:
    """`10 models on 2026-12-02 (horizon 60 days; catalogue read 2026-12-02): 5 current, 0 retiring, 5
    retired. * an unconfirmed date (sources differ).`"""
    stages = [row["stage"] for row in _rows(catalogue, horizon)]
    counts = ", ".join(f"{stages.count(s.value)} {s.value}" for s in (Stage.CURRENT, Stage.RETIRING, Stage.RETIRED))
    return (
        f"{len(stages)} models on {horizon.today.isoformat()} (horizon {horizon.within_days} days; catalogue read "
        f"{catalogue.read_on}): {counts}. * an unconfirmed date (sources differ)."
    )


__all__ = ["CATALOGUE_SCHEMA", "catalogue_json", "catalogue_summary", "catalogue_table"]

"""`genaiops models catalogue`: the publisher models genaiops knows, judged on one day, as a table for people
or a stable JSON document for machines.

Each row is a catalogue row (bundled, or a project's `ModelLifecycle` row, which the `origin` names): its id
and aliases, release and last day, stage and days left on the day, the model to move to, context window,
tuning support, whether its dates are confirmed and where they come from. Pure: the day comes in the
`Horizon`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.table import Table

from controller.model.catalogue.lifecycle import (
    Horizon,
    Lifecycle,
    ModelCatalogue,
    PublisherModelInfo,
    Stage,
    lifecycle_of,
)

CATALOGUE_SCHEMA = "genaiops.dev/model-catalogue/v1"
_STAGE_STYLE = {Stage.CURRENT: "green", Stage.RETIRING: "yellow", Stage.RETIRED: "red", Stage.UNKNOWN: "dim"}


@dataclass(frozen=True)
class _Row:
    """One catalogue row judged on the horizon's day."""

    info: PublisherModelInfo
    lifecycle: Lifecycle
    source: str  # the source's URL, else its key or text

    def to_json(self) -> dict[str, Any]:
        info = self.info
        return {
            "model": info.model_id,
            "aliases": list(info.aliases),
            "family": info.family,
            "released": info.released.isoformat() if info.released else None,
            "retires": info.retires.isoformat() if info.retires else None,
            "stage": self.lifecycle.stage.value,
            "days_left": self.lifecycle.days_left,
            "successor": self.lifecycle.successor,
            "context_window": info.context_window,
            "tuning": info.tuning,
            "confirmed": info.confirmed,
            "source": self.source,
            "origin": info.origin or "catalogue",  # the bundled catalogue, or the ModelLifecycle manifest
            "note": info.note,
        }


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


@dataclass(frozen=True)
class CatalogueView:
    """The catalogue's rows judged once on the horizon's day, rendered as a table, a summary or JSON."""

    catalogue: ModelCatalogue
    horizon: Horizon
    rows: tuple[_Row, ...]

    @classmethod
    def of(cls, catalogue: ModelCatalogue, horizon: Horizon) -> CatalogueView:
        """Every row of `catalogue`, in its order, judged on the horizon's day."""
        rows = []
        for info in catalogue.models.values():
            source = catalogue.sources.get(info.source)
            judged = lifecycle_of(info.model_id, horizon, catalogue)
            rows.append(_Row(info, judged, source.url if source is not None else info.source))
        return cls(catalogue, horizon, tuple(rows))

    def json(self) -> str:
        """`{schema, today, within_days, catalogue, models: [...]}`."""
        document = {
            "schema": CATALOGUE_SCHEMA,
            "today": self.horizon.today.isoformat(),
            "within_days": self.horizon.within_days,
            "catalogue": self.catalogue.read_on,
            "models": [row.to_json() for row in self.rows],
        }
        return json.dumps(document, indent=2)

    def table(self) -> Table:
        """One row per model, in catalogue order; an unconfirmed date is marked `*`."""
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("MODEL", "RELEASED", "LAST DAY", "STAGE", "DAYS LEFT", "MOVE TO", "CONTEXT", "TUNING"):
            table.add_column(column, justify="right" if column in ("DAYS LEFT", "CONTEXT") else "left")
        for row in self.rows:
            info, lifecycle = row.info, row.lifecycle
            aliases = f" ({', '.join(info.aliases)})" if info.aliases else ""
            origin = f" [{info.origin}]" if info.origin is not None else ""
            retires = (info.retires.isoformat() if info.retires else "none published") + (
                "" if info.confirmed else " *"
            )
            stage = lifecycle.stage
            table.add_row(
                info.model_id + aliases + origin,
                info.released.isoformat() if info.released else "?",
                retires,
                f"[{_STAGE_STYLE[stage]}]{stage.value}[/]",
                "" if lifecycle.days_left is None else str(lifecycle.days_left),
                lifecycle.successor or "",
                f"{info.context_window:,}" if info.context_window else "?",
                _yes_no(info.tuning),
            )
        return table

    def summary(self) -> str:
        """`10 models on 2026-12-02 (horizon 60 days; catalogue read 2026-12-02): 5 current, 0 retiring, 5
        retired. * an unconfirmed date (sources differ).`"""
        stages = [row.lifecycle.stage for row in self.rows]
        counts = ", ".join(f"{stages.count(s)} {s.value}" for s in (Stage.CURRENT, Stage.RETIRING, Stage.RETIRED))
        return (
            f"{len(stages)} models on {self.horizon.today.isoformat()} (horizon {self.horizon.within_days} days; "
            f"catalogue read {self.catalogue.read_on}): {counts}. * an unconfirmed date (sources differ)."
        )


__all__ = ["CatalogueView"]

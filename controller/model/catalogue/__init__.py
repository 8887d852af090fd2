"""The bundled, dated Vertex AI prediction catalogue: machine types, accelerators, regions.

Beside the model layer (no I/O but reading its own package data): the manifest validators, the loader's
checks and the emulator all ask the same functions, so they cannot disagree. The data lives in
`vertex_prediction.yaml` with the source URL and the date each table was read.
"""

from __future__ import annotations

from controller.model.catalogue.data import (
    Accelerator,
    Catalogue,
    CatalogueError,
    MachineType,
    Region,
    Source,
    catalogue_text,
    parse,
    vertex_catalogue,
)
from controller.model.catalogue.rules import (
    Mismatch,
    accelerator_problem,
    combination_problem,
    machine_spec_problem,
    machine_type_problem,
    region_problem,
)

__all__ = [
    "Accelerator",
    "Catalogue",
    "CatalogueError",
    "MachineType",
    "Mismatch",
    "Region",
    "Source",
    "accelerator_problem",
    "catalogue_text",
    "combination_problem",
    "machine_spec_problem",
    "machine_type_problem",
    "parse",
    "region_problem",
    "vertex_catalogue",
]

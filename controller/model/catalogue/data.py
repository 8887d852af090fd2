"""The bundled Vertex AI prediction catalogue as frozen values: machine types, accelerators, regions.

`vertex_catalogue()` reads `vertex_prediction.yaml` (package data, shipped in the wheel) once; `parse` turns
such a document into a `Catalogue` and refuses a malformed one with `CatalogueError`. Nothing here knows
about manifests: `catalogue.rules` says what is wrong with a value, the model and the emulator ask it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

CATALOGUE_FILE = "vertex_prediction.yaml"
_KEYS = {"catalogue", "read_on", "sources", "accelerators", "not_for_prediction", "n1-gpus", "families", "regions"}
AcceleratorRule = Literal["required", "optional", "none"]


class CatalogueError(ValueError):
    """The catalogue file is malformed (a packaging bug, never a user mistake)."""


@dataclass(frozen=True)
class Source:
    """A page a table was read from, when, and what it did and did not show."""

    key: str
    url: str
    read: str
    confirmed: str
    unconfirmed: str


@dataclass(frozen=True)
class Accelerator:
    """An AcceleratorType Vertex AI prediction offers."""

    name: str
    description: str
    confirmed: bool


@dataclass(frozen=True)
class MachineType:
    """A prediction machine type: `<family>-<size>`, and the accelerators (type -> counts) it takes."""

    name: str
    family: str
    size: str
    accelerators: Mapping[str, tuple[int, ...]]
    rule: AcceleratorRule
    confirmed: bool
    source: str

    @property
    def accelerator_required(self) -> bool:
        """True when the machine type comes with its accelerators and a deployment must name them."""
        return self.rule == "required"


@dataclass(frozen=True)
class Region:
    """A region that serves Vertex AI prediction."""

    name: str
    place: str
    confirmed: bool


@dataclass(frozen=True)
class Catalogue:
    """Everything the catalogue file declares, by name, in file order."""

    read_on: str
    sources: Mapping[str, Source]
    accelerators: Mapping[str, Accelerator]
    not_for_prediction: Mapping[str, str]
    families: Mapping[str, tuple[str, ...]]
    machine_types: Mapping[str, MachineType]
    regions: Mapping[str, Region]

    def families_taking(self, accelerator: str) -> list[str]:
        """The machine families any of whose sizes take `accelerator`, in file order."""
        found: list[str] = []
        for machine in self.machine_types.values():
            if accelerator in machine.accelerators and machine.family not in found:
                found.append(machine.family)
        return found


def _mapping(value: Any, where: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise CatalogueError(f"{where} must be a mapping")
    return value


def _counts(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(n, int) and n >= 1 for n in value):
        raise CatalogueError(f"{where} must be a list of positive whole numbers")
    return tuple(sorted(set(value)))


def _family(name: str, spec: Mapping[Any, Any], sources: Mapping[str, Source]) -> list[MachineType]:
    where = f"families.{name}"
    sizes = spec.get("sizes")
    if not isinstance(sizes, list) or not sizes:
        raise CatalogueError(f"{where}.sizes must be a non-empty list")
    source = str(spec.get("source", ""))
    if source not in sources:
        raise CatalogueError(f"{where}.source {source!r} is not one of the sources")
    rule = spec.get("accelerator", "none")
    if rule not in ("required", "optional", "none"):
        raise CatalogueError(f"{where}.accelerator must be required, optional or none")
    table = {
        str(size): _mapping(types, f"{where}.accelerators.{size}")
        for size, types in _mapping(spec.get("accelerators", {}), f"{where}.accelerators").items()
    }
    unknown_sizes = sorted(set(table) - {str(s) for s in sizes})
    if unknown_sizes:
        raise CatalogueError(f"{where}.accelerators names sizes it does not list: {', '.join(unknown_sizes)}")
    machines: list[MachineType] = []
    for size in (str(s) for s in sizes):
        taken = {str(t): _counts(c, f"{where}.accelerators.{size}.{t}") for t, c in table.get(size, {}).items()}
        if rule != "none" and not taken:
            raise CatalogueError(f"{where}: size {size} takes accelerators ({rule}) but lists none")
        if rule == "none" and taken:
            raise CatalogueError(f"{where}: size {size} lists accelerators but the family takes none")
        machines.append(
            MachineType(f"{name}-{size}", name, size, taken, rule, bool(spec.get("confirmed", True)), source)
        )
    return machines


def parse(document: Any) -> Catalogue:
    """A `Catalogue` from the loaded YAML document; CatalogueError names the first malformed part."""
    top = _mapping(document, "the catalogue")
    extra = sorted(set(top) - _KEYS)
    if extra:
        raise CatalogueError(f"unknown top-level keys: {', '.join(extra)}")
    sources = {
        str(key): Source(
            str(key), str(s["url"]), str(s["read"]), str(s.get("confirmed", "")), str(s.get("unconfirmed", ""))
        )
        for key, s in _mapping(top.get("sources"), "sources").items()
    }
    accelerators = {
        str(name): Accelerator(str(name), str(spec.get("description", "")), bool(spec.get("confirmed", True)))
        for name, spec in _mapping(top.get("accelerators"), "accelerators").items()
    }
    machines: dict[str, MachineType] = {}
    families: dict[str, tuple[str, ...]] = {}
    for family, spec in _mapping(top.get("families"), "families").items():
        found = _family(str(family), _mapping(spec, f"families.{family}"), sources)
        families[str(family)] = tuple(m.size for m in found)
        for machine in found:
            if machine.name in machines:
                raise CatalogueError(f"machine type {machine.name} is listed twice")
            machines[machine.name] = machine
    regions = {
        str(name): Region(str(name), str(spec.get("place", "")), bool(spec.get("confirmed", True)))
        for name, spec in _mapping(top.get("regions"), "regions").items()
    }
    not_for_prediction = {str(k): str(v) for k, v in _mapping(top.get("not_for_prediction", {}), "").items()}
    return Catalogue(
        str(top.get("read_on", "")), sources, accelerators, not_for_prediction, families, machines, regions
    )


def catalogue_text() -> str:
    """The bundled catalogue file's text."""
    return resources.files("controller.model.catalogue").joinpath(CATALOGUE_FILE).read_text(encoding="utf-8")


@cache
def vertex_catalogue() -> Catalogue:
    """The bundled Vertex AI prediction catalogue (read once per process)."""
    return parse(yaml.safe_load(catalogue_text()))

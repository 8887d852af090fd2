"""What is wrong with a region, a machine type, an accelerator or a combination of them, as one message.

Pure functions of a value and the bundled catalogue: None when Vertex AI prediction accepts the value, else
a message that names the nearest valid value ("did you mean") or, for a combination the cloud refuses, the
combinations that exist for that machine type. The manifest model (pydantic validators, loader checks) and
the emulator (DeployModel) both ask these, so they cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from controller.model.catalogue.data import Catalogue, MachineType, vertex_catalogue
from controller.model.suggest import closest, did_you_mean, join_or

_SIZE_NUMBER = re.compile(r"^(\d+)")
_REGION_CUTOFF = 0.8  # region names share most letters: a looser match suggests unrelated regions
_NAME_CUTOFF = 0.75  # machine type names share their shape: a looser match suggests unrelated ones
_ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d+)-[a-z]$")


def _as_of(cat: Catalogue) -> str:
    return f"(genaiops catalogue of {cat.read_on})"


# --- Regions ----------------------------------------------------------------------------------------------


def region_problem(region: str, cat: Catalogue | None = None) -> str | None:
    """None for a region that serves Vertex AI prediction, else why not and the nearest region."""
    cat = cat or vertex_catalogue()
    if region in cat.regions:
        return None
    zone = _ZONE.match(region)
    if zone is not None and zone["region"] in cat.regions:
        return f"{region!r} is a zone; Vertex AI takes a region here: {zone['region']!r}"
    hint = did_you_mean(region, cat.regions, cutoff=_REGION_CUTOFF)
    if hint:
        return f"unknown region {region!r}{hint}"
    area = region.split("-", 1)[0]
    nearby = [name for name in cat.regions if name.split("-", 1)[0] == area]
    listed = nearby or list(cat.regions)
    return f"unknown region {region!r}: Vertex AI prediction is served in {join_or(listed)} {_as_of(cat)}"


# --- Machine types ----------------------------------------------------------------------------------------


def _number(size: str) -> int | None:
    match = _SIZE_NUMBER.match(size)
    return int(match[1]) if match else None


def _nearest_size(wanted: str, sizes: tuple[str, ...]) -> str | None:
    """The size numerically nearest to `wanted` (ties go to the larger), or None."""
    number = _number(wanted)
    if number is None:
        return None
    ranked = [(abs(n - number), -n, size) for size in sizes if (n := _number(size)) is not None]
    return min(ranked)[2] if ranked else None


def _sizes_text(sizes: tuple[str, ...]) -> str:
    return join_or(sizes, last="and")


def machine_type_problem(name: str, cat: Catalogue | None = None) -> str | None:
    """None for a prediction machine type, else why not and the nearest machine type."""
    cat = cat or vertex_catalogue()
    if name in cat.machine_types:
        return None
    if name in cat.families:
        sizes = cat.families[name]
        return (
            f"machine type {name!r} needs a size: {name} comes in sizes {_sizes_text(sizes)}, e.g. '{name}-{sizes[0]}'"
        )
    family, _, size = name.rpartition("-")
    if family in cat.families:
        sizes = cat.families[family]
        nearest = _nearest_size(size, sizes)
        hint = f"; did you mean '{family}-{nearest}'?" if nearest is not None else ""
        return f"unknown machine type {name!r}: {family} comes in sizes {_sizes_text(sizes)} for prediction{hint}"
    hint = did_you_mean(name, cat.machine_types, cutoff=_NAME_CUTOFF)
    if hint:
        return f"unknown machine type {name!r}{hint}"
    return (
        f"unknown machine type {name!r}: Vertex AI prediction machine families are "
        f"{join_or(list(cat.families))} {_as_of(cat)}"
    )


# --- Accelerators -----------------------------------------------------------------------------------------


def _suggest_accelerator(name: str, cat: Catalogue) -> str | None:
    written = name.upper().replace("-", "_")  # Compute Engine writes nvidia-tesla-t4; Vertex AI NVIDIA_TESLA_T4
    if written in cat.accelerators:
        return written
    token = written.rsplit("_", 1)[-1]  # `T4`, `NVIDIA_T4`, `H100`: the part that names the chip
    for matches in (
        [known for known in cat.accelerators if known.endswith(f"_{written}")],
        [known for known in cat.accelerators if known.endswith(f"_{token}")],
        [known for known in cat.accelerators if f"_{token}_" in known],
    ):
        if matches:
            return min(matches, key=len)
    return closest(written, cat.accelerators)


def accelerator_problem(name: str, cat: Catalogue | None = None) -> str | None:
    """None for an accelerator type Vertex AI prediction offers, else why not and the nearest type."""
    cat = cat or vertex_catalogue()
    if name in cat.accelerators:
        return None
    if name in cat.not_for_prediction:
        return f"accelerator type {name!r} is not offered for Vertex AI prediction: {cat.not_for_prediction[name]}"
    hint = _suggest_accelerator(name, cat)
    if hint is not None:
        return f"unknown accelerator type {name!r}; did you mean {hint!r}?"
    return (
        f"unknown accelerator type {name!r}: Vertex AI prediction offers {join_or(list(cat.accelerators))} "
        f"{_as_of(cat)}"
    )


# --- Combinations -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """A machine type and accelerator the cloud refuses together; `field` is the part to point at."""

    field: Literal["machineType", "type", "count"]
    message: str


def _counts(counts: tuple[int, ...]) -> str:
    return join_or(str(n) for n in counts)


def _offers(machine: MachineType) -> str:
    if len(machine.accelerators) == 1:
        ((kind, counts),) = machine.accelerators.items()
        return f"{_counts(counts)} {kind}"
    return join_or(f"{kind} ({_counts(counts)})" for kind, counts in machine.accelerators.items())


def _goes_on(accelerator: str, cat: Catalogue) -> str:
    families = cat.families_taking(accelerator)
    return f"{accelerator} goes on {join_or(f'{f}-*' for f in families)}"


def _same_count_elsewhere(machine: MachineType, accelerator: str, count: int, cat: Catalogue) -> str:
    others = [
        m.name
        for m in cat.machine_types.values()
        if m.family == machine.family and count in m.accelerators.get(accelerator, ())
    ]
    return f"; for {count} {accelerator} use {join_or(others)}" if others else ""


def combination_problem(
    machine_type: str, accelerator: str | None, count: int, cat: Catalogue | None = None
) -> Mismatch | None:
    """None when `machine_type` takes `count` x `accelerator` (or runs without one when it is None).
    Unknown machine types and accelerators are not judged here: `*_problem` reports them."""
    cat = cat or vertex_catalogue()
    machine = cat.machine_types.get(machine_type)
    if machine is None or (accelerator is not None and accelerator not in cat.accelerators):
        return None
    if accelerator is None:
        if not machine.accelerator_required:
            return None
        ((kind, counts),) = list(machine.accelerators.items())[:1]
        add = f"add accelerator: {{type: {kind}, count: {counts[0]}}}"
        return Mismatch("machineType", f"{machine.name} comes with {_counts(counts)} {kind}; {add}")
    if not machine.accelerators:
        return Mismatch("type", f"{machine.name} takes no accelerator; {_goes_on(accelerator, cat)}")
    allowed = machine.accelerators.get(accelerator)
    if allowed is None:
        return Mismatch(
            "type", f"{machine.name} takes {_offers(machine)}, not {accelerator} ({_goes_on(accelerator, cat)})"
        )
    if count not in allowed:
        elsewhere = _same_count_elsewhere(machine, accelerator, count, cat)
        return Mismatch("count", f"{machine.name} takes {_counts(allowed)} {accelerator} (got {count}){elsewhere}")
    return None


def machine_spec_problem(machine_type: str, accelerator: str | None, count: int) -> str | None:
    """Everything wrong with one machine spec, as one message (the emulator's DeployModel check)."""
    problems = [machine_type_problem(machine_type)]
    if accelerator is not None:
        problems.append(accelerator_problem(accelerator))
    if not any(problems):
        mismatch = combination_problem(machine_type, accelerator, count)
        problems.append(mismatch.message if mismatch else None)
    found = [p for p in problems if p]
    return "; ".join(found) if found else None

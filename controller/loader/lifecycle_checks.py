"""Lifecycle checks: every Google publisher model the manifests write, judged on the horizon's day.

A model past its last day is an error at the field that names it (calls to it answer 404); one whose last
day falls within the horizon is a warning naming the day and the model to move to; a current or unknown
model is fine. A TuningJob's base model carries the tuned model with it, and a Model or TuningJob names the
prompts that call it. The catalogue is the bundled one with the project's `ModelLifecycle` rows. Pure: the
day comes in the `Horizon`, never from a clock.
"""

from __future__ import annotations

from collections.abc import Iterable

from controller.diagnostics import Diagnostic, Severity
from controller.loader.checks import Located
from controller.loader.model_refs import ModelRef, outdated_refs
from controller.model.catalogue.lifecycle import Horizon, Lifecycle, ModelCatalogue, Stage
from controller.model.model_lifecycle import project_catalogue

_SEVERITY = {Stage.RETIRED: Severity.ERROR, Stage.RETIRING: Severity.WARNING}


def _where_from(lifecycle: Lifecycle, catalogue: ModelCatalogue) -> str:
    """Where the dates come from, and what to do when Google moved them."""
    info = lifecycle.info
    if info is not None and info.origin is not None:
        return f"({info.origin}; update it if Google moved the date)"
    unconfirmed = "; the date is UNCONFIRMED: sources differ" if info is not None and not info.confirmed else ""
    return (
        f"(genaiops model catalogue of {catalogue.read_on or 'unknown date'}{unconfirmed}; "
        "update it or declare a ModelLifecycle if Google moved the date)"
    )


def _message(ref: ModelRef, lifecycle: Lifecycle, catalogue: ModelCatalogue, users: list[str]) -> str:
    """One line: what happens to the model, the model to move to, who is affected and where the date is from."""
    parts = [lifecycle.describe()]
    if ref.tuned:
        parts.append("the tuned model retires with its base model")
    if users:
        parts.append(f"used by {', '.join(users)}")
    return f"{'; '.join(parts)} {_where_from(lifecycle, catalogue)}"


def lifecycle_diagnostics(items: Iterable[Located], horizon: Horizon | None) -> list[Diagnostic]:
    """An error for each retired model a manifest writes, a warning for each retiring within the horizon;
    nothing without a horizon (library callers)."""
    if horizon is None:
        return []
    located = tuple(items)
    catalogue = project_catalogue(item.manifest for item in located)
    found = []
    for judged in outdated_refs(located, horizon, catalogue):
        ref, lifecycle = judged.ref, judged.lifecycle
        message = _message(ref, lifecycle, catalogue, list(judged.used_by))
        found.append(ref.item.at(ref.path, message, severity=_SEVERITY[lifecycle.stage]))
    return found


__all__ = ["lifecycle_diagnostics"]

"""The `ModelLifecycle` kind: a project's rows for the publisher model catalogue.

The bundled, dated catalogue (`controller/model/catalogue/publisher_models.yaml`) knows the Gemini models
Google had published when it was read. A `ModelLifecycle` manifest adds a model it does not know yet, or
corrects a date Google has moved since, and wins over the bundled row of the same id (or alias). Like a
PriceBook it is never planned or applied: `validate`, `plan`, `status` and `models outdated` read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from controller.model.catalogue.lifecycle import (
    PUBLISHER_PREFIX,
    ModelCatalogue,
    PublisherModelInfo,
    model_catalogue,
    model_id_of,
)
from controller.model.common import Frozen, Metadata
from controller.model.prompt import Prompt
from controller.model.registry_model import Model
from controller.model.tuning import TuningJob

_MODEL_ID = r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$"


class ModelLifecycleRow(Frozen):
    """One publisher model's lifecycle."""

    model: str = Field(pattern=_MODEL_ID, description="The publisher model id, e.g. gemini-3.5-flash.")
    family: str | None = Field(default=None, description="Its family (default: the id).")
    released: date | None = Field(default=None, description="The day it became generally available.")
    retires: date | None = Field(
        default=None, description="Its last available day (calls after it answer 404); left out: none published."
    )
    successor: str | None = Field(default=None, pattern=_MODEL_ID, description="The model Google recommends moving to.")
    context_window: int | None = Field(default=None, ge=1, description="Input tokens it accepts.")
    tuning: bool | None = Field(default=None, description="Whether Vertex AI supervised tuning supports it.")
    source: str = Field(min_length=1, description="Where the dates come from (a URL, an announcement).")
    as_of: date = Field(description="The day the source was read (YYYY-MM-DD).")

    @model_validator(mode="after")
    def _retires_after_release(self) -> ModelLifecycleRow:
        if self.released is not None and self.retires is not None and self.retires < self.released:
            raise ValueError("retires must not be before released")
        if self.successor == self.model:
            raise ValueError("a model cannot be its own successor")
        return self

    def info(self, origin: str) -> PublisherModelInfo:
        """The catalogue row this declares (`origin`: the manifest file)."""
        return PublisherModelInfo(
            model_id=self.model,
            family=self.family or self.model,
            released=self.released,
            retires=self.retires,
            successor=self.successor,
            context_window=self.context_window,
            tuning=self.tuning,
            confirmed=True,
            source=self.source,
            note=f"read {self.as_of.isoformat()}",
            origin=origin,
        )


class ModelLifecycleSpec(Frozen):
    """What a `ModelLifecycle` declares."""

    models: list[ModelLifecycleRow] = Field(min_length=1)
    description: str | None = None

    @model_validator(mode="after")
    def _each_model_once(self) -> ModelLifecycleSpec:
        seen: set[str] = set()
        for row in self.models:
            if row.model in seen:
                raise ValueError(f"model {row.model} is declared twice")
            seen.add(row.model)
        return self


class ModelLifecycle(Frozen):
    """A project's publisher model lifecycle rows, overriding the bundled catalogue's."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["ModelLifecycle"]
    metadata: Metadata
    spec: ModelLifecycleSpec


def written_models(manifest: object) -> list[tuple[tuple[str, ...], str, str]]:
    """Where a manifest writes a Google publisher model id itself, as (YAML field path, the field's whole
    value, the model id): a Model's `spec.publisher`, a TuningJob's `spec.baseModel` (a bare `gemini-...`
    id allowed: the tuned model retires with it) and a Prompt's `spec.model` / `spec.fallbackModel` when
    they are publisher paths (a bare name there is a Model or TuningJob manifest's). One list for the
    loader's checks (`loader.model_refs`, with positions) and the planner's health."""
    fields: list[tuple[tuple[str, ...], str | None]] = []
    if isinstance(manifest, Model):
        fields.append((("spec", "publisher"), manifest.spec.publisher))
    elif isinstance(manifest, TuningJob):
        fields.append((("spec", "baseModel"), manifest.spec.base_model))
    elif isinstance(manifest, Prompt):
        fields.extend(
            ((("spec", "model"), manifest.spec.model), (("spec", "fallbackModel"), manifest.spec.fallback_model))
        )
    bare = isinstance(manifest, TuningJob)
    found: list[tuple[tuple[str, ...], str, str]] = []
    for path, value in fields:
        if value is None or not (value.startswith(PUBLISHER_PREFIX) or (bare and value.startswith("gemini-"))):
            continue
        model_id = model_id_of(value)
        if model_id is not None:
            found.append((path, value, model_id))
    return found


def project_catalogue(manifests: Iterable[object], base: ModelCatalogue | None = None) -> ModelCatalogue:
    """`base` (default: the bundled catalogue) with the rows of every `ModelLifecycle` among `manifests`
    (in order: a later row for the same model wins)."""
    rows = [
        row.info(f"ModelLifecycle/{m.metadata.name}")
        for m in manifests
        if isinstance(m, ModelLifecycle)
        for row in m.spec.models
    ]
    catalogue = base or model_catalogue()
    return catalogue.with_rows(rows) if rows else catalogue


__all__ = ["ModelLifecycle", "ModelLifecycleRow", "ModelLifecycleSpec", "project_catalogue", "written_models"]

"""Where manifests write a Google publisher model id: the places lifecycle checks judge and `models outdated
--write` edits.

A Gemini model id is written in four places: a Model's `spec.publisher`, a TuningJob's `spec.baseModel`
(a tuned model retires with its base model) and a Prompt's `spec.model` / `spec.fallbackModel` when they
name a publisher model path directly. A Prompt naming a Model or TuningJob manifest inherits that one's
model, which is judged (and edited) where it is written; `dependents` lists such prompts. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from controller.loader.checks import Located
from controller.loader.yaml_source import Path
from controller.model import Model, Prompt, TuningJob
from controller.model.catalogue.lifecycle import Horizon, Lifecycle, ModelCatalogue, Stage, lifecycle_of
from controller.model.model_lifecycle import project_catalogue, written_models


@dataclass(frozen=True)
class ModelRef:
    """One written model id: the manifest, the field (YAML keys), the whole value and the id inside it."""

    item: Located
    path: Path
    value: str  # the field's whole value: `publishers/google/models/gemini-2.0-flash@1` or `gemini-2.0-flash-001`
    model_id: str  # the publisher model id inside it: `gemini-2.0-flash`

    @property
    def location(self) -> tuple[str, int, int]:
        """Where the value is written: its file (an environment's, when its patch set it), line and column."""
        positions = self.item.positions
        return (positions.file_of(self.path, self.item.file), *positions.of_value(self.path))

    @property
    def tuned(self) -> bool:
        """True for a TuningJob's base model (the tuned model retires with it)."""
        return isinstance(self.item.manifest, TuningJob)

    def replaced(self, successor: str) -> str:
        """The field's value with the model id replaced by `successor` (a version suffix `@x` is dropped:
        it names a version of the old model)."""
        head, _, _ = self.value.partition(self.model_id)
        return head + successor


def model_refs(items: Iterable[Located]) -> Iterator[ModelRef]:
    """Every place `items` write a Google publisher model id, in input order (`written_models` says where)."""
    for item in items:
        for path, value, model_id in written_models(item.manifest):
            yield ModelRef(item, path, value, model_id)


def dependents(items: Iterable[Located], ref: ModelRef) -> list[str]:
    """The Prompts that call the model `ref` writes through a Model or TuningJob manifest name
    (`Prompt/support-answer`), sorted."""
    owner = ref.item.manifest
    if not isinstance(owner, Model | TuningJob):
        return []
    name = owner.metadata.name
    found = set()
    for item in items:
        prompt = item.manifest
        if isinstance(prompt, Prompt):
            for target in (prompt.spec.model, prompt.spec.fallback_model):
                if target is not None and target.split("@", 1)[0] == name:
                    found.add(f"Prompt/{prompt.metadata.name}")
    return sorted(found)


@dataclass(frozen=True)
class JudgedRef:
    """A written model id that is retired, or retiring within the horizon, with its lifecycle that day and
    the prompts that call it through a Model or TuningJob manifest."""

    ref: ModelRef
    lifecycle: Lifecycle
    used_by: tuple[str, ...]


def outdated_refs(
    items: Iterable[Located], horizon: Horizon, catalogue: ModelCatalogue | None = None
) -> Iterator[JudgedRef]:
    """Every place `items` write a model that is retired or retiring within the horizon on its day, in
    input order; `catalogue` defaults to the bundled one with the `ModelLifecycle` rows among `items`. The
    one judgement `validate`, `models outdated` and the reconcile loop's events share."""
    located = tuple(items)
    cat = catalogue if catalogue is not None else project_catalogue(item.manifest for item in located)
    for ref in model_refs(located):
        lifecycle = lifecycle_of(ref.model_id, horizon, cat)
        if lifecycle.stage in (Stage.RETIRED, Stage.RETIRING):
            yield JudgedRef(ref, lifecycle, tuple(dependents(located, ref)))


__all__ = ["JudgedRef", "ModelRef", "dependents", "model_refs", "outdated_refs"]

"""Checks of the tuning kinds that need a file or other manifests: a Dataset's file lies inside the manifests
root and is a regular file; a Pipeline's template too; a TuningJob names declared Datasets and Prompts; a
Prompt's `model` may name a TuningJob (its accepted tuned model) as well as a Model.

The data itself is checked by `genaiops data validate` (streaming, any size): loading manifests only looks
at where a file is, never reads it.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping

from controller.diagnostics import Diagnostic
from controller.loader.checks import Located
from controller.loader.files import FileRefusedError, not_regular, resolve_local
from controller.model import Dataset, Pipeline, Prompt, TuningJob
from controller.model.suggest import did_you_mean


def _local_file(item: Located, relative: str, field: str) -> Iterable[Diagnostic]:
    if relative.startswith("gs://"):
        return
    try:
        path = resolve_local(relative, manifest_file=item.file, root=item.manifests_root)
    except FileRefusedError as err:
        yield item.at(("spec", field), f"file {relative!r} {err.reason}")
        return
    if not os.path.exists(path):
        yield item.at(("spec", field), f"file {relative!r} does not exist (relative to {item.file})")
        return
    problem = not_regular(path)
    if problem is not None:
        yield item.at(("spec", field), f"file {relative!r} {problem}")


def check_dataset(item: Located, dataset: Dataset) -> Iterable[Diagnostic]:
    """A local source lies inside the manifests root and is a regular file."""
    yield from _local_file(item, dataset.spec.source, "source")


def check_pipeline(item: Located, pipeline: Pipeline) -> Iterable[Diagnostic]:
    """A compiled template lies inside the manifests root and is a regular file."""
    if pipeline.spec.template is not None:
        yield from _local_file(item, pipeline.spec.template, "template")


def tuning_refs(
    item: Located, job: TuningJob, *, datasets: Mapping[str, Dataset], prompts: Iterable[str], broken: set[str]
) -> Iterable[Diagnostic]:
    """A TuningJob's datasets and gate prompts are declared."""
    spec = job.spec
    named = [("trainingDataset",), ("validationDataset",)]
    for (field,), name in zip(named, (spec.training_dataset, spec.validation_dataset), strict=True):
        if name is not None and name not in datasets and name not in broken:
            yield item.at(
                ("spec", field), f"tuning job refers to unknown Dataset {name!r}{did_you_mean(name, datasets)}"
            )
    if spec.evaluation is None:
        return
    gate = spec.evaluation
    if gate.dataset is not None and gate.dataset not in datasets and gate.dataset not in broken:
        yield item.at(
            ("spec", "evaluation", "dataset"),
            f"evaluation refers to unknown Dataset {gate.dataset!r}{did_you_mean(gate.dataset, datasets)}",
        )
    known = set(prompts)
    for index, name in enumerate(gate.prompts):
        if name not in known and name not in broken:
            yield item.at(
                ("spec", "evaluation", "prompts", index),
                f"evaluation refers to unknown Prompt {name!r}{did_you_mean(name, known)}",
            )


def check_tuning_set(items: list[Located], *, invalid: Collection[tuple[str, str]] = ()) -> Iterable[Diagnostic]:
    """Every TuningJob's references, across the whole load (`invalid`: declared but invalid manifests)."""
    broken = {name for kind, name in invalid if kind in ("Dataset", "Prompt")}
    datasets = {i.manifest.metadata.name: i.manifest for i in items if isinstance(i.manifest, Dataset)}
    prompts = [i.manifest.metadata.name for i in items if isinstance(i.manifest, Prompt)]
    for item in items:
        if isinstance(item.manifest, TuningJob):
            yield from tuning_refs(item, item.manifest, datasets=datasets, prompts=prompts, broken=broken)


__all__ = ["check_dataset", "check_pipeline", "check_tuning_set", "tuning_refs"]

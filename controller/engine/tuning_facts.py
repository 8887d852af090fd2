"""Planning the tuning kinds needs facts the pure planner (`plans/tuning_plan.py`) cannot read: each Dataset's
content hash and size (one streaming pass over the file), whether that version is in the target's bucket,
the tuning and pipeline jobs genaiops started (through the TuningPort), each gate's cases (the evaluation
dataset's first examples, the named prompts' tests rendered) and each Pipeline's compiled KFP IR. This
module gathers them and calls the planner; `planning.plan_load` merges the changes into the plan and
resolves `model: <TuningJob>` in prompts to the accepted tuned endpoint.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from controller.datasets.scan import ScanReport, scan_file
from controller.diagnostics import Diagnostic, Source
from controller.errors import GenaiopsError, UserError
from controller.evaluation.examples import examples_of
from controller.loader import LoadResult
from controller.loader.checks import Located
from controller.loader.files import FileRefusedError, resolve_local
from controller.model import Dataset, Pipeline, TuningJob
from controller.plans.operations import GateCase
from controller.plans.plan import ResourceChange
from controller.plans.tuning_plan import (
    DatasetFacts,
    GatePlan,
    TuningPlan,
    plan_datasets,
    plan_pipelines,
    plan_tuning_jobs,
)
from controller.ports import TuningPort
from controller.prompts.render import render_source
from controller.prompts.source import PromptSource, sources_of
from controller.prompts.version import version_of

KINDS = ("Dataset", "TuningJob", "Pipeline")


@dataclass(frozen=True)
class Tuned:
    """The tuning part of a plan: its changes, the accepted tuned endpoints, and problems found reading."""

    changes: tuple[ResourceChange, ...] = ()
    accepted: Mapping[str, str] = field(default_factory=dict)
    waiting: Mapping[str, str] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()


def _local(item: Located, relative: str) -> Path:
    try:
        return resolve_local(relative, manifest_file=item.file, root=item.manifests_root)
    except FileRefusedError as err:
        raise UserError(f"{item.file}: file {relative!r} {err.reason}") from err


def _scanned(path: str, display_name: str) -> ScanReport:
    """One streaming pass over a dataset file, remembered while the file is unchanged (same size and
    modification time): the reconcile loop plans every pass, and a large file takes seconds to read."""
    stat = os.stat(path)
    return _scan(path, display_name, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _scan(path: str, display_name: str, size: int, mtime_ns: int) -> ScanReport:
    del size, mtime_ns  # the cache key: a changed file is read again
    return scan_file(Path(path), display_name=display_name, max_problems=1)


def dataset_facts(port: TuningPort, items: Iterable[Located]) -> tuple[dict[str, DatasetFacts], list[Diagnostic]]:
    """Every Dataset's version (content hash), size and whether that version is in the bucket."""
    facts: dict[str, DatasetFacts] = {}
    problems: list[Diagnostic] = []
    for item in items:
        dataset = item.manifest
        if not isinstance(dataset, Dataset):
            continue
        name, source = dataset.metadata.name, dataset.spec.source
        if source.startswith("gs://"):
            digest = hashlib.sha256(source.encode()).hexdigest()
            facts[name] = DatasetFacts(digest=digest, uri=source, uploaded=True)
            continue
        path = _local(item, source)
        try:
            report = _scanned(str(path), source)
        except OSError as err:
            problems.append(Diagnostic(f"cannot read dataset {name}: {err}", Source(item.file), "spec.source"))
            continue
        if not report.ok:
            first = report.diagnostics[0].summary if report.diagnostics else "invalid lines"
            problems.append(
                Diagnostic(
                    f"dataset {name} has {report.stats.errors} problem(s) ({first}); run `genaiops data validate "
                    f"{source}`",
                    Source(item.file, *item.positions.of_value(("spec", "source"))),
                    "spec.source",
                )
            )
            continue
        uri = port.dataset_uri(name=name, digest=report.sha256)
        facts[name] = DatasetFacts(
            digest=report.sha256,
            uri=uri,
            uploaded=port.dataset_exists(uri),
            path=str(path),
            examples=report.stats.valid_examples,
            tokens=report.stats.tokens,
        )
    return facts, problems


def _dataset_cases(item: Located, dataset: Dataset, limit: int) -> list[GateCase]:
    path = _local(item, dataset.spec.source)
    cases: list[GateCase] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if len(cases) >= limit:
                break
            if not line.strip():
                continue
            try:
                example = examples_of(json.loads(line))
            except ValueError as err:
                raise UserError(f"{dataset.spec.source}:{number}: not an evaluation example: {err}") from err
            cases.append(
                GateCase(
                    f"dataset:{dataset.metadata.name}:{number}",
                    example.prompt_text,
                    example.system_instruction,
                    example.expected,
                )
            )
    return cases


def _prompt_cases(source: PromptSource) -> list[GateCase]:
    cases = []
    for test in source.prompt.spec.tests:
        rendered = render_source(source, test.vars)
        assertions = tuple(a.model_dump(mode="json", by_alias=True) for a in test.assertions)
        cases.append(
            GateCase(f"prompt:{source.name}/{test.name}", rendered.text, rendered.system_instruction, None, assertions)
        )
    return cases


def gate_plans(result: LoadResult, facts: Mapping[str, DatasetFacts]) -> dict[str, GatePlan]:
    """Each TuningJob's gate: its cases and metrics, and the hash that says which gate judged a model."""
    items = {(i.manifest.kind, i.manifest.metadata.name): i for i in result.manifests}
    prompts = {s.name: s for s in sources_of(result.manifests)}
    gates: dict[str, GatePlan] = {}
    for item in result.manifests:
        job = item.manifest
        if not isinstance(job, TuningJob) or job.spec.evaluation is None:
            continue
        gate = job.spec.evaluation
        cases: list[GateCase] = []
        if gate.dataset is not None:
            holder = items[("Dataset", gate.dataset)]
            assert isinstance(holder.manifest, Dataset)
            cases.extend(_dataset_cases(holder, holder.manifest, gate.max_examples))
        versions = {}
        for name in gate.prompts:
            cases.extend(_prompt_cases(prompts[name]))
            versions[name] = version_of(prompts[name]).id
        metrics = tuple(m.model_dump(mode="json", by_alias=True, exclude_none=True) for m in gate.metrics)
        body = {
            "gate": gate.model_dump(mode="json", by_alias=True, exclude_none=True),
            "data": facts[gate.dataset].digest if gate.dataset is not None and gate.dataset in facts else None,
            "prompts": versions,
        }
        gate_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        gates[job.metadata.name] = GatePlan(tuple(cases), metrics, gate_hash)
    return gates


Compiler = Callable[[str, Path], dict[str, Any]]  # (module:function, manifests root) -> KFP IR


def compiled_pipeline(item: Located, pipeline: Pipeline, *, compiler: Compiler | None) -> dict[str, Any]:
    """The KFP IR of a Pipeline: its template file, or its `module:function` compiled with kfp by `compiler`
    (given only with --allow-code: it runs code from the repository)."""
    if pipeline.spec.template is not None:
        path = _local(item, pipeline.spec.template)
        text = path.read_text(encoding="utf-8")
        loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(loaded, dict):
            raise UserError(f"{pipeline.spec.template} is not a compiled KFP pipeline (a mapping)")
        return loaded
    if compiler is None:
        raise UserError(
            f"Pipeline {pipeline.metadata.name} names function {pipeline.spec.function!r}: compiling it runs code "
            "from the repository; pass --allow-code, or check in the compiled IR as 'template'"
        )
    assert pipeline.spec.function is not None
    return compiler(pipeline.spec.function, item.manifests_root)


def plan_tuning(
    port: TuningPort,
    result: LoadResult,
    *,
    regions: Sequence[str],
    retry: frozenset[str] = frozenset(),
    compiler: Compiler | None = None,
) -> Tuned:
    """The tuning part of the plan for a load (nothing when it declares no tuning kinds)."""
    located = [i for i in result.manifests if i.manifest.kind in KINDS]
    if not located:
        return Tuned()
    facts, problems = dataset_facts(port, located)
    jobs = [job for region in regions for job in port.list_tuning_jobs(region=region)]
    try:
        gates = gate_plans(result, facts)
    except GenaiopsError as err:
        problems.append(Diagnostic(str(err), Source(""), ""))
        gates = {}
    datasets = plan_datasets([i.manifest for i in located if isinstance(i.manifest, Dataset)], facts)
    tuning: TuningPlan = plan_tuning_jobs(
        [i.manifest for i in located if isinstance(i.manifest, TuningJob)],
        jobs=jobs,
        datasets=facts,
        gates=gates,
        retry=retry,
    )
    pipelines_in = [(i, i.manifest) for i in located if isinstance(i.manifest, Pipeline)]
    compiled = []
    for item, pipeline in pipelines_in:
        try:
            compiled.append((pipeline, compiled_pipeline(item, pipeline, compiler=compiler)))
        except GenaiopsError as err:
            field = "template" if pipeline.spec.template is not None else "function"
            where = Source(item.file, *item.positions.of_value(("spec", field)))
            problems.append(Diagnostic(str(err), where, f"spec.{field}"))
    regions = sorted({p.spec.region for p, _ in compiled})
    runs = [run for region in regions for run in port.list_pipeline_jobs(region=region)]
    schedules = [s for region in regions for s in port.list_schedules(region=region)]
    pipelines = plan_pipelines(compiled, jobs=runs, schedules=schedules)
    return Tuned((*datasets, *tuning.changes, *pipelines), tuning.accepted, tuning.waiting, tuple(problems))


def tuned_sources(
    sources: Sequence[PromptSource], manifests: Sequence[object], tuned: Tuned
) -> tuple[list[PromptSource], list[str]]:
    """Prompt sources with `model: <TuningJob>` resolved to the accepted tuned endpoint; a prompt whose
    TuningJob has no accepted model yet is left out (nothing of it is planned), with a note saying why."""
    jobs = {m.metadata.name for m in manifests if isinstance(m, TuningJob)}
    kept: list[PromptSource] = []
    notes: list[str] = []
    for source in sources:
        ref = source.prompt.spec.model.split("@", 1)[0]
        if ref not in jobs:
            kept.append(source)
            continue
        endpoint = tuned.accepted.get(ref)
        if endpoint is None:
            why = tuned.waiting.get(ref, "no tuned model has passed its gate yet")
            notes.append(f"Prompt {source.name}: waits for TuningJob {ref} ({why})")
            continue
        kept.append(_with_model(source, endpoint))
    return kept, notes


def _with_model(source: PromptSource, endpoint: str) -> PromptSource:
    relative = endpoint.split("/", 2)[2] if endpoint.startswith("projects/") else endpoint
    return replace(source, vertex_model=relative, tuned=True)


__all__ = ["KINDS", "Tuned", "compiled_pipeline", "dataset_facts", "gate_plans", "plan_tuning", "tuned_sources"]

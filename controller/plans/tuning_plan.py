"""Planning the tuning kinds, purely: Datasets, TuningJobs and Pipelines against what Vertex AI and the target's
bucket hold. The engine reads the files and the cloud (`engine/tuning.py`) and hands the facts in.

- A Dataset version is its content hash; an absent version gets `UploadDataset` (content-addressed, never
  overwritten).
- A TuningJob's identity is the hash of its spec (the gate and `suspend` left out: changing them never
  starts another job) and its datasets' content hashes. No job with that hash: `StartTuningJob` (attempt
  1, or the next attempt when `genaiops retry` asked for it). Running: progressing. Failed or cancelled:
  degraded with the service's error, not retried until the spec changes or `genaiops retry`. Succeeded:
  accepted when there is no gate or the tuned model passed this gate (its hash); otherwise
  `EvaluateTunedModel`; a failed gate is degraded.
- The model a Prompt gets for `model: <TuningJob>` is the tuned endpoint of the newest accepted job of that
  TuningJob (`accepted`), so a new tuned model reaches a prompt only once it passed its gate, and then
  through the prompt's own rollout.
- A Pipeline run's id is the manifest name and the hash of its spec and compiled pipeline: a changed spec
  submits one run (`SubmitPipelineJob`), an unchanged one never another.
- A Pipeline with `schedule` (cron) runs through a Vertex AI schedule instead of a one-off run: no schedule
  of its current spec hash (display name `<manifest>-<hash>`) plans `CreatePipelineSchedule`, which then
  deletes the manifest's older schedules; one there plans nothing (healthy while ACTIVE, paused when PAUSED,
  degraded when COMPLETED) except deleting older schedules a killed apply left behind. A Pipeline that drops
  `schedule` deletes its schedules and submits a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.model import Dataset, Pipeline, TuningJob
from controller.observed import (
    ATTEMPT_LABEL,
    TUNING_HASH_LABEL,
    TUNING_LABEL,
    JobState,
    ObservedPipelineJob,
    ObservedSchedule,
    ObservedTuningJob,
    ScheduleState,
)
from controller.plans.operations import (
    CreatePipelineSchedule,
    DeletePipelineSchedule,
    EvaluateTunedModel,
    GateCase,
    Operation,
    StartTuningJob,
    SubmitPipelineJob,
    UploadDataset,
)
from controller.plans.plan import Action, Health, HealthState, ResourceChange

GLOBAL = "global"
PIPELINE_LABEL = "genaiops-pipeline"
PIPELINE_HASH_LABEL = "genaiops-pipeline-hash"


@dataclass(frozen=True)
class DatasetFacts:
    """What the engine read of a Dataset: its version (content hash), where that version lives in the
    target's bucket and whether it is there, the local file to upload, and its size in examples and tokens."""

    digest: str
    uri: str
    uploaded: bool
    path: str = ""  # "" for a gs:// source (used where it is)
    examples: int | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class GatePlan:
    """A TuningJob's gate as the engine prepared it: the cases (rendered prompt tests and dataset examples),
    the metrics, and its hash (a changed gate judges the model again)."""

    cases: tuple[GateCase, ...]
    metrics: tuple[Mapping[str, Any], ...]
    gate_hash: str


@dataclass(frozen=True)
class TuningPlan:
    """The changes, and the tuned endpoint each TuningJob's prompts may use (accepted models only)."""

    changes: tuple[ResourceChange, ...]
    accepted: Mapping[str, str] = field(default_factory=dict)  # TuningJob name -> tuned endpoint
    waiting: Mapping[str, str] = field(default_factory=dict)  # TuningJob name -> why no model is accepted yet


def _change(
    kind: str,
    name: str,
    region: str,
    *,
    action: Action = Action.NOOP,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    operations: tuple[Operation, ...] = (),
    reasons: tuple[str, ...] = (),
    health: Health | None = None,
    suspended: bool = False,
) -> ResourceChange:
    return ResourceChange(
        kind=kind,
        name=name,
        region=region,
        action=action,
        before=before,
        after=after,
        operations=operations,
        reasons=reasons,
        health=health or Health(),
        suspended=suspended,
    )


def _digest(body: Any) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tuning_hash(job: TuningJob, datasets: Mapping[str, DatasetFacts]) -> str:
    """The identity of the job a TuningJob asks for: its spec without the gate and `suspend`, and the content
    hashes of its datasets."""
    spec = job.spec.model_dump(mode="json", by_alias=True, exclude={"evaluation", "suspend"}, exclude_none=True)
    used = [job.spec.training_dataset, job.spec.validation_dataset]
    return _digest({"spec": spec, "data": {n: datasets[n].digest for n in used if n is not None and n in datasets}})


def plan_datasets(manifests: Iterable[Dataset], facts: Mapping[str, DatasetFacts]) -> tuple[ResourceChange, ...]:
    """One change per Dataset: its version uploaded, or nothing to do."""
    changes = []
    for dataset in manifests:
        name = dataset.metadata.name
        found = facts.get(name)
        if found is None:
            continue
        after = {"version": found.digest, "uri": found.uri, "examples": found.examples}
        ops: tuple[Operation, ...] = ()
        reasons: tuple[str, ...] = ()
        if not found.uploaded and found.path:
            ops = (UploadDataset(name, found.digest, found.path, found.uri),)
            reasons = (f"version {found.digest[:12]}: {found.examples or '?'} examples, not in the bucket yet",)
        changes.append(
            ResourceChange(
                kind="Dataset",
                name=name,
                region=GLOBAL,
                action=Action.CREATE if ops else Action.NOOP,
                before=None if ops else after,
                after=after,
                operations=ops,
                reasons=reasons,
            )
        )
    return tuple(changes)


def _latest(jobs: Sequence[ObservedTuningJob]) -> ObservedTuningJob | None:
    return max(jobs, key=lambda j: (j.attempt, j.create_time), default=None)


def _accepted(job: ObservedTuningJob, gate_hash: str | None) -> bool:
    if job.state is not JobState.SUCCEEDED or not job.tuned_endpoint:
        return False
    return gate_hash is None or (job.gate == "passed" and job.gate_hash == gate_hash)


def plan_tuning_jobs(
    manifests: Iterable[TuningJob],
    *,
    jobs: Sequence[ObservedTuningJob],
    datasets: Mapping[str, DatasetFacts],
    gates: Mapping[str, GatePlan],
    retry: frozenset[str] = frozenset(),
) -> TuningPlan:
    """One change per TuningJob (see the module docstring), and which tuned endpoints are accepted."""
    changes: list[ResourceChange] = []
    accepted: dict[str, str] = {}
    waiting: dict[str, str] = {}
    for manifest in manifests:
        name = manifest.metadata.name
        gate = gates.get(name)
        mine = [j for j in jobs if j.manifest == name and j.region == manifest.spec.region]
        ready = sorted((j for j in mine if _accepted(j, gate.gate_hash if gate else None)), key=lambda j: j.create_time)
        if ready:
            accepted[name] = ready[-1].tuned_endpoint
        change = _plan_job(manifest, mine, datasets, gate, retry=name in retry)
        changes.append(change)
        if name not in accepted:
            waiting[name] = change.health.reason or "no tuned model has passed its gate yet"
    return TuningPlan(tuple(changes), accepted, waiting)


def _plan_job(
    manifest: TuningJob,
    mine: Sequence[ObservedTuningJob],
    datasets: Mapping[str, DatasetFacts],
    gate: GatePlan | None,
    *,
    retry: bool,
) -> ResourceChange:
    name, spec = manifest.metadata.name, manifest.spec
    missing = [n for n in (spec.training_dataset, spec.validation_dataset) if n is not None and n not in datasets]
    base = ("TuningJob", name, spec.region)
    if missing:
        why = f"dataset {', '.join(missing)} could not be read"
        return _change(*base, action=Action.NOOP, before=None, after=None, health=Health(HealthState.MISSING, why))
    spec_hash = tuning_hash(manifest, datasets)
    current = _latest([j for j in mine if j.spec_hash == spec_hash])
    after = {"specHash": spec_hash, "baseModel": spec.base_model}
    before = None if current is None else {"specHash": spec_hash, "job": current.name, "state": current.state.value}
    if spec.suspend:
        return _change(*base, action=Action.NOOP, before=before, after=after, suspended=True)
    if current is None or (retry and current.state in (JobState.FAILED, JobState.CANCELLED)):
        attempt = 1 if current is None else current.attempt + 1
        start = _start(manifest, spec_hash, attempt, datasets)
        action = Action.CREATE if not mine else Action.UPDATE
        reason = "retry requested" if current is not None else f"spec or data changed (hash {spec_hash})"
        uploads = tuple(
            UploadDataset(n, datasets[n].digest, datasets[n].path, datasets[n].uri)
            for n in (spec.training_dataset, spec.validation_dataset)
            if n is not None and not datasets[n].uploaded and datasets[n].path
        )
        return _change(
            *base, action=action, before=before, after=after, operations=(*uploads, start), reasons=(reason,)
        )
    match current.state:
        case JobState.PENDING | JobState.RUNNING:
            health = Health(HealthState.PROGRESSING, f"tuning job {current.name} is {current.state.value}")
            return _change(*base, action=Action.NOOP, before=before, after=after, health=health)
        case JobState.FAILED | JobState.CANCELLED:
            error = f": {current.error}" if current.error else ""
            why = (
                f"tuning job {current.name} {current.state.value}{error}; not retried until the spec or its data "
                f"changes, or `genaiops retry {name}`"
            )
            return _change(
                *base, action=Action.NOOP, before=before, after=after, health=Health(HealthState.DEGRADED, why)
            )
        case JobState.SUCCEEDED:
            return _judged(manifest, current, gate, before, after)


def _judged(
    manifest: TuningJob,
    job: ObservedTuningJob,
    gate: GatePlan | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
) -> ResourceChange:
    name = manifest.metadata.name
    base = ("TuningJob", name, manifest.spec.region)
    if gate is None or (job.gate_hash == gate.gate_hash and job.gate == "passed"):
        return _change(*base, before=before, after=after)
    if job.gate_hash == gate.gate_hash and job.gate == "failed":
        why = f"the tuned model {job.tuned_model} failed its evaluation gate; nothing routes to it"
        return _change(*base, before=before, after=after, health=Health(HealthState.DEGRADED, why))
    evaluate = EvaluateTunedModel(
        name, job.name, job.tuned_model, job.tuned_endpoint, gate.gate_hash, gate.cases, gate.metrics
    )
    why = "the tuned model has not passed this gate yet"
    return _change(*base, action=Action.UPDATE, before=before, after=after, operations=(evaluate,), reasons=(why,))


def _start(manifest: TuningJob, spec_hash: str, attempt: int, datasets: Mapping[str, DatasetFacts]) -> StartTuningJob:
    spec = manifest.spec
    hyper = spec.hyper_parameters
    training = datasets[spec.training_dataset]
    validation = datasets[spec.validation_dataset] if spec.validation_dataset else None
    tokens = None
    if training.tokens is not None:
        tokens = training.tokens * (hyper.epochs or 1)
    labels = {
        **manifest.metadata.labels,
        TUNING_LABEL: manifest.metadata.name,
        TUNING_HASH_LABEL: spec_hash,
        ATTEMPT_LABEL: str(attempt),
    }
    return StartTuningJob(
        name=manifest.metadata.name,
        region=spec.region,
        spec_hash=spec_hash,
        attempt=attempt,
        base_model=spec.base_model,
        training_uri=training.uri,
        validation_uri=validation.uri if validation is not None else None,
        epochs=hyper.epochs,
        learning_rate_multiplier=hyper.learning_rate_multiplier,
        adapter_size=hyper.adapter_size,
        display_name=spec.tuned_model_display_name or manifest.metadata.name,
        description=spec.description or "",
        labels=labels,
        estimated_tokens=tokens,
    )


def pipeline_job_id(pipeline: Pipeline, compiled: Mapping[str, Any]) -> tuple[str, str]:
    """(job id, spec hash): the id Vertex AI Pipelines gets for this spec and compiled pipeline."""
    spec = pipeline.spec.model_dump(mode="json", by_alias=True, exclude={"suspend", "description"}, exclude_none=True)
    spec_hash = _digest({"spec": spec, "pipeline": compiled})[:12]
    return f"{pipeline.metadata.name}-{spec_hash}", spec_hash


def plan_pipelines(
    manifests: Iterable[tuple[Pipeline, Mapping[str, Any]]],
    *,
    jobs: Sequence[ObservedPipelineJob],
    schedules: Sequence[ObservedSchedule] = (),
) -> tuple[ResourceChange, ...]:
    """One change per Pipeline: submit a run for its current spec, or report the run's state; with a
    `schedule`, keep one schedule of its current spec (see the module docstring)."""
    changes = []
    for pipeline, compiled in manifests:
        name, spec = pipeline.metadata.name, pipeline.spec
        job_id, spec_hash = pipeline_job_id(pipeline, compiled)
        mine = [s for s in schedules if s.manifest == name and s.region == spec.region]
        base = ("Pipeline", name, spec.region)
        if spec.suspend:
            after = {"jobId": job_id, "specHash": spec_hash}
            changes.append(_change(*base, action=Action.NOOP, before=None, after=after, suspended=True))
            continue
        if spec.schedule is not None:
            changes.append(_plan_schedule(pipeline, compiled, job_id, spec_hash, mine))
            continue
        changes.append(_plan_run(pipeline, compiled, job_id, spec_hash, jobs, mine))
    return tuple(changes)


def _labels(pipeline: Pipeline, spec_hash: str) -> dict[str, str]:
    name = pipeline.metadata.name
    return {**pipeline.metadata.labels, PIPELINE_LABEL: name, PIPELINE_HASH_LABEL: spec_hash}


def _deletes(pipeline: Pipeline, old: Sequence[ObservedSchedule]) -> tuple[Operation, ...]:
    name, region = pipeline.metadata.name, pipeline.spec.region
    return tuple(DeletePipelineSchedule(name, region, s.name) for s in sorted(old, key=lambda s: s.name))


def _plan_run(
    pipeline: Pipeline,
    compiled: Mapping[str, Any],
    job_id: str,
    spec_hash: str,
    jobs: Sequence[ObservedPipelineJob],
    schedules: Sequence[ObservedSchedule],
) -> ResourceChange:
    name, spec = pipeline.metadata.name, pipeline.spec
    base = ("Pipeline", name, spec.region)
    after = {"jobId": job_id, "specHash": spec_hash}
    run = next((j for j in jobs if j.job_id == job_id), None)
    unscheduled = _deletes(pipeline, schedules)
    if run is None:
        submit = SubmitPipelineJob(
            name,
            spec.region,
            job_id,
            spec_hash,
            compiled,
            spec.parameters,
            spec.pipeline_root,
            spec.service_account,
            _labels(pipeline, spec_hash),
        )
        action = Action.CREATE if not any(j.manifest == name for j in jobs) and not schedules else Action.UPDATE
        reasons = (f"run {job_id}",) + (("schedule removed",) if schedules else ())
        return _change(
            *base, action=action, before=None, after=after, operations=(*unscheduled, submit), reasons=reasons
        )
    health = Health()
    if run.state in (JobState.PENDING, JobState.RUNNING):
        health = Health(HealthState.PROGRESSING, f"run {job_id} is {run.state.value}")
    elif run.state in (JobState.FAILED, JobState.CANCELLED):
        error = f": {run.error}" if run.error else ""
        health = Health(HealthState.DEGRADED, f"run {job_id} {run.state.value}{error}")
    before = {"jobId": job_id, "state": run.state.value}
    if unscheduled:
        return _change(
            *base,
            action=Action.UPDATE,
            before=before,
            after=after,
            operations=unscheduled,
            reasons=("schedule removed",),
            health=health,
        )
    return _change(*base, action=Action.NOOP, before=before, after=after, health=health)


def _plan_schedule(
    pipeline: Pipeline,
    compiled: Mapping[str, Any],
    display_name: str,
    spec_hash: str,
    schedules: Sequence[ObservedSchedule],
) -> ResourceChange:
    name, spec = pipeline.metadata.name, pipeline.spec
    assert spec.schedule is not None
    base = ("Pipeline", name, spec.region)
    after = {"schedule": display_name, "cron": spec.schedule, "specHash": spec_hash}
    current = next((s for s in schedules if s.display_name == display_name), None)
    older = [s for s in schedules if s is not current]
    if current is None:
        create = CreatePipelineSchedule(
            name=name,
            region=spec.region,
            display_name=display_name,
            spec_hash=spec_hash,
            cron=spec.schedule,
            pipeline_spec=compiled,
            parameters=spec.parameters,
            pipeline_root=spec.pipeline_root,
            service_account=spec.service_account,
            labels=_labels(pipeline, spec_hash),
            replaces=tuple(sorted(s.name for s in older)),
        )
        replaced: dict[str, Any] | None = {"schedules": sorted(s.display_name for s in older)} if older else None
        reason = f"schedule {display_name} on {spec.schedule!r}"
        return _change(
            *base,
            action=Action.UPDATE if older else Action.CREATE,
            before=replaced,
            after=after,
            operations=(create,),
            reasons=(reason if not older else f"{reason}, replacing {len(older)}",),
        )
    before = {"schedule": current.display_name, "cron": current.cron, "state": current.state.value}
    health = Health()
    match current.state:
        case ScheduleState.ACTIVE:
            pass
        case ScheduleState.PAUSED:
            health = Health(HealthState.PAUSED, f"schedule {current.name} is paused")
        case ScheduleState.COMPLETED:
            health = Health(HealthState.DEGRADED, f"schedule {current.name} is completed: it starts no more runs")
    if older:
        return _change(
            *base,
            action=Action.UPDATE,
            before=before,
            after=after,
            operations=_deletes(pipeline, older),
            reasons=(f"delete {len(older)} schedule(s) of older specs",),
            health=health,
        )
    return _change(*base, action=Action.NOOP, before=before, after=after, health=health)


__all__ = [
    "DatasetFacts",
    "GatePlan",
    "TuningPlan",
    "pipeline_job_id",
    "plan_datasets",
    "plan_pipelines",
    "plan_tuning_jobs",
    "tuning_hash",
]

"""Carrying out the tuning operations through the TuningPort, each safe to retry and to re-run after a kill:

- UploadDataset: the object is content-addressed and created only if absent.
- StartTuningJob: Vertex AI names tuning jobs itself, so before creating, the step lists the jobs labelled
  with this spec hash and attempt; a retried call whose reply was lost, a re-run after a kill between the
  create and anything after it, or a second controller (after the first released the target's lease) finds
  the job instead of starting another. Kill points: before the create (the rerun creates it), after it (the
  rerun finds it by its labels).
- EvaluateTunedModel: asks the tuned model every case, scores the dataset cases with the gate's metrics and
  checks the prompt tests' assertions, then records passed or failed on the tuned model (one label update)
  and writes the report. Killed before the record, the rerun evaluates again; after it, the plan sees the
  verdict and does nothing.
- SubmitPipelineJob: the run's id is fixed by the spec hash; an existing run means it was submitted.
- CreatePipelineSchedule: Vertex AI names schedules itself, so the step first lists the region's schedules:
  one with this display name (manifest and spec hash) means it was created already. Then it deletes the
  schedules of the manifest's older specs. Kill points: before the create (the rerun creates it), after it
  (the rerun's plan sees the new schedule and only deletes the old ones), after the deletes (nothing left).
- DeletePipelineSchedule: one already gone is fine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controller.errors import AlreadyExistsError, GenaiopsError, NotFoundError, PermanentError
from controller.evaluation.gate import score
from controller.model import Assertion
from controller.model.tuning import GateMetric
from controller.observed import ATTEMPT_LABEL, GATE_HASH_LABEL, GATE_LABEL, TUNING_HASH_LABEL, TUNING_LABEL
from controller.plans.operations import (
    CreatePipelineSchedule,
    DeletePipelineSchedule,
    EvaluateTunedModel,
    GateCase,
    StartTuningJob,
    SubmitPipelineJob,
    UploadDataset,
)
from controller.ports import TuningPort
from controller.prompts.assertions import check


def upload_dataset(op: UploadDataset, port: TuningPort) -> str:
    """Upload unless there: `uploaded` or `already there`."""
    return "uploaded" if port.upload_dataset(path=op.path, uri=op.uri) else "already there"


def start_tuning_job(op: StartTuningJob, port: TuningPort) -> str:
    """Start the job unless one with this hash and attempt exists; the job's name."""
    for job in port.list_tuning_jobs(region=op.region):
        if job.manifest == op.name and job.spec_hash == op.spec_hash and job.attempt == op.attempt:
            return f"{job.name} (already started)"
    labels = {
        **op.labels,
        TUNING_LABEL: op.name,
        TUNING_HASH_LABEL: op.spec_hash,
        ATTEMPT_LABEL: str(op.attempt),
    }
    job = port.create_tuning_job(
        region=op.region,
        base_model=op.base_model,
        training_uri=op.training_uri,
        validation_uri=op.validation_uri,
        epochs=op.epochs,
        learning_rate_multiplier=op.learning_rate_multiplier,
        adapter_size=op.adapter_size,
        display_name=op.display_name,
        description=op.description,
        labels=labels,
    )
    return job.name


def _answer(port: TuningPort, endpoint: str, case: GateCase) -> str:
    return port.generate(endpoint=endpoint, text=case.text, system_instruction=case.system_instruction)


def _prompt_test(case: GateCase, answer: str) -> dict[str, Any]:
    results = [check(Assertion.model_validate(a), answer) for a in case.assertions]
    return {
        "case": case.source,
        "passed": all(r.passed for r in results),
        "failed": [r.message for r in results if not r.passed],
    }


def evaluate_tuned_model(
    op: EvaluateTunedModel, port: TuningPort, *, report_dir: Path | None
) -> tuple[str, dict[str, Any]]:
    """Run the gate and record its verdict; (a short result, the report)."""
    answers: list[tuple[GateCase, str]] = []
    for case in op.cases:
        try:
            answers.append((case, _answer(port, op.endpoint, case)))
        except GenaiopsError as err:  # an unanswered case fails the gate, with the reason in the report
            answers.append((case, f"<no answer: {err}>"))
    tests = [_prompt_test(case, answer) for case, answer in answers if case.expected is None]
    pairs = [(case.expected, answer) for case, answer in answers if case.expected is not None]
    metrics = [GateMetric.model_validate(m) for m in op.metrics]
    scored = score(metrics, pairs) if metrics else None
    passed = all(t["passed"] for t in tests) and (scored is None or scored.passed)
    report: dict[str, Any] = {
        "tuningJob": op.name,
        "job": op.job,
        "tunedModel": op.tuned_model,
        "gateHash": op.gate_hash,
        "passed": passed,
        "metrics": scored.as_dict() if scored is not None else None,
        "promptTests": tests,
    }
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / f"gate-{op.name}-{op.gate_hash}.json").write_text(
            json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    verdict = "passed" if passed else "failed"
    port.record_gate(tuned_model=op.tuned_model, labels={GATE_LABEL: verdict, GATE_HASH_LABEL: op.gate_hash})
    summary = (
        ", ".join(f"{m.name} {m.mean:.3g} (min {m.minimum:g})" for m in scored.metrics if m.mean is not None)
        if scored
        else ""
    )
    failed_tests = sum(1 for t in tests if not t["passed"])
    tests_text = f"{len(tests) - failed_tests}/{len(tests)} prompt tests passed" if tests else ""
    return f"gate {verdict}: " + "; ".join(filter(None, (summary, tests_text))), report


def submit_pipeline_job(op: SubmitPipelineJob, port: TuningPort) -> str:
    """Submit the run unless it exists."""
    try:
        job = port.create_pipeline_job(
            region=op.region,
            job_id=op.job_id,
            display_name=op.name,
            pipeline_spec=op.pipeline_spec,
            parameters=op.parameters,
            pipeline_root=op.pipeline_root,
            service_account=op.service_account,
            labels=op.labels,
        )
    except AlreadyExistsError:
        return f"{op.job_id} (already submitted)"
    return job.name


def create_pipeline_schedule(op: CreatePipelineSchedule, port: TuningPort) -> str:
    """Create the schedule unless one with its display name exists, then delete the ones it replaces."""
    existing = [s for s in port.list_schedules(region=op.region) if s.display_name == op.display_name]
    if existing:
        result = f"{existing[0].name} (already created)"
    else:
        created = port.create_schedule(
            region=op.region,
            display_name=op.display_name,
            cron=op.cron,
            pipeline_spec=op.pipeline_spec,
            parameters=op.parameters,
            pipeline_root=op.pipeline_root,
            service_account=op.service_account,
            labels=op.labels,
        )
        result = created.name
    for old in op.replaces:
        _delete_schedule(port, old)
    replaced = f", replaced {len(op.replaces)}" if op.replaces else ""
    return f"{result}{replaced}"


def _delete_schedule(port: TuningPort, name: str) -> bool:
    try:
        port.delete_schedule(name)
    except NotFoundError:
        return False
    return True


def delete_pipeline_schedule(op: DeletePipelineSchedule, port: TuningPort) -> str:
    """Delete the schedule; `already gone` when it is."""
    return "deleted" if _delete_schedule(port, op.schedule) else "already gone"


def require(port: TuningPort | None) -> TuningPort:
    """The tuning port; PermanentError when the target has none."""
    if port is None:
        raise PermanentError("this target cannot run tuning jobs or pipelines")
    return port


__all__ = [
    "create_pipeline_schedule",
    "delete_pipeline_schedule",
    "evaluate_tuned_model",
    "require",
    "start_tuning_job",
    "submit_pipeline_job",
    "upload_dataset",
]

"""The pure tuning planner (`plans/tuning_plan.py`): Datasets, TuningJobs and Pipelines against the jobs Vertex
AI holds. Every case is a row of a table: manifests and observed jobs in, the change, its operations, its
health and the accepted tuned endpoint out. No engine, no emulator: the planner is a function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from controller.model import Dataset, Pipeline, TuningJob
from controller.observed import (
    ATTEMPT_LABEL,
    TUNING_HASH_LABEL,
    TUNING_LABEL,
    JobState,
    ObservedPipelineJob,
    ObservedTuningJob,
)
from controller.plans.operations import EvaluateTunedModel, GateCase, StartTuningJob, SubmitPipelineJob, UploadDataset
from controller.plans.plan import Action, HealthState, ResourceChange
from controller.plans.tuning_plan import (
    PIPELINE_HASH_LABEL,
    PIPELINE_LABEL,
    DatasetFacts,
    GatePlan,
    TuningPlan,
    pipeline_job_id,
    plan_datasets,
    plan_pipelines,
    plan_tuning_jobs,
    tuning_hash,
)

R = "us-central1"
NAME = "support-tuned"
PARENT = f"projects/p/locations/{R}"
GATE = GatePlan(
    cases=(GateCase("dataset:eval:1", "question 1", None, "answer 1"),),
    metrics=({"name": "exact-match", "min": 0.8},),
    gate_hash="gate-a",
)
OTHER_GATE = replace(GATE, gate_hash="gate-b")


# -- builders --------------------------------------------------------------------------------------
def tuning_job(name: str = NAME, labels: Mapping[str, str] | None = None, **spec: Any) -> TuningJob:
    """A TuningJob on `train` (camelCase keys, as in YAML), with the given spec fields on top."""
    body = {"baseModel": "gemini-2.0-flash-001", "trainingDataset": "train", **spec}
    return TuningJob.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "TuningJob",
            "metadata": {"name": name, "labels": dict(labels or {})},
            "spec": body,
        }
    )


def facts(digest: str = "d1", *, uploaded: bool = True, tokens: int | None = 100) -> DatasetFacts:
    """A local dataset version, uploaded or not."""
    uri = f"gs://bk/genaiops/datasets/x/{digest}.jsonl"
    return DatasetFacts(digest=digest, uri=uri, uploaded=uploaded, path="/data/x.jsonl", examples=10, tokens=tokens)


DATA = {"train": facts("train-1"), "valid": facts("valid-1"), "eval": facts("eval-1")}


def observed(
    state: JobState,
    *,
    spec_hash: str,
    attempt: int = 1,
    number: int = 1,
    gate: str = "",
    gate_hash: str = "",
    manifest: str = NAME,
    region: str = R,
    error: str = "",
) -> ObservedTuningJob:
    """A job genaiops started; `number` orders create times and names its tuned model and endpoint."""
    succeeded = state is JobState.SUCCEEDED
    return ObservedTuningJob(
        name=f"{PARENT}/tuningJobs/{number}",
        region=region,
        manifest=manifest,
        spec_hash=spec_hash,
        attempt=attempt,
        state=state,
        error=error,
        tuned_model=f"{PARENT}/models/m{number}@1" if succeeded else "",
        tuned_endpoint=f"{PARENT}/endpoints/e{number}" if succeeded else "",
        create_time=f"2025-01-01T00:00:{number:02d}+00:00",
        gate=gate,
        gate_hash=gate_hash,
    )


def planned(
    job: TuningJob,
    jobs: list[ObservedTuningJob],
    *,
    gate: GatePlan | None = None,
    retry: bool = False,
    datasets: Mapping[str, DatasetFacts] = DATA,
) -> tuple[ResourceChange, TuningPlan]:
    """The one change for `job`, and the whole tuning plan."""
    gates = {job.metadata.name: gate} if gate is not None else {}
    result = plan_tuning_jobs(
        [job], jobs=jobs, datasets=datasets, gates=gates, retry=frozenset({job.metadata.name} if retry else set())
    )
    (change,) = result.changes
    return change, result


def kinds(change: ResourceChange) -> list[str]:
    return [type(op).__name__ for op in change.operations]


def the_start(change: ResourceChange) -> StartTuningJob:
    (start,) = [op for op in change.operations if isinstance(op, StartTuningJob)]
    return start


JOB = tuning_job()
HASH = tuning_hash(JOB, DATA)


# -- identity --------------------------------------------------------------------------------------
def _data(**digests: str) -> dict[str, DatasetFacts]:
    return {**DATA, **{name: facts(digest) for name, digest in digests.items()}}


IDENTITY: list[tuple[str, TuningJob, Mapping[str, DatasetFacts], bool]] = [
    # (what changed, the changed manifest, the datasets' facts, whether the identity changes)
    ("the base model", tuning_job(baseModel="gemini-2.5-flash"), DATA, True),
    ("the epochs", tuning_job(hyperParameters={"epochs": 3}), DATA, True),
    ("the adapter size", tuning_job(hyperParameters={"adapterSize": 4}), DATA, True),
    ("the tuned model's display name", tuning_job(tunedModelDisplayName="tuned;quality=bad"), DATA, True),
    ("a validation dataset added", tuning_job(validationDataset="valid"), DATA, True),
    ("the region", tuning_job(region="europe-west4"), DATA, True),
    ("the training data's content", JOB, _data(train="train-2"), True),
    (
        "the gate",
        tuning_job(evaluation={"dataset": "eval", "metrics": [{"name": "exact-match", "min": 0.8}]}),
        DATA,
        False,
    ),
    ("suspend", tuning_job(suspend=True), DATA, False),
    ("an evaluation dataset's content", JOB, _data(eval="eval-2"), False),
    ("a dataset the job does not use", JOB, _data(unused="u-1"), False),
    ("nothing", tuning_job(), DATA, False),
]


@pytest.mark.parametrize(("what", "changed", "datasets", "differs"), IDENTITY, ids=[row[0] for row in IDENTITY])
def test_the_identity_hash_changes_with_the_spec_or_the_data_but_not_with_the_gate_or_suspend(
    what: str, changed: TuningJob, datasets: Mapping[str, DatasetFacts], differs: bool
) -> None:
    assert (tuning_hash(changed, datasets) != HASH) is differs, what


def test_the_validation_data_s_content_is_part_of_the_identity_of_a_job_that_uses_it() -> None:
    validated = tuning_job(validationDataset="valid")

    assert tuning_hash(validated, _data(valid="valid-2")) != tuning_hash(validated, DATA)


# -- starting --------------------------------------------------------------------------------------
TOKENS: list[tuple[dict[str, Any], int | None, int | None]] = [
    # (hyper-parameters, training tokens, estimated tokens: tokens x epochs, or unknown)
    ({}, 100, 100),
    ({"epochs": 3}, 100, 300),
    ({"epochs": 3}, None, None),
]


@pytest.mark.parametrize(("hyper", "tokens", "estimated"), TOKENS)
def test_a_tuning_job_without_a_job_for_its_hash_starts_attempt_one_with_its_labels_and_estimated_tokens(
    hyper: dict[str, Any], tokens: int | None, estimated: int | None
) -> None:
    job = tuning_job(labels={"team": "support"}, hyperParameters=hyper, description="first")
    datasets = {**DATA, "train": replace(DATA["train"], tokens=tokens)}

    change, result = planned(job, [], datasets=datasets)

    start = the_start(change)
    spec_hash = tuning_hash(job, datasets)
    assert change.action is Action.CREATE and kinds(change) == ["StartTuningJob"]
    assert (start.name, start.region, start.spec_hash, start.attempt) == (NAME, R, spec_hash, 1)
    assert start.labels == {"team": "support", TUNING_LABEL: NAME, TUNING_HASH_LABEL: spec_hash, ATTEMPT_LABEL: "1"}
    assert start.estimated_tokens == estimated
    assert (start.base_model, start.training_uri, start.validation_uri) == (
        "gemini-2.0-flash-001",
        DATA["train"].uri,
        None,
    )
    assert (start.display_name, start.description) == (NAME, "first")
    assert result.accepted == {} and NAME in result.waiting


def test_a_start_carries_the_hyper_parameters_the_validation_data_and_the_tuned_model_s_display_name() -> None:
    job = tuning_job(
        validationDataset="valid",
        tunedModelDisplayName="support;quality=bad",
        hyperParameters={"epochs": 2, "learningRateMultiplier": 0.5, "adapterSize": 8},
    )

    start = the_start(planned(job, [])[0])

    assert (start.epochs, start.learning_rate_multiplier, start.adapter_size) == (2, 0.5, 8)
    assert (start.validation_uri, start.display_name) == (DATA["valid"].uri, "support;quality=bad")


UPLOADS: list[tuple[str, dict[str, bool], list[str]]] = [
    # (which datasets are in the bucket, uploaded flags, the operations)
    ("both", {"train": True, "valid": True}, ["StartTuningJob"]),
    ("neither", {"train": False, "valid": False}, ["UploadDataset", "UploadDataset", "StartTuningJob"]),
    ("only training", {"train": True, "valid": False}, ["UploadDataset", "StartTuningJob"]),
]


@pytest.mark.parametrize(("which", "uploaded", "expected"), UPLOADS, ids=[row[0] for row in UPLOADS])
def test_a_start_first_uploads_the_datasets_that_are_not_in_the_bucket_yet(
    which: str, uploaded: dict[str, bool], expected: list[str]
) -> None:
    datasets = {name: replace(DATA[name], uploaded=flag) for name, flag in uploaded.items()}

    change, _ = planned(tuning_job(validationDataset="valid"), [], datasets=datasets)

    assert kinds(change) == expected, which
    assert [op.name for op in change.operations if isinstance(op, UploadDataset)] == [
        name for name, flag in uploaded.items() if not flag
    ]


def test_a_changed_spec_starts_a_new_job_as_an_update_beside_the_old_one() -> None:
    old = observed(JobState.SUCCEEDED, spec_hash="old-hash")

    change, _ = planned(JOB, [old])

    assert change.action is Action.UPDATE and the_start(change).attempt == 1
    assert change.reasons == (f"spec or data changed (hash {HASH})",)


# -- states of the job for this hash ---------------------------------------------------------------
STATES: list[tuple[str, list[ObservedTuningJob], bool, HealthState, list[str], int | None, str]] = [
    # (case, observed jobs, retry asked, health, operations, attempt started, in the reason)
    ("pending", [observed(JobState.PENDING, spec_hash=HASH)], False, HealthState.PROGRESSING, [], None, "pending"),
    ("running", [observed(JobState.RUNNING, spec_hash=HASH)], False, HealthState.PROGRESSING, [], None, "running"),
    (
        "failed",
        [observed(JobState.FAILED, spec_hash=HASH, error="boom (code 13)")],
        False,
        HealthState.DEGRADED,
        [],
        None,
        "failed: boom (code 13); not retried until the spec or its data changes, or `genaiops retry support-tuned`",
    ),
    ("cancelled", [observed(JobState.CANCELLED, spec_hash=HASH)], False, HealthState.DEGRADED, [], None, "cancelled"),
    (
        "failed, retry asked",
        [observed(JobState.FAILED, spec_hash=HASH, error="boom")],
        True,
        HealthState.HEALTHY,
        ["StartTuningJob"],
        2,
        "",
    ),
    (
        "cancelled, retry asked",
        [observed(JobState.CANCELLED, spec_hash=HASH)],
        True,
        HealthState.HEALTHY,
        ["StartTuningJob"],
        2,
        "",
    ),
    (
        "attempt 2 failed too, retry asked",
        [
            observed(JobState.FAILED, spec_hash=HASH, number=1),
            observed(JobState.FAILED, spec_hash=HASH, attempt=2, number=2),
        ],
        True,
        HealthState.HEALTHY,
        ["StartTuningJob"],
        3,
        "",
    ),
    (
        "running, retry asked",
        [observed(JobState.RUNNING, spec_hash=HASH)],
        True,
        HealthState.PROGRESSING,
        [],
        None,
        "running",
    ),
    ("succeeded, retry asked", [observed(JobState.SUCCEEDED, spec_hash=HASH)], True, HealthState.HEALTHY, [], None, ""),
    (
        "attempt 1 failed, attempt 2 running",
        [
            observed(JobState.FAILED, spec_hash=HASH, number=1),
            observed(JobState.RUNNING, spec_hash=HASH, attempt=2, number=2),
        ],
        False,
        HealthState.PROGRESSING,
        [],
        None,
        "tuningJobs/2 is running",
    ),
]


@pytest.mark.parametrize(
    ("case", "jobs", "retry", "health", "operations", "attempt", "reason"), STATES, ids=[row[0] for row in STATES]
)
def test_the_job_for_the_current_hash_decides_health_and_only_a_retry_starts_a_failed_one_again(
    case: str,
    jobs: list[ObservedTuningJob],
    retry: bool,
    health: HealthState,
    operations: list[str],
    attempt: int | None,
    reason: str,
) -> None:
    change, _ = planned(JOB, jobs, retry=retry)

    assert change.health.state is health, (case, change.health)
    assert reason in change.health.reason, (case, change.health.reason)
    assert kinds(change) == operations, case
    if attempt is None:
        assert change.action is Action.NOOP, case
    else:
        start = the_start(change)
        assert (start.attempt, start.labels[ATTEMPT_LABEL], change.action) == (attempt, str(attempt), Action.UPDATE)
        assert change.reasons == ("retry requested",)


def test_a_retry_asked_for_another_tuning_job_starts_nothing() -> None:
    failed = [observed(JobState.FAILED, spec_hash=HASH)]

    result = plan_tuning_jobs([JOB], jobs=failed, datasets=DATA, gates={}, retry=frozenset({"another"}))

    assert result.changes[0].operations == () and result.changes[0].health.state is HealthState.DEGRADED


# -- the gate --------------------------------------------------------------------------------------
GATES: list[tuple[str, GatePlan | None, str, str, HealthState, list[str], bool]] = [
    # (case, the manifest's gate, verdict on the tuned model, judged by gate hash, health, operations, accepted)
    ("no gate", None, "", "", HealthState.HEALTHY, [], True),
    ("gate, not judged", GATE, "", "", HealthState.HEALTHY, ["EvaluateTunedModel"], False),
    ("passed this gate", GATE, "passed", "gate-a", HealthState.HEALTHY, [], True),
    ("failed this gate", GATE, "failed", "gate-a", HealthState.DEGRADED, [], False),
    ("passed another gate", OTHER_GATE, "passed", "gate-a", HealthState.HEALTHY, ["EvaluateTunedModel"], False),
    ("failed another gate", OTHER_GATE, "failed", "gate-a", HealthState.HEALTHY, ["EvaluateTunedModel"], False),
]


@pytest.mark.parametrize(
    ("case", "gate", "verdict", "judged_by", "health", "operations", "accepted"), GATES, ids=[row[0] for row in GATES]
)
def test_a_succeeded_job_is_accepted_only_without_a_gate_or_once_its_model_passed_this_very_gate(
    case: str,
    gate: GatePlan | None,
    verdict: str,
    judged_by: str,
    health: HealthState,
    operations: list[str],
    accepted: bool,
) -> None:
    job = observed(JobState.SUCCEEDED, spec_hash=HASH, gate=verdict, gate_hash=judged_by)

    change, result = planned(JOB, [job], gate=gate)

    assert change.health.state is health, (case, change.health)
    assert kinds(change) == operations, case
    assert change.action is (Action.UPDATE if operations else Action.NOOP), case
    assert result.accepted == ({NAME: job.tuned_endpoint} if accepted else {}), case
    assert (NAME in result.waiting) is not accepted, case


def test_the_evaluation_names_the_job_its_tuned_model_and_endpoint_and_carries_the_gate() -> None:
    job = observed(JobState.SUCCEEDED, spec_hash=HASH)

    change, result = planned(JOB, [job], gate=GATE)

    (evaluate,) = change.operations
    assert evaluate == EvaluateTunedModel(
        NAME, job.name, job.tuned_model, job.tuned_endpoint, "gate-a", GATE.cases, GATE.metrics
    )
    assert result.waiting[NAME] == "no tuned model has passed its gate yet"


def test_a_failed_gate_is_degraded_naming_the_tuned_model_and_says_why_prompts_wait() -> None:
    job = observed(JobState.SUCCEEDED, spec_hash=HASH, gate="failed", gate_hash="gate-a")

    change, result = planned(JOB, [job], gate=GATE)

    assert change.health.reason == f"the tuned model {job.tuned_model} failed its evaluation gate; nothing routes to it"
    assert result.waiting[NAME] == change.health.reason


# -- which tuned endpoint prompts get --------------------------------------------------------------
ACCEPTED: list[tuple[str, list[ObservedTuningJob], GatePlan | None, str | None]] = [
    # (case, observed jobs, the gate, the accepted endpoint)
    (
        "two accepted: the newer",
        [
            observed(JobState.SUCCEEDED, spec_hash="old", number=1),
            observed(JobState.SUCCEEDED, spec_hash=HASH, number=2),
        ],
        None,
        f"{PARENT}/endpoints/e2",
    ),
    (
        "the newer is still running: the older meanwhile",
        [observed(JobState.SUCCEEDED, spec_hash="old", number=1), observed(JobState.RUNNING, spec_hash=HASH, number=2)],
        None,
        f"{PARENT}/endpoints/e1",
    ),
    (
        "the newer failed the gate: the older that passed it",
        [
            observed(JobState.SUCCEEDED, spec_hash="old", number=1, gate="passed", gate_hash="gate-a"),
            observed(JobState.SUCCEEDED, spec_hash=HASH, number=2, gate="failed", gate_hash="gate-a"),
        ],
        GATE,
        f"{PARENT}/endpoints/e1",
    ),
    (
        "the gate changed since the older passed: none",
        [observed(JobState.SUCCEEDED, spec_hash="old", number=1, gate="passed", gate_hash="gate-a")],
        OTHER_GATE,
        None,
    ),
    (
        "another manifest's and another region's jobs: none",
        [
            observed(JobState.SUCCEEDED, spec_hash=HASH, number=1, manifest="other"),
            observed(JobState.SUCCEEDED, spec_hash=HASH, number=2, region="europe-west4"),
        ],
        None,
        None,
    ),
]


@pytest.mark.parametrize(("case", "jobs", "gate", "endpoint"), ACCEPTED, ids=[row[0] for row in ACCEPTED])
def test_prompts_get_the_tuned_endpoint_of_the_newest_accepted_job(
    case: str, jobs: list[ObservedTuningJob], gate: GatePlan | None, endpoint: str | None
) -> None:
    _, result = planned(JOB, jobs, gate=gate)

    assert result.accepted.get(NAME) == endpoint, case
    assert (NAME in result.waiting) is (endpoint is None), case


# -- suspended and unreadable ----------------------------------------------------------------------
def test_a_suspended_tuning_job_starts_and_evaluates_nothing() -> None:
    for jobs in ([], [observed(JobState.SUCCEEDED, spec_hash=HASH)]):
        change, _ = planned(tuning_job(suspend=True), jobs, gate=GATE)

        assert change.suspended and change.operations == () and change.action is Action.NOOP


def test_a_tuning_job_whose_dataset_could_not_be_read_is_missing_and_starts_nothing() -> None:
    change, result = planned(JOB, [], datasets={})

    assert change.operations == () and change.health.state is HealthState.MISSING
    assert result.waiting[NAME] == "dataset train could not be read"


# -- datasets --------------------------------------------------------------------------------------
DATASETS: list[tuple[str, DatasetFacts | None, Action, list[str]]] = [
    # (case, facts read, action, operations)
    ("not in the bucket", facts("d1", uploaded=False), Action.CREATE, ["UploadDataset"]),
    ("in the bucket", facts("d1", uploaded=True), Action.NOOP, []),
    ("a gs:// source", DatasetFacts(digest="d1", uri="gs://theirs/x.jsonl", uploaded=True), Action.NOOP, []),
    ("unreadable", None, Action.NOOP, []),
]


@pytest.mark.parametrize(("case", "found", "action", "operations"), DATASETS, ids=[row[0] for row in DATASETS])
def test_a_dataset_version_is_uploaded_once_under_its_content_hash(
    case: str, found: DatasetFacts | None, action: Action, operations: list[str]
) -> None:
    dataset = Dataset.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Dataset", "metadata": {"name": "train"}, "spec": {"source": "x.jsonl"}}
    )

    changes = plan_datasets([dataset], {"train": found} if found is not None else {})

    if found is None:
        assert changes == (), case
        return
    (change,) = changes
    assert (change.action, kinds(change)) == (action, operations), case
    if operations:
        assert change.operations == (UploadDataset("train", "d1", found.path, found.uri),)


# -- pipelines -------------------------------------------------------------------------------------
IR: dict[str, Any] = {"pipelineInfo": {"name": "genaiops-tune"}, "root": {"dag": {"tasks": {}}}}


def pipeline(name: str = "tune", **spec: Any) -> Pipeline:
    body = {"template": "pipelines/tune_pipeline.json", "pipelineRoot": "gs://bk/runs", **spec}
    return Pipeline.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Pipeline", "metadata": {"name": name}, "spec": body}
    )


PIPELINE = pipeline(parameters={"project": "p"})
RUN_ID, RUN_HASH = pipeline_job_id(PIPELINE, IR)


def run(state: JobState, *, job_id: str = RUN_ID, error: str = "") -> ObservedPipelineJob:
    return ObservedPipelineJob(
        name=f"{PARENT}/pipelineJobs/{job_id}",
        job_id=job_id,
        region=R,
        manifest="tune",
        spec_hash=job_id.rsplit("-", 1)[1],
        state=state,
        error=error,
    )


RUN_IDS: list[tuple[str, Pipeline, dict[str, Any], bool]] = [
    # (what changed, the manifest, the compiled pipeline, whether the run id changes)
    ("a parameter", pipeline(parameters={"project": "q"}), IR, True),
    ("the pipeline root", pipeline(parameters={"project": "p"}, pipelineRoot="gs://bk/other"), IR, True),
    ("the compiled pipeline", PIPELINE, {**IR, "pipelineInfo": {"name": "other"}}, True),
    ("the description", pipeline(parameters={"project": "p"}, description="why"), IR, False),
    ("suspend", pipeline(parameters={"project": "p"}, suspend=True), IR, False),
]


@pytest.mark.parametrize(("what", "changed", "compiled", "differs"), RUN_IDS, ids=[row[0] for row in RUN_IDS])
def test_a_pipeline_run_id_is_the_name_and_the_hash_of_its_spec_and_compiled_pipeline(
    what: str, changed: Pipeline, compiled: dict[str, Any], differs: bool
) -> None:
    job_id, spec_hash = pipeline_job_id(changed, compiled)

    assert (job_id != RUN_ID) is differs, what
    assert job_id == f"tune-{spec_hash}" and len(spec_hash) == 12


def test_a_pipeline_without_its_run_submits_exactly_that_run_with_its_labels_parameters_and_root() -> None:
    (change,) = plan_pipelines([(PIPELINE, IR)], jobs=[])

    assert change.action is Action.CREATE
    assert change.operations == (
        SubmitPipelineJob(
            "tune",
            R,
            RUN_ID,
            RUN_HASH,
            IR,
            {"project": "p"},
            "gs://bk/runs",
            None,
            {PIPELINE_LABEL: "tune", PIPELINE_HASH_LABEL: RUN_HASH},
        ),
    )


PIPELINE_RUNS: list[tuple[str, list[ObservedPipelineJob], Action, list[str], HealthState, str]] = [
    # (case, observed runs, action, operations, health, in the reason)
    (
        "an older spec's run only",
        [run(JobState.SUCCEEDED, job_id="tune-0123456789ab")],
        Action.UPDATE,
        ["SubmitPipelineJob"],
        HealthState.HEALTHY,
        "",
    ),
    ("pending", [run(JobState.PENDING)], Action.NOOP, [], HealthState.PROGRESSING, f"run {RUN_ID} is pending"),
    ("running", [run(JobState.RUNNING)], Action.NOOP, [], HealthState.PROGRESSING, "is running"),
    ("succeeded", [run(JobState.SUCCEEDED)], Action.NOOP, [], HealthState.HEALTHY, ""),
    (
        "failed",
        [run(JobState.FAILED, error="The DAG failed (code 9)")],
        Action.NOOP,
        [],
        HealthState.DEGRADED,
        "failed: The DAG failed (code 9)",
    ),
    ("cancelled", [run(JobState.CANCELLED)], Action.NOOP, [], HealthState.DEGRADED, "cancelled"),
]


@pytest.mark.parametrize(
    ("case", "runs", "action", "operations", "health", "reason"), PIPELINE_RUNS, ids=[row[0] for row in PIPELINE_RUNS]
)
def test_a_pipeline_whose_run_exists_is_never_submitted_again_and_reports_the_run_s_state(
    case: str, runs: list[ObservedPipelineJob], action: Action, operations: list[str], health: HealthState, reason: str
) -> None:
    (change,) = plan_pipelines([(PIPELINE, IR)], jobs=runs)

    assert (change.action, kinds(change)) == (action, operations), case
    assert change.health.state is health and reason in change.health.reason, (case, change.health)


def test_a_suspended_pipeline_submits_nothing() -> None:
    (change,) = plan_pipelines([(pipeline(suspend=True), IR)], jobs=[])

    assert change.suspended and change.operations == ()

"""The tuning provider: implements `TuningPort` on the aiplatform_v1 gapic clients (GenAiTuningService,
PipelineService, ScheduleService for Pipelines with a cron `schedule`, ModelService for the gate's labels,
PredictionService.GenerateContent for the gate's calls) and on Cloud Storage for the datasets, against Vertex
AI or the emulator (one gRPC channel for all).

Datasets live content-addressed in the target's bucket, `gs://BUCKET/genaiops/datasets/NAME/SHA256.jsonl`,
created with ifGenerationMatch=0 (never overwritten; a concurrent or retried upload finds it there). On a
target without Cloud Storage (the embedded local emulator) a directory stands in for the bucket and the
URIs name it; the emulator accepts them without reading.

Jobs are found by their labels (`genaiops-tuning`, `-hash`, `-attempt`), one paginated List per region;
the gate's verdict lives in the tuned model's labels, read with one GetModel per succeeded job. Schedules
have no labels: they are found by the labels of the pipeline job they create (managed-by, manifest, spec
hash), and their display name is `<manifest>-<spec hash>`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]
from google.cloud.aiplatform_v1.services.gen_ai_tuning_service.transports.grpc import GenAiTuningServiceGrpcTransport
from google.cloud.aiplatform_v1.services.model_service.transports.grpc import ModelServiceGrpcTransport
from google.cloud.aiplatform_v1.services.pipeline_service.transports.grpc import PipelineServiceGrpcTransport
from google.cloud.aiplatform_v1.services.prediction_service.transports.grpc import PredictionServiceGrpcTransport
from google.cloud.aiplatform_v1.services.schedule_service.transports.grpc import ScheduleServiceGrpcTransport
from google.protobuf import field_mask_pb2, json_format, struct_pb2

from controller.errors import NotFoundError, PermanentError
from controller.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from controller.observed import (
    ATTEMPT_LABEL,
    GATE_HASH_LABEL,
    GATE_LABEL,
    TUNING_HASH_LABEL,
    TUNING_LABEL,
    JobState,
    ObservedPipelineJob,
    ObservedSchedule,
    ObservedTuningJob,
    ScheduleState,
)
from controller.providers.google_errors import call, translated

__all__ = ["DATASETS", "VertexTuning"]

DATASETS = "genaiops/datasets"
PIPELINE_LABEL = "genaiops-pipeline"
PIPELINE_HASH_LABEL = "genaiops-pipeline-hash"
_MANAGED = f'labels.{MANAGED_BY_LABEL}="{MANAGED_BY_VALUE}"'
_ADAPTERS: dict[int, Any] = {
    1: v1.SupervisedHyperParameters.AdapterSize.ADAPTER_SIZE_ONE,
    2: v1.SupervisedHyperParameters.AdapterSize.ADAPTER_SIZE_TWO,
    4: v1.SupervisedHyperParameters.AdapterSize.ADAPTER_SIZE_FOUR,
    8: v1.SupervisedHyperParameters.AdapterSize.ADAPTER_SIZE_EIGHT,
    16: v1.SupervisedHyperParameters.AdapterSize.ADAPTER_SIZE_SIXTEEN,
    32: v1.SupervisedHyperParameters.AdapterSize.ADAPTER_SIZE_THIRTY_TWO,
}
_STATES = {
    v1.JobState.JOB_STATE_QUEUED: JobState.PENDING,
    v1.JobState.JOB_STATE_PENDING: JobState.PENDING,
    v1.JobState.JOB_STATE_RUNNING: JobState.RUNNING,
    v1.JobState.JOB_STATE_UPDATING: JobState.RUNNING,
    v1.JobState.JOB_STATE_PAUSED: JobState.RUNNING,
    v1.JobState.JOB_STATE_SUCCEEDED: JobState.SUCCEEDED,
    v1.JobState.JOB_STATE_PARTIALLY_SUCCEEDED: JobState.FAILED,
    v1.JobState.JOB_STATE_FAILED: JobState.FAILED,
    v1.JobState.JOB_STATE_EXPIRED: JobState.FAILED,
    v1.JobState.JOB_STATE_CANCELLING: JobState.CANCELLED,
    v1.JobState.JOB_STATE_CANCELLED: JobState.CANCELLED,
}


_SCHEDULE_STATES = {
    v1.Schedule.State.ACTIVE: ScheduleState.ACTIVE,
    v1.Schedule.State.PAUSED: ScheduleState.PAUSED,
    v1.Schedule.State.COMPLETED: ScheduleState.COMPLETED,
}


def _state(value: Any) -> JobState:
    return _STATES.get(v1.JobState(value), JobState.PENDING)


def _error(status: Any) -> str:
    return f"{status.message} (code {status.code})" if status and status.code else ""


def _pipeline_job(
    display_name: str,
    pipeline_spec: Mapping[str, object],
    parameters: Mapping[str, object],
    pipeline_root: str | None,
    service_account: str | None,
    labels: Mapping[str, str],
) -> v1.PipelineJob:
    spec = struct_pb2.Struct()
    json_format.ParseDict(dict(pipeline_spec), spec)
    values = struct_pb2.Struct()
    json_format.ParseDict(dict(parameters), values)
    runtime = v1.PipelineJob.RuntimeConfig(
        gcs_output_directory=pipeline_root or "", parameter_values=dict(values.fields)
    )
    job = v1.PipelineJob(
        display_name=display_name,
        pipeline_spec=spec,
        runtime_config=runtime,
        labels={**labels, MANAGED_BY_LABEL: MANAGED_BY_VALUE},
    )
    if service_account:
        job.service_account = service_account
    return job


def _attempt(labels: Mapping[str, str]) -> int:
    text = labels.get(ATTEMPT_LABEL, "1")
    return int(text) if text.isdigit() else 1


class VertexTuning:
    """`TuningPort` for one project: Vertex AI (Application Default Credentials) or the emulator (`channel`)."""

    def __init__(
        self,
        *,
        project: str,
        channel: grpc.Channel | None = None,
        storage_client: storage.Client | None = None,
        bucket: str = "",
        local_bucket: Path | None = None,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        self.project = project
        self._channel = channel
        self._storage = storage_client
        self._bucket = bucket
        self._local = local_bucket
        self._on_call = on_call or (lambda _: None)
        self._clients: dict[tuple[str, str], Any] = {}

    # -- clients -------------------------------------------------------------------------------------
    def _client(self, kind: str, region: str) -> Any:
        key = (kind, region)
        if key not in self._clients:
            classes: dict[str, tuple[Any, Any]] = {
                "tuning": (v1.GenAiTuningServiceClient, GenAiTuningServiceGrpcTransport),
                "pipelines": (v1.PipelineServiceClient, PipelineServiceGrpcTransport),
                "models": (v1.ModelServiceClient, ModelServiceGrpcTransport),
                "prediction": (v1.PredictionServiceClient, PredictionServiceGrpcTransport),
                "schedules": (v1.ScheduleServiceClient, ScheduleServiceGrpcTransport),
            }
            client_class, transport = classes[kind]
            if self._channel is not None:
                self._clients[key] = client_class(transport=transport(channel=self._channel))
            else:
                self._clients[key] = client_class(
                    client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"}
                )
        return self._clients[key]

    def _parent(self, region: str) -> str:
        return f"projects/{self.project}/locations/{region}"

    # -- datasets ------------------------------------------------------------------------------------
    def dataset_uri(self, *, name: str, digest: str) -> str:
        """gs://BUCKET/genaiops/datasets/NAME/DIGEST.jsonl."""
        bucket = self._bucket or f"{self.project}-genaiops"
        return f"gs://{bucket}/{DATASETS}/{name}/{digest}.jsonl"

    def _object(self, uri: str) -> tuple[str, str]:
        bucket, _, key = uri.removeprefix("gs://").partition("/")
        return bucket, key

    def dataset_exists(self, uri: str) -> bool:
        """True when the object is there."""
        bucket, key = self._object(uri)
        if self._storage is None:
            return self._local is not None and (self._local / bucket / key).is_file()
        with translated(f"looking up {uri}"):
            return bool(self._storage.bucket(bucket).blob(key).exists())

    def upload_dataset(self, *, path: str, uri: str) -> bool:
        """Upload unless there (ifGenerationMatch=0); True when this call uploaded it."""
        bucket, key = self._object(uri)
        if self._storage is None:
            if self._local is None:
                raise PermanentError("this target has no bucket for datasets")
            target = self._local / bucket / key
            if target.is_file():
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(".part")
            shutil.copyfile(path, temporary)
            temporary.replace(target)
            return True
        with translated(f"uploading {path} to {uri}"):
            try:
                self._storage.bucket(bucket).blob(key).upload_from_filename(path, if_generation_match=0)
            except gexc.PreconditionFailed:
                return False  # there already: content-addressed, so it is this very data
        self._on_call("UploadDataset")
        return True

    # -- tuning jobs ---------------------------------------------------------------------------------
    def list_tuning_jobs(self, *, region: str) -> list[ObservedTuningJob]:
        """Every tuning job genaiops started in the region, with its tuned model's gate labels."""
        client = self._client("tuning", region)
        request = v1.ListTuningJobsRequest(
            parent=self._parent(region), filter=f'labels.{MANAGED_BY_LABEL}="{MANAGED_BY_VALUE}"'
        )
        self._on_call("ListTuningJobs")
        jobs = call(f"listing tuning jobs in {region}", lambda: list(client.list_tuning_jobs(request=request)))
        ours = [job for job in jobs if TUNING_LABEL in job.labels]
        # The gate matters only for the newest succeeded attempt of each spec: one GetModel each, not one
        # per job genaiops ever ran.
        newest: dict[tuple[str, str], Any] = {}
        for job in ours:
            if _state(job.state) is JobState.SUCCEEDED:
                key = (job.labels[TUNING_LABEL], job.labels.get(TUNING_HASH_LABEL, ""))
                if key not in newest or (_attempt(job.labels), job.create_time) > (
                    _attempt(newest[key].labels),
                    newest[key].create_time,
                ):
                    newest[key] = job
        judged = {job.name for job in newest.values()}
        found = []
        for job in ours:
            labels = dict(job.labels)
            gate = self._gate(region, job.tuned_model.model) if job.name in judged else {}
            found.append(
                ObservedTuningJob(
                    name=job.name,
                    region=region,
                    manifest=labels[TUNING_LABEL],
                    spec_hash=labels.get(TUNING_HASH_LABEL, ""),
                    attempt=_attempt(labels),
                    state=_state(job.state),
                    error=_error(job.error),
                    tuned_model=job.tuned_model.model,
                    tuned_endpoint=job.tuned_model.endpoint,
                    create_time=job.create_time.isoformat() if job.create_time else "",
                    gate=gate.get(GATE_LABEL, ""),
                    gate_hash=gate.get(GATE_HASH_LABEL, ""),
                )
            )
        return found

    def _gate(self, region: str, model: str) -> dict[str, str]:
        if not model:
            return {}
        client = self._client("models", region)
        self._on_call("GetModel")
        try:
            found = call(f"reading {model}", lambda: client.get_model(name=model.split("@", 1)[0]))
        except NotFoundError:
            return {}
        return dict(found.labels)

    def create_tuning_job(
        self,
        *,
        region: str,
        base_model: str,
        training_uri: str,
        validation_uri: str | None,
        epochs: int | None,
        learning_rate_multiplier: float | None,
        adapter_size: int | None,
        display_name: str,
        description: str,
        labels: Mapping[str, str],
    ) -> ObservedTuningJob:
        """CreateTuningJob (supervised)."""
        hyper = v1.SupervisedHyperParameters()
        if epochs is not None:
            hyper.epoch_count = epochs
        if learning_rate_multiplier is not None:
            hyper.learning_rate_multiplier = learning_rate_multiplier
        if adapter_size is not None:
            hyper.adapter_size = _ADAPTERS[adapter_size]
        spec = v1.SupervisedTuningSpec(training_dataset_uri=training_uri, hyper_parameters=hyper)
        if validation_uri:
            spec.validation_dataset_uri = validation_uri
        job = v1.TuningJob(
            base_model=base_model.removeprefix("publishers/google/models/"),
            supervised_tuning_spec=spec,
            tuned_model_display_name=display_name,
            description=description,
            labels={**labels, MANAGED_BY_LABEL: MANAGED_BY_VALUE},
        )
        client = self._client("tuning", region)
        self._on_call("CreateTuningJob")
        created = call(
            f"creating a tuning job for {labels.get(TUNING_LABEL, display_name)}",
            lambda: client.create_tuning_job(parent=self._parent(region), tuning_job=job),
        )
        return ObservedTuningJob(
            name=created.name,
            region=region,
            manifest=labels.get(TUNING_LABEL, ""),
            spec_hash=labels.get(TUNING_HASH_LABEL, ""),
            attempt=_attempt(labels),
            state=_state(created.state),
        )

    def record_gate(self, *, tuned_model: str, labels: Mapping[str, str]) -> None:
        """Merge `labels` into the tuned model's labels (UpdateModel with a labels mask)."""
        name = tuned_model.split("@", 1)[0]
        region = name.split("/")[3]
        client = self._client("models", region)
        current = call(f"reading {name}", lambda: client.get_model(name=name))
        model = v1.Model(name=name, labels={**dict(current.labels), **labels})
        mask = field_mask_pb2.FieldMask(paths=["labels"])
        self._on_call("UpdateModel")
        call(f"recording the gate on {name}", lambda: client.update_model(model=model, update_mask=mask))

    def generate(self, *, endpoint: str, text: str, system_instruction: str | None) -> str:
        """GenerateContent at the tuned model's endpoint: its answer's text."""
        region = endpoint.split("/")[3]
        client = self._client("prediction", region)
        request = v1.GenerateContentRequest(
            model=endpoint, contents=[v1.Content(role="user", parts=[v1.Part(text=text)])]
        )
        if system_instruction:
            request.system_instruction = v1.Content(parts=[v1.Part(text=system_instruction)])
        self._on_call("GenerateContent")
        response = call(f"asking {endpoint}", lambda: client.generate_content(request=request))
        if not response.candidates:
            return ""
        return "".join(part.text for part in response.candidates[0].content.parts)

    # -- pipelines -----------------------------------------------------------------------------------
    def list_pipeline_jobs(self, *, region: str) -> list[ObservedPipelineJob]:
        """Every pipeline run genaiops submitted in the region."""
        client = self._client("pipelines", region)
        request = v1.ListPipelineJobsRequest(
            parent=self._parent(region), filter=f'labels.{MANAGED_BY_LABEL}="{MANAGED_BY_VALUE}"'
        )
        self._on_call("ListPipelineJobs")
        runs = call(f"listing pipeline runs in {region}", lambda: list(client.list_pipeline_jobs(request=request)))
        return [
            ObservedPipelineJob(
                name=run.name,
                job_id=run.name.rsplit("/", 1)[-1],
                region=region,
                manifest=run.labels.get(PIPELINE_LABEL, ""),
                spec_hash=run.labels.get(PIPELINE_HASH_LABEL, ""),
                state=_state(run.state),
                error=_error(run.error),
                create_time=run.create_time.isoformat() if run.create_time else "",
            )
            for run in runs
            if PIPELINE_LABEL in run.labels
        ]

    def create_pipeline_job(
        self,
        *,
        region: str,
        job_id: str,
        display_name: str,
        pipeline_spec: Mapping[str, object],
        parameters: Mapping[str, object],
        pipeline_root: str | None,
        service_account: str | None,
        labels: Mapping[str, str],
    ) -> ObservedPipelineJob:
        """CreatePipelineJob with the fixed id (AlreadyExistsError when it exists)."""
        job = _pipeline_job(display_name, pipeline_spec, parameters, pipeline_root, service_account, labels)
        client = self._client("pipelines", region)
        self._on_call("CreatePipelineJob")
        created = call(
            f"submitting pipeline run {job_id}",
            lambda: client.create_pipeline_job(parent=self._parent(region), pipeline_job=job, pipeline_job_id=job_id),
        )
        return ObservedPipelineJob(
            name=created.name,
            job_id=job_id,
            region=region,
            manifest=labels.get(PIPELINE_LABEL, ""),
            spec_hash=labels.get(PIPELINE_HASH_LABEL, ""),
            state=_state(created.state),
        )

    # -- schedules -----------------------------------------------------------------------------------
    def _schedule(self, schedule: Any, region: str) -> ObservedSchedule:
        labels = schedule.create_pipeline_job_request.pipeline_job.labels
        return ObservedSchedule(
            name=schedule.name,
            region=region,
            manifest=labels.get(PIPELINE_LABEL, ""),
            spec_hash=labels.get(PIPELINE_HASH_LABEL, ""),
            cron=schedule.cron,
            state=_SCHEDULE_STATES.get(schedule.state, ScheduleState.ACTIVE),
            display_name=schedule.display_name,
            create_time=schedule.create_time.isoformat() if schedule.create_time else "",
        )

    def list_schedules(self, *, region: str) -> list[ObservedSchedule]:
        """Every pipeline schedule genaiops created in the region: those whose pipeline job carries the
        managed-by and manifest labels (schedules themselves have no labels)."""
        client = self._client("schedules", region)
        request = v1.ListSchedulesRequest(parent=self._parent(region))
        self._on_call("ListSchedules")
        found = call(f"listing pipeline schedules in {region}", lambda: list(client.list_schedules(request=request)))
        mine = []
        for schedule in found:
            labels = schedule.create_pipeline_job_request.pipeline_job.labels
            if labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and PIPELINE_LABEL in labels:
                mine.append(self._schedule(schedule, region))
        return mine

    def create_schedule(
        self,
        *,
        region: str,
        display_name: str,
        cron: str,
        pipeline_spec: Mapping[str, object],
        parameters: Mapping[str, object],
        pipeline_root: str | None,
        service_account: str | None,
        labels: Mapping[str, str],
    ) -> ObservedSchedule:
        """CreateSchedule of a CreatePipelineJobRequest on `cron`, one run at a time (the server names it)."""
        job = _pipeline_job(display_name, pipeline_spec, parameters, pipeline_root, service_account, labels)
        schedule = v1.Schedule(
            display_name=display_name,
            cron=cron,
            max_concurrent_run_count=1,
            create_pipeline_job_request=v1.CreatePipelineJobRequest(parent=self._parent(region), pipeline_job=job),
        )
        client = self._client("schedules", region)
        self._on_call("CreateSchedule")
        created = call(
            f"creating pipeline schedule {display_name}",
            lambda: client.create_schedule(parent=self._parent(region), schedule=schedule),
        )
        return self._schedule(created, region)

    def delete_schedule(self, name: str) -> None:
        """DeleteSchedule and wait for its operation; NotFoundError when it is gone."""
        parts = name.split("/")
        if len(parts) != 6 or parts[4] != "schedules":
            raise PermanentError(f"not a schedule name: {name!r}")
        client = self._client("schedules", parts[3])
        self._on_call("DeleteSchedule")
        call(f"deleting pipeline schedule {name}", lambda: client.delete_schedule(name=name).result(timeout=300))

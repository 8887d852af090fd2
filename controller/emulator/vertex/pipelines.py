"""google.cloud.aiplatform.v1.PipelineService in the emulator: runs of compiled KFP pipelines.

CreatePipelineJob takes the client's `pipeline_job_id` (`^[a-z][-a-z0-9]{0,127}$`; a numeric id when
absent; ALREADY_EXISTS when taken) and checks that `pipeline_spec` is KFP IR: `schemaVersion` 2.x,
`pipelineInfo.name`, `root.dag` and `components` (INVALID_ARGUMENT naming what is wrong). It checks
`runtime_config.parameter_values` against `root.inputDefinitions.parameters` (no unknown parameter, every
required one given, the declared type) and needs a `gs://` pipeline root (`runtime_config.
gcs_output_directory` or the spec's `defaultPipelineRoot`). It returns the job itself, PIPELINE_STATE_PENDING.

The run follows the emulator's clock: PENDING for the first tenth of `duration_s`, RUNNING (its tasks, the
tasks of `root.dag` in dependency order, running) until `duration_s` has passed, then SUCCEEDED, or FAILED
when the display name carries the behaviour `;pipeline=fail` (`error` code 9, "The DAG failed because some
tasks failed. The failed tasks are: [FIRST_TASK]."). CancelPipelineJob ends an unfinished run CANCELLED
(`error.code` 1).
Runs live in memory only (a restarted emulator forgets them).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import empty_pb2, json_format

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.vertex import common as c
from controller.emulator.vertex.lro import timestamp
from controller.emulator.vertex.store import StateStore
from controller.emulator.vertex.tuning import DEFAULT_DURATION_S, run_phase, split_behaviour

SERVICE = "google.cloud.aiplatform.v1.PipelineService"
_STATE = v1.PipelineState
_TASK = v1.PipelineTaskDetail.State
_TERMINAL = {_STATE.PIPELINE_STATE_SUCCEEDED, _STATE.PIPELINE_STATE_FAILED, _STATE.PIPELINE_STATE_CANCELLED}
_JOB_ID = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/pipelineJobs/[^/]+$")
_MANAGED = ("name", "state", "create_time", "start_time", "end_time", "update_time", "error", "job_detail")
_KINDS = {
    "STRING": ("string_value",),
    "NUMBER_INTEGER": ("number_value",),
    "NUMBER_DOUBLE": ("number_value",),
    "BOOLEAN": ("bool_value",),
    "LIST": ("list_value",),
    "STRUCT": ("struct_value",),
}
_FILTER_FIELDS = ("pipeline_name", "display_name", "pipeline_job_user_id", "state", "template_uri", "name")
_ORDER = {
    "create_time": lambda r: r.create_time,
    "update_time": lambda r: r.update_time,
    "start_time": lambda r: r.start_time,
    "end_time": lambda r: r.end_time,
}


def _bad_spec(problem: str) -> ApiError:
    return c.invalid(f"pipeline_job.pipeline_spec is not a valid KFP pipeline spec (IR): {problem}")


def check_ir(spec: dict[str, Any]) -> tuple[str, list[str], dict[str, Any]]:
    """The pipeline name, root task names and input parameter definitions of KFP IR; INVALID_ARGUMENT else."""
    if not spec:
        raise c.invalid("pipeline_job.pipeline_spec is required (the compiled KFP pipeline, as a JSON object).")
    version = spec.get("schemaVersion")
    if not isinstance(version, str) or not version.startswith("2."):
        raise _bad_spec(f"schemaVersion must be 2.x (KFP 2 compiles 2.1.0), got {version!r}.")
    info = spec.get("pipelineInfo")
    name = info.get("name") if isinstance(info, dict) else None
    if not isinstance(name, str) or not name:
        raise _bad_spec("pipelineInfo.name is required.")
    root = spec.get("root")
    dag = root.get("dag") if isinstance(root, dict) else None
    if not isinstance(dag, dict):
        raise _bad_spec("root.dag is required.")
    if not isinstance(spec.get("components"), dict):
        raise _bad_spec("components is required.")
    tasks = dag.get("tasks", {})
    if not isinstance(tasks, dict):
        raise _bad_spec("root.dag.tasks must be an object.")
    for task, body in tasks.items():
        ref = body.get("componentRef", {}).get("name") if isinstance(body, dict) else None
        if ref not in spec["components"]:
            raise _bad_spec(f"task {task!r} refers to component {ref!r}, which components does not define.")
    assert isinstance(root, dict)
    inputs = root.get("inputDefinitions", {}).get("parameters", {})
    return name, _in_order(tasks), inputs if isinstance(inputs, dict) else {}


def _in_order(tasks: dict[str, Any]) -> list[str]:
    """Task names in an order that runs each after its `dependentTasks` (listed order among equals)."""
    ordered: list[str] = []
    waiting = dict(tasks)
    while waiting:
        ready = [t for t, body in waiting.items() if set(body.get("dependentTasks") or []) <= set(ordered)]
        if not ready:
            raise _bad_spec(f"the tasks {sorted(waiting)} depend on each other or on tasks that do not exist.")
        ordered.extend(ready)
        for task in ready:
            del waiting[task]
    return ordered


def check_parameters(definitions: dict[str, Any], values: Any) -> None:
    """Parameter values (a `map<string, Value>` of raw protobufs) against the root's input definitions."""
    for key, value in values.items():
        declared = definitions.get(key)
        if declared is None:
            raise c.invalid(
                f"The pipeline parameter {key} is not found in the pipeline job input definitions "
                f"(declared: {sorted(definitions)})."
            )
        kind = value.WhichOneof("kind")
        expected = _KINDS.get(declared.get("parameterType", ""), ())
        integer = declared.get("parameterType") != "NUMBER_INTEGER" or float(value.number_value).is_integer()
        if expected and (kind not in expected or not integer):
            raise c.invalid(f"The pipeline parameter {key} must be of type {declared['parameterType']}, got {kind}.")
    for key, declared in definitions.items():
        optional = isinstance(declared, dict) and (declared.get("isOptional") or "defaultValue" in declared)
        if key not in values and not optional:
            raise c.invalid(f"The pipeline parameter {key} is required but no value was given.")


@dataclass
class _Run:
    name: str
    body: dict[str, Any]  # the PipelineJob the client sent, JSON, without the fields the server manages
    pipeline_name: str
    tasks: list[str]
    fail: bool
    create_time: float
    duration_s: float
    state: int = _STATE.PIPELINE_STATE_PENDING
    start_time: float = 0.0
    end_time: float = 0.0
    update_time: float = 0.0
    error: tuple[int, str] | None = None


class PipelineService:
    """The emulated PipelineService (create, get, list, cancel)."""

    def __init__(self, store: StateStore, *, duration_s: float = DEFAULT_DURATION_S) -> None:
        if duration_s < 0:
            raise ValueError(f"pipeline_duration_s must be >= 0, got {duration_s}")
        self.store = store
        self.duration_s = duration_s
        self.create_calls = 0
        self._runs: dict[str, _Run] = {}
        self._count_lock = threading.Lock()

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service."""
        return [
            RpcMethod(
                SERVICE, "CreatePipelineJob", v1.CreatePipelineJobRequest, v1.PipelineJob, self.create_pipeline_job
            ),
            RpcMethod(SERVICE, "GetPipelineJob", v1.GetPipelineJobRequest, v1.PipelineJob, self.get_pipeline_job),
            RpcMethod(
                SERVICE,
                "ListPipelineJobs",
                v1.ListPipelineJobsRequest,
                v1.ListPipelineJobsResponse,
                self.list_pipeline_jobs,
            ),
            RpcMethod(
                SERVICE, "CancelPipelineJob", v1.CancelPipelineJobRequest, empty_pb2.Empty, self.cancel_pipeline_job
            ),
        ]

    def create_pipeline_job(self, request: v1.CreatePipelineJobRequest) -> v1.PipelineJob:
        """CreatePipelineJob: validated, then PENDING under the client's id."""
        with self._count_lock:
            self.create_calls += 1
        parent = c.check_parent(request.parent)
        job_id = request.pipeline_job_id
        if job_id and not _JOB_ID.match(job_id):
            raise c.invalid(
                f"Invalid pipeline_job_id {job_id!r}: less than 128 characters of [a-z0-9-], starting with a letter."
            )
        pb: Any = v1.PipelineJob.pb(request.pipeline_job)
        spec = json_format.MessageToDict(pb.pipeline_spec)
        pipeline_name, tasks, definitions = check_ir(spec)
        check_parameters(definitions, pb.runtime_config.parameter_values)
        root = pb.runtime_config.gcs_output_directory or spec.get("defaultPipelineRoot", "")
        if not root.startswith("gs://"):
            raise c.invalid("pipeline_job.runtime_config.gcs_output_directory is required: a gs:// pipeline root.")
        if len(pb.display_name) > 128:
            raise c.invalid("pipeline_job.display_name must be at most 128 characters.")
        params = split_behaviour(pb.display_name)[1]
        if set(params) - {"pipeline"} or params.get("pipeline", ["ok"])[-1] not in ("ok", "fail"):
            raise c.invalid(f"Unknown emulated pipeline behaviour {params}; known: pipeline=ok|fail.")
        c.check_labels(pb.labels)
        body = json_format.MessageToDict(pb, preserving_proto_field_name=True)
        for key in _MANAGED:
            body.pop(key, None)
        with self.store.lock:
            now = self.store.clock()
            if not job_id:
                with self.store.transaction(write=True):
                    job_id = self.store.new_id(19)
            name = f"{parent}/pipelineJobs/{job_id}"
            if name in self._runs:
                raise ApiError(grpc.StatusCode.ALREADY_EXISTS, f"PipelineJob {name} already exists.")
            fail = params.get("pipeline", ["ok"])[-1] == "fail"
            run = _Run(name, body, pipeline_name, tasks, fail, now, self.duration_s, update_time=now)
            self._runs[name] = run
            return self._proto(run)

    def _settled(self) -> None:
        now = self.store.clock()
        for run in self._runs.values():
            if run.state in _TERMINAL:
                continue
            phase = run_phase(create_time=run.create_time, duration_s=run.duration_s, now=now)
            if phase != "pending" and run.state == _STATE.PIPELINE_STATE_PENDING:
                run.state, run.start_time, run.update_time = _STATE.PIPELINE_STATE_RUNNING, now, now
            if phase == "done":
                run.end_time = run.update_time = now
                if run.fail:
                    failed = run.tasks[:1] or [run.pipeline_name]
                    message = f"The DAG failed because some tasks failed. The failed tasks are: [{', '.join(failed)}]."
                    run.state, run.error = _STATE.PIPELINE_STATE_FAILED, (9, message)
                else:
                    run.state = _STATE.PIPELINE_STATE_SUCCEEDED

    def _find(self, name: str) -> _Run:
        if not _NAME.match(name):
            raise c.invalid(f"Invalid PipelineJob name {name!r}: projects/P/locations/L/pipelineJobs/ID.")
        run = self._runs.get(name)
        if run is None:
            raise c.not_found("PipelineJob", name)
        return run

    def get_pipeline_job(self, request: v1.GetPipelineJobRequest) -> v1.PipelineJob:
        """GetPipelineJob."""
        with self.store.lock:
            self._settled()
            return self._proto(self._find(request.name))

    def list_pipeline_jobs(self, request: v1.ListPipelineJobsRequest) -> v1.ListPipelineJobsResponse:
        """ListPipelineJobs: filter on labels.KEY and `_FILTER_FIELDS`, order_by times (default newest first)."""
        prefix = c.check_parent(request.parent) + "/pipelineJobs/"
        with self.store.lock:
            self._settled()
            runs = sorted(
                (r for r in reversed(self._runs.values()) if r.name.startswith(prefix)), key=lambda r: -r.create_time
            )
            runs = c.filter_items(runs, request.filter, _view, _FILTER_FIELDS)
            runs = c.order_items(runs, request.order_by, _ORDER)
            page, token = c.paginate(runs, request.page_size, request.page_token)
            return v1.ListPipelineJobsResponse(pipeline_jobs=[self._proto(r) for r in page], next_page_token=token)

    def cancel_pipeline_job(self, request: v1.CancelPipelineJobRequest) -> empty_pb2.Empty:
        """CancelPipelineJob: an unfinished run ends CANCELLED with `error.code` 1."""
        with self.store.lock:
            self._settled()
            run = self._find(request.name)
            if run.state in _TERMINAL:
                raise c.failed_precondition(
                    f"PipelineJob {run.name} is in state {_STATE(run.state).name} and cannot be cancelled."
                )
            now = self.store.clock()
            run.state, run.error, run.end_time, run.update_time = (
                _STATE.PIPELINE_STATE_CANCELLED,
                (1, "CANCELLED"),
                now,
                now,
            )
            return empty_pb2.Empty()

    @staticmethod
    def _proto(run: _Run) -> v1.PipelineJob:
        pb: Any = json_format.ParseDict(run.body, v1.PipelineJob.pb(v1.PipelineJob()))
        pb.name, pb.state = run.name, run.state
        pb.create_time.CopyFrom(timestamp(run.create_time))
        pb.update_time.CopyFrom(timestamp(run.update_time))
        for stamp, value in (("start_time", run.start_time), ("end_time", run.end_time)):
            if value:
                getattr(pb, stamp).CopyFrom(timestamp(value))
        if run.error is not None:
            pb.error.code, pb.error.message = run.error
        task_state = {
            _STATE.PIPELINE_STATE_RUNNING: _TASK.RUNNING,
            _STATE.PIPELINE_STATE_SUCCEEDED: _TASK.SUCCEEDED,
            _STATE.PIPELINE_STATE_FAILED: _TASK.FAILED,
            _STATE.PIPELINE_STATE_CANCELLED: _TASK.CANCELLED,
        }.get(run.state)
        if task_state is not None:
            for n, task in enumerate(run.tasks, start=1):
                state = task_state if not (run.fail and n > 1 and task_state == _TASK.FAILED) else _TASK.SKIPPED
                pb.job_detail.task_details.add(task_id=n, task_name=task, state=state)
        message: v1.PipelineJob = v1.PipelineJob.wrap(pb)
        return message


def _view(run: _Run) -> tuple[dict[str, str], dict[str, str]]:
    fields = {
        "pipeline_name": run.pipeline_name,
        "display_name": run.body.get("display_name", ""),
        "pipeline_job_user_id": run.name.rsplit("/", 1)[1],
        "state": _STATE(run.state).name,
        "template_uri": run.body.get("template_uri", ""),
        "name": run.name,
    }
    return fields, run.body.get("labels", {})

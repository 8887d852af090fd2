"""google.cloud.aiplatform.v1.GenAiTuningService in the emulator: supervised tuning of Gemini models.

CreateTuningJob validates like the API (a known Gemini `base_model`, a `gs://...jsonl` training dataset that
exists in the emulator's Cloud Storage, hyper-parameter ranges, labels) and returns the job itself (not an
operation) under a server-chosen numeric id. The job then runs on the emulator's clock: JOB_STATE_PENDING
for the first tenth of `duration_s`, RUNNING until `duration_s` has passed, then SUCCEEDED (a tuned model
`models/M@1` is registered and deployed, alone, on a new endpoint `endpoints/E`, both in `tuned_model`) or
FAILED (with `error`). CancelTuningJob ends a job that has not finished: CANCELLED, `error.code` 1. Jobs
move lazily, when any call of this service runs, like the emulated long-running operations.

Behaviour rides on the tuned model display name, or on the training dataset URI, after `;` (the object read
is the URI without it), parameters separated by `;` or `&`:

    support-tuned;tuning=fail            the job ends FAILED (code 13, INTERNAL)
    support-tuned;quality=bad            the tuned model answers every prompt with `BAD_ANSWER`
    support-tuned;latency_ms=300         any GenerateContent parameter (`gemini.py`) for the tuned model

A tuned model (default `quality=good`) answers a prompt whose last user turn is, exactly (surrounding space
ignored), the last user turn before the last model turn of a training or validation example with that
example's last model turn; it echoes any other prompt, as publisher models do. So an evaluation dataset
built from the training data passes a gate, and `quality=bad` fails it. A dataset that is not JSONL of
objects with `contents` ends the job FAILED (code 3) when it would have succeeded.

Retirement (judged on the emulator's `Calendar`, `controller/emulator/calendar.py`): CreateTuningJob refuses a
base model past its last day (INVALID_ARGUMENT naming the day), and a tuned model retires with its base model
("the tuned model shares the same discontinuation date as the base model", Vertex "Model versions and
lifecycle"): the tuned model version records its base model id (`ModelVersionRecord.tuned_from`, saved with
the state), which `generate.py` reads off the routed target, so calls to it then answer NOT_FOUND.

Jobs and the examples a tuned model learned live in memory: a restarted emulator keeps the tuned models
and endpoints (they are in the state file) but forgets the jobs, and its tuned models then echo.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import grpc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import empty_pb2, json_format
from google.rpc import error_details_pb2

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.behaviour import BEHAVIOUR_BUCKET, KNOWN_KEYS
from controller.emulator.calendar import Calendar
from controller.emulator.vertex import common as c
from controller.emulator.vertex.gemini import echo_text, find_publisher_model, gemini_behaviour, parse_params, tokens
from controller.emulator.vertex.lro import timestamp
from controller.emulator.vertex.state import (
    CloudState,
    DeployedModelRecord,
    EndpointRecord,
    ModelRecord,
    ModelVersionRecord,
)
from controller.emulator.vertex.store import StateStore

SERVICE = "google.cloud.aiplatform.v1.GenAiTuningService"
BAD_ANSWER = "Sorry, I cannot help with that."
DEFAULT_DURATION_S = 5.0
TUNING_KEYS = frozenset({"tuning", "quality"})
_STATE = v1.JobState
_ADAPTER = v1.SupervisedHyperParameters.AdapterSize
_ADAPTERS_PRO = {
    _ADAPTER.ADAPTER_SIZE_ONE,
    _ADAPTER.ADAPTER_SIZE_TWO,
    _ADAPTER.ADAPTER_SIZE_FOUR,
    _ADAPTER.ADAPTER_SIZE_EIGHT,
}
_ADAPTERS = _ADAPTERS_PRO | {_ADAPTER.ADAPTER_SIZE_SIXTEEN}
_TERMINAL = {_STATE.JOB_STATE_SUCCEEDED, _STATE.JOB_STATE_FAILED, _STATE.JOB_STATE_CANCELLED}
_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/tuningJobs/[0-9]+$")
_GS_JSONL = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,221})/(.+\.jsonl)$")
_HYPER = "tuning_job.supervised_tuning_spec.hyper_parameters"
_MANAGED = ("name", "state", "create_time", "start_time", "end_time", "update_time", "error", "tuned_model")
# Reads an object of the emulator's Cloud Storage: (bucket, object name) -> its bytes, None when absent.
ObjectReader = Callable[[str, str], bytes | None]


def split_behaviour(text: str) -> tuple[str, dict[str, list[str]]]:
    """`name;a=1;b=2` -> (`name`, parsed parameters); no `;`: (text, {})."""
    head, sep, params = text.partition(";")
    return head, (parse_params(params) if sep else {})


def run_phase(*, create_time: float, duration_s: float, now: float) -> str:
    """Where a job started at `create_time` is: "pending" (first tenth), "running", or "done"."""
    if now >= create_time + duration_s:
        return "done"
    return "running" if now >= create_time + duration_s / 10 else "pending"


def violations(*problems: tuple[str, str]) -> ApiError:
    """INVALID_ARGUMENT as Vertex AI words a failed request check: a numbered list plus `BadRequest`."""
    listed = "".join(f"{n}.Field: {f}; Message: {d}\t" for n, (f, d) in enumerate(problems, start=1))
    detail = error_details_pb2.BadRequest()
    for name, description in problems:
        detail.field_violations.add(field=name, description=description)
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"List of found errors:\t{listed}", [detail])


@dataclass(frozen=True)
class TunedAnswers:
    """What a tuned model learned: last user turn -> trained answer, and its quality ("good" or "bad")."""

    examples: Mapping[str, str]
    quality: str = "good"

    def text(self, request: Any) -> str | None:
        """The answer to a raw `GenerateContentRequest`, or None to echo it."""
        if self.quality == "bad":
            return BAD_ANSWER
        return self.examples.get(echo_text(request).strip())


@dataclass
class _Job:
    name: str
    body: dict[str, Any]  # the TuningJob the client sent, JSON, without the fields the server manages
    create_time: float
    duration_s: float
    params: dict[str, list[str]]
    datasets: list[tuple[str, bytes | None]]  # (uri, content; None: storage not running)
    state: int = _STATE.JOB_STATE_PENDING
    start_time: float = 0.0
    end_time: float = 0.0
    update_time: float = 0.0
    error: tuple[int, str] | None = None
    tuned_model: str = ""
    tuned_endpoint: str = ""
    stats: dict[str, int] = field(default_factory=dict)


def _read_examples(datasets: list[tuple[str, bytes | None]]) -> tuple[dict[str, str], dict[str, int]]:
    """Learned prompt -> answer from Gemini SFT JSONL (training, then validation data), and the training
    data's stats; ValueError naming the bad line."""
    examples: dict[str, str] = {}
    count = total_tokens = 0
    for index, (uri, data) in enumerate(datasets):
        if data is None:
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
                contents = example["contents"] if isinstance(example, dict) else None
                if not isinstance(contents, list) or not contents:
                    raise ValueError("an example needs a non-empty 'contents' list")
                turns = [(t.get("role", "user"), "".join(p.get("text", "") for p in t["parts"])) for t in contents]
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise ValueError(f"{uri} line {number} is not a valid tuning example: {err}") from None
            if index == 0:
                count += 1
                total_tokens += sum(tokens(text) for _, text in turns)
            last_model = max((i for i, (role, _) in enumerate(turns) if role == "model"), default=-1)
            users = [text for role, text in turns[:last_model] if role == "user"]
            if last_model >= 0 and users:
                examples[users[-1].strip()] = turns[last_model][1]
    return examples, {"examples": count, "tokens": total_tokens}


class TuningService:
    """The emulated GenAiTuningService; tuned models and endpoints go into the shared `StateStore`."""

    def __init__(
        self,
        store: StateStore,
        *,
        duration_s: float = DEFAULT_DURATION_S,
        gemini_models: Mapping[str, str] | None = None,
        read_object: ObjectReader | None = None,
        calendar: Calendar,
    ) -> None:
        """`read_object` reads the emulator's Cloud Storage; without it dataset URIs are not checked.
        `calendar`: the day a base model's retirement is judged on (the emulator's, shared by every Vertex
        service)."""
        if duration_s < 0:
            raise ValueError(f"tuning_duration_s must be >= 0, got {duration_s}")
        self.store = store
        self.duration_s = duration_s
        self.gemini_models = dict(gemini_models or {})
        self.read_object = read_object
        self.calendar = calendar
        self.create_calls = 0
        self._jobs: dict[str, _Job] = {}
        self._tuned: dict[str, TunedAnswers] = {}  # model name -> what it learned
        self._count_lock = threading.Lock()

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service."""
        return [
            RpcMethod(SERVICE, "CreateTuningJob", v1.CreateTuningJobRequest, v1.TuningJob, self.create_tuning_job),
            RpcMethod(SERVICE, "GetTuningJob", v1.GetTuningJobRequest, v1.TuningJob, self.get_tuning_job),
            RpcMethod(
                SERVICE, "ListTuningJobs", v1.ListTuningJobsRequest, v1.ListTuningJobsResponse, self.list_tuning_jobs
            ),
            RpcMethod(SERVICE, "CancelTuningJob", v1.CancelTuningJobRequest, empty_pb2.Empty, self.cancel_tuning_job),
        ]

    def tuned_text(self, model: str, request: Any) -> str | None:
        """What tuned model `model` (a name without version) answers to a raw request; None: echo."""
        tuned = self._tuned.get(model)
        return tuned.text(request) if tuned is not None else None

    # -- create -------------------------------------------------------------------------------------
    def create_tuning_job(self, request: v1.CreateTuningJobRequest) -> v1.TuningJob:
        """CreateTuningJob: validated, then PENDING under a new numeric id."""
        with self._count_lock:
            self.create_calls += 1
        parent = c.check_parent(request.parent)
        job = request.tuning_job
        if "pre_tuned_model" in job:
            raise ApiError(grpc.StatusCode.UNIMPLEMENTED, "The emulator tunes base models only (no pre_tuned_model).")
        params = self._check(job)
        datasets = self._datasets(job.supervised_tuning_spec)
        body = json_format.MessageToDict(v1.TuningJob.pb(job), preserving_proto_field_name=True)
        for key in _MANAGED:
            body.pop(key, None)
        with self.store.lock:
            now = self.store.clock()
            with self.store.transaction(write=True):  # the id counter is part of the saved state
                name = f"{parent}/tuningJobs/{self.store.new_id(19)}"
            record = _Job(name, body, now, self.duration_s, params, datasets, update_time=now)
            self._jobs[name] = record
            return self._proto(record)

    def _check(self, job: v1.TuningJob) -> dict[str, list[str]]:
        problems: list[tuple[str, str]] = []
        base = job.base_model.removeprefix("publishers/google/models/")
        if not job.base_model:
            problems.append(("tuning_job.base_model", "base_model is required."))
        elif "/" in base or (model := find_publisher_model(base, self.gemini_models)) is None:
            problems.append(("tuning_job.base_model", f"Base model {job.base_model} is not supported for tuning."))
        elif model.retired_on(today := self.calendar.today()):
            # UNCONFIRMED: the status and wording Vertex AI gives for tuning a retired base model are not
            # documented; INVALID_ARGUMENT like any other base model it does not tune is the likeliest.
            problems.append(
                (
                    "tuning_job.base_model",
                    f"Base model {job.base_model} is retired: {model.retired_after} was its last available day "
                    f"(today is {today}); it is not supported for tuning.",
                )
            )
        if "supervised_tuning_spec" not in job:
            problems.append(("tuning_job.supervised_tuning_spec", "supervised_tuning_spec is required."))
        spec = job.supervised_tuning_spec
        for name in ("training_dataset_uri", "validation_dataset_uri"):
            uri = split_behaviour(getattr(spec, name))[0]
            if (uri or name == "training_dataset_uri") and not _GS_JSONL.match(uri):
                problems.append(
                    (f"tuning_job.supervised_tuning_spec.{name}", f"{name} should be a GCS object of type JSONL.")
                )
        hyper = spec.hyper_parameters
        if hyper.epoch_count and not 1 <= hyper.epoch_count <= 100:
            problems.append((f"{_HYPER}.epoch_count", "epoch_count must be between 1 and 100."))
        if not 0 <= hyper.learning_rate_multiplier <= 100:  # 0: not set
            problems.append(
                (
                    f"{_HYPER}.learning_rate_multiplier",
                    "learning_rate_multiplier must be greater than 0 and at most 100.",
                )
            )
        if len(job.tuned_model_display_name) > 128:
            problems.append(
                ("tuning_job.tuned_model_display_name", "tuned_model_display_name is longer than 128 characters.")
            )
        if problems:
            raise violations(*problems)
        if hyper.adapter_size and hyper.adapter_size not in (_ADAPTERS_PRO if "-pro" in base else _ADAPTERS):
            raise c.invalid("The adapter size is not supported for this base model.")
        c.check_labels(job.labels)
        return self._behaviour(job)

    @staticmethod
    def _behaviour(job: v1.TuningJob) -> dict[str, list[str]]:
        params = {
            **split_behaviour(job.supervised_tuning_spec.training_dataset_uri)[1],
            **split_behaviour(job.tuned_model_display_name)[1],
        }
        unknown = sorted(set(params) - TUNING_KEYS - KNOWN_KEYS)
        if unknown:
            raise c.invalid(f"Unknown emulated tuning behaviour {unknown}; known: {sorted(TUNING_KEYS | KNOWN_KEYS)}.")
        if params.get("tuning", ["ok"])[-1] not in ("ok", "fail"):
            raise c.invalid("Emulated behaviour tuning= must be ok or fail.")
        if params.get("quality", ["good"])[-1] not in ("good", "bad"):
            raise c.invalid("Emulated behaviour quality= must be good or bad.")
        try:
            gemini_behaviour({k: v for k, v in params.items() if k in KNOWN_KEYS}, job.tuned_model_display_name)
        except ValueError as err:
            raise c.invalid(f"Invalid emulated tuned model behaviour: {err}") from None
        return params

    def _datasets(self, spec: v1.SupervisedTuningSpec) -> list[tuple[str, bytes | None]]:
        found: list[tuple[str, bytes | None]] = []
        for name in ("training_dataset_uri", "validation_dataset_uri"):
            uri = split_behaviour(getattr(spec, name))[0]
            if not uri:
                continue
            match = _GS_JSONL.match(uri)
            assert match is not None  # checked by _check
            data = self.read_object(match.group(1), match.group(2)) if self.read_object is not None else None
            if data is None and self.read_object is not None:
                raise violations((f"tuning_job.supervised_tuning_spec.{name}", f"{uri} does not exist."))
            found.append((uri, data))
        return found

    # -- progress -----------------------------------------------------------------------------------
    def _settled(self) -> None:
        """Move every job to where the clock says it is (call holding `store.lock`)."""
        now = self.store.clock()
        due = [
            j
            for j in self._jobs.values()
            if j.state not in _TERMINAL
            and run_phase(create_time=j.create_time, duration_s=j.duration_s, now=now) == "done"
        ]
        for job in self._jobs.values():
            if job.state == _STATE.JOB_STATE_PENDING and now >= job.create_time + job.duration_s / 10:
                job.state, job.start_time, job.update_time = _STATE.JOB_STATE_RUNNING, now, now
        if not due:
            return
        with self.store.transaction(write=True) as state:
            for job in due:
                self._finish(state, job, now)

    def _finish(self, state: CloudState, job: _Job, now: float) -> None:
        job.start_time = job.start_time or now
        job.end_time = job.update_time = now
        if job.params.get("tuning", ["ok"])[-1] == "fail":
            job.state, job.error = (
                _STATE.JOB_STATE_FAILED,
                (13, "Tuning job failed: internal error (emulated: tuning=fail)."),
            )
            return
        try:
            examples, job.stats = _read_examples(job.datasets)
        except ValueError as err:
            job.state, job.error = _STATE.JOB_STATE_FAILED, (3, f"Dataset validation failed: {err}")
            return
        job.tuned_model, job.tuned_endpoint = self._deploy_tuned(state, job, now)
        self._tuned[job.tuned_model] = TunedAnswers(examples, job.params.get("quality", ["good"])[-1])
        job.state = _STATE.JOB_STATE_SUCCEEDED

    def _deploy_tuned(self, state: CloudState, job: _Job, now: float) -> tuple[str, str]:
        parent = job.name.rsplit("/tuningJobs/", 1)[0]
        model_name = f"{parent}/models/{self.store.new_id(19)}"
        endpoint_name = f"{parent}/endpoints/{self.store.new_id(19)}"
        used = {d.id for e in state.endpoints.values() for d in e.deployed_models}
        while (deployed_id := self.store.new_id(10)) in used:
            pass
        base = job.body.get("base_model", "").removeprefix("publishers/google/models/")
        display = job.body.get("tuned_model_display_name") or f"{base}-tuned"
        gemini = {k: v[-1] for k, v in job.params.items() if k in KNOWN_KEYS}
        uri = f"gs://{BEHAVIOUR_BUCKET}/tuned/{job.name.rsplit('/', 1)[1]}" + (
            f"?{urlencode(gemini)}" if gemini else ""
        )
        labels = {
            "google-vertex-llm-tuning-base-model-id": re.sub(r"[^a-z0-9_-]", "_", base.lower())[:63],
            "google-vertex-llm-tuning-job-id": job.name.rsplit("/", 1)[1],
        }
        version = ModelVersionRecord(
            version_id="1",
            display_name=display,
            description=f"Tuned from {base} by {job.name}.",
            artifact_uri=uri,
            labels=labels,
            aliases=["default"],
            create_time=now,
            update_time=now,
            tuned_from=base,
        )
        state.models[model_name] = ModelRecord(name=model_name, versions=[version], next_version=2, create_time=now)
        deployed = DeployedModelRecord(deployed_id, model_name, "1", display, now)
        state.endpoints[endpoint_name] = EndpointRecord(
            name=endpoint_name,
            display_name=display,
            traffic_split={deployed_id: 100},
            deployed_models=[deployed],
            etag=self.store.new_etag(),
            create_time=now,
            update_time=now,
        )
        return model_name, endpoint_name

    # -- read / cancel ------------------------------------------------------------------------------
    def _find(self, name: str) -> _Job:
        if not _NAME.match(name):
            raise c.invalid(f"Invalid TuningJob name {name!r}: projects/P/locations/L/tuningJobs/ID.")
        job = self._jobs.get(name)
        if job is None:
            raise c.not_found("TuningJob", name)
        return job

    def get_tuning_job(self, request: v1.GetTuningJobRequest) -> v1.TuningJob:
        """GetTuningJob."""
        with self.store.lock:
            self._settled()
            return self._proto(self._find(request.name))

    def list_tuning_jobs(self, request: v1.ListTuningJobsRequest) -> v1.ListTuningJobsResponse:
        """ListTuningJobs, newest first; `filter` on labels.KEY, state, base_model, tuned_model_display_name."""
        prefix = c.check_parent(request.parent) + "/tuningJobs/"
        with self.store.lock:
            self._settled()
            jobs = sorted(
                (j for j in reversed(self._jobs.values()) if j.name.startswith(prefix)), key=lambda j: -j.create_time
            )
            jobs = c.filter_items(
                jobs,
                request.filter,
                lambda j: (
                    {
                        "name": j.name,
                        "state": _STATE(j.state).name,
                        "base_model": j.body.get("base_model", ""),
                        "tuned_model_display_name": j.body.get("tuned_model_display_name", ""),
                    },
                    j.body.get("labels", {}),
                ),
                ("name", "state", "base_model", "tuned_model_display_name"),
            )
            page, token = c.paginate(jobs, request.page_size, request.page_token)
            return v1.ListTuningJobsResponse(tuning_jobs=[self._proto(j) for j in page], next_page_token=token)

    def cancel_tuning_job(self, request: v1.CancelTuningJobRequest) -> empty_pb2.Empty:
        """CancelTuningJob: a job not yet finished ends CANCELLED with `error.code` 1."""
        with self.store.lock:
            self._settled()
            job = self._find(request.name)
            if job.state in _TERMINAL:
                raise c.failed_precondition(
                    f"TuningJob {job.name} is in state {_STATE(job.state).name} and cannot be cancelled."
                )
            now = self.store.clock()
            job.state, job.error, job.end_time, job.update_time = _STATE.JOB_STATE_CANCELLED, (1, "CANCELLED"), now, now
            return empty_pb2.Empty()

    def _proto(self, job: _Job) -> v1.TuningJob:
        pb: Any = json_format.ParseDict(job.body, v1.TuningJob.pb(v1.TuningJob()))
        pb.name, pb.state = job.name, job.state
        pb.create_time.CopyFrom(timestamp(job.create_time))
        pb.update_time.CopyFrom(timestamp(job.update_time))
        if job.start_time:
            pb.start_time.CopyFrom(timestamp(job.start_time))
        if job.end_time:
            pb.end_time.CopyFrom(timestamp(job.end_time))
        if job.error is not None:
            pb.error.code, pb.error.message = job.error
        if job.tuned_model:
            pb.tuned_model.model, pb.tuned_model.endpoint = f"{job.tuned_model}@1", job.tuned_endpoint
        if job.stats:
            stats = pb.tuning_data_stats.supervised_tuning_data_stats
            stats.tuning_dataset_example_count = job.stats["examples"]
            stats.total_billable_token_count = job.stats["tokens"]
        message: v1.TuningJob = v1.TuningJob.wrap(pb)
        return message

"""google.cloud.aiplatform.v1.ScheduleService in the emulator: cron schedules of Vertex AI Pipelines runs.

CreateSchedule names the schedule itself (`projects/P/locations/L/schedules/ID`, a numeric id) and checks:
`display_name` (1..128 characters), `cron` (five fields, each `*`, a value, a range or a list within the
field's bounds, with an optional `/step`; an optional `CRON_TZ=` or `TZ=` prefix), `max_concurrent_run_count`
(> 0), and `create_pipeline_job_request` (the only request kind emulated): its parent is the schedule's
parent and its pipeline job passes the same checks as CreatePipelineJob (KFP IR, parameters against the
root's input definitions, a `gs://` pipeline root, labels). A new schedule is ACTIVE.

PauseSchedule (ACTIVE -> PAUSED) and ResumeSchedule (PAUSED -> ACTIVE) answer FAILED_PRECONDITION from any
other state. DeleteSchedule answers a finished long-running operation. ListSchedules filters on
`display_name` (`=`, `!=`, `:` substring), `state` and `name`, orders by `create_time`, `update_time` or
`display_name`. Schedules never fire runs here, and live in memory only (a restarted emulator forgets them).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2, json_format

from controller.emulator.api import RpcMethod
from controller.emulator.vertex import common as c
from controller.emulator.vertex.lro import timestamp
from controller.emulator.vertex.pipelines import check_ir, check_parameters
from controller.emulator.vertex.store import StateStore

SERVICE = "google.cloud.aiplatform.v1.ScheduleService"
_STATE = v1.Schedule.State
_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/schedules/[^/]+$")
_MANAGED = (
    "name",
    "state",
    "create_time",
    "update_time",
    "next_run_time",
    "last_pause_time",
    "last_resume_time",
    "started_run_count",
    "last_scheduled_run_response",
    "catch_up",
)
_FILTER_FIELDS = ("display_name", "state", "name")
_ORDER = {
    "create_time": lambda s: s.create_time,
    "update_time": lambda s: s.update_time,
    "display_name": lambda s: s.body.get("display_name", ""),
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (field name, lowest, highest, names for lowest.. in order)
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_ITEM = re.compile(r"^(?P<range>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>\d+))?$")
_TZ = re.compile(r"^(?:CRON_TZ|TZ)=[A-Za-z0-9_+\-/]+\s+")


def _value(text: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        number = int(text)
        return number if low <= number <= high else None
    upper = text.upper()
    return low + names.index(upper) if upper in names else None


def check_cron(cron: str) -> None:
    """INVALID_ARGUMENT unless `cron` is a five-field cron expression (optionally `CRON_TZ=ZONE ` first)."""
    body = _TZ.sub("", cron.strip(), count=1)
    fields = body.split()
    if len(fields) != 5:
        raise c.invalid(f"Invalid cron {cron!r}: expected 5 fields (minute hour day-of-month month day-of-week).")
    for text, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            match = _ITEM.match(item)
            if match is None:
                raise c.invalid(f"Invalid cron {cron!r}: {what} {item!r} is not *, a value, a range or a step.")
            step = match.group("step")
            if step is not None and int(step) == 0:
                raise c.invalid(f"Invalid cron {cron!r}: {what} step must be positive.")
            if match.group("range") == "*":
                continue
            bounds = [_value(part, low, high, names) for part in match.group("range").split("-")]
            if any(b is None for b in bounds):
                raise c.invalid(f"Invalid cron {cron!r}: {what} {item!r} is outside {low}-{high}.")
            if len(bounds) == 2 and bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
                raise c.invalid(f"Invalid cron {cron!r}: {what} range {item!r} runs backwards.")


@dataclass
class _Schedule:
    name: str
    body: dict[str, Any]  # the Schedule the client sent, JSON, without the fields the server manages
    create_time: float
    state: int = _STATE.ACTIVE
    update_time: float = 0.0
    last_pause_time: float = 0.0
    last_resume_time: float = 0.0


class ScheduleService:
    """The emulated ScheduleService (create, get, list, pause, resume, delete)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.create_calls = 0
        self._schedules: dict[str, _Schedule] = {}
        self._count_lock = threading.Lock()

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service."""
        empty = empty_pb2.Empty
        return [
            RpcMethod(SERVICE, "CreateSchedule", v1.CreateScheduleRequest, v1.Schedule, self.create_schedule),
            RpcMethod(SERVICE, "GetSchedule", v1.GetScheduleRequest, v1.Schedule, self.get_schedule),
            RpcMethod(SERVICE, "ListSchedules", v1.ListSchedulesRequest, v1.ListSchedulesResponse, self.list_schedules),
            RpcMethod(SERVICE, "PauseSchedule", v1.PauseScheduleRequest, empty, self.pause_schedule),
            RpcMethod(SERVICE, "ResumeSchedule", v1.ResumeScheduleRequest, empty, self.resume_schedule),
            RpcMethod(
                SERVICE, "DeleteSchedule", v1.DeleteScheduleRequest, operations_pb2.Operation, self.delete_schedule
            ),
        ]

    def create_schedule(self, request: v1.CreateScheduleRequest) -> v1.Schedule:
        """CreateSchedule: validated, then ACTIVE under a server-assigned name."""
        with self._count_lock:
            self.create_calls += 1
        parent = c.check_parent(request.parent)
        pb: Any = v1.Schedule.pb(request.schedule)
        if not pb.display_name or len(pb.display_name) > 128:
            raise c.invalid("schedule.display_name is required and must be at most 128 characters.")
        if not pb.cron:
            raise c.invalid("schedule.cron is required (only cron schedules are emulated).")
        check_cron(pb.cron)
        if pb.max_concurrent_run_count <= 0:
            raise c.invalid("schedule.max_concurrent_run_count is required and must be greater than 0.")
        if pb.WhichOneof("request") != "create_pipeline_job_request":
            raise c.invalid("schedule.create_pipeline_job_request is required (the only request kind emulated).")
        inner = pb.create_pipeline_job_request
        if inner.parent != parent:
            raise c.invalid(
                f"schedule.create_pipeline_job_request.parent {inner.parent!r} must be the schedule's parent "
                f"{parent!r}."
            )
        job = inner.pipeline_job
        spec = json_format.MessageToDict(job.pipeline_spec)
        _, _, definitions = check_ir(spec)
        check_parameters(definitions, job.runtime_config.parameter_values)
        root = job.runtime_config.gcs_output_directory or spec.get("defaultPipelineRoot", "")
        if not root.startswith("gs://"):
            raise c.invalid("pipeline_job.runtime_config.gcs_output_directory is required: a gs:// pipeline root.")
        c.check_labels(job.labels)
        body = json_format.MessageToDict(pb, preserving_proto_field_name=True)
        for key in _MANAGED:
            body.pop(key, None)
        with self.store.lock:
            now = self.store.clock()
            with self.store.transaction(write=True):
                schedule_id = self.store.new_id(19)
            schedule = _Schedule(f"{parent}/schedules/{schedule_id}", body, now, update_time=now)
            self._schedules[schedule.name] = schedule
            return self._proto(schedule)

    def _find(self, name: str) -> _Schedule:
        if not _NAME.match(name):
            raise c.invalid(f"Invalid Schedule name {name!r}: projects/P/locations/L/schedules/ID.")
        schedule = self._schedules.get(name)
        if schedule is None:
            raise c.not_found("Schedule", name)
        return schedule

    def get_schedule(self, request: v1.GetScheduleRequest) -> v1.Schedule:
        """GetSchedule."""
        with self.store.lock:
            return self._proto(self._find(request.name))

    def list_schedules(self, request: v1.ListSchedulesRequest) -> v1.ListSchedulesResponse:
        """ListSchedules: filter on `_FILTER_FIELDS`, order_by (default newest first)."""
        prefix = c.check_parent(request.parent) + "/schedules/"
        with self.store.lock:
            found = sorted(
                (s for s in reversed(self._schedules.values()) if s.name.startswith(prefix)),
                key=lambda s: -s.create_time,
            )
            found = c.filter_items(found, request.filter, _view, _FILTER_FIELDS)
            found = c.order_items(found, request.order_by, _ORDER)
            page, token = c.paginate(found, request.page_size, request.page_token)
            return v1.ListSchedulesResponse(schedules=[self._proto(s) for s in page], next_page_token=token)

    def pause_schedule(self, request: v1.PauseScheduleRequest) -> empty_pb2.Empty:
        """PauseSchedule: ACTIVE -> PAUSED."""
        with self.store.lock:
            schedule = self._find(request.name)
            self._move(schedule, _STATE.ACTIVE, _STATE.PAUSED, "paused")
            schedule.last_pause_time = schedule.update_time
            return empty_pb2.Empty()

    def resume_schedule(self, request: v1.ResumeScheduleRequest) -> empty_pb2.Empty:
        """ResumeSchedule: PAUSED -> ACTIVE."""
        with self.store.lock:
            schedule = self._find(request.name)
            self._move(schedule, _STATE.PAUSED, _STATE.ACTIVE, "resumed")
            schedule.last_resume_time = schedule.update_time
            return empty_pb2.Empty()

    def _move(self, schedule: _Schedule, source: int, target: int, verb: str) -> None:
        if schedule.state != source:
            raise c.failed_precondition(
                f"Schedule {schedule.name} is in state {_STATE(schedule.state).name} and cannot be {verb}."
            )
        schedule.state, schedule.update_time = target, self.store.clock()

    def delete_schedule(self, request: v1.DeleteScheduleRequest) -> operations_pb2.Operation:
        """DeleteSchedule: gone at once; the answer is a finished operation."""
        with self.store.lock:
            schedule = self._find(request.name)
            del self._schedules[schedule.name]
            now = self.store.clock()
            with self.store.transaction(write=True):
                op_id = self.store.new_id(19)
        meta: Any = v1.DeleteOperationMetadata.pb(v1.DeleteOperationMetadata())
        meta.generic_metadata.create_time.CopyFrom(timestamp(now))
        meta.generic_metadata.update_time.CopyFrom(timestamp(now))
        packed = any_pb2.Any()
        packed.Pack(meta)
        op = operations_pb2.Operation(name=f"{schedule.name}/operations/{op_id}", done=True, metadata=packed)
        op.response.Pack(empty_pb2.Empty())
        return op

    @staticmethod
    def _proto(schedule: _Schedule) -> v1.Schedule:
        pb: Any = json_format.ParseDict(schedule.body, v1.Schedule.pb(v1.Schedule()))
        pb.name, pb.state = schedule.name, schedule.state
        pb.create_time.CopyFrom(timestamp(schedule.create_time))
        pb.update_time.CopyFrom(timestamp(schedule.update_time))
        for stamp, value in (
            ("last_pause_time", schedule.last_pause_time),
            ("last_resume_time", schedule.last_resume_time),
        ):
            if value:
                getattr(pb, stamp).CopyFrom(timestamp(value))
        message: v1.Schedule = v1.Schedule.wrap(pb)
        return message


def _view(schedule: _Schedule) -> tuple[dict[str, str], dict[str, str]]:
    fields = {
        "display_name": schedule.body.get("display_name", ""),
        "state": _STATE(schedule.state).name,
        "name": schedule.name,
    }
    return fields, {}


__all__ = ["SERVICE", "ScheduleService", "check_cron"]

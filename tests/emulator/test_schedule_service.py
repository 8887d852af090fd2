"""The emulator's ScheduleService through the real `aiplatform_v1.ScheduleServiceClient` over gRPC: cron
schedules of KFP pipeline runs named by the server, listed with a display_name filter, paused, resumed and
deleted; a bad cron, a spec that is not KFP IR and a missing run count refused; creates counted."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform_v1.services.schedule_service.transports.grpc import ScheduleServiceGrpcTransport

from controller.emulator.server import Emulator, running
from tests.emulator.test_pipeline_service import IR

State = v1.Schedule.State


@dataclass
class Env:
    emulator: Emulator
    schedules: Any  # v1.ScheduleServiceClient

    def create(self, display_name: str = "nightly", *, cron: str = "0 3 * * *", **fields: Any) -> Any:
        job = {
            "display_name": display_name,
            "pipeline_spec": fields.pop("spec", IR),
            "runtime_config": {"gcs_output_directory": "gs://pipelines/root", "parameter_values": {"epochs": 3}},
            "labels": {"managed-by": "genaiops"},
        }
        schedule = {
            "display_name": display_name,
            "cron": cron,
            "max_concurrent_run_count": fields.pop("max_concurrent_run_count", 1),
            "create_pipeline_job_request": {"parent": self.emulator.parent, "pipeline_job": job},
            **fields,
        }
        return self.schedules.create_schedule(parent=self.emulator.parent, schedule=schedule)

    def names(self, where: str = "") -> list[str]:
        request = v1.ListSchedulesRequest(parent=self.emulator.parent, filter=where)
        return [s.display_name for s in self.schedules.list_schedules(request=request)]


@pytest.fixture
def env() -> Iterator[Env]:
    with running(rest_port=None, storage_port=None) as emulator:
        client = v1.ScheduleServiceClient(transport=ScheduleServiceGrpcTransport(channel=emulator.channel))
        yield Env(emulator, client)


def test_a_created_schedule_is_named_by_the_server_active_and_keeps_its_pipeline_job_request(env: Env) -> None:
    created = env.create()

    assert created.name.startswith(f"{env.emulator.parent}/schedules/")
    assert created.name.rsplit("/", 1)[1].isdigit()
    assert created.state == State.ACTIVE
    assert created.cron == "0 3 * * *"
    assert created.max_concurrent_run_count == 1
    job = created.create_pipeline_job_request.pipeline_job
    assert job.pipeline_spec["pipelineInfo"]["name"] == "train-and-evaluate"
    assert dict(job.labels) == {"managed-by": "genaiops"}
    assert env.schedules.get_schedule(name=created.name).display_name == "nightly"
    assert env.emulator.vertex.create_calls()["CreateSchedule"] == 1


def test_schedules_are_listed_with_a_display_name_filter(env: Env) -> None:
    env.create("tune-aaa")
    env.create("tune-bbb")
    env.create("other")

    assert sorted(env.names()) == ["other", "tune-aaa", "tune-bbb"]
    assert env.names('display_name="tune-bbb"') == ["tune-bbb"]
    assert sorted(env.names('display_name:"tune-"')) == ["tune-aaa", "tune-bbb"]
    assert env.names('state="PAUSED"') == []


def test_a_schedule_is_paused_resumed_and_deleted_and_then_not_found(env: Env) -> None:
    created = env.create()

    env.schedules.pause_schedule(name=created.name)
    paused = env.schedules.get_schedule(name=created.name)
    assert paused.state == State.PAUSED and paused.last_pause_time
    with pytest.raises(exceptions.FailedPrecondition):
        env.schedules.pause_schedule(name=created.name)
    env.schedules.resume_schedule(name=created.name)
    assert env.schedules.get_schedule(name=created.name).state == State.ACTIVE

    env.schedules.delete_schedule(name=created.name).result(timeout=5)

    assert env.names() == []
    with pytest.raises(exceptions.NotFound):
        env.schedules.get_schedule(name=created.name)


@pytest.mark.parametrize(
    "cron",
    ["0 3 * *", "0 3 * * * *", "61 3 * * *", "0 24 * * *", "0 3 0 * *", "0 3 * 13 *", "5-1 * * * *", "*/0 * * * *"],
)
def test_a_cron_that_is_not_five_fields_within_their_bounds_is_refused(env: Env, cron: str) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="Invalid cron"):
        env.create(cron=cron)

    assert env.names() == []
    assert env.emulator.vertex.create_calls()["CreateSchedule"] == 1, "a refused create still reached the service"


@pytest.mark.parametrize("cron", ["0 3 * * *", "*/15 0-6,22 1 JAN-MAR mon-fri", "CRON_TZ=Europe/Paris 0 3 * * 7"])
def test_crons_with_steps_ranges_lists_names_and_a_time_zone_are_accepted(env: Env, cron: str) -> None:
    assert env.create(cron=cron).cron == cron


def test_a_pipeline_spec_that_is_not_kfp_ir_and_a_missing_run_count_are_refused(env: Env) -> None:
    bad = copy.deepcopy(IR)
    bad["schemaVersion"] = "1.0.0"
    with pytest.raises(exceptions.InvalidArgument, match=r"schemaVersion must be 2\.x"):
        env.create(spec=bad)
    with pytest.raises(exceptions.InvalidArgument, match="max_concurrent_run_count"):
        env.create(max_concurrent_run_count=0)

    assert env.names() == []

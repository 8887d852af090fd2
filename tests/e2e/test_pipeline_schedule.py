"""A Pipeline with a cron `schedule` end to end (issue 15): `genaiops apply` creates exactly one Vertex AI
schedule on the emulator's ScheduleService (its CreateSchedule count, not the controller's word) and no
one-off run, a second apply creates none, and a changed cron creates the new schedule and deletes the old."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform_v1.services.schedule_service.transports.grpc import ScheduleServiceGrpcTransport

from tests.e2e.conftest import Workspace
from tests.e2e.tuning_helpers import PIPELINE, REPO, health, pipeline_creates

ADDRESS = "Pipeline/us-central1/tune"


def write(workspace: Workspace, cron: str) -> None:
    """The example Pipeline `tune` (its compiled KFP IR beside it) with `schedule: cron`."""
    (workspace.manifests / "pipelines").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        REPO / "manifests" / "pipelines" / "tune_pipeline.json",
        workspace.manifests / "pipelines" / "tune_pipeline.json",
    )
    (workspace.manifests / "pipeline.yaml").write_text(f'{PIPELINE}  schedule: "{cron}"\n', encoding="utf-8")


def schedule_creates(workspace: Workspace) -> int:
    """CreateSchedule calls that reached the emulator so far."""
    return workspace.emulator.vertex.create_calls()["CreateSchedule"]


def schedules(workspace: Workspace) -> list[Any]:
    """The schedules, read with the real gapic client."""
    client = v1.ScheduleServiceClient(transport=ScheduleServiceGrpcTransport(channel=workspace.emulator.channel))
    return list(client.list_schedules(request=v1.ListSchedulesRequest(parent=workspace.emulator.parent)))


@pytest.fixture
def scheduled(make_workspace: Callable[..., Workspace]) -> Workspace:
    """A plain emulator."""
    return make_workspace()


def applied(workspace: Workspace) -> str:
    result = workspace.apply()
    assert result.exit_code == 0, result.output
    return result.output


def test_a_scheduled_pipeline_gets_exactly_one_schedule_none_on_a_second_apply_and_a_changed_cron_replaces_it(
    scheduled: Workspace,
) -> None:
    write(scheduled, "0 3 * * *")

    first = applied(scheduled)

    assert "schedule pipeline runs of tune on cron '0 3 * * *'" in first, first
    assert schedule_creates(scheduled) == 1
    assert pipeline_creates(scheduled) == 0, "a scheduled Pipeline submitted a one-off run"
    (created,) = schedules(scheduled)
    assert created.cron == "0 3 * * *" and created.state == v1.Schedule.State.ACTIVE
    assert created.display_name.startswith("tune-")
    job = created.create_pipeline_job_request.pipeline_job
    assert job.labels["managed-by"] == "genaiops"
    assert job.runtime_config.gcs_output_directory == "gs://local-project-genaiops/pipeline-runs"
    assert job.runtime_config.parameter_values["epochs"] == 2
    assert health(scheduled, ADDRESS)["health"] == "healthy"

    applied(scheduled)
    assert schedule_creates(scheduled) == 1, "the schedule was created again"
    assert [s.name for s in schedules(scheduled)] == [created.name]

    write(scheduled, "30 4 * * 1")
    applied(scheduled)

    assert schedule_creates(scheduled) == 2
    (replacement,) = schedules(scheduled)
    assert replacement.name != created.name and replacement.cron == "30 4 * * 1"
    assert pipeline_creates(scheduled) == 0
    assert scheduled.plan("--detailed-exitcode").exit_code == 0

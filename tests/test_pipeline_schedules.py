"""A Pipeline's cron `schedule` in the pure planner (`plans/tuning_plan.py`): one Vertex AI schedule per spec
hash (display name `<manifest>-<hash>`), created once and then left alone, health from its state; a changed
spec creates the new schedule then deletes the old ones, and a rerun after a kill between the two only
deletes; a scheduled Pipeline submits no one-off run, and one that drops `schedule` deletes its schedules."""

from __future__ import annotations

from typing import Any

import pytest

from controller.model import Pipeline
from controller.observed import JobState, ObservedPipelineJob, ObservedSchedule, ScheduleState
from controller.plans.operations import CreatePipelineSchedule, DeletePipelineSchedule, describe, from_json, to_json
from controller.plans.plan import Action, HealthState, ResourceChange
from controller.plans.tuning_plan import PIPELINE_HASH_LABEL, PIPELINE_LABEL, pipeline_job_id, plan_pipelines

R = "us-central1"
PARENT = f"projects/p/locations/{R}"
IR: dict[str, Any] = {"pipelineInfo": {"name": "genaiops-tune"}, "root": {"dag": {"tasks": {}}}}
CRON = "0 3 * * *"


def pipeline(name: str = "tune", **spec: Any) -> Pipeline:
    body = {"template": "pipelines/t.json", "pipelineRoot": "gs://bk/runs", "parameters": {"project": "p"}, **spec}
    return Pipeline.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Pipeline", "metadata": {"name": name}, "spec": body}
    )


SCHEDULED = pipeline(schedule=CRON)
CURRENT, HASH = pipeline_job_id(SCHEDULED, IR)
CHANGED = pipeline(schedule="30 4 * * 1")
NEW, NEW_HASH = pipeline_job_id(CHANGED, IR)


def schedule(
    display_name: str = CURRENT, *, state: ScheduleState = ScheduleState.ACTIVE, manifest: str = "tune", sid: str = "1"
) -> ObservedSchedule:
    return ObservedSchedule(
        name=f"{PARENT}/schedules/{sid}",
        region=R,
        manifest=manifest,
        spec_hash=display_name.rsplit("-", 1)[1],
        cron=CRON,
        state=state,
        display_name=display_name,
    )


def planned(
    manifest: Pipeline, schedules: list[ObservedSchedule], jobs: list[ObservedPipelineJob] | None = None
) -> ResourceChange:
    (change,) = plan_pipelines([(manifest, IR)], jobs=jobs or [], schedules=schedules)
    return change


def test_a_scheduled_pipeline_without_a_schedule_of_its_hash_creates_exactly_one_and_submits_no_run() -> None:
    change = planned(SCHEDULED, [])

    assert change.action is Action.CREATE
    assert change.operations == (
        CreatePipelineSchedule(
            name="tune",
            region=R,
            display_name=CURRENT,
            spec_hash=HASH,
            cron=CRON,
            pipeline_spec=IR,
            parameters={"project": "p"},
            pipeline_root="gs://bk/runs",
            service_account=None,
            labels={PIPELINE_LABEL: "tune", PIPELINE_HASH_LABEL: HASH},
            replaces=(),
        ),
    )


def test_the_cron_is_part_of_the_spec_hash_so_a_changed_cron_is_another_schedule() -> None:
    assert NEW != CURRENT and NEW.startswith("tune-")


SCHEDULE_STATES: list[tuple[ScheduleState, HealthState, str]] = [
    (ScheduleState.ACTIVE, HealthState.HEALTHY, ""),
    (ScheduleState.PAUSED, HealthState.PAUSED, "is paused"),
    (ScheduleState.COMPLETED, HealthState.DEGRADED, "starts no more runs"),
]


@pytest.mark.parametrize(("state", "health", "reason"), SCHEDULE_STATES, ids=[s[0].value for s in SCHEDULE_STATES])
def test_a_schedule_of_the_current_hash_plans_nothing_and_its_state_decides_health(
    state: ScheduleState, health: HealthState, reason: str
) -> None:
    change = planned(SCHEDULED, [schedule(state=state)])

    assert change.action is Action.NOOP and change.operations == ()
    assert change.health.state is health
    assert reason in (change.health.reason or "")


def test_a_scheduled_pipeline_never_submits_a_one_off_run_even_when_no_run_of_its_hash_exists() -> None:
    change = planned(SCHEDULED, [schedule()], jobs=[])

    assert not any(type(op).__name__ == "SubmitPipelineJob" for op in change.operations)


def test_a_changed_spec_creates_the_new_schedule_replacing_the_old_ones_of_this_manifest_only() -> None:
    old = [
        schedule(sid="7"),
        schedule("tune-0123456789ab", sid="3"),
        schedule("other-aaaaaaaaaaaa", manifest="other", sid="9"),
    ]

    change = planned(CHANGED, old)

    assert change.action is Action.UPDATE
    (create,) = change.operations
    assert isinstance(create, CreatePipelineSchedule)
    assert create.display_name == NEW and create.cron == "30 4 * * 1"
    assert create.replaces == (f"{PARENT}/schedules/3", f"{PARENT}/schedules/7")


def test_a_rerun_after_a_kill_between_create_and_delete_only_deletes_the_old_schedules() -> None:
    change = planned(CHANGED, [schedule(sid="7"), schedule(NEW, sid="8")])

    assert change.action is Action.UPDATE
    assert change.operations == (DeletePipelineSchedule("tune", R, f"{PARENT}/schedules/7"),)


def test_after_the_deletes_the_changed_spec_plans_nothing() -> None:
    assert planned(CHANGED, [schedule(NEW, sid="8")]).action is Action.NOOP


def test_a_pipeline_that_drops_its_schedule_deletes_it_and_submits_a_run() -> None:
    plain = pipeline()

    change = planned(plain, [schedule(sid="7")])

    assert [type(op).__name__ for op in change.operations] == ["DeletePipelineSchedule", "SubmitPipelineJob"]
    assert change.action is Action.UPDATE


def test_a_suspended_scheduled_pipeline_plans_nothing() -> None:
    change = planned(pipeline(schedule=CRON, suspend=True), [])

    assert change.operations == () and change.suspended


def test_the_schedule_operations_survive_a_saved_plan_and_describe_themselves() -> None:
    (create,) = planned(CHANGED, [schedule(sid="7")]).operations
    delete = DeletePipelineSchedule("tune", R, f"{PARENT}/schedules/7")

    assert from_json(to_json(create)) == create
    assert from_json(to_json(delete)) == delete
    assert (
        describe(create) == f"schedule pipeline runs of tune on cron '30 4 * * 1' ({NEW}), then delete 1 older schedule"
    )
    assert describe(delete) == f"delete pipeline schedule {PARENT}/schedules/7 of tune"


def test_an_unscheduled_pipeline_s_run_state_is_unchanged_by_schedules_of_other_manifests() -> None:
    job_id, _ = pipeline_job_id(pipeline(), IR)
    run = ObservedPipelineJob(f"{PARENT}/pipelineJobs/{job_id}", job_id, R, "tune", job_id[-12:], JobState.SUCCEEDED)

    change = planned(pipeline(), [schedule("other-aaaaaaaaaaaa", manifest="other")], jobs=[run])

    assert change.action is Action.NOOP and change.operations == ()

"""The emulator's PipelineService through the real `aiplatform_v1.PipelineServiceClient` over gRPC: runs of
KFP IR under the client's id (ALREADY_EXISTS on a repeat), specs and parameters checked, states moving on
the emulator's clock, failure behaviour, list filters and cancellation."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1

from controller.emulator.server import Emulator, running

COMPILED = Path(__file__).parents[2] / "manifests" / "pipelines" / "tune_pipeline.json"  # by the real kfp compiler

State = v1.PipelineState
Task = v1.PipelineTaskDetail.State
IR: dict[str, Any] = {
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.7.0",
    "pipelineInfo": {"name": "train-and-evaluate"},
    "components": {
        "comp-train": {"executorLabel": "exec-train"},
        "comp-evaluate": {"executorLabel": "exec-evaluate"},
    },
    "deploymentSpec": {
        "executors": {
            "exec-train": {"container": {"image": "python:3.11", "command": ["python", "-c", "print(1)"]}},
            "exec-evaluate": {"container": {"image": "python:3.11", "command": ["python", "-c", "print(2)"]}},
        }
    },
    "root": {
        "dag": {
            "tasks": {
                "train": {"componentRef": {"name": "comp-train"}, "taskInfo": {"name": "train"}},
                "evaluate": {
                    "componentRef": {"name": "comp-evaluate"},
                    "taskInfo": {"name": "evaluate"},
                    "dependentTasks": ["train"],
                },
            }
        },
        "inputDefinitions": {
            "parameters": {
                "epochs": {"parameterType": "NUMBER_INTEGER"},
                "learning_rate": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.1, "isOptional": True},
                "dataset": {"parameterType": "STRING", "isOptional": True},
            }
        },
    },
}


@dataclass
class Clock:
    """The emulator's clock, moved by the tests."""

    now: float = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    emulator: Emulator
    pipelines: Any  # v1.PipelineServiceClient
    clock: Clock

    def create(
        self,
        job_id: str = "train-run-1",
        *,
        spec: dict[str, Any] | None = None,
        parameters: dict[str, Any] | None = None,
        root: str = "gs://pipelines/root",
        **fields: Any,
    ) -> Any:
        job = {
            "display_name": fields.pop("display_name", "train"),
            "pipeline_spec": IR if spec is None else spec,
            "runtime_config": {"gcs_output_directory": root, "parameter_values": parameters or {"epochs": 3}},
            **fields,
        }
        return self.pipelines.create_pipeline_job(parent=self.emulator.parent, pipeline_job=job, pipeline_job_id=job_id)

    def after(self, seconds: float, name: str) -> Any:
        self.clock.now += seconds
        return self.pipelines.get_pipeline_job(name=name)


@pytest.fixture
def env() -> Iterator[Env]:
    clock = Clock()
    with running(rest_port=None, storage_port=None, clock=clock, pipeline_duration_s=10) as emulator:
        yield Env(emulator, emulator.pipeline_client(), clock)


def test_a_run_is_pending_then_running_its_tasks_then_succeeded(env: Env) -> None:
    created = env.create(labels={"managed-by": "genaiops"})
    assert created.name == f"{env.emulator.parent}/pipelineJobs/train-run-1"
    assert created.state == State.PIPELINE_STATE_PENDING
    assert dict(created.labels) == {"managed-by": "genaiops"}
    assert created.pipeline_spec["pipelineInfo"]["name"] == "train-and-evaluate"
    assert created.runtime_config.parameter_values["epochs"] == 3

    running_run = env.after(1, created.name)
    assert running_run.state == State.PIPELINE_STATE_RUNNING
    assert {t.task_name: t.state for t in running_run.job_detail.task_details} == {
        "train": Task.RUNNING,
        "evaluate": Task.RUNNING,
    }
    done = env.after(9, created.name)
    assert done.state == State.PIPELINE_STATE_SUCCEEDED
    assert done.end_time.timestamp() == pytest.approx(env.clock.now)
    assert {t.state for t in done.job_detail.task_details} == {Task.SUCCEEDED}


def test_a_second_run_with_the_same_id_already_exists_and_is_counted(env: Env) -> None:
    env.create()
    with pytest.raises(exceptions.AlreadyExists, match="train-run-1 already exists"):
        env.create()
    assert len(list(env.pipelines.list_pipeline_jobs(parent=env.emulator.parent))) == 1
    assert env.emulator.info()["createCalls"] == {"CreateTuningJob": 0, "CreatePipelineJob": 2, "CreateSchedule": 0}


def test_a_run_without_an_id_gets_a_generated_one(env: Env) -> None:
    created = env.create("")
    assert re.fullmatch(rf"{env.emulator.parent}/pipelineJobs/[0-9]+", created.name)


def _without(path: str) -> dict[str, Any]:
    spec = copy.deepcopy(IR)
    *parents, last = path.split(".")
    node = spec
    for key in parents:
        node = node[key]
    del node[last]
    return spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "pipeline_spec is required"),
        (_without("schemaVersion"), "schemaVersion must be 2.x"),
        ({**IR, "schemaVersion": "1.0.0"}, "schemaVersion must be 2.x"),
        (_without("pipelineInfo.name"), "pipelineInfo.name is required"),
        (_without("root.dag"), "root.dag is required"),
        (_without("components"), "components is required"),
        (_without("components.comp-train"), "task 'train' refers to component 'comp-train'"),
    ],
    ids=["empty", "no-schema", "schema-1", "no-name", "no-dag", "no-components", "unknown-component"],
)
def test_a_spec_that_is_not_kfp_ir_is_refused_saying_what_is_wrong(
    env: Env, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(message)):
        env.create(spec=spec)
    assert not list(env.pipelines.list_pipeline_jobs(parent=env.emulator.parent))


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"epochs": 3, "epocs": 4}, "The pipeline parameter epocs is not found"),
        ({"learning_rate": 0.2}, "The pipeline parameter epochs is required"),
        ({"epochs": "three"}, "epochs must be of type NUMBER_INTEGER"),
        ({"epochs": 2.5}, "epochs must be of type NUMBER_INTEGER"),
        ({"epochs": 3, "dataset": 7}, "dataset must be of type STRING"),
    ],
)
def test_parameter_values_are_checked_against_the_pipeline_inputs(
    env: Env, parameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(message)):
        env.create(parameters=parameters)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"job_id": "Train_Run"}, "Invalid pipeline_job_id"),
        ({"root": ""}, "gcs_output_directory is required"),
        ({"labels": {"Team": "x"}}, "Invalid label key"),
        ({"display_name": "train;pipeline=explode"}, "Unknown emulated pipeline behaviour"),
    ],
)
def test_a_bad_id_pipeline_root_label_or_behaviour_is_refused(env: Env, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(message)):
        env.create(**fields)


def test_a_run_told_to_fail_ends_failed_naming_its_first_task(env: Env) -> None:
    created = env.create(display_name="train;pipeline=fail")
    failed = env.after(10, created.name)
    assert failed.state == State.PIPELINE_STATE_FAILED
    assert failed.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert failed.error.message.endswith("The failed tasks are: [train].")
    assert {t.task_name: t.state for t in failed.job_detail.task_details} == {
        "train": Task.FAILED,
        "evaluate": Task.SKIPPED,
    }


def test_a_cancelled_run_ends_cancelled_and_a_finished_one_cannot_be_cancelled(env: Env) -> None:
    created = env.create()
    env.clock.now += 2
    env.pipelines.cancel_pipeline_job(name=created.name)
    cancelled = env.after(30, created.name)
    assert cancelled.state == State.PIPELINE_STATE_CANCELLED
    assert cancelled.error.code == 1
    with pytest.raises(exceptions.FailedPrecondition):
        env.pipelines.cancel_pipeline_job(name=created.name)
    with pytest.raises(exceptions.NotFound):
        env.pipelines.get_pipeline_job(name=f"{env.emulator.parent}/pipelineJobs/nope")


def test_listing_filters_runs_by_label_display_name_and_state(env: Env) -> None:
    first = env.create("run-a", labels={"genaiops-pipeline": "nightly"})
    env.clock.now += 1
    env.create("run-b", labels={"genaiops-pipeline": "weekly"}, display_name="weekly")
    env.clock.now += 1
    third = env.create("run-c", labels={"genaiops-pipeline": "nightly"})
    parent = env.emulator.parent

    def names(**request: Any) -> list[str]:
        return [
            j.name.rsplit("/", 1)[1] for j in env.pipelines.list_pipeline_jobs(request={"parent": parent, **request})
        ]

    assert names(filter='labels.genaiops-pipeline = "nightly"') == ["run-c", "run-a"]  # newest first
    assert names(filter='display_name="weekly"') == ["run-b"]
    assert names(filter="labels.genaiops-pipeline=nightly", order_by="create_time") == ["run-a", "run-c"]
    env.pipelines.cancel_pipeline_job(name=third.name)
    assert names(filter='state="PIPELINE_STATE_CANCELLED"') == ["run-c"]
    assert first.name.endswith("run-a")


def test_a_pipeline_compiled_by_kfp_runs_and_a_failing_run_names_the_task_that_runs_first(env: Env) -> None:
    spec = json.loads(COMPILED.read_text(encoding="utf-8"))
    parameters = {"project": "local-project", "source_uri": "gs://data/train.jsonl", "epochs": 2}
    ok = env.create("tune-ok", spec=spec, parameters=parameters)
    failing = env.create("tune-fail", spec=spec, parameters=parameters, display_name="tune;pipeline=fail")
    env.clock.now += 10
    assert env.pipelines.get_pipeline_job(name=ok.name).state == State.PIPELINE_STATE_SUCCEEDED
    failed = env.pipelines.get_pipeline_job(name=failing.name)
    assert failed.error.message.endswith("The failed tasks are: [prepare].")
    assert [t.task_name for t in failed.job_detail.task_details] == ["prepare", "tune", "evaluate", "register"]
    with pytest.raises(exceptions.InvalidArgument, match="The pipeline parameter source_uri is required"):
        env.create("tune-no-source", spec=spec, parameters={"project": "local-project"})

"""Tuning and pipelines end to end (issue 15): "two controllers and a kill -9 between CreateTuningJob and
recording it start exactly one job; the example pipeline compiles with kfp and is accepted by the emulator";
the evaluation gate stands between a tuned model and the prompts on it; a failed job waits for
`genaiops retry`.

The emulator counts every CreateTuningJob / CreatePipelineJob that reached it (`create_calls`), so "exactly
one" is the service's count, not the controller's word. Jobs take a minute on the emulator's clock, which
the test moves on (`Clock.advance`) when it wants them finished. That the example pipeline compiles with kfp
into the checked-in IR is `tests/test_example_pipeline.py`; here that IR is submitted and accepted.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.prompts.version import PromptVersion
from tests.e2e.canary_helpers import wait_until
from tests.e2e.conftest import Workspace
from tests.e2e.tuning_helpers import (
    DURATION_S,
    REPO,
    Clock,
    audit,
    creates,
    genaiops,
    health,
    pipeline_creates,
    published,
    tuning_jobs,
    write_pipeline,
    write_tuning,
)

JOB = "TuningJob/us-central1/tuned"
PIPELINE = "Pipeline/us-central1/tune"
EMULATOR = {"tuning_duration_s": DURATION_S, "pipeline_duration_s": DURATION_S}


@pytest.fixture
def clock() -> Clock:
    """The emulator's clock, moved on by the test."""
    return Clock()


@pytest.fixture
def tuning(make_workspace: Callable[..., Workspace], clock: Clock) -> Workspace:
    """An emulator whose jobs take a minute on `clock`."""
    return make_workspace(clock=clock, **EMULATOR)


def _applied(workspace: Workspace, *extra: str) -> str:
    """`genaiops apply` in-process, which must succeed; its output."""
    result = workspace.apply(*extra)
    assert result.exit_code == 0, result.output
    return result.output


def _no_changes(workspace: Workspace) -> str:
    """`genaiops plan --detailed-exitcode`, which must find nothing to do; its output."""
    result = workspace.plan("--detailed-exitcode")
    assert result.exit_code == 0, result.output
    return result.output


def _gate_results(workspace: Workspace) -> list[str]:
    """What each evaluation of a tuned model concluded, from the audit log."""
    records = audit(workspace.root / "audit.log")
    return [str(r["result"]) for r in records if r.get("op") == "EvaluateTunedModel" and r.get("status") == "ok"]


# -- exactly one job -------------------------------------------------------------------------------
def test_two_controllers_applying_at_once_from_different_directories_start_exactly_one_tuning_job(
    tuning: Workspace, tmp_path: Path
) -> None:
    tuning.emulator.faults.add("CreateTuningJob:hold_ms=3000")  # the starter holds the lease a while
    children = {}
    for name in ("one", "two"):
        directory = tmp_path / name
        write_tuning(directory / "manifests")
        argv = (
            "apply",
            "manifests",
            "--auto-approve",
            "--lock-timeout",
            "60",
            "--emulator",
            tuning.emulator.grpc_target,
        )
        children[name] = (genaiops(directory, *argv, log=tmp_path / f"{name}.out"), tmp_path / f"{name}.out")
    wait_until(lambda: len(tuning_jobs(tuning)) == 1, timeout_s=60, what="the tuning job to be created")
    alive = {name: child.poll() is None for name, (child, _) in children.items()}
    codes = {name: child.wait(timeout=90) for name, (child, _) in children.items()}
    assert alive == {"one": True, "two": True}, "the applies did not overlap: one ended before the job was started"
    outputs = {name: log.read_text(encoding="utf-8") for name, (_, log) in children.items()}

    assert codes == {"one": 0, "two": 0}, outputs
    assert creates(tuning) == 1 and len(tuning_jobs(tuning)) == 1
    starters = [name for name, output in outputs.items() if "start tuning job tuned" in output]
    assert len(starters) == 1, outputs  # the second planned under the lease and found the job
    assert "already started" not in outputs[starters[0]]


def test_a_kill_9_while_create_tuning_job_is_unanswered_leaves_one_job_that_the_rerun_finds_and_shows(
    tuning: Workspace,
) -> None:
    write_tuning(tuning.manifests)
    tuning.emulator.faults.add("CreateTuningJob:hold_ms=120000")  # the job lands, the reply never comes
    argv = ("apply", str(tuning.manifests), "--auto-approve", "--audit-log", str(tuning.root / "killed.log"))
    child = genaiops(tuning.root, *argv, "--emulator", tuning.emulator.grpc_target, log=tuning.root / "child.out")
    try:
        wait_until(lambda: len(tuning_jobs(tuning)) == 1, timeout_s=60, what="the tuning job to be created")
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    tuning.emulator.faults.clear()
    starts = [r for r in audit(tuning.root / "killed.log") if r.get("op") == "StartTuningJob"]
    assert starts == [], "killed too late: the start was already recorded"

    rerun = _applied(tuning)

    assert "start tuning job" not in rerun, rerun
    assert creates(tuning) == 1 and len(tuning_jobs(tuning)) == 1
    (job,) = tuning_jobs(tuning)
    assert health(tuning, JOB)["health"] == "progressing"
    assert job.name in health(tuning, JOB)["reason"]
    _no_changes(tuning)


def test_a_lost_reply_to_create_tuning_job_is_retried_and_finds_the_job_instead_of_starting_another(
    tuning: Workspace,
) -> None:
    write_tuning(tuning.manifests)
    tuning.emulator.faults.add("CreateTuningJob:lost_reply=1")  # every reply lost: only the list can tell

    _applied(tuning)

    assert sum(tuning.emulator.faults.lost.values()) == 1, tuning.emulator.faults.lost
    assert creates(tuning) == 1 and len(tuning_jobs(tuning)) == 1
    (start,) = [r for r in audit(tuning.root / "audit.log") if r.get("op") == "StartTuningJob"]
    assert (start["status"], start["attempts"]) == ("ok", 2), start
    assert str(start["result"]).endswith("(already started)"), start
    _no_changes(tuning)


# -- the evaluation gate ---------------------------------------------------------------------------
def test_a_tuned_model_that_fails_its_gate_is_degraded_and_the_prompt_on_it_waits_unpublished(
    tuning: Workspace, clock: Clock
) -> None:
    write_tuning(tuning.manifests, display_name="tuned;quality=bad", gate=True, prompt=True)
    _applied(tuning)
    clock.advance()

    gated = _applied(tuning)

    assert "evaluate the tuned model of tuned" in gated, gated
    assert _gate_results(tuning) == ["gate failed: exact-match 0 (min 0.8); 0/1 prompt tests passed"]
    state = health(tuning, JOB)
    assert state["health"] == "degraded" and "failed its evaluation gate" in state["reason"], state
    plan = _no_changes(tuning)
    assert "Prompt greet: waits for TuningJob tuned (the tuned model" in plan, plan
    assert published(tuning, "greet") is None
    assert "of prompt greet" not in _applied(tuning)  # nothing of the prompt is applied either
    assert published(tuning, "greet") is None
    (report,) = (tuning.root / "reports").glob("gate-tuned-*.json")
    assert '"passed": false' in report.read_text(encoding="utf-8")


def _gate_passed_and_prompt_published(tuning: Workspace, clock: Clock) -> tuple[Any, PromptVersion]:
    """A gated TuningJob whose tuned model is good, and the prompt `greet` on it, applied until published;
    the tuning job and the version `production` points at."""
    write_tuning(tuning.manifests, gate=True, prompt=True)
    _applied(tuning)
    assert published(tuning, "greet") is None  # no tuned model yet: the prompt waits
    clock.advance()
    _applied(tuning)
    assert _gate_results(tuning) == ["gate passed: exact-match 1 (min 0.8); 1/1 prompt tests passed"]
    publishing = _applied(tuning)
    assert "publish version" in publishing and "of prompt greet: done" in publishing, publishing
    (job,) = tuning_jobs(tuning)
    version = published(tuning, "greet")
    assert version is not None
    return job, version


def test_a_tuned_model_that_passes_its_gate_reaches_the_prompt_as_a_new_version_on_the_tuned_endpoint(
    tuning: Workspace, clock: Clock
) -> None:
    job, version = _gate_passed_and_prompt_published(tuning, clock)

    assert f"projects/local-project/{version.vertex_model}" == job.tuned_model.endpoint
    assert version.model == "tuned"
    assert health(tuning, JOB)["health"] == "healthy"
    _no_changes(tuning)
    assert creates(tuning) == 1


def test_the_published_version_on_a_tuned_model_tells_the_runtime_to_call_generate_content(
    tuning: Workspace, clock: Clock
) -> None:
    _, version = _gate_passed_and_prompt_published(tuning, clock)

    assert version.runtime.get("endpointApi") == "generateContent"


# -- a failed job and `genaiops retry` -------------------------------------------------------------
def test_a_failed_tuning_job_is_degraded_with_the_service_error_and_only_genaiops_retry_starts_attempt_two(
    tuning: Workspace, clock: Clock
) -> None:
    write_tuning(tuning.manifests, display_name="tuned;tuning=fail")
    _applied(tuning)
    clock.advance()

    state = health(tuning, JOB)
    assert state["health"] == "degraded", state
    assert "emulated: tuning=fail" in state["reason"] and "(code 13)" in state["reason"], state
    assert "genaiops retry tuned" in _no_changes(tuning)
    _applied(tuning)
    assert creates(tuning) == 1, "a failed job was started again without a retry"

    retried = tuning.run(
        "retry", "tuned", str(tuning.manifests), "--auto-approve", "--audit-log", str(tuning.root / "audit.log")
    )

    assert retried.exit_code == 0, retried.output
    assert "start tuning job tuned (attempt 2)" in retried.output, retried.output
    assert creates(tuning) == 2
    attempts = sorted(job.labels["genaiops-attempt"] for job in tuning_jobs(tuning))
    assert attempts == ["1", "2"]
    assert health(tuning, JOB)["health"] == "progressing"
    _no_changes(tuning)


# -- pipelines -------------------------------------------------------------------------------------
def test_the_example_pipeline_is_submitted_once_accepted_by_the_emulator_and_its_run_s_state_shown(
    tuning: Workspace, clock: Clock
) -> None:
    write_pipeline(tuning.manifests)

    first = _applied(tuning)

    assert "submit pipeline run tune-" in first, first
    assert pipeline_creates(tuning) == 1
    state = health(tuning, PIPELINE)
    assert state["health"] == "progressing" and "is pending" in state["reason"], state
    _applied(tuning)
    assert pipeline_creates(tuning) == 1, "the run was submitted again"
    clock.advance()
    assert health(tuning, PIPELINE)["health"] == "healthy"
    (run,) = tuning.emulator.pipeline_client().list_pipeline_jobs(parent=tuning.emulator.parent)
    assert run.state.name == "PIPELINE_STATE_SUCCEEDED", run.error
    assert [task.task_name for task in run.job_detail.task_details if task.task_name != "genaiops-tune"] == [
        "prepare",
        "tune",
        "evaluate",
        "register",
    ]
    assert run.runtime_config.gcs_output_directory == "gs://local-project-genaiops/pipeline-runs"
    _no_changes(tuning)


def test_the_example_pipeline_s_function_compiles_with_kfp_under_allow_code_and_the_emulator_accepts_the_run(
    tuning: Workspace,
) -> None:
    (tuning.manifests / "pipelines").mkdir()
    source = REPO / "manifests" / "pipelines" / "tune_pipeline.py"
    (tuning.manifests / "pipelines" / "tune_pipeline.py").write_text(source.read_text(encoding="utf-8"))
    (tuning.manifests / "pipeline.yaml").write_text(
        "apiVersion: genaiops/v1\nkind: Pipeline\nmetadata: {name: tune}\nspec:\n"
        "  function: pipelines.tune_pipeline:tune_pipeline\n"
        "  parameters: {project: local-project, source_uri: gs://local-project-genaiops/data/train.jsonl}\n"
        "  pipelineRoot: gs://local-project-genaiops/pipeline-runs\n",
        encoding="utf-8",
    )

    applied = tuning.apply("--allow-code")

    assert applied.exit_code == 0, applied.output
    assert pipeline_creates(tuning) == 1

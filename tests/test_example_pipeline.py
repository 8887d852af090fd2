"""The example KFP pipeline (manifests/pipelines/tune_pipeline.py) compiles with the real kfp compiler into
four tasks run in order (prepare -> tune -> evaluate -> register, the gate before anything is registered),
and the compiled IR checked in beside it is what the code compiles to today. kfp is in the `test` extra,
so none of this ever skips."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from kfp import compiler

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = ROOT / "manifests" / "pipelines"
ORDER = ["prepare", "tune", "evaluate", "register"]


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tune_pipeline_example", PIPELINES / "tune_pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The pipeline compiled by kfp's own compiler into a temporary file, read back."""
    path = tmp_path_factory.mktemp("kfp") / "tune_pipeline.yaml"
    compiler.Compiler().compile(example().tune_pipeline, str(path))
    ir: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return ir


def test_the_example_compiles_to_the_four_tasks_prepare_tune_evaluate_register(compiled: dict[str, Any]) -> None:
    tasks = compiled["root"]["dag"]["tasks"]

    assert sorted(tasks) == sorted(ORDER)
    assert {name: task["componentRef"]["name"] for name, task in tasks.items()} == {n: f"comp-{n}" for n in ORDER}
    assert compiled["pipelineInfo"]["name"] == "genaiops-tune"


def test_each_task_runs_after_the_one_before_it_and_register_only_after_the_gate(compiled: dict[str, Any]) -> None:
    tasks = compiled["root"]["dag"]["tasks"]
    needs = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}

    assert needs == {
        "prepare": set(),
        "tune": {"prepare"},
        "evaluate": {"prepare", "tune"},
        "register": {"tune", "evaluate"},
    }
    for position, name in enumerate(ORDER):
        assert needs[name] <= set(ORDER[:position]), f"{name} waits on a later step"
        if position:
            assert ORDER[position - 1] in needs[name], f"{name} does not wait for {ORDER[position - 1]}"


def test_the_evaluated_model_is_the_one_registered_and_the_gate_reads_the_held_out_split(
    compiled: dict[str, Any],
) -> None:
    tasks = compiled["root"]["dag"]["tasks"]
    register = tasks["register"]["inputs"]["parameters"]
    evaluate = tasks["evaluate"]["inputs"]

    assert register["model"]["taskOutputParameter"] == {"outputParameterKey": "model", "producerTask": "tune"}
    assert register["rouge_l"]["taskOutputParameter"] == {"outputParameterKey": "Output", "producerTask": "evaluate"}
    assert evaluate["parameters"]["endpoint"]["taskOutputParameter"]["producerTask"] == "tune"
    assert evaluate["artifacts"]["evaluation"]["taskOutputArtifact"] == {
        "outputArtifactKey": "evaluation",
        "producerTask": "prepare",
    }
    assert tasks["tune"]["inputs"]["artifacts"]["train"]["taskOutputArtifact"]["outputArtifactKey"] == "train"


def test_every_step_installs_the_vertex_ai_sdk_it_calls_in_its_own_container(compiled: dict[str, Any]) -> None:
    executors = compiled["deploymentSpec"]["executors"]

    assert sorted(executors) == sorted(f"exec-{n}" for n in ORDER)
    for name in ORDER:
        container = executors[f"exec-{name}"]["container"]
        script = "\n".join(container["command"])
        assert container["image"].startswith("python:3.11")
        assert re.search(r"pip install .*'google-cloud-(storage|aiplatform)", script), name
        assert f"def {name}(" in script


def _stable(ir: dict[str, Any]) -> dict[str, Any]:
    """What the IR says about the pipeline, without what only the kfp release decides: the SDK version and
    the bootstrap shell script around each component (kfp pins itself there). The components' own code,
    images, inputs, outputs and the DAG are kept."""
    executors = {}
    for name, executor in ir["deploymentSpec"]["executors"].items():
        container = executor["container"]
        source = container["command"][-1]
        executors[name] = {
            "image": container["image"],
            "args": container["args"],
            "function": source[source.index("\ndef ") :],
            "packages": re.findall(r"'([^']+)'", container["command"][2].split("&&")[0]),
        }
    return {
        "components": ir["components"],
        "root": ir["root"],
        "pipelineInfo": ir["pipelineInfo"],
        "schemaVersion": ir["schemaVersion"],
        "executors": executors,
    }


def test_the_checked_in_ir_is_what_the_example_compiles_to(compiled: dict[str, Any]) -> None:
    checked_in = json.loads((PIPELINES / "tune_pipeline.json").read_text(encoding="utf-8"))

    assert _stable(checked_in) == _stable(compiled), "regenerate it: python manifests/pipelines/tune_pipeline.py"
    assert checked_in["sdkVersion"].startswith("kfp-2.")


def test_the_compiled_ir_is_json_so_the_manifest_loader_never_reads_it_as_a_manifest() -> None:
    from controller.loader import discover

    files, problems = discover(ROOT / "manifests")

    assert not problems
    assert not [path for path in files if path.parent == PIPELINES]
    assert sorted(p.name for p in PIPELINES.iterdir() if p.suffix in (".json", ".py")) == [
        "tune_pipeline.json",
        "tune_pipeline.py",
    ]

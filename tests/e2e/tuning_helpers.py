"""Helpers for the tuning end-to-end tests: small tuning manifests (a Dataset, a TuningJob, a Prompt on it, a
Pipeline of the example IR), a clock the test moves so jobs finish at once, `genaiops` child processes (to
run two at a time or SIGKILL one), and readers of what the emulator and the prompt store hold.

Everything talks to the emulator over loopback through the real Google clients; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from controller.prompts.version import PromptVersion
from controller.providers.prompt_store import open_store
from tests.e2e.conftest import Workspace
from tests.helpers import child_env

REPO = Path(__file__).resolve().parents[2]
DURATION_S = 60.0  # how long a job takes on the emulator's clock; the test moves the clock past it
STORE_URL = "gs://local-project-genaiops/prompts"  # where `--emulator` targets publish prompts
TRAIN = [
    {
        "contents": [
            {"role": "user", "parts": [{"text": f"How do I do task {n}?"}]},
            {"role": "model", "parts": [{"text": f"Open settings and press button {n}."}]},
        ]
    }
    for n in range(1, 6)
]
GATE = """\
  evaluation:
    dataset: train
    metrics: [{name: exact-match, min: 0.8}]
    prompts: [greet]
"""
PROMPT = """\
---
apiVersion: genaiops/v1
kind: Prompt
metadata: {name: greet}
spec:
  model: tuned
  template: "Hello {{ customer }}!"
  variables: {customer: {type: string}}
  labels: [production]
  tests:
    - name: names-the-customer
      vars: {customer: Ada}
      assert: [{type: contains, value: Ada}]
"""
PIPELINE = """\
apiVersion: genaiops/v1
kind: Pipeline
metadata: {name: tune}
spec:
  template: pipelines/tune_pipeline.json
  parameters:
    project: local-project
    source_uri: gs://local-project-genaiops/data/train.jsonl
    epochs: 2
  pipelineRoot: gs://local-project-genaiops/pipeline-runs
"""


class Clock:
    """The emulator's clock: wall time plus an offset the test advances (jobs finish when it passes)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float = DURATION_S + 1) -> None:
        """Move time on (by default past every job's duration)."""
        with self._lock:
            self._offset += seconds


def tuning_yaml(*, display_name: str = "tuned", gate: bool = False, prompt: bool = False) -> str:
    """The Dataset `train` and the TuningJob `tuned` on it (optionally gated, and a Prompt `greet` on it)."""
    text = (
        "apiVersion: genaiops/v1\n"
        "kind: Dataset\n"
        "metadata: {name: train}\n"
        "spec: {source: data/train.jsonl}\n"
        "---\n"
        "apiVersion: genaiops/v1\n"
        "kind: TuningJob\n"
        "metadata: {name: tuned, labels: {team: support}}\n"
        "spec:\n"
        "  baseModel: gemini-2.0-flash-001\n"
        "  trainingDataset: train\n"
        f"  tunedModelDisplayName: {json.dumps(display_name)}\n"
    )
    return text + (GATE if gate else "") + (PROMPT if prompt else "")


def write_tuning(manifests: Path, **options: Any) -> None:
    """`tuning.yaml` (see `tuning_yaml`) and its training data under `manifests`."""
    (manifests / "data").mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(example) + "\n" for example in TRAIN)
    (manifests / "data" / "train.jsonl").write_text(lines, encoding="utf-8")
    (manifests / "tuning.yaml").write_text(tuning_yaml(**options), encoding="utf-8")


def write_pipeline(manifests: Path) -> None:
    """The Pipeline `tune` and, beside it, the example's compiled KFP IR (as checked in)."""
    (manifests / "pipelines").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        REPO / "manifests" / "pipelines" / "tune_pipeline.json", manifests / "pipelines" / "tune_pipeline.json"
    )
    (manifests / "pipeline.yaml").write_text(PIPELINE, encoding="utf-8")


# -- what the emulator holds -----------------------------------------------------------------------
def creates(workspace: Workspace) -> int:
    """CreateTuningJob calls that reached the emulator so far."""
    return workspace.emulator.vertex.create_calls()["CreateTuningJob"]


def pipeline_creates(workspace: Workspace) -> int:
    """CreatePipelineJob calls that reached the emulator so far."""
    return workspace.emulator.vertex.create_calls()["CreatePipelineJob"]


def tuning_jobs(workspace: Workspace) -> list[Any]:
    """The tuning jobs, read with the real gapic client."""
    return list(workspace.emulator.tuning_client().list_tuning_jobs(parent=workspace.emulator.parent))


def health(workspace: Workspace, address: str) -> dict[str, Any]:
    """One resource of `genaiops status -o json` (its sync, health and detail)."""
    result = workspace.run("status", str(workspace.manifests), "-o", "json")
    document = json.loads(result.output)
    found = [r for r in document["resources"] if r["address"] == address]
    assert len(found) == 1, (address, result.output)
    resource: dict[str, Any] = found[0]
    return resource


def published(workspace: Workspace, prompt: str, label: str = "production") -> PromptVersion | None:
    """The version `label` of `prompt` points at in the prompt store, or None when not published."""
    store = open_store(STORE_URL, client=workspace.storage(), retry_deadline_s=5)
    index = store.read_index(prompt)
    if index is None or label not in index.labels:
        return None
    return store.read_version(prompt, index.labels[label])


def audit(path: Path) -> list[dict[str, Any]]:
    """The records of an audit log."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- genaiops in a child process -------------------------------------------------------------------
def genaiops(cwd: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """`python -m controller ARGS` started in `cwd`, its output going to `log`."""
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "controller", *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )

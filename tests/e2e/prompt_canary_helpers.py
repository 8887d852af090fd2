"""Helpers for the prompt canary end-to-end tests: an emulator with Gemini over REST (google-genai), Cloud
Storage (the prompt store, `gs://local-project-genaiops/prompts`, the emulator target's default) and Cloud
Monitoring that takes a point every half second; the `greet` Prompt with a fast canary; and simulated users
on the runtime client (`GenAIClient`) whose requests, routed by their user id, become the runtime metrics
the controller judges.

Nothing is mocked: `genaiops` runs as a child process or in-process through click, and the users talk to the
emulator through the real google-genai SDK and the real metrics writer.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from controller.emulator.server import Emulator, running
from controller.errors import GenaiopsError
from controller.prompts.client import PromptClient
from controller.prompts.index import LabelRollout
from controller.prompts.store import PromptStore
from controller.providers.prompt_store import open_store
from controller.providers.runtime_models import vertex_models
from controller.providers.runtime_stores import cloud_monitoring_recorder
from controller.runtime import GenAIClient
from tests.e2e.conftest import Workspace

PROJECT = "local-project"
STORE_URL = f"gs://{PROJECT}-genaiops/prompts"  # where `--emulator` targets publish prompts by default
LABEL = "production"
HEALTHY = "publishers/google/models/gemini-2.0-flash"
BLOCKING = "publishers/google/models/gemini-2.5-flash-bad"  # blocks half its answers on safety
EMULATOR: dict[str, Any] = {
    "rest_port": 0,
    "storage_port": 0,
    "min_alignment_period_s": 1,
    "min_point_spacing_s": 0.5,
    "gemini_models": {"gemini-2.0-flash": "latency_ms=2", "gemini-2.5-flash-bad": "latency_ms=2;block_rate=0.5"},
}
MANIFESTS = """\
apiVersion: genaiops/v1
kind: Model
metadata: {{name: gemini-flash}}
spec: {{publisher: {model}}}
---
apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: greet}}
spec:
  model: gemini-flash
  template: "{template}"
  variables: {{customer: {{type: string}}}}
  labels: [{label}]
  rollout:
    strategy: canary
    steps: {steps}
    analysis:
      interval: 1s
      initialDelay: 2s
      minRequests: 5
      failureLimit: 0
      inconclusiveLimit: 20
      metrics: [{{name: error-rate, max: 10%}}, {{name: safety-block-rate, max: 10%}}]
"""
STEPS = "[{weight: 50}, {weight: 50, pause: 3s}]"  # the second step sits a while: a window to kill in


@contextmanager
def prompt_workspace(root: Path) -> Iterator[Workspace]:
    """An emulator with the options above (REST for google-genai, storage for the prompt store) and a
    workspace on it."""
    with running(**EMULATOR) as emulator:
        yield Workspace(root, emulator)


def write(workspace: Workspace, template: str, *, model: str = HEALTHY, steps: str = STEPS) -> None:
    """The manifests: `greet` on `template` and `model`, rolled out by canary on the production label."""
    workspace.write(prompts=MANIFESTS.format(model=model, template=template, label=LABEL, steps=steps))


def store(workspace: Workspace) -> PromptStore:
    """The prompt store the CLI publishes to, through a storage client of this process."""
    return open_store(STORE_URL, client=workspace.storage(), retry_deadline_s=5)


def record(workspace: Workspace) -> LabelRollout | None:
    """The production label's rollout record, as the store holds it now."""
    index = store(workspace).read_index("greet")
    return None if index is None else index.rollouts.get(LABEL)


def label(workspace: Workspace) -> str | None:
    """Where the production label points now."""
    index = store(workspace).read_index("greet")
    return None if index is None else index.labels.get(LABEL)


class Users:
    """Simulated users asking `greet` on the runtime client until stopped, each request routed by its user
    id; the metrics recorder writes every half second. `served` counts requests per version."""

    def __init__(self, workspace: Workspace, *, threads: int = 2, users: int = 200) -> None:
        emulator: Emulator = workspace.emulator
        prompts = PromptClient(
            open_store(STORE_URL, client=workspace.storage(), retry_deadline_s=2), project=PROJECT, ttl_s=0.2
        )
        models = vertex_models(
            project=PROJECT,
            location="us-central1",
            grpc_target=emulator.grpc_target,
            genai_base_url=emulator.rest_endpoint,
        )
        self.metrics = cloud_monitoring_recorder(
            project=PROJECT, emulator=emulator.grpc_target, interval_s=0.5, min_spacing_s=0.5
        )
        self.client = GenAIClient(prompts, models, recorder=self.metrics, cache="off", project=PROJECT, max_attempts=1)
        self.users = users
        self.served: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n, threads), daemon=True) for n in range(threads)]

    def _run(self, first: int, step: int) -> None:
        turn = first
        while not self._stop.is_set():
            user = f"u{turn % self.users}"
            turn += step
            try:
                result = self.client.generate("greet", {"customer": user}, label=LABEL, routing_key=user)
            except GenaiopsError as err:  # e.g. before the first publish; counted, never fatal
                with self._lock:
                    self.failures[type(err).__name__] += 1
                self._stop.wait(0.05)
                continue
            with self._lock:
                self.served[result.version] += 1
            self._stop.wait(0.005)

    def __enter__(self) -> Users:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.client.close()
        self.metrics.close()

"""A canary of an open chat model that streams 3x slower is rolled back on time-to-first-token (issue 21,
item 4), end to end on the emulator with nothing mocked.

The `chat` Endpoint serves version 1 of the registry Model `llm`, an emulated open chat model (vLLM-like:
`llm=chat`, first token after 20 ms, 200 tokens/s). Version 2 answers the same but 3x slower (first token
after 60 ms, 66 tokens/s). Simulated users stream a prompt whose model is the endpoint through the runtime
client (`GenAIClient.stream` -> `ChatEndpointModel` -> REST :streamRawPredict); the client times every
stream and its recorder writes `time_to_first_token` labelled with the deployed model that answered (the
X-Vertex-AI-Deployed-Model-Id header) to the emulator's Cloud Monitoring. `genaiops apply --wait` canaries
version 2 with `time-to-first-token-p95 max 40ms`: the canary's deployed model breaks it, the rollout rolls
back naming the metric, and all traffic returns to version 1.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.emulator.server import running
from controller.errors import GenaiopsError
from controller.prompts.client import PromptClient
from controller.providers.prompt_store import LocalPromptStore
from controller.providers.runtime_models import vertex_models
from controller.providers.runtime_stores import cloud_monitoring_recorder
from controller.runtime import GenAIClient
from tests.e2e.canary_helpers import rollout_events, rollout_labels, served
from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml
from tests.runtime.conftest import publish_version, version

PROJECT, LOCATION = "local-project", "us-central1"
FAST = "gs://emulator-models/open-chat/v1?llm=chat&ttft_ms=20&tokens_per_s=200&output_tokens=8"
SLOW = "gs://emulator-models/open-chat/v2?llm=chat&ttft_ms=60&tokens_per_s=66&output_tokens=8"  # 3x slower
ROLLOUT = """\
  rollout:
    strategy: canary
    steps: [{weight: 50, pause: 5s}]
    analysis:
      interval: 1s
      initialDelay: 1s
      minRequests: 5
      failureLimit: 0
      inconclusiveLimit: 20
      metrics: [{name: time-to-first-token-p95, max: 40ms}]
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """An emulator with REST (the chat adapter's :streamRawPredict), Cloud Monitoring taking a point every
    half second, and version 1 of `llm` serving `chat`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with running(rest_port=0, storage_port=0, min_alignment_period_s=1, min_point_spacing_s=0.5) as emulator:
        ws = Workspace(tmp_path, emulator)
        write(ws, FAST)
        first = ws.apply()
        assert first.exit_code == 0, first.output
        assert served(ws.endpoint()) == {"1": 100}
        yield ws


def write(workspace: Workspace, artifact: str) -> None:
    workspace.write(models=model_yaml(artifact=artifact), endpoints=endpoint_yaml(extra=ROLLOUT))


class StreamingUsers:
    """Users streaming the `support` prompt (its model: the `chat` endpoint) until stopped; `served` counts
    the streams each deployed model answered."""

    def __init__(self, workspace: Workspace, *, threads: int = 3) -> None:
        emulator = workspace.emulator
        self.endpoint = f"{emulator.parent}/endpoints/chat"
        store = LocalPromptStore(workspace.root / "app-prompts")
        publish_version(store, version(model=self.endpoint))
        models = vertex_models(
            project=PROJECT,
            location=LOCATION,
            grpc_target=emulator.grpc_target,
            genai_base_url=emulator.rest_endpoint,
            chat_endpoints=[self.endpoint],
        )
        self.metrics = cloud_monitoring_recorder(
            project=PROJECT, emulator=emulator.grpc_target, interval_s=0.5, min_spacing_s=0.5
        )
        prompts = PromptClient(store, project=PROJECT)
        self.client = GenAIClient(prompts, models, recorder=self.metrics, cache="off", project=PROJECT, max_attempts=1)
        self.served: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, n: int) -> None:
        turn = 0
        while not self._stop.is_set():
            turn += 1
            stream = self.client.stream("support", {"question": f"user {n} turn {turn}"})
            try:
                text = "".join(stream)
            except GenaiopsError as err:  # e.g. mid-rollback; counted, never fatal
                with self._lock:
                    self.failures[type(err).__name__] += 1
                self._stop.wait(0.05)
                continue
            assert text and stream.result is not None
            with self._lock:
                self.served[stream.result.model] += 1
            self._stop.wait(0.005)

    def __enter__(self) -> StreamingUsers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.client.close()
        self.metrics.close()


def test_a_canary_that_streams_three_times_slower_is_rolled_back_on_time_to_first_token(
    workspace: Workspace,
) -> None:
    write(workspace, SLOW)
    with StreamingUsers(workspace) as users:
        result = workspace.apply("--wait")
    assert result.exit_code == 1, result.output
    assert re.search(
        r"Rolled back chat/primary: time-to-first-token-p95 \S+ ms > max 40 ms over \d+ requests", result.output
    ), result.output
    live = workspace.endpoint()
    assert len(live.deployed_models) == 1 and served(live) == {"1": 100}
    labels = rollout_labels(live)
    assert labels["phase"] == "degraded" and labels["reason"] == "analysis-failed"
    assert (labels["reason-metric"], labels["reason-threshold"]) == ("time-to-first-token-p95", "max-40")
    assert float(labels["reason-value"].replace("_", ".")) >= 60  # the canary's first token: 60 ms and more
    assert not rollout_events(workspace.root / "audit.log", "step", "promoted")
    assert sum(users.served.values()) > 10, (users.served, users.failures)

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

import threading
from collections import Counter

from controller.errors import GenaiopsError
from controller.prompts.client import PromptClient
from controller.providers.prompt_store import LocalPromptStore
from controller.providers.runtime_models import vertex_models
from controller.providers.runtime_stores import cloud_monitoring_recorder
from controller.runtime import GenAIClient
from tests.e2e.canary_helpers import STREAM_SLOW, assert_rolled_back_on_ttft, write_streaming
from tests.e2e.conftest import Workspace
from tests.runtime.conftest import publish_version, version

PROJECT, LOCATION = "local-project", "us-central1"


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
    streaming_workspace: Workspace,
) -> None:
    workspace = streaming_workspace
    write_streaming(workspace, STREAM_SLOW)
    with StreamingUsers(workspace) as users:
        result = workspace.apply("--wait")
    assert_rolled_back_on_ttft(workspace, result)
    assert sum(users.served.values()) > 10, (users.served, users.failures)

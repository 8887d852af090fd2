"""A canary of an open chat model that streams 3x slower is rolled back on the time to first token Vertex AI
publishes (`source: vertex`, issue 21 item 4), for users who stream without the genaiops runtime client.

The same `chat` Endpoint and models as test_streaming_canary.py (version 1: first token after 20 ms; version
2: after 60 ms), but the users are plain HTTP clients streaming server-sent events from the endpoint's
`:streamRawPredict` with httpx, so no runtime metric is ever written. The emulator publishes what AI
AutoMetrics exports from a vLLM container, the `vertex_vllm_time_to_first_token_seconds` histogram per
deployed model, and `genaiops apply --wait` canaries version 2 with `{name: time-to-first-token-p95, max:
40ms, source: vertex}`: the canary breaks it, the rollout rolls back naming the metric, and all traffic
returns to version 1.
"""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest
from google.api_core import exceptions

from controller.model.metric_names import TIME_TO_FIRST_TOKEN, runtime_metric_type
from tests.e2e.canary_helpers import STREAM_ROLLOUT, STREAM_SLOW, assert_rolled_back_on_ttft, write_streaming
from tests.e2e.conftest import Workspace

VERTEX_ROLLOUT = STREAM_ROLLOUT.replace("{name: time-to-first-token-p95, max: 40ms}", "{name: time-to-first-token-p95, "
                                 "max: 40ms, source: vertex}")  # fmt: skip
CHAT = b'{"messages": [{"role": "user", "content": "hello there"}], "stream": true}'


class PlainStreamingUsers:
    """Users streaming chat completions from `:streamRawPredict` with httpx until stopped; `served` counts
    the streams each deployed model answered (its X-Vertex-AI-Deployed-Model-Id header)."""

    def __init__(self, workspace: Workspace, *, threads: int = 3) -> None:
        emulator = workspace.emulator
        self.url = f"{emulator.rest_endpoint}/v1/{emulator.parent}/endpoints/chat:streamRawPredict"
        self.served: Counter[str] = Counter()
        self.failures: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                with http.stream("POST", self.url, content=CHAT) as reply:
                    body = reply.read()
                    with self._lock:
                        if reply.status_code != 200:  # e.g. mid-rollback; counted, never fatal
                            self.failures[reply.status_code] += 1
                        else:
                            assert body.rstrip().endswith(b"data: [DONE]")
                            self.served[reply.headers["X-Vertex-AI-Deployed-Model-Id"]] += 1
                self._stop.wait(0.005)

    def __enter__(self) -> PlainStreamingUsers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def test_a_canary_streamed_without_the_runtime_is_rolled_back_on_the_time_to_first_token_vertex_publishes(
    streaming_workspace: Workspace,
) -> None:
    workspace = streaming_workspace  # v1 serves `chat`
    write_streaming(workspace, STREAM_SLOW, VERTEX_ROLLOUT)
    with PlainStreamingUsers(workspace) as users:
        result = workspace.apply("--wait")
    assert_rolled_back_on_ttft(workspace, result)
    assert sum(users.served.values()) > 10 and len(users.served) == 2, (users.served, users.failures)
    with pytest.raises(exceptions.NotFound):  # judged on Vertex's metric alone: the runtime wrote nothing
        list(
            workspace.emulator.metric_client().list_time_series(
                name=f"projects/{workspace.emulator.project}",
                filter=f'metric.type = "{runtime_metric_type(TIME_TO_FIRST_TOKEN)}"',
                interval={"start_time": {"seconds": 0}, "end_time": {"seconds": 2_000_000_000}},
            )
        )

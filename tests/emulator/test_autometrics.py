"""AI AutoMetrics in the emulator: a chat model's streamed answers publish the server-side time to first token
the way Vertex AI exports a vLLM container's `vllm:time_to_first_token_seconds` histogram (a CUMULATIVE
DISTRIBUTION in seconds on `prometheus_target`, labelled with the endpoint and the deployed model), read
back through the real `MetricServiceClient`; whole answers publish none."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.api import metric_pb2
from google.cloud import monitoring_v3

from controller.emulator.server import Emulator, running
from controller.model.metric_names import PROMETHEUS_RESOURCE, VERTEX_TIME_TO_FIRST_TOKEN
from tests.emulator.conftest import Vertex
from tests.emulator.test_raw_predict import chat_body

TTFT_MS = 60
PACED = f"gs://emulator-models/chat?llm=chat&ttft_ms={TTFT_MS}&tokens_per_s=200&output_tokens=3"
Aligner = monitoring_v3.Aggregation.Aligner
Reducer = monitoring_v3.Aggregation.Reducer


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with running(storage_port=None) as emulator:
        yield emulator


def ttft_series(emulator: Emulator, **aggregation: Any) -> list[Any]:
    """The raw `TimeSeries` of the AutoMetrics histogram over the last two minutes."""
    now = time.time() + 1
    request = monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{emulator.project}",
        filter=f'metric.type = "{VERTEX_TIME_TO_FIRST_TOKEN}" AND resource.type = "{PROMETHEUS_RESOURCE}"',
        interval=monitoring_v3.TimeInterval(start_time={"seconds": int(now) - 120}, end_time={"seconds": int(now)}),
        aggregation=monitoring_v3.Aggregation(**aggregation) if aggregation else None,
    )
    pager = emulator.metric_client().list_time_series(request=request)
    return [monitoring_v3.TimeSeries.pb(ts) for ts in pager]


def test_a_streamed_chat_answer_publishes_its_time_to_first_token_and_a_whole_one_does_not(emu: Emulator) -> None:
    vx = Vertex(emu, emu.endpoint_client(), emu.model_client(), emu.prediction_client())
    endpoint, (deployed,) = vx.endpoint_with_models(count=1, uris=(PACED,))
    base = f"{emu.rest_endpoint}/v1/{endpoint.name}"
    with httpx.Client(timeout=10) as http:
        assert http.post(f"{base}/chat/completions", content=chat_body("hello there")).status_code == 200
        assert http.post(f"{base}:rawPredict", content=chat_body("hello there")).status_code == 200
        assert ttft_series(emu) == []  # whole answers: nothing
        with http.stream("POST", f"{base}:streamRawPredict", content=chat_body("hello there")) as reply:
            assert reply.status_code == 200 and b"[DONE]" in reply.read()
        body = chat_body("hello there", stream=True)
        with http.stream("POST", f"{base}/chat/completions", content=body) as reply:
            assert reply.status_code == 200 and b"[DONE]" in reply.read()
    (series,) = ttft_series(emu)
    assert series.resource.type == "prometheus_target"
    assert series.resource.labels["project_id"] == emu.project
    assert series.metric.labels["endpoint_id"] == endpoint.name.rsplit("/", 1)[1]
    assert series.metric.labels["deployed_model_id"] == deployed
    assert series.metric_kind == metric_pb2.MetricDescriptor.CUMULATIVE
    assert series.value_type == metric_pb2.MetricDescriptor.DISTRIBUTION
    newest = series.points[0].value.distribution_value
    assert newest.count == 2  # cumulative: both streams
    assert TTFT_MS / 1000 <= newest.mean < 1.0  # seconds, as vLLM reports
    assert list(newest.bucket_options.explicit_buckets.bounds)[:5] == [0.001, 0.005, 0.01, 0.02, 0.04]
    (delta,) = ttft_series(
        emu,
        alignment_period={"seconds": 120},
        per_series_aligner=Aligner.ALIGN_DELTA,
        cross_series_reducer=Reducer.REDUCE_SUM,
    )
    assert delta.points[0].value.distribution_value.count == 2

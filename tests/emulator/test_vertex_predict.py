"""Conformance: Predict routed by the live traffic split, simulated model behaviour, and synthetic traffic,
with every prediction reaching the metrics recorder (and Cloud Monitoring through the real client)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from google.api_core import exceptions
from google.protobuf import field_mask_pb2

from controller.emulator.behaviour import HEALTHY, Behaviour, parse_behaviour
from controller.emulator.server import running
from controller.emulator.traffic import TrafficGenerator
from tests.emulator.conftest import ListRecorder, Vertex

SLOW_FLAKY = "gs://emulator-models/echo?error_rate=0.5&latency_ms=120&latency_jitter_ms=40"


def shift(vx: Vertex, endpoint: str, split: dict[str, int]) -> None:
    change = {"name": endpoint, "traffic_split": split}
    vx.endpoints.update_endpoint(endpoint=change, update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]))


def predict_many(vx: Vertex, endpoint: str, n: int) -> tuple[Counter[str], int]:
    served: Counter[str] = Counter()
    errors = 0
    for _ in range(n):
        try:
            served[vx.prediction.predict(endpoint=endpoint, instances=[{"q": "hi"}]).deployed_model_id] += 1
        except exceptions.InternalServerError:
            errors += 1
    return served, errors


def test_predict_echoes_the_instances_and_names_the_model_that_answered(vx: Vertex) -> None:
    endpoint, (deployed,) = vx.endpoint_with_models(count=1)
    response = vx.prediction.predict(endpoint=endpoint.name, instances=[{"q": "hi"}, 3])
    assert [dict(response.predictions[0]), response.predictions[1]] == [{"q": "hi"}, 3]
    assert response.deployed_model_id == deployed
    assert (response.model, response.model_version_id) == (f"{vx.parent}/models/m0", "1")
    assert response.model_display_name == "m0"


def test_predict_routing_follows_the_split(vx: Vertex) -> None:
    endpoint, (primary, canary) = vx.endpoint_with_models(count=2)
    shift(vx, endpoint.name, {primary: 80, canary: 20})
    served, _ = predict_many(vx, endpoint.name, 1000)
    assert served[primary] + served[canary] == 1000
    assert 0.15 < served[canary] / 1000 < 0.25


def test_a_model_at_zero_percent_gets_no_traffic(vx: Vertex) -> None:
    endpoint, (primary, canary) = vx.endpoint_with_models(count=2)
    shift(vx, endpoint.name, {primary: 100, canary: 0})
    served, _ = predict_many(vx, endpoint.name, 200)
    assert served == Counter({primary: 200})


def test_predict_on_an_endpoint_without_traffic_is_failed_precondition(vx: Vertex) -> None:
    endpoint = vx.create_endpoint("chat")
    with pytest.raises(exceptions.FailedPrecondition):
        vx.prediction.predict(endpoint=endpoint.name, instances=[1])
    with pytest.raises(exceptions.NotFound):
        vx.prediction.predict(endpoint=f"{vx.parent}/endpoints/nope", instances=[1])


def test_a_flaky_model_fails_at_its_error_rate_and_every_call_is_recorded(vx: Vertex) -> None:
    recorder = ListRecorder()
    vx.emulator.vertex.prediction.recorder = recorder
    endpoint, (deployed,) = vx.endpoint_with_models(count=1, uris=(SLOW_FLAKY,))
    started = time.monotonic()
    served, errors = predict_many(vx, endpoint.name, 400)
    assert time.monotonic() - started < 5  # the 120 ms latency is simulated, not slept
    assert 0.4 < errors / 400 < 0.6
    codes = Counter(r.response_code for r in recorder.calls)
    assert codes == Counter({200: served[deployed], 500: errors})
    latencies = [r.latency_ms for r in recorder.calls]
    assert min(latencies) >= 80 and max(latencies) <= 160
    assert {(r.endpoint_id, r.deployed_model_id, r.model_display_name) for r in recorder.calls} == {
        ("ep", deployed, "m0")
    }


def test_synthetic_traffic_is_spread_over_the_window_and_routed_by_the_split(vx: Vertex) -> None:
    endpoint, (primary, canary) = vx.endpoint_with_models(count=2)
    shift(vx, endpoint.name, {primary: 90, canary: 10})
    recorder = ListRecorder()
    traffic = TrafficGenerator(vx.emulator.state, recorder, rps=100, seed=7)
    assert traffic.generate(10.0, now=5000.0) == 1000
    assert all(4990.0 < r.at < 5000.0 for r in recorder.calls)
    share = Counter(r.deployed_model_id for r in recorder.calls)
    assert 0.07 < share[canary] / 1000 < 0.13
    again = ListRecorder()
    TrafficGenerator(vx.emulator.state, again, rps=100, seed=7).generate(10.0, now=5000.0)
    assert again.calls == recorder.calls  # seeded: the same traffic every time


def test_synthetic_traffic_carries_fractions_across_ticks_and_honours_per_endpoint_rates(vx: Vertex) -> None:
    vx.endpoint_with_models(count=1)
    recorder = ListRecorder()
    traffic = TrafficGenerator(vx.emulator.state, recorder, rps=2.5, seed=1)
    assert [traffic.generate(1.0, now=float(t)) for t in range(1, 5)] == [2, 3, 2, 3]
    traffic.set_rate("ep", 0)
    assert traffic.generate(10.0, now=100.0) == 0


def test_background_synthetic_traffic_reaches_cloud_monitoring() -> None:
    with running(rest_port=None, storage_port=None, traffic_rps=200, traffic_tick_s=0.05) as emu:
        vx = Vertex(emu, emu.endpoint_client(), emu.model_client(), emu.prediction_client())
        vx.endpoint_with_models(count=1)
        metrics = emu.metric_client()
        deadline = time.monotonic() + 5
        total = 0
        while total == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            total = count_predictions(metrics, emu.project)
        assert total > 0


def count_predictions(client: Any, project: str) -> int:
    now = time.time()
    request = {
        "name": f"projects/{project}",
        "filter": 'metric.type = "aiplatform.googleapis.com/prediction/online/prediction_count" '
        'AND resource.type = "aiplatform.googleapis.com/Endpoint"',
        "interval": {"start_time": {"seconds": int(now) - 60}, "end_time": {"seconds": int(now) + 2}},
    }
    return sum(p.value.int64_value for ts in client.list_time_series(request=request) for p in ts.points)


def test_behaviour_comes_from_the_artifact_uri() -> None:
    assert parse_behaviour(SLOW_FLAKY) == Behaviour(error_rate=0.5, latency_ms=120, latency_jitter_ms=40)
    assert parse_behaviour("gs://emulator-models/echo?latency_ms=300") == Behaviour(0.0, 300, 0.0)
    assert parse_behaviour("gs://my-bucket/model?error_rate=0.9") == HEALTHY
    assert parse_behaviour("/local/path") == HEALTHY
    for bad in ("error_rate=1.5", "latency_ms=-1", "error_rate=abc", "colour=blue"):
        with pytest.raises(ValueError):
            parse_behaviour(f"gs://emulator-models/echo?{bad}")

"""Telemetry: every Prometheus series with its labels and values, and the /healthz and /readyz transitions,
read over real HTTP on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from controller.ports import TelemetryPort
from controller.providers.telemetry import PHASES, Telemetry, TelemetryServer


class FakeClock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def telemetry(clock: FakeClock) -> Iterator[Telemetry]:
    instance = Telemetry(interval_s=10, clock=clock)
    yield instance
    instance.stop()


@pytest.fixture
def server(telemetry: Telemetry) -> TelemetryServer:
    return telemetry.serve("127.0.0.1", 0)


def get(server: TelemetryServer, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def test_metrics_are_served_in_the_prometheus_text_format(server: TelemetryServer) -> None:
    status, content_type, body = get(server, "/metrics")

    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert "# TYPE genaiops_reconcile_passes_total counter" in body


def test_passes_count_by_result_and_durations_go_to_the_histogram(
    telemetry: Telemetry, server: TelemetryServer
) -> None:
    assert value(telemetry.exposition(), "genaiops_reconcile_passes_total", result="ok") == 0
    assert value(telemetry.exposition(), "genaiops_reconcile_passes_total", result="error") == 0

    telemetry.pass_finished(0.2, ok=True)
    telemetry.pass_finished(3.0, ok=True)
    telemetry.pass_finished(45.0, ok=False)
    body = get(server, "/metrics")[2]

    assert value(body, "genaiops_reconcile_passes_total", result="ok") == 2
    assert value(body, "genaiops_reconcile_passes_total", result="error") == 1
    assert value(body, "genaiops_reconcile_pass_duration_seconds_count") == 3
    assert value(body, "genaiops_reconcile_pass_duration_seconds_sum") == pytest.approx(48.2)
    assert value(body, "genaiops_reconcile_pass_duration_seconds_bucket", le="0.25") == 1
    assert value(body, "genaiops_reconcile_pass_duration_seconds_bucket", le="5.0") == 2
    assert value(body, "genaiops_reconcile_pass_duration_seconds_bucket", le="+Inf") == 3
    assert (value(body, "genaiops_reconcile_last_success_timestamp_seconds") or 0) > 1_600_000_000


def test_errors_are_counted_by_kind(telemetry: Telemetry, server: TelemetryServer) -> None:
    telemetry.error("transient")
    telemetry.error("transient")
    telemetry.error("git")
    body = get(server, "/metrics")[2]

    assert value(body, "genaiops_reconcile_errors_total", kind="transient") == 2
    assert value(body, "genaiops_reconcile_errors_total", kind="git") == 1


def test_resources_are_exported_for_every_status_of_each_kind_and_replaced_each_pass(
    telemetry: Telemetry, server: TelemetryServer
) -> None:
    telemetry.set_resources({("Endpoint", "in_sync"): 3, ("Endpoint", "failed"): 1, ("Model", "suspended"): 2})
    body = get(server, "/metrics")[2]

    assert value(body, "genaiops_resources", kind="Endpoint", status="in_sync") == 3
    assert value(body, "genaiops_resources", kind="Endpoint", status="out_of_sync") == 0
    assert value(body, "genaiops_resources", kind="Endpoint", status="failed") == 1
    assert value(body, "genaiops_resources", kind="Endpoint", status="suspended") == 0
    assert value(body, "genaiops_resources", kind="Model", status="suspended") == 2

    telemetry.set_resources({("Endpoint", "out_of_sync"): 4})
    body = get(server, "/metrics")[2]

    assert value(body, "genaiops_resources", kind="Endpoint", status="out_of_sync") == 4
    assert value(body, "genaiops_resources", kind="Endpoint", status="in_sync") == 0
    assert value(body, "genaiops_resources", kind="Model", status="suspended") is None


def test_an_unknown_resource_status_is_refused(telemetry: Telemetry) -> None:
    with pytest.raises(ValueError, match="unknown resource status"):
        telemetry.set_resources({("Endpoint", "happy"): 1})


def test_drift_leader_and_commit_gauges(telemetry: Telemetry, server: TelemetryServer) -> None:
    telemetry.set_drift(2)
    telemetry.set_leader(True)
    telemetry.set_commit("a" * 40)
    telemetry.set_commit("b" * 40)
    body = get(server, "/metrics")[2]

    assert value(body, "genaiops_drift_resources") == 2
    assert value(body, "genaiops_leader") == 1
    assert value(body, "genaiops_applied_commit_info", sha="b" * 40) == 1
    assert value(body, "genaiops_applied_commit_info", sha="a" * 40) is None

    telemetry.set_leader(False)
    assert value(get(server, "/metrics")[2], "genaiops_leader") == 0


def test_rollout_phase_is_one_for_the_current_phase_and_zero_for_the_others(
    telemetry: Telemetry, server: TelemetryServer
) -> None:
    telemetry.set_rollout("support-chat", "candidate", "progressing", 10)
    telemetry.set_rollout("support-chat", "candidate", "paused", 50)
    body = get(server, "/metrics")[2]

    for phase in PHASES:
        expected = 1 if phase == "paused" else 0
        assert value(body, "genaiops_rollout_phase", endpoint="support-chat", deployment="candidate", phase=phase) == (
            expected
        )
    assert value(body, "genaiops_canary_weight_percent", endpoint="support-chat", deployment="candidate") == 50


def test_a_cleared_rollout_leaves_the_other_endpoints_series(telemetry: Telemetry) -> None:
    telemetry.set_rollout("chat", "v2", "healthy", 0)
    telemetry.set_rollout("search", "v7", "degraded", 0)

    telemetry.clear_rollout("chat")
    body = telemetry.exposition()

    assert value(body, "genaiops_rollout_phase", endpoint="chat", deployment="v2", phase="healthy") is None
    assert value(body, "genaiops_canary_weight_percent", endpoint="chat", deployment="v2") is None
    assert value(body, "genaiops_rollout_phase", endpoint="search", deployment="v7", phase="degraded") == 1


def test_an_unknown_rollout_phase_is_refused(telemetry: Telemetry) -> None:
    with pytest.raises(ValueError, match="unknown rollout phase"):
        telemetry.set_rollout("chat", "v2", "exploded", 0)


def test_each_telemetry_has_its_own_registry_and_never_touches_the_global_one(clock: FakeClock) -> None:
    first, second = Telemetry(clock=clock), Telemetry(clock=clock)
    first.set_drift(5)

    assert value(second.exposition(), "genaiops_drift_resources") == 0
    assert "genaiops_drift_resources" not in {family.name for family in REGISTRY.collect()}


def test_healthz_is_ok_while_the_loop_heartbeats_and_503_once_it_goes_quiet(
    telemetry: Telemetry, server: TelemetryServer, clock: FakeClock
) -> None:
    assert get(server, "/healthz")[0] == 200

    clock.now += 29
    telemetry.heartbeat()
    clock.now += 30
    assert get(server, "/healthz")[0] == 200

    clock.now += 1
    status, _, body = get(server, "/healthz")
    assert status == 503
    assert "no heartbeat for 31.0s (limit 30s)" in body

    telemetry.pass_finished(1.0, ok=True)
    assert get(server, "/healthz")[0] == 200


def test_the_staleness_limit_is_configurable(clock: FakeClock) -> None:
    telemetry = Telemetry(interval_s=60, stale_after_s=5, clock=clock)
    clock.now += 6

    assert not telemetry.healthy()


def test_readyz_is_503_until_the_loop_is_ready_and_again_when_it_stops_being_ready(
    telemetry: Telemetry, server: TelemetryServer, clock: FakeClock
) -> None:
    status, _, body = get(server, "/readyz")
    assert status == 503
    assert "first pass" in body

    telemetry.set_ready(True)
    assert get(server, "/readyz")[:3:2] == (200, "ready\n")

    clock.now += 31
    assert get(server, "/readyz")[0] == 503

    telemetry.heartbeat()
    assert get(server, "/readyz")[0] == 200
    telemetry.set_ready(False)
    assert get(server, "/readyz")[0] == 503


def test_unknown_paths_are_404_and_head_requests_work(server: TelemetryServer) -> None:
    assert get(server, "/nope")[0] == 404
    request = urllib.request.Request(server.url + "/healthz", method="HEAD")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert response.read() == b""


def test_stop_closes_the_port_and_a_telemetry_serves_only_once(telemetry: Telemetry) -> None:
    server = telemetry.serve("127.0.0.1", 0)
    with pytest.raises(RuntimeError, match="already served"):
        telemetry.serve("127.0.0.1", 0)

    telemetry.stop()
    telemetry.stop()

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url + "/healthz", timeout=2)


def test_telemetry_is_what_the_reconcile_loop_reports_to(clock: FakeClock) -> None:
    port: TelemetryPort = Telemetry(clock=clock)  # checked by mypy: the signatures match the port

    port.set_drift(count=1)
    port.set_rollout("chat", "v2", "progressing", 25.0)

    assert isinstance(port, Telemetry)
    assert value(port.exposition(), "genaiops_canary_weight_percent", endpoint="chat", deployment="v2") == 25

"""Persistence: separate emulator instances (separate CLI invocations) on one state file see one cloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.api_core.future.polling import DEFAULT_POLLING
from google.cloud import aiplatform_v1 as v1

from controller.emulator.server import Emulator, running
from controller.emulator.vertex.store import StateFileError
from tests.emulator.conftest import MACHINE, Vertex

FAST = DEFAULT_POLLING.with_delay(initial=0.02, maximum=0.05, multiplier=1.5)


def clients(emu: Emulator) -> Vertex:
    return Vertex(emu, emu.endpoint_client(), emu.model_client(), emu.prediction_client())


def test_a_second_emulator_on_the_same_file_sees_the_first_ones_cloud(tmp_path: Path) -> None:
    state = tmp_path / "cloud.json"
    with running(state_path=state, rest_port=None, storage_port=None) as first:
        vx = clients(first)
        endpoint, (deployed,) = vx.endpoint_with_models(count=1)
        vx.upload("m0", parent_model=f"{vx.parent}/models/m0", aliases=("canary",))
    assert json.loads(state.read_text())["endpoints"]
    assert [p.name for p in tmp_path.iterdir()] == ["cloud.json"]  # atomic rename leaves no temp files
    with running(state_path=state, rest_port=None, storage_port=None, seed=1) as second:
        vx = clients(second)
        got = vx.endpoints.get_endpoint(name=endpoint.name)
        assert (dict(got.traffic_split), got.etag) == ({deployed: 100}, endpoint.etag)
        assert got.deployed_models[0].dedicated_resources.machine_spec.machine_type == "n1-standard-4"
        assert vx.models.get_model(name=f"{vx.parent}/models/m0@canary").version_id == "2"
        assert vx.prediction.predict(endpoint=endpoint.name, instances=[1]).deployed_model_id == deployed
        vx.upload("m0", parent_model=f"{vx.parent}/models/m0")
        assert vx.models.get_model(name=f"{vx.parent}/models/m0@3").version_id == "3"


def test_two_running_emulators_on_one_file_see_each_others_changes(tmp_path: Path) -> None:
    state = tmp_path / "cloud.json"
    with (
        running(state_path=state, rest_port=None, storage_port=None) as one,
        running(state_path=state, rest_port=None, storage_port=None, seed=5) as two,
    ):
        clients(one).create_endpoint("from-one")
        names = [e.name.rsplit("/", 1)[1] for e in clients(two).endpoints.list_endpoints(parent=two.parent)]
        assert names == ["from-one"]


def test_a_pending_operation_survives_a_restart_and_completes_when_polled(tmp_path: Path) -> None:
    state = tmp_path / "cloud.json"
    with running(state_path=state, rest_port=None, storage_port=None, lro_delay_s={"DeployModel": 0.6}) as first:
        vx = clients(first)
        endpoint = vx.create_endpoint("chat")
        deployed = v1.DeployedModel(model=vx.upload("llm").model, dedicated_resources=MACHINE)
        op_name = vx.endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed).operation.name
    with running(state_path=state, rest_port=None, storage_port=None) as second:
        vx = clients(second)
        operations = vx.endpoints.transport.operations_client
        op = operations.get_operation(op_name)
        assert not op.done
        deadline = time.monotonic() + 5
        while not op.done and time.monotonic() < deadline:
            time.sleep(0.02)
            op = operations.get_operation(op_name)
        assert op.done and not op.HasField("error")
        assert len(vx.endpoints.get_endpoint(name=endpoint.name).deployed_models) == 1


def test_the_cli_serves_until_interrupted_and_prints_what_clients_must_set(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "controller",
        "emulator",
        "start",
        "--port",
        "0",
        "--state",
        str(tmp_path / "s.json"),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(8)]
        target = next(line.split()[1] for line in lines if line.strip().startswith("gRPC"))
        assert any("STORAGE_EMULATOR_HOST=http://127.0.0.1:" in line for line in lines)
        assert any('api_transport="rest"' in line for line in lines)
        emu = Emulator()
        emu.grpc_port = int(target.rsplit(":", 1)[1])
        client = emu.endpoint_client()
        create = {"parent": emu.parent, "endpoint": {"display_name": "x"}, "endpoint_id": "via-cli"}
        client.create_endpoint(request=create).result(timeout=10, polling=FAST)
        emu.stop()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert "via-cli" in (tmp_path / "s.json").read_text()


def test_a_corrupt_state_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "cloud.json"
    state.write_text('{"version": 99}')
    with pytest.raises(StateFileError, match=r"cloud\.json: state format version 99"):
        Emulator(state_path=state)
    state.write_text("{not json")
    with pytest.raises(StateFileError, match="cannot read the emulator state file"):
        Emulator(state_path=state)


def test_generated_ids_and_etags_never_repeat_after_a_restart_with_the_same_seed(tmp_path: Path) -> None:
    state = tmp_path / "cloud.json"
    seen: list[str] = []
    for _ in range(2):
        with running(state_path=state, rest_port=None, storage_port=None, seed=3) as emu:
            client = emu.endpoint_client()
            created = client.create_endpoint(parent=emu.parent, endpoint={"display_name": "anon"}).result()
            seen += [created.name, created.etag]
    assert len(set(seen)) == 4

"""The emulator driven by gcloud, the CLI most Vertex AI users have (issue 12 item 7).

gcloud talks to the emulator's REST gateway (`api_endpoint_overrides/aiplatform`) with a fake access
token, in a throw-away configuration directory; every request stays on loopback (a proxy that refuses
everything stands in for the rest of the network). `gcloud ai endpoints update --traffic-split` sends
`PATCH ...?updateMask=traffic_split` (a snake_case field mask), which Google accepts and the emulator
now does too. The gcloud tests skip when gcloud is not installed; the wire tests run everywhere.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.emulator.rest_routes import field_mask_json
from controller.emulator.server import Emulator, running
from tests.emulator.conftest import Vertex

GCLOUD = shutil.which("gcloud")
needs_gcloud = pytest.mark.skipif(GCLOUD is None, reason="gcloud is not installed")


@pytest.fixture
def rest_vx() -> Iterator[Vertex]:
    """An emulator with its REST gateway, and real gapic clients (over gRPC) to set up and check it."""
    with running(rest_port=0, storage_port=None) as emu:
        yield Vertex(emu, emu.endpoint_client(), emu.model_client(), emu.prediction_client())


def _two_deployments(vx: Vertex) -> tuple[str, str, str]:
    """Endpoint `chat` serving two versions of model `llm`, 100/0: (endpoint name, first id, second id)."""
    endpoint = vx.create_endpoint("chat")
    first = vx.deploy(endpoint.name, vx.upload("llm").model, {"0": 100})
    second = vx.deploy(endpoint.name, vx.upload("llm", parent_model=f"{vx.parent}/models/llm").model)
    return endpoint.name, first, second


def _patch(emulator: Emulator, name: str, query: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", emulator.rest_port, timeout=10)
    try:
        payload = json.dumps(body)
        connection.request("PATCH", f"/v1/{name}?{query}", payload, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


# -- the wire ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("traffic_split", "trafficSplit"),
        ("trafficSplit", "trafficSplit"),
        ("traffic_split,display_name", "trafficSplit,displayName"),
        ("deployed_model.dedicated_resources.min_replica_count", "deployedModel.dedicatedResources.minReplicaCount"),
        ("labels", "labels"),
    ],
)
def test_a_query_string_field_mask_may_be_snake_case_or_camel_case(query: str, expected: str) -> None:
    assert field_mask_json(query) == expected


@pytest.mark.parametrize("mask", ["traffic_split", "trafficSplit"])
def test_update_endpoint_over_rest_takes_either_spelling_of_the_update_mask(rest_vx: Vertex, mask: str) -> None:
    name, first, second = _two_deployments(rest_vx)
    status, body = _patch(
        rest_vx.emulator, name, f"alt=json&updateMask={mask}", {"trafficSplit": {first: 40, second: 60}}
    )
    assert status == 200, body
    assert body["trafficSplit"] == {first: 40, second: 60}
    assert dict(rest_vx.endpoints.get_endpoint(name=name).traffic_split) == {first: 40, second: 60}


# -- gcloud ------------------------------------------------------------------------------------------
def _gcloud(emulator: Emulator, config: Path, *args: str) -> Any:
    """`gcloud ARGS --format=json` against the emulator; the parsed output."""
    token = config / "token"
    token.write_text("fake-token\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(config),
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": f"{emulator.rest_endpoint}/",
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token),
        "CLOUDSDK_CORE_PROJECT": emulator.project,
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
        "NO_GCE_CHECK": "True",
        # Anything that is not the emulator goes to a proxy port nothing listens on: loopback only.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    assert GCLOUD is not None
    done = subprocess.run(
        [GCLOUD, *args, f"--region={emulator.location}", "--format=json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout or "null")


@needs_gcloud
def test_gcloud_lists_the_models_of_the_emulator(rest_vx: Vertex, tmp_path: Path) -> None:
    rest_vx.upload("llm", display_name="support llm")
    rest_vx.upload("classifier")
    models = _gcloud(rest_vx.emulator, tmp_path, "ai", "models", "list")
    assert sorted((m["name"].rsplit("/", 1)[-1], m["displayName"]) for m in models) == [
        ("classifier", "classifier"),
        ("llm", "support llm"),
    ]


@needs_gcloud
def test_gcloud_changes_a_traffic_split_on_the_emulator(rest_vx: Vertex, tmp_path: Path) -> None:
    name, first, second = _two_deployments(rest_vx)
    updated = _gcloud(
        rest_vx.emulator, tmp_path, "ai", "endpoints", "update", "chat", f"--traffic-split={first}=30,{second}=70"
    )
    assert updated["trafficSplit"] == {first: 30, second: 70}
    assert dict(rest_vx.endpoints.get_endpoint(name=name).traffic_split) == {first: 30, second: 70}
    described = _gcloud(rest_vx.emulator, tmp_path, "ai", "endpoints", "describe", "chat")
    assert sorted(d["id"] for d in described["deployedModels"]) == sorted([first, second])

"""The serving spec's manifest checks (issue 17): what Vertex AI documents it refuses is refused at
`genaiops validate`, with the field path and what to do, before anything reaches the API."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controller.loader import load
from tests.builders import endpoint

KEY = "projects/p/locations/{region}/keyRings/ring/cryptoKeys/key"
NETWORK = "projects/123456/global/networks/vpc"
L4 = {"machineType": "g2-standard-8", "accelerator": {"type": "NVIDIA_L4"}}


def deployment(**fields: Any) -> list[dict[str, Any]]:
    return [{"name": "primary", "model": "llm", **fields}]


REFUSED = [
    pytest.param(
        {"deployments": deployment(autoscaling={"acceleratorDutyCycle": 70})},
        "acceleratorDutyCycle needs an accelerator",
        id="duty-cycle-without-accelerator",
    ),
    pytest.param(
        {"deployments": deployment(spot=True, reservation={"type": "any"})},
        "spot: true cannot consume a reservation (reservation type 'any')",
        id="spot-with-any-reservation",
    ),
    pytest.param(
        {
            "deployments": deployment(
                spot=True,
                reservation={"type": "specific", "key": "compute.googleapis.com/reservation-name", "values": ["r"]},
            )
        },
        "Spot VMs never use reserved capacity",
        id="spot-with-specific-reservation",
    ),
    pytest.param(
        {"dedicated": True, "network": NETWORK},
        "'dedicated' (a dedicated public endpoint) and 'network' (a private endpoint over VPC peering)",
        id="dedicated-on-a-vpc-network",
    ),
    pytest.param(
        {"encryption": {"kmsKeyName": KEY.format(region="europe-west4")}},
        "a key in 'europe-west4', the endpoint is in 'us-central1'",
        id="cmek-key-in-another-region",
    ),
    pytest.param(
        {
            "network": NETWORK,
            "deployments": [{"name": "a", "model": "llm"}, {"name": "b", "model": "llm"}],
            "traffic": {"a": 100},
        },
        "serves one model and splits no traffic",
        id="two-deployments-on-a-vpc-network",
    ),
    pytest.param(
        {"network": NETWORK, "rollout": {"strategy": "canary", "stepWeight": 10}},
        "rollout strategy 'direct'",
        id="canary-on-a-vpc-network",
    ),
]


@pytest.mark.parametrize(("spec", "message"), REFUSED)
def test_what_vertex_refuses_is_refused_in_the_manifest(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        endpoint(**spec)
    assert message in str(caught.value)


ACCEPTED = [
    pytest.param({"deployments": deployment(**L4, autoscaling={"acceleratorDutyCycle": 70})}, id="duty-cycle-on-gpu"),
    pytest.param({"deployments": deployment(spot=True, reservation={"type": "none"})}, id="spot-with-no-reservation"),
    pytest.param({"deployments": deployment(reservation={"type": "any"})}, id="reservation-without-spot"),
    pytest.param({"dedicated": True}, id="dedicated"),
    pytest.param({"dedicated": True, "privateServiceConnect": {"projectAllowlist": ["a"]}}, id="dedicated-psc"),
    pytest.param({"network": NETWORK}, id="one-model-on-a-vpc-network"),
    pytest.param({"encryption": {"kmsKeyName": KEY.format(region="us-central1")}}, id="cmek-in-region"),
    pytest.param(
        {"region": "europe-west4", "encryption": {"kmsKeyName": KEY.format(region="europe-west4")}},
        id="cmek-in-another-endpoint-region",
    ),
]


@pytest.mark.parametrize("spec", ACCEPTED)
def test_what_vertex_allows_is_accepted(spec: dict[str, Any]) -> None:
    assert endpoint(**spec).spec is not None


def test_validate_names_the_file_and_the_deployment_of_a_refused_serving_field(tmp_path: Path) -> None:
    (tmp_path / "chat.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: genaiops/v1
            kind: Endpoint
            metadata: {name: chat}
            spec:
              deployments:
                - name: primary
                  model: llm
                  spot: true
                  reservation: {type: any}
              traffic: {primary: 100}
            """
        )
    )
    result = load(tmp_path)
    assert not result.ok
    [problem] = result.diagnostics
    assert problem.path.startswith("spec.deployments") and "cannot consume a reservation" in problem.summary
    assert problem.source.file.endswith("chat.yaml") and problem.source.line > 0

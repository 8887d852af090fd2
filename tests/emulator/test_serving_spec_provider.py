"""The Vertex provider's serving spec against the emulator, through the real gapic clients over loopback
(issue 17): every field genaiops sets is read back as it was set (autoscaling, Spot, reservation and
explanation of a deployed model; request-response logging, dedicated endpoint, network, Private Service
Connect and CMEK of an endpoint), in-place changes land by their update masks, and a manifest asking for
what is live plans no change."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from controller.emulator.server import Emulator
from controller.engine.steps import Context, run_operation
from controller.model.serving import ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION, REQUEST_COUNT
from controller.observed import (
    ContainerSpec,
    DeploymentSpec,
    EndpointSettings,
    ExplanationParameters,
    Observed,
    RequestLogging,
    ReservationAffinity,
)
from controller.plans.plan import Action
from controller.plans.planner import plan
from controller.plans.views_of import wanted_logging
from controller.providers.vertex import VertexProvider
from tests.builders import IMAGE, endpoint, model

R = "us-central1"
TABLE = "bq://acme-prod.serving.chat_logs"
KEY = f"projects/p/locations/{R}/keyRings/ring/cryptoKeys/key"
NETWORK = "projects/123456/global/networks/vpc"
RESERVATION = "projects/p/zones/us-central1-a/reservations/r1"


@pytest.fixture
def provider(emulator: Emulator) -> VertexProvider:
    """The provider on the emulator's channel, with `llm` version 1 uploaded."""
    vertex = VertexProvider(project=emulator.project, region=R, channel=emulator.channel)
    vertex.upload_model(
        model_id="llm",
        parent_exists=False,
        display_name="llm",
        description="",
        labels={"managed-by": "genaiops"},
        artifact_uri="gs://emulator-models/llm/v1",
        container=ContainerSpec(image_uri=IMAGE),
        aliases=(),
    )
    return vertex


def spec(**fields: object) -> DeploymentSpec:
    base = DeploymentSpec("primary", "llm", "1", "g2-standard-8", 1, 3, "NVIDIA_L4", 1)
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


SETTINGS = [
    pytest.param(EndpointSettings(logging=RequestLogging(True, 0.25, TABLE)), id="logging"),
    pytest.param(EndpointSettings(logging=RequestLogging(True, 1.0, "")), id="logging-without-table"),
    pytest.param(EndpointSettings(dedicated=True), id="dedicated"),
    pytest.param(EndpointSettings(network=NETWORK), id="network"),
    pytest.param(EndpointSettings(private_service_connect=True, psc_project_allowlist=("a-proj", "b-proj")), id="psc"),
    pytest.param(EndpointSettings(kms_key_name=KEY), id="cmek"),
    pytest.param(
        EndpointSettings(logging=RequestLogging(True, 0.5, TABLE), dedicated=True, kms_key_name=KEY), id="together"
    ),
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_the_settings_an_endpoint_is_created_with_are_read_back(
    provider: VertexProvider, settings: EndpointSettings
) -> None:
    created = provider.create_endpoint(
        endpoint_id="chat", display_name="chat", description="", labels={"managed-by": "genaiops"}, settings=settings
    )
    for live in (created, provider.get_endpoint("chat"), *provider.list_endpoints()):
        assert live is not None
        assert live.settings.create_only() == settings.create_only()
        assert live.settings.logging == settings.logging
    listed = provider.list_endpoints()[0].settings
    assert bool(listed.dedicated_dns) == settings.dedicated  # output only: derived by the service


DEPLOYMENTS = [
    pytest.param({"autoscaling": ((ACCELERATOR_DUTY_CYCLE, 70), (CPU_UTILIZATION, 80))}, id="autoscaling"),
    pytest.param({"autoscaling": ((REQUEST_COUNT, 250),)}, id="requests-per-replica"),
    pytest.param({"spot": True}, id="spot"),
    pytest.param({"reservation": ReservationAffinity("any")}, id="any-reservation"),
    pytest.param({"reservation": ReservationAffinity("none")}, id="no-reservation"),
    pytest.param(
        {"reservation": ReservationAffinity("specific", "compute.googleapis.com/reservation-name", (RESERVATION,))},
        id="specific-reservation",
    ),
    pytest.param({"explanation": ExplanationParameters("sampled-shapley", path_count=10, top_k=3)}, id="shapley"),
    pytest.param({"explanation": ExplanationParameters("integrated-gradients", step_count=50)}, id="gradients"),
    pytest.param({"explanation": ExplanationParameters("xrai", step_count=20, top_k=1)}, id="xrai"),
    pytest.param({"disable_container_logging": True, "service_account": "sa@p.iam.gserviceaccount.com"}, id="rest"),
]


@pytest.mark.parametrize("fields", DEPLOYMENTS)
def test_a_deployed_model_reads_back_exactly_as_it_was_deployed(
    provider: VertexProvider, fields: dict[str, object]
) -> None:
    provider.create_endpoint(endpoint_id="chat", display_name="chat", description="", labels={})
    wanted = spec(**fields)
    deployed_id = provider.deploy_model(endpoint_id="chat", spec=wanted)
    live = provider.get_endpoint("chat")
    assert live is not None
    found = live.deployed(deployed_id)
    assert found is not None and found.spec == wanted


def test_autoscaling_and_container_logging_change_in_place_by_their_masks(provider: VertexProvider) -> None:
    provider.create_endpoint(endpoint_id="chat", display_name="chat", description="", labels={})
    first = spec(autoscaling=((ACCELERATOR_DUTY_CYCLE, 70), (CPU_UTILIZATION, 80)), spot=True)
    deployed_id = provider.deploy_model(endpoint_id="chat", spec=first)

    def live_spec() -> DeploymentSpec:
        live = provider.get_endpoint("chat")
        assert live is not None and [d.id for d in live.deployed_models] == [deployed_id]
        return live.deployed_models[0].spec

    mutate = {"endpoint_id": "chat", "deployed_model_id": deployed_id, "min_replicas": 2, "max_replicas": 4}
    provider.mutate_deployed_model(**mutate, autoscaling=((REQUEST_COUNT, 30),))  # type: ignore[arg-type]
    assert live_spec() == dataclasses.replace(first, min_replicas=2, max_replicas=4, autoscaling=((REQUEST_COUNT, 30),))
    provider.mutate_deployed_model(**mutate, autoscaling=(), disable_container_logging=True)  # type: ignore[arg-type]
    assert live_spec() == dataclasses.replace(
        first, min_replicas=2, max_replicas=4, autoscaling=(), disable_container_logging=True
    )
    provider.mutate_deployed_model(**mutate)  # type: ignore[arg-type]  # replicas alone leave the rest
    assert live_spec().disable_container_logging and live_spec().spot


def test_request_logging_is_updated_alone_and_turned_off(provider: VertexProvider) -> None:
    created = provider.create_endpoint(endpoint_id="chat", display_name="chat", description="", labels={"a": "b"})
    on = provider.update_request_logging("chat", RequestLogging(True, 0.1, TABLE))
    assert on.settings.logging == RequestLogging(True, 0.1, TABLE)
    assert (on.labels, on.display_name) == (created.labels, created.display_name)
    changed = provider.update_request_logging("chat", RequestLogging(True, 0.5, ""))
    assert changed.settings.logging == RequestLogging(True, 0.5, "")
    off = provider.update_request_logging("chat", None)
    assert wanted_logging(off.settings) is None
    live = provider.get_endpoint("chat")
    assert live is not None and wanted_logging(live.settings) is None


def test_a_manifest_with_every_serving_field_plans_no_change_against_what_it_created(
    provider: VertexProvider,
) -> None:
    manifest = endpoint(
        deployments=[
            {
                "name": "primary",
                "model": "llm",
                "machineType": "g2-standard-8",
                "accelerator": {"type": "NVIDIA_L4"},
                "maxReplicas": 3,
                "autoscaling": {"cpuUtilization": 80, "acceleratorDutyCycle": 70, "requestsPerReplica": 25},
                "spot": True,
                "reservation": {"type": "none"},
                "explanation": {"method": "sampled-shapley", "pathCount": 10},
            }
        ],
        requestResponseLogging={"samplingRate": 0.25, "bigqueryTable": TABLE},
        dedicated=True,
        privateServiceConnect={"projectAllowlist": ["a-proj"]},
        encryption={"kmsKeyName": KEY},
    )
    the_model = model(artifact="gs://emulator-models/llm/v1")
    first = plan([the_model, manifest], Observed(models={(R, "llm"): provider.list_models()[0]}))
    change = next(c for c in first.changes if c.kind == "Endpoint")

    ctx = Context(region=R, ports={R: provider}, new_versions={}, lock=threading.Lock())
    for op in change.operations:  # the executor's own steps, in order
        run_operation(op, ctx)
    observed = Observed(
        endpoints={(R, e.endpoint_id): e for e in provider.list_endpoints()},
        models={(R, m.model_id): m for m in provider.list_models()},
    )
    again = next(c for c in plan([the_model, manifest], observed).changes if c.kind == "Endpoint")
    assert again.action is Action.NOOP, (again.changes, again.operations)
    assert again.before == again.after

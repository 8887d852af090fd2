"""The rest of the Vertex serving spec end to end (issue 17): `genaiops apply --auto-approve` of an Endpoint
with every serving field against the emulator, read back through the real gapic client, then `plan` says
no changes; an autoscaling change is made in place on the same deployed model; a Spot change is a new
revision rolled out through the canary; a create-only change is refused with a diagnostic while the rest
of the change is still planned."""

from __future__ import annotations

from collections.abc import Callable

from google.cloud import aiplatform_v1 as v1

from tests.e2e.canary_helpers import TRAFFIC, SplitWatcher, rollout_events, served
from tests.e2e.conftest import Workspace, model_yaml

TABLE = "bq://acme-prod.serving.chat_logs"
KEY = "projects/acme/locations/us-central1/keyRings/ring/cryptoKeys/{key}"
CANARY = """\
  rollout:
    strategy: canary
    steps: [{weight: 20, pause: 2s}, {weight: 50, pause: 2s}]
    analysis:
      interval: 1s
      initialDelay: 1s
      minRequests: 5
      metrics: [{name: error-rate, max: 0.05}, {name: latency-p99, maxMs: 300}]
"""


def serving_yaml(
    *,
    spot: bool = False,
    cpu: int = 70,
    rate: float = 0.25,
    key: str = "key",
    rollout: str = "",
) -> str:
    """The `chat` Endpoint with every serving field of issue 17."""
    return (
        f"""\
apiVersion: genaiops/v1
kind: Endpoint
metadata: {{name: chat}}
spec:
  deployments:
    - name: primary
      model: llm
      machineType: g2-standard-8
      accelerator: {{type: NVIDIA_L4}}
      maxReplicas: 3
      autoscaling: {{cpuUtilization: {cpu}, acceleratorDutyCycle: 80, requestsPerReplica: 25}}
      spot: {str(spot).lower()}
      reservation: {{type: none}}
      explanation: {{method: sampled-shapley, pathCount: 10, topK: 2}}
      disableContainerLogging: true
      serviceAccount: serving@acme.iam.gserviceaccount.com
  traffic: {{primary: 100}}
  requestResponseLogging: {{samplingRate: {rate}, bigqueryTable: {TABLE}}}
  dedicated: true
  privateServiceConnect: {{projectAllowlist: [acme-prod]}}
  encryption: {{kmsKeyName: {KEY.format(key=key)}}}
"""
        + rollout
    )


def _no_changes(workspace: Workspace) -> None:
    again = workspace.plan("--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output


def _autoscaling(deployed: v1.DeployedModel) -> dict[str, int]:
    return {
        s.metric_name.rsplit("online/", 1)[1]: s.target for s in deployed.dedicated_resources.autoscaling_metric_specs
    }


def test_every_serving_field_is_applied_read_back_and_then_plans_no_change(workspace: Workspace) -> None:
    workspace.write(models=model_yaml(), endpoints=serving_yaml())
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    live = workspace.endpoint()
    assert live.dedicated_endpoint_enabled and live.dedicated_endpoint_dns
    assert live.private_service_connect_config.enable_private_service_connect
    assert list(live.private_service_connect_config.project_allowlist) == ["acme-prod"]
    assert live.encryption_spec.kms_key_name == KEY.format(key="key")
    logging = live.predict_request_response_logging_config
    assert (logging.enabled, logging.sampling_rate, logging.bigquery_destination.output_uri) == (True, 0.25, TABLE)
    [deployed] = live.deployed_models
    resources = deployed.dedicated_resources
    assert _autoscaling(deployed) == {"accelerator/duty_cycle": 80, "cpu/utilization": 70, "request_count": 25}
    assert resources.spot is False and deployed.disable_container_logging
    affinity = resources.machine_spec.reservation_affinity
    assert affinity.reservation_affinity_type == v1.ReservationAffinity.Type.NO_RESERVATION
    parameters = deployed.explanation_spec.parameters
    assert (parameters.sampled_shapley_attribution.path_count, parameters.top_k) == (10, 2)
    _no_changes(workspace)


def test_an_autoscaling_or_logging_change_is_made_in_place_on_the_same_deployed_model(workspace: Workspace) -> None:
    workspace.write(models=model_yaml(), endpoints=serving_yaml())
    assert workspace.apply().exit_code == 0
    [before] = workspace.endpoint().deployed_models
    workspace.write(models=model_yaml(), endpoints=serving_yaml(cpu=55, rate=0.5))
    planned = workspace.plan()
    assert "autoscaling targets accelerator/duty_cycle=80, cpu/utilization=55" in planned.output, planned.output
    assert f"log 0.5 of the requests of chat to {TABLE}" in planned.output
    assert "deploy llm" not in planned.output
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    live = workspace.endpoint()
    [after] = live.deployed_models
    assert after.id == before.id and dict(live.traffic_split) == {before.id: 100}
    assert _autoscaling(after)["cpu/utilization"] == 55
    assert live.predict_request_response_logging_config.sampling_rate == 0.5
    _no_changes(workspace)


def test_a_spot_change_is_a_new_revision_promoted_through_the_canary(make_workspace: Callable[..., Workspace]) -> None:
    workspace = make_workspace(**TRAFFIC)
    workspace.write(models=model_yaml(), endpoints=serving_yaml(rollout=CANARY))
    assert workspace.apply().exit_code == 0
    [stable] = workspace.endpoint().deployed_models
    workspace.write(models=model_yaml(), endpoints=serving_yaml(spot=True, rollout=CANARY))
    planned = workspace.plan()
    assert "start canary of primary on chat: 20% of its 100% share" in planned.output, planned.output
    with SplitWatcher(workspace) as watcher:
        result = workspace.apply("--wait")
    assert result.exit_code == 0, result.output
    watcher.assert_every_split_safe(at_least=5)
    audit = workspace.root / "audit.log"
    moves = [(e["event"], e["weight"]) for e in rollout_events(audit, "started", "step", "promoted", "aborted")]
    assert moves == [("rollout-started", 20), ("rollout-step", 50), ("rollout-promoted", 100)]
    live = workspace.endpoint()
    [canary] = live.deployed_models
    assert canary.id != stable.id and canary.dedicated_resources.spot and served(live) == {"1": 100}
    _no_changes(workspace)


def test_a_create_only_change_is_refused_with_a_diagnostic_and_the_rest_is_still_planned(
    workspace: Workspace,
) -> None:
    workspace.write(models=model_yaml(), endpoints=serving_yaml())
    assert workspace.apply().exit_code == 0
    workspace.write(models=model_yaml(), endpoints=serving_yaml(key="other-key", cpu=65))
    planned = workspace.plan()
    assert planned.exit_code == 1, planned.output
    assert "spec.encryption.kmsKeyName" in planned.output
    assert "Vertex AI sets it only when an endpoint is created (CreateEndpoint)" in planned.output
    assert "cpu/utilization=65" in planned.output  # the in-place change is still planned and shown
    refused = workspace.apply()
    assert refused.exit_code == 1 and "nothing was applied" in refused.output
    assert workspace.endpoint().encryption_spec.kms_key_name == KEY.format(key="key")

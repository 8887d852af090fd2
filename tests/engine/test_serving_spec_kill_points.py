"""Kill points of the serving spec's state changes (issue 17), against the in-process emulator: an apply is
stopped right after one call landed (as a kill between two calls leaves it: the call done, the next not
sent), and a fresh apply must converge to exactly what the manifests ask, with nothing deployed twice.

- CreateEndpoint with its settings: killed before the deploy. The rerun finds the endpoint with the
  settings it was created with: no create-only diagnostic, the deployment is made.
- SetTraffic (labels with the new spec hash) before SetRequestLogging: the rerun sees live logging differ
  under the recorded spec hash (drift, which apply corrects) and sets it.
- SetRequestLogging before the MutateDeployedModel of the autoscaling targets: the rerun only mutates.
- MutateDeployedModel (autoscaling) itself: landed, the rerun has nothing to do.
- DeployModel of a new Spot revision before SetTraffic: the rerun adopts the Spot model deployed at 0%
  (same revision) instead of deploying another, moves the traffic and undeploys the old one.
"""

from __future__ import annotations

import textwrap

import pytest

from controller.engine.apply import ApplyOptions, apply_changes
from controller.engine.planning import plan_load
from controller.plans.views_of import wanted_logging
from tests.engine.conftest import Cloud, model_yaml

TABLE = "bq://acme-prod.serving.chat_logs"


def serving_yaml(*, spot: bool = False, cpu: int = 70, rate: float | None = None) -> str:
    """The `chat` endpoint with autoscaling targets, Spot, a dedicated endpoint and, with `rate`, logging."""
    logging = f"  requestResponseLogging: {{samplingRate: {rate}, bigqueryTable: {TABLE}}}\n" if rate else ""
    return (
        textwrap.dedent(
            f"""\
            apiVersion: genaiops/v1
            kind: Endpoint
            metadata: {{name: chat}}
            spec:
              deployments:
                - name: primary
                  model: llm
                  maxReplicas: 2
                  autoscaling: {{cpuUtilization: {cpu}}}
                  spot: {str(spot).lower()}
              traffic: {{primary: 100}}
              dedicated: true
            """
        )
        + logging
    )


def apply_until(cloud: Cloud, yaml: str, *, killed_after: str | None) -> None:
    """Apply `yaml`, stopping right after the first `killed_after` operation landed (None: to the end)."""
    landed = len(cloud.operations())

    def killed() -> str | None:
        done = cloud.operations()[landed:]
        return "killed" if killed_after is not None and killed_after in done else None

    load = cloud.write(models=model_yaml(), endpoints=yaml)
    outcome = apply_changes(cloud.session, load, options=ApplyOptions(), audit=cloud.audit, interrupted=killed)
    if killed_after is None:
        assert outcome.ok, outcome.result.failed
    else:  # stopped before the next operation (the last one landing leaves nothing to stop)
        assert cloud.operations()[-1] == killed_after, cloud.operations()[landed:]


def assert_converged(cloud: Cloud, yaml: str) -> None:
    """A fresh apply of `yaml` succeeds and then nothing is left to plan."""
    apply_until(cloud, yaml, killed_after=None)
    the_plan = plan_load(cloud.session, cloud.write(models=model_yaml(), endpoints=yaml), prune=False)
    assert not the_plan.actionable and not the_plan.diagnostics, (the_plan.actionable, the_plan.diagnostics)


def test_a_create_killed_before_the_deploy_converges_with_the_settings_it_was_created_with(cloud: Cloud) -> None:
    yaml = serving_yaml(rate=0.5)
    apply_until(cloud, yaml, killed_after="CreateEndpoint")
    created = cloud.endpoint()
    assert created.settings.dedicated and not created.deployed_models
    assert_converged(cloud, yaml)
    live = cloud.endpoint()
    assert live.settings.dedicated and wanted_logging(live.settings) is not None
    assert [d.spec.autoscaling for d in live.deployed_models] == [
        (("aiplatform.googleapis.com/prediction/online/cpu/utilization", 70),)
    ]


@pytest.mark.parametrize("killed_after", ["SetTraffic", "SetRequestLogging", "MutateDeployedModel"])
def test_a_logging_and_autoscaling_change_killed_at_each_step_converges_in_place(
    cloud: Cloud, killed_after: str
) -> None:
    apply_until(cloud, serving_yaml(), killed_after=None)
    [before] = cloud.endpoint().deployed_models
    changed = serving_yaml(cpu=55, rate=0.25)
    apply_until(cloud, changed, killed_after=killed_after)
    assert_converged(cloud, changed)
    live = cloud.endpoint()
    [after] = live.deployed_models
    assert after.id == before.id and dict(live.traffic_split) == {before.id: 100}
    assert after.spec.autoscaling == (("aiplatform.googleapis.com/prediction/online/cpu/utilization", 55),)
    logging = wanted_logging(live.settings)
    assert logging is not None and (logging.sampling_rate, logging.bigquery_table) == (0.25, TABLE)


def test_a_spot_revision_killed_after_its_deploy_is_adopted_not_deployed_twice(cloud: Cloud) -> None:
    apply_until(cloud, serving_yaml(), killed_after=None)
    [old] = cloud.endpoint().deployed_models
    apply_until(cloud, serving_yaml(spot=True), killed_after="DeployModel")
    at_kill = cloud.endpoint()
    [spot] = [d for d in at_kill.deployed_models if d.id != old.id]
    assert spot.spec.spot and at_kill.traffic_split.get(spot.id, 0) == 0
    assert_converged(cloud, serving_yaml(spot=True))
    live = cloud.endpoint()
    assert [d.id for d in live.deployed_models] == [spot.id] and dict(live.traffic_split) == {spot.id: 100}
    assert cloud.operations().count("DeployModel") == 2  # the first apply's and the Spot revision's, once

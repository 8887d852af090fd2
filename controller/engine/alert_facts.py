"""Observing Cloud Monitoring for the `Alert` and `NotificationChannel` kinds and planning them
(`plans/alert_plan.py`); `planning.plan_load` merges the changes into the plan.

The managed policies and channels are read (one filtered, paginated list each) only when the manifests
declare an Alert or a NotificationChannel, or `--prune` may delete ones that left the manifests: a user
without alerts pays no API call for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controller.diagnostics import Diagnostic, Source
from controller.engine.retry import DEFAULT_RETRY, RetryPolicy
from controller.model import Manifest
from controller.observed import Observed
from controller.plans.alert_plan import KINDS, AlertPlan, fingerprints, plan_alerts
from controller.ports import AlertsPort


def declares_alerts(manifests: Sequence[Manifest]) -> bool:
    """True when some manifest is an Alert or a NotificationChannel."""
    return any(m.kind in KINDS for m in manifests)


def plan_alert_part(
    port: AlertsPort | None,
    manifests: Sequence[Manifest],
    *,
    project: str,
    prune: bool,
    sources: Mapping[str, Source] | None = None,
    observed: Observed | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> AlertPlan:
    """The alert part of the plan for `manifests` (nothing, and no API call, when there is nothing to do)."""
    declared = declares_alerts(manifests)
    if not declared and not prune:
        return AlertPlan()
    if port is None:
        if not declared:
            return AlertPlan()
        problem = Diagnostic(
            "this target has no Cloud Monitoring alerts: the Alert and NotificationChannel manifests are not planned",
            Source("<target>"),
            "",
        )
        return AlertPlan(diagnostics=(problem,))
    policies = retry.call(port.list_alert_policies)
    channels = retry.call(port.list_notification_channels)
    return plan_alerts(
        manifests,
        policies=policies,
        channels=channels,
        project=project,
        prune=prune,
        sources=sources,
        deployed=deployed_ids(observed),
    )


def deployed_ids(observed: Observed | None) -> dict[tuple[str, str], dict[str, str]]:
    """(region, endpoint) -> deployment name -> the id of its deployed model; during a canary, of the one
    with the larger share of the traffic (the stable one until the canary is promoted)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for key, endpoint in (observed.endpoints if observed is not None else {}).items():
        share = endpoint.traffic_split
        ranked = sorted(endpoint.deployed_models, key=lambda d: (share.get(d.id, 0), d.id))
        out[key] = {d.spec.name: d.id for d in ranked}  # the last, largest share wins
    return out


def live_fingerprints(port: AlertsPort | None, retry: RetryPolicy = DEFAULT_RETRY) -> dict[str, str]:
    """Address -> hash of each managed policy's and channel's live body (nothing without a port)."""
    if port is None:
        return {}
    return fingerprints(retry.call(port.list_alert_policies), retry.call(port.list_notification_channels))


__all__ = ["declares_alerts", "deployed_ids", "live_fingerprints", "plan_alert_part"]

"""Planning the `Alert` and `NotificationChannel` kinds, purely: the manifests compiled to Cloud Monitoring
REST bodies (`plans/alert_compile.py`) against the policies and channels genaiops manages (found by their
user labels `managed-by: genaiops` and `genaiops-alert: <manifest>`, read by `engine/alert_facts.py`).

- Desired bodies carry the user labels genaiops writes: ownership, the manifest's name, and the spec hash
  (`genaiops-spec`) of what the manifest compiles to (channels by manifest name, so a channel created again
  does not change it). A Slack channel records the hash of its token's secret VERSION NAME
  (`genaiops-secret`): the token is never in a plan; the executor reads it at apply.
- One ResourceChange per manifest, kind `Alert` or `NotificationChannel`, region `global`, with the field
  diff of the bodies: create when nothing carries its label, update when the bodies differ, no-op otherwise.
  An update is drift when the live spec hash is the desired one: the manifest did not change since genaiops
  applied it, so someone edited the resource outside (the console); `reconcile --self-heal` restores it.
- Channels come before policies. A policy that notifies a channel this plan creates names it by the
  placeholder `new-channel:<manifest>`, which the executor resolves once the channel exists.
- Managed policies and channels in no manifest are deleted with `--prune` only (policies before channels);
  a second resource carrying the same manifest label (a create whose reply was lost, raced) is deleted with
  that manifest's change. Anything without the labels is never read, so never touched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.diagnostics import Diagnostic, Source
from controller.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE, RESERVED_LABEL_PREFIX, Endpoint, Manifest
from controller.model.alert import Alert, NotificationChannel
from controller.observed import ALERT_LABEL, SPEC_LABEL, ObservedAlertPolicy, ObservedNotificationChannel
from controller.plans.alert_compile import (
    AlertCompileError,
    UnresolvedDeploymentError,
    compile_channel,
    compile_policy,
)
from controller.plans.alert_operations import (
    NEW_CHANNEL_PREFIX,
    TOKEN_LABEL,
    CreateAlertPolicy,
    CreateNotificationChannel,
    DeleteAlertPolicy,
    DeleteNotificationChannel,
    UpdateAlertPolicy,
    UpdateNotificationChannel,
    new_channel,
)
from controller.plans.diff import field_changes
from controller.plans.operations import Operation
from controller.plans.plan import Action, ResourceChange

GLOBAL = "global"
ALERT_KIND = "Alert"
CHANNEL_KIND = "NotificationChannel"
KINDS = (ALERT_KIND, CHANNEL_KIND)
SECRET_LABEL = "genaiops-secret"  # on a Slack channel: the hash of the secret version its token came from
_KEPT = (MANAGED_BY_LABEL, ALERT_LABEL, SPEC_LABEL, SECRET_LABEL)  # genaiops labels that are compared
PRUNE_REASON = "not in the manifests; --prune"

Live = ObservedAlertPolicy | ObservedNotificationChannel


@dataclass(frozen=True)
class AlertPlan:
    """The alert part of a plan: changes (channels, policies, then deletions), notes, problems, and the
    fingerprint (address -> body hash) a saved plan is checked against."""

    changes: tuple[ResourceChange, ...] = ()
    notes: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    fingerprint: Mapping[str, str] = field(default_factory=dict)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def canonical(value: Any) -> Any:
    """A body as JSON reads it back: no null, empty string, list or object anywhere, and whole floats as
    ints (5.0 -> 5), so a body compiled here and one read back from the API compare equal."""
    if isinstance(value, Mapping):
        out = {str(k): canonical(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value if v is not None]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def compared(body: Mapping[str, Any]) -> dict[str, Any]:
    """A live body as it is compared: canonical, without the genaiops labels that are not compared (the
    commit an apply stamps)."""
    out: dict[str, Any] = canonical(body)
    labels = out.get("userLabels", {})
    kept = {k: v for k, v in labels.items() if not k.startswith(RESERVED_LABEL_PREFIX) or k in _KEPT}
    if kept:
        out["userLabels"] = kept
    return out


def secret_hash(version: str) -> str:
    """The value of the `genaiops-secret` label for a secret version name (never the secret)."""
    return hashlib.sha256(version.encode()).hexdigest()[:16]


def _owned(body: Mapping[str, Any], manifest: Alert | NotificationChannel, spec: str) -> dict[str, Any]:
    labels = {
        **manifest.metadata.labels,
        **dict(body.get("userLabels", {})),
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        ALERT_LABEL: manifest.metadata.name,
        SPEC_LABEL: spec,
    }
    return {**body, "userLabels": dict(sorted(labels.items()))}


def desired_channel(channel: NotificationChannel) -> tuple[dict[str, Any], str]:
    """(body, spec hash) of a channel: compiled without any token, the secret version's hash recorded."""
    body = dict(canonical(compile_channel(channel, token=None)))
    labels = {k: v for k, v in dict(body.get("labels", {})).items() if k != TOKEN_LABEL}
    body = {**body, "labels": labels} if labels else {k: v for k, v in body.items() if k != "labels"}
    secret = channel.spec.token_secret
    if secret:
        body["userLabels"] = {**dict(body.get("userLabels", {})), SECRET_LABEL: secret_hash(secret)}
    spec = _digest({"labels": channel.metadata.labels, "body": body, "secret": secret or ""})
    return canonical(_owned(body, channel, spec)), spec


def desired_policy(
    alert: Alert,
    *,
    project: str,
    endpoint: Endpoint | None,
    channels: Mapping[str, str],
    deployed_model_ids: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], str]:
    """(body, spec hash) of a policy. The hash is of the body with every channel named by its manifest
    (placeholders), then `channels` (manifest -> resource name, or a placeholder) names them for real, sorted
    as the executor sends them. Raises AlertCompileError (UnresolvedDeploymentError) like `compile_policy`."""
    named = {n: new_channel(n) for n in alert.spec.notify}
    compiled = compile_policy(
        alert, project=project, endpoint=endpoint, channels=named, deployed_model_ids=deployed_model_ids
    )
    body = dict(canonical(compiled))
    spec = _digest({"labels": alert.metadata.labels, "body": body})
    placeholders = body.get("notificationChannels", ())
    resolved = [channels.get(str(n).removeprefix(NEW_CHANNEL_PREFIX), str(n)) for n in placeholders]
    if resolved:
        body["notificationChannels"] = sorted(resolved)
    return canonical(_owned(body, alert, spec)), spec


def _by_manifest(live: Iterable[Live]) -> tuple[dict[str, Live], list[Live]]:
    """The first resource (by name) of each manifest label, and the duplicates."""
    first: dict[str, Live] = {}
    extra: list[Live] = []
    for item in sorted(live, key=lambda x: x.name):
        if item.manifest in first:
            extra.append(item)
        else:
            first[item.manifest] = item
    return first, extra


def _delete(kind: str, item: Live) -> Operation:
    if kind == ALERT_KIND:
        return DeleteAlertPolicy(item.manifest, item.name)
    return DeleteNotificationChannel(item.manifest, item.name)


def _change(
    kind: str, name: str, after: dict[str, Any], live: Live | None, create: Operation, update: Operation
) -> ResourceChange:
    if live is None:
        return ResourceChange(kind, name, GLOBAL, Action.CREATE, None, after, (), (create,), ("not found",))
    before = compared(live.body)
    changes = field_changes(before, after)
    if not changes:
        return ResourceChange(kind, name, GLOBAL, Action.NOOP, before, after)
    drift = before.get("userLabels", {}).get(SPEC_LABEL) == after["userLabels"][SPEC_LABEL]
    reason = "changed outside genaiops since it was applied" if drift else "the manifest changed"
    return ResourceChange(kind, name, GLOBAL, Action.UPDATE, before, after, changes, (update,), (reason,), drift=drift)


def _with_duplicates(change: ResourceChange, kind: str, duplicates: Sequence[Live]) -> ResourceChange:
    if not duplicates:
        return change
    ops = tuple(_delete(kind, d) for d in duplicates)
    why = tuple(
        f"{d.name} also carries this manifest's label (a create whose reply was lost): deleted" for d in duplicates
    )
    action = Action.UPDATE if change.action is Action.NOOP else change.action
    return ResourceChange(
        change.kind,
        change.name,
        GLOBAL,
        action,
        change.before,
        change.after,
        change.changes,
        (*change.operations, *ops),
        (*change.reasons, *why),
        drift=change.drift,
    )


def _undeclared(alert: Alert, declared: set[str], where: Source) -> list[Diagnostic]:
    return [
        Diagnostic(
            f"Alert {alert.metadata.name} notifies NotificationChannel {name}, which no manifest declares",
            where,
            "spec.notify",
            detail="add a NotificationChannel manifest of that name, or remove it from 'notify'",
        )
        for name in alert.spec.notify
        if name not in declared
    ]


def _channel_changes(
    channels: Sequence[NotificationChannel], live: Mapping[str, Live], duplicates: Mapping[str, list[Live]]
) -> tuple[list[ResourceChange], dict[str, str]]:
    """The channels' changes, and the name each declared channel goes by for the policies."""
    changes: list[ResourceChange] = []
    names: dict[str, str] = {}
    for channel in sorted(channels, key=lambda c: c.metadata.name):
        name, found = channel.metadata.name, live.get(channel.metadata.name)
        after, _ = desired_channel(channel)
        secret = channel.spec.token_secret or ""
        create = CreateNotificationChannel(name, after, secret)
        update = UpdateNotificationChannel(name, found.name if found else "", after, secret)
        change = _change(CHANNEL_KIND, name, after, found, create, update)
        changes.append(_with_duplicates(change, CHANNEL_KIND, duplicates.get(name, [])))
        names[name] = found.name if found is not None else new_channel(name)
    return changes, names


def _orphans(
    kind: str, live: Mapping[str, Live], duplicates: Mapping[str, list[Live]], wanted: set[str], *, prune: bool
) -> tuple[list[str], list[ResourceChange]]:
    """Managed resources of manifests that are gone: deleted with `prune` (their duplicates too), else noted."""
    notes: list[str] = []
    deletions: list[ResourceChange] = []
    for name, item in sorted(live.items()):
        if name in wanted:
            continue
        if not prune:
            notes.append(f"{kind}/{GLOBAL}/{name} is managed by genaiops but in no manifest; --prune deletes it")
            continue
        before = compared(item.body)
        ops = tuple(_delete(kind, x) for x in (item, *duplicates.get(name, ())))
        deletions.append(ResourceChange(kind, name, GLOBAL, Action.DELETE, before, None, (), ops, (PRUNE_REASON,)))
    return notes, deletions


def plan_alerts(
    manifests: Sequence[Manifest],
    *,
    policies: Sequence[ObservedAlertPolicy],
    channels: Sequence[ObservedNotificationChannel],
    project: str,
    prune: bool = False,
    sources: Mapping[str, Source] | None = None,
    deployed: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
) -> AlertPlan:
    """Plan every Alert and NotificationChannel of `manifests` (Endpoints are read for the alerts on them)
    against the managed policies and channels. `deployed` maps (region, endpoint) to the deployed model id
    of each deployment (for alerts on one deployment)."""
    alerts = sorted((m for m in manifests if isinstance(m, Alert)), key=lambda a: a.metadata.name)
    declared = [m for m in manifests if isinstance(m, NotificationChannel)]
    endpoints = {m.metadata.name: m for m in manifests if isinstance(m, Endpoint)}
    live_channels, extra_channels = _by_manifest(channels)
    live_policies, extra_policies = _by_manifest(policies)
    dup_channels = _grouped(extra_channels)
    dup_policies = _grouped(extra_policies)
    changes, names = _channel_changes(declared, live_channels, dup_channels)
    diagnostics: list[Diagnostic] = []
    waiting: list[str] = []
    for alert in alerts:
        name = alert.metadata.name
        where = (sources or {}).get(f"{ALERT_KIND}/{name}", Source("<manifests>"))
        problems = _undeclared(alert, set(names), where)
        if problems:
            diagnostics += problems
            continue
        target = alert.spec.target.endpoint
        endpoint = endpoints.get(target) if target is not None else None
        ids = (deployed or {}).get((endpoint.spec.region, endpoint.metadata.name), {}) if endpoint else {}
        try:
            after, _ = desired_policy(alert, project=project, endpoint=endpoint, channels=names, deployed_model_ids=ids)
        except UnresolvedDeploymentError as err:
            waiting.append(f"{ALERT_KIND}/{GLOBAL}/{name} waits: {err}")
            continue
        except AlertCompileError as err:
            diagnostics.append(Diagnostic(f"Alert {name}: {err}", where, "spec"))
            continue
        found = live_policies.get(name)
        create = CreateAlertPolicy(name, after)
        update = UpdateAlertPolicy(name, found.name if found else "", after)
        change = _change(ALERT_KIND, name, after, found, create, update)
        changes.append(_with_duplicates(change, ALERT_KIND, dup_policies.get(name, [])))
    policy_notes, policy_deletions = _orphans(
        ALERT_KIND, live_policies, dup_policies, {a.metadata.name for a in alerts}, prune=prune
    )
    channel_notes, channel_deletions = _orphans(CHANNEL_KIND, live_channels, dup_channels, set(names), prune=prune)
    return AlertPlan(
        (*changes, *policy_deletions, *channel_deletions),
        (*waiting, *policy_notes, *channel_notes),
        tuple(diagnostics),
        fingerprints(policies, channels),
    )


def fingerprints(
    policies: Sequence[ObservedAlertPolicy], channels: Sequence[ObservedNotificationChannel]
) -> dict[str, str]:
    """Address -> hash of the live body, for each managed policy and channel (a saved plan is stale when
    one changed)."""
    return {
        f"{kind}/{GLOBAL}/{name}": _digest(compared(item.body))
        for kind, items in ((ALERT_KIND, policies), (CHANNEL_KIND, channels))
        for name, item in _by_manifest(items)[0].items()
    }


def _grouped(items: Iterable[Live]) -> dict[str, list[Live]]:
    out: dict[str, list[Live]] = {}
    for item in items:
        out.setdefault(item.manifest, []).append(item)
    return out


__all__ = [
    "ALERT_KIND",
    "CHANNEL_KIND",
    "GLOBAL",
    "KINDS",
    "SECRET_LABEL",
    "AlertPlan",
    "canonical",
    "compared",
    "desired_channel",
    "desired_policy",
    "fingerprints",
    "plan_alerts",
    "secret_hash",
]

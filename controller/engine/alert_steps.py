"""Carrying out the alert operations through the AlertsPort, each safe to retry and to re-run after a kill.

Cloud Monitoring names policies and channels itself, so a create cannot be made idempotent by its id as an
endpoint's is. Instead every create first lists the managed resources: one labelled with this manifest's
name (`genaiops-alert`) was created already, by a call whose reply was lost (the retry of a transient
error) or by an apply killed after the create; it is used, not created twice. Kill points:

- CreateNotificationChannel: before the call (the rerun creates it); after it landed, reply lost or the
  process killed (the retry, or the rerun's plan, finds it by its label: no second channel). The name it
  got is recorded for the policies of the same apply (`new-channel:<manifest>` placeholders).
- CreateAlertPolicy: the same; a policy whose placeholder names a channel that failed is not created.
- Update*: replaces the declared fields (update mask); setting what is set already changes nothing, so both
  kill points converge (the next plan sees the live body and updates it, or finds nothing to do).
- Delete*: one already gone is fine. A channel is deleted only after the policies (executor phases), and
  never forced: a policy genaiops does not own that still names it makes the delete fail, and nothing of
  that policy is changed.

A Slack token is read from Secret Manager just before the create or update that sends it, only into the
request; an error message that would repeat it is scrubbed before it reaches the audit log.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, assert_never

from controller.errors import GenaiopsError, NotFoundError, PermanentError
from controller.observed import COMMIT_LABEL
from controller.plans.alert_operations import (
    NEW_CHANNEL_PREFIX,
    TOKEN_LABEL,
    AlertOperation,
    CreateAlertPolicy,
    CreateNotificationChannel,
    DeleteAlertPolicy,
    DeleteNotificationChannel,
    UpdateAlertPolicy,
    UpdateNotificationChannel,
)
from controller.ports import AlertsPort

_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{1,63}$")  # what Cloud Monitoring takes as a user label value


def require(port: AlertsPort | None) -> AlertsPort:
    """The target's AlertsPort; PermanentError when it has none."""
    if port is None:
        raise PermanentError("this target has no Cloud Monitoring alerts port")
    return port


def stamped(body: Mapping[str, Any], commit: str | None) -> dict[str, Any]:
    """The body with the commit being applied as a user label (when it is a valid label value)."""
    value = (commit or "")[:40].lower()
    if not _LABEL_VALUE.match(value):
        return dict(body)
    return {**body, "userLabels": {**dict(body.get("userLabels", {})), COMMIT_LABEL: value}}


def _resolved(body: Mapping[str, Any], channels: Mapping[str, str], lock: threading.Lock) -> dict[str, Any]:
    names: list[str] = []
    for name in body.get("notificationChannels", ()):
        if str(name).startswith(NEW_CHANNEL_PREFIX):
            manifest = str(name).removeprefix(NEW_CHANNEL_PREFIX)
            with lock:
                found = channels.get(manifest)
            if found is None:
                raise PermanentError(f"notification channel {manifest} was not created in this apply")
            names.append(found)
        else:
            names.append(str(name))
    return {**body, "notificationChannels": sorted(names)} if names else dict(body)  # sorted, as planned


class _Secret:
    """A token read for one request, and the scrubbing of errors that might repeat it."""

    def __init__(self, port: AlertsPort, version: str) -> None:
        self.token = port.read_secret(version) if version else ""

    def into(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if not self.token:
            return dict(body)
        return {**body, "labels": {**dict(body.get("labels", {})), TOKEN_LABEL: self.token}}

    def scrub(self, err: GenaiopsError) -> GenaiopsError:
        if not self.token or self.token not in str(err):
            return err
        return type(err)(str(err).replace(self.token, "***"))


def _create_channel(
    op: CreateNotificationChannel, port: AlertsPort, channels: dict[str, str], lock: threading.Lock, commit: str | None
) -> str:
    found = next((c for c in port.list_notification_channels() if c.manifest == op.name), None)
    if found is not None:
        result = f"{found.name} (already created)"
    else:
        secret = _Secret(port, op.token_secret)
        try:
            found = port.create_notification_channel(secret.into(stamped(op.body, commit)))
        except GenaiopsError as err:
            raise secret.scrub(err) from None
        result = found.name
    with lock:
        channels[op.name] = found.name
    return result


def _update_channel(op: UpdateNotificationChannel, port: AlertsPort, commit: str | None) -> str:
    secret = _Secret(port, op.token_secret)
    try:
        return port.update_notification_channel(op.channel, secret.into(stamped(op.body, commit))).name
    except GenaiopsError as err:
        raise secret.scrub(err) from None


def _create_policy(
    op: CreateAlertPolicy, port: AlertsPort, channels: Mapping[str, str], lock: threading.Lock, commit: str | None
) -> str:
    body = _resolved(op.body, channels, lock)  # before the list: a missing channel stops it at once
    found = next((p for p in port.list_alert_policies() if p.manifest == op.name), None)
    if found is not None:
        return f"{found.name} (already created)"
    return port.create_alert_policy(stamped(body, commit)).name


def _deleted(delete: Any, name: str) -> str:
    try:
        delete(name)
    except NotFoundError:
        return "already deleted"
    return name


def run_alert_operation(
    op: AlertOperation,
    port: AlertsPort | None,
    *,
    channels: dict[str, str],
    lock: threading.Lock,
    commit: str | None = None,
) -> str:
    """Carry out one alert operation; a short result for the audit log (never a secret)."""
    alerts = require(port)
    match op:
        case CreateNotificationChannel():
            return _create_channel(op, alerts, channels, lock, commit)
        case UpdateNotificationChannel():
            return _update_channel(op, alerts, commit)
        case DeleteNotificationChannel():
            return _deleted(alerts.delete_notification_channel, op.channel)
        case CreateAlertPolicy():
            return _create_policy(op, alerts, channels, lock, commit)
        case UpdateAlertPolicy():
            return alerts.update_alert_policy(op.policy, stamped(_resolved(op.body, channels, lock), commit)).name
        case DeleteAlertPolicy():
            return _deleted(alerts.delete_alert_policy, op.policy)
        case _:
            assert_never(op)


__all__ = ["require", "run_alert_operation", "stamped"]

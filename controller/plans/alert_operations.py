"""Operations on Cloud Monitoring alert policies and notification channels (the `Alert` and
`NotificationChannel` kinds), as plain frozen data like the rest of `plans/operations.py`, which lists them
in its `Operation` union and serialises them with the others.

Bodies are REST JSON (camelCase), exactly what the plan shows. Two values exist only at apply:

- the resource name of a channel this plan creates: a policy names it by the placeholder
  `new-channel:<manifest>` in `notificationChannels`, resolved by the executor once the channel exists
  (channels are created before policies);
- a Slack channel's bot token: the operation names the Secret Manager secret version (`token_secret`, which
  is in git anyway); the executor reads it through `AlertsPort.read_secret` and adds it to the channel's
  `labels.auth_token` of the request alone. The token never enters a plan, a plan file, a log or the audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NEW_CHANNEL_PREFIX = "new-channel:"
TOKEN_LABEL = "auth_token"  # the label of a Slack channel that holds its bot token (never read back)


def new_channel(manifest: str) -> str:
    """Placeholder for the resource name of the channel this plan creates for NotificationChannel `manifest`."""
    return f"{NEW_CHANNEL_PREFIX}{manifest}"


@dataclass(frozen=True)
class CreateNotificationChannel:
    """Create a notification channel. Cloud Monitoring names channels itself, so the step first lists the
    managed channels: one labelled with this manifest's name was created already (a lost reply, a rerun)."""

    name: str  # the NotificationChannel manifest
    body: Mapping[str, Any]
    token_secret: str = ""  # Slack: the secret version whose payload becomes labels.auth_token at apply


@dataclass(frozen=True)
class UpdateNotificationChannel:
    """Replace what genaiops declares of a channel (update mask of those fields); a Slack token is read
    again from its secret version, as the mask replaces every label."""

    name: str
    channel: str  # projects/P/notificationChannels/ID
    body: Mapping[str, Any]
    token_secret: str = ""


@dataclass(frozen=True)
class DeleteNotificationChannel:
    """Delete a channel (not forced: a policy that still names it makes Cloud Monitoring refuse)."""

    name: str
    channel: str


@dataclass(frozen=True)
class CreateAlertPolicy:
    """Create an alert policy; like a channel, found by its manifest label first. `notificationChannels`
    may hold `new-channel:<manifest>` placeholders."""

    name: str  # the Alert manifest
    body: Mapping[str, Any]


@dataclass(frozen=True)
class UpdateAlertPolicy:
    """Replace what genaiops declares of a policy (update mask of those fields)."""

    name: str
    policy: str  # projects/P/alertPolicies/ID
    body: Mapping[str, Any]


@dataclass(frozen=True)
class DeleteAlertPolicy:
    """Delete a policy; one already gone is fine."""

    name: str
    policy: str


AlertOperation = (
    CreateNotificationChannel
    | UpdateNotificationChannel
    | DeleteNotificationChannel
    | CreateAlertPolicy
    | UpdateAlertPolicy
    | DeleteAlertPolicy
)
ALERT_OPERATIONS: tuple[type[Any], ...] = (
    CreateNotificationChannel,
    UpdateNotificationChannel,
    DeleteNotificationChannel,
    CreateAlertPolicy,
    UpdateAlertPolicy,
    DeleteAlertPolicy,
)


def _channels(body: Mapping[str, Any]) -> str:
    """`, notifying oncall (new), 1 existing channel`: channels this plan creates by manifest."""
    names = [str(n) for n in body.get("notificationChannels", ())]
    new = [n.removeprefix(NEW_CHANNEL_PREFIX) + " (new)" for n in names if n.startswith(NEW_CHANNEL_PREFIX)]
    existing = len(names) - len(new)
    if existing:
        new.append(f"{existing} existing channel{'s' if existing != 1 else ''}")
    return f", notifying {', '.join(new)}" if new else ""


def _kind(body: Mapping[str, Any]) -> str:
    kind = str(body.get("type", "")).removesuffix("_channel")
    return f"{kind} " if kind else ""


def describe_alert(op: AlertOperation) -> str:
    """A short human line for progress output and audit logs (never a secret: there is none in an op)."""
    match op:
        case CreateNotificationChannel():
            secret = f" (token from {op.token_secret})" if op.token_secret else ""
            return f"create {_kind(op.body)}notification channel {op.name}{secret}"
        case UpdateNotificationChannel():
            secret = f" (token from {op.token_secret})" if op.token_secret else ""
            return f"update notification channel {op.name} ({op.channel}){secret}"
        case DeleteNotificationChannel():
            return f"delete notification channel {op.name} ({op.channel})"
        case CreateAlertPolicy():
            return f"create alert policy {op.name}{_channels(op.body)}"
        case UpdateAlertPolicy():
            return f"update alert policy {op.name} ({op.policy}){_channels(op.body)}"
        case DeleteAlertPolicy():
            return f"delete alert policy {op.name} ({op.policy})"


__all__ = [
    "ALERT_OPERATIONS",
    "NEW_CHANNEL_PREFIX",
    "TOKEN_LABEL",
    "AlertOperation",
    "CreateAlertPolicy",
    "CreateNotificationChannel",
    "DeleteAlertPolicy",
    "DeleteNotificationChannel",
    "UpdateAlertPolicy",
    "UpdateNotificationChannel",
    "describe_alert",
    "new_channel",
]

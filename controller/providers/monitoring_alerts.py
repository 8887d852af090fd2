"""The alerts provider: implements `AlertsPort` on `monitoring_v3.AlertPolicyServiceClient` and
`NotificationChannelServiceClient`, and reads Slack tokens with `secretmanager_v1.SecretManagerServiceClient`
(AccessSecretVersion), over one gRPC channel (the emulator) or Google's default endpoints.

Ownership is the user label `managed-by: genaiops`: each list sends the filter
`user_labels["managed-by"] = "genaiops"` (Cloud Monitoring's "sorting and filtering" reference: a map value
looked up by a quoted string key, as a key with a dash is no identifier) and every page is read; what comes
back is checked again here, so a server that ignores the filter never hands over someone else's policy. The
manifest is the user label `genaiops-alert`.

Bodies cross the port as REST JSON (camelCase), converted to and from the protos with
`google.protobuf.json_format`. What is read back keeps only the fields genaiops declares (`POLICY_FIELDS`,
`CHANNEL_FIELDS`), conditions lose their server-assigned names and a channel loses its secret labels
(`auth_token`): the planner compares the rest exactly. Updates send an update mask of the declared fields, so
what genaiops does not declare (say, an alert strategy someone added) is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.cloud import monitoring_v3, secretmanager_v1
from google.cloud.monitoring_v3.services.alert_policy_service.transports.grpc import AlertPolicyServiceGrpcTransport
from google.cloud.monitoring_v3.services.notification_channel_service.transports.grpc import (
    NotificationChannelServiceGrpcTransport,
)
from google.cloud.secretmanager_v1.services.secret_manager_service.transports.grpc import (
    SecretManagerServiceGrpcTransport,
)
from google.protobuf import field_mask_pb2, json_format

from controller.errors import PermanentError
from controller.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from controller.observed import ALERT_LABEL, ObservedAlertPolicy, ObservedNotificationChannel
from controller.providers.google_errors import call, translated

__all__ = ["CHANNEL_FIELDS", "POLICY_FIELDS", "SECRET_LABELS", "MonitoringAlerts", "channel_body", "policy_body"]

MANAGED_FILTER = f'user_labels["{MANAGED_BY_LABEL}"] = "{MANAGED_BY_VALUE}"'
# REST name -> proto field name (the update mask), of what genaiops declares.
POLICY_FIELDS = {
    "displayName": "display_name",
    "documentation": "documentation",
    "userLabels": "user_labels",
    "conditions": "conditions",
    "combiner": "combiner",
    "enabled": "enabled",
    "notificationChannels": "notification_channels",
    "severity": "severity",
}
CHANNEL_FIELDS = {
    "type": "type",
    "displayName": "display_name",
    "description": "description",
    "labels": "labels",
    "userLabels": "user_labels",
    "enabled": "enabled",
}
_CHANNEL_MASK = tuple(v for k, v in CHANNEL_FIELDS.items() if k != "type")  # a channel's type never changes
SECRET_LABELS = ("auth_token", "password", "service_key", "token")  # channel labels that are never read back


def _dict(message: Any) -> dict[str, Any]:
    pb = type(message).pb(message) if hasattr(type(message), "pb") else message
    found: dict[str, Any] = json_format.MessageToDict(pb)
    return found


def policy_body(message: Any) -> dict[str, Any]:
    """The declared part of an AlertPolicy (proto-plus or raw protobuf) as REST JSON."""
    whole = _dict(message)
    body = {k: whole[k] for k in POLICY_FIELDS if k in whole}
    if "conditions" in body:
        body["conditions"] = [{k: v for k, v in c.items() if k != "name"} for c in body["conditions"]]
    return body


def channel_body(message: Any) -> dict[str, Any]:
    """The declared part of a NotificationChannel as REST JSON, without its secret labels."""
    whole = _dict(message)
    body = {k: whole[k] for k in CHANNEL_FIELDS if k in whole}
    labels = {k: v for k, v in body.get("labels", {}).items() if k not in SECRET_LABELS}
    if labels:
        body["labels"] = labels
    else:
        body.pop("labels", None)
    return body


def _managed(body: Mapping[str, Any]) -> str | None:
    """The manifest of a body genaiops owns; None for anything else."""
    labels = body.get("userLabels", {})
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
        return None
    manifest = labels.get(ALERT_LABEL)
    return str(manifest) if manifest else None


def _message(kind: Any, body: Mapping[str, Any], *, name: str = "") -> Any:
    pb = json_format.ParseDict({**body, **({"name": name} if name else {})}, kind.pb()())
    return kind.wrap(pb)


class MonitoringAlerts:
    """`AlertsPort` over Cloud Monitoring and Secret Manager (or a server speaking their gRPC APIs)."""

    def __init__(
        self,
        *,
        project: str,
        channel: grpc.Channel | None = None,
        timeout_s: float = 30,
        page_size: int = 1000,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        """With `channel`, talk to that server (the emulator); otherwise to monitoring.googleapis.com and
        secretmanager.googleapis.com with Application Default Credentials. `on_call` is told the name of
        every API call (each page of a list is a call)."""
        self.project = project
        self.timeout_s = timeout_s
        self.page_size = page_size
        self._on_call = on_call or (lambda _: None)
        if channel is not None:
            self._policies = monitoring_v3.AlertPolicyServiceClient(
                transport=AlertPolicyServiceGrpcTransport(channel=channel)
            )
            self._channels = monitoring_v3.NotificationChannelServiceClient(
                transport=NotificationChannelServiceGrpcTransport(channel=channel)
            )
            self._secrets: secretmanager_v1.SecretManagerServiceClient | None = (
                secretmanager_v1.SecretManagerServiceClient(
                    transport=SecretManagerServiceGrpcTransport(channel=channel)
                )
            )
        else:
            self._policies = monitoring_v3.AlertPolicyServiceClient()
            self._channels = monitoring_v3.NotificationChannelServiceClient()
            self._secrets = None  # opened on first use: most targets never read a secret

    @property
    def _parent(self) -> str:
        return f"projects/{self.project}"

    def _pages(self, what: str, rpc: str, first: Callable[[], Any], field: str) -> list[Any]:
        """Every item of a paginated list (the pager fetches the next pages), one counted call per page."""
        items: list[Any] = []
        with translated(what):
            for page in first().pages:
                self._on_call(rpc)
                items.extend(getattr(page, field))
        return items

    # --- alert policies ---------------------------------------------------------------------------------

    def _observed_policy(self, message: Any) -> ObservedAlertPolicy | None:
        body = policy_body(message)
        manifest = _managed(body)
        return None if manifest is None else ObservedAlertPolicy(name=message.name, manifest=manifest, body=body)

    def _policy(self, message: Any, what: str) -> ObservedAlertPolicy:
        found = self._observed_policy(message)
        if found is None:
            raise PermanentError(f"{what}: the policy came back without the labels genaiops writes")
        return found

    def list_alert_policies(self) -> list[ObservedAlertPolicy]:
        """Every alert policy labelled managed-by=genaiops (and with a manifest label), all pages."""

        request = monitoring_v3.ListAlertPoliciesRequest(
            name=self._parent, filter=MANAGED_FILTER, page_size=self.page_size
        )
        found = self._pages(
            "list alert policies",
            "ListAlertPolicies",
            lambda: self._policies.list_alert_policies(request=request, timeout=self.timeout_s, retry=None),
            "alert_policies",
        )
        return [p for m in found if (p := self._observed_policy(m)) is not None]

    def create_alert_policy(self, body: Mapping[str, Any]) -> ObservedAlertPolicy:
        """CreateAlertPolicy; the policy as created."""
        policy = _message(monitoring_v3.AlertPolicy, body)
        self._on_call("CreateAlertPolicy")
        created = call(
            "create alert policy",
            lambda: self._policies.create_alert_policy(
                name=self._parent, alert_policy=policy, timeout=self.timeout_s, retry=None
            ),
        )
        return self._policy(created, "create alert policy")

    def update_alert_policy(self, name: str, body: Mapping[str, Any]) -> ObservedAlertPolicy:
        """UpdateAlertPolicy with a mask of every declared field (absent ones are cleared)."""
        policy = _message(monitoring_v3.AlertPolicy, body, name=name)
        mask = field_mask_pb2.FieldMask(paths=list(POLICY_FIELDS.values()))
        self._on_call("UpdateAlertPolicy")
        updated = call(
            f"update alert policy {name}",
            lambda: self._policies.update_alert_policy(
                alert_policy=policy, update_mask=mask, timeout=self.timeout_s, retry=None
            ),
        )
        return self._policy(updated, f"update alert policy {name}")

    def delete_alert_policy(self, name: str) -> None:
        """DeleteAlertPolicy (NotFoundError when it is gone)."""
        self._on_call("DeleteAlertPolicy")
        call(
            f"delete alert policy {name}",
            lambda: self._policies.delete_alert_policy(name=name, timeout=self.timeout_s, retry=None),
        )

    # --- notification channels --------------------------------------------------------------------------

    def _observed_channel(self, message: Any) -> ObservedNotificationChannel | None:
        body = channel_body(message)
        manifest = _managed(body)
        return (
            None if manifest is None else ObservedNotificationChannel(name=message.name, manifest=manifest, body=body)
        )

    def _channel(self, message: Any, what: str) -> ObservedNotificationChannel:
        found = self._observed_channel(message)
        if found is None:
            raise PermanentError(f"{what}: the channel came back without the labels genaiops writes")
        return found

    def list_notification_channels(self) -> list[ObservedNotificationChannel]:
        """Every notification channel labelled managed-by=genaiops (and with a manifest label), all pages."""

        request = monitoring_v3.ListNotificationChannelsRequest(
            name=self._parent, filter=MANAGED_FILTER, page_size=self.page_size
        )
        found = self._pages(
            "list notification channels",
            "ListNotificationChannels",
            lambda: self._channels.list_notification_channels(request=request, timeout=self.timeout_s, retry=None),
            "notification_channels",
        )
        return [c for m in found if (c := self._observed_channel(m)) is not None]

    def create_notification_channel(self, body: Mapping[str, Any]) -> ObservedNotificationChannel:
        """CreateNotificationChannel; the channel as created (its secret labels left out)."""
        channel = _message(monitoring_v3.NotificationChannel, body)
        self._on_call("CreateNotificationChannel")
        created = call(
            "create notification channel",
            lambda: self._channels.create_notification_channel(
                name=self._parent, notification_channel=channel, timeout=self.timeout_s, retry=None
            ),
        )
        return self._channel(created, "create notification channel")

    def update_notification_channel(self, name: str, body: Mapping[str, Any]) -> ObservedNotificationChannel:
        """UpdateNotificationChannel with a mask of the declared fields but its type."""
        channel = _message(monitoring_v3.NotificationChannel, body, name=name)
        mask = field_mask_pb2.FieldMask(paths=list(_CHANNEL_MASK))
        self._on_call("UpdateNotificationChannel")
        updated = call(
            f"update notification channel {name}",
            lambda: self._channels.update_notification_channel(
                notification_channel=channel, update_mask=mask, timeout=self.timeout_s, retry=None
            ),
        )
        return self._channel(updated, f"update notification channel {name}")

    def delete_notification_channel(self, name: str) -> None:
        """DeleteNotificationChannel, not forced: refused while a policy names the channel."""
        self._on_call("DeleteNotificationChannel")
        call(
            f"delete notification channel {name}",
            lambda: self._channels.delete_notification_channel(
                name=name, force=False, timeout=self.timeout_s, retry=None
            ),
        )

    # --- Secret Manager ---------------------------------------------------------------------------------

    def read_secret(self, version: str) -> str:
        """AccessSecretVersion: the payload of `projects/P/secrets/S/versions/V` as text. Never logged."""
        if self._secrets is None:
            self._secrets = secretmanager_v1.SecretManagerServiceClient()
        secrets = self._secrets
        self._on_call("AccessSecretVersion")
        found = call(
            f"read secret {version}",
            lambda: secrets.access_secret_version(name=version, timeout=self.timeout_s, retry=None),
        )
        data: bytes = found.payload.data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PermanentError(f"secret {version} is not UTF-8 text") from err

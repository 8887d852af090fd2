"""The emulated Cloud Monitoring `google.monitoring.v3.NotificationChannelService`.

Part of the local emulator (controller/emulator): served beside the alert policies (`alerting_policies.py`)
on the same `MessageStore`, over gRPC and REST (/v3/projects/P/notificationChannels). Channels are stored,
never notified.

- Channel types: email, slack, webhook_tokenauth, webhook_basicauth and pubsub, each with its descriptor's
  label keys (ListNotificationChannelDescriptors / GetNotificationChannelDescriptor). A channel's `labels`
  must be keys of its type's descriptor ("The permissible and required labels are specified in the
  NotificationChannelDescriptor.labels", docstring) and must set the ones a channel of that type cannot
  work without (below); other types are refused as not emulated.
- Secret labels (slack `auth_token`, webhook_basicauth `password`) are obfuscated on every read: "Fields
  containing sensitive information like authentication tokens ... are only partially populated on
  retrieval" (docstring); the emulator shows the last 4 characters of a value longer than 8, stars else.
  An update that sends the obfuscated value back keeps the stored secret.
- `verification_status` may not be set: "It is illegal to specify this field in a CreateNotificationChannel
  or an UpdateNotificationChannel operation" (docstring). `enabled` is true unless set; creation_record and
  one mutation record per change.
- DeleteNotificationChannel of a channel an alert policy names fails with FAILED_PRECONDITION unless `force`:
  "If true, the notification channel will be deleted regardless of its use in alert policies (the policies
  will be updated to remove the channel). If false, this operation will fail" (docstring).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.api import label_pb2, launch_stage_pb2
from google.cloud import monitoring_v3
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from controller.emulator.alerting_checks import check_user_labels
from controller.emulator.alerting_policies import (
    CHANNELS,
    DEFAULT_PAGE_SIZE,
    POLICIES,
    copy_of,
    listed,
    split_name,
    stamp,
)
from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.list_filter import invalid_field, page_of
from controller.emulator.message_store import MessageStore
from controller.emulator.metrics_rpc import project_of

SERVICE = "google.monitoring.v3.NotificationChannelService"
_CHANNEL = monitoring_v3.NotificationChannel.pb()
_NAME = re.compile(r"projects/([^/]+)/notificationChannels/([^/]+)")
_DESCRIPTOR_NAME = re.compile(r"projects/([^/]+)/notificationChannelDescriptors/([^/]+)")
_WRITABLE = ("type", "display_name", "description", "labels", "user_labels", "enabled")


@dataclass(frozen=True)
class ChannelType:
    """A notification channel type: its descriptor's labels, the ones required, the secret ones."""

    display_name: str
    description: str
    labels: tuple[tuple[str, str], ...]  # (key, description)
    required: tuple[str, ...]
    secret: tuple[str, ...] = ()


TYPES = {
    "email": ChannelType(
        "Email", "Notifications by email.", (("email_address", "An address to send email."),), ("email_address",)
    ),
    "slack": ChannelType(
        "Slack",
        "Notifications posted to a Slack channel by the Google Cloud Monitoring Slack app.",
        (
            ("channel_name", "The Slack channel to post notifications to."),
            ("auth_token", "The Slack app's OAuth token."),
        ),
        ("channel_name", "auth_token"),
        secret=("auth_token",),
    ),
    "webhook_tokenauth": ChannelType(
        "Webhooks",
        "Notifications sent as an HTTP POST to a URL that carries its own token.",
        (("url", "The public URL to which notifications are sent."),),
        ("url",),
    ),
    "webhook_basicauth": ChannelType(
        "Webhooks with basic auth",
        "Notifications sent as an HTTP POST with HTTP basic authentication.",
        (
            ("url", "The public URL to which notifications are sent."),
            ("username", "The user name."),
            ("password", "The password."),
        ),
        ("url", "username", "password"),
        secret=("password",),
    ),
    "pubsub": ChannelType(
        "Pub/Sub",
        "Notifications published to a Pub/Sub topic.",
        (("topic", "The topic, projects/[PROJECT_ID]/topics/[TOPIC_ID]."),),
        ("topic",),
    ),
}


def obfuscated(value: str) -> str:
    """How a secret label reads back: the last 4 characters of a value longer than 8, stars for the rest."""
    return "*" * (len(value) - 4) + value[-4:] if len(value) > 8 else "*" * len(value)


def descriptor_of(project: str, channel_type: str) -> Any:
    """The `NotificationChannelDescriptor` of an emulated channel type."""
    kind = TYPES[channel_type]
    return monitoring_v3.NotificationChannelDescriptor.pb()(
        name=f"projects/{project}/notificationChannelDescriptors/{channel_type}",
        type_=channel_type,  # proto-plus names the field `type_`
        display_name=kind.display_name,
        description=kind.description,
        labels=[label_pb2.LabelDescriptor(key=key, description=text) for key, text in kind.labels],
        launch_stage=launch_stage_pb2.LaunchStage.GA,
    )


def check_channel(channel: Any, path: str = "notification_channel") -> None:
    """Raise INVALID_ARGUMENT for the first rule a raw `NotificationChannel` breaks."""
    kind = TYPES.get(channel.type_)
    if kind is None:
        why = f"not an emulated channel type; the emulator serves {', '.join(TYPES)}"
        raise invalid_field(f"{path}.type", channel.type_, "A channel type is required." if not channel.type_ else why)
    keys = [key for key, _ in kind.labels]
    for key in channel.labels:
        if key not in keys:
            raise invalid_field(
                f"{path}.labels", key, f"not a label of channel type {channel.type_}: {', '.join(keys)}"
            )
    for key in kind.required:
        if not channel.labels.get(key):
            raise invalid_field(f"{path}.labels", key, f"channel type {channel.type_} requires this label")
    if len(channel.display_name) > 512:  # docstring: "limited to 512 Unicode characters"
        raise invalid_field(f"{path}.display_name", channel.display_name[:40] + "...", "limited to 512 characters")
    if len(channel.description) > 1024:  # docstring: "This may not exceed 1024 Unicode characters."
        raise invalid_field(f"{path}.description", channel.description[:40] + "...", "limited to 1024 characters")
    check_user_labels(channel.user_labels, f"{path}.user_labels")
    if channel.verification_status:
        name = monitoring_v3.NotificationChannel.VerificationStatus(channel.verification_status).name
        raise invalid_field(
            f"{path}.verification_status", name, "It is illegal to specify this field on create or update."
        )


def rendered(channel: Any) -> Any:
    """The channel as a read answers it: secret labels obfuscated."""
    shown = copy_of(channel)
    kind = TYPES.get(channel.type_)
    for key in kind.secret if kind is not None else ():
        if key in shown.labels:
            shown.labels[key] = obfuscated(shown.labels[key])
    return monitoring_v3.NotificationChannel.wrap(shown)


class NotificationChannelService:
    """Notification channels of every project, on the store shared with the alert policies."""

    def __init__(self, store: MessageStore, *, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def methods(self) -> list[RpcMethod]:
        """NotificationChannelService methods for the adapters (the verification-code RPCs are not served)."""
        m = monitoring_v3
        return [
            RpcMethod(
                SERVICE,
                "ListNotificationChannelDescriptors",
                m.ListNotificationChannelDescriptorsRequest,
                m.ListNotificationChannelDescriptorsResponse,
                self._list_descriptors,
            ),
            RpcMethod(
                SERVICE,
                "GetNotificationChannelDescriptor",
                m.GetNotificationChannelDescriptorRequest,
                m.NotificationChannelDescriptor,
                self._get_descriptor,
            ),
            RpcMethod(
                SERVICE,
                "ListNotificationChannels",
                m.ListNotificationChannelsRequest,
                m.ListNotificationChannelsResponse,
                self._list,
            ),
            RpcMethod(
                SERVICE, "GetNotificationChannel", m.GetNotificationChannelRequest, m.NotificationChannel, self._get
            ),
            RpcMethod(
                SERVICE,
                "CreateNotificationChannel",
                m.CreateNotificationChannelRequest,
                m.NotificationChannel,
                self._create,
            ),
            RpcMethod(
                SERVICE,
                "UpdateNotificationChannel",
                m.UpdateNotificationChannelRequest,
                m.NotificationChannel,
                self._update,
            ),
            RpcMethod(
                SERVICE, "DeleteNotificationChannel", m.DeleteNotificationChannelRequest, empty_pb2.Empty, self._delete
            ),
        ]

    # -- descriptors ---------------------------------------------------------------------------------
    def _list_descriptors(self, request: monitoring_v3.ListNotificationChannelDescriptorsRequest) -> Any:
        pb = monitoring_v3.ListNotificationChannelDescriptorsRequest.pb(request)
        project = project_of(pb.name)
        descriptors = [descriptor_of(project, t) for t in sorted(TYPES)]
        page, token = page_of(descriptors, pb, default_size=DEFAULT_PAGE_SIZE)
        response = monitoring_v3.ListNotificationChannelDescriptorsResponse.pb()(
            channel_descriptors=page, next_page_token=token
        )
        return monitoring_v3.ListNotificationChannelDescriptorsResponse.wrap(response)

    def _get_descriptor(self, request: monitoring_v3.GetNotificationChannelDescriptorRequest) -> Any:
        name = monitoring_v3.GetNotificationChannelDescriptorRequest.pb(request).name
        form = "projects/[PROJECT_ID_OR_NUMBER]/notificationChannelDescriptors/[CHANNEL_TYPE]"
        project, channel_type = split_name(name, _DESCRIPTOR_NAME, "name", form)
        if channel_type not in TYPES:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"Could not find notification channel descriptor {name}.")
        return monitoring_v3.NotificationChannelDescriptor.wrap(descriptor_of(project, channel_type))

    # -- channels ------------------------------------------------------------------------------------
    def _list(self, request: monitoring_v3.ListNotificationChannelsRequest) -> Any:
        pb = monitoring_v3.ListNotificationChannelsRequest.pb(request)
        page, token, total = listed(self._store, CHANNELS, "notificationChannels", _CHANNEL.DESCRIPTOR, pb)
        response = monitoring_v3.ListNotificationChannelsResponse.pb()(
            notification_channels=[monitoring_v3.NotificationChannel.pb(rendered(c)) for c in page],
            next_page_token=token,
            total_size=total,
        )
        return monitoring_v3.ListNotificationChannelsResponse.wrap(response)

    def _get(self, request: monitoring_v3.GetNotificationChannelRequest) -> Any:
        name = monitoring_v3.GetNotificationChannelRequest.pb(request).name
        with self._store.transaction(write=False) as collections:
            return rendered(self._existing(collections, name, "name"))

    def _create(self, request: monitoring_v3.CreateNotificationChannelRequest) -> Any:
        pb = monitoring_v3.CreateNotificationChannelRequest.pb(request)
        project = project_of(pb.name)
        channel = copy_of(pb.notification_channel)
        check_channel(channel)
        now = self._clock()
        with self._store.transaction(write=True) as collections:
            channels = collections[CHANNELS]
            prefix = f"projects/{project}/notificationChannels/"
            channel.name = prefix + self._store.new_id(channels, prefix)
            if not channel.HasField("enabled"):
                channel.enabled.value = True
            for field in ("creation_record", "mutation_records"):
                channel.ClearField(field)
            stamp(channel.creation_record, now)
            stamp(channel.mutation_records.add(), now)
            channels[channel.name] = channel
            return rendered(channel)

    def _update(self, request: monitoring_v3.UpdateNotificationChannelRequest) -> Any:
        pb = monitoring_v3.UpdateNotificationChannelRequest.pb(request)
        source = pb.notification_channel
        with self._store.transaction(write=True) as collections:
            existing = self._existing(collections, source.name, "notification_channel.name")
            channel = copy_of(existing)
            _apply(pb.update_mask.paths or _WRITABLE, source, channel)
            _keep_secrets(channel, existing)
            check_channel(channel)
            if source.verification_status:  # docstring: illegal in an UpdateNotificationChannel
                why = "It is illegal to specify this field on create or update."
                raise invalid_field("notification_channel.verification_status", str(source.verification_status), why)
            stamp(channel.mutation_records.add(), self._clock())
            collections[CHANNELS][channel.name] = channel
            return rendered(channel)

    def _delete(self, request: monitoring_v3.DeleteNotificationChannelRequest) -> empty_pb2.Empty:
        pb = monitoring_v3.DeleteNotificationChannelRequest.pb(request)
        with self._store.transaction(write=True) as collections:
            self._existing(collections, pb.name, "name")
            policies: list[Any] = list(collections[POLICIES].values())
            users = [p for p in policies if pb.name in p.notification_channels]
            if users and not pb.force:
                names = ", ".join(sorted(p.name for p in users))
                why = f"Notification channel {pb.name} is used by alert policies ({names}); use force to delete it."
                raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, why)
            for policy in users:
                _forget_channel(policy, pb.name)
                stamp(policy.mutation_record, self._clock())
            del collections[CHANNELS][pb.name]
        return empty_pb2.Empty()

    @staticmethod
    def _existing(collections: dict[str, dict[str, Message]], name: str, field: str) -> Any:
        form = "projects/[PROJECT_ID_OR_NUMBER]/notificationChannels/[CHANNEL_ID]"
        split_name(name, _NAME, field, form)
        channel = collections[CHANNELS].get(name)
        if channel is None:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"Could not find notification channel {name}.")
        return channel


def _apply(paths: Iterable[str], source: Any, target: Any) -> None:
    """Set each masked field from the request (`labels.KEY` / `user_labels.KEY`: one entry); read-only
    fields (name, records) are ignored; `enabled` left unset keeps its value."""
    for raw in paths:
        path = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", raw).lower()
        head, _, key = path.partition(".")
        if head in ("labels", "user_labels") and key:
            if key in getattr(source, head):
                getattr(target, head)[key] = getattr(source, head)[key]
            else:
                getattr(target, head).pop(key, None)
        elif head in ("labels", "user_labels"):
            getattr(target, head).clear()
            getattr(target, head).update(getattr(source, head))
        elif head == "enabled":
            if source.HasField("enabled"):
                target.enabled.CopyFrom(source.enabled)
        elif head in _WRITABLE:
            field = "type_" if head == "type" else head  # proto-plus names the field `type_`
            setattr(target, field, getattr(source, field))
        elif head not in ("name", "creation_record", "mutation_records", "verification_status"):
            raise invalid_field("update_mask", raw, "not a field of NotificationChannel")


def _keep_secrets(channel: Any, existing: Any) -> None:
    """A secret label sent back as it was read (obfuscated) keeps the stored value."""
    kind = TYPES.get(channel.type_)
    for key in kind.secret if kind is not None and channel.type_ == existing.type_ else ():
        stored = existing.labels.get(key)
        if stored is not None and channel.labels.get(key) == obfuscated(stored):
            channel.labels[key] = stored


def _forget_channel(policy: Any, name: str) -> None:
    """Remove a force-deleted channel from a policy that names it."""
    kept = [c for c in policy.notification_channels if c != name]
    del policy.notification_channels[:]
    policy.notification_channels.extend(kept)
    for strategy in policy.alert_strategy.notification_channel_strategy:
        names = [c for c in strategy.notification_channel_names if c != name]
        del strategy.notification_channel_names[:]
        strategy.notification_channel_names.extend(names)

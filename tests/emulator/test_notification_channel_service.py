"""Cloud Monitoring notification channels on the emulator, through the real
`monitoring_v3.NotificationChannelServiceClient` over gRPC (and plain HTTP/JSON for REST): the channel
descriptors, create/get/list/update/delete, secret labels obfuscated on every read, the checks the API makes,
and a channel an alert policy names refused deletion unless forced. Loopback only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.cloud import monitoring_v3

from controller.emulator.server import Emulator, running

PROJECT = "channel-project"
P = f"projects/{PROJECT}"
TOKEN = "xoxb-0123456789-secret"
FILTER = (
    'metric.type = "aiplatform.googleapis.com/prediction/online/error_count"'
    ' AND resource.type = "aiplatform.googleapis.com/Endpoint"'
)


@dataclass
class Channels:
    emulator: Emulator
    client: Any  # monitoring_v3.NotificationChannelServiceClient
    policies: Any  # monitoring_v3.AlertPolicyServiceClient

    def create(self, **fields: Any) -> Any:
        channel = monitoring_v3.NotificationChannel(**fields)
        return self.client.create_notification_channel(name=P, notification_channel=channel)

    def slack(self, **fields: Any) -> Any:
        labels = {"channel_name": "#ops", "auth_token": TOKEN}
        return self.create(type_="slack", display_name="ops", labels=labels, **fields)

    def policy_naming(self, channel: str) -> Any:
        condition = {
            "display_name": "errors",
            "condition_threshold": {"filter": FILTER, "comparison": "COMPARISON_GT", "duration": {"seconds": 0}},
        }
        body = {"display_name": "p", "conditions": [condition], "notification_channels": [channel]}
        return self.policies.create_alert_policy(name=P, alert_policy=body)


@pytest.fixture
def channels() -> Iterator[Channels]:
    with running(project=PROJECT, storage_port=None) as emulator:
        yield Channels(emulator, emulator.notification_channel_client(), emulator.alert_policy_client())


def test_the_descriptors_name_each_emulated_type_and_its_label_keys(channels: Channels) -> None:
    descriptors = {d.type_: d for d in channels.client.list_notification_channel_descriptors(name=P)}
    keys = {t: [label.key for label in d.labels] for t, d in descriptors.items()}
    assert keys == {
        "email": ["email_address"],
        "pubsub": ["topic"],
        "slack": ["channel_name", "auth_token"],
        "webhook_basicauth": ["url", "username", "password"],
        "webhook_tokenauth": ["url"],
    }
    slack = channels.client.get_notification_channel_descriptor(name=f"{P}/notificationChannelDescriptors/slack")
    assert slack.name == f"{P}/notificationChannelDescriptors/slack"
    with pytest.raises(exceptions.NotFound):
        channels.client.get_notification_channel_descriptor(name=f"{P}/notificationChannelDescriptors/sms")


def test_a_created_channel_gets_a_name_is_enabled_and_has_records(channels: Channels) -> None:
    created = channels.create(type_="email", labels={"email_address": "oncall@example.com"}, user_labels={"team": "a"})
    assert re.fullmatch(rf"{P}/notificationChannels/\d+", created.name)
    assert created.enabled is True
    assert created.labels == {"email_address": "oncall@example.com"}
    assert created.creation_record.mutate_time and len(created.mutation_records) == 1
    assert channels.client.get_notification_channel(name=created.name) == created


def test_a_slack_token_is_obfuscated_on_every_read(channels: Channels) -> None:
    created = channels.slack()
    for read in (
        created,
        channels.client.get_notification_channel(name=created.name),
        next(iter(channels.client.list_notification_channels(name=P))),
    ):
        assert read.labels["channel_name"] == "#ops"
        assert read.labels["auth_token"] != TOKEN and read.labels["auth_token"].endswith(TOKEN[-4:])
        assert set(read.labels["auth_token"][:-4]) == {"*"}


def test_a_basic_auth_password_is_obfuscated_too(channels: Channels) -> None:
    labels = {"url": "https://hooks.example.com/x", "username": "u", "password": "hunter2"}
    created = channels.create(type_="webhook_basicauth", labels=labels)
    assert created.labels["password"] == "*******" and created.labels["username"] == "u"


def test_an_update_that_sends_the_obfuscated_token_back_keeps_the_secret(channels: Channels) -> None:
    created = channels.slack()
    read = channels.client.get_notification_channel(name=created.name)
    read.display_name = "renamed"
    channels.client.update_notification_channel(notification_channel=read)
    state = channels.emulator.notification_channels._store  # the stored secret is not readable over the API
    with state.transaction(write=False) as collections:
        stored: Any = collections["notificationChannels"][created.name]
        assert stored.labels["auth_token"] == TOKEN and stored.display_name == "renamed"


def test_update_with_a_mask_sets_only_the_listed_fields_and_adds_a_mutation_record(channels: Channels) -> None:
    created = channels.slack(description="before", user_labels={"team": "a"})
    supplied = monitoring_v3.NotificationChannel(
        name=created.name, description="after", labels={"channel_name": "#new"}
    )
    mask = {"paths": ["description", "labels.channel_name"]}
    updated = channels.client.update_notification_channel(notification_channel=supplied, update_mask=mask)
    assert updated.description == "after" and updated.display_name == "ops"
    assert updated.labels["channel_name"] == "#new" and updated.labels["auth_token"].endswith(TOKEN[-4:])
    assert updated.user_labels == {"team": "a"}
    assert len(updated.mutation_records) == 2


def test_list_filters_on_type_and_labels_and_pages(channels: Channels) -> None:
    mine = channels.slack(user_labels={"managed-by": "genaiops"})
    for i in range(3):
        channels.create(type_="email", labels={"email_address": f"u{i}@example.com"})
    listed = channels.client.list_notification_channels(
        request={"name": P, "filter": 'type = "slack" AND user_labels["managed-by"] = "genaiops"'}
    )
    assert [c.name for c in listed] == [mine.name]
    by_label = channels.client.list_notification_channels(
        request={"name": P, "filter": 'labels.email_address = "u1@example.com"'}
    )
    assert [c.labels["email_address"] for c in by_label] == ["u1@example.com"]
    pager = channels.client.list_notification_channels(request={"name": P, "page_size": 3})
    assert [len(page.notification_channels) for page in pager.pages] == [3, 1]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"labels": {"email_address": "a@example.com"}}, "notification_channel.type"),
        ({"type_": "sms", "labels": {"number": "+100"}}, "notification_channel.type"),
        ({"type_": "email", "labels": {}}, "notification_channel.labels"),
        ({"type_": "email", "labels": {"email_address": "a@example.com", "cc": "b"}}, "notification_channel.labels"),
        ({"type_": "slack", "labels": {"channel_name": "#ops"}}, "notification_channel.labels"),
        (
            {"type_": "email", "labels": {"email_address": "a@example.com"}, "user_labels": {"Team": "a"}},
            "notification_channel.user_labels",
        ),
        (
            {"type_": "email", "labels": {"email_address": "a@example.com"}, "verification_status": "VERIFIED"},
            "notification_channel.verification_status",
        ),
        (
            {"type_": "email", "labels": {"email_address": "a@example.com"}, "description": "x" * 1025},
            "notification_channel.description",
        ),
    ],
    ids=[
        "no type",
        "unknown type",
        "missing label",
        "unknown label",
        "slack without token",
        "bad user label",
        "verified",
        "long",
    ],
)
def test_a_channel_the_api_refuses_is_invalid_argument_naming_the_field(
    channels: Channels, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as raised:
        channels.create(**fields)
    assert f"Field {field} had an invalid value" in raised.value.message


def test_a_channel_a_policy_names_is_not_deleted_unless_forced(channels: Channels) -> None:
    channel = channels.slack().name
    other = channels.create(type_="email", labels={"email_address": "a@example.com"}).name
    policy = channels.policy_naming(channel)
    with pytest.raises(exceptions.FailedPrecondition, match=policy.name):
        channels.client.delete_notification_channel(name=channel)
    channels.client.delete_notification_channel(name=other)
    channels.client.delete_notification_channel(name=channel, force=True)
    assert list(channels.policies.get_alert_policy(name=policy.name).notification_channels) == []
    with pytest.raises(exceptions.NotFound):
        channels.client.get_notification_channel(name=channel)


def test_rest_creates_reads_obfuscated_and_deletes_a_channel(channels: Channels) -> None:
    base = f"{channels.emulator.rest_endpoint}/v3/{P}/notificationChannels"
    body = {"type": "slack", "displayName": "ops", "labels": {"channel_name": "#ops", "auth_token": TOKEN}}
    created = requests.post(base, json=body, timeout=10)
    assert created.status_code == 200, created.text
    name = created.json()["name"]
    read = requests.get(f"{channels.emulator.rest_endpoint}/v3/{name}", timeout=10).json()
    assert read["type"] == "slack" and read["labels"]["auth_token"].endswith(TOKEN[-4:]) and TOKEN not in str(read)
    descriptors = requests.get(f"{channels.emulator.rest_endpoint}/v3/{P}/notificationChannelDescriptors", timeout=10)
    assert "webhook_tokenauth" in {d["type"] for d in descriptors.json()["channelDescriptors"]}
    deleted = requests.delete(f"{channels.emulator.rest_endpoint}/v3/{name}", params={"force": "true"}, timeout=10)
    assert deleted.status_code == 200 and deleted.json() == {}
    verify = requests.post(f"{channels.emulator.rest_endpoint}/v3/{name}:verify", json={"code": "G-1"}, timeout=10)
    assert verify.status_code == 501

"""The alerts provider (`MonitoringAlerts`) against the emulator's AlertPolicyService,
NotificationChannelService and Secret Manager, through the real Google clients over loopback: what the
planner compiles reads back exactly (so a refresh plans nothing), only managed resources are listed (every
page), updates leave undeclared fields alone, secrets are read and never read back, errors are ours."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import monitoring_v3, secretmanager_v1
from google.cloud.monitoring_v3.services.alert_policy_service.transports.grpc import AlertPolicyServiceGrpcTransport
from google.cloud.secretmanager_v1.services.secret_manager_service.transports.grpc import (
    SecretManagerServiceGrpcTransport,
)
from google.protobuf import field_mask_pb2

from controller.emulator.server import running
from controller.errors import GenaiopsError, NotFoundError
from controller.model import Manifest
from controller.plans.alert_operations import CreateAlertPolicy, CreateNotificationChannel
from controller.plans.alert_plan import compared, plan_alerts
from controller.providers.connections import plain_channel
from controller.providers.monitoring_alerts import MonitoringAlerts
from tests.builders import endpoint
from tests.plans.test_alert_plan import alert, channel, slack

PROJECT = "alerts-project"
SHAPES: list[Manifest] = [
    alert("errors", notify=[]),
    alert("latency", metric="latency-p99", threshold="1500ms", notify=[]),
    alert("quiet", absent=True, threshold=None, notify=[]),
    alert(
        "custom",
        metric=None,
        query='metric.type = "custom.googleapis.com/x" AND resource.type = "global"',
        threshold=3,
        comparison="<",
        notify=[],
    ),
    alert("spend", target={"project": True}, metric="cost-per-day", threshold="$50", documentation="Look.", notify=[]),
    alert(
        "ratings",
        target={"prompt": "answer", "label": "production"},
        metric="feedback-score",
        threshold=3.5,
        comparison="<",
        severity="error",
        enabled=False,
        notify=[],
    ),
]


class Setup:
    """The provider, the raw clients a person would use, and a call counter."""

    def __init__(self, target: str) -> None:
        self.channel = plain_channel(target)
        self.calls: list[str] = []
        self.port = MonitoringAlerts(project=PROJECT, channel=self.channel, page_size=2, on_call=self.calls.append)
        self.policies: Any = monitoring_v3.AlertPolicyServiceClient(
            transport=AlertPolicyServiceGrpcTransport(channel=self.channel)
        )
        self.secrets: Any = secretmanager_v1.SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=self.channel)
        )

    def create_all(self, manifests: list[Manifest]) -> None:
        """Create what the planner plans for `manifests` (channels first, placeholders resolved)."""
        names: dict[str, str] = {}
        the_plan = plan_alerts([endpoint("chat"), *manifests], policies=(), channels=(), project=PROJECT)
        for change in the_plan.changes:
            op = change.operations[0]
            if isinstance(op, CreateNotificationChannel):
                names[op.name] = self.port.create_notification_channel(op.body).name
            elif isinstance(op, CreateAlertPolicy):
                body = dict(op.body)
                if "notificationChannels" in body:
                    body["notificationChannels"] = sorted(
                        names[n.split(":", 1)[1]] for n in body["notificationChannels"]
                    )
                self.port.create_alert_policy(body)


@pytest.fixture
def setup() -> Iterator[Setup]:
    with running(rest_port=None, storage_port=None) as emulator:
        made = Setup(emulator.grpc_target)
        yield made
        made.channel.close()


def replan(setup: Setup, manifests: list[Manifest]) -> list[str]:
    live = plan_alerts(
        [endpoint("chat"), *manifests],
        policies=setup.port.list_alert_policies(),
        channels=setup.port.list_notification_channels(),
        project=PROJECT,
    )
    return [f"{c.address} {c.action.value}" for c in live.changes]


def test_every_compiled_shape_reads_back_exactly_so_a_refresh_plans_nothing(setup: Setup) -> None:
    setup.create_all(SHAPES)
    assert replan(setup, SHAPES) == [f"Alert/global/{m.metadata.name} no-op" for m in sorted(SHAPES, key=_name)]


def test_channels_of_every_type_read_back_exactly_and_policies_name_them(setup: Setup) -> None:
    manifests: list[Manifest] = [
        channel("mail"),
        channel("hook", type="webhook", url="https://hooks.example.com/x"),
        channel("topic", type="pubsub", topic="projects/p/topics/alerts"),
        alert(notify=["mail", "hook", "topic"]),
    ]
    setup.create_all(manifests)
    assert all(line.endswith(" no-op") for line in replan(setup, manifests))
    [policy] = setup.port.list_alert_policies()
    assert len(policy.body["notificationChannels"]) == 3


def test_only_managed_policies_are_listed_every_page_of_them(setup: Setup) -> None:
    setup.create_all(SHAPES[:5])
    for labels in ({"team": "sre"}, {"managed-by": "genaiops"}):  # someone else's; ours but of no manifest
        setup.policies.create_alert_policy(name=f"projects/{PROJECT}", alert_policy=foreign(labels))
    setup.calls.clear()
    listed = setup.port.list_alert_policies()
    assert sorted(p.manifest for p in listed) == sorted(m.metadata.name for m in SHAPES[:5])
    assert setup.calls == ["ListAlertPolicies"] * 3  # five managed policies, two per page


def test_an_update_replaces_the_declared_fields_and_leaves_the_rest(setup: Setup) -> None:
    setup.create_all([alert(notify=[])])
    [live] = setup.port.list_alert_policies()
    raw = setup.policies.get_alert_policy(name=live.name)
    raw.alert_strategy.auto_close = {"seconds": 3600}
    setup.policies.update_alert_policy(alert_policy=raw, update_mask=field_mask_pb2.FieldMask(paths=["alert_strategy"]))
    body = {**live.body, "displayName": "renamed"}
    body.pop("documentation", None)
    updated = setup.port.update_alert_policy(live.name, body)
    assert compared(updated.body) == compared(body)
    assert setup.policies.get_alert_policy(name=live.name).alert_strategy.auto_close.seconds == 3600


def test_a_slack_token_is_read_from_its_secret_and_never_read_back(setup: Setup) -> None:
    secret = setup.secrets.create_secret(
        parent=f"projects/{PROJECT}", secret_id="slack-bot", secret={"replication": {"automatic": {}}}
    )
    version = setup.secrets.add_secret_version(parent=secret.name, payload={"data": b"xoxb-secret"})
    assert setup.port.read_secret(version.name) == "xoxb-secret"
    the_plan = plan_alerts([slack()], policies=(), channels=(), project=PROJECT)
    op = the_plan.changes[0].operations[0]
    assert isinstance(op, CreateNotificationChannel)
    made = setup.port.create_notification_channel(
        {**op.body, "labels": {**op.body["labels"], "auth_token": "xoxb-secret"}}
    )
    assert "auth_token" not in made.body["labels"]
    assert [c.body for c in setup.port.list_notification_channels()] == [made.body]
    assert replan(setup, [slack()]) == ["NotificationChannel/global/slack-oncall no-op"]


def test_missing_things_are_not_found_errors(setup: Setup) -> None:
    with pytest.raises(NotFoundError):
        setup.port.read_secret(f"projects/{PROJECT}/secrets/nope/versions/1")
    with pytest.raises(NotFoundError):
        setup.port.delete_alert_policy(f"projects/{PROJECT}/alertPolicies/123")
    with pytest.raises(NotFoundError):
        setup.port.delete_notification_channel(f"projects/{PROJECT}/notificationChannels/123")


def test_a_channel_a_policy_still_names_is_not_deleted(setup: Setup) -> None:
    setup.create_all([channel(), alert()])
    [used] = setup.port.list_notification_channels()
    with pytest.raises(GenaiopsError):
        setup.port.delete_notification_channel(used.name)
    assert setup.port.list_notification_channels() == [used]


def foreign(labels: dict[str, str]) -> dict[str, Any]:
    """A policy made by hand in the console."""
    threshold = {
        "filter": 'metric.type = "compute.googleapis.com/instance/cpu/utilization" AND resource.type = "gce_instance"',
        "comparison": "COMPARISON_GT",
        "threshold_value": 0.9,
        "duration": {"seconds": 300},
    }
    return {
        "display_name": "by hand",
        "user_labels": labels,
        "combiner": "OR",
        "conditions": [{"display_name": "cpu", "condition_threshold": threshold}],
    }


def _name(manifest: Manifest) -> str:
    return manifest.metadata.name

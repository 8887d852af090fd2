"""Alerts as code end to end (issue 19): Alert and NotificationChannel manifests applied through the CLI to the
emulator's Cloud Monitoring, a policy edited "in the console" with the real `monitoring_v3` client, `plan`
reporting the drift with its field diff, `reconcile --self-heal` restoring it, and a Slack channel whose
token comes from the emulated Secret Manager: the token reaches the channel and appears in no plan (human
or JSON), no saved plan file and no audit log."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import monitoring_v3, secretmanager_v1
from google.cloud.monitoring_v3.services.alert_policy_service.transports.grpc import AlertPolicyServiceGrpcTransport
from google.cloud.monitoring_v3.services.notification_channel_service.transports.grpc import (
    NotificationChannelServiceGrpcTransport,
)
from google.cloud.secretmanager_v1.services.secret_manager_service.transports.grpc import (
    SecretManagerServiceGrpcTransport,
)
from google.protobuf import field_mask_pb2

from controller.providers.connections import plain_channel
from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml

REPO = Path(__file__).resolve().parents[2]

TOKEN = "xoxb-e2e-test-token-5f3a9c"  # what the emulated Secret Manager holds; must never be printed
PROJECT = "local-project"  # the emulator target's project when no --project is given
ALERTS = """\
apiVersion: genaiops/v1
kind: NotificationChannel
metadata: {name: oncall-email}
spec: {type: email, address: oncall@example.com}
---
apiVersion: genaiops/v1
kind: NotificationChannel
metadata: {name: oncall-slack}
spec:
  type: slack
  channel: "#oncall"
  tokenSecret: projects/local-project/secrets/slack-bot/versions/1
---
apiVersion: genaiops/v1
kind: Alert
metadata: {name: chat-errors}
spec:
  target: {endpoint: chat}
  metric: error-rate
  threshold: 5%
  for: 5m
  severity: critical
  documentation: Check the chat endpoint's canary and recent deploys.
  notify: [oncall-email, oncall-slack]
---
apiVersion: genaiops/v1
kind: Alert
metadata: {name: daily-cost}
spec:
  target: {project: true}
  metric: cost-per-day
  threshold: $50
  for: 5m
  notify: [oncall-email]
"""


class Console:
    """What a person in the Cloud console would use: the real Monitoring and Secret Manager clients."""

    def __init__(self, workspace: Workspace) -> None:
        channel = plain_channel(workspace.emulator.grpc_target)
        self.policies: Any = monitoring_v3.AlertPolicyServiceClient(
            transport=AlertPolicyServiceGrpcTransport(channel=channel)
        )
        self.channels: Any = monitoring_v3.NotificationChannelServiceClient(
            transport=NotificationChannelServiceGrpcTransport(channel=channel)
        )
        self.secrets: Any = secretmanager_v1.SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel)
        )
        self.parent = f"projects/{PROJECT}"

    def policy(self, manifest: str) -> Any:
        """The live policy labelled with this manifest's name."""
        found = [
            p
            for p in self.policies.list_alert_policies(name=self.parent)
            if p.user_labels.get("genaiops-alert") == manifest
        ]
        assert len(found) == 1, found
        return found[0]

    def threshold(self, manifest: str) -> float:
        return float(self.policy(manifest).conditions[0].condition_threshold.threshold_value)

    def edit_threshold(self, manifest: str, value: float) -> None:
        """Change a policy's threshold as the console would: an UpdateAlertPolicy of its conditions."""
        policy = self.policy(manifest)
        policy.conditions[0].condition_threshold.threshold_value = value
        mask = field_mask_pb2.FieldMask(paths=["conditions"])
        self.policies.update_alert_policy(alert_policy=policy, update_mask=mask)

    def store_token(self, secret_id: str = "slack-bot") -> None:
        """The Slack bot token as version 1 of secret `secret_id`."""
        secret = self.secrets.create_secret(
            parent=self.parent, secret_id=secret_id, secret={"replication": {"automatic": {}}}
        )
        self.secrets.add_secret_version(parent=secret.name, payload={"data": TOKEN.encode()})


@pytest.fixture
def alerting(workspace: Workspace) -> Iterator[tuple[Workspace, Console]]:
    """A workspace whose manifests hold the chat endpoint and the alerts, with the Slack token stored."""
    console = Console(workspace)
    console.store_token()
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml(), alerts=ALERTS)
    yield workspace, console


def test_alerts_are_applied_drift_from_the_console_is_planned_and_self_heal_restores_it(
    alerting: tuple[Workspace, Console],
) -> None:
    workspace, console = alerting
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    assert console.threshold("chat-errors") == pytest.approx(0.05)
    assert console.threshold("daily-cost") == pytest.approx(50)
    channels = {
        c.user_labels["genaiops-alert"]: c.name
        for c in console.channels.list_notification_channels(name=console.parent)
    }
    assert sorted(console.policy("chat-errors").notification_channels) == sorted(channels.values())
    assert workspace.plan("--detailed-exitcode").exit_code == 0

    console.edit_threshold("chat-errors", 0.5)
    planned = workspace.plan("--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    drift = planned.output.split("Changed outside genaiops", 1)
    assert len(drift) == 2, planned.output
    assert "Alert/global/chat-errors: conditions.0.conditionThreshold.thresholdValue" in drift[1]
    assert "~ conditions.0.conditionThreshold.thresholdValue: 0.5 -> 0.05" in planned.output

    status = json.loads(workspace.run("status", str(workspace.manifests), "--output", "json").output)
    syncs = {r["address"]: r["sync"] for r in status["resources"]}
    assert syncs["Alert/global/chat-errors"] == "drifted" and syncs["Alert/global/daily-cost"] == "synced"

    log = str(workspace.root / "reconcile.log")
    reported = workspace.run("reconcile", str(workspace.manifests), "--audit-log", log)
    assert reported.exit_code == 0, reported.output
    assert "Alert/global/chat-errors changed outside genaiops; reporting only" in reported.output
    assert console.threshold("chat-errors") == pytest.approx(0.5), "healed without --self-heal"

    healed = workspace.run("reconcile", str(workspace.manifests), "--self-heal", "--audit-log", log)
    assert healed.exit_code == 0, healed.output
    assert "Alert/global/chat-errors changed outside genaiops; healing" in healed.output
    assert console.threshold("chat-errors") == pytest.approx(0.05)
    assert workspace.plan("--detailed-exitcode").exit_code == 0


def test_a_slack_token_reaches_the_channel_and_no_plan_file_or_log(alerting: tuple[Workspace, Console]) -> None:
    workspace, console = alerting
    saved = workspace.root / "alerts.plan"
    human = workspace.plan()
    as_json = workspace.plan("--output", "json")
    out = workspace.plan("--out", str(saved))
    for result in (human, as_json, out):
        assert result.exit_code == 0, result.output
    applied = workspace.run("apply", str(saved), "--auto-approve", "--audit-log", str(workspace.root / "audit.log"))
    assert applied.exit_code == 0, applied.output
    planned = json.loads(as_json.output)
    assert any(c["kind"] == "NotificationChannel" for c in planned["changes"])
    slack = next(c for c in console.channels.list_notification_channels(name=console.parent) if c.type == "slack")
    assert slack.labels["channel_name"] == "#oncall"
    assert slack.user_labels["genaiops-secret"]  # the hash of the secret version name
    for text in (human.output, as_json.output, out.output, applied.output, saved.read_text(encoding="utf-8")):
        assert TOKEN not in text
    assert TOKEN not in (workspace.root / "audit.log").read_text(encoding="utf-8")
    assert "auth_token" not in saved.read_text(encoding="utf-8")


def test_prune_deletes_alerts_that_left_the_manifests_and_never_a_policy_genaiops_does_not_own(
    alerting: tuple[Workspace, Console],
) -> None:
    workspace, console = alerting
    theirs = console.policies.create_alert_policy(
        name=console.parent,
        alert_policy={
            "display_name": "someone else's",
            "user_labels": {"team": "sre"},
            "combiner": "OR",
            "conditions": [
                {
                    "display_name": "cpu",
                    "condition_threshold": {
                        "filter": 'metric.type = "compute.googleapis.com/instance/cpu/utilization" AND '
                        'resource.type = "gce_instance"',
                        "comparison": "COMPARISON_GT",
                        "threshold_value": 0.9,
                        "duration": {"seconds": 300},
                    },
                }
            ],
        },
    )
    assert workspace.apply().exit_code == 0
    cost_only = "---".join(d for d in ALERTS.split("---") if "oncall-email}" in d or "daily-cost}" in d)
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml(), alerts=cost_only)
    kept = workspace.plan()
    assert "Alert/global/chat-errors is managed by genaiops but in no manifest; --prune deletes it" in kept.output
    assert "NotificationChannel/global/oncall-slack is managed by genaiops but in no manifest" in kept.output
    pruned = workspace.apply("--prune")
    assert pruned.exit_code == 0, pruned.output
    assert sorted(p.display_name for p in console.policies.list_alert_policies(name=console.parent)) == [
        "daily-cost",
        "someone else's",
    ]
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())  # no alerts left: --prune still reads them
    assert workspace.apply("--prune").exit_code == 0
    assert [p.name for p in console.policies.list_alert_policies(name=console.parent)] == [theirs.name]
    assert not list(console.channels.list_notification_channels(name=console.parent))


def test_a_user_without_alerts_pays_no_alerting_call_unless_prune_asks(
    make_workspace: Callable[..., Workspace],
) -> None:
    refused = [f"{rpc}:fail_next=9:code=PERMISSION_DENIED" for rpc in ("ListAlertPolicies", "ListNotificationChannels")]
    workspace = make_workspace(faults=refused)
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    assert workspace.apply().exit_code == 0
    planned = workspace.plan("--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    assert workspace.emulator.faults.injected == {}
    assert workspace.plan("--prune").exit_code == 1  # --prune reads them (refused here, so the plan fails)
    assert workspace.emulator.faults.injected


def test_creates_whose_replies_are_all_lost_make_each_policy_and_channel_once(
    make_workspace: Callable[..., Workspace],
) -> None:
    workspace = make_workspace()
    for rpc in ("CreateAlertPolicy", "CreateNotificationChannel"):
        workspace.emulator.faults.add(f"{rpc}:lost_reply=1")  # the create lands, the caller sees UNAVAILABLE
    console = Console(workspace)
    console.store_token()
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml(), alerts=ALERTS)
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    assert sum(workspace.emulator.faults.lost.values()) == 4
    policies = [p.user_labels["genaiops-alert"] for p in console.policies.list_alert_policies(name=console.parent)]
    channels = [
        c.user_labels["genaiops-alert"] for c in console.channels.list_notification_channels(name=console.parent)
    ]
    assert sorted(policies) == ["chat-errors", "daily-cost"]
    assert sorted(channels) == ["oncall-email", "oncall-slack"]
    assert workspace.plan("--detailed-exitcode").exit_code == 0


def test_a_saved_plan_is_refused_when_a_policy_was_edited_since(alerting: tuple[Workspace, Console]) -> None:
    workspace, console = alerting
    assert workspace.apply().exit_code == 0
    workspace.write(
        models=model_yaml(), endpoints=endpoint_yaml(), alerts=ALERTS.replace("threshold: 5%", "threshold: 2%")
    )
    saved = workspace.root / "raise.plan"
    assert workspace.plan("--out", str(saved)).exit_code == 0
    console.edit_threshold("chat-errors", 0.5)
    refused = workspace.run("apply", str(saved), "--auto-approve", "--audit-log", str(workspace.root / "audit.log"))
    assert refused.exit_code == 1
    assert "Alert/global/chat-errors changed since planning" in refused.output
    assert console.threshold("chat-errors") == pytest.approx(0.5)


def test_the_example_alerts_apply_drift_and_heal_with_the_example_manifests(workspace: Workspace) -> None:
    shutil.copytree(REPO / "manifests", workspace.manifests, dirs_exist_ok=True)
    console = Console(workspace)
    console.store_token(secret_id="slack-bot-token")
    channels = workspace.manifests / "alerts" / "channels.yaml"
    text = channels.read_text(encoding="utf-8")
    commented = text[text.index("# ---") :]  # the Slack channel, commented out until its secret exists
    channels.write_text(text.replace(commented, "\n".join(line[2:] for line in commented.splitlines())) + "\n")
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    examples = {"support-chat-errors", "support-chat-latency", "intent-router-no-traffic", "support-answer-feedback"}
    live = {p.user_labels["genaiops-alert"] for p in console.policies.list_alert_policies(name=console.parent)}
    assert examples | {"model-spend"} == live
    slack = next(c for c in console.channels.list_notification_channels(name=console.parent) if c.type == "slack")
    assert slack.user_labels["genaiops-alert"] == "support-slack"
    assert workspace.plan("--detailed-exitcode").exit_code == 0

    console.edit_threshold("support-chat-errors", 0.25)
    planned = workspace.plan("--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "~ conditions.0.conditionThreshold.thresholdValue: 0.25 -> 0.05" in planned.output
    assert "Alert/global/support-chat-errors: conditions.0.conditionThreshold.thresholdValue" in planned.output
    healed = workspace.run(
        "reconcile", str(workspace.manifests), "--self-heal", "--audit-log", str(workspace.root / "r.log")
    )
    assert healed.exit_code == 0, healed.output
    assert console.threshold("support-chat-errors") == pytest.approx(0.05)
    assert workspace.plan("--detailed-exitcode").exit_code == 0
    for log in ("audit.log", "r.log"):
        assert TOKEN not in (workspace.root / log).read_text(encoding="utf-8")

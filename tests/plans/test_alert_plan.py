"""The pure alert planner: Alert and NotificationChannel manifests against the managed policies and channels
(create, no-op, update with field diffs, drift, prune, placeholders for channels made in the same plan,
duplicates of a lost reply), and plans and plan files that never hold a Slack token."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controller.model import Endpoint, Manifest
from controller.model.alert import Alert, NotificationChannel
from controller.observed import SPEC_LABEL, ObservedAlertPolicy, ObservedNotificationChannel
from controller.plans.alert_operations import (
    CreateAlertPolicy,
    CreateNotificationChannel,
    DeleteAlertPolicy,
    DeleteNotificationChannel,
    UpdateAlertPolicy,
    UpdateNotificationChannel,
    new_channel,
)
from controller.plans.alert_plan import SECRET_LABEL, AlertPlan, canonical, plan_alerts, secret_hash
from controller.plans.operations import describe
from controller.plans.plan import Action, Plan, ResourceChange
from controller.plans.planfile import load_plan, plan_body, save_plan
from tests.builders import endpoint

PROJECT = "demo-project"
SECRET = "projects/demo-project/secrets/slack-bot/versions/3"
TOKEN = "xoxb-not-a-real-token-0123456789"


def alert(name: str = "chat-errors", **spec: Any) -> Alert:
    """An Alert on Endpoint chat: error rate above 5% for 5m, notifying `oncall` unless told otherwise."""
    body = {"target": {"endpoint": "chat"}, "metric": "error-rate", "threshold": "5%", "notify": ["oncall"], **spec}
    return Alert.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Alert", "metadata": {"name": name}, "spec": body}
    )


def channel(name: str = "oncall", **spec: Any) -> NotificationChannel:
    """An email NotificationChannel unless `spec` says otherwise."""
    body = spec or {"type": "email", "address": "oncall@example.com"}
    return NotificationChannel.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "NotificationChannel", "metadata": {"name": name}, "spec": body}
    )


def slack(name: str = "slack-oncall") -> NotificationChannel:
    """A Slack channel whose token is in Secret Manager."""
    return channel(name, type="slack", channel="#oncall", tokenSecret=SECRET)


def plan_of(
    manifests: Sequence[Manifest],
    policies: Sequence[ObservedAlertPolicy] = (),
    channels: Sequence[ObservedNotificationChannel] = (),
    *,
    prune: bool = False,
) -> AlertPlan:
    """The alert plan, with Endpoint chat declared."""
    chat: list[Manifest] = [endpoint("chat")]
    return plan_alerts([*chat, *manifests], policies=policies, channels=channels, project=PROJECT, prune=prune)


def applied(the_plan: AlertPlan) -> tuple[list[ObservedAlertPolicy], list[ObservedNotificationChannel]]:
    """What the API holds once the plan's creates ran: each body as sent, placeholders resolved."""
    names: dict[str, str] = {}
    channels: list[ObservedNotificationChannel] = []
    for change in the_plan.changes:
        for op in change.operations:
            if isinstance(op, CreateNotificationChannel):
                names[op.name] = f"projects/{PROJECT}/notificationChannels/{len(names) + 1}"
                channels.append(ObservedNotificationChannel(names[op.name], op.name, dict(op.body)))
    policies = []
    for number, change in enumerate(the_plan.changes, start=1):
        for op in change.operations:
            if isinstance(op, CreateAlertPolicy):
                body = dict(op.body)
                wanted = [names.get(str(n).removeprefix("new-channel:"), n) for n in body["notificationChannels"]]
                body["notificationChannels"] = sorted(wanted)
                policies.append(ObservedAlertPolicy(f"projects/{PROJECT}/alertPolicies/{number}", op.name, body))
    return policies, channels


def by_address(the_plan: AlertPlan) -> dict[str, ResourceChange]:
    return {c.address: c for c in the_plan.changes}


def test_a_new_alert_and_its_channel_are_created_channel_first_with_a_placeholder() -> None:
    the_plan = plan_of([alert(), channel()])
    assert [c.address for c in the_plan.changes] == ["NotificationChannel/global/oncall", "Alert/global/chat-errors"]
    assert [c.action for c in the_plan.changes] == [Action.CREATE, Action.CREATE]
    create = the_plan.changes[1].operations[0]
    assert isinstance(create, CreateAlertPolicy)
    assert create.body["notificationChannels"] == [new_channel("oncall")]
    labels = create.body["userLabels"]
    assert labels["managed-by"] == "genaiops" and labels["genaiops-alert"] == "chat-errors" and labels[SPEC_LABEL]
    assert describe(create) == "create alert policy chat-errors, notifying oncall (new)"


def test_what_was_applied_plans_to_no_changes() -> None:
    manifests: list[Manifest] = [alert(), channel()]
    policies, channels = applied(plan_of(manifests))
    again = plan_of(manifests, policies, channels)
    assert [c.action for c in again.changes] == [Action.NOOP, Action.NOOP]
    assert not again.notes and not again.diagnostics


def test_an_alert_on_an_existing_channel_names_it_by_its_resource_name() -> None:
    _, channels = applied(plan_of([channel()]))
    the_plan = plan_of([alert(), channel()], (), channels)
    create = by_address(the_plan)["Alert/global/chat-errors"].operations[0]
    assert isinstance(create, CreateAlertPolicy)
    assert create.body["notificationChannels"] == [channels[0].name]


def test_a_changed_threshold_is_an_update_with_its_field_diff_and_not_drift() -> None:
    policies, channels = applied(plan_of([alert(), channel()]))
    change = by_address(plan_of([alert(threshold="10%"), channel()], policies, channels))["Alert/global/chat-errors"]
    assert change.action is Action.UPDATE and not change.drift
    paths = {c.path: (c.before, c.after) for c in change.changes}
    assert paths["conditions.0.conditionThreshold.thresholdValue"] == (0.05, 0.1)
    assert f"userLabels.{SPEC_LABEL}" in paths  # the manifest changed: a new spec hash
    assert change.operations == (UpdateAlertPolicy("chat-errors", policies[0].name, change.after or {}),)
    assert (
        describe(change.operations[0])
        == f"update alert policy chat-errors ({policies[0].name}), notifying 1 existing channel"
    )


def test_a_policy_edited_in_the_console_is_drift() -> None:
    manifests: list[Manifest] = [alert(), channel()]
    policies, channels = applied(plan_of(manifests))
    edited = json.loads(json.dumps(policies[0].body))
    edited["conditions"][0]["conditionThreshold"]["thresholdValue"] = 0.5
    live = [ObservedAlertPolicy(policies[0].name, "chat-errors", edited)]
    change = by_address(plan_of(manifests, live, channels))["Alert/global/chat-errors"]
    assert change.action is Action.UPDATE and change.drift
    assert [(c.path, c.before, c.after) for c in change.changes] == [
        ("conditions.0.conditionThreshold.thresholdValue", 0.5, 0.05)
    ]
    assert change.reasons == ("changed outside genaiops since it was applied",)
    assert Plan(changes=(change,)).drifted == (change,)


def test_the_commit_an_apply_stamps_is_not_a_difference() -> None:
    policies, channels = applied(plan_of([alert(), channel()]))
    stamped = {**policies[0].body, "userLabels": {**policies[0].body["userLabels"], "genaiops-commit": "abc123"}}
    live = [ObservedAlertPolicy(policies[0].name, "chat-errors", stamped)]
    assert by_address(plan_of([alert(), channel()], live, channels))["Alert/global/chat-errors"].action is Action.NOOP


def test_managed_resources_that_left_the_manifests_are_deleted_only_with_prune() -> None:
    policies, channels = applied(plan_of([alert(), channel()]))
    kept = plan_of([], policies, channels)
    assert not kept.changes
    assert kept.notes == (
        "Alert/global/chat-errors is managed by genaiops but in no manifest; --prune deletes it",
        "NotificationChannel/global/oncall is managed by genaiops but in no manifest; --prune deletes it",
    )
    pruned = plan_of([], policies, channels, prune=True)
    assert [(c.address, c.action) for c in pruned.changes] == [
        ("Alert/global/chat-errors", Action.DELETE),
        ("NotificationChannel/global/oncall", Action.DELETE),
    ]
    assert pruned.changes[0].operations == (DeleteAlertPolicy("chat-errors", policies[0].name),)
    assert pruned.changes[1].operations == (DeleteNotificationChannel("oncall", channels[0].name),)


def test_only_what_the_managed_lists_return_is_ever_in_a_plan() -> None:
    # The port lists only policies labelled managed-by=genaiops: with nothing managed, even --prune plans
    # nothing, whatever else the project holds.
    assert plan_of([], prune=True) == AlertPlan()


def test_a_second_policy_with_the_same_manifest_label_is_deleted_with_its_change() -> None:
    policies, channels = applied(plan_of([alert(), channel()]))
    twin = ObservedAlertPolicy(f"projects/{PROJECT}/alertPolicies/99", "chat-errors", policies[0].body)
    change = by_address(plan_of([alert(), channel()], [*policies, twin], channels))["Alert/global/chat-errors"]
    assert change.action is Action.UPDATE
    assert change.operations == (DeleteAlertPolicy("chat-errors", twin.name),)


def test_an_alert_notifying_an_undeclared_channel_is_a_problem_not_a_change() -> None:
    the_plan = plan_of([alert(notify=["nobody"])])
    assert not the_plan.changes
    assert [d.summary for d in the_plan.diagnostics] == [
        "Alert chat-errors notifies NotificationChannel nobody, which no manifest declares"
    ]


def test_an_alert_on_a_deployment_not_deployed_yet_waits() -> None:
    the_plan = plan_of([alert(target={"endpoint": "chat", "deployment": "primary"}, notify=[])])
    assert not the_plan.changes and not the_plan.diagnostics
    assert the_plan.notes[0].startswith("Alert/global/chat-errors waits: deployment 'primary'")


def test_an_alert_on_a_deployment_names_the_deployed_model_that_serves_it() -> None:
    chat: Endpoint = endpoint("chat")
    the_plan = plan_alerts(
        [chat, alert(target={"endpoint": "chat", "deployment": "primary"}, notify=[])],
        policies=(),
        channels=(),
        project=PROJECT,
        deployed={(chat.spec.region, "chat"): {"primary": "4711"}},
    )
    create = the_plan.changes[0].operations[0]
    assert isinstance(create, CreateAlertPolicy)
    assert 'metric.labels.deployed_model_id = "4711"' in create.body["conditions"][0]["conditionThreshold"]["filter"]


def test_a_slack_channel_records_its_secret_version_hash_and_never_a_token(tmp_path: Path) -> None:
    the_plan = plan_of([slack()])
    create = the_plan.changes[0].operations[0]
    assert isinstance(create, CreateNotificationChannel)
    assert create.token_secret == SECRET
    assert create.body["labels"] == {"channel_name": "#oncall"}
    assert create.body["userLabels"][SECRET_LABEL] == secret_hash(SECRET)
    assert describe(create) == f"create slack notification channel slack-oncall (token from {SECRET})"
    whole = Plan(changes=the_plan.changes)
    path = tmp_path / "plan.json"
    save_plan(whole, path, manifests_digest="sha256:" + "0" * 64, created_at="2026-12-02T00:00:00Z")
    text = path.read_text(encoding="utf-8") + json.dumps(plan_body(whole))
    assert TOKEN not in text and "auth_token" not in text
    assert load_plan(path).plan.changes == whole.changes


def test_a_new_secret_version_is_a_change_and_the_update_reads_it_again() -> None:
    _, channels = applied(plan_of([slack()]))
    newer = SECRET.replace("/versions/3", "/versions/4")
    change = plan_of([channel("slack-oncall", type="slack", channel="#oncall", tokenSecret=newer)], (), channels)
    update = change.changes[0]
    assert update.action is Action.UPDATE and not update.drift
    assert f"userLabels.{SECRET_LABEL}" in {c.path for c in update.changes}
    assert update.operations == (
        UpdateNotificationChannel("slack-oncall", channels[0].name, update.after or {}, newer),
    )


def test_every_alert_operation_survives_a_plan_file(tmp_path: Path) -> None:
    policies, channels = applied(plan_of([alert(), channel(), slack()]))
    edited = plan_of(
        [alert(threshold="1%"), channel("oncall", type="email", address="pager@example.com")],
        policies,
        channels,
        prune=True,
    )
    created = plan_of([alert(), channel(), slack()])
    pruned = plan_of([], policies, channels, prune=True)
    whole = Plan(changes=(*created.changes, *edited.changes, *pruned.changes))
    kinds = {type(op).__name__ for c in whole.changes for op in c.operations}
    assert kinds == {
        "DeleteAlertPolicy",
        "CreateAlertPolicy",
        "CreateNotificationChannel",
        "UpdateAlertPolicy",
        "UpdateNotificationChannel",
        "DeleteNotificationChannel",
    }
    path = tmp_path / "plan.json"
    save_plan(whole, path, manifests_digest="sha256:" + "0" * 64, created_at="2026-12-02T00:00:00Z")
    assert load_plan(path).plan.changes == whole.changes


def test_bodies_are_compared_as_json_reads_them_back() -> None:
    assert canonical({"a": 5.0, "b": "", "c": [], "d": {"e": None}, "f": [1.5, {"g": {}}], "h": False}) == {
        "a": 5,
        "f": [1.5, {}],
        "h": False,
    }

"""The executor carrying out alert plans through an AlertsPort (an in-memory fake here; the provider against the
emulator is tests/emulator/test_alerts_provider.py): channels before the policies that name them, the
placeholder resolved, a Slack token read at apply into the request alone, and the kill points of a create
(a lost reply, a killed apply) converging without a second policy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from controller.engine.audit import AuditLog
from controller.engine.executor import Executor
from controller.engine.retry import RetryPolicy
from controller.errors import NotFoundError, PermanentError, TransientError
from controller.observed import ALERT_LABEL, ObservedAlertPolicy, ObservedNotificationChannel
from controller.plans.alert_plan import plan_alerts
from controller.plans.plan import Action, Plan
from tests.builders import endpoint
from tests.plans.test_alert_plan import PROJECT, SECRET, TOKEN, alert, channel, slack

FAST = RetryPolicy(attempts=3, initial_s=0.001, max_s=0.001)


class FakeAlerts:
    """Alert policies and channels in memory, with a way to lose a reply (the call lands, then raises)."""

    def __init__(self) -> None:
        self.policies: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []  # every channel body as sent (with its token)
        self.lose_reply: set[str] = set()  # "policy" / "channel": the next create lands, then fails
        self.secrets_read: list[str] = []

    def _landed(self, kind: str) -> None:
        if kind in self.lose_reply:
            self.lose_reply.discard(kind)
            raise TransientError(f"create {kind}: deadline exceeded (the create landed)")

    def list_alert_policies(self) -> list[ObservedAlertPolicy]:
        return [ObservedAlertPolicy(n, b["userLabels"][ALERT_LABEL], b) for n, b in sorted(self.policies.items())]

    def create_alert_policy(self, body: Mapping[str, Any]) -> ObservedAlertPolicy:
        name = f"projects/{PROJECT}/alertPolicies/{len(self.policies) + 1}"
        self.policies[name] = dict(body)
        self._landed("policy")
        return ObservedAlertPolicy(name, body["userLabels"][ALERT_LABEL], dict(body))

    def update_alert_policy(self, name: str, body: Mapping[str, Any]) -> ObservedAlertPolicy:
        if name not in self.policies:
            raise NotFoundError(name)
        self.policies[name] = dict(body)
        return ObservedAlertPolicy(name, body["userLabels"][ALERT_LABEL], dict(body))

    def delete_alert_policy(self, name: str) -> None:
        if self.policies.pop(name, None) is None:
            raise NotFoundError(name)

    def list_notification_channels(self) -> list[ObservedNotificationChannel]:
        return [
            ObservedNotificationChannel(n, b["userLabels"][ALERT_LABEL], _without_token(b))
            for n, b in sorted(self.channels.items())
        ]

    def create_notification_channel(self, body: Mapping[str, Any]) -> ObservedNotificationChannel:
        name = f"projects/{PROJECT}/notificationChannels/{len(self.channels) + 1}"
        self.sent.append(dict(body))
        self.channels[name] = dict(body)
        self._landed("channel")
        return ObservedNotificationChannel(name, body["userLabels"][ALERT_LABEL], _without_token(body))

    def update_notification_channel(self, name: str, body: Mapping[str, Any]) -> ObservedNotificationChannel:
        self.sent.append(dict(body))
        self.channels[name] = dict(body)
        return ObservedNotificationChannel(name, body["userLabels"][ALERT_LABEL], _without_token(body))

    def delete_notification_channel(self, name: str) -> None:
        if any(name in p.get("notificationChannels", ()) for p in self.policies.values()):
            raise PermanentError(f"channel {name} is used by a policy")
        if self.channels.pop(name, None) is None:
            raise NotFoundError(name)

    def read_secret(self, version: str) -> str:
        self.secrets_read.append(version)
        return TOKEN


def _without_token(body: Mapping[str, Any]) -> dict[str, Any]:
    labels = {k: v for k, v in body.get("labels", {}).items() if k != "auth_token"}
    return {**body, "labels": labels}


def plan_now(fake: FakeAlerts, *manifests: Any, prune: bool = False) -> Plan:
    found = plan_alerts(
        [endpoint("chat"), *manifests],
        policies=fake.list_alert_policies(),
        channels=fake.list_notification_channels(),
        project=PROJECT,
        prune=prune,
    )
    return Plan(changes=found.changes)


def apply(fake: FakeAlerts, the_plan: Plan, audit: Path, *, commit: str | None = None) -> bool:
    executor = Executor(ports={}, audit=AuditLog(audit), retry=FAST, alerts=fake, commit=commit, parallelism=4)
    return executor.apply(the_plan).ok


def test_an_alert_and_the_channel_it_notifies_are_created_in_one_apply(tmp_path: Path) -> None:
    fake = FakeAlerts()
    assert apply(fake, plan_now(fake, alert(notify=["oncall"]), channel()), tmp_path / "audit.jsonl")
    [(channel_name, _)] = fake.channels.items()
    [policy] = fake.policies.values()
    assert policy["notificationChannels"] == [channel_name]
    assert all(c.action is Action.NOOP for c in plan_now(fake, alert(), channel()).changes)


def test_the_commit_is_stamped_on_what_is_created_and_is_no_change_later(tmp_path: Path) -> None:
    fake = FakeAlerts()
    assert apply(fake, plan_now(fake, alert(notify=[])), tmp_path / "audit.jsonl", commit="0123abcd" * 5)
    [policy] = fake.policies.values()
    assert policy["userLabels"]["genaiops-commit"] == "0123abcd" * 5
    assert plan_now(fake, alert(notify=[])).changes[0].action is Action.NOOP


def test_a_create_whose_reply_is_lost_is_found_by_its_label_and_not_made_twice(tmp_path: Path) -> None:
    fake = FakeAlerts()
    fake.lose_reply = {"policy", "channel"}
    assert apply(fake, plan_now(fake, alert(), channel()), tmp_path / "audit.jsonl")
    assert len(fake.policies) == 1 and len(fake.channels) == 1
    [channel_name] = fake.channels
    assert next(iter(fake.policies.values()))["notificationChannels"] == [channel_name]
    audit = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert "(already created)" in audit


def test_a_rerun_after_a_kill_between_the_creates_converges(tmp_path: Path) -> None:
    fake = FakeAlerts()
    first = plan_now(fake, alert(), channel())
    only_channel = Plan(changes=tuple(c for c in first.changes if c.kind == "NotificationChannel"))
    assert apply(fake, only_channel, tmp_path / "audit.jsonl")  # killed before the policy's create
    rerun = plan_now(fake, alert(), channel())
    assert [c.action for c in rerun.changes] == [Action.NOOP, Action.CREATE]
    assert apply(fake, rerun, tmp_path / "audit.jsonl")
    assert len(fake.channels) == 1 and len(fake.policies) == 1
    assert all(c.action is Action.NOOP for c in plan_now(fake, alert(), channel()).changes)


def test_a_saved_plan_applied_after_its_create_landed_does_not_create_again(tmp_path: Path) -> None:
    fake = FakeAlerts()
    the_plan = plan_now(fake, alert(notify=[]))
    assert apply(fake, the_plan, tmp_path / "audit.jsonl")
    assert apply(fake, the_plan, tmp_path / "audit.jsonl")  # the same creates again: found by their label
    assert len(fake.policies) == 1


def test_a_policy_whose_new_channel_failed_is_not_created(tmp_path: Path) -> None:
    fake = FakeAlerts()

    def refuse(body: Mapping[str, Any]) -> ObservedNotificationChannel:
        raise PermanentError("invalid email address")

    fake.create_notification_channel = refuse  # type: ignore[method-assign]
    assert not apply(fake, plan_now(fake, alert(), channel()), tmp_path / "audit.jsonl")
    assert not fake.policies
    assert "notification channel oncall was not created in this apply" in (tmp_path / "audit.jsonl").read_text()


def test_a_slack_token_is_read_at_apply_into_the_request_alone(tmp_path: Path) -> None:
    fake = FakeAlerts()
    audit = tmp_path / "audit.jsonl"
    assert apply(fake, plan_now(fake, slack()), audit)
    assert fake.secrets_read == [SECRET]
    assert fake.sent[0]["labels"] == {"channel_name": "#oncall", "auth_token": TOKEN}
    assert TOKEN not in audit.read_text(encoding="utf-8")
    assert plan_now(fake, slack()).changes[0].action is Action.NOOP


def test_an_error_that_repeats_the_token_is_scrubbed_before_the_audit_log(tmp_path: Path) -> None:
    fake = FakeAlerts()

    def echo(body: Mapping[str, Any]) -> ObservedNotificationChannel:
        raise PermanentError(f"invalid label value {body['labels']['auth_token']}")

    fake.create_notification_channel = echo  # type: ignore[method-assign]
    audit = tmp_path / "audit.jsonl"
    assert not apply(fake, plan_now(fake, slack()), audit)
    text = audit.read_text(encoding="utf-8")
    assert "invalid label value ***" in text and TOKEN not in text


def test_prune_deletes_policies_before_the_channels_they_name(tmp_path: Path) -> None:
    fake = FakeAlerts()
    assert apply(fake, plan_now(fake, alert(), channel()), tmp_path / "audit.jsonl")
    assert apply(fake, plan_now(fake, prune=True), tmp_path / "audit.jsonl")
    assert not fake.policies and not fake.channels


@pytest.mark.parametrize("kind", ["policy", "channel"])
def test_a_delete_of_what_is_gone_already_is_fine(tmp_path: Path, kind: str) -> None:
    fake = FakeAlerts()
    assert apply(fake, plan_now(fake, alert(), channel()), tmp_path / "audit.jsonl")
    pruned = plan_now(fake, prune=True)
    if kind == "policy":
        fake.policies.clear()
    else:
        fake.policies.clear()
        fake.channels.clear()
    assert apply(fake, pruned, tmp_path / "audit.jsonl")
    assert "already deleted" in (tmp_path / "audit.jsonl").read_text(encoding="utf-8")

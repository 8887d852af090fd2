"""Every policy and channel `controller/plans/alert_compile.py` compiles is one Cloud Monitoring accepts: each
case of tests/cases/alert_policies.yaml (every built-in metric on every target kind, as a threshold and as an
absence, and the whole conditions) is created on the emulator through the real AlertPolicyServiceClient,
with the runtime's metric descriptors registered first so the API's aligner and reducer checks apply to the
custom metrics too, and reads back as it was sent; each kind of channel is created through the real
NotificationChannelServiceClient. Loopback only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import monitoring_v3
from google.protobuf import json_format

from controller.emulator.server import Emulator, running
from controller.plans.alert_compile import compile_channel, compile_policy
from controller.providers.metric_writer import CloudMonitoringWriter
from controller.runtime.aggregate import METRICS
from tests.plans.test_alert_compile import SUPPORT_CHAT, TABLE, alert, channel

PROJECT = "alert-compile"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with running(rest_port=None, project=PROJECT) as emu:
        writer = CloudMonitoringWriter(project=PROJECT, channel=emu.channel)
        writer.ensure_descriptors(METRICS)
        yield emu


@pytest.fixture(scope="module")
def channels(emulator: Emulator) -> dict[str, str]:
    """The channels every policy may notify, created once: manifest name -> resource name."""
    client = emulator.notification_channel_client()
    made = {}
    for case in TABLE["channels"]:
        if case["spec"]["type"] == "slack" and case.get("token") is None:
            continue  # the body a plan compares with: a Slack channel is created with its token
        body = compile_channel_body(case)
        created = client.create_notification_channel(
            name=f"projects/{PROJECT}", notification_channel=_proto(monitoring_v3.NotificationChannel, body)
        )
        made[case["name"]] = created.name
    return {"oncall": next(iter(made.values()))}


def compile_channel_body(case: dict[str, Any]) -> dict[str, Any]:
    return compile_channel(channel(case["spec"]), token=case.get("token"))


def _proto(kind: Any, body: dict[str, Any]) -> Any:
    message = kind.pb(kind())
    json_format.ParseDict(body, message)
    return kind.wrap(message)


def _policies() -> list[Any]:
    out = []
    for case in TABLE["metrics"]:
        for target_kind in case["targets"]:
            target = TABLE["targets"][target_kind]
            base = {"target": target["target"], "metric": case["metric"]}
            threshold = {**base, "threshold": case["threshold"], "comparison": case.get("comparison", ">")}
            for label, spec in (("threshold", threshold), ("absent", {**base, "absent": True})):
                out.append(
                    pytest.param(
                        spec, target.get("deployed_model_ids"), id=f"{case['metric']} {label} on {target_kind}"
                    )
                )
    out += [pytest.param(c["alert"], None, id=c["name"]) for c in TABLE["literal"]]
    return out


@pytest.mark.parametrize(("spec", "deployed"), _policies())
def test_every_compiled_policy_is_accepted_by_cloud_monitorings_checks(
    emulator: Emulator, channels: dict[str, str], spec: dict[str, Any], deployed: dict[str, str] | None
) -> None:
    manifest = alert({**spec, "notify": ["oncall"], "documentation": "Look at the *dashboard*."})
    ep = SUPPORT_CHAT if manifest.spec.target.endpoint is not None else None
    body = compile_policy(manifest, project=PROJECT, endpoint=ep, channels=channels, deployed_model_ids=deployed)
    client = emulator.alert_policy_client()
    created = client.create_alert_policy(
        name=f"projects/{PROJECT}", alert_policy=_proto(monitoring_v3.AlertPolicy, body)
    )
    read = json_format.MessageToDict(monitoring_v3.AlertPolicy.pb(created))
    condition = read["conditions"][0]
    condition.pop("name")
    sent = body["conditions"][0]
    kind = "conditionThreshold" if "conditionThreshold" in sent else "conditionAbsent"
    assert condition["displayName"] == sent["displayName"]
    for field in ("filter", "aggregations", "denominatorFilter", "comparison", "duration"):
        assert condition[kind].get(field) == sent[kind].get(field)
    assert read["notificationChannels"] == body["notificationChannels"]
    assert read["severity"] == body["severity"]
    assert read["userLabels"] == body["userLabels"]
    client.delete_alert_policy(name=created.name)


def test_each_kind_of_channel_is_accepted_and_its_token_is_never_read_back(
    emulator: Emulator, channels: dict[str, str]
) -> None:
    client = emulator.notification_channel_client()
    listed = {c.type_: dict(c.labels) for c in client.list_notification_channels(name=f"projects/{PROJECT}")}
    assert {"email", "webhook_tokenauth", "pubsub", "slack"} <= set(listed)
    assert listed["slack"]["channel_name"] == "#ml-alerts"
    assert listed["slack"].get("auth_token", "") != "xoxb-secret"

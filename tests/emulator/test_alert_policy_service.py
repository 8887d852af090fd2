"""Cloud Monitoring alert policies on the emulator, through the real `monitoring_v3.AlertPolicyServiceClient`
over its gRPC port (and plain HTTP/JSON for the REST surface): create, get, list with a user-label filter and
page tokens, update with and without a mask, delete, and every check the API makes, each answered with
INVALID_ARGUMENT naming the field. Loopback only."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.cloud import monitoring_v3

from controller.emulator.server import Emulator, running

PROJECT = "alert-project"
P = f"projects/{PROJECT}"
ERRORS = "aiplatform.googleapis.com/prediction/online/error_count"
ENDPOINT = "aiplatform.googleapis.com/Endpoint"
FILTER = f'metric.type = "{ERRORS}" AND resource.type = "{ENDPOINT}"'


def threshold(**fields: Any) -> dict[str, Any]:
    """A valid MetricThreshold: error count rate above 1/s for 5 minutes."""
    return {
        "filter": FILTER,
        "comparison": "COMPARISON_GT",
        "threshold_value": 1.0,
        "duration": {"seconds": 300},
        "aggregations": [{"alignment_period": {"seconds": 60}, "per_series_aligner": "ALIGN_RATE"}],
        **fields,
    }


def policy(**fields: Any) -> dict[str, Any]:
    """A valid policy managed by genaiops, one threshold condition."""
    return {
        "display_name": "errors",
        "combiner": "OR",
        "user_labels": {"managed-by": "genaiops"},
        "conditions": [{"display_name": "error rate", "condition_threshold": threshold()}],
        **fields,
    }


@dataclass
class Alerts:
    emulator: Emulator
    policies: Any  # monitoring_v3.AlertPolicyServiceClient
    channels: Any  # monitoring_v3.NotificationChannelServiceClient

    def create(self, body: dict[str, Any]) -> Any:
        return self.policies.create_alert_policy(name=P, alert_policy=monitoring_v3.AlertPolicy(body))

    def listed(self, **request: Any) -> list[Any]:
        return list(self.policies.list_alert_policies(request={"name": P, **request}))

    def email_channel(self) -> str:
        channel = {"type_": "email", "labels": {"email_address": "oncall@example.com"}}
        return str(self.channels.create_notification_channel(name=P, notification_channel=channel).name)


@pytest.fixture
def alerts() -> Iterator[Alerts]:
    with running(project=PROJECT, storage_port=None) as emulator:
        yield Alerts(emulator, emulator.alert_policy_client(), emulator.notification_channel_client())


def test_a_created_policy_gets_server_assigned_names_enabled_and_records(alerts: Alerts) -> None:
    body = policy(name="projects/alert-project/alertPolicies/mine")
    body["conditions"][0]["name"] = "ignored"
    created = alerts.create(body)
    assert re.fullmatch(rf"{P}/alertPolicies/\d+", created.name)
    assert re.fullmatch(rf"{re.escape(created.name)}/conditions/\d+", created.conditions[0].name)
    assert created.enabled is True
    assert created.creation_record.mutate_time == created.mutation_record.mutate_time
    assert created.user_labels == {"managed-by": "genaiops"}
    assert alerts.policies.get_alert_policy(name=created.name) == created


def test_a_policy_created_disabled_stays_disabled(alerts: Alerts) -> None:
    created = alerts.create(policy(enabled=False))
    assert created.enabled is False


def test_get_of_a_missing_policy_is_not_found(alerts: Alerts) -> None:
    with pytest.raises(exceptions.NotFound):
        alerts.policies.get_alert_policy(name=f"{P}/alertPolicies/123")


@pytest.mark.parametrize(
    "text",
    [
        'user_labels.managed-by = "genaiops"',
        'user_labels["managed-by"] = "genaiops"',
        "user_label.managed-by = genaiops",
        'userLabels.managed-by = "genaiops" AND NOT display_name = "other"',
        'user_labels.team = "x" OR user_labels."managed-by" : "genai"',
        'user_labels:"managed-by"',
    ],
)
def test_list_keeps_only_the_policies_the_user_label_filter_selects(alerts: Alerts, text: str) -> None:
    mine = alerts.create(policy())
    alerts.create(policy(display_name="other", user_labels={"team": "y"}))
    assert [p.name for p in alerts.listed(filter=text)] == [mine.name]


def test_list_pages_through_every_policy_with_page_tokens(alerts: Alerts) -> None:
    created = [alerts.create(policy(display_name=f"p{i}")).name for i in range(5)]
    pager = alerts.policies.list_alert_policies(request={"name": P, "page_size": 2})
    pages = [list(page.alert_policies) for page in pager.pages]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(p.name for page in pages for p in page) == sorted(created)


def test_list_orders_by_a_field_descending(alerts: Alerts) -> None:
    for name in ("b", "c", "a"):
        alerts.create(policy(display_name=name))
    assert [p.display_name for p in alerts.listed(order_by="-display_name")] == ["c", "b", "a"]


def test_a_page_token_of_another_query_is_refused(alerts: Alerts) -> None:
    for i in range(3):
        alerts.create(policy(display_name=f"p{i}"))
    first = alerts.policies.list_alert_policies(request={"name": P, "page_size": 1})
    token = next(iter(first.pages)).next_page_token
    request = {"name": P, "page_size": 1, "page_token": token, "filter": 'display_name = "p1"'}
    with pytest.raises(exceptions.InvalidArgument, match="page"):
        list(alerts.policies.list_alert_policies(request=request))


@pytest.mark.parametrize("text", ['user_labels.x = "a" AND', "no_such_field = 1", "display_name.size > 3"])
def test_a_bad_list_filter_is_invalid_argument_naming_the_filter(alerts: Alerts, text: str) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="Field filter had an invalid value"):
        alerts.listed(filter=text)


def test_update_with_a_mask_sets_only_the_listed_fields(alerts: Alerts) -> None:
    created = alerts.create(policy(user_labels={"managed-by": "genaiops", "team": "a"}))
    supplied = monitoring_v3.AlertPolicy(name=created.name, display_name="renamed", user_labels={"team": "b"})
    mask = {"paths": ["display_name", "user_label.team", "documentation"]}
    updated = alerts.policies.update_alert_policy(alert_policy=supplied, update_mask=mask)
    assert updated.display_name == "renamed"
    assert updated.user_labels == {"managed-by": "genaiops", "team": "b"}
    assert updated.conditions == created.conditions  # not listed: kept, names included
    assert updated.creation_record == created.creation_record
    assert updated.mutation_record.mutate_time.timestamp() >= created.mutation_record.mutate_time.timestamp()


def test_update_without_a_mask_replaces_the_policy_keeping_named_condition_ids(alerts: Alerts) -> None:
    created = alerts.create(policy(documentation={"content": "runbook", "mime_type": "text/markdown"}))
    kept = created.conditions[0].name
    body = policy(display_name="replaced", combiner="AND")
    body["conditions"][0]["name"] = kept
    body["conditions"].append({"display_name": "new", "condition_threshold": threshold(threshold_value=9.0)})
    updated = alerts.policies.update_alert_policy(alert_policy={"name": created.name, **body})
    assert updated.name == created.name and updated.display_name == "replaced"
    assert updated.conditions[0].name == kept
    assert updated.conditions[1].name.startswith(f"{created.name}/conditions/") and updated.conditions[1].name != kept
    assert not updated.documentation.content  # replaced: what the new policy lacks is gone


def test_an_update_is_checked_like_a_create(alerts: Alerts) -> None:
    created = alerts.create(policy())
    with pytest.raises(exceptions.InvalidArgument, match=r"alert_policy\.display_name"):
        alerts.policies.update_alert_policy(
            alert_policy={"name": created.name}, update_mask={"paths": ["display_name"]}
        )


def test_update_of_a_missing_policy_is_not_found(alerts: Alerts) -> None:
    with pytest.raises(exceptions.NotFound):
        alerts.policies.update_alert_policy(alert_policy={"name": f"{P}/alertPolicies/1", **policy()})


def test_delete_removes_the_policy(alerts: Alerts) -> None:
    created = alerts.create(policy())
    alerts.policies.delete_alert_policy(name=created.name)
    assert alerts.listed() == []
    with pytest.raises(exceptions.NotFound):
        alerts.policies.delete_alert_policy(name=created.name)


def _condition(body: dict[str, Any]) -> dict[str, Any]:
    condition: dict[str, Any] = body["conditions"][0]["condition_threshold"]
    return condition


def _set(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.update(fields)


def _threshold(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: _condition(body).update(fields)


def _aggregation(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: _condition(body).update(aggregations=[fields])


def _absent(duration: int) -> Callable[[dict[str, Any]], None]:
    absent = {"filter": FILTER, "duration": {"seconds": duration}}
    return lambda body: body.update(conditions=[{"display_name": "silent", "condition_absent": absent}])


_CONDITION = "alert_policy.conditions[0]"
_THRESHOLD = f"{_CONDITION}.condition_threshold"
INVALID: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no display name", _set(display_name=""), "alert_policy.display_name"),
    ("no condition", _set(conditions=[]), "alert_policy.conditions"),
    ("seven conditions", lambda b: b.update(conditions=b["conditions"] * 7), "alert_policy.conditions"),
    (
        "two conditions no combiner",
        lambda b: b.update(conditions=b["conditions"] * 2, combiner=0),
        "alert_policy.combiner",
    ),
    ("unknown combiner", _set(combiner=7), "alert_policy.combiner"),
    ("unknown severity", _set(severity=9), "alert_policy.severity"),
    ("condition of no kind", _set(conditions=[{"display_name": "empty"}]), _CONDITION),
    (
        "MQL condition",
        _set(conditions=[{"display_name": "q", "condition_monitoring_query_language": {"query": "fetch x"}}]),
        f"{_CONDITION}.condition_monitoring_query_language",
    ),
    ("filter syntax", _threshold(filter='metric.type = "x" AND ('), f"{_THRESHOLD}.filter"),
    ("no filter", _threshold(filter=""), f"{_THRESHOLD}.filter"),
    ("filter without metric.type", _threshold(filter=f'resource.type = "{ENDPOINT}"'), f"{_THRESHOLD}.filter"),
    ("filter without resource.type", _threshold(filter=f'metric.type = "{ERRORS}"'), f"{_THRESHOLD}.filter"),
    ("duration not whole minutes", _threshold(duration={"seconds": 90}), f"{_THRESHOLD}.duration"),
    ("no comparison", _threshold(comparison=0), f"{_THRESHOLD}.comparison"),
    ("comparison GE", _threshold(comparison="COMPARISON_GE"), f"{_THRESHOLD}.comparison"),
    ("trigger percent above 100", _threshold(trigger={"percent": 150}), f"{_THRESHOLD}.trigger.percent"),
    (
        "missing-data control with no duration",
        _threshold(duration={"seconds": 0}, evaluation_missing_data="EVALUATION_MISSING_DATA_ACTIVE"),
        f"{_THRESHOLD}.evaluation_missing_data",
    ),
    (
        "alignment period under 60s",
        _aggregation(alignment_period={"seconds": 30}, per_series_aligner="ALIGN_RATE"),
        f"{_THRESHOLD}.aggregations[0].alignment_period",
    ),
    (
        "alignment period over 25h",
        _aggregation(alignment_period={"seconds": 90060}, per_series_aligner="ALIGN_RATE"),
        f"{_THRESHOLD}.aggregations[0].alignment_period",
    ),
    (
        "aligner without a period",
        _aggregation(per_series_aligner="ALIGN_RATE"),
        f"{_THRESHOLD}.aggregations[0].alignment_period",
    ),
    (
        "reducer without an aligner",
        _aggregation(alignment_period={"seconds": 60}, cross_series_reducer="REDUCE_SUM"),
        f"{_THRESHOLD}.aggregations[0].per_series_aligner",
    ),
    (
        "percentile aligner on a counter",
        _aggregation(alignment_period={"seconds": 60}, per_series_aligner="ALIGN_PERCENTILE_99"),
        f"{_THRESHOLD}.aggregations[0].per_series_aligner",
    ),
    ("absent for 60s", _absent(60), f"{_CONDITION}.condition_absent.duration"),
    ("absent for 150s", _absent(150), f"{_CONDITION}.condition_absent.duration"),
    ("upper-case label", _set(user_labels={"Team": "a"}), "alert_policy.user_labels"),
    ("label key starting with a digit", _set(user_labels={"1team": "a"}), "alert_policy.user_labels"),
    ("label value with a space", _set(user_labels={"team": "a b"}), "alert_policy.user_labels"),
    (
        "markdown only",
        _set(documentation={"content": "x", "mime_type": "text/html"}),
        "alert_policy.documentation.mime_type",
    ),
    (
        "channel that does not exist",
        _set(notification_channels=[f"{P}/notificationChannels/42"]),
        "alert_policy.notification_channels[0]",
    ),
    (
        "channel of another project",
        _set(notification_channels=["projects/other/notificationChannels/42"]),
        "alert_policy.notification_channels[0]",
    ),
    (
        "rate limit on a metric policy",
        _set(alert_strategy={"notification_rate_limit": {"period": {"seconds": 3600}}}),
        "alert_policy.alert_strategy.notification_rate_limit",
    ),
]


@pytest.mark.parametrize(("change", "field"), [(c, f) for _, c, f in INVALID], ids=[i for i, _, _ in INVALID])
def test_a_policy_the_api_refuses_is_invalid_argument_naming_the_field(
    alerts: Alerts, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    body = copy.deepcopy(policy())
    change(body)
    with pytest.raises(exceptions.InvalidArgument) as raised:
        alerts.create(body)
    assert f"Field {field} had an invalid value" in raised.value.message


def test_a_percentile_aligner_is_accepted_on_a_distribution_and_on_an_unknown_metric(alerts: Alerts) -> None:
    latencies = "aiplatform.googleapis.com/prediction/online/prediction_latencies"
    aggregation = {"alignment_period": {"seconds": 60}, "per_series_aligner": "ALIGN_PERCENTILE_99"}
    for metric in (latencies, "custom.googleapis.com/not/written/yet"):
        body = policy()
        _condition(body).update(filter=f'metric.type = "{metric}" AND resource.type = "{ENDPOINT}"')
        _condition(body).update(aggregations=[aggregation])
        assert alerts.create(body).conditions[0].condition_threshold.aggregations[0].per_series_aligner == 18


def test_a_policy_names_an_existing_channel_of_its_project(alerts: Alerts) -> None:
    channel = alerts.email_channel()
    created = alerts.create(policy(notification_channels=[channel]))
    assert list(created.notification_channels) == [channel]


def test_rest_creates_lists_by_label_patches_with_a_mask_and_deletes(alerts: Alerts) -> None:
    base = f"{alerts.emulator.rest_endpoint}/v3/{P}/alertPolicies"
    body = monitoring_v3.AlertPolicy.to_dict(monitoring_v3.AlertPolicy(policy()), use_integers_for_enums=False)
    created = requests.post(base, json=body, timeout=10)
    assert created.status_code == 200, created.text
    name = created.json()["name"]
    listed = requests.get(base, params={"filter": 'user_labels.managed-by="genaiops"'}, timeout=10).json()
    assert [p["name"] for p in listed["alertPolicies"]] == [name] and listed["totalSize"] == 1
    url = f"{alerts.emulator.rest_endpoint}/v3/{name}"
    patched = requests.patch(url, params={"updateMask": "display_name"}, json={"displayName": "renamed"}, timeout=10)
    assert patched.json()["displayName"] == "renamed" and patched.json()["conditions"] == created.json()["conditions"]
    assert requests.delete(url, timeout=10).json() == {}
    assert requests.get(url, timeout=10).status_code == 404


def test_rest_answers_a_refused_policy_with_400_naming_the_field(alerts: Alerts) -> None:
    body = monitoring_v3.AlertPolicy.to_dict(monitoring_v3.AlertPolicy(policy(display_name="")))
    answer = requests.post(f"{alerts.emulator.rest_endpoint}/v3/{P}/alertPolicies", json=body, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "alert_policy.display_name" in answer.json()["error"]["message"]


def test_policies_and_channels_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running(project=PROJECT, state_path=state, storage_port=None, rest_port=None) as emulator:
        channel = {"type_": "email", "labels": {"email_address": "a@example.com"}}
        channel_name = (
            emulator.notification_channel_client()
            .create_notification_channel(name=P, notification_channel=channel)
            .name
        )
        created = emulator.alert_policy_client().create_alert_policy(
            name=P, alert_policy=policy(notification_channels=[channel_name])
        )
    assert (tmp_path / "state.alerting.json").is_file()
    with running(project=PROJECT, state_path=state, storage_port=None, rest_port=None) as emulator:
        assert emulator.alert_policy_client().get_alert_policy(name=created.name) == created
        assert emulator.notification_channel_client().get_notification_channel(name=channel_name).name == channel_name

"""Alerts compiled to Cloud Monitoring bodies (controller/plans/alert_compile.py), checked against what Google
documents: the table tests/cases/alert_policies.yaml gives, for every built-in metric on every target kind,
the metric type read, the aligner, reducer, alignment period and threshold, with the Google pages each rests
on; the metric types' kinds are checked against the runtime's descriptors and the emulator's copy of Google's
metric list, and every compiled aggregation against the kinds each aligner and reducer is documented for.
Then whole conditions, thresholds with units, the policy's other fields and each kind of channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api import metric_pb2

from controller.emulator.metrics_descriptors import BUILTIN
from controller.model import Alert, NotificationChannel
from controller.plans.alert_compile import (
    AlertCompileError,
    UnresolvedDeploymentError,
    compile_channel,
    compile_policy,
)
from controller.runtime.aggregate import ALL_METRICS
from tests.builders import endpoint

TABLE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent.parent / "cases" / "alert_policies.yaml").read_text(encoding="utf-8")
)
PROJECT = "acme"
SUPPORT_CHAT = endpoint("support-chat", region="us-central1")
CHANNELS = {"oncall": "projects/acme/notificationChannels/11", "slack": "projects/acme/notificationChannels/7"}
_KIND = metric_pb2.MetricDescriptor.MetricKind
_VALUE = metric_pb2.MetricDescriptor.ValueType


def alert(spec: dict[str, Any], *, name: str = "watch", labels: dict[str, str] | None = None) -> Alert:
    return Alert.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Alert",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": spec,
        }
    )


def compiled(spec: dict[str, Any], **kw: Any) -> dict[str, Any]:
    manifest = alert(spec)
    ep = SUPPORT_CHAT if manifest.spec.target.endpoint is not None else None
    return compile_policy(manifest, project=PROJECT, endpoint=ep, channels=CHANNELS, **kw)


def _metric_cases() -> list[Any]:
    return [
        pytest.param(case, target, id=f"{case['metric']} on {target}: {case['name']}")
        for case in TABLE["metrics"]
        for target in case["targets"]
    ]


def _cites_google(sources: list[str]) -> bool:
    return bool(sources) and all(s.startswith("https://") for s in sources)


@pytest.mark.parametrize(("case", "target_kind"), _metric_cases())
def test_each_builtin_metric_compiles_to_the_documented_filter_and_aggregation(
    case: dict[str, Any], target_kind: str
) -> None:
    target = TABLE["targets"][target_kind]
    expect = case["expect"]
    assert _cites_google(case["sources"]) and _cites_google(target["sources"])
    spec = {"target": target["target"], "metric": case["metric"], "threshold": case["threshold"]}
    if "comparison" in case:
        spec["comparison"] = case["comparison"]
    body = compiled(spec, deployed_model_ids=target.get("deployed_model_ids"))
    condition = body["conditions"][0]["conditionThreshold"]

    def flt(metric: str, extra: list[str]) -> str:
        head = [f'metric.type = "{metric}"', f'resource.type = "{target["resource"]}"']
        return " AND ".join([*head, *target["terms"], *extra])

    assert condition["filter"] == flt(expect["metric"], expect.get("extra", []))
    aggregation = {
        "alignmentPeriod": expect["period"],
        "perSeriesAligner": expect["aligner"],
        "crossSeriesReducer": expect["reducer"],
    }
    if target["group_by"]:
        aggregation["groupByFields"] = target["group_by"]
    assert condition["aggregations"] == [aggregation]
    if "denominator" in expect:
        assert condition["denominatorFilter"] == flt(expect["denominator"], [])
        assert condition["denominatorAggregations"] == [aggregation]
    else:
        assert "denominatorFilter" not in condition
    assert condition["comparison"] == expect.get("comparison", "COMPARISON_GT")
    assert condition["thresholdValue"] == pytest.approx(expect["value"])
    assert condition["duration"] == "300s"
    assert condition["trigger"] == {"count": 1}


def test_every_builtin_metric_and_target_kind_has_a_case() -> None:
    from controller.model.alert import ENDPOINT_ALERT_METRICS, RUNTIME_ALERT_METRICS

    covered = {(c["metric"], t) for c in TABLE["metrics"] for t in c["targets"]}
    wanted = {(m, t) for m in ENDPOINT_ALERT_METRICS for t in ("endpoint", "deployment")}
    wanted |= {(m, t) for m in RUNTIME_ALERT_METRICS for t in ("prompt", "label", "project")}
    assert wanted <= covered


def test_the_documented_metric_types_match_the_runtime_descriptors_and_vertex_metric_list() -> None:
    runtime = {m.type: m for m in ALL_METRICS}
    for metric_type, documented in TABLE["metric_types"].items():
        assert documented["source"].startswith("https://")
        if metric_type in runtime:
            written = runtime[metric_type]
            assert (documented["kind"], documented["value"], documented["unit"]) == (
                "CUMULATIVE",
                str(written.value_type),
                written.unit,
            )
        else:
            vertex = BUILTIN[metric_type]
            assert documented["kind"] == _KIND.Name(vertex.kind)
            assert documented["value"] == _VALUE.Name(vertex.value_type)
            assert documented["unit"] == vertex.unit
            assert documented["resource"] in vertex.resource_types


def _aggregations(condition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [(condition["filter"], a) for a in condition["aggregations"]]
    if "denominatorFilter" in condition:
        out += [(condition["denominatorFilter"], a) for a in condition["denominatorAggregations"]]
    return out


@pytest.mark.parametrize(("case", "target_kind"), _metric_cases())
def test_each_aligner_and_reducer_is_valid_for_the_metric_kind_google_documents(
    case: dict[str, Any], target_kind: str
) -> None:
    target = TABLE["targets"][target_kind]
    spec = {"target": target["target"], "metric": case["metric"], "threshold": case["threshold"]}
    for absent in (False, True):
        if absent:
            spec = {"target": target["target"], "metric": case["metric"], "absent": True}
        body = compiled(spec, deployed_model_ids=target.get("deployed_model_ids"))
        condition = body["conditions"][0]
        condition = condition.get("conditionThreshold") or condition["conditionAbsent"]
        for flt, aggregation in _aggregations(condition):
            metric_type = flt.split('"')[1]
            documented = TABLE["metric_types"][metric_type]
            assert f'resource.type = "{documented["resource"]}"' in flt
            aligner = TABLE["aligners"][aggregation["perSeriesAligner"]]
            assert documented["kind"] in aligner["kinds"] and documented["value"] in aligner["values"]
            out_kind = documented["kind"] if aligner["out_kind"] == "same" else aligner["out_kind"]
            out_value = documented["value"] if aligner["out_value"] == "same" else aligner["out_value"]
            reducer = TABLE["reducers"][aggregation["crossSeriesReducer"]]
            assert out_kind in reducer["kinds"] and out_value in reducer["values"]
            period = int(aggregation["alignmentPeriod"].removesuffix("s"))
            bounds = TABLE["alignment_period_s"]
            assert bounds["min"] <= period <= bounds["max"]


@pytest.mark.parametrize("case", TABLE["literal"], ids=[c["name"] for c in TABLE["literal"]])
def test_whole_conditions_compile_as_written(case: dict[str, Any]) -> None:
    assert _cites_google(case["sources"])
    body = compiled(case["alert"])
    assert body["conditions"] == [case["condition"]]


@pytest.mark.parametrize(
    "case", TABLE["thresholds"], ids=[f"{c['metric']} {c['threshold']}" for c in TABLE["thresholds"]]
)
def test_thresholds_with_units_are_normalised_or_refused(case: dict[str, Any]) -> None:
    spec: dict[str, Any] = {"target": {"project": True}, "threshold": case["threshold"]}
    if case["metric"] is None:
        spec["query"] = 'metric.type = "custom.googleapis.com/x" AND resource.type = "global"'
    else:
        spec["metric"] = case["metric"]
    if "error" in case:
        with pytest.raises(AlertCompileError, match=case["error"]):
            compiled(spec)
        return
    value = compiled(spec)["conditions"][0]["conditionThreshold"]["thresholdValue"]
    assert value == pytest.approx(case["value"])


def test_the_policy_carries_name_labels_documentation_severity_channels_and_enabled() -> None:
    manifest = alert(
        {
            "target": {"endpoint": "support-chat"},
            "metric": "error-rate",
            "threshold": "5%",
            "severity": "critical",
            "documentation": "Check the canary first: `genaiops rollout status support-chat`.",
            "notify": ["slack", "oncall"],
            "enabled": False,
            "displayName": "Support chat errors",
        },
        name="chat-errors",
        labels={"team": "support"},
    )
    body = compile_policy(manifest, project=PROJECT, endpoint=SUPPORT_CHAT, channels=CHANNELS)
    assert body["displayName"] == "Support chat errors"
    assert body["userLabels"] == {"team": "support", "managed-by": "genaiops", "genaiops-alert": "chat-errors"}
    assert body["documentation"] == {
        "content": "Check the canary first: `genaiops rollout status support-chat`.",
        "mimeType": "text/markdown",
    }
    assert body["severity"] == "CRITICAL"
    assert body["notificationChannels"] == [
        "projects/acme/notificationChannels/11",
        "projects/acme/notificationChannels/7",
    ]
    assert body["enabled"] is False
    assert body["combiner"] == "OR"
    assert len(body["conditions"]) == 1


def test_a_plain_policy_is_named_after_its_manifest_with_no_documentation_or_channels() -> None:
    body = compiled({"target": {"project": True}, "metric": "cost-per-day", "threshold": "$100"})
    assert body["displayName"] == "watch"
    assert body["severity"] == "WARNING"
    assert body["enabled"] is True
    assert "documentation" not in body and "notificationChannels" not in body


@pytest.mark.parametrize(
    ("severity", "expected"), [("critical", "CRITICAL"), ("error", "ERROR"), ("warning", "WARNING")]
)
def test_severity_maps_to_the_api_enum(severity: str, expected: str) -> None:
    body = compiled({"target": {"project": True}, "metric": "request-count", "threshold": 1, "severity": severity})
    assert body["severity"] == expected


@pytest.mark.parametrize(
    ("comparison", "expected"),
    [(">", "COMPARISON_GT"), (">=", "COMPARISON_GE"), ("<", "COMPARISON_LT"), ("<=", "COMPARISON_LE")],
)
def test_comparisons_map_to_the_api_enum(comparison: str, expected: str) -> None:
    spec = {"target": {"project": True}, "metric": "request-count", "threshold": 1, "comparison": comparison}
    assert compiled(spec)["conditions"][0]["conditionThreshold"]["comparison"] == expected


def test_a_channel_the_caller_did_not_resolve_is_the_callers_error() -> None:
    manifest = alert({"target": {"project": True}, "metric": "cost-per-day", "threshold": 5, "notify": ["pager"]})
    with pytest.raises(AlertCompileError, match="pager"):
        compile_policy(manifest, project=PROJECT, endpoint=None, channels=CHANNELS)


def test_an_endpoint_target_needs_its_endpoint_manifest() -> None:
    manifest = alert({"target": {"endpoint": "support-chat"}, "metric": "error-rate", "threshold": 0.1})
    with pytest.raises(AlertCompileError, match="support-chat"):
        compile_policy(manifest, project=PROJECT, endpoint=None, channels={})
    with pytest.raises(AlertCompileError, match="support-chat"):
        compile_policy(manifest, project=PROJECT, endpoint=endpoint("other"), channels={})


def test_a_deployment_without_a_live_deployed_model_id_is_unresolved() -> None:
    spec = {"target": {"endpoint": "support-chat", "deployment": "primary"}, "metric": "error-rate", "threshold": 0.1}
    with pytest.raises(UnresolvedDeploymentError, match="primary"):
        compiled(spec)
    with pytest.raises(UnresolvedDeploymentError):
        compiled(spec, deployed_model_ids={"canary": "1"})


def test_a_query_placeholder_the_target_does_not_give_is_refused() -> None:
    spec = {"target": {"project": True}, "query": 'metric.type = "x" AND resource.labels.id = "${endpoint_id}"'}
    with pytest.raises(AlertCompileError, match=r"\$\{endpoint_id\}"):
        compiled({**spec, "threshold": 1})


def test_query_placeholders_are_escaped_and_the_project_is_always_known() -> None:
    spec = {"target": {"project": True}, "query": 'metric.type = "x" AND resource.labels.project_id = "${project}"'}
    body = compile_policy(alert({**spec, "threshold": 1}), project='we"ird', endpoint=None, channels={})
    assert body["conditions"][0]["conditionThreshold"]["filter"].endswith('project_id = "we\\"ird"')


def test_compiling_is_deterministic() -> None:
    spec = {"target": {"prompt": "a", "label": "production"}, "metric": "latency-p95", "threshold": "2s"}
    assert compiled(spec) == compiled(spec)


def channel(spec: dict[str, Any], *, name: str = "alerts", labels: dict[str, str] | None = None) -> NotificationChannel:
    return NotificationChannel.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "NotificationChannel",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": spec,
        }
    )


@pytest.mark.parametrize("case", TABLE["channels"], ids=[c["name"] for c in TABLE["channels"]])
def test_each_kind_of_channel_compiles_to_its_documented_type_and_labels(case: dict[str, Any]) -> None:
    assert _cites_google(case["sources"])
    body = compile_channel(channel(case["spec"]), token=case.get("token"))
    assert body["type"] == case["expect"]["type"]
    assert body["labels"] == case["expect"]["labels"]
    assert body["userLabels"] == {"managed-by": "genaiops", "genaiops-alert": "alerts"}
    assert body["displayName"] == "alerts"
    assert body["enabled"] is True


def test_a_channel_keeps_its_display_name_description_labels_and_enabled() -> None:
    manifest = channel(
        {
            "type": "email",
            "address": "ml@example.com",
            "displayName": "ML on-call",
            "description": "Pages the ML on-call.",
            "enabled": False,
        },
        name="ml-oncall",
        labels={"team": "ml"},
    )
    body = compile_channel(manifest, token=None)
    assert body == {
        "type": "email",
        "displayName": "ML on-call",
        "description": "Pages the ML on-call.",
        "labels": {"email_address": "ml@example.com"},
        "userLabels": {"team": "ml", "managed-by": "genaiops", "genaiops-alert": "ml-oncall"},
        "enabled": False,
    }


def test_a_token_for_a_channel_that_takes_none_is_refused() -> None:
    with pytest.raises(AlertCompileError, match="no token"):
        compile_channel(channel({"type": "email", "address": "a@example.com"}), token="x")

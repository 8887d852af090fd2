"""Alert and NotificationChannel manifests compiled to Cloud Monitoring REST bodies (pure).

Place in the flow: the planner compares what `compile_policy` / `compile_channel` return with the observed
`ObservedAlertPolicy.body` / `ObservedNotificationChannel.body` and plans creates, updates and deletes
through `AlertsPort` (the integration adds the spec-hash user label). Nothing here does I/O.

One Alert is one `AlertPolicy` with one condition (combiner OR). How each built-in metric is read follows
what Google documents for its kind (the table test tests/plans/test_alert_compile.py cites the pages):

- ratios (`error-rate`, `safety-block-rate`, `cache-hit-rate`): a ratio condition, `filter` the numerator
  (errors, safety blocks, cache hits) and `denominatorFilter` every request, both aggregated alike (the API
  requires the same alignment period and labels): ALIGN_DELTA then REDUCE_SUM grouped by the target;
- latency percentiles on the distribution metric: ALIGN_DELTA then REDUCE_PERCENTILE_50/95/99 across
  series (ALIGN_PERCENTILE_xx is valid only for GAUGE and DELTA metrics and does not merge the series of
  several deployed models or processes; the runtime's latency is CUMULATIVE); Vertex AI's
  `prediction_latencies` is filtered on `latency_type = "total"` as canary analysis reads it; the
  streamed answers' `time-to-first-token-p*` read the runtime's `time_to_first_token` the same way
  (Prompt and project targets: Vertex AI publishes no such endpoint metric);
- `tokens-per-second`: the runtime's `output_tokens_per_second` distribution, ALIGN_DELTA then REDUCE_MEAN;
- counts (`request-count`, `input-tokens`, `output-tokens`): ALIGN_RATE then REDUCE_SUM, i.e. per second;
- `cost-per-hour` / `cost-per-day`: the runtime's cost (CUMULATIVE DOUBLE, dollars) with ALIGN_DELTA over a
  3,600 s / 86,400 s alignment period (a rolling window; the API allows up to 90,000 s for alert policies)
  then REDUCE_SUM: the dollars spent in the last hour or day;
- `feedback-score`: the rating distribution with ALIGN_DELTA then REDUCE_MEAN over a one-hour window (ratings
  are sparse): the mean rating of the last hour;
- `absent: true`: a `conditionAbsent` on the metric's traffic (for a ratio, the requests: errors legitimately
  stop), aligned over 60 s and reduced across the target so one replaced deployed model is not "absent".

Targets: an Endpoint filters `resource.type` and the resource labels `location` and `endpoint_id` (the
manifest's name is the endpoint id); a deployment adds the metric label `deployed_model_id`, which only the
live endpoint knows: pass `deployed_model_ids` (deployment name -> id), else `UnresolvedDeploymentError` is
raised (a deployment not deployed yet has nothing to alert on; a canary that replaces it changes the id, and
the policy with it). A Prompt filters the runtime's metric label `prompt` (and `label`); the project filters
only the metric. A custom `query` is the whole filter (with `${project}`, `${region}`, `${endpoint_id}`,
`${deployed_model_id}`, `${prompt}` and `${label}` filled in from the target), aligned and reduced as the
manifest says (default ALIGN_MEAN, REDUCE_SUM).

Comparisons map one to one (`>=` to COMPARISON_GE); Cloud Monitoring supports only COMPARISON_GT and
COMPARISON_LT, so the loader refuses `>=` and `<=` before anything is compiled (loader/alert_checks.py).
Every case of the table test is also created on the emulator through the real clients
(tests/emulator/test_compiled_alerts.py), which makes the API's checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE, Alert, Endpoint, NotificationChannel
from controller.model import metric_names as names
from controller.model.alert import AlertSpec, AlertTarget
from controller.model.alert_units import normalised_threshold
from controller.model.common import duration_seconds
from controller.observed import ALERT_LABEL

DEFAULT_PERIOD_S = 60  # the API's minimum alignment period
HOUR_S = 3600
DAY_S = 86_400
MAX_ALERT_ALIGNMENT_S = 90_000  # "90,000 seconds (25 hours) for alerting policies" (Aggregation.alignment_period)
MARKDOWN = "text/markdown"
DEFAULT_QUERY_ALIGNER = "ALIGN_MEAN"
DEFAULT_QUERY_REDUCER = "REDUCE_SUM"
COMPARISONS = {">": "COMPARISON_GT", ">=": "COMPARISON_GE", "<": "COMPARISON_LT", "<=": "COMPARISON_LE"}
SEVERITIES = {"critical": "CRITICAL", "error": "ERROR", "warning": "WARNING"}
CHANNEL_TYPES = {"email": "email", "webhook": "webhook_tokenauth", "pubsub": "pubsub", "slack": "slack"}
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")


class AlertCompileError(ValueError):
    """An Alert that cannot be compiled with what the caller passed (the loader reports manifest mistakes
    first; these are the caller's: a missing Endpoint, an unknown channel name, ...)."""


class UnresolvedDeploymentError(AlertCompileError):
    """A deployment target whose deployed model id is not known (not deployed yet, or not passed)."""


@dataclass(frozen=True)
class MetricShape:
    """How one built-in metric is read: its metric type (and the denominator's, for a ratio), the aligner,
    the cross-series reducer, the alignment period, and extra filter terms."""

    metric: str
    aligner: str
    reducer: str
    period_s: int = DEFAULT_PERIOD_S
    denominator: str | None = None
    extra: tuple[str, ...] = ()

    @property
    def traffic(self) -> str:
        """The metric whose absence means no traffic: the denominator of a ratio, else the metric."""
        return self.denominator or self.metric


_TOTAL_LATENCY = ('metric.labels.latency_type = "total"',)


def _vertex_latency(q: int) -> MetricShape:
    return MetricShape(names.PREDICTION_LATENCIES, "ALIGN_DELTA", f"REDUCE_PERCENTILE_{q}", extra=_TOTAL_LATENCY)


def _runtime(name: str, aligner: str, reducer: str, **kw: Any) -> MetricShape:
    return MetricShape(names.runtime_metric_type(name), aligner, reducer, **kw)


def _runtime_ratio(numerator: str) -> MetricShape:
    return _runtime(numerator, "ALIGN_DELTA", "REDUCE_SUM", denominator=names.runtime_metric_type(names.REQUESTS))


ENDPOINT_SHAPES: dict[str, MetricShape] = {
    "error-rate": MetricShape(names.ERROR_COUNT, "ALIGN_DELTA", "REDUCE_SUM", denominator=names.PREDICTION_COUNT),
    "latency-p50": _vertex_latency(50),
    "latency-p95": _vertex_latency(95),
    "latency-p99": _vertex_latency(99),
    "request-count": MetricShape(names.PREDICTION_COUNT, "ALIGN_RATE", "REDUCE_SUM"),
}
RUNTIME_SHAPES: dict[str, MetricShape] = {
    "error-rate": _runtime_ratio(names.ERRORS),
    "latency-p50": _runtime(names.LATENCY, "ALIGN_DELTA", "REDUCE_PERCENTILE_50"),
    "latency-p95": _runtime(names.LATENCY, "ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
    "latency-p99": _runtime(names.LATENCY, "ALIGN_DELTA", "REDUCE_PERCENTILE_99"),
    "request-count": _runtime(names.REQUESTS, "ALIGN_RATE", "REDUCE_SUM"),
    "cost-per-hour": _runtime(names.COST, "ALIGN_DELTA", "REDUCE_SUM", period_s=HOUR_S),
    "cost-per-day": _runtime(names.COST, "ALIGN_DELTA", "REDUCE_SUM", period_s=DAY_S),
    "input-tokens": _runtime(names.INPUT_TOKENS, "ALIGN_RATE", "REDUCE_SUM"),
    "output-tokens": _runtime(names.OUTPUT_TOKENS, "ALIGN_RATE", "REDUCE_SUM"),
    "safety-block-rate": _runtime_ratio(names.SAFETY_BLOCKS),
    "feedback-score": _runtime(names.FEEDBACK_SCORE, "ALIGN_DELTA", "REDUCE_MEAN", period_s=HOUR_S),
    "cache-hit-rate": _runtime_ratio(names.CACHE_HITS),
    # Streamed answers only (the runtime's timings; a prompt or project without streams has no series).
    "time-to-first-token-p50": _runtime(names.TIME_TO_FIRST_TOKEN, "ALIGN_DELTA", "REDUCE_PERCENTILE_50"),
    "time-to-first-token-p95": _runtime(names.TIME_TO_FIRST_TOKEN, "ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
    "time-to-first-token-p99": _runtime(names.TIME_TO_FIRST_TOKEN, "ALIGN_DELTA", "REDUCE_PERCENTILE_99"),
    "tokens-per-second": _runtime(names.TOKENS_PER_SECOND, "ALIGN_DELTA", "REDUCE_MEAN"),
}


def quote(value: str) -> str:
    """`value` as the inside of a double-quoted filter string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class Scope:
    """What a target contributes: filter terms after the metric type, group-by fields, placeholder values."""

    resource: str
    terms: tuple[str, ...]
    group_by: tuple[str, ...]
    values: Mapping[str, str]
    endpoint: bool

    def filter(self, metric_type: str, extra: tuple[str, ...] = ()) -> str:
        """`metric.type = ... AND resource.type = ... AND <target terms> AND <extra>`."""
        head = (f'metric.type = "{quote(metric_type)}"', f'resource.type = "{self.resource}"')
        return " AND ".join((*head, *self.terms, *extra))


def target_scope(
    target: AlertTarget,
    *,
    project: str,
    endpoint: Endpoint | None,
    deployed_model_ids: Mapping[str, str] | None = None,
) -> Scope:
    """The filter terms and grouping of a target. AlertCompileError without the Endpoint of an endpoint
    target; UnresolvedDeploymentError for a deployment whose id is not in `deployed_model_ids`."""
    values = {"project": project}
    if target.endpoint is not None:
        if endpoint is None or endpoint.metadata.name != target.endpoint:
            raise AlertCompileError(f"the alert watches Endpoint {target.endpoint!r}: pass that Endpoint manifest")
        region = endpoint.spec.region
        values |= {"region": region, "endpoint_id": target.endpoint}
        terms = [f'resource.labels.location = "{quote(region)}"', f'resource.labels.endpoint_id = "{target.endpoint}"']
        group_by = ["resource.label.endpoint_id"]
        if target.deployment is not None:
            deployed = (deployed_model_ids or {}).get(target.deployment)
            if deployed is None:
                raise UnresolvedDeploymentError(
                    f"deployment {target.deployment!r} of Endpoint {target.endpoint!r} has no deployed model id "
                    "(not deployed yet): pass it in deployed_model_ids"
                )
            values["deployed_model_id"] = deployed
            terms.append(f'metric.labels.deployed_model_id = "{quote(deployed)}"')
            group_by.append("metric.label.deployed_model_id")
        return Scope(names.ENDPOINT_RESOURCE, tuple(terms), tuple(group_by), values, endpoint=True)
    terms, group_by = [], []
    if target.prompt is not None:
        values["prompt"] = target.prompt
        terms.append(f'metric.labels.prompt = "{target.prompt}"')
        group_by.append("metric.label.prompt")
        if target.label is not None:
            values["label"] = target.label
            terms.append(f'metric.labels.label = "{quote(target.label)}"')
            group_by.append("metric.label.label")
    return Scope(names.RUNTIME_RESOURCE, tuple(terms), tuple(group_by), values, endpoint=False)


def _aggregation(period_s: int, aligner: str, reducer: str, group_by: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"alignmentPeriod": f"{period_s}s", "perSeriesAligner": aligner}
    if reducer != "REDUCE_NONE":
        out["crossSeriesReducer"] = reducer
        if group_by:
            out["groupByFields"] = list(group_by)
    return out


def _seconds(text: str) -> str:
    return f"{round(duration_seconds(text))}s"


def expand_query(query: str, values: Mapping[str, str]) -> str:
    """A custom query with its `${name}` placeholders filled in (escaped); AlertCompileError for one the
    target does not give."""

    def fill(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            known = ", ".join("${" + k + "}" for k in sorted(values))
            raise AlertCompileError(f"query placeholder ${{{name}}} is not known for this target (known: {known})")
        return quote(values[name])

    return _PLACEHOLDER.sub(fill, query)


def shape_of(spec: AlertSpec, scope: Scope) -> MetricShape:
    """The built-in metric's shape on this target; AlertCompileError for a runtime metric on an endpoint."""
    assert spec.metric is not None
    shapes = ENDPOINT_SHAPES if scope.endpoint else RUNTIME_SHAPES
    shape = shapes.get(spec.metric)
    if shape is None:
        raise AlertCompileError(f"metric {spec.metric!r} cannot be read for an endpoint: {', '.join(ENDPOINT_SHAPES)}")
    return shape


def compile_condition(spec: AlertSpec, scope: Scope) -> dict[str, Any]:
    """The condition body: `conditionThreshold` or `conditionAbsent` (without a displayName)."""
    duration = _seconds(spec.for_)
    if spec.query is not None:
        flt = expand_query(spec.query, scope.values)
        aggregation = _aggregation(
            DEFAULT_PERIOD_S, spec.aligner or DEFAULT_QUERY_ALIGNER, spec.reducer or DEFAULT_QUERY_REDUCER, ()
        )
        if spec.absent:
            return {"conditionAbsent": _absent(flt, aggregation, duration)}
        return {"conditionThreshold": _threshold(spec, flt, [aggregation], duration)}
    shape = shape_of(spec, scope)
    if spec.absent:
        aggregation = _aggregation(DEFAULT_PERIOD_S, shape.aligner, shape.reducer, scope.group_by)
        flt = scope.filter(shape.traffic, () if shape.denominator else shape.extra)
        return {"conditionAbsent": _absent(flt, aggregation, duration)}
    aggregations = [_aggregation(shape.period_s, shape.aligner, shape.reducer, scope.group_by)]
    body = _threshold(spec, scope.filter(shape.metric, shape.extra), aggregations, duration)
    if shape.denominator is not None:
        body["denominatorFilter"] = scope.filter(shape.denominator)
        body["denominatorAggregations"] = [dict(a) for a in aggregations]
    return {"conditionThreshold": body}


def _absent(flt: str, aggregation: dict[str, Any], duration: str) -> dict[str, Any]:
    return {"filter": flt, "aggregations": [aggregation], "duration": duration, "trigger": {"count": 1}}


def _threshold(spec: AlertSpec, flt: str, aggregations: list[dict[str, Any]], duration: str) -> dict[str, Any]:
    assert spec.threshold is not None
    try:
        value = normalised_threshold(spec.metric, spec.threshold)
    except ValueError as err:
        raise AlertCompileError(str(err)) from err
    return {
        "filter": flt,
        "aggregations": aggregations,
        "comparison": COMPARISONS[spec.comparison],
        "thresholdValue": value,
        "duration": duration,
        "trigger": {"count": 1},
    }


def describe_target(target: AlertTarget) -> str:
    """`Endpoint support-chat/primary`, `Prompt support-answer@production`, `the project`."""
    if target.endpoint is not None:
        return f"Endpoint {target.endpoint}" + (f"/{target.deployment}" if target.deployment else "")
    if target.prompt is not None:
        return f"Prompt {target.prompt}" + (f"@{target.label}" if target.label else "")
    return "the project"


def condition_name(spec: AlertSpec) -> str:
    """The condition's display name: `error-rate > 5% for 5m on Endpoint support-chat`."""
    what = spec.metric or "query"
    where = describe_target(spec.target)
    if spec.absent:
        return f"no {what} data for {spec.for_} on {where}"
    threshold = spec.threshold if isinstance(spec.threshold, str) else f"{spec.threshold:g}"
    return f"{what} {spec.comparison} {threshold} for {spec.for_} on {where}"


def policy_labels(alert: Alert) -> dict[str, str]:
    """The policy's user labels: the manifest's labels, managed-by and genaiops-alert."""
    return {**alert.metadata.labels, MANAGED_BY_LABEL: MANAGED_BY_VALUE, ALERT_LABEL: alert.metadata.name}


def compile_policy(
    alert: Alert,
    *,
    project: str,
    endpoint: Endpoint | None,
    channels: Mapping[str, str],
    deployed_model_ids: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The `AlertPolicy` REST body (camelCase) of an Alert. `endpoint` is the Endpoint manifest an endpoint
    target names (None otherwise); `channels` maps NotificationChannel manifest names to their resource
    names (projects/P/notificationChannels/ID); `deployed_model_ids` maps the endpoint's deployment names
    to their live deployed model ids (needed only for a deployment target). Raises AlertCompileError (or
    UnresolvedDeploymentError) for what the caller did not give; never for a manifest the loader accepted."""
    spec = alert.spec
    scope = target_scope(spec.target, project=project, endpoint=endpoint, deployed_model_ids=deployed_model_ids)
    missing = [name for name in spec.notify if name not in channels]
    if missing:
        raise AlertCompileError(f"unknown NotificationChannel {', '.join(map(repr, missing))}: pass its resource name")
    condition = {"displayName": condition_name(spec), **compile_condition(spec, scope)}
    body: dict[str, Any] = {
        "displayName": spec.display_name or alert.metadata.name,
        "userLabels": policy_labels(alert),
        "conditions": [condition],
        "combiner": "OR",
        "enabled": spec.enabled,
        "severity": SEVERITIES[spec.severity],
    }
    if spec.documentation:
        body["documentation"] = {"content": spec.documentation, "mimeType": MARKDOWN}
    if spec.notify:
        body["notificationChannels"] = sorted({channels[name] for name in spec.notify})
    return body


def compile_channel(channel: NotificationChannel, *, token: str | None) -> dict[str, Any]:
    """The `NotificationChannel` REST body of a manifest. `token` is the Slack bot token read from the
    manifest's `tokenSecret` (apply passes it; a plan may pass None to compare without it): it becomes the
    `auth_token` label, which the API never returns whole. AlertCompileError for a token on another type."""
    spec = channel.spec
    if token is not None and spec.type != "slack":
        raise AlertCompileError(f"a {spec.type} channel takes no token (only slack reads tokenSecret)")
    labels: dict[str, str]
    if spec.type == "email":
        labels = {"email_address": str(spec.address)}
    elif spec.type == "webhook":
        labels = {"url": str(spec.url)}
    elif spec.type == "pubsub":
        labels = {"topic": str(spec.topic)}
    else:
        labels = {"channel_name": "#" + str(spec.channel).removeprefix("#")}
        if token is not None:
            labels["auth_token"] = token
    body: dict[str, Any] = {
        "type": CHANNEL_TYPES[spec.type],
        "displayName": spec.display_name or channel.metadata.name,
        "labels": labels,
        "userLabels": {
            **channel.metadata.labels,
            MANAGED_BY_LABEL: MANAGED_BY_VALUE,
            ALERT_LABEL: channel.metadata.name,
        },
        "enabled": spec.enabled,
    }
    if spec.description:
        body["description"] = spec.description
    return body


__all__ = [
    "DAY_S",
    "DEFAULT_PERIOD_S",
    "ENDPOINT_SHAPES",
    "HOUR_S",
    "MAX_ALERT_ALIGNMENT_S",
    "RUNTIME_SHAPES",
    "AlertCompileError",
    "MetricShape",
    "Scope",
    "UnresolvedDeploymentError",
    "compile_channel",
    "compile_condition",
    "compile_policy",
    "condition_name",
    "describe_target",
    "expand_query",
    "policy_labels",
    "target_scope",
]

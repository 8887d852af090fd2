"""The checks Cloud Monitoring makes on an alert policy before it creates or updates it.

Part of the local emulator (controller/emulator): `alerting_policies.py` runs `check_policy` on the policy a
CreateAlertPolicy / UpdateAlertPolicy would store. Every failure is INVALID_ARGUMENT naming the field by
its proto path, in the API's words: `Field alert_policy.conditions[0].condition_threshold.duration had an
invalid value of "90s": ...`. Each rule cites where it comes from: "docstring" is the field's documentation
in google/monitoring/v3/alert.proto and common.proto (the installed google.cloud.monitoring_v3.types), and
"observed" an error the real API is reported to answer (quoted in the comment). No rule is stricter than the
API's; what the API checks but the emulator cannot (monitored-resource types exist, the metric exists:
`404 Cannot find metric(s) that match type`) is accepted. Only `condition_threshold` and `condition_absent`
conditions are emulated; the other kinds are refused with a message saying so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.cloud import monitoring_v3

from controller.emulator.api import ApiError
from controller.emulator.list_filter import invalid_field as invalid
from controller.emulator.metrics_filter import BoolOp, Comparison, Node, parse_filter
from controller.emulator.metrics_query import Aggregation, check_aggregation

# (project, metric type) -> (metric kind, value type) of a known metric descriptor, or None when unknown.
Describe = Callable[[str, str], tuple[int, int] | None]
_AGGREGATION = monitoring_v3.Aggregation.pb().DESCRIPTOR
_NAMES = {
    "aligner": {v.number: v.name for v in _AGGREGATION.fields_by_name["per_series_aligner"].enum_type.values},
    "reducer": {v.number: v.name for v in _AGGREGATION.fields_by_name["cross_series_reducer"].enum_type.values},
}
_GT, _LT = monitoring_v3.ComparisonType.COMPARISON_GT, monitoring_v3.ComparisonType.COMPARISON_LT
_EMULATED_CONDITIONS = ("condition_threshold", "condition_absent")
_CHANNEL = re.compile(r"projects/([^/]+)/notificationChannels/([^/]+)")


def _seconds(duration: Any) -> float:
    return float(duration.seconds) + float(duration.nanos) / 1e9


def check_enum(message: Any, name: str, path: str) -> None:
    """An enum field holds one of its declared values (a client may send any number)."""
    value = getattr(message, name)
    enum_type = message.DESCRIPTOR.fields_by_name[name].enum_type
    if value not in enum_type.values_by_number:
        raise invalid(f"{path}.{name}", str(value), f"not a value of {enum_type.name}")


def check_user_labels(labels: Mapping[str, str], path: str) -> None:
    """AlertPolicy.user_labels / NotificationChannel.user_labels (docstring): up to 64 entries; each key and
    value is limited to 63 Unicode characters or 128 bytes; only lowercase letters, numerals, underscores and
    dashes; keys must begin with a letter."""
    if len(labels) > 64:
        raise invalid(path, f"{len(labels)} entries", "The field can contain up to 64 entries.")
    for key, value in labels.items():
        for text in (key, value):
            if len(text) > 63 or len(text.encode("utf-8")) > 128:
                raise invalid(path, text, "Each key and value is limited to 63 Unicode characters or 128 bytes.")
            if not all(c.islower() or c.isdigit() or c in "_-" for c in text):
                why = "Labels can contain only lowercase letters, numerals, underscores and dashes."
                raise invalid(path, text, why)
        if not key[:1].isalpha():
            raise invalid(path, key, "Label keys must begin with a letter.")


def check_policy(policy: Any, *, project: str, describe: Describe, channel_exists: Callable[[str], bool]) -> None:
    """Raise INVALID_ARGUMENT for the first rule a raw `google.monitoring.v3.AlertPolicy` breaks."""
    path = "alert_policy"
    # display_name: required (Terraform's schema, generated from the API, marks it required; the brief's
    # rule), "limited to 512 Unicode characters" (docstring).
    if not policy.display_name.strip():
        raise invalid(f"{path}.display_name", policy.display_name, "A display name is required.")
    if len(policy.display_name) > 512:
        why = "The name is limited to 512 Unicode characters."
        raise invalid(f"{path}.display_name", policy.display_name[:40] + "...", why)
    if policy.HasField("documentation"):
        _check_documentation(policy.documentation, f"{path}.documentation")
    check_user_labels(policy.user_labels, f"{path}.user_labels")
    count = len(policy.conditions)
    if not 1 <= count <= 6:  # docstring: "A policy can have from one to six conditions."
        raise invalid(f"{path}.conditions", f"{count} conditions", "A policy can have from one to six conditions.")
    check_enum(policy, "combiner", path)
    # combiner: "How to combine the results of multiple conditions" (docstring): without one, two or more
    # conditions mean nothing.
    if count > 1 and policy.combiner == 0:
        why = "A policy with more than one condition needs a combiner: AND, OR or AND_WITH_MATCHING_RESOURCE."
        raise invalid(f"{path}.combiner", "COMBINE_UNSPECIFIED", why)
    for index, condition in enumerate(policy.conditions):
        _check_condition(condition, f"{path}.conditions[{index}]", project=project, describe=describe)
    check_enum(policy, "severity", path)
    _check_channels(policy, path, project=project, channel_exists=channel_exists)
    if policy.HasField("alert_strategy"):
        _check_strategy(policy, f"{path}.alert_strategy")


def _check_documentation(doc: Any, path: str) -> None:
    # Documentation docstring: content at most 8,192 Unicode characters and 10,240 bytes; "Presently, only
    # the value text/markdown is supported" (unset means the default); subject at most 10,240 bytes; links:
    # up to 3 entries, each display name 1..63 characters, url at most 2083 characters.
    if len(doc.content) > 8192 or len(doc.content.encode("utf-8")) > 10240:
        raise invalid(f"{path}.content", doc.content[:40] + "...", "The content may not exceed 8,192 characters.")
    if doc.mime_type not in ("", "text/markdown"):
        raise invalid(f"{path}.mime_type", doc.mime_type, 'Only "text/markdown" is supported.')
    if len(doc.subject.encode("utf-8")) > 10240:
        raise invalid(f"{path}.subject", doc.subject[:40] + "...", "The subject may not exceed 10,240 bytes.")
    if len(doc.links) > 3:
        raise invalid(f"{path}.links", f"{len(doc.links)} links", "This field can contain up to 3 entries.")
    for index, link in enumerate(doc.links):
        if not 1 <= len(link.display_name) <= 63:
            raise invalid(f"{path}.links[{index}].display_name", link.display_name, "must be 1 to 63 characters")
        if len(link.url) > 2083:
            raise invalid(f"{path}.links[{index}].url", link.url[:40] + "...", "must not exceed 2083 characters")


def _check_condition(condition: Any, path: str, *, project: str, describe: Describe) -> None:
    kind = condition.WhichOneof("condition")
    if kind is None:  # the `condition` oneof: one kind per condition (docstring)
        why = "A condition must set one of condition_threshold, condition_absent (the kinds the emulator serves)."
        raise invalid(path, condition.display_name, why)
    if kind not in _EMULATED_CONDITIONS:
        why = f"{kind} conditions are not emulated: the emulator serves condition_threshold and condition_absent."
        raise invalid(f"{path}.{kind}", condition.display_name, why)
    if kind == "condition_threshold":
        _check_threshold(condition.condition_threshold, f"{path}.condition_threshold", project, describe)
    else:
        _check_absent(condition.condition_absent, f"{path}.condition_absent", project, describe)


def _check_threshold(threshold: Any, path: str, project: str, describe: Describe) -> None:
    metric = _check_filter(threshold.filter, f"{path}.filter", need_resource=True)
    _check_aggregations(threshold.aggregations, f"{path}.aggregations", describe(project, metric))
    if threshold.denominator_filter:
        denominator = _check_filter(threshold.denominator_filter, f"{path}.denominator_filter", need_resource=False)
        denominators = threshold.denominator_aggregations
        _check_aggregations(denominators, f"{path}.denominator_aggregations", describe(project, denominator))
        # docstring: "the aggregations and denominator_aggregations fields must use the same alignment period"
        periods = {_seconds(a.alignment_period) for a in [*threshold.aggregations, *denominators]}
        if len(periods) > 1:
            why = "aggregations and denominator_aggregations must use the same alignment period"
            raise invalid(f"{path}.denominator_aggregations", ", ".join(f"{p:g}s" for p in sorted(periods)), why)
    check_enum(threshold, "comparison", path)
    # docstring: "Only COMPARISON_LT and COMPARISON_GT are supported currently"; observed: COMPARISON_GE is
    # refused (hashicorp/terraform-provider-google#16862, acknowledged by its maintainers).
    if threshold.comparison not in (_GT, _LT):
        name = monitoring_v3.ComparisonType(threshold.comparison).name
        why = "A comparison is required; only" if not threshold.comparison else "Only"
        raise invalid(f"{path}.comparison", name, f"{why} COMPARISON_GT and COMPARISON_LT are supported.")
    # docstring: "only values that are a multiple of a minute--e.g., 0, 60, 120, or 300 seconds--are supported"
    seconds = _seconds(threshold.duration)
    if seconds < 0 or threshold.duration.nanos or threshold.duration.seconds % 60:
        raise invalid(f"{path}.duration", f"{seconds:g}s", "The duration must be a multiple of 60 seconds.")
    _check_trigger(threshold, path)
    # docstring: "To use this control, the value of the duration field must be greater than or equal to 60
    # seconds"; observed: "Conditions setting evaluation_missing_data must have a non-zero duration."
    check_enum(threshold, "evaluation_missing_data", path)
    if threshold.evaluation_missing_data and seconds < 60:
        why = "Conditions setting evaluation_missing_data must have a duration of at least 60 seconds."
        name = monitoring_v3.AlertPolicy.Condition.EvaluationMissingData(threshold.evaluation_missing_data).name
        raise invalid(f"{path}.evaluation_missing_data", name, why)
    if threshold.HasField("forecast_options"):  # docstring: "can range from 1 hour to 60 hours"
        horizon = _seconds(threshold.forecast_options.forecast_horizon)
        if not 3600 <= horizon <= 60 * 3600:
            why = "The forecast horizon can range from 1 hour to 60 hours."
            raise invalid(f"{path}.forecast_options.forecast_horizon", f"{horizon:g}s", why)


def _check_absent(absent: Any, path: str, project: str, describe: Describe) -> None:
    metric = _check_filter(absent.filter, f"{path}.filter", need_resource=True)
    _check_aggregations(absent.aggregations, f"{path}.aggregations", describe(project, metric))
    # docstring: "The minimum value of this field is 120 seconds. Larger values that are a multiple of a
    # minute ... are supported ... The Duration.nanos field is ignored."
    seconds = absent.duration.seconds
    if seconds < 120 or seconds % 60:
        why = "The duration must be at least 120 seconds and a multiple of 60 seconds."
        raise invalid(f"{path}.duration", f"{seconds}s", why)
    _check_trigger(absent, path)


def _check_trigger(condition: Any, path: str) -> None:
    if not condition.HasField("trigger"):
        return  # docstring: "If not specified, then a {count: 1} trigger is used."
    trigger = condition.trigger
    if trigger.WhichOneof("type") == "count" and trigger.count < 0:
        raise invalid(f"{path}.trigger.count", str(trigger.count), "The count must not be negative.")
    if trigger.WhichOneof("type") == "percent" and not 0 <= trigger.percent <= 100:
        raise invalid(f"{path}.trigger.percent", f"{trigger.percent:g}", "The percent must be between 0 and 100.")


def _restricts_resource_type(node: Node | None) -> bool:
    if isinstance(node, Comparison):
        return node.selector[0] == "resource.type"
    return isinstance(node, BoolOp) and any(_restricts_resource_type(o) for o in node.operands)


def _check_filter(text: str, path: str, *, need_resource: bool) -> str:
    """The metric type the filter names. MetricThreshold.filter / MetricAbsence.filter (docstring): "Required
    ... The filter must specify the metric type and the resource type ... must not exceed 2048 Unicode
    characters"; observed: 'must specify a restriction on "resource.type" in the filter'. The denominator
    filter "must specify the metric type and optionally may contain restrictions on resource type"."""
    if not text.strip():
        raise invalid(path, text, "A filter is required.")
    if len(text) > 2048:
        raise invalid(path, text[:40] + "...", "The filter must not exceed 2048 characters.")
    try:
        parsed = parse_filter(text)
        metric = parsed.single_metric_type()
    except ApiError as err:  # the metrics parser names `filter`: name the condition's field instead
        why = err.message.removeprefix(f"Field filter had an invalid value of {text!r}: ")
        raise invalid(path, text, why) from None
    if need_resource and not _restricts_resource_type(parsed.root):
        why = 'must specify a restriction on "resource.type" in the filter'
        raise invalid(path, text, why)
    return metric


def _check_aggregations(aggregations: Any, path: str, metric: tuple[int, int] | None) -> None:
    for index, aggregation in enumerate(aggregations):
        _check_aggregation(aggregation, f"{path}[{index}]", metric)


def _check_aggregation(aggregation: Any, path: str, metric: tuple[int, int] | None) -> None:
    """Aggregation docstrings (common.proto): alignment_period "must be at least 60 seconds", at most "90,000
    seconds (25 hours) for alerting policies", and required with an aligner other than ALIGN_NONE; a
    cross_series_reducer needs a per_series_aligner other than ALIGN_NONE and an alignment_period; "Not all
    alignment operations may be applied to all time series" (checked when the emulator knows the metric's
    kind and value type; observed: `Field aggregation.perSeriesAligner had an invalid value of "ALIGN_RATE":
    The aligner cannot be applied to metrics with kind DELTA and value type DISTRIBUTION.`)."""
    check_enum(aggregation, "per_series_aligner", path)
    check_enum(aggregation, "cross_series_reducer", path)
    has_period = aggregation.HasField("alignment_period")
    period = _seconds(aggregation.alignment_period)
    if has_period and period < 60:
        raise invalid(f"{path}.alignment_period", f"{period:g}s", "The alignment period must be at least 60 seconds.")
    if has_period and period > 90000:
        why = "The alignment period of an alerting policy must be at most 90,000 seconds (25 hours)."
        raise invalid(f"{path}.alignment_period", f"{period:g}s", why)
    aligner, reducer = aggregation.per_series_aligner, aggregation.cross_series_reducer
    if aligner and not has_period:
        why = "An alignment period is required with a per-series aligner other than ALIGN_NONE."
        raise invalid(f"{path}.alignment_period", "", why)
    if reducer and not aligner:
        why = "A cross-series reducer requires a per-series aligner other than ALIGN_NONE."
        raise invalid(f"{path}.per_series_aligner", "ALIGN_NONE", why)
    if metric is None:
        return
    try:
        check_aggregation(Aggregation(period, aligner, reducer), kind=metric[0], value_type=metric[1], names=_NAMES)
    except ApiError as err:
        if err.code == grpc.StatusCode.UNIMPLEMENTED:
            return  # an aligner the emulator cannot compute: a policy is only stored, so accept it
        message = err.message.replace("aggregation.perSeriesAligner", f"{path}.per_series_aligner")
        message = message.replace("aggregation.crossSeriesReducer", f"{path}.cross_series_reducer")
        message = re.sub(r"invalid value of '([^']*)':", r'invalid value of "\1":', message)
        raise ApiError(err.code, message) from None


def _check_channels(policy: Any, path: str, *, project: str, channel_exists: Callable[[str], bool]) -> None:
    # docstring: each entry is "projects/[PROJECT_ID_OR_NUMBER]/notificationChannels/[CHANNEL_ID]", the name
    # of a NotificationChannel of the project.
    for index, name in enumerate(policy.notification_channels):
        found = _CHANNEL.fullmatch(name)
        field = f"{path}.notification_channels[{index}]"
        if found is None or found.group(1) != project:
            raise invalid(field, name, f"expected projects/{project}/notificationChannels/[CHANNEL_ID]")
        if not channel_exists(name):
            raise invalid(field, name, "No notification channel with this name exists in the project.")


def _check_strategy(policy: Any, path: str) -> None:
    strategy = policy.alert_strategy
    # observed: 'Field alertStrategy.notificationRateLimit had an invalid value ...: metric-based alert policies
    # must not specify a notification rate limit' (the emulator stores only metric-based policies).
    if strategy.HasField("notification_rate_limit"):
        why = "metric-based alert policies must not specify a notification rate limit"
        raise invalid(f"{path}.notification_rate_limit", str(strategy.notification_rate_limit.period.seconds), why)
    # docstring: "For non log-based alert policies, the notification prompts can be [OPENED] or [OPENED,
    # CLOSED]"; NOTIFICATION_PROMPT_UNSPECIFIED: "Treated as error."
    prompts = sorted(set(strategy.notification_prompts))
    if strategy.notification_prompts and prompts not in ([1], [1, 3]):
        why = "The notification prompts can be [OPENED] or [OPENED, CLOSED]."
        raise invalid(f"{path}.notification_prompts", str(list(strategy.notification_prompts)), why)
    # docstring: each name corresponds to "one of the NotificationChannel objects referenced in the
    # notification_channels field of this AlertPolicy"
    for index, channel_strategy in enumerate(strategy.notification_channel_strategy):
        for name in channel_strategy.notification_channel_names:
            if name not in policy.notification_channels:
                field = f"{path}.notification_channel_strategy[{index}].notification_channel_names"
                raise invalid(field, name, "must be one of the policy's notification_channels")

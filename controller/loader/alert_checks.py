"""Checks of Alert manifests that need other manifests or Cloud Monitoring's documented limits, run over the
whole load with the other set checks (`check_alert_set`).

- References: the Endpoint (and its deployment), the Prompt (and a label it declares) and every
  NotificationChannel an Alert names exist among the manifests, with a did-you-mean at the field.
- Thresholds carry the metric's unit (controller/model/alert_units.py): a ratio 0..1 or 0%..100%, a latency
  in ms or s or a plain number of milliseconds, dollars for costs, a rating 1..5 for feedback-score.
- `for` is a whole number of minutes (MetricThreshold.duration: "a multiple of a minute"), and at least
  2m for `absent` (MetricAbsence.duration: "the minimum value of this field is 120 seconds").
- A custom `query` names `metric.type` and `resource.type` (an alert filter must specify both) and only the
  `${...}` placeholders its target fills in.
- `>=` and `<=` are errors: Cloud Monitoring supports only COMPARISON_GT and COMPARISON_LT (MetricThreshold.comparison;
  the API refuses COMPARISON_GE, hashicorp/terraform-provider-google#16862).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from controller.diagnostics import Diagnostic
from controller.loader.checks import Located
from controller.model import Alert, Endpoint, NotificationChannel, Prompt, duration_seconds
from controller.model.alert import AlertTarget
from controller.model.alert_units import normalised_threshold
from controller.model.suggest import did_you_mean

ABSENT_MINIMUM_S = 120
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")


def query_placeholders(target: AlertTarget) -> tuple[str, ...]:
    """The `${...}` names a custom query may use on this target (compile_policy fills them in)."""
    names = ["project"]
    if target.endpoint is not None:
        names += ["region", "endpoint_id"]
        if target.deployment is not None:
            names.append("deployed_model_id")
    if target.prompt is not None:
        names.append("prompt")
        if target.label is not None:
            names.append("label")
    return tuple(names)


class _Declared:
    """The manifests an Alert may refer to, by name, and the names declared but invalid."""

    def __init__(self, items: list[Located], invalid: Collection[tuple[str, str]]) -> None:
        self.endpoints = {i.manifest.metadata.name: i.manifest for i in items if isinstance(i.manifest, Endpoint)}
        self.prompts = {i.manifest.metadata.name: i.manifest for i in items if isinstance(i.manifest, Prompt)}
        self.channels = {i.manifest.metadata.name for i in items if isinstance(i.manifest, NotificationChannel)}
        self.broken = set(invalid)


def _target_refs(item: Located, target: AlertTarget, declared: _Declared) -> Iterable[Diagnostic]:
    base = ("spec", "target")
    if target.endpoint is not None:
        endpoint = declared.endpoints.get(target.endpoint)
        if endpoint is None:
            if ("Endpoint", target.endpoint) not in declared.broken:
                hint = did_you_mean(target.endpoint, declared.endpoints)
                yield item.at((*base, "endpoint"), f"alert refers to unknown Endpoint {target.endpoint!r}{hint}")
        elif target.deployment is not None:
            names = [d.name for d in endpoint.spec.deployments]
            if target.deployment not in names:
                yield item.at(
                    (*base, "deployment"),
                    f"Endpoint {target.endpoint!r} has no deployment {target.deployment!r} "
                    f"(has: {', '.join(names)}){did_you_mean(target.deployment, names)}",
                )
    if target.prompt is not None:
        prompt = declared.prompts.get(target.prompt)
        if prompt is None:
            if ("Prompt", target.prompt) not in declared.broken:
                hint = did_you_mean(target.prompt, declared.prompts)
                yield item.at((*base, "prompt"), f"alert refers to unknown Prompt {target.prompt!r}{hint}")
        elif target.label is not None and target.label not in prompt.spec.labels:
            labels = prompt.spec.labels
            has = f"declares {', '.join(labels)}" if labels else "declares no labels"
            yield item.at(
                (*base, "label"),
                f"Prompt {target.prompt!r} has no label {target.label!r} ({has}){did_you_mean(target.label, labels)}",
            )


def _channel_refs(item: Located, alert: Alert, declared: _Declared) -> Iterable[Diagnostic]:
    seen: set[str] = set()
    for index, name in enumerate(alert.spec.notify):
        if name in seen:
            yield item.at(("spec", "notify", index), f"NotificationChannel {name!r} is listed twice")
        seen.add(name)
        if name not in declared.channels and ("NotificationChannel", name) not in declared.broken:
            hint = did_you_mean(name, declared.channels)
            yield item.at(("spec", "notify", index), f"alert notifies unknown NotificationChannel {name!r}{hint}")


def _condition(item: Located, alert: Alert) -> Iterable[Diagnostic]:
    spec = alert.spec
    if spec.threshold is not None:
        try:
            normalised_threshold(spec.metric, spec.threshold)
        except ValueError as err:
            yield item.at(("spec", "threshold"), str(err))
    seconds = duration_seconds(spec.for_)
    if seconds % 60:
        yield item.at(
            ("spec", "for"),
            f"'for: {spec.for_}' must be a whole number of minutes: Cloud Monitoring takes alert durations in "
            "multiples of 60s (such as 0s, 1m, 5m)",
        )
    elif spec.absent and seconds < ABSENT_MINIMUM_S:
        yield item.at(
            ("spec", "for"),
            f"'for: {spec.for_}' is too short for 'absent': Cloud Monitoring needs at least 2m of missing data",
        )
    if spec.comparison in (">=", "<="):
        strict = spec.comparison[0]
        yield item.at(
            ("spec", "comparison"),
            f"Cloud Monitoring refuses '{spec.comparison}' in an alert condition (only COMPARISON_GT and "
            f"COMPARISON_LT are supported): use '{strict}'",
        )
    if spec.query is not None:
        yield from _query(item, alert)


def _query(item: Located, alert: Alert) -> Iterable[Diagnostic]:
    query = str(alert.spec.query)
    missing = [term for term in ("metric.type", "resource.type") if term not in query]
    if missing:
        yield item.at(
            ("spec", "query"),
            f"query must name {' and '.join(missing)}: an alert filter selects one metric type on one resource "
            'type, such as metric.type = "..." AND resource.type = "..."',
        )
    known = query_placeholders(alert.spec.target)
    for name in dict.fromkeys(_PLACEHOLDER.findall(query)):
        if name not in known:
            listed = ", ".join("${" + k + "}" for k in known)
            yield item.at(("spec", "query"), f"query placeholder ${{{name}}} is not known for this target ({listed})")


def check_alert_set(items: list[Located], *, invalid: Collection[tuple[str, str]] = ()) -> Iterable[Diagnostic]:
    """Every Alert's references and condition, across the whole load (`invalid`: declared but invalid
    manifests, whose own errors are reported already)."""
    declared: _Declared | None = None
    for item in items:
        if not isinstance(item.manifest, Alert):
            continue
        if declared is None:
            declared = _Declared(items, invalid)
        yield from _target_refs(item, item.manifest.spec.target, declared)
        yield from _channel_refs(item, item.manifest, declared)
        yield from _condition(item, item.manifest)


__all__ = ["ABSENT_MINIMUM_S", "check_alert_set", "query_placeholders"]

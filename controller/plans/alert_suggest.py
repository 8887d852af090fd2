"""`genaiops alerts suggest`: sensible Alert manifests for what the manifests declare (pure), for a human to
review and commit.

Place in the flow: the CLI (controller/cli/alerts_cmd.py) loads the manifests, calls `suggest_alerts` and
writes `render` of the result; nothing here reads files or the cloud. What is suggested:

- every Endpoint: its error rate above 5% for 5m (severity error), and its p99 latency above the threshold
  its canary analysis judges `latency-p99` by (else 2000ms) for 5m (warning);
- the project: the runtime's cost per day above the serving limit of the smallest Budget / 30 (else $100);
- every Prompt label that reads as production (`production`, `prod`, `prod-*`, ...): the mean feedback
  rating below 3 of 5 for 30m (warning);

each with documentation for the responder and the first declared NotificationChannel, if any. An Alert that
already watches the same target and metric is not suggested again (so a second run suggests nothing), and a
name already taken gets a numbered suffix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from controller.model import API_VERSION, Alert, Budget, Endpoint, Manifest, NotificationChannel, Prompt
from controller.model.alert import AlertTarget

ERROR_RATE = "5%"
DEFAULT_P99 = "2000ms"
DEFAULT_COST_PER_DAY = 100.0
DAYS_PER_MONTH = 30
FEEDBACK_FLOOR = 3  # of 5: 60% of the best rating
HEADER = (
    "# Suggested by `genaiops alerts suggest`: review before committing.\n"
    "# Thresholds are starting points taken from your manifests (canary analysis, budgets) or common\n"
    "# defaults; change them to fit your traffic, then `genaiops validate` and commit what you keep.\n"
)


@dataclass(frozen=True)
class Suggestion:
    """One suggested Alert: its manifest as YAML-ready data and a one-line summary."""

    name: str
    summary: str
    document: dict[str, Any]


def is_production_label(label: str) -> bool:
    """`production`, `prod`, `prod-eu`, `production-2`: a label that serves users."""
    return label in ("production", "prod") or label.startswith(("prod-", "production-"))


def _key(target: AlertTarget, metric: str | None) -> tuple[object, ...]:
    return (target.endpoint, target.deployment, target.prompt, target.label, target.project, metric)


def _p99_threshold(endpoint: Endpoint) -> str:
    """The canary analysis's latency-p99 bound in ms (the rollout's, else a step's), else the default."""
    rollout = endpoint.spec.rollout
    analyses = [rollout.analysis, *(step.analysis for step in rollout.steps)]
    for analysis in (a for a in analyses if a is not None):
        for metric in analysis.metrics:
            if metric.name == "latency-p99" and metric.query is None and metric.upper is not None:
                return f"{round(metric.upper * 1000, 3):g}ms"
    return DEFAULT_P99


def _cost_per_day(budgets: Sequence[Budget]) -> float:
    limits = [b.spec.limits.serving for b in budgets if b.spec.limits.serving is not None]
    return round(min(limits) / DAYS_PER_MONTH, 2) if limits else DEFAULT_COST_PER_DAY


_ORDER = ("target", "metric", "comparison", "threshold", "for", "severity", "notify", "documentation")


def _spec(target: dict[str, Any], metric: str, threshold: str | float, **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"target": target, "metric": metric, "threshold": threshold, "for": "5m", **fields}
    return _ordered(spec)


def _ordered(spec: dict[str, Any]) -> dict[str, Any]:
    """The fields in the order people read them (the YAML keeps it)."""
    return {key: spec[key] for key in _ORDER if key in spec}


def _endpoint_specs(endpoint: Endpoint) -> list[tuple[str, dict[str, Any]]]:
    name = endpoint.metadata.name
    target = {"endpoint": name}
    p99 = _p99_threshold(endpoint)
    return [
        (
            f"{name}-error-rate",
            _spec(
                target,
                "error-rate",
                ERROR_RATE,
                severity="error",
                documentation=f"More than {ERROR_RATE} of the requests to Endpoint `{name}` failed for 5 minutes. "
                f"Is a rollout under way? `genaiops rollout status {name}`; what is deployed: `genaiops status`.",
            ),
        ),
        (
            f"{name}-latency-p99",
            _spec(
                target,
                "latency-p99",
                p99,
                documentation=f"The 99th percentile latency of Endpoint `{name}` stayed above {p99} for 5 minutes. "
                "Check its replicas and traffic, and whether a canary is serving part of it.",
            ),
        ),
    ]


def _prompt_specs(prompt: Prompt) -> list[tuple[str, dict[str, Any]]]:
    name = prompt.metadata.name
    out = []
    for label in (x for x in prompt.spec.labels if is_production_label(x)):
        out.append(
            (
                f"{name}-{label}-feedback-score",
                _spec(
                    {"prompt": name, "label": label},
                    "feedback-score",
                    FEEDBACK_FLOOR,
                    comparison="<",
                    **{"for": "30m"},
                    documentation=f"Users rated Prompt `{name}` under `{label}` below {FEEDBACK_FLOOR} of 5 on "
                    f"average over the last hour, for 30 minutes. Compare versions: `genaiops prompts history {name}`.",
                ),
            )
        )
    return out


def _summary(spec: dict[str, Any]) -> str:
    target = spec["target"]
    if "endpoint" in target:
        where = f"Endpoint {target['endpoint']}"
    elif "prompt" in target:
        where = f"Prompt {target['prompt']}@{target['label']}"
    else:
        where = "the project"
    return f"{spec['metric']} {spec.get('comparison', '>')} {spec['threshold']} on {where}"


def _unique(name: str, taken: set[str]) -> str:
    name = name[:63].rstrip("-")
    candidate, n = name, 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate, n = name[: 63 - len(suffix)].rstrip("-") + suffix, n + 1
    taken.add(candidate)
    return candidate


def suggest_alerts(manifests: Iterable[Manifest]) -> list[Suggestion]:
    """The Alerts worth having for `manifests` that no declared Alert already covers (same target and
    metric), in a stable order: endpoints, the project's cost, then prompts."""
    items = list(manifests)
    alerts = [m for m in items if isinstance(m, Alert)]
    existing = {_key(a.spec.target, a.spec.metric) for a in alerts}
    taken = {a.metadata.name for a in alerts}
    channels = [m.metadata.name for m in items if isinstance(m, NotificationChannel)]
    wanted: list[tuple[str, dict[str, Any]]] = []
    for endpoint in sorted((m for m in items if isinstance(m, Endpoint)), key=lambda m: m.metadata.name):
        wanted += _endpoint_specs(endpoint)
    cost = _cost_per_day([m for m in items if isinstance(m, Budget)])
    wanted.append(
        (
            "project-cost-per-day",
            _spec(
                {"project": True},
                "cost-per-day",
                f"${cost:g}",
                **{"for": "0s"},
                documentation=f"The model calls of the runtime client cost more than ${cost:g} over the last "
                "24 hours. See where it goes: `genaiops usage`.",
            ),
        )
    )
    for prompt in sorted((m for m in items if isinstance(m, Prompt)), key=lambda m: m.metadata.name):
        wanted += _prompt_specs(prompt)
    out: list[Suggestion] = []
    notify = {"notify": [channels[0]]} if channels else {}
    for name, wanted_spec in wanted:
        target = AlertTarget.model_validate(wanted_spec["target"])
        if _key(target, wanted_spec["metric"]) in existing:
            continue
        spec = _ordered({**wanted_spec, **notify})
        final = _unique(name, taken)
        document = {"apiVersion": API_VERSION, "kind": "Alert", "metadata": {"name": final}, "spec": spec}
        out.append(Suggestion(final, _summary(spec), document))
    return out


def render(suggestions: Sequence[Suggestion]) -> str:
    """The YAML file: the review header, then one document per suggestion."""
    documents = [yaml.safe_dump(s.document, sort_keys=False, allow_unicode=True, width=110) for s in suggestions]
    return HEADER + "".join(f"---\n{d}" for d in documents)


__all__ = ["HEADER", "Suggestion", "is_production_label", "render", "suggest_alerts"]

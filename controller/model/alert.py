"""The `Alert` and `NotificationChannel` kinds: Cloud Monitoring alert policies and notification channels
as code, reviewed in git and kept in sync like endpoints (plan, apply, drift, prune).

An Alert watches one metric by name (the names canary analysis uses for endpoints, and the runtime client's
metrics for prompts and the project) or a raw Monitoring `query` for anything else, on an Endpoint (optionally
one deployment), a Prompt (optionally one label) or the whole project, against a threshold with units, held
`for` a duration; or, with `absent`, the metric stopping ("no traffic"). plans/alert_compile.py compiles it
to an `AlertPolicy` with the filter, aligner and reducer Google documents for that metric.

A NotificationChannel is an email address, a webhook, a Pub/Sub topic or a Slack channel; a Slack token is
never in git: the manifest names a Secret Manager secret version and apply reads it.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from controller.model.common import NAME_PATTERN, Duration, Frozen, Metadata, StrictBool, StrictFloat

# Built-in metric names. Endpoint metrics are Vertex AI's (aiplatform.googleapis.com/prediction/online/*);
# prompt and project metrics are the runtime client's (custom.googleapis.com/genaiops/*).
ENDPOINT_ALERT_METRICS = ("error-rate", "latency-p50", "latency-p95", "latency-p99", "request-count")
AlertMetric = Literal[
    "error-rate",
    "latency-p50",
    "latency-p95",
    "latency-p99",
    "request-count",
    "cost-per-hour",
    "cost-per-day",
    "input-tokens",
    "output-tokens",
    "safety-block-rate",
    "feedback-score",
    "cache-hit-rate",
    "time-to-first-token-p50",
    "time-to-first-token-p95",
    "time-to-first-token-p99",
    "tokens-per-second",
]
RUNTIME_ALERT_METRICS: tuple[str, ...] = get_args(AlertMetric)

_THRESHOLD_RE = re.compile(r"^\s*(?P<dollar>\$)?\s*(?P<number>-?[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>%|ms|s)?\s*$")


def threshold_value(text: str | float) -> tuple[float, str]:
    """(number, unit) of a threshold: 0.05 -> (0.05, ""), "5%" -> (0.05, "ratio"), "1500ms" -> (1500, "ms"),
    "2s" -> (2000, "ms"), "$50" -> (50, "usd"). ValueError for anything else."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text), ""
    match = _THRESHOLD_RE.match(str(text))
    if match is None:
        raise ValueError(f"threshold {text!r} must be a number, optionally with a unit: 0.05, 5%, 1500ms, 2s or $50")
    number, unit = float(match["number"]), match["unit"] or ""
    if match["dollar"]:
        if unit:
            raise ValueError(f"threshold {text!r}: a dollar amount takes no other unit")
        return number, "usd"
    if unit == "%":
        return number / 100, "ratio"
    if unit == "s":
        return number * 1000, "ms"
    return number, unit


class AlertTarget(Frozen):
    """What an Alert watches: an Endpoint (optionally one deployment), a Prompt (optionally one label), or the
    whole project (`project: true`)."""

    endpoint: str | None = Field(default=None, pattern=NAME_PATTERN, description="An Endpoint manifest.")
    deployment: str | None = Field(default=None, pattern=NAME_PATTERN, description="One of its deployments.")
    prompt: str | None = Field(default=None, pattern=NAME_PATTERN, description="A Prompt manifest.")
    label: str | None = Field(default=None, description="One of the prompt's labels, such as production.")
    project: StrictBool = Field(default=False, description="The whole project (the runtime's metrics).")

    @model_validator(mode="after")
    def _exactly_one(self) -> AlertTarget:
        chosen = [x for x in (self.endpoint is not None, self.prompt is not None, self.project) if x]
        if len(chosen) != 1:
            raise ValueError("an Alert's target is exactly one of 'endpoint', 'prompt' or 'project: true'")
        if self.deployment is not None and self.endpoint is None:
            raise ValueError("'deployment' narrows an 'endpoint' target: give the endpoint too")
        if self.label is not None and self.prompt is None:
            raise ValueError("'label' narrows a 'prompt' target: give the prompt too")
        return self


class AlertSpec(Frozen):
    """One alert policy with one condition."""

    target: AlertTarget
    metric: AlertMetric | None = Field(default=None, description="A built-in metric by name.")
    query: str | None = Field(
        default=None,
        description="A Cloud Monitoring filter (metric.type = ... AND resource.type = ...) for anything the "
        "built-in names do not cover; aligned with ALIGN_MEAN and reduced with REDUCE_SUM unless "
        "'aligner'/'reducer' say otherwise.",
    )
    aligner: str | None = Field(default=None, pattern=r"^ALIGN_[A-Z0-9_]+$", description="With 'query' only.")
    reducer: str | None = Field(default=None, pattern=r"^REDUCE_[A-Z0-9_]+$", description="With 'query' only.")
    comparison: Literal[">", ">=", "<", "<="] = ">"
    threshold: StrictFloat | str | None = Field(
        default=None, description="A number with an optional unit: 0.05, 5%, 1500ms, 2s, $50 (not with 'absent')."
    )
    absent: StrictBool = Field(default=False, description="Alert when the metric has no data for 'for'.")
    for_: Duration = Field(default="5m", alias="for", description="How long the condition must hold.")
    severity: Literal["critical", "error", "warning"] = "warning"
    documentation: str | None = Field(default=None, max_length=10240, description="Markdown for the responder.")
    notify: tuple[str, ...] = Field(default=(), description="NotificationChannel manifests by name.")
    enabled: StrictBool = True
    display_name: str | None = Field(default=None, max_length=512)

    @field_validator("threshold")
    @classmethod
    def _threshold_parses(cls, value: float | str | None) -> float | str | None:
        if value is not None:
            threshold_value(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AlertSpec:
        if (self.metric is None) == (self.query is None):
            raise ValueError("an Alert needs exactly one of 'metric' (a built-in name) or 'query' (a filter)")
        if (self.aligner is not None or self.reducer is not None) and self.query is None:
            raise ValueError("'aligner' and 'reducer' go with a custom 'query'; a built-in metric sets its own")
        if self.absent and self.threshold is not None:
            raise ValueError("an 'absent' alert fires when data stops: it takes no 'threshold'")
        if not self.absent and self.threshold is None:
            raise ValueError("give a 'threshold' (or 'absent: true' to alert when the metric stops)")
        target = self.target
        if target.endpoint is not None and self.metric is not None and self.metric not in ENDPOINT_ALERT_METRICS:
            raise ValueError(
                f"metric {self.metric!r} is the runtime client's, not Vertex AI's: endpoints offer "
                f"{', '.join(ENDPOINT_ALERT_METRICS)}"
            )
        return self


class Alert(Frozen):
    """A Cloud Monitoring alert policy genaiops owns."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["Alert"]
    metadata: Metadata
    spec: AlertSpec


class NotificationChannelSpec(Frozen):
    """Where alerts go: exactly the fields of its `type`."""

    type: Literal["email", "webhook", "pubsub", "slack"]
    display_name: str | None = Field(default=None, max_length=512)
    description: str | None = None
    address: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="email: the address.")
    url: str | None = Field(default=None, pattern=r"^https://\S+$", description="webhook: an https URL.")
    topic: str | None = Field(
        default=None, pattern=r"^projects/[^/]+/topics/[^/]+$", description="pubsub: projects/P/topics/T."
    )
    channel: str | None = Field(default=None, pattern=r"^#?[a-z0-9._-]{1,80}$", description="slack: the channel.")
    token_secret: str | None = Field(
        default=None,
        pattern=r"^projects/[^/]+/secrets/[^/]+/versions/[^/]+$",
        description="slack: the Secret Manager secret version holding the bot token "
        "(projects/P/secrets/S/versions/V); read at apply, never stored in git.",
    )
    enabled: StrictBool = True

    @model_validator(mode="after")
    def _fields_of_type(self) -> NotificationChannelSpec:
        needs = {
            "email": ("address",),
            "webhook": ("url",),
            "pubsub": ("topic",),
            "slack": ("channel", "token_secret"),
        }[self.type]
        given = {
            name for name in ("address", "url", "topic", "channel", "token_secret") if getattr(self, name) is not None
        }
        missing = [n for n in needs if n not in given]
        extra = sorted(given - set(needs))
        if missing or extra:
            camel = {"token_secret": "tokenSecret"}
            want = ", ".join(camel.get(n, n) for n in needs)
            raise ValueError(
                f"a {self.type} channel takes {want}"
                + (f"; missing {', '.join(camel.get(n, n) for n in missing)}" if missing else "")
                + (f"; remove {', '.join(camel.get(n, n) for n in extra)}" if extra else "")
            )
        return self


class NotificationChannel(Frozen):
    """A Cloud Monitoring notification channel genaiops owns."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["NotificationChannel"]
    metadata: Metadata
    spec: NotificationChannelSpec

"""Canary analysis settings: which metrics judge a canary, their thresholds, and the limits that turn
measurements into a verdict (Argo Rollouts' AnalysisTemplate and Flagger's metric checks, in one place).

Thresholds carry units, checked here once: a latency threshold is a duration (`max: 1.5s`, `max: 300ms`,
or `maxMs: 1500`), a rate (`error-rate`, `safety-block-rate`) a fraction in [0, 1] or a percentage
(`max: 0.02`, `max: 2%`), `feedback-score` a mean rating from 1 to 5, and `request-count`,
`cost-per-request` (US dollars), `output-tokens-per-request` and custom `query` metrics plain numbers. A
number that cannot mean what it looks like (`{name: latency-p99, max: 1.5}`: seconds or milliseconds?
`{name: error-rate, max: 2}`: never fails) is an error that says how to write it. The manifest keeps what
was written; `Metric.lower`, `upper`, `increase` and `decrease` hold the normalised values (seconds, a
fraction, or the plain number), so nothing downstream reads the text again.

Endpoints and prompts share these checks: the Vertex AI endpoint metrics give `error-rate`, `latency-p*`
and `request-count`; the runtime client's metrics of a prompt version give those and `PROMPT_METRICS`
(which an endpoint cannot measure). Both also take the runtime's streaming metrics (`STREAMING_METRICS`):
`time-to-first-token-p50/p95/p99` (a duration, like `latency-p*`) and `tokens-per-second` (output tokens
per second after the first token, a plain number, usually a `min`), read from the runtime client's metrics
of streamed answers: per deployed model for an endpoint (the series labelled with the endpoint and the
deployed model that answered), per version for a prompt. Whole (non-streamed) answers have neither: a
canary that serves none streamed is measured inconclusive ("no streamed answers"), never a pass, and the
rollout pauses at `inconclusiveLimit` saying so; it is not a validation error, since only the applications
decide whether they stream. A metric may also be judged statistically against the stable
(`judge: mann-whitney`, Kayenta's Mann-Whitney classifier over per-interval values, `rollout/judge.py`):
`Metric.judge_settings` holds its settings with the metric's defaults filled in.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from controller.model.common import Duration, Frozen, Interval, StrictBool, StrictFloat, StrictInt

# The runtime client's metrics of a prompt version (controller/runtime/aggregate.py); no endpoint has them.
PROMPT_METRICS = (
    "cost-per-request",
    "input-tokens-per-request",
    "output-tokens-per-request",
    "safety-block-rate",
    "feedback-score",
)
# The runtime client's metrics of streamed answers (controller/runtime/aggregate.py), for endpoints and prompts.
TTFT_METRICS = ("time-to-first-token-p50", "time-to-first-token-p95", "time-to-first-token-p99")
STREAMING_METRICS = (*TTFT_METRICS, "tokens-per-second")
BUILTIN_METRICS = (
    "error-rate",
    "latency-p50",
    "latency-p95",
    "latency-p99",
    "request-count",
    *PROMPT_METRICS,
    *STREAMING_METRICS,
)
LATENCY_METRICS = ("latency-p50", "latency-p95", "latency-p99")
DURATION_METRICS = (*LATENCY_METRICS, *TTFT_METRICS)  # thresholds written as durations
RATE_METRICS = ("error-rate", "safety-block-rate")
NUMBER_METRICS = (
    "request-count",
    "cost-per-request",
    "input-tokens-per-request",
    "output-tokens-per-request",
    "tokens-per-second",
)
RATING_METRICS = ("feedback-score",)
RATING_RANGE = (1.0, 5.0)  # a feedback rating, and so their mean
# A judge watches these for a decrease, other built-ins for an increase.
HIGHER_IS_BETTER = ("feedback-score", "tokens-per-second")
UNJUDGEABLE = ("request-count",)  # follows the traffic weight: the canary always has fewer than the stable
MAX_INCREASE = 10.0  # 1000% above the stable: a bare number beyond this is a percentage written as a fraction

Aligner = Literal["ALIGN_DELTA", "ALIGN_RATE", "ALIGN_SUM", "ALIGN_MEAN", "ALIGN_MAX", "ALIGN_PERCENTILE_99"]
Reducer = Literal["REDUCE_NONE", "REDUCE_SUM", "REDUCE_MEAN", "REDUCE_MAX", "REDUCE_PERCENTILE_99"]

_DURATION_TEXT = r"^\d+(\.\d+)?(ms|s)$"
_PERCENT_TEXT = r"^\d+(\.\d+)?%$"
_RATE_PERCENT_TEXT = r"^(100(\.0+)?|\d{1,2}(\.\d+)?)%$"  # 0% to 100%
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s)")
_PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)%")
_ANY_TEXT = r"^\d+(\.\d+)?(ms|s|%)$"
_ANY_TEXT_RE = re.compile(_ANY_TEXT)


class Unit(StrEnum):
    """What a metric's `min` and `max` are measured in, once normalised."""

    SECONDS = "seconds"  # latency and time-to-first-token metrics: written as durations (1.5s, 300ms) or maxMs
    FRACTION = "fraction"  # error-rate, safety-block-rate: written as 0.02 or 2%
    NUMBER = "number"  # request-count, cost, tokens, feedback-score and custom query metrics: plain numbers


def unit_of(name: str, *, custom: bool) -> Unit:
    """The unit of a metric's thresholds: a custom query's value is whatever its query returns."""
    if custom:
        return Unit.NUMBER
    if name in DURATION_METRICS:
        return Unit.SECONDS
    if name in RATE_METRICS:
        return Unit.FRACTION
    return Unit.NUMBER


def _seconds(field: str, value: float | str) -> float:
    """A latency threshold as written (`1.5s`, `300ms`) -> seconds; a bare number has no unit."""
    if isinstance(value, str):
        match = _DURATION_RE.fullmatch(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a latency threshold: write a number with ms or s, such as 300ms or 1.5s"
            )
        amount = Decimal(match[1])
        seconds = float(amount / 1000 if match[2] == "ms" else amount)
        if field == "max" and seconds == 0:
            raise ValueError(f"max must be above 0 (got {value!r}): every measurement would fail")
        return seconds
    # Guess the meant unit only to order the suggestions; both say the same duration.
    as_seconds, as_ms = (value, value * 1000) if value < 60 else (value / 1000, value)
    forms = [f"{field}: {as_seconds:g}s", f"{field}: {as_ms:g}ms"]
    if value >= 60:
        forms.reverse()
    also = f" (or maxMs: {as_ms:g})" if field == "max" else ""
    raise ValueError(f"{value:g} has no unit: a latency threshold is a duration; write {forms[0]} or {forms[1]}{also}")


def _fraction(value: float | str, *, what: str) -> float:
    """A rate as written (`0.02`, `2%`) -> a fraction in [0, 1]."""
    if isinstance(value, str):
        match = _PERCENT_RE.fullmatch(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a rate: write a fraction such as 0.02 (no quotes) or a percentage such as 2%"
            )
        fraction = float(Decimal(match[1]) / 100)
        if fraction > 1:
            raise ValueError(f"{value} is more than 100%: {what} is at most 100%")
        return fraction
    if 0 <= value <= 1:
        return float(value)
    if 1 < value <= 100:
        raise ValueError(f"{value:g} is not a fraction; write {value / 100:g} or {value:g}%")
    raise ValueError(f"{value:g} is not a fraction: {what} is between 0 and 1, or 0% and 100%")


def threshold_value(
    field: str, value: float | str, unit: Unit, *, custom: bool = False, name: str = "request-count"
) -> float:
    """The normalised value of a `min` or `max` written as `value` for metric `name` of `unit`; ValueError
    saying how to write it when it cannot be one."""
    match unit:
        case Unit.SECONDS:
            return _seconds(field, value)
        case Unit.FRACTION:
            return _fraction(value, what="a safety block rate" if name == "safety-block-rate" else "an error rate")
        case Unit.NUMBER:
            if isinstance(value, str):
                who = "a metric with a query" if custom else name
                raise ValueError(f"{who} takes a plain number (got {value!r})")
            low, high = RATING_RANGE
            if not custom and name in RATING_METRICS and not low <= value <= high:
                raise ValueError(f"{value:g} is not a rating: {name} is a mean rating from {low:g} to {high:g}")
            return float(value)


def increase_value(value: float | str) -> float:
    """`maxIncrease` as written (`0.5`, `50%`) -> the fraction above the stable's value it allows."""
    if isinstance(value, str):
        match = _PERCENT_RE.fullmatch(value)
        if match is None:
            raise ValueError(f"{value!r} is not an increase: write a fraction such as 0.5 or a percentage such as 50%")
        return float(Decimal(match[1]) / 100)
    if value < 0:
        raise ValueError(f"maxIncrease must be 0 or more (got {value:g})")
    if value > MAX_INCREASE:
        raise ValueError(
            f"maxIncrease {value:g} allows {value * 100:g}% above the stable's value; for {value:g}% higher "
            f"write {value / 100:g} or {value:g}% (or '{value * 100:g}%' if you mean it)"
        )
    return float(value)


def decrease_value(value: float | str) -> float:
    """`maxDecrease` as written (`0.1`, `10%`) -> the fraction below the stable's value it allows."""
    if isinstance(value, str):
        match = _PERCENT_RE.fullmatch(value)
        if match is None:
            raise ValueError(f"{value!r} is not a decrease: write a fraction such as 0.1 or a percentage such as 10%")
        fraction = float(Decimal(match[1]) / 100)
        if fraction > 1:
            raise ValueError(f"{value} is more than 100%: a value cannot fall more than 100% below the stable's")
        return fraction
    if value < 0:
        raise ValueError(f"maxDecrease must be 0 or more (got {value:g})")
    if value > 1:
        hint = f"for {value:g}% lower write {value / 100:g} or {value:g}%" if value <= 100 else "at most 1 (100%)"
        raise ValueError(f"maxDecrease {value:g} is more than 100% below the stable's value; {hint}")
    return float(value)


_THRESHOLD_DOC = (
    "Latency and time-to-first-token metrics: a duration such as 1.5s or 300ms (a bare number is refused: no "
    "unit). tokens-per-second: output tokens per second, a plain number (usually a min). error-rate and "
    "safety-block-rate: a fraction from 0 to 1, or a percentage such as 2%. feedback-score: a mean rating from "
    "1 to 5. request-count, cost-per-request (USD), output-tokens-per-request and custom query metrics: a "
    "plain number."
)
Threshold = Annotated[
    StrictFloat | Annotated[str, Field(pattern=_ANY_TEXT)] | None,
    Field(default=None, description=_THRESHOLD_DOC, examples=[0.02, "2%", "1.5s", "300ms"]),
]


def _bounds_schema(then: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {"min": then, "max": then}}


def _builtin(*names: str) -> dict[str, Any]:
    return {"required": ["name"], "properties": {"name": {"enum": list(names)}}, "not": {"required": ["query"]}}


# Which form `min` and `max` take, by metric (what the validators below enforce, for editors and CI).
_SCHEMA_RULES: dict[str, Any] = {
    "allOf": [
        {
            "if": _builtin(*DURATION_METRICS),
            "then": _bounds_schema({"type": "string", "pattern": _DURATION_TEXT}),
        },
        {
            "if": _builtin(*RATE_METRICS),
            "then": _bounds_schema(
                {
                    "anyOf": [
                        {"type": "number", "minimum": 0, "maximum": 1},
                        {"type": "string", "pattern": _RATE_PERCENT_TEXT},
                    ]
                }
            ),
        },
        {
            "if": {"anyOf": [{"required": ["query"]}, {"properties": {"name": {"enum": list(NUMBER_METRICS)}}}]},
            "then": _bounds_schema({"type": "number"}),
        },
        {
            "if": _builtin(*RATING_METRICS),
            "then": _bounds_schema({"type": "number", "minimum": RATING_RANGE[0], "maximum": RATING_RANGE[1]}),
        },
        {"if": _builtin(*UNJUDGEABLE), "then": {"not": {"required": ["judge"]}}},
        {  # without a judge, at least one threshold
            "if": {"not": {"required": ["judge"]}},
            "then": {"anyOf": [{"required": [k]} for k in ("min", "max", "maxMs", "maxIncrease", "maxDecrease")]},
        },
    ]
}


class MetricQuery(Frozen):
    """A custom Cloud Monitoring query (ListTimeSeries): one metric type in the filter."""

    filter: str = Field(min_length=1, description='A ListTimeSeries filter, e.g. metric.type="..."')
    aligner: Aligner = "ALIGN_DELTA"
    reducer: Reducer = "REDUCE_SUM"


class JudgeTest(StrEnum):
    """The statistical tests a metric may be judged by."""

    MANN_WHITNEY = "mann-whitney"  # Kayenta's NetflixACAJudge classifier (rollout/judge.py)


class JudgeDirection(StrEnum):
    """Which change of the candidate against the stable fails it."""

    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class NanStrategy(StrEnum):
    """What an interval without a value (no requests in it) counts as: dropped, or 0."""

    REMOVE = "remove"
    REPLACE = "replace"


_CHANGE = Annotated[StrictFloat, Field(ge=0, le=1)] | Annotated[str, Field(pattern=_RATE_PERCENT_TEXT)] | None


class Judge(Frozen):
    """A statistical judge of one metric (Kayenta's Mann-Whitney classifier, NetflixACAJudge's defaults):
    the candidate's per-interval values over the window against the stable's. It fails the metric when the
    candidate is significantly different in the watched `direction` and the change of the means is beyond
    `allowedIncrease` / `allowedDecrease`."""

    test: JudgeTest = JudgeTest.MANN_WHITNEY
    confidence_level: StrictFloat = Field(
        default=0.98, gt=0, lt=1, description="How sure the test must be that the values differ (Kayenta: 0.98)."
    )
    direction: JudgeDirection | None = Field(
        default=None,
        description="Which change fails: increase, decrease or either. Default: decrease for feedback-score and "
        "tokens-per-second, increase for the other built-in metrics, either for a custom query.",
    )
    allowed_increase: _CHANGE = Field(
        default=None,
        description="A significant increase fails only when the candidate's mean is more than this fraction above "
        "the stable's (0.1 or 10%); default 0: any significant increase.",
        examples=[0.1, "10%"],
    )
    allowed_decrease: _CHANGE = Field(
        default=None,
        description="A significant decrease fails only when the candidate's mean is more than this fraction below "
        "the stable's (0.1 or 10%); default 0: any significant decrease.",
        examples=[0.1, "10%"],
    )
    critical: StrictBool = Field(
        default=False, description="A failure of this metric is critical: roll back at once, whatever failureLimit."
    )
    nan_strategy: NanStrategy = Field(
        default=NanStrategy.REMOVE,
        description="Intervals without a value (no requests in them): remove them, or count them as 0 (replace).",
    )

    @field_validator("allowed_increase", "allowed_decrease", mode="before")
    @classmethod
    def _change_is_a_fraction(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str | None):
            raise ValueError(f"expected a fraction or a percentage (got {value!r})")
        if value is not None:
            decrease_value(value)  # the same forms: 0 to 1, or 0% to 100%
        return value

    @property
    def increase(self) -> float:
        """`allowedIncrease` as a fraction (0 when not given)."""
        return 0.0 if self.allowed_increase is None else decrease_value(self.allowed_increase)

    @property
    def decrease(self) -> float:
        """`allowedDecrease` as a fraction (0 when not given)."""
        return 0.0 if self.allowed_decrease is None else decrease_value(self.allowed_decrease)


def _judge_form(value: Any) -> str:
    return "JudgeTest" if isinstance(value, str | JudgeTest) else "Judge"


# `judge: mann-whitney` or `judge: {test: mann-whitney, ...}`; an error names only the form written.
_JudgeField = (
    Annotated[
        Annotated[JudgeTest, Tag("JudgeTest")] | Annotated[Judge, Tag("Judge")],
        Discriminator(_judge_form),
    ]
    | None
)


def default_direction(name: str, *, custom: bool) -> JudgeDirection:
    """The change a judge watches when the manifest does not say: a custom query's either way."""
    if custom:
        return JudgeDirection.EITHER
    return JudgeDirection.DECREASE if name in HIGHER_IS_BETTER else JudgeDirection.INCREASE


class Metric(Frozen):
    """One check: a built-in metric (`error-rate`, `latency-p99`, `feedback-score`, ...) or a custom
    `query`. `min` and `max` are absolute; `maxIncrease` and `maxDecrease` compare the canary with the
    stable over the same window; `judge` compares their per-interval values with a statistical test."""

    model_config = ConfigDict(json_schema_extra=_SCHEMA_RULES)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    query: MetricQuery | None = None
    min: Threshold
    max: Threshold
    max_ms: StrictFloat | None = Field(
        default=None, gt=0, description="Latency metrics only: the upper bound in milliseconds (same as max: <n>ms)."
    )
    max_increase: (
        Annotated[StrictFloat, Field(ge=0, le=MAX_INCREASE)] | Annotated[str, Field(pattern=_PERCENT_TEXT)] | None
    ) = Field(
        default=None,
        description="Fail when the canary's value is above the stable deployment's by more than this fraction "
        "of it: 0.5 or 50% fails at more than 1.5x the stable's value (when the stable's value is 0, any "
        f"increase fails). From 0 to {MAX_INCREASE:g} as a number, any percentage as text. Judged only when "
        "the stable also served minRequests in the window (else inconclusive); a canary below the stable "
        "never fails it.",
        examples=[0.5, "50%"],
    )
    max_decrease: _CHANGE = Field(
        default=None,
        description="Fail when the canary's value is below the stable deployment's by more than this fraction "
        "of it: 0.1 or 10% fails below 0.9x the stable's value. From 0 to 1 as a number, 0% to 100% as text. "
        "Judged only when the stable also served minRequests in the window (else inconclusive); a canary "
        "above the stable never fails it.",
        examples=[0.1, "10%"],
    )
    judge: _JudgeField = Field(
        default=None,
        description="Judge the canary against the stable with a statistical test over per-interval values "
        "(mann-whitney), as Kayenta does; `judge: mann-whitney` takes the defaults. Thresholds may then be "
        "left out; minRequests still applies, to the stable too.",
        examples=["mann-whitney", {"test": "mann-whitney", "confidenceLevel": 0.98, "allowedIncrease": "10%"}],
    )

    _lower: float | None = PrivateAttr(default=None)
    _upper: float | None = PrivateAttr(default=None)
    _increase: float | None = PrivateAttr(default=None)
    _decrease: float | None = PrivateAttr(default=None)

    @field_validator("min", "max", mode="before")
    @classmethod
    def _threshold_has_its_unit(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str | None):
            raise ValueError(f"expected a number or a value with a unit (got {value!r})")
        if value is None:
            return value
        if "name" not in info.data or "query" not in info.data:  # invalid themselves: that error is enough
            if isinstance(value, str) and not _ANY_TEXT_RE.fullmatch(value):
                raise ValueError(f"{value!r} is not a threshold: write a number, a duration such as 1.5s, or 2%")
            return value
        custom = info.data["query"] is not None
        assert info.field_name is not None
        name = info.data["name"]
        threshold_value(info.field_name, value, unit_of(name, custom=custom), custom=custom, name=name)
        return value

    @field_validator("max_increase", mode="before")
    @classmethod
    def _increase_is_a_fraction(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str | None):
            raise ValueError(f"expected a number or a percentage (got {value!r})")
        if value is not None:
            increase_value(value)
        return value

    @field_validator("judge", mode="before")
    @classmethod
    def _judge_is_known(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in set(JudgeTest):
            raise ValueError(f"unknown judge {value!r}: use {', '.join(JudgeTest)}")
        return value

    @field_validator("max_decrease", mode="before")
    @classmethod
    def _decrease_is_a_fraction(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str | None):
            raise ValueError(f"expected a number or a percentage (got {value!r})")
        if value is not None:
            decrease_value(value)
        return value

    @model_validator(mode="after")
    def _is_checkable(self) -> Metric:
        if self.query is None and self.name not in BUILTIN_METRICS:
            raise ValueError(f"unknown metric {self.name!r}: use one of {', '.join(BUILTIN_METRICS)} or give a 'query'")
        if self.max_ms is not None and self.unit is not Unit.SECONDS:
            raise ValueError(
                "'maxMs' applies only to latency metrics (latency-p50, latency-p95, latency-p99, "
                "time-to-first-token-p50, time-to-first-token-p95, time-to-first-token-p99)"
            )
        if self.max_ms is not None and self.max is not None:
            raise ValueError(f"give 'max' or 'maxMs', not both (max: {self.max}, maxMs: {self.max_ms:g})")
        thresholds = (self.min, self.max, self.max_ms, self.max_increase, self.max_decrease)
        if self.judge is None and all(v is None for v in thresholds):
            raise ValueError(
                f"metric {self.name!r} needs a threshold (min, max, maxMs, maxIncrease or maxDecrease) or a judge"
            )
        custom = self.query is not None
        if self.judge is not None and not custom and self.name in UNJUDGEABLE:
            raise ValueError(
                f"{self.name} cannot be judged against the stable: it follows the traffic weight; use min instead"
            )
        self._lower = self._bound("min", self.min)
        self._upper = self._bound("max", self.max)
        if self.max_ms is not None:
            self._upper = float(Decimal(repr(self.max_ms)) / 1000)
        self._increase = None if self.max_increase is None else increase_value(self.max_increase)
        self._decrease = None if self.max_decrease is None else decrease_value(self.max_decrease)
        if self._lower is not None and self._upper is not None and self._lower > self._upper:
            raise ValueError(
                f"min ({self.min}) is greater than max ({self.max if self.max is not None else self.max_ms})"
            )
        return self

    def _bound(self, field: str, written: float | str | None) -> float | None:
        if written is None:
            return None
        return threshold_value(field, written, self.unit, custom=self.query is not None, name=self.name)

    @property
    def unit(self) -> Unit:
        """What `lower` and `upper` are measured in."""
        return unit_of(self.name, custom=self.query is not None)

    @property
    def lower(self) -> float | None:
        """`min`, normalised (seconds for latency, a fraction for error-rate, else the number)."""
        return self._lower

    @property
    def upper(self) -> float | None:
        """`max` or `maxMs`, normalised like `lower`."""
        return self._upper

    @property
    def increase(self) -> float | None:
        """`maxIncrease` as a fraction of the stable's value (0.5 for `0.5` or `50%`)."""
        return self._increase

    @property
    def decrease(self) -> float | None:
        """`maxDecrease` as a fraction of the stable's value (0.1 for `0.1` or `10%`)."""
        return self._decrease

    @property
    def judge_settings(self) -> Judge | None:
        """The judge with every setting filled in (`judge: mann-whitney` is the defaults), its direction
        the metric's default when not given; None without a judge."""
        if self.judge is None:
            return None
        settings = Judge(test=self.judge) if isinstance(self.judge, JudgeTest) else self.judge
        if settings.direction is None:
            settings = settings.model_copy(
                update={"direction": default_direction(self.name, custom=self.query is not None)}
            )
        return settings

    @property
    def compares_with_stable(self) -> bool:
        """True when judging this metric needs the stable's sample too (maxIncrease, maxDecrease, judge)."""
        return self.max_increase is not None or self.max_decrease is not None or self.judge is not None


class Analysis(Frozen):
    """How measurements become a verdict. No data (below `minRequests`) is inconclusive, never a pass."""

    interval: Interval = "1m"
    initial_delay: Duration = "0s"
    min_requests: StrictInt = Field(default=50, ge=0)
    failure_limit: StrictInt = Field(
        default=1,
        ge=0,
        description="Failed measurements tolerated in a step: one more rolls back (0 rolls back on the first).",
    )
    consecutive_failure_limit: StrictInt | None = Field(
        default=None, ge=1, description="Roll back when this many measurements in a row have failed."
    )
    inconclusive_limit: StrictInt = Field(default=3, ge=0, description="Inconclusive measurements, then pause.")
    success_count: StrictInt = Field(default=1, ge=1, description="Successful measurements needed per step.")
    dry_run: StrictBool = Field(default=False, description="Measure and report, but never roll back.")
    metrics: tuple[Metric, ...] = Field(min_length=1)

    @property
    def compares_with_stable(self) -> bool:
        """True when some metric needs the stable's sample (maxIncrease, maxDecrease or a judge)."""
        return any(m.compares_with_stable for m in self.metrics)

    @property
    def judged(self) -> tuple[str, ...]:
        """The names of the metrics with a statistical judge (their samples need per-interval series)."""
        return tuple(m.name for m in self.metrics if m.judge is not None)

    @model_validator(mode="after")
    def _metric_names_unique(self) -> Analysis:
        names = [m.name for m in self.metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(dupes)}")
        return self

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
decide whether they stream. An Endpoint's `time-to-first-token-p*` may instead be read from what Vertex AI
publishes (`source: vertex`): AI AutoMetrics' copy of a vLLM serving container's own time-to-first-token
histogram, per deployed model, which also covers traffic that never goes through the runtime client (only for
vLLM containers; a Prompt's versions are not deployed models, so a Prompt refuses it). A metric may also be
judged statistically against the stable (`judge: mann-whitney`, Kayenta's Mann-Whitney classifier over
per-interval values, `rollout/judge.py`): `Metric.judge_settings` holds its settings with the metric's
defaults filled in. The metric names, the unit
each threshold takes and how a written threshold is normalised live in `metric_thresholds.py`.
"""

from __future__ import annotations

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
from controller.model.metric_thresholds import (
    ANY_TEXT_RE,
    BUILTIN_METRICS,
    HIGHER_IS_BETTER,
    MAX_INCREASE,
    PERCENT_TEXT,
    RATE_PERCENT_TEXT,
    SCHEMA_RULES,
    TTFT_METRICS,
    UNJUDGEABLE,
    Threshold,
    Unit,
    decrease_value,
    increase_value,
    threshold_value,
    unit_of,
)

Aligner = Literal["ALIGN_DELTA", "ALIGN_RATE", "ALIGN_SUM", "ALIGN_MEAN", "ALIGN_MAX", "ALIGN_PERCENTILE_99"]
Reducer = Literal["REDUCE_NONE", "REDUCE_SUM", "REDUCE_MEAN", "REDUCE_MAX", "REDUCE_PERCENTILE_99"]


class MetricQuery(Frozen):
    """A custom Cloud Monitoring query (ListTimeSeries): one metric type in the filter."""

    filter: str = Field(min_length=1, description='A ListTimeSeries filter, e.g. metric.type="..."')
    aligner: Aligner = "ALIGN_DELTA"
    reducer: Reducer = "REDUCE_SUM"


class MetricSource(StrEnum):
    """Where a streaming metric's values come from."""

    RUNTIME = "runtime"  # the runtime client's metrics of the streams it made (the default)
    VERTEX = "vertex"  # AI AutoMetrics: a vLLM serving container's own histogram, exported by Vertex AI


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


_CHANGE = Annotated[StrictFloat, Field(ge=0, le=1)] | Annotated[str, Field(pattern=RATE_PERCENT_TEXT)] | None


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

    model_config = ConfigDict(json_schema_extra=SCHEMA_RULES)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    query: MetricQuery | None = None
    min: Threshold
    max: Threshold
    max_ms: StrictFloat | None = Field(
        default=None, gt=0, description="Latency metrics only: the upper bound in milliseconds (same as max: <n>ms)."
    )
    max_increase: (
        Annotated[StrictFloat, Field(ge=0, le=MAX_INCREASE)] | Annotated[str, Field(pattern=PERCENT_TEXT)] | None
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
    source: MetricSource | None = Field(
        default=None,
        description="time-to-first-token-p50/p95/p99 of an Endpoint only: where the values come from. runtime "
        "(the default): the genaiops runtime client's measurements of the streams it made. vertex: what Vertex "
        "AI publishes per deployed model (AI AutoMetrics' copy of a vLLM serving container's "
        "vllm:time_to_first_token_seconds histogram), which covers streams from any client; vLLM containers only.",
        examples=["vertex"],
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
            if isinstance(value, str) and not ANY_TEXT_RE.fullmatch(value):
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
        if self.source is MetricSource.VERTEX and (self.query is not None or self.name not in TTFT_METRICS):
            raise ValueError(
                f"source: vertex applies only to {', '.join(TTFT_METRICS)} (Vertex AI publishes a vLLM container's "
                f"time to first token; metric {self.name!r} has no Vertex source): remove 'source'"
            )
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
    def from_vertex(self) -> bool:
        """True when the metric is read from what Vertex AI publishes (`source: vertex`), not the runtime's."""
        return self.source is MetricSource.VERTEX

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

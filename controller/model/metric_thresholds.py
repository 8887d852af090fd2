"""Canary analysis metric names and the units of their thresholds, checked once.

Which metrics exist (Vertex AI endpoint metrics, the runtime client's prompt metrics, its streaming metrics),
which unit each threshold takes (a duration, a fraction or percentage, a rating, a plain number), how a
written threshold becomes its normalised value, and the JSON Schema rules that tell editors the same. The
`Metric` and `Analysis` kinds (`analysis.py`) validate with these; rendering and judging never read the text
again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from controller.model.common import StrictFloat

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


def percentile_of(name: str) -> int | None:
    """The percentile a duration metric names (`latency-p95`, `time-to-first-token-p99` -> 95, 99), else
    None."""
    return int(name.rsplit("-p", 1)[1]) if name in DURATION_METRICS else None


def distribution_value(
    name: str, *, count: int, mean: float, percentile: Callable[[int], float | None]
) -> float | None:
    """A distribution metric's value: `percentile(q)` for a metric naming one (`time-to-first-token-pNN`, in
    ms), else the mean (`tokens-per-second`, `feedback-score`); None for an empty distribution. The
    providers pass their distribution's count, mean and percentile (a protobuf's, or the runtime's)."""
    if not count:
        return None
    q = percentile_of(name)
    return percentile(q) if q is not None else mean


HIGHER_IS_BETTER = ("feedback-score", "tokens-per-second")
UNJUDGEABLE = ("request-count",)  # follows the traffic weight: the canary always has fewer than the stable
MAX_INCREASE = 10.0  # 1000% above the stable: a bare number beyond this is a percentage written as a fraction


DURATION_TEXT = r"^\d+(\.\d+)?(ms|s)$"
PERCENT_TEXT = r"^\d+(\.\d+)?%$"
RATE_PERCENT_TEXT = r"^(100(\.0+)?|\d{1,2}(\.\d+)?)%$"  # 0% to 100%
DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s)")
PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)%")
ANY_TEXT = r"^\d+(\.\d+)?(ms|s|%)$"
ANY_TEXT_RE = re.compile(ANY_TEXT)


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
        match = DURATION_RE.fullmatch(value)
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
        match = PERCENT_RE.fullmatch(value)
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
        match = PERCENT_RE.fullmatch(value)
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
        match = PERCENT_RE.fullmatch(value)
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


THRESHOLD_DOC = (
    "Latency and time-to-first-token metrics: a duration such as 1.5s or 300ms (a bare number is refused: no "
    "unit). tokens-per-second: output tokens per second, a plain number (usually a min). error-rate and "
    "safety-block-rate: a fraction from 0 to 1, or a percentage such as 2%. feedback-score: a mean rating from "
    "1 to 5. request-count, cost-per-request (USD), output-tokens-per-request and custom query metrics: a "
    "plain number."
)
Threshold = Annotated[
    StrictFloat | Annotated[str, Field(pattern=ANY_TEXT)] | None,
    Field(default=None, description=THRESHOLD_DOC, examples=[0.02, "2%", "1.5s", "300ms"]),
]


def _bounds_schema(then: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {"min": then, "max": then}}


def _builtin(*names: str) -> dict[str, Any]:
    return {"required": ["name"], "properties": {"name": {"enum": list(names)}}, "not": {"required": ["query"]}}


# Which form `min` and `max` take, by metric (what the validators below enforce, for editors and CI).
SCHEMA_RULES: dict[str, Any] = {
    "allOf": [
        {
            "if": _builtin(*DURATION_METRICS),
            "then": _bounds_schema({"type": "string", "pattern": DURATION_TEXT}),
        },
        {
            "if": _builtin(*RATE_METRICS),
            "then": _bounds_schema(
                {
                    "anyOf": [
                        {"type": "number", "minimum": 0, "maximum": 1},
                        {"type": "string", "pattern": RATE_PERCENT_TEXT},
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
        {  # source: vertex reads AutoMetrics' time to first token: only those metrics have it
            "if": {"required": ["source"], "properties": {"source": {"const": "vertex"}}},
            "then": {"properties": {"name": {"enum": list(TTFT_METRICS)}}, "not": {"required": ["query"]}},
        },
        {  # without a judge, at least one threshold
            "if": {"not": {"required": ["judge"]}},
            "then": {"anyOf": [{"required": [k]} for k in ("min", "max", "maxMs", "maxIncrease", "maxDecrease")]},
        },
    ]
}

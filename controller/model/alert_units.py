"""What an Alert's threshold is measured in, per built-in metric, and its normalised value.

Shared by the loader (which reports a threshold written in the wrong unit at its file:line:col) and the
planner's compiler (controller/plans/alert_compile.py, which sends the normalised number as the policy's
`thresholdValue`). `threshold_value` (controller/model/alert.py) parses the text; this module says whether
the unit fits the metric and what the number means:

- ratios (`error-rate`, `safety-block-rate`, `cache-hit-rate`): a fraction from 0 to 1, written 0.05 or 5%;
- latencies (`latency-p50/p95/p99`, and streamed answers' `time-to-first-token-p50/p95/p99`): milliseconds,
  written with the unit, 1500ms or 1.5s (a plain number is refused, as canary analysis refuses it: `1.5`
  meant as seconds would alert at 1.5 ms);
- costs (`cost-per-hour`, `cost-per-day`): US dollars spent in the hour or day, written $50 or 50;
- `feedback-score`: the mean user rating, from 1 to 5 (a plain number);
- counts (`request-count`, `input-tokens`, `output-tokens`): per second (a plain number), as Cloud
  Monitoring's ALIGN_RATE gives them; `tokens-per-second` (streamed answers' mean output tokens per second)
  a plain number too;
- a custom `query`: whatever the query returns (any unit is taken as written: 5% is 0.05, 2s is 2000).
"""

from __future__ import annotations

from enum import StrEnum

from controller.model.alert import threshold_value


class AlertUnit(StrEnum):
    """The unit of a built-in alert metric's threshold."""

    RATIO = "ratio"
    MS = "ms"
    USD = "usd"
    RATING = "rating"
    PER_SECOND = "per-second"
    ANY = "any"  # a custom query


RATIO_ALERT_METRICS = ("error-rate", "safety-block-rate", "cache-hit-rate")
LATENCY_ALERT_METRICS = (
    "latency-p50",
    "latency-p95",
    "latency-p99",
    "time-to-first-token-p50",
    "time-to-first-token-p95",
    "time-to-first-token-p99",
)
COST_ALERT_METRICS = ("cost-per-hour", "cost-per-day")
RATE_ALERT_METRICS = ("request-count", "input-tokens", "output-tokens")
RATING_RANGE = (1.0, 5.0)

_HOW = {
    AlertUnit.RATIO: "a fraction from 0 to 1 or a percentage: write 0.05 or 5%",
    AlertUnit.MS: "a latency needs its unit: write 1500ms or 1.5s",
    AlertUnit.USD: "US dollars: write $50 or 50",
    AlertUnit.RATING: "a mean rating from 1 to 5: write a plain number such as 3.5",
    AlertUnit.PER_SECOND: "a rate per second: write a plain number such as 10",
}
_ACCEPTS = {
    AlertUnit.RATIO: ("", "ratio"),
    AlertUnit.MS: ("ms",),
    AlertUnit.USD: ("", "usd"),
    AlertUnit.RATING: ("",),
    AlertUnit.PER_SECOND: ("",),
}


def alert_unit(metric: str | None) -> AlertUnit:
    """The unit of a built-in metric's threshold (ANY for a custom query, `metric` None)."""
    if metric is None:
        return AlertUnit.ANY
    if metric in RATIO_ALERT_METRICS:
        return AlertUnit.RATIO
    if metric in LATENCY_ALERT_METRICS:
        return AlertUnit.MS
    if metric in COST_ALERT_METRICS:
        return AlertUnit.USD
    if metric == "feedback-score":
        return AlertUnit.RATING
    return AlertUnit.PER_SECOND


def normalised_threshold(metric: str | None, threshold: float | str) -> float:
    """The number a policy compares with: a fraction, milliseconds, dollars, a rating or a rate. ValueError
    (saying how to write it) for a unit the metric does not take or a value out of its range."""
    number, unit = threshold_value(threshold)
    kind = alert_unit(metric)
    if kind is AlertUnit.ANY:
        return number
    written = threshold if isinstance(threshold, str) else f"{threshold:g}"
    if unit not in _ACCEPTS[kind]:
        raise ValueError(f"{metric} threshold {written!r} has the wrong unit: {_HOW[kind]}")
    if kind is AlertUnit.RATIO and not 0 <= number <= 1:
        raise ValueError(f"{metric} threshold {written!r} is out of range: {_HOW[kind]} (0% to 100%)")
    if kind is AlertUnit.RATING and not RATING_RANGE[0] <= number <= RATING_RANGE[1]:
        raise ValueError(f"{metric} threshold {written!r} is out of range: {_HOW[kind]}")
    if number < 0:
        raise ValueError(f"{metric} threshold {written!r} is negative: {_HOW[kind]}")
    return number


__all__ = [
    "COST_ALERT_METRICS",
    "LATENCY_ALERT_METRICS",
    "RATE_ALERT_METRICS",
    "RATIO_ALERT_METRICS",
    "AlertUnit",
    "alert_unit",
    "normalised_threshold",
]

"""Canary analysis settings: which metrics judge a canary, their thresholds, and the limits that turn
measurements into a verdict (Argo Rollouts' AnalysisTemplate and Flagger's metric checks, in one place)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from controller.model.common import Duration, Frozen, Interval, StrictBool, StrictFloat, StrictInt

BUILTIN_METRICS = ("error-rate", "latency-p50", "latency-p95", "latency-p99", "request-count")
LATENCY_METRICS = ("latency-p50", "latency-p95", "latency-p99")

Aligner = Literal["ALIGN_DELTA", "ALIGN_RATE", "ALIGN_SUM", "ALIGN_MEAN", "ALIGN_MAX", "ALIGN_PERCENTILE_99"]
Reducer = Literal["REDUCE_NONE", "REDUCE_SUM", "REDUCE_MEAN", "REDUCE_MAX", "REDUCE_PERCENTILE_99"]


class MetricQuery(Frozen):
    """A custom Cloud Monitoring query (ListTimeSeries): one metric type in the filter."""

    filter: str = Field(min_length=1, description='A ListTimeSeries filter, e.g. metric.type="..."')
    aligner: Aligner = "ALIGN_DELTA"
    reducer: Reducer = "REDUCE_SUM"


class Metric(Frozen):
    """One check: a built-in metric (`error-rate`, `latency-p99`, ...) or a custom `query`."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    query: MetricQuery | None = None
    min: StrictFloat | None = None
    max: StrictFloat | None = None
    max_ms: StrictFloat | None = Field(default=None, gt=0, description="For latency metrics: upper bound in ms.")
    max_increase: StrictFloat | None = Field(
        default=None,
        ge=0,
        description="Fail when the canary is worse than the stable deployment by more than this fraction "
        "(0.5 = 50% higher).",
    )

    @model_validator(mode="after")
    def _is_checkable(self) -> Metric:
        if self.query is None and self.name not in BUILTIN_METRICS:
            raise ValueError(f"unknown metric {self.name!r}: use one of {', '.join(BUILTIN_METRICS)} or give a 'query'")
        if self.max_ms is not None and self.name not in LATENCY_METRICS:
            raise ValueError("'maxMs' applies only to latency metrics (latency-p50, latency-p95, latency-p99)")
        if all(v is None for v in (self.min, self.max, self.max_ms, self.max_increase)):
            raise ValueError(f"metric {self.name!r} needs a threshold: min, max, maxMs or maxIncrease")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    @property
    def upper_bound(self) -> float | None:
        """The absolute upper threshold, whichever field carries it."""
        return self.max_ms if self.max_ms is not None else self.max


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

    @model_validator(mode="after")
    def _metric_names_unique(self) -> Analysis:
        names = [m.name for m in self.metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(dupes)}")
        return self

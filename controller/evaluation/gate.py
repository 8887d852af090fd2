"""The evaluation gate: the scores of a tuned model's answers over an evaluation Dataset, against thresholds.

Place in the flow: after a TuningJob succeeds, the engine asks the tuned model for an answer to every
example of the evaluation Dataset (`controller.evaluation.examples` reads them) and hands the
(expected, answer) pairs here; `score` averages each gate metric's scorer over them and compares the mean
with the metric's `min`. The result is a value: `to_json()` is the report file, `labels()` the verdict the
engine records on a resource, so nothing routes to a model that failed or was never judged. Pure: no I/O
beyond importing an allowed custom scorer (see `controller.evaluation.scorers`).

A gate with no examples fails: like a canary's `minRequests`, it never passes on no data.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from controller.evaluation.scorers import resolve
from controller.model.tuning import GateMetric

REPORT_VERSION = 1
GATE_LABEL = "genaiops-gate"  # passed | failed
GATE_HASH_LABEL = "genaiops-gate-hash"  # the first 16 hex digits of the report's SHA-256
_DIGITS = 6  # the report's means are rounded to this many decimals (pass/fail is decided unrounded)


@dataclass(frozen=True)
class MetricResult:
    """One gate metric over the examples: its mean score, its threshold and the verdict."""

    name: str
    scorer: str  # the built-in name, or package.module:function
    minimum: float
    mean: float | None  # None when there was no example
    count: int
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        """The metric's entry in the report."""
        mean = None if self.mean is None else round(self.mean, _DIGITS)
        return {
            "name": self.name,
            "scorer": self.scorer,
            "min": self.minimum,
            "mean": mean,
            "count": self.count,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class GateResult:
    """The verdict of the gate: every metric, how many examples were scored, and whether all passed."""

    metrics: tuple[MetricResult, ...]
    examples: int

    @property
    def passed(self) -> bool:
        """True when there was at least one example and every metric reached its threshold."""
        return self.examples > 0 and all(metric.passed for metric in self.metrics)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (see `to_json`)."""
        return {
            "version": REPORT_VERSION,
            "passed": self.passed,
            "examples": self.examples,
            "metrics": [metric.as_dict() for metric in self.metrics],
        }

    def to_json(self) -> str:
        """The report file: stable JSON (sorted keys, means rounded), so equal results are equal bytes."""
        return json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n"

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of `to_json()`: names the report a resource's labels point at."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def labels(self) -> dict[str, str]:
        """The verdict as resource labels (values match `[a-z0-9_-]{0,63}`): passed/failed and the report hash."""
        return {GATE_LABEL: "passed" if self.passed else "failed", GATE_HASH_LABEL: self.digest[:16]}


def score(
    metrics: Sequence[GateMetric],
    examples: Iterable[tuple[str, str]],
    *,
    max_examples: int | None = None,
    allowed: Sequence[str] | None = None,
    refuse_under: Path | None = None,
) -> GateResult:
    """Score (expected, answer) pairs with every metric and judge each mean against its `min`.

    At most `max_examples` pairs are read (the first ones). Every scorer is resolved before the first
    example is read, so a refused custom scorer fails fast; `allowed` and `refuse_under` are passed to
    `scorers.load_scorer` (the allow-list defaults to GENAIOPS_SCORERS). Raises ScorerError for a scorer
    that is refused, fails or returns anything but a number in [0, 1], naming it."""
    if not metrics:
        raise ValueError("the gate needs at least one metric to score")
    scorers = [resolve(metric, allowed=allowed, refuse_under=refuse_under) for metric in metrics]
    totals: list[list[float]] = [[] for _ in metrics]
    count = 0
    for expected, answer in islice(examples, max_examples):
        count += 1
        for scorer, scores in zip(scorers, totals, strict=True):
            scores.append(scorer(expected, answer))
    results = []
    for metric, scores in zip(metrics, totals, strict=True):
        mean = math.fsum(scores) / count if count else None
        results.append(
            MetricResult(
                name=metric.name,
                scorer=metric.scorer or metric.name,
                minimum=metric.min,
                mean=mean,
                count=count,
                passed=mean is not None and mean >= metric.min,
            )
        )
    return GateResult(metrics=tuple(results), examples=count)


__all__ = ["GATE_HASH_LABEL", "GATE_LABEL", "REPORT_VERSION", "GateResult", "MetricResult", "score"]

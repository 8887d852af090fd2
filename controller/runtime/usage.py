"""The usage and feedback reports as pure values: metric totals read back from Cloud Monitoring, grouped
into one row per prompt, prompt version, prompt label or model (`genaiops usage --by ...`), and stored
feedback summarised per prompt version (`genaiops feedback report`, `feedback_rows`).

Place in the flow: `controller.providers.metric_reader` reads the increase of every genaiops runtime metric
over the window per allow-listed label set (`SeriesTotal`); `usage_rows` groups them and derives the rates
and percentiles; `controller.views.usage_table` renders the rows (human table or JSON). No I/O here.

Grouping: `prompt` by prompt name; `version` by (prompt, version); `label` by (prompt, label); `model` by
the model called. Error rate is errors / requests (timeouts, rate limits and model errors; blocked requests
are counted as safety blocks, not errors); cache hit rate is cache hits / requests; p50 / p99 latency come
from the merged latency distribution of the group; feedback is the count and mean of the ratings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controller.runtime.aggregate import Distribution, merge, percentile
from controller.runtime.records import Feedback

GROUPINGS: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "version": ("prompt", "version"),
    "label": ("prompt", "label"),
    "model": ("model",),
}


@dataclass(frozen=True)
class SeriesTotal:
    """One metric's increase over the report window for one label set (summed over processes)."""

    metric: str  # MetricDef.name
    labels: Mapping[str, str]
    value: float | Distribution


@dataclass(frozen=True)
class UsageRow:
    """One group of the usage report. `group` is ((key, value), ...) in the grouping's key order; the
    total row has an empty group."""

    group: tuple[tuple[str, str], ...]
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    thinking_tokens: int = 0
    cost_usd: float = 0.0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    cache_hits: int = 0
    safety_blocks: int = 0
    feedback_count: int = 0
    feedback_average: float | None = None

    @property
    def error_rate(self) -> float | None:
        """errors / requests (None without requests)."""
        return self.errors / self.requests if self.requests else None

    @property
    def cache_hit_rate(self) -> float | None:
        """cache hits / requests (None without requests)."""
        return self.cache_hits / self.requests if self.requests else None


_COUNTERS = {
    "requests": "requests",
    "errors": "errors",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cached_tokens": "cached_tokens",
    "thinking_tokens": "thinking_tokens",
    "cache_hits": "cache_hits",
    "safety_blocks": "safety_blocks",
}


@dataclass
class _Acc:
    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    latency: list[Distribution] = field(default_factory=list)
    feedback: list[Distribution] = field(default_factory=list)

    def add(self, total: SeriesTotal) -> None:
        value = total.value
        if isinstance(value, Distribution):
            (self.latency if total.metric == "latency" else self.feedback).append(value)
        else:
            self.sums[total.metric] += value

    def row(self, group: tuple[tuple[str, str], ...]) -> UsageRow:
        latency = merge(self.latency)
        feedback = merge(self.feedback)
        counters = {attr: round(self.sums.get(metric, 0.0)) for metric, attr in _COUNTERS.items()}
        return UsageRow(
            group=group,
            cost_usd=self.sums.get("cost", 0.0),
            latency_p50_ms=percentile(latency, 50) if latency is not None else None,
            latency_p99_ms=percentile(latency, 99) if latency is not None else None,
            feedback_count=feedback.count if feedback is not None else 0,
            feedback_average=feedback.mean if feedback is not None and feedback.count else None,
            **counters,
        )


def usage_rows(totals: Iterable[SeriesTotal], *, by: str) -> tuple[list[UsageRow], UsageRow]:
    """One row per group (sorted by group) and the total row. Raises ValueError for an unknown `by`."""
    if by not in GROUPINGS:
        raise ValueError(f"--by must be one of {', '.join(GROUPINGS)} (got {by!r})")
    keys = GROUPINGS[by]
    groups: dict[tuple[tuple[str, str], ...], _Acc] = defaultdict(_Acc)
    overall = _Acc()
    for total in totals:
        group = tuple((k, total.labels.get(k, "")) for k in keys)
        groups[group].add(total)
        overall.add(total)
    rows = [acc.row(group) for group, acc in sorted(groups.items())]
    return rows, overall.row(())


# ---- feedback --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackRow:
    """Feedback on one prompt version: how many ratings, their mean, and the count of each rating 1-5."""

    prompt: str
    version: str
    count: int
    average: float
    ratings: tuple[int, int, int, int, int]
    labels: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


def feedback_rows(items: Iterable[Feedback]) -> list[FeedbackRow]:
    """One row per (prompt, version), sorted by prompt then version."""
    groups: dict[tuple[str, str], list[Feedback]] = {}
    for item in items:
        groups.setdefault((item.prompt, item.version), []).append(item)
    rows: list[FeedbackRow] = []
    for (prompt, version), group in sorted(groups.items(), key=lambda kv: (kv[0][0], _version_key(kv[0][1]))):
        counts = [0, 0, 0, 0, 0]
        for item in group:
            counts[item.rating - 1] += 1
        rows.append(
            FeedbackRow(
                prompt=prompt,
                version=version,
                count=len(group),
                average=sum(i.rating for i in group) / len(group),
                ratings=(counts[0], counts[1], counts[2], counts[3], counts[4]),
                labels=tuple(sorted({i.label for i in group})),
                models=tuple(sorted({i.model for i in group})),
            )
        )
    return rows


def _version_key(version: str) -> tuple[int, int | str]:
    """Numeric versions in numeric order, others after them in text order."""
    return (0, int(version)) if version.isdigit() else (1, version)

"""The cost page: what serving, tokens and tuning cost over a window, priced as `genaiops cost` prices them
(`controller/cost/report.py` with the bundled price table under the manifests' PriceBooks), and the same
per day over the last days of the window, with the runtime's requests per day.

The readings come through `CostReading`, which the CLI implements on the providers' cost reader (the same
reads `genaiops cost` makes): the dashboard never imports a provider. A day whose every item of a kind is
unpriced has no value that day (a gap, never $0); what could not be priced is listed with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from controller.cost.report import (
    GROUPINGS,
    CostItem,
    CostReport,
    Machine,
    Prices,
    ReplicaUsage,
    TokenUsage,
    TuningUsage,
    cost_report,
    serving_items,
    token_items,
    tuning_items,
)
from controller.dashboard.shapes import CostPage, CostRow, Point
from controller.errors import UserError
from controller.views.cost_report import unpriced_lines

DAY_S = 86400.0
MAX_DAYS = 31  # the daily series covers at most the last 31 days of the window
_SINCE = re.compile(r"(\d+)([dhm])")
_UNIT_S = {"d": 86400, "h": 3600, "m": 60}
MAX_SINCE_S = 400 * 86400


class CostReading(Protocol):
    """What the cost page reads of the target (implemented by the CLI on the providers' cost reader)."""

    def replicas(self, *, start: float, end: float) -> list[ReplicaUsage]:
        """Each deployed model's replica gauge over [start, end]."""
        ...

    def machines(self, *, regions: Iterable[str]) -> Mapping[tuple[str, str, str], Machine]:
        """What each live deployed model runs on, by (region, endpoint id, deployed model id)."""
        ...

    def runtime(self, *, start: float, end: float) -> tuple[list[TokenUsage], int]:
        """The runtime client's token usage over [start, end], and how many requests it served."""
        ...

    def tuning(self, *, regions: Iterable[str]) -> list[TuningUsage]:
        """Every tuning job genaiops started in `regions`."""
        ...


def since_seconds(text: str) -> float:
    """`30d`, `24h`, `90m`, `1d12h` -> seconds (1m to 400d); UserError otherwise."""
    cleaned = text.strip().lower()
    parts = _SINCE.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise UserError(f"since: expected a duration such as 30d, 24h or 90m (got {text!r})")
    seconds = float(sum(int(n) * _UNIT_S[u] for n, u in parts))
    if not 60 <= seconds <= MAX_SINCE_S:
        raise UserError(f"since: must be between 1m and 400d (got {text!r})")
    return seconds


def check_by(by: str) -> str:
    """`by` when it is a grouping of the cost report; UserError naming them otherwise."""
    if by not in GROUPINGS:
        raise UserError(f"by: one of {', '.join(GROUPINGS)} (got {by!r})")
    return by


def _items(
    reading: CostReading,
    prices: Prices,
    *,
    start: float,
    end: float,
    machines: Mapping[tuple[str, str, str], Machine],
    jobs: Sequence[TuningUsage],
) -> tuple[list[CostItem], int]:
    replicas = reading.replicas(start=start, end=end)
    tokens, requests = reading.runtime(start=start, end=end)
    items = [
        *serving_items(replicas, dict(machines), prices),
        *token_items(tokens, prices),
        *tuning_items(jobs, prices, start=start, end=end),
    ]
    return items, requests


def _rows(report: CostReport) -> list[CostRow]:
    return [
        CostRow(
            key=" / ".join(value for _, value in group.group),
            serving=group.serving_usd,
            tokens=group.tokens_usd,
            tuning=group.tuning_usd,
            total=group.usd,
        )
        for group in report.groups
    ]


def cost_page(
    reading: CostReading, prices: Prices, *, since: str, by: str, regions: Iterable[str], now: float
) -> CostPage:
    """The report over the last `since` grouped `by`, and a daily series of each kind of cost and of the
    runtime's requests over the last MAX_DAYS days of it."""
    seconds, by = since_seconds(since), check_by(by)
    wanted = sorted(set(regions))
    start = now - seconds
    first_replicas = reading.replicas(start=start, end=now)
    machines = reading.machines(regions=sorted({*wanted, *(u.region for u in first_replicas)}))
    jobs = reading.tuning(regions=wanted)
    tokens, _ = reading.runtime(start=start, end=now)
    items = [
        *serving_items(first_replicas, dict(machines), prices),
        *token_items(tokens, prices),
        *tuning_items(jobs, prices, start=start, end=now),
    ]
    report = cost_report(items, by=by)
    unpriced = [line.strip() for line in unpriced_lines(report)[1:]]
    daily: dict[str, list[Point]] = {"serving": [], "tokens": [], "tuning": []}
    requests: list[Point] = []
    days = min(int(-(-seconds // DAY_S)), MAX_DAYS)
    for day in range(days, 0, -1):
        begin, end = max(now - day * DAY_S, start), now - (day - 1) * DAY_S
        day_items, served = _items(reading, prices, start=begin, end=end, machines=machines, jobs=jobs)
        total = cost_report(day_items, by=by).total
        for kind in ("serving", "tokens", "tuning"):
            daily[kind].append((end, total.kind_usd(kind)))
        requests.append((end, float(served)))
    if seconds > MAX_DAYS * DAY_S:
        unpriced.append(f"the daily series covers the last {MAX_DAYS} days of the window; the totals cover all of it")
    return CostPage(
        since=since,
        by=by,
        currency="USD",
        rows=_rows(report),
        daily=daily,
        requests=requests,
        unpriced=unpriced,
    )


__all__ = ["CostReading", "check_by", "cost_page", "since_seconds"]

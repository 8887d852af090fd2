"""`genaiops usage` and `genaiops feedback report`: the runtime's usage per prompt, version, label or
model, and user feedback per prompt version, as tables for people or versioned JSON documents for machines.

Place in the flow: the CLI reads metric totals (controller/providers/metric_reader.py) or stored feedback
(controller/runtime/feedback.py), the pure report code (controller/runtime/usage.py) turns them into rows,
and this module renders the rows. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.table import Table

from controller.runtime.usage import GROUPINGS, FeedbackRow, UsageRow

USAGE_SCHEMA = "genaiops.dev/usage/v1"
FEEDBACK_SCHEMA = "genaiops.dev/feedback-report/v1"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _tokens(n: int) -> str:
    """Short token counts for the table (the JSON has exact ones): 950, 9999, 11.5k, 120k, 3.4M."""
    if n < 10_000:
        return str(n)
    value, suffix = (n / 1e6, "M") if n >= 1_000_000 else (n / 1e3, "k")
    return f"{value:.1f}{suffix}" if value < 100 else f"{value:.0f}{suffix}"


def _cost(usd: float) -> str:
    return f"${usd:.4f}" if usd < 100 else f"${usd:,.2f}"


def _feedback(row: UsageRow) -> str:
    if not row.feedback_count or row.feedback_average is None:
        return "-"
    return f"{row.feedback_average:.2f} ({row.feedback_count})"


def _table() -> Table:
    """Compact: no vertical rules and one space between columns, so a report fits 80 columns."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=0, expand=False)


def usage_table(rows: Sequence[UsageRow], total: UsageRow, *, by: str) -> Table:
    """One row per group, then the total: requests, tokens, cost, latency, error and cache-hit rates,
    safety blocks and feedback (average rating and how many)."""
    keys = GROUPINGS[by]
    table = _table()
    for key in keys:
        table.add_column(key.upper())
    numbers = ("REQS", "TOKENS\nIN", "TOKENS\nOUT", "COST", "P50\nMS", "P99\nMS", "ERROR\nRATE", "CACHE\nHITS")
    for column in (*numbers, "BLOCKS"):
        table.add_column(column, justify="right")
    table.add_column("FEEDBACK", justify="right")

    def cells(row: UsageRow) -> list[str]:
        return [
            str(row.requests),
            _tokens(row.input_tokens),
            _tokens(row.output_tokens),
            _cost(row.cost_usd),
            _ms(row.latency_p50_ms),
            _ms(row.latency_p99_ms),
            _pct(row.error_rate),
            _pct(row.cache_hit_rate),
            str(row.safety_blocks),
            _feedback(row),
        ]

    for row in rows:
        table.add_row(*(value for _, value in row.group), *cells(row))
    if len(rows) > 1:
        table.add_section()
        table.add_row("total", *([""] * (len(keys) - 1)), *cells(total), style="bold")
    return table


def _usage_doc(row: UsageRow) -> dict[str, Any]:
    return {
        **dict(row.group),
        "requests": row.requests,
        "errors": row.errors,
        "error_rate": row.error_rate,
        "tokens": {
            "input": row.input_tokens,
            "output": row.output_tokens,
            "cached": row.cached_tokens,
            "thinking": row.thinking_tokens,
        },
        "cost_usd": round(row.cost_usd, 9),
        "latency_ms": {"p50": row.latency_p50_ms, "p99": row.latency_p99_ms},
        "cache_hits": row.cache_hits,
        "cache_hit_rate": row.cache_hit_rate,
        "safety_blocks": row.safety_blocks,
        "feedback": {"count": row.feedback_count, "average": row.feedback_average},
    }


def usage_json(rows: Sequence[UsageRow], total: UsageRow, *, by: str, start: float, end: float, target: str) -> str:
    """The usage report as a versioned JSON document."""
    document = {
        "schema": USAGE_SCHEMA,
        "target": target,
        "window": {"start": _iso(start), "end": _iso(end)},
        "by": by,
        "groups": [_usage_doc(r) for r in rows],
        "total": _usage_doc(total),
    }
    return json.dumps(document, indent=2)


def feedback_table(rows: Sequence[FeedbackRow]) -> Table:
    """One row per prompt version: ratings, their average and how they spread over 1-5."""
    table = _table()
    table.add_column("PROMPT")
    table.add_column("VERSION")
    table.add_column("RATINGS", justify="right")
    table.add_column("AVERAGE", justify="right")
    for stars in range(1, 6):
        table.add_column(f"{stars}\u2605", justify="right")
    table.add_column("LABELS")
    for row in rows:
        table.add_row(
            row.prompt,
            row.version,
            str(row.count),
            f"{row.average:.2f}",
            *(str(n) for n in row.ratings),
            ", ".join(row.labels),
        )
    return table


def feedback_json(rows: Sequence[FeedbackRow], *, since: float, prompt: str | None, store: str) -> str:
    """The feedback report as a versioned JSON document."""
    document = {
        "schema": FEEDBACK_SCHEMA,
        "store": store,
        "since": _iso(since),
        "prompt": prompt,
        "versions": [
            {
                "prompt": r.prompt,
                "version": r.version,
                "count": r.count,
                "average": round(r.average, 4),
                "ratings": {str(i + 1): n for i, n in enumerate(r.ratings)},
                "labels": list(r.labels),
                "models": list(r.models),
            }
            for r in rows
        ],
    }
    return json.dumps(document, indent=2)

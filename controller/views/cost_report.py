"""`genaiops cost`: the spend report as a table for people or a versioned JSON document for machines.

Place in the flow: the CLI reads usage (controller/providers/cost_reader.py), the pure report
(controller/cost/report.py) prices and groups it, and this module renders it. No I/O here. An amount
without a price is written "unpriced" (JSON: null), never $0; the unpriced items are listed with the reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.table import Table

from controller.cost.report import GROUPINGS, CostGroup, CostItem, CostReport, Kind

COST_SCHEMA = "genaiops.dev/cost-report/v1"
_KINDS: tuple[Kind, ...] = ("serving", "tokens", "tuning")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def money(usd: float | None) -> str:
    """$0.0123 under $100, $1,234.56 above; "unpriced" for None."""
    if usd is None:
        return "unpriced"
    return f"${usd:.4f}" if usd < 100 else f"${usd:,.2f}"


def _tokens(n: int) -> str:
    if n < 10_000:
        return str(n)
    value, suffix = (n / 1e6, "M") if n >= 1_000_000 else (n / 1e3, "k")
    return f"{value:.1f}{suffix}" if value < 100 else f"{value:.0f}{suffix}"


def _cells(group: CostGroup) -> list[str]:
    kinds = [money(group.kind_usd(k)) if k in group.priced_kinds | group.unpriced_kinds else "-" for k in _KINDS]
    return [
        f"{group.node_hours:.2f}" if "serving" in group.priced_kinds | group.unpriced_kinds else "-",
        _tokens(group.tokens) if "tokens" in group.priced_kinds | group.unpriced_kinds else "-",
        *kinds,
        money(group.total_usd),
        str(group.unpriced) if group.unpriced else "",
    ]


def cost_table(report: CostReport) -> Table:
    """One row per group, then the total: node-hours, tokens, dollars by kind, the total and how many items
    are unpriced (their dollars are not in the figures)."""
    keys = GROUPINGS[report.by]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), expand=False)
    for key in keys:
        table.add_column(key.upper())
    for column in ("NODE\nHOURS", "TOKENS", "SERVING", "TOKEN\nCOST", "TUNING", "TOTAL", "UN-\nPRICED"):
        table.add_column(column, justify="right")
    for group in report.groups:
        table.add_row(*(value for _, value in group.group), *_cells(group))
    if len(report.groups) > 1:
        table.add_section()
        table.add_row("total", *([""] * (len(keys) - 1)), *_cells(report.total), style="bold")
    return table


def _what(item: CostItem) -> str:
    keys = item.keys
    if item.kind == "serving":
        where = f"{keys.get('model')}, {keys.get('region')}"
        return f"serving {keys.get('endpoint')}/{keys.get('deployed_model')} ({where})"
    if item.kind == "tokens":
        return f"tokens {keys.get('prompt')} v{keys.get('version')} [{keys.get('label')}] on {keys.get('model')}"
    return f"tuning {keys.get('tuning') or keys.get('job')} ({keys.get('model')})"


def unpriced_lines(report: CostReport) -> list[str]:
    """The unpriced items, one line each with the reason (nothing when every item has a price)."""
    if not report.unpriced:
        return []
    return [
        f"Unpriced ({len(report.unpriced)}), not in the totals:",
        *(f"  {_what(i)}: {i.why}" for i in report.unpriced),
    ]


def _group_doc(group: CostGroup) -> dict[str, Any]:
    return {
        **dict(group.group),
        "usd": None if group.total_usd is None else round(group.total_usd, 9),
        **{f"{k}_usd": None if (v := group.kind_usd(k)) is None else round(v, 9) for k in _KINDS},
        "node_hours": round(group.node_hours, 6),
        "tokens": group.tokens,
        "unpriced": group.unpriced,
    }


def _item_doc(item: CostItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        **dict(item.keys),
        "quantity": round(item.quantity, 6),
        "unit": item.unit,
        "usd": None if item.usd is None else round(item.usd, 9),
        "status": item.status,
        "why": item.why or None,
        "sources": list(item.sources),
        "detail": dict(item.detail),
    }


def cost_json(report: CostReport, *, start: float, end: float, target: str, prices: str) -> str:
    """The report as a versioned JSON document: groups, total, every item, the unpriced ones."""
    document = {
        "schema": COST_SCHEMA,
        "target": target,
        "window": {"start": _iso(start), "end": _iso(end)},
        "by": report.by,
        "prices": prices,
        "groups": [_group_doc(g) for g in report.groups],
        "total": _group_doc(report.total),
        "items": [_item_doc(i) for i in report.items],
        "unpriced": [{"kind": i.kind, **dict(i.keys), "why": i.why} for i in report.unpriced],
    }
    return json.dumps(document, indent=2)

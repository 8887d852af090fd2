"""`genaiops plan --output json`: the plan as a versioned JSON document for machines (CI bots, policy
checks). The shape is a contract users rely on: fields are only ever added within format 1.x, and the key
order is fixed so that two runs over the same state print byte-identical documents.

    {"format_version": "1.0", "target": ..., "summary": {...},
     "changes": [{"address", "kind", "name", "region", "action", "before", "after",
                  "changes": [{"path", "before", "after"}], "operations": [...], "reasons": [...],
                  "drift", "sync", "suspended", "health": {"state", "reason"}, "text_diffs": [{"path", "unified"}]}],
     "notes": [...], "diagnostics": [...], "fingerprint": {...},
     "cost": {"as_of", "total_monthly_delta", "total_monthly_max_delta", "total_one_off", "unpriced": [...],
              "lines": [{"address", "kind", "changed", "monthly_before", "monthly_after", "monthly_max_before",
                         "monthly_max_after", "one_off", "per_1k_requests_before", "per_1k_requests_after",
                         "notes"}], "line"}}

`cost` is there when the plan was priced (amounts in USD; null where no price was found). `environment` is
there when the plan was made with `--env`:

     "environment": {"name", "file", "settings": {"project", "region", "lockBucket", "promptStore"},
                     "overrides": [{"address", "column", "file", "kind", "line", "name", "origin", "path",
                                    "value"}], "line"}

Every value an override does not name is from base (the manifests' own files).
"""

from __future__ import annotations

import json
from typing import Any

from controller.plans.costs import cost_to_json
from controller.plans.plan import Plan
from controller.plans.planfile import change_to_json, environment_to_json
from controller.views.plan_human import cost_total_line, environment_line, overrides_by_resource, summary_line

FORMAT_VERSION = "1.0"


def _sorted_keys(value: Any) -> Any:
    """Dicts with sorted keys, recursively: before/after views print the same whatever built them."""
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def _change(change: dict[str, Any]) -> dict[str, Any]:
    for key in ("before", "after"):
        change[key] = _sorted_keys(change[key])
    for field in change["changes"]:
        field["before"], field["after"] = _sorted_keys(field["before"]), _sorted_keys(field["after"])
    return change


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The document as plain data (dicts, lists, strings, numbers)."""
    summary = plan.summary()
    return {
        "format_version": FORMAT_VERSION,
        "target": plan.target,
        "summary": {
            "add": summary.add,
            "change": summary.change,
            "destroy": summary.destroy,
            "traffic_shifts": summary.traffic_shifts,
            "rollouts": summary.rollouts,
            "attention": summary.attention,
            "has_changes": summary.has_changes,
            "line": summary_line(plan),
        },
        "changes": [_change(change_to_json(c)) for c in plan.changes],
        "notes": list(plan.notes),
        "diagnostics": [d.to_json() for d in plan.diagnostics],
        "fingerprint": dict(sorted(plan.fingerprint.items())),
        **({"cost": {**cost_to_json(plan.cost), "line": cost_total_line(plan.cost)}} if plan.cost is not None else {}),
        **({"environment": _environment(plan)} if plan.environment else {}),
    }


def _environment(plan: Plan) -> dict[str, Any]:
    """The environment object: each override also names its resource's address (as `changes` do)."""
    document = environment_to_json(plan)
    addresses = {id(o): address for address, group in overrides_by_resource(plan) for o in group}
    document["overrides"] = [
        {"address": addresses[id(o)], **_sorted_keys(data)}
        for o, data in zip(plan.overrides, document["overrides"], strict=True)
    ]
    document["line"] = environment_line(plan)
    return document


def render_json(plan: Plan) -> str:
    """The document as indented JSON text (no trailing newline: the CLI's echo adds it)."""
    return json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False)


__all__ = ["FORMAT_VERSION", "plan_to_json", "render_json"]

"""The human view of a plan, in Terraform's style: a header naming the target, then per resource a comment
line saying what will happen, the symbol block with field-level changes, the ordered operations and the
reasons, and a closing summary line. Colour comes from rich styles, so rich decides: ANSI on a terminal,
plain text in a pipe or a CI log.

The line model (`field_lines`, `format_value`, `phrase`, `summary_line`, `cost_rows`, `cost_total_line`,
`environment_line`, `overrides_by_resource`) is shared with the Markdown view, so both say the same thing in
the same words. A priced plan gets a cost section (each changed resource before -> after, and the total
change) before its notes and problems; a plan made with `--env` names the environment under the target, and
each value it set with its origin (`file:line:col`); every other value is from base. Warnings (a model
retiring within the horizon) are printed under the target as `validate` prints them, in yellow; errors at
the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from rich.console import Console
from rich.text import Text

from controller.model import Override
from controller.plans.costs import CostKind, PlanCost, ResourceCost, per_1k_usd, signed_usd, usd
from controller.plans.operations import describe
from controller.plans.plan import UNKNOWN, Action, Plan, ResourceChange

NO_CHANGES = "No changes. Live state matches the manifests."

_SIGN_STYLE = {"+": "green", "-": "red", "~": "yellow", ">": "cyan"}


@dataclass(frozen=True)
class Line:
    """One field-level line: `+ path: new`, `- path: old` or `~ path: old -> new`."""

    sign: str
    path: str
    old: Any = None
    new: Any = None

    def text(self) -> str:
        """The line without its sign."""
        match self.sign:
            case "+":
                return f"{self.path}: {format_value(self.new)}"
            case "-":
                return f"{self.path}: {format_value(self.old)}"
            case _:
                return f"{self.path}: {format_value(self.old)} -> {format_value(self.new)}"


def phrase(action: Action) -> str:
    """What happens, as the end of `# Endpoint/us-central1/chat ...`."""
    match action:
        case Action.CREATE:
            return "will be created"
        case Action.UPDATE:
            return "will be updated in-place"
        case Action.DELETE:
            return "will be destroyed"
        case Action.ROLLOUT:
            return "will be rolled out in stages"
        case Action.NOOP:
            return "is up to date"
        case _:
            assert_never(action)


_LEGEND = {
    Action.CREATE: "create",
    Action.UPDATE: "update in-place",
    Action.DELETE: "destroy",
    Action.ROLLOUT: "staged rollout (deploy, then shift traffic step by step)",
}


def format_value(value: Any) -> str:
    """A value as a reviewer reads it: strings quoted, `(known after apply)` bare, lists and maps inline."""
    if isinstance(value, str):
        return value if UNKNOWN in value else json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def _leaves(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Non-empty mappings are walked to their leaves so that every line names one field; so are lists of
    mappings, by index (`conditions.0.conditionThreshold.filter`, as field diffs name them)."""
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            yield from _leaves(f"{path}.{key}" if path else str(key), inner)
    elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
        for index, inner in enumerate(value):
            yield from _leaves(f"{path}.{index}" if path else str(index), inner)
    else:
        yield path, value


def field_lines(change: ResourceChange) -> list[Line]:
    """The field-level lines of a change: every field for a create or delete, the differences otherwise."""
    if change.action is Action.CREATE or (change.before is None and change.after is not None):
        return [Line("+", p, new=v) for p, v in _leaves("", change.after or {})]
    if change.action is Action.DELETE or change.after is None:
        return [Line("-", p, old=v) for p, v in _leaves("", change.before or {})]
    lines: list[Line] = []
    for field in change.changes:
        if field.before is None:
            lines += [Line("+", p, new=v) for p, v in _leaves(field.path, field.after)]
        elif field.after is None:
            lines += [Line("-", p, old=v) for p, v in _leaves(field.path, field.before)]
        else:
            lines.append(Line("~", field.path, field.before, field.after))
    return lines


@dataclass(frozen=True)
class CostRow:
    """One changed resource's cost as text: before, after and the change (`?` when it is not priced)."""

    address: str
    before: str
    after: str
    change: str
    notes: tuple[str, ...] = ()


def _cost_row(line: ResourceCost) -> CostRow:
    if not line.priced:
        return CostRow(line.address, "", "not priced", "?", line.notes)
    match line.kind:
        case CostKind.SERVING:
            top = line.monthly_max_after or 0.0
            after = usd(line.monthly_after or 0.0) + "/month"
            if round(top, 2) != round(line.monthly_after or 0.0, 2):
                after += f" (up to {usd(top)} at max replicas)"
            return CostRow(
                line.address,
                usd(line.monthly_before or 0.0) + "/month",
                after,
                signed_usd(line.monthly_delta) + "/month",
                line.notes,
            )
        case CostKind.TUNING:
            one_off = line.one_off or 0.0
            return CostRow(
                line.address, "", f"{usd(one_off)} once (training)", signed_usd(one_off) + " once", line.notes
            )
        case CostKind.PROMPT:
            before = line.per_1k_requests_before
            return CostRow(
                line.address,
                "" if before is None else f"{per_1k_usd(before)} per 1,000 requests",
                f"{per_1k_usd(line.per_1k_requests_after or 0.0)} per 1,000 requests",
                f"{per_1k_usd(line.per_1k_delta or 0.0, signed=True)} per 1,000 requests",
                line.notes,
            )
        case _:
            assert_never(line.kind)


def cost_rows(cost: PlanCost) -> list[CostRow]:
    """One row per changed resource that has a cost."""
    return [_cost_row(line) for line in cost.changed]


def cost_total_line(cost: PlanCost) -> str:
    """`Cost: +$1,022.00/month (up to +$1,898.00 at max replicas), $6.00 once; 1 resource not priced.`"""
    text = f"Cost: {signed_usd(cost.total_monthly_delta)}/month"
    if round(cost.total_monthly_max_delta, 2) != round(cost.total_monthly_delta, 2):
        text += f" (up to {signed_usd(cost.total_monthly_max_delta)} at max replicas)"
    if cost.total_one_off:
        text += f", {usd(cost.total_one_off)} once"
    unpriced = len(cost.unpriced)
    if unpriced:
        text += f"; {unpriced} resource{'s' if unpriced != 1 else ''} not priced"
    return text + "."


def summary_line(plan: Plan) -> str:
    """The closing line: Terraform's `Plan: ...` count, or why there is nothing to do."""
    summary = plan.summary()
    if summary.has_changes:
        return summary.line()
    if summary.attention:
        count = summary.attention
        return (
            f"No changes to apply, but {count} resource{'s' if count != 1 else ''} need{'s' if count == 1 else ''} "
            "attention (see Health above)."
        )
    if plan.errors:
        count = len(plan.errors)
        return (
            f"No changes planned, but {count} problem{'s' if count != 1 else ''} kept some resources out of the plan."
        )
    return NO_CHANGES


def _symbol(action: Action) -> Text:
    style = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red", Action.ROLLOUT: "cyan"}
    return Text(action.symbol, style=style.get(action, ""))


def _resource_lines(change: ResourceChange) -> Iterator[Text]:
    header = Text.assemble("  ", ("# ", "bold"), (change.address, "bold"), (f" {phrase(change.action)}", "bold"))
    yield header
    if change.action is Action.NOOP:
        return
    yield Text.assemble("  ", _symbol(change.action), f' resource "{change.kind}" "{change.name}" {{')
    for line in field_lines(change):
        yield Text.assemble("      ", (line.sign, _SIGN_STYLE[line.sign]), " ", line.text())
    for diff in change.text_diffs:
        yield Text(f"      {diff.path}:")
        for text in diff.unified.splitlines():
            style = "bold" if text[:3] in ("---", "+++") else _SIGN_STYLE.get(text[:1], "")
            yield Text.assemble("        ", (text, style))
    yield Text("    }")
    if change.operations:
        yield Text("    operations, in order:", style="dim")
        for number, op in enumerate(change.operations, start=1):
            yield Text(f"      {number}. {describe(op)}")
    if change.reasons:
        yield Text.assemble(("    why: ", "dim"), "; ".join(change.reasons))


def _legend(plan: Plan) -> Iterator[Text]:
    present = {c.action for c in plan.changes}
    yield Text("Resource actions are indicated with the following symbols:")
    for action, meaning in _LEGEND.items():
        if action in present:
            yield Text.assemble("  ", _symbol(action), f" {meaning}")
    yield Text("")


_SETTING_NAMES = {"project": "project", "region": "region", "lockBucket": "lock bucket", "promptStore": "prompt store"}


def environment_line(plan: Plan) -> str:
    """`Environment prod (manifests/environments/prod.yaml): project acme-genai-prod, region europe-west4`."""
    where = f" ({plan.environment_file})" if plan.environment_file else ""
    settings = ", ".join(f"{_SETTING_NAMES.get(k, k)} {v}" for k, v in plan.environment_settings.items())
    return f"Environment {plan.environment}{where}" + (f": {settings}" if settings else "")


def overrides_by_resource(plan: Plan) -> list[tuple[str, list[Override]]]:
    """The values the environment set, grouped by the address of their resource (in the plan's order;
    `Kind/name` for a manifest the plan has no change for, such as a Budget)."""
    addresses = {(c.kind, c.name): c.address for c in plan.changes}
    groups: dict[str, list[Override]] = {}
    for override in plan.overrides:
        address = addresses.get((override.kind, override.name), f"{override.kind}/{override.name}")
        groups.setdefault(address, []).append(override)
    return list(groups.items())


def _environment_lines(plan: Plan) -> Iterator[Text]:
    yield Text(environment_line(plan), style="bold")
    for address, overrides in overrides_by_resource(plan):
        yield Text(f"  {address}:")
        texts = [f"{o.path} = {format_value(o.value)}" for o in overrides]
        width = max(len(t) for t in texts)
        for text, override in zip(texts, overrides, strict=True):
            yield Text.assemble(f"    {text.ljust(width)}   ", ("← " + override.origin, "cyan"))
    what = "every other value" if plan.overrides else "it sets no manifest value: every value"
    yield Text(f"  ({what} is from base, the manifests' own files)", style="dim")
    yield Text("")


def plan_lines(plan: Plan, *, show_noop: bool = False) -> Iterator[Text]:
    """Every line of the human view, styled."""
    yield Text.assemble(("Target: ", "bold"), plan.target or "(not set)")
    yield Text("")
    if plan.warnings:
        for diagnostic in plan.warnings:  # above the plan, in yellow as `validate` prints them
            yield Text(diagnostic.render(), style="yellow")  # `file:line:col path: warning: ...`
            if diagnostic.detail:
                yield Text(f"  {diagnostic.detail}")
        yield Text("")
    if plan.environment:
        yield from _environment_lines(plan)
    shown = [c for c in plan.changes if show_noop or c.action is not Action.NOOP]
    if plan.actionable:
        yield from _legend(plan)
        yield Text("genaiops will perform the following actions:")
        yield Text("")
    for change in shown:
        yield from _resource_lines(change)
        yield Text("")
    hidden = len(plan.changes) - len(shown)
    if hidden and plan.actionable:
        yield Text(f"({hidden} resource{'s' if hidden != 1 else ''} unchanged, not shown)", style="dim")
        yield Text("")
    if plan.drifted:
        yield Text(
            "Changed outside genaiops (the manifests did not change since the last apply):", style="bold magenta"
        )
        for change in plan.drifted:
            fields = ", ".join(c.path for c in change.changes) or "deployed models"
            yield Text(f"  {change.address}: {fields}")
        yield Text("")
    if plan.attention:
        yield Text("Health (nothing to apply for these, but a person is needed):", style="bold red")
        for change in plan.attention:
            yield Text(f"  {change.address}: {change.health.state.value}: {change.health.reason}")
        yield Text("")
    if plan.cost is not None and plan.cost.changed:
        yield from _cost_lines(plan.cost)
    for note in plan.notes:
        yield Text.assemble(("Note: ", "bold yellow"), note)
    for diagnostic in plan.errors:
        yield Text.assemble(("Error: ", "bold red"), diagnostic.render())
        if diagnostic.detail:
            yield Text(f"  {diagnostic.detail}")
    if plan.notes or plan.errors:
        yield Text("")
    yield Text(summary_line(plan), style="bold")


def _cost_lines(cost: PlanCost) -> Iterator[Text]:
    yield Text(f"Cost (USD, prices as of {cost.as_of}):", style="bold")
    for row in cost_rows(cost):
        before = f"{row.before} -> " if row.before else ""
        yield Text(f"  {row.address}: {before}{row.after}: {row.change}")
        for note in row.notes:
            yield Text(f"    {note}", style="dim")
    yield Text(cost_total_line(cost), style="bold")
    yield Text("")


_BATCH = 500  # lines per console.print: one call per line is ~3x slower on plans of thousands of resources


def render_plan(plan: Plan, console: Console, *, show_noop: bool = False) -> None:
    """Print the plan. Lines are never wrapped by rich (soft wrap), so they copy and grep cleanly."""
    batch: list[Text] = []
    for line in plan_lines(plan, show_noop=show_noop):
        batch.append(line)
        if len(batch) >= _BATCH:
            console.print(Text("\n").join(batch), soft_wrap=True, highlight=False)
            batch.clear()
    if batch:
        console.print(Text("\n").join(batch), soft_wrap=True, highlight=False)


__all__ = [
    "NO_CHANGES",
    "CostRow",
    "Line",
    "cost_rows",
    "cost_total_line",
    "environment_line",
    "field_lines",
    "format_value",
    "overrides_by_resource",
    "phrase",
    "plan_lines",
    "render_plan",
    "summary_line",
]

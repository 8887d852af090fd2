"""`genaiops plan --output markdown`: the plan as a pull-request comment.

Layout: a title naming the target, the summary line, with `--env` a collapsed table of the values the
environment set and their origin (`file:line:col`; every other value is from base), problems, a table of
the resources that change (symbol, address, action, short reason), the cost (a table of each changed
resource's cost before and after, then the total change) when the plan was priced, notes, then one
collapsible `<details>` per changed resource with a ```diff block and its operations. GitHub rejects
comments over 65,536 characters, so the text is kept under `limit`: sections are filled in that order, item
by item, and whatever does not fit is left out (details first, then table rows) with a closing note saying
so. The summary line is always kept.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from controller.diagnostics import Severity
from controller.plans.costs import PlanCost
from controller.plans.operations import describe
from controller.plans.plan import Plan, ResourceChange
from controller.views.plan_human import (
    cost_rows,
    cost_total_line,
    environment_line,
    field_lines,
    format_value,
    overrides_by_resource,
    phrase,
    summary_line,
)

DEFAULT_LIMIT = 60_000
_REASON_CHARS = 100
_RESERVE = 300  # room kept for the truncation note


def _cell(text: str) -> str:
    """Table-cell safe: one line, pipes escaped, no HTML."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def _short(text: str, limit: int = _REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fence(lines: Iterable[str]) -> str:
    """A code fence longer than any run of backticks inside the block."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _row(change: ResourceChange) -> str:
    reason = _short("; ".join(change.reasons)) if change.reasons else ""
    return f"| `{change.action.symbol}` | `{change.address}` | {change.action.value} | {_cell(reason)} |\n"


def _diff_lines(change: ResourceChange) -> list[str]:
    lines = [f'{change.action.symbol} resource "{change.kind}" "{change.name}"']
    for line in field_lines(change):
        if line.sign == "~":
            lines.append(f"- {line.path}: {format_value(line.old)}")
            lines.append(f"+ {line.path}: {format_value(line.new)}")
        else:
            lines.append(f"{line.sign} {line.text()}")
    return lines


def _details(change: ResourceChange) -> str:
    diff = _diff_lines(change)
    fence = _fence(diff)
    summary = html.escape(f"{change.action.symbol} {change.address}")
    parts = [
        f"<details><summary><code>{summary}</code> {phrase(change.action)}</summary>\n\n",
        f"{fence}diff\n",
        *(f"{line}\n" for line in diff),
        f"{fence}\n\n",
    ]
    for text_diff in change.text_diffs:
        lines = text_diff.unified.splitlines()
        inner = _fence(lines)
        parts += [f"`{text_diff.path}`:\n\n{inner}diff\n", *(f"{line}\n" for line in lines), f"{inner}\n\n"]
    if change.operations:
        parts.append("Operations, in order:\n\n")
        parts += [f"{n}. {_cell(describe(op))}\n" for n, op in enumerate(change.operations, start=1)]
        parts.append("\n")
    if change.reasons:
        parts.append(f"Why: {_cell('; '.join(change.reasons))}\n\n")
    parts.append("</details>\n\n")
    return "".join(parts)


class _Writer:
    """Appends whole pieces while they fit in the budget."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit

    def fits(self, text: str) -> bool:
        return self.size + len(text) <= self.limit

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def add_all(self, items: list[str]) -> int:
        """Add items in order until one does not fit; the number added."""
        for count, item in enumerate(items):
            if not self.fits(item):
                return count
            self.add(item)
        return len(items)


def _problems(plan: Plan) -> list[str]:
    items = []
    for d in plan.diagnostics:
        label = "Error" if d.severity is Severity.ERROR else "Warning"
        where = f"`{d.source}` {_cell(d.path)}".rstrip()
        items.append(f"- **{label}:** {where}: {_cell(d.summary)}\n")
    return items


def _section(writer: _Writer, heading: str, items: list[str]) -> int:
    """A heading and as many items as fit; the number of items written."""
    if not items or not writer.fits(heading + items[0]):
        return 0
    writer.add(heading)
    count = writer.add_all(items)
    writer.add("\n")
    return count


def render_markdown(plan: Plan, *, limit: int = DEFAULT_LIMIT) -> str:
    """The plan as Markdown of at most `limit` characters (the title and summary line always included)."""
    changed = plan.actionable
    writer = _Writer(max(limit - _RESERVE, 0))
    writer.add(f"### genaiops plan for `{plan.target or 'the default target'}`\n\n**{summary_line(plan)}**\n\n")
    if plan.environment:
        _environment(writer, plan)
    problems = _problems(plan)
    shown_problems = _section(writer, "#### Problems\n\n", problems)
    health = [f"- `{c.address}`: **{c.health.state.value}**: {_cell(c.health.reason)}\n" for c in plan.attention]
    _section(writer, "#### Needs attention\n\n", health)
    rows = _section(writer, "| | Resource | Action | Why |\n|---|---|---|---|\n", [_row(c) for c in changed])
    unchanged = len(plan.changes) - len(changed)
    if changed and unchanged:
        writer.add_all([f"{unchanged} resource{'s' if unchanged != 1 else ''} unchanged.\n\n"])
    if plan.cost is not None and plan.cost.changed:
        _cost(writer, plan.cost)
    notes = [f"- {_cell(n)}\n" for n in plan.notes]
    shown_notes = _section(writer, "#### Notes\n\n", notes)
    details = writer.add_all([_details(c) for c in changed[:rows]])
    left_out = (len(problems) - shown_problems, len(notes) - shown_notes)
    writer.limit = limit
    writer.add_all(_truncation_notes(rows=rows, details=details, total=len(changed), left_out=left_out))
    text = "".join(writer.parts).rstrip("\n") + "\n"
    return text if len(text) <= limit else text[:limit]  # only when `limit` cannot even hold the summary


def _cost(writer: _Writer, cost: PlanCost) -> None:
    """The cost table and the total line (rows that do not fit are left out; the total is kept if it fits)."""
    heading = (
        f"#### Cost (USD, prices as of {_cell(cost.as_of)})\n\n"
        "| Resource | Before | After | Change |\n|---|---|---|---|\n"
    )
    rows = cost_rows(cost)
    items = [f"| `{r.address}` | {_cell(r.before) or 'none'} | {_cell(r.after)} | {_cell(r.change)} |\n" for r in rows]
    if not writer.fits(heading + items[0]):
        return
    writer.add(heading)
    shown = writer.add_all(items)
    writer.add("\n")
    if shown < len(items):
        writer.add_all([f"_{len(items) - shown} more cost rows left out._\n\n"])
    notes = [f"- `{r.address}`: {_cell(n)}\n" for r in rows[:shown] for n in r.notes]
    if notes:
        writer.add_all(["<details><summary>How these were estimated</summary>\n\n", *notes, "\n</details>\n\n"])
    writer.add_all([f"**{cost_total_line(cost)}**\n\n"])


def _environment(writer: _Writer, plan: Plan) -> None:
    """A collapsed table of the values the environment set, with their origin. It takes at most a third of
    the room left (the resources come first); rows that do not fit are left out, and a line says how many."""
    count = len(plan.overrides)
    source = f" from {plan.environment_file}" if plan.environment_file else ""
    head = (
        f"<details><summary>Environment <code>{html.escape(plan.environment)}</code>: "
        f"{count} value{'s' if count != 1 else ''}{html.escape(source)}</summary>\n\n"
        f"{_cell(environment_line(plan))}. Every other value is from base (the manifests' own files).\n\n"
    )
    rows = [
        f"| `{address}` | `{_cell(o.path)}` | `{_cell(format_value(o.value))}` | `{_cell(o.origin)}` |\n"
        for address, group in overrides_by_resource(plan)
        for o in group
    ]
    table = "| Resource | Field | Value | Origin |\n|---|---|---|---|\n" if rows else ""
    tail, note_room = "\n</details>\n\n", 60
    limit = writer.limit
    writer.limit = min(limit, writer.size + (limit - writer.size) // 3)
    if writer.fits(head + table + tail):
        writer.add(head + table)
        writer.limit -= len(tail) + note_room
        shown = writer.add_all(rows)
        writer.limit += len(tail) + note_room
        if shown < len(rows):
            writer.add(f"\n_{len(rows) - shown} more values left out._\n")
        writer.add(tail)
    writer.limit = limit


def _truncation_notes(*, rows: int, details: int, total: int, left_out: tuple[int, int]) -> list[str]:
    hint = "run `genaiops plan` for the full plan."
    out = []
    if rows < total:
        out.append(f"_Output truncated: {rows} of {total} resources shown; {hint}_\n")
    elif details < total:
        out.append(f"_Output truncated: details for {details} of {total} resources shown; {hint}_\n")
    problems, notes = left_out
    if problems or notes:
        out.append(f"_Also left out: {problems} problem(s) and {notes} note(s)._\n")
    return out


__all__ = ["DEFAULT_LIMIT", "render_markdown"]

"""Planning prompt changes against the prompt store, and carrying the plan out.

For each Prompt manifest: its content-addressed version (`version.py`), whether the store already has
it, which of its labels move, a unified text diff of the template and a field diff of the rest (system
instruction, model, generation config, variables, labels) against the version its labels point at now
(or the latest version when none does). Labels a manifest does not list stay where they are, so a new
version can go to `staging` while `production` keeps the old one; prompts are never deleted.

`plan_prompts` reads the store (through the port) and decides purely; `apply_prompt_plan` publishes;
`resource_changes` turns the plan into the generic `ResourceChange`s `genaiops plan` shows and counts;
`plan_lines` and `plan_markdown` render it for people.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from controller.plans.plan import Action, FieldChange, ResourceChange
from controller.prompts.index import PromptIndex
from controller.prompts.source import PromptSource
from controller.prompts.store import PromptStore, Published, publish
from controller.prompts.version import PromptVersion, Provenance, version_of

KIND = "Prompt"
REGION = "global"  # prompts live in the prompt store, not in a Vertex region


@dataclass(frozen=True)
class PromptChange:
    """The planned change to one prompt."""

    name: str
    action: Action
    version: PromptVersion
    new_version: bool
    labels: Mapping[str, str | None]  # labels that move -> the version they point at now (None: new)
    base: PromptVersion | None
    template_diff: str
    changes: tuple[FieldChange, ...]
    declared_labels: tuple[str, ...] = ()  # every label the manifest lists (all point at `version`)

    @property
    def address(self) -> str:
        """`Prompt/global/support-answer`, as in the rest of the plan."""
        return f"{KIND}/{REGION}/{self.name}"

    @property
    def diff_stat(self) -> tuple[int, int]:
        """Lines added and removed in the template."""
        lines = self.template_diff.splitlines()
        added = sum(1 for ln in lines if ln.startswith("+") and not ln.startswith("+++"))
        removed = sum(1 for ln in lines if ln.startswith("-") and not ln.startswith("---"))
        return added, removed


@dataclass(frozen=True)
class PromptPlan:
    """Every prompt's planned change, against one store."""

    changes: tuple[PromptChange, ...]
    store: str

    @property
    def actionable(self) -> tuple[PromptChange, ...]:
        """Changes that do something."""
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    def summary_line(self) -> str:
        """`Prompts: 1 to publish, 2 labels to move.`"""
        versions = sum(1 for c in self.changes if c.new_version)
        moves = sum(len(c.labels) for c in self.changes)
        return (
            f"Prompts: {versions} version{'s' if versions != 1 else ''} to publish, "
            f"{moves} label{'s' if moves != 1 else ''} to move ({self.store})."
        )


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def field_changes(before: PromptVersion | None, after: PromptVersion) -> tuple[FieldChange, ...]:
    """Every field outside the template that differs, by dotted path (`generationConfig.temperature`)."""

    def fields(version: PromptVersion | None) -> dict[str, Any]:
        if version is None:
            return {}
        content = {k: v for k, v in version.content().items() if k != "template" and v not in (None, {}, [])}
        return _flatten(content, "")

    old, new = fields(before), fields(after)
    return tuple(
        FieldChange(path, old.get(path), new.get(path))
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    )


def template_diff(before: PromptVersion | None, after: PromptVersion, *, after_file: str = "") -> str:
    """The unified diff of the template text (empty when equal)."""
    old = before.template if before is not None else ""
    if old == after.template:
        return ""
    from_name = f"{after.name}@{before.id}" if before is not None else "/dev/null"
    to_name = f"{after.name}@{after.id}" + (f" ({after_file})" if after_file else "")
    lines = difflib.unified_diff(
        old.splitlines(), after.template.splitlines(), fromfile=from_name, tofile=to_name, lineterm=""
    )
    return "\n".join(lines) + "\n"


def _base(index: PromptIndex, labels: Sequence[str], store: PromptStore, name: str) -> PromptVersion | None:
    for label in labels:
        if label in index.labels:
            return store.read_version(name, index.labels[label])
    return store.read_version(name, index.versions[-1].version) if index.versions else None


def plan_prompt(source: PromptSource, store: PromptStore) -> PromptChange:
    """The change for one prompt (reads its index and at most one stored version)."""
    version = version_of(source)
    labels = source.prompt.spec.labels
    index = store.read_index(source.name)
    if index is None:
        moves: dict[str, str | None] = dict.fromkeys(labels)
        diff = template_diff(None, version, after_file=source.template_file)
        changes = (*field_changes(None, version), *(FieldChange(f"labels.{lb}", None, version.id) for lb in labels))
        return PromptChange(source.name, Action.CREATE, version, True, moves, None, diff, changes, labels)
    new_version = not index.has(version.id)
    moves = {lb: index.labels.get(lb) for lb in labels if index.labels.get(lb) != version.id}
    base = _base(index, labels, store, source.name)
    diff = template_diff(base, version, after_file=source.template_file)
    label_changes = tuple(FieldChange(f"labels.{lb}", old, version.id) for lb, old in sorted(moves.items()))
    changes = (*field_changes(base, version), *label_changes) if new_version or moves else ()
    action = Action.UPDATE if new_version or moves else Action.NOOP
    diff = diff if changes else ""
    return PromptChange(source.name, action, version, new_version, moves, base, diff, changes, labels)


def plan_prompts(sources: Iterable[PromptSource], store: PromptStore) -> PromptPlan:
    """The change for every prompt, in manifest order."""
    return PromptPlan(tuple(plan_prompt(s, store) for s in sources), store.location)


def apply_prompt_plan(plan: PromptPlan, store: PromptStore, provenance: Provenance) -> list[Published]:
    """Publish each actionable change: store its version (if new) and move its labels, one prompt at a time.

    Safe to re-run: publishing is idempotent, and a label another writer moved meanwhile is moved again to
    what the manifests say (the manifests are the source of truth)."""
    done = []
    for change in plan.actionable:
        version = replace(change.version, provenance=replace(provenance, source=change.version.provenance.source))
        done.append(publish(store, version, change.declared_labels))
    return done


def resource_changes(plan: PromptPlan) -> list[ResourceChange]:
    """The plan as generic resource changes (no Vertex operations: apply publishes via the store)."""
    out = []
    for change in plan.changes:
        added, removed = change.diff_stat
        reasons = [f"new version {change.version.id}" if change.new_version else f"version {change.version.id}"]
        if added or removed:
            reasons.append(f"template changed (+{added} -{removed} lines)")
        reasons.extend(f"label {lb} -> {change.version.id}" for lb in sorted(change.labels))
        before = None if change.base is None else {"version": change.base.id, **change.base.content()}
        after = {"version": change.version.id, **change.version.content()}
        out.append(
            ResourceChange(
                kind=KIND,
                name=change.name,
                region=REGION,
                action=change.action,
                before=before,
                after=after,
                changes=change.changes,
                reasons=tuple(reasons) if change.action is not Action.NOOP else (),
            )
        )
    return out


def _shown(value: Any) -> str:
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


def plan_lines(plan: PromptPlan, *, show_noop: bool = False) -> list[str]:
    """The plan for people: per prompt a header, the field changes and the indented template diff."""
    lines: list[str] = []
    for change in plan.changes:
        if change.action is Action.NOOP and not show_noop:
            continue
        what = {Action.CREATE: "will be published", Action.UPDATE: "will be updated", Action.NOOP: "is up to date"}
        lines.append(
            f"  # {change.address} {what.get(change.action, change.action.value)}"
            f" (version {change.version.id}{', new' if change.new_version else ''})"
        )
        lines.append(f"  {change.action.symbol} prompt {_shown(change.name)} {{")
        for field in change.changes:
            if field.before is None:
                lines.append(f"      + {field.path}: {_shown(field.after)}")
            elif field.after is None:
                lines.append(f"      - {field.path}: {_shown(field.before)}")
            else:
                lines.append(f"      ~ {field.path}: {_shown(field.before)} -> {_shown(field.after)}")
        if change.template_diff:
            lines.append("      template:")
            lines.extend(f"        {line}" for line in change.template_diff.splitlines())
        lines.extend(("    }", ""))
    lines.append(plan.summary_line() if plan.actionable else f"Prompts: no changes ({plan.store}).")
    return lines


def plan_markdown(plan: PromptPlan) -> str:
    """The plan for a pull-request comment: per changed prompt a heading, the field changes, and the
    template diff in a ```diff block (GitHub colours it)."""
    parts: list[str] = []
    for change in plan.actionable:
        new = " (new version)" if change.new_version else ""
        parts.append(f"#### `{change.action.symbol}` Prompt `{change.name}` -> `{change.version.id}`{new}\n")
        parts.extend(f"- `{f.path}`: `{_shown(f.before)}` -> `{_shown(f.after)}`" for f in change.changes)
        if change.template_diff:
            parts.append(f"\n```diff\n{change.template_diff.rstrip()}\n```")
        parts.append("")
    parts.append(plan.summary_line() if plan.actionable else f"Prompts: no changes ({plan.store}).")
    return "\n".join(parts) + "\n"

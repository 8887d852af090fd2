"""Planning prompt changes against the prompt store, as ordinary resource changes of the Plan.

For each Prompt manifest: its content-addressed version (`version.py`), whether the store already has
it, which of its labels move, a unified text diff of the template and a field diff of the rest (system
instruction, model, generation config, variables, labels) against the version its labels point at now
(or the latest version when none does). The change carries two operations the engine's executor runs
through the prompt-store port like any other: `PublishPromptVersion` (when the version is new) and
`MovePromptLabels`. Labels a manifest does not list stay where they are, so a new version can go to
`staging` while `production` keeps the old one; prompts are never deleted.

Drift: a label that genaiops last pointed at the version the manifests still declare, and that now points
elsewhere, was moved outside genaiops (by hand, `genaiops prompts label` or `rollback`): the change is
marked as drift, reported by `plan` and healed by `reconcile` only with --self-heal, like endpoints.

Canary: a Prompt with `rollout: {strategy: canary}` does not move a label that already points at a
version; it gets `StartPromptRollout` instead (the label keeps its version, the index records the
candidate and the first step's weight, and the rollout driver takes it from there). A label that is new
(nothing to compare with) is pointed at once. A label whose rollout of this very version is under way
plans nothing (the driver's work), and one whose rollout of this version was rolled back plans nothing
either: the version is not retried until the content changes or `genaiops rollout retry`.

`plan_prompts` reads the store (through the port) and decides purely.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from controller.plans.operations import MovePromptLabels, Operation, PublishPromptVersion, StartPromptRollout
from controller.plans.plan import Action, FieldChange, Health, HealthState, ResourceChange, TextDiff
from controller.prompts.canary import prompt_steps
from controller.prompts.index import LabelRollout, PromptIndex
from controller.prompts.source import PromptSource
from controller.prompts.store import PromptStore
from controller.prompts.version import PromptVersion, Provenance, version_of
from controller.rollout.state import Phase

KIND = "Prompt"
REGION = "global"  # prompts live in the prompt store, not in a Vertex region


def address(name: str) -> str:
    """`Prompt/global/support-answer`, as in the rest of the plan."""
    return f"{KIND}/{REGION}/{name}"


def document(version: PromptVersion) -> dict[str, Any]:
    """What a PublishPromptVersion carries: the stored document without who/when (stamped at apply)."""
    body = version.to_json()
    for key in ("created", "commit", "author"):
        body.pop(key, None)
    return body


def version_from(op: PublishPromptVersion, provenance: Provenance) -> PromptVersion:
    """The version to store for `op`, stamped with who applies it; ValueError when the document was
    tampered with (its content no longer matches its id)."""
    version = PromptVersion.from_json(op.document)
    if version.id != op.version_id or version.name != op.name:
        raise ValueError(f"the planned document of prompt {op.name} does not match version {op.version_id}")
    return replace(version, provenance=replace(provenance, source=version.provenance.source))


def fingerprint(index: PromptIndex | None) -> str:
    """What must not change between plan and `apply PLANFILE`: the versions, where the labels point, and
    which canaries run (not their progress: a driver's pass must not make a reviewed plan stale)."""
    if index is None:
        return ""
    canaries = sorted((lb, r.state.revision, r.stable, r.state.failed_revision) for lb, r in index.rollouts.items())
    parts: list[object] = [[e.version for e in index.versions], sorted(index.labels.items())]
    body = json.dumps([*parts, canaries] if canaries else parts)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


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


def _reasons(version: PromptVersion, new: bool, diff: str, moves: Mapping[str, str | None]) -> tuple[str, ...]:
    added = sum(1 for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++"))
    removed = sum(1 for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---"))
    reasons = [f"new version {version.id}" if new else f"version {version.id}"]
    if added or removed:
        reasons.append(f"template changed (+{added} -{removed} lines)")
    reasons.extend(f"label {lb} -> {version.id}" for lb in sorted(moves))
    return tuple(reasons)


def plan_prompt(source: PromptSource, store: PromptStore) -> ResourceChange:
    """The change for one prompt (reads its index and at most one stored version)."""
    return _plan_against(source, store, store.read_index(source.name))


def _health(rollouts: Mapping[str, LabelRollout], version: str) -> Health:
    """The worst of the labels' rollouts of `version` (a rollback of it is degraded until retried)."""
    states = []
    for label, record in sorted(rollouts.items()):
        state = record.state
        if state.phase is Phase.DEGRADED and state.failed_revision == version:
            why = state.reason.describe() if state.reason is not None else "rolled back"
            states.append(Health(HealthState.DEGRADED, f"canary of {version} on {label} rolled back: {why}"))
        elif state.revision == version and state.phase is Phase.PAUSED:
            why = state.reason.describe() if state.reason is not None else "paused"
            states.append(Health(HealthState.PAUSED, f"canary on {label} paused: {why}"))
        elif state.revision == version and state.phase is Phase.PROGRESSING:
            states.append(
                Health(HealthState.PROGRESSING, f"canary on {label}: step {state.step + 1}, {record.weight}%")
            )
    order = (HealthState.DEGRADED, HealthState.PAUSED, HealthState.PROGRESSING)
    return min(states, key=lambda h: order.index(h.state), default=Health())


def _canary_ops(
    source: PromptSource, index: PromptIndex | None, version: str, moves: Mapping[str, str | None]
) -> tuple[dict[str, str | None], list[StartPromptRollout]]:
    """Split the label moves of a canary Prompt: labels that point at another version get a rollout
    (or nothing, while one of this version runs or after it was rolled back); new labels move at once."""
    rollout = source.prompt.spec.rollout
    if rollout.strategy == "direct" or index is None:
        return dict(moves), []
    steps = prompt_steps(rollout)
    direct: dict[str, str | None] = {}
    starts: list[StartPromptRollout] = []
    for label, stable in sorted(moves.items()):
        record = index.rollouts.get(label)
        if stable is None or not steps:
            direct[label] = stable
        elif record is not None and record.state.revision == version and record.stable == stable:
            continue  # under way (the driver's), or rolled back (kept until the content changes or retry)
        else:
            starts.append(StartPromptRollout(source.name, version, label, stable, steps[0].weight))
    return direct, starts


def _plan_against(source: PromptSource, store: PromptStore, index: PromptIndex | None) -> ResourceChange:
    version = version_of(source)
    labels = tuple(source.prompt.spec.labels)
    current = dict(index.labels) if index is not None else {}
    new_version = index is None or not index.has(version.id)
    wanted = {lb: current.get(lb) for lb in labels if current.get(lb) != version.id}
    moves, starts = _canary_ops(source, index, version.id, wanted)
    held = {lb: old for lb, old in wanted.items() if lb not in moves}  # under canary: the label stays
    base = _base(index, labels, store, source.name) if index is not None else None
    diff = template_diff(base, version, after_file=source.template_file)
    operations: list[Operation] = []
    if new_version:
        operations.append(PublishPromptVersion(source.name, version.id, document(version)))
    if moves:
        operations.append(MovePromptLabels(source.name, version.id, tuple(sorted(moves)), moves))
    operations.extend(starts)
    label_changes = tuple(FieldChange(f"labels.{lb}", old, version.id) for lb, old in sorted(moves.items()))
    canaries = tuple(FieldChange(f"canary.{op.label}", None, f"{version.id} at {op.weight}%") for op in starts)
    changes = (*field_changes(base, version), *label_changes, *canaries) if operations else ()
    action = Action.CREATE if index is None else Action.UPDATE if operations else Action.NOOP
    drift = (
        index is not None
        and not new_version
        and not starts
        and bool(moves)
        and all(index.applied(lb) == version.id for lb in moves)
    )
    before = None if base is None else {"version": base.id, **base.content(), "labels": current}
    declared = {lb: version.id for lb in labels if lb not in held}
    after = {"version": version.id, **version.content(), "labels": {**current, **declared}}
    health = Health(HealthState.MISSING, "never published") if index is None else _health(index.rollouts, version.id)
    return ResourceChange(
        kind=KIND,
        name=source.name,
        region=REGION,
        action=action,
        before=before,
        after=after,
        changes=changes,
        operations=tuple(operations),
        reasons=(*_reasons(version, new_version, diff, moves), *(f"canary on {op.label}" for op in starts))
        if operations
        else (),
        drift=drift,
        health=health,
        text_diffs=(TextDiff("template", diff),) if diff and operations else (),
    )


def plan_prompts(sources: Iterable[PromptSource], store: PromptStore) -> tuple[ResourceChange, ...]:
    """The change for every prompt, in manifest order."""
    return plan_prompts_with_fingerprints(sources, store)[0]


def plan_prompts_with_fingerprints(
    sources: Iterable[PromptSource], store: PromptStore
) -> tuple[tuple[ResourceChange, ...], dict[str, str]]:
    """The changes, and address -> fingerprint of each index they were planned from (one read per prompt,
    recorded in a saved plan so that `apply PLANFILE` can refuse it when the store moved)."""
    changes: list[ResourceChange] = []
    prints: dict[str, str] = {}
    for source in sources:
        index = store.read_index(source.name)
        changes.append(_plan_against(source, store, index))
        prints[address(source.name)] = fingerprint(index)
    return tuple(changes), prints


def prompt_fingerprints(names: Iterable[str], store: PromptStore) -> dict[str, str]:
    """Address -> fingerprint of the index, for every prompt in `names` (stale-plan detection)."""
    return {address(name): fingerprint(store.read_index(name)) for name in names}

"""A plan is a value: resource changes with field-level before/after, the ordered operations that carry
them out, and the fingerprint of the live state it was computed from. Views render it; the planfile saves
it; the executor reads only `operations` (reasons are for people).

Each change also says, as typed values, whether the resource is in sync (`Sync`, derived from the action,
drift and suspension) and whether what serves is healthy (`Health`), as Argo CD keeps the two apart: a
rolled-back canary is in sync with nothing to apply, yet degraded, and needs a person.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.diagnostics import Diagnostic, Severity
from controller.model import Endpoint, Override, Prompt
from controller.plans.costs import PlanCost
from controller.plans.operations import Operation, SetTraffic


class Action(StrEnum):
    """What happens to a resource. Closed set: views and executor `match` on it exhaustively."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ROLLOUT = "rollout"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        """Terraform's symbols (and `>` for a staged rollout)."""
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.ROLLOUT: ">",
    Action.NOOP: " ",
}


class Sync(StrEnum):
    """Does live match the manifests for this resource."""

    SYNCED = "synced"
    OUT_OF_SYNC = "out-of-sync"
    DRIFTED = "drifted"  # changed outside genaiops since it was applied
    SUSPENDED = "suspended"  # not reconciled on purpose


class HealthState(StrEnum):
    """Is what serves healthy."""

    HEALTHY = "healthy"
    PROGRESSING = "progressing"  # a canary is being analysed
    PAUSED = "paused"  # a canary waits for a person (paused, or an indefinite pause)
    DEGRADED = "degraded"  # a canary was rolled back while the manifests still declare it
    MISSING = "missing"  # declared, not there yet
    RETIRING = "retiring"  # healthy, but the Google model it calls retires within the horizon (a warning)

    @property
    def needs_attention(self) -> bool:
        """Paused and degraded resources wait for a person."""
        return self in (HealthState.PAUSED, HealthState.DEGRADED)


@dataclass(frozen=True)
class Health:
    """A resource's health and, when not healthy, why (rendered from typed values by the planner)."""

    state: HealthState = HealthState.HEALTHY
    reason: str = ""


@dataclass(frozen=True)
class TextDiff:
    """A unified diff of one long text field (a prompt template), for views and PR comments."""

    path: str
    unified: str


UNKNOWN = "(known after apply)"


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: `path` like `deployments.primary.model`."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ResourceChange:
    """The change to one resource and how it will be made."""

    kind: str
    name: str
    region: str
    action: Action
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    changes: tuple[FieldChange, ...] = ()
    operations: tuple[Operation, ...] = ()
    reasons: tuple[str, ...] = ()
    drift: bool = False  # the manifest did not change since genaiops last applied it: live was changed outside
    suspended: bool = False
    health: Health = field(default_factory=Health)
    text_diffs: tuple[TextDiff, ...] = ()

    @property
    def address(self) -> str:
        """`Endpoint/us-central1/support-chat`."""
        return f"{self.kind}/{self.region}/{self.name}"

    @property
    def sync(self) -> Sync:
        """Synced when there is nothing to apply; drifted when what differs was changed outside genaiops."""
        if self.suspended:
            return Sync.SUSPENDED
        if self.action is Action.NOOP:
            return Sync.SYNCED
        return Sync.DRIFTED if self.drift else Sync.OUT_OF_SYNC

    @property
    def shifts_traffic(self) -> bool:
        """True when the change moves traffic between deployed models: an update whose split differs, or a
        create that splits traffic between more than one (a create that sends all of it to one does not)."""
        sets = [op for op in self.operations if isinstance(op, SetTraffic)]
        if self.action is Action.CREATE:
            return any(sum(1 for share in op.split.values() if share > 0) > 1 for op in sets)
        return bool(sets) and any(c.path.startswith("traffic") for c in self.changes)


@dataclass(frozen=True)
class Summary:
    """Counts for the closing line of a plan."""

    add: int
    change: int
    destroy: int
    traffic_shifts: int
    rollouts: int
    attention: int = 0  # resources paused or degraded: nothing to apply, but a person is needed

    @property
    def has_changes(self) -> bool:
        """True when applying would do anything."""
        return bool(self.add or self.change or self.destroy or self.rollouts)

    def line(self) -> str:
        """`Plan: 2 to add, 1 to change, 0 to destroy, 1 traffic shift.` (plus rollouts and resources that
        need attention, when there are any)."""
        shift = f", {self.traffic_shifts} traffic shift{'s' if self.traffic_shifts != 1 else ''}"
        rollout = f", {self.rollouts} rollout{'s' if self.rollouts != 1 else ''}" if self.rollouts else ""
        attention = f"; {self.attention} need{'s' if self.attention == 1 else ''} attention" if self.attention else ""
        return (
            f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy{shift}{rollout}{attention}."
        )


@dataclass(frozen=True)
class Plan:
    """Everything `apply` needs, and everything a reviewer wants to read."""

    changes: tuple[ResourceChange, ...]
    fingerprint: Mapping[str, str] = field(default_factory=dict)  # address -> etag/update time when planned
    notes: tuple[str, ...] = ()  # e.g. managed resources that left the manifests (prune not requested)
    diagnostics: tuple[Diagnostic, ...] = ()  # errors stop some resources from being planned; warnings do not
    target: str = ""
    endpoints: tuple[Endpoint, ...] = ()  # canary Endpoint manifests: a saved plan drives its rollouts too
    prompts: tuple[Prompt, ...] = ()  # canary Prompt manifests, likewise
    cost: PlanCost | None = None  # what the changes cost before and after (plans/pricing.py), when priced
    environment: str = ""  # the `--env` the manifests were merged for ("" without one)
    environment_file: str = ""  # its file (`manifests/environments/prod.yaml`)
    environment_settings: Mapping[str, str] = field(default_factory=dict)  # project, region... it set
    overrides: tuple[Override, ...] = ()  # the values the environment set, with their origin

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """The diagnostics that are errors (warnings, such as a model retiring soon, are only shown)."""
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """The diagnostics that are not errors."""
        return tuple(d for d in self.diagnostics if d.severity is not Severity.ERROR)

    @property
    def drifted(self) -> tuple[ResourceChange, ...]:
        """Changes that undo edits made outside genaiops (applied by `reconcile` only with --self-heal)."""
        return tuple(c for c in self.changes if c.drift)

    @property
    def actionable(self) -> tuple[ResourceChange, ...]:
        """Changes that do something."""
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def attention(self) -> tuple[ResourceChange, ...]:
        """Resources whose health needs a person (paused or degraded)."""
        return tuple(c for c in self.changes if c.health.state.needs_attention)

    def summary(self) -> Summary:
        """Counts by action."""
        actions = [c.action for c in self.changes]
        return Summary(
            add=actions.count(Action.CREATE),
            change=actions.count(Action.UPDATE),
            destroy=actions.count(Action.DELETE),
            traffic_shifts=sum(1 for c in self.changes if c.shifts_traffic),
            rollouts=actions.count(Action.ROLLOUT),
            attention=len(self.attention),
        )

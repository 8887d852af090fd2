"""A plan is a value: resource changes with field-level before/after, the ordered operations that carry
them out, and the fingerprint of the live state it was computed from. Views render it; the planfile saves
it; the executor reads only `operations` (reasons are for people)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.diagnostics import Diagnostic
from controller.plans.operations import Operation, SetTraffic


class Action(StrEnum):
    """What happens to a resource. Closed set: views and executor `match` on it exhaustively."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    ROLLOUT = "rollout"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        """Terraform's symbols (and `>` for a staged rollout)."""
        return _SYMBOLS[self]

    @property
    def is_destructive(self) -> bool:
        """True when live state is lost (delete, or replace: delete then create)."""
        return self in (Action.DELETE, Action.REPLACE)


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.ROLLOUT: ">",
    Action.NOOP: " ",
}

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

    @property
    def address(self) -> str:
        """`Endpoint/us-central1/support-chat`."""
        return f"{self.kind}/{self.region}/{self.name}"

    @property
    def shifts_traffic(self) -> bool:
        """True when the change moves traffic between deployed models."""
        return any(c.path.startswith("traffic") for c in self.changes) and any(
            isinstance(op, SetTraffic) for op in self.operations
        )


@dataclass(frozen=True)
class Summary:
    """Counts for the closing line of a plan."""

    add: int
    change: int
    destroy: int
    traffic_shifts: int
    rollouts: int

    @property
    def has_changes(self) -> bool:
        """True when applying would do anything."""
        return bool(self.add or self.change or self.destroy or self.rollouts)

    def line(self) -> str:
        """`Plan: 2 to add, 1 to change, 0 to destroy, 1 traffic shift.`"""
        shift = f", {self.traffic_shifts} traffic shift{'s' if self.traffic_shifts != 1 else ''}"
        rollout = f", {self.rollouts} rollout{'s' if self.rollouts != 1 else ''}" if self.rollouts else ""
        return f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy{shift}{rollout}."


@dataclass(frozen=True)
class Plan:
    """Everything `apply` needs, and everything a reviewer wants to read."""

    changes: tuple[ResourceChange, ...]
    fingerprint: Mapping[str, str] = field(default_factory=dict)  # address -> etag/update time when planned
    notes: tuple[str, ...] = ()  # e.g. managed resources that left the manifests (prune not requested)
    diagnostics: tuple[Diagnostic, ...] = ()  # problems that stop some resources from being planned
    target: str = ""

    @property
    def drifted(self) -> tuple[ResourceChange, ...]:
        """Changes that undo edits made outside genaiops (applied by `reconcile` only with --self-heal)."""
        return tuple(c for c in self.changes if c.drift)

    @property
    def actionable(self) -> tuple[ResourceChange, ...]:
        """Changes that do something."""
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    def summary(self) -> Summary:
        """Counts by action; a replace counts as one add and one destroy, as in Terraform."""
        actions = [c.action for c in self.changes]
        return Summary(
            add=actions.count(Action.CREATE) + actions.count(Action.REPLACE),
            change=actions.count(Action.UPDATE),
            destroy=actions.count(Action.DELETE) + actions.count(Action.REPLACE),
            traffic_shifts=sum(1 for c in self.changes if c.shifts_traffic),
            rollouts=actions.count(Action.ROLLOUT),
        )

"""Rollout state and its record in endpoint labels.

The state lives on the endpoint itself, in labels written by the same UpdateEndpoint (with etag) that
moves the traffic, so traffic and rollout state can never disagree, and a controller killed at any moment
resumes from what it reads. Label values allow only `[a-z0-9_-]`, at most 63 characters: each field has
its own `genaiops-ro-*` label, and the typed reason its own few (`controller.rollout.reason`), so a record
reads back exactly as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from controller.observed import Phase  # the phase is part of the record: importable from here too
from controller.rollout import reason as reason_labels
from controller.rollout.reason import Reason

PREFIX = "genaiops-ro-"


@dataclass(frozen=True)
class RolloutState:
    """One deployment's rollout on an endpoint."""

    deployment: str
    revision: str
    phase: Phase
    step: int = 0
    step_started: int = 0  # unix seconds
    canary_id: str = ""
    stable_id: str = ""
    failures: int = 0
    consecutive_failures: int = 0
    inconclusive: int = 0
    successes: int = 0
    last_analysis: int = 0
    reason: Reason | None = None  # why it is paused or rolled back
    failed_revision: str = ""

    def evolve(self, **changes: object) -> RolloutState:
        """A copy with some fields changed (states are immutable)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def at_step(self, step: int, now: int) -> RolloutState:
        """Entering a step: counters start over."""
        return replace(
            self, step=step, step_started=now, failures=0, consecutive_failures=0, inconclusive=0, successes=0
        )


_FIELDS: dict[str, str] = {
    "deployment": "deployment",
    "revision": "revision",
    "phase": "phase",
    "step": "step",
    "step_started": "started",
    "canary_id": "canary",
    "stable_id": "stable",
    "failures": "failures",
    "consecutive_failures": "consecutive",
    "inconclusive": "inconclusive",
    "successes": "successes",
    "last_analysis": "analyzed",
    "failed_revision": "failed",
}
_INTS = {"step", "step_started", "failures", "consecutive_failures", "inconclusive", "successes", "last_analysis"}


def to_labels(state: RolloutState) -> dict[str, str]:
    """The labels that record `state` (empty values are left out)."""
    labels: dict[str, str] = {}
    for attr, key in _FIELDS.items():
        value = getattr(state, attr)
        text = value.value if isinstance(value, Phase) else str(value)
        if text and not (attr in _INTS and value == 0 and attr not in ("step",)):
            labels[PREFIX + key] = text
    if state.reason is not None:
        labels.update({PREFIX + key: value for key, value in reason_labels.to_labels(state.reason).items()})
    return labels


def from_labels(labels: Mapping[str, str]) -> RolloutState | None:
    """The rollout recorded on an endpoint, or None when there is none (or the record is unreadable)."""
    values = {attr: labels.get(PREFIX + key, "") for attr, key in _FIELDS.items()}
    if not values["deployment"] or values["phase"] not in {p.value for p in Phase}:
        return None
    if not all(re.fullmatch(r"\d+", values[attr] or "0") for attr in _INTS):
        return None  # a corrupt or negative counter must not steer traffic
    try:
        reason = reason_labels.from_labels(
            {k.removeprefix(PREFIX): v for k, v in labels.items() if k.startswith(PREFIX)}
        )
    except ValueError:
        return None  # an unreadable reason is an unreadable record, like a corrupt counter
    ints = {attr: int(values[attr] or 0) for attr in _INTS}
    texts = {attr: v for attr, v in values.items() if attr not in _INTS and attr != "phase"}
    return RolloutState(phase=Phase(values["phase"]), reason=reason, **texts, **ints)  # type: ignore[arg-type]


def without_rollout(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels with every rollout record removed."""
    return {k: v for k, v in labels.items() if not k.startswith(PREFIX)}


__all__ = ["PREFIX", "Phase", "RolloutState", "from_labels", "to_labels", "without_rollout"]

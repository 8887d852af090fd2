"""Rollout state and its record in endpoint labels.

The state lives on the endpoint itself, in labels written by the same UpdateEndpoint (with etag) that
moves the traffic, so traffic and rollout state can never disagree, and a controller killed at any moment
resumes from what it reads. Label values allow only `[a-z0-9_-]`, at most 63 characters: reasons are kept
as short slugs there (the full text goes to the audit log and events).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

PREFIX = "genaiops-ro-"


class Phase(StrEnum):
    """Where a rollout is."""

    PROGRESSING = "progressing"
    PAUSED = "paused"
    HEALTHY = "healthy"  # promoted
    DEGRADED = "degraded"  # rolled back

    @property
    def terminal(self) -> bool:
        """Healthy and degraded rollouts make no more progress."""
        return self in (Phase.HEALTHY, Phase.DEGRADED)


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
    reason: str = ""
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
    "reason": "reason",
    "failed_revision": "failed",
}
_INTS = {"step", "step_started", "failures", "consecutive_failures", "inconclusive", "successes", "last_analysis"}


def slug(text: str) -> str:
    """A label-safe slug: `error-rate 0.23 > max 0.05` -> `error-rate-0_23-gt-max-0_05` (dots become `_`)."""
    text = text.lower().replace(">", " gt ").replace("<", " lt ").replace("%", " pct ")
    text = re.sub(r"(?<=\d)\.(?=\d)", "_", text)
    return re.sub(r"[^a-z0-9_]+", "-", text).strip("-")[:63].rstrip("-")


def readable(reason: str) -> str:
    """Undo what `slug` can: `error-rate-0_23-gt-max-0_05` -> `error-rate 0.23 > max 0.05`."""
    if " " in reason or "-" not in reason:
        return reason  # not a slug (an in-memory reason keeps its original text)
    words = [w.replace("_", ".") for w in reason.split("-")]
    text = " ".join(words).replace(" gt ", " > ").replace(" lt ", " < ")
    for metric in ("error rate", "request count", "latency p50", "latency p95", "latency p99"):
        text = text.replace(metric, metric.replace(" ", "-"))
    return text


def to_labels(state: RolloutState) -> dict[str, str]:
    """The labels that record `state` (empty values are left out)."""
    labels: dict[str, str] = {}
    for attr, key in _FIELDS.items():
        value = getattr(state, attr)
        text = value.value if isinstance(value, Phase) else str(value)
        if attr == "reason":
            text = slug(text)
        if text and not (attr in _INTS and value == 0 and attr not in ("step",)):
            labels[PREFIX + key] = text
    return labels


def from_labels(labels: Mapping[str, str]) -> RolloutState | None:
    """The rollout recorded on an endpoint, or None when there is none (or the record is unreadable)."""
    values = {attr: labels.get(PREFIX + key, "") for attr, key in _FIELDS.items()}
    if not values["deployment"] or values["phase"] not in {p.value for p in Phase}:
        return None
    if not all(re.fullmatch(r"\d+", values[attr] or "0") for attr in _INTS):
        return None  # a corrupt or negative counter must not steer traffic
    ints = {attr: int(values[attr] or 0) for attr in _INTS}
    texts = {attr: v for attr, v in values.items() if attr not in _INTS and attr != "phase"}
    return RolloutState(phase=Phase(values["phase"]), **texts, **ints)  # type: ignore[arg-type]


def without_rollout(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels with every rollout record removed."""
    return {k: v for k, v in labels.items() if not k.startswith(PREFIX)}

"""A prompt's index in the store (`prompts/<name>/index.json`): every published version with its
provenance, where each label (environment) points, and the history of label moves (for rollback).

Under canary (a Prompt with `rollout: {strategy: canary}`), a label also has a rollout record
(`LabelRollout`): the stable version the label points at, the candidate, the candidate's weight, and the
rollout's state (the same `RolloutState` the rollout machine keeps for endpoints, stored as the same
fields). The runtime client routes by it; the label itself moves only when the rollout is promoted, in the
same compare-and-swap that clears the record.

The index is the one mutable object per prompt; stores update it by compare-and-swap, applying one of the
pure transitions below to what they read, and retrying from a fresh read when another writer got there
first. A transition only adds versions and moves labels, so replaying it on a newer index never loses
what the other writer added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controller.prompts.version import Provenance
from controller.rollout.state import PREFIX, RolloutState, from_labels, to_labels

SCHEMA = "genaiops.dev/prompt-index/v1"
MAX_HISTORY = 200


@dataclass(frozen=True)
class IndexEntry:
    """A published version: its id and who published it, when, from which commit."""

    version: str
    created: str
    commit: str = ""
    author: str = ""


@dataclass(frozen=True)
class LabelMove:
    """A label moved from `previous` (None: new label) to `version`."""

    label: str
    version: str
    previous: str | None
    at: str
    commit: str = ""
    author: str = ""
    applied: bool = False  # moved by `apply`/`reconcile` to what the manifests declare (not by hand)


@dataclass(frozen=True)
class LabelRollout:
    """A label's canary: `state.stable_id` is the version the label points at, `state.canary_id` the
    candidate (empty once rolled back), `state.deployment` the label and `state.revision` the candidate's
    version id; `weight` is the candidate's percent of the label's requests (0 after a rollback)."""

    state: RolloutState
    weight: int = 0

    @property
    def label(self) -> str:
        """The label under canary."""
        return self.state.deployment

    @property
    def stable(self) -> str:
        """The version the label points at."""
        return self.state.stable_id

    @property
    def candidate(self) -> str:
        """The candidate version, or "" when there is none routed to (rolled back)."""
        return self.state.canary_id

    @property
    def routing_id(self) -> str:
        """What sticky assignment hashes with the routing key: the candidate's version id, so that a new
        candidate draws its users afresh."""
        return self.state.revision

    def to_json(self) -> dict[str, Any]:
        """The stored record: the weight and the state's fields (as the endpoint labels spell them)."""
        return {"weight": self.weight, "state": {k.removeprefix(PREFIX): v for k, v in to_labels(self.state).items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabelRollout:
        """A stored record; ValueError when it is not a readable one (a corrupt record never steers traffic)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("state"), Mapping):
            raise ValueError("malformed rollout record")
        weight = data.get("weight", 0)
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            raise ValueError(f"rollout weight must be an integer within 0..100 (got {weight!r})")
        state = from_labels({PREFIX + str(k): str(v) for k, v in data["state"].items()})
        if state is None:
            raise ValueError("unreadable rollout state")
        return cls(state, weight)


@dataclass(frozen=True)
class PromptIndex:
    """The index of one prompt."""

    name: str
    versions: tuple[IndexEntry, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    history: tuple[LabelMove, ...] = ()
    rollouts: Mapping[str, LabelRollout] = field(default_factory=dict)  # label -> its canary

    def has(self, version: str) -> bool:
        """True when `version` is published."""
        return any(e.version == version for e in self.versions)

    def entry(self, version: str) -> IndexEntry | None:
        """The index entry of a version."""
        return next((e for e in self.versions if e.version == version), None)

    def applied(self, label: str) -> str | None:
        """The version genaiops last pointed `label` at from the manifests (None: never)."""
        for move in reversed(self.history):
            if move.label == label and move.applied:
                return move.version
        return None

    def previous(self, label: str) -> str | None:
        """The version `label` pointed at before its latest move (for rollback)."""
        for move in reversed(self.history):
            if move.label == label:
                return move.previous
        return None

    def to_json(self) -> dict[str, Any]:
        """The stored document."""
        return {
            "schema": SCHEMA,
            "name": self.name,
            "labels": dict(sorted(self.labels.items())),
            "versions": [vars(e) for e in self.versions],
            "history": [vars(m) for m in self.history],
            **({"rollouts": {lb: r.to_json() for lb, r in sorted(self.rollouts.items())}} if self.rollouts else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromptIndex:
        """Read a stored index; ValueError when it is not one."""
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            raise ValueError(f"not a genaiops prompt index (schema {SCHEMA!r} expected)")
        try:
            return cls(
                name=str(data["name"]),
                versions=tuple(IndexEntry(**e) for e in data.get("versions", ())),
                labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
                history=tuple(LabelMove(**m) for m in data.get("history", ())),
                rollouts=_readable_rollouts(data.get("rollouts")),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"malformed prompt index: {err!r}") from err


def _readable_rollouts(data: Any) -> dict[str, LabelRollout]:
    """The readable rollout records; an unreadable one is left out, so its label serves its stable version
    (a corrupt record never steers traffic) and the next apply starts the rollout again."""
    found: dict[str, LabelRollout] = {}
    for label, record in (data or {}).items() if isinstance(data, Mapping) else ():
        try:
            found[str(label)] = LabelRollout.from_json(record)
        except ValueError:
            continue
    return found


def with_version(index: PromptIndex | None, name: str, version: str, provenance: Provenance) -> PromptIndex:
    """The index with `version` listed (unchanged when it already is: the first publisher's entry stays)."""
    base = index or PromptIndex(name=name)
    if base.has(version):
        return base
    entry = IndexEntry(version, provenance.created, provenance.commit, provenance.author)
    return replace(base, versions=(*base.versions, entry))


def with_labels(
    index: PromptIndex | None,
    name: str,
    labels: Mapping[str, str],
    provenance: Provenance,
    *,
    applied: bool = False,
) -> PromptIndex:
    """The index with each label in `labels` pointing at its version; a move is recorded in the history
    (`applied` when the manifests moved it, so that a later move by hand shows as drift)."""
    base = index or PromptIndex(name=name)
    current = dict(base.labels)
    moves = list(base.history)
    for label, version in sorted(labels.items()):
        previous = current.get(label)
        if previous == version:
            continue
        if not base.has(version):
            raise ValueError(f"cannot point label {label!r} of prompt {name!r} at unpublished version {version}")
        current[label] = version
        moves.append(
            LabelMove(label, version, previous, provenance.created, provenance.commit, provenance.author, applied)
        )
    return replace(base, labels=current, history=tuple(moves[-MAX_HISTORY:]))


def with_rollout(index: PromptIndex, rollout: LabelRollout) -> PromptIndex:
    """The index with `rollout` recorded for its label (replacing any earlier record of that label); the
    candidate must be published and the stable must be where the label points."""
    label = rollout.label
    if rollout.candidate and not index.has(rollout.candidate):
        raise ValueError(
            f"cannot route label {label!r} of prompt {index.name!r} to unpublished version {rollout.candidate}"
        )
    if index.labels.get(label) != rollout.stable:
        raise ValueError(
            f"label {label!r} of prompt {index.name!r} points at {index.labels.get(label)}, not {rollout.stable}"
        )
    return replace(index, rollouts={**index.rollouts, label: rollout})


def without_rollout(index: PromptIndex, label: str) -> PromptIndex:
    """The index with no rollout record for `label`."""
    if label not in index.rollouts:
        return index
    return replace(index, rollouts={k: v for k, v in index.rollouts.items() if k != label})

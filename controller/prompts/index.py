"""A prompt's index in the store (`prompts/<name>/index.json`): every published version with its
provenance, where each label (environment) points, and the history of label moves (for rollback).

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
class PromptIndex:
    """The index of one prompt."""

    name: str
    versions: tuple[IndexEntry, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    history: tuple[LabelMove, ...] = ()

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
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"malformed prompt index: {err!r}") from err


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

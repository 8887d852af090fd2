"""The prompt store: its layout, the port every store implements, and publishing through it.

Layout under the store root (`gs://bucket/prefix/` or a local directory; both stores use the same one):

    prompts/<name>/versions/<id>.json   one immutable version (template, system instruction, model,
                                        generation config, variables, provenance); created only if absent
    prompts/<name>/index.json           every version with created time, git commit and author; where each
                                        label points; the history of label moves (for rollback)

`<id>` is the content address (`version.py`). Versions are never rewritten or deleted. The index is
updated by compare-and-swap (a generation precondition in Cloud Storage, a lock file locally) and every
update only adds versions and moves labels, so two publishers racing never lose each other's version.
Publishing writes the version first, then the index: a crash in between leaves an unlisted version
that the next publish of the same content lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from controller.errors import NotFoundError, UserError
from controller.model.suggest import did_you_mean
from controller.prompts.index import PromptIndex, with_labels, with_version
from controller.prompts.version import PromptVersion, Provenance

ROOT = "prompts"
INDEX = "index.json"


def index_path(name: str) -> str:
    """`prompts/<name>/index.json`, relative to the store root."""
    return f"{ROOT}/{name}/{INDEX}"


def version_path(name: str, version: str) -> str:
    """`prompts/<name>/versions/<id>.json`, relative to the store root."""
    return f"{ROOT}/{name}/versions/{version}.json"


class PromptStore(Protocol):
    """Where published prompts live. Errors are `controller.errors` types (TransientError when the store
    cannot be reached, PermanentError for a corrupt object), never vendor exceptions."""

    @property
    def location(self) -> str:
        """`gs://bucket/prefix` or the directory, for messages."""
        ...

    def list_prompts(self) -> list[str]:
        """Names of the prompts that have an index, sorted."""
        ...

    def read_index(self, name: str) -> PromptIndex | None:
        """A prompt's index, or None when it was never published."""
        ...

    def read_version(self, name: str, version: str) -> PromptVersion | None:
        """One version, or None when absent."""
        ...

    def create_version(self, version: PromptVersion) -> bool:
        """Store a version unless it exists: True when this call created it, False when it was there."""
        ...

    def update_index(self, name: str, change: Callable[[PromptIndex | None], PromptIndex]) -> PromptIndex:
        """Apply `change` to the current index atomically (compare-and-swap, retried); the new index."""
        ...


@dataclass(frozen=True)
class Published:
    """What one publish did."""

    name: str
    version: str
    created: bool
    moved: Mapping[str, str | None]  # label -> the version it pointed at before (None: new label)
    index: PromptIndex


def publish(store: PromptStore, version: PromptVersion, labels: Iterable[str], *, applied: bool = False) -> Published:
    """Store `version` (if new), list it in the index and point `labels` at it, in one index update
    (`applied`: the manifests moved the labels)."""
    created = store.create_version(version)
    wanted = {label: version.id for label in labels}
    before: dict[str, str | None] = {}

    def change(index: PromptIndex | None) -> PromptIndex:
        before.clear()
        before.update({label: (index.labels.get(label) if index else None) for label in wanted})
        listed = with_version(index, version.name, version.id, version.provenance)
        return with_labels(listed, version.name, wanted, version.provenance, applied=applied)

    index = store.update_index(version.name, change)
    moved = {label: old for label, old in before.items() if old != version.id}
    return Published(version.name, version.id, created, moved, index)


def list_version(store: PromptStore, version: PromptVersion) -> bool:
    """Store `version` (if new) and list it in the index, moving no label; True when this call stored it."""
    created = store.create_version(version)
    store.update_index(version.name, lambda index: with_version(index, version.name, version.id, version.provenance))
    return created


def point_labels(
    store: PromptStore, name: str, version: str, labels: Iterable[str], provenance: Provenance
) -> dict[str, str | None]:
    """Point `labels` at the published `version` as the manifests say (recorded as applied); label -> where
    it pointed before, for the labels that moved."""
    before: dict[str, str | None] = {}
    wanted = dict.fromkeys(labels, version)

    def change(index: PromptIndex | None) -> PromptIndex:
        if index is None or not index.has(version):
            raise NotFoundError(f"version {version} of prompt {name!r} is not published in {store.location}")
        before.clear()
        before.update({label: index.labels.get(label) for label in wanted if index.labels.get(label) != version})
        return with_labels(index, name, wanted, provenance, applied=True)

    store.update_index(name, change)
    return before


def move_label(store: PromptStore, name: str, label: str, version: str, provenance: Provenance) -> PromptIndex:
    """Point `label` at a published `version` (a prefix of its id is enough when it is unambiguous)."""

    def change(index: PromptIndex | None) -> PromptIndex:
        if index is None:
            raise NotFoundError(f"prompt {name!r} was never published to {store.location}")
        return with_labels(index, name, {label: resolve_id(index, version)}, provenance)

    return store.update_index(name, change)


@dataclass(frozen=True)
class Promoted:
    """What a promotion did: `target` now points at `version`, where `source` points; `previous` is where
    `target` pointed before (None: a new label; equal to `version`: nothing moved)."""

    index: PromptIndex
    version: str
    previous: str | None

    @property
    def moved(self) -> bool:
        """False when the target label already pointed at the version."""
        return self.previous != self.version


def promote(store: PromptStore, name: str, source: str, target: str, provenance: Provenance) -> Promoted:
    """Point label `target` at the version label `source` points at, in one compare-and-swap of the index:
    the source label is read in the same update that moves the target, so a concurrent move of either is
    never lost or half-seen. The move is recorded in the label history (so `rollback` undoes it).
    NotFoundError when the prompt or the source label is unknown."""
    if source == target:
        raise UserError(f"cannot promote label {source!r} of prompt {name!r} to itself: name two labels")
    found: dict[str, str | None] = {}

    def change(index: PromptIndex | None) -> PromptIndex:
        if index is None:
            raise NotFoundError(f"prompt {name!r} was never published to {store.location}")
        version = index.labels.get(source)
        if version is None:
            known = ", ".join(sorted(index.labels)) or "none"
            hint = did_you_mean(source, index.labels)
            raise NotFoundError(f"prompt {name!r} has no label {source!r} in {store.location} (labels: {known}){hint}")
        found.update(version=version, previous=index.labels.get(target))
        return with_labels(index, name, {target: version}, provenance)

    index = store.update_index(name, change)
    version = found["version"]
    assert version is not None
    return Promoted(index, version, found["previous"])


def rollback(store: PromptStore, name: str, label: str, provenance: Provenance) -> PromptIndex:
    """Move `label` back to the version it pointed at before its latest move."""

    def change(index: PromptIndex | None) -> PromptIndex:
        if index is None:
            raise NotFoundError(f"prompt {name!r} was never published to {store.location}")
        previous = index.previous(label)
        if previous is None:
            raise UserError(f"label {label!r} of prompt {name!r} has no earlier version to roll back to")
        return with_labels(index, name, {label: previous}, provenance)

    return store.update_index(name, change)


def resolve_id(index: PromptIndex, prefix: str) -> str:
    """The full id of the one version starting with `prefix`; UserError when none or several match."""
    matches = [e.version for e in index.versions if e.version.startswith(prefix)]
    if len(matches) != 1:
        problem = "no version" if not matches else f"{len(matches)} versions"
        raise UserError(f"{problem} of prompt {index.name!r} match {prefix!r}")
    return matches[0]


def active(store: PromptStore, name: str, label: str) -> PromptVersion:
    """The version `label` points at; NotFoundError when the prompt or the label is unknown."""
    index = store.read_index(name)
    if index is None:
        raise NotFoundError(f"prompt {name!r} was never published to {store.location}")
    version_id = index.labels.get(label)
    if version_id is None:
        known = ", ".join(sorted(index.labels)) or "none"
        hint = did_you_mean(label, index.labels)
        raise NotFoundError(f"prompt {name!r} has no label {label!r} in {store.location} (labels: {known}){hint}")
    version = store.read_version(name, version_id)
    if version is None:
        raise NotFoundError(f"version {version_id} of prompt {name!r} is listed but missing from {store.location}")
    return version

"""The prompt pages, read from the target's prompt store (the same `PromptStore` `genaiops prompts history`
reads): every prompt with its labels, one prompt's versions, labels and label history, and the template
diff between two of its versions (difflib's unified diff, as `plan` shows a template change).

Versions are immutable, so a `VersionCache` keeps each one read; indexes are read on every call (the
page data caches whole pages for a refresh interval).
"""

from __future__ import annotations

import difflib
import threading
from datetime import datetime

from controller.dashboard.shapes import HistoryRow, PromptDiff, PromptList, PromptPage, PromptRow, PromptVersionRow
from controller.errors import NotFoundError, UserError
from controller.prompts.index import LabelMove, PromptIndex
from controller.prompts.store import PromptStore, resolve_id
from controller.prompts.version import PromptVersion


def unix(text: str) -> float | None:
    """An ISO-8601 time of the store (`2025-01-02T03:04:05Z`) as unix seconds; None when unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class VersionCache:
    """Prompt versions read from the store, kept (a version never changes); bounded."""

    def __init__(self, store: PromptStore, *, capacity: int = 5000) -> None:
        self.store = store
        self._capacity = capacity
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, str], PromptVersion] = {}

    def get(self, name: str, version: str) -> PromptVersion | None:
        """The version, or None when the store does not hold it."""
        with self._lock:
            found = self._versions.get((name, version))
        if found is not None:
            return found
        found = self.store.read_version(name, version)
        if found is not None:
            with self._lock:
                if len(self._versions) >= self._capacity:
                    self._versions.clear()
                self._versions[(name, version)] = found
        return found


def index_of(store: PromptStore, name: str) -> PromptIndex:
    """The prompt's index; NotFoundError naming the prompts there are when it has none."""
    index = store.read_index(name)
    if index is None:
        known = ", ".join(sorted(store.list_prompts())) or "none"
        raise NotFoundError(f"no prompt named {name!r} in {store.location} (prompts: {known})")
    return index


def _updated(index: PromptIndex) -> float | None:
    times = [unix(e.created) for e in index.versions] + [unix(m.at) for m in index.history]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def prompt_row(index: PromptIndex) -> PromptRow:
    """A prompt on the prompts list."""
    live = sorted(label for label, r in index.rollouts.items() if not r.state.phase.terminal)
    return PromptRow(
        name=index.name,
        versions=len(index.versions),
        labels=dict(sorted(index.labels.items())),
        rollouts=live,
        updated_at=_updated(index),
    )


def prompt_list(store: PromptStore) -> PromptList:
    """Every prompt of the store (one index read each), by name."""
    rows = []
    for name in sorted(store.list_prompts()):
        index = store.read_index(name)
        if index is not None:
            rows.append(prompt_row(index))
    return PromptList(prompts=rows)


def _reason(move: LabelMove) -> str:
    how = "applied from the manifests" if move.applied else "moved by hand"
    return f"{how} (commit {move.commit[:12]})" if move.commit else how


def prompt_page(index: PromptIndex, versions: VersionCache) -> PromptPage:
    """A prompt's versions (newest first, with the model each runs on and the labels on it) and its label
    history (newest first)."""
    rows = []
    for entry in reversed(index.versions):
        version = versions.get(index.name, entry.version)
        rows.append(
            PromptVersionRow(
                version=entry.version,
                created_at=unix(entry.created),
                author=entry.author,
                model=version.runs_on if version is not None else "",
                labels=sorted(label for label, v in index.labels.items() if v == entry.version),
            )
        )
    history = [
        HistoryRow(
            at=unix(move.at),
            label=move.label,
            version=move.version,
            previous=move.previous,
            author=move.author,
            reason=_reason(move),
        )
        for move in reversed(index.history)
    ]
    return PromptPage(name=index.name, labels=dict(sorted(index.labels.items())), versions=rows, history=history)


def _version(index: PromptIndex, versions: VersionCache, which: str) -> PromptVersion:
    if not which:
        raise UserError("name both versions: a=VERSION&b=VERSION (a prefix of the id is enough)")
    version_id = index.labels.get(which) or resolve_id(index, which)  # a label names its version too
    version = versions.get(index.name, version_id)
    if version is None:
        raise NotFoundError(f"version {version_id} of prompt {index.name!r} is listed but not in the store")
    return version


def prompt_diff(index: PromptIndex, versions: VersionCache, *, a: str, b: str) -> PromptDiff:
    """The unified diff of the templates of versions `a` and `b` (ids, id prefixes or labels)."""
    first, second = _version(index, versions, a), _version(index, versions, b)
    lines = list(
        difflib.unified_diff(
            first.template.splitlines(),
            second.template.splitlines(),
            fromfile=f"{index.name}@{first.id}",
            tofile=f"{index.name}@{second.id}",
            lineterm="",
        )
    )
    return PromptDiff(name=index.name, a=first.id, b=second.id, unified=lines, same=first.template == second.template)


__all__ = ["VersionCache", "index_of", "prompt_diff", "prompt_list", "prompt_page", "prompt_row", "unix"]

"""The runtime client applications use to get their prompts: the version a label (environment) points
at, from the prompt store, cached, rendered strictly, with a bundled snapshot as the last resort.

    from controller.providers.prompt_store import open_store
    from controller.prompts.client import PromptClient, Snapshot

    prompts = PromptClient(open_store("gs://my-bucket/prompts", retry_deadline_s=2), label="production",
                           snapshot=Snapshot.load("prompts.snapshot.json"))
    rendered = prompts.render("support-answer", {"customer_name": "Ada", ...})
    rendered.text, rendered.system_instruction, rendered.generation_config, rendered.version
    rendered.model      # the Vertex AI model to call: publishers/google/models/gemini-2.0-flash, or
                        # projects/P/locations/R/endpoints/E for a registry model (P: `project=`)
    rendered.model_ref  # what the manifest wrote: gemini-flash

`rendered.model` is the Vertex AI name recorded in the version at publish (`controller.prompts.models`);
a registry model's name is recorded without the project and completed with the client's `project`
(default: the GOOGLE_CLOUD_PROJECT environment variable); rendering such a prompt without a project is an
error that says so. A version published before the name was recorded gives its manifest reference.

Caching, per (prompt, label): younger than `ttl_s` -> served from memory; up to `ttl_s +
stale_while_revalidate_s` -> served from memory while one background refresh runs; older, or never
fetched -> fetched now. When the store cannot be reached (any `controller.errors` error) the client
serves what it has, however old (stale-if-error), else the snapshot's version, else raises
`PromptUnavailableError`. An answer given after a failure is cached for `ttl_s` too, so a dead store is not
hammered.
`genaiops prompts snapshot` writes the snapshot file to ship with the application.

This module depends only on the `PromptStore` port; the Cloud Storage and local stores live in
`controller.providers.prompt_store`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.diagnostics import Source
from controller.errors import GenaiopsError, UserError
from controller.prompts.models import needs_project, qualified
from controller.prompts.render import RenderedPrompt, render_text
from controller.prompts.store import PromptStore, active
from controller.prompts.version import PromptVersion

__all__ = ["ProjectNeededError", "PromptClient", "PromptUnavailableError", "Snapshot"]
_log = logging.getLogger(__name__)
SNAPSHOT_SCHEMA = "genaiops.dev/prompt-snapshot/v1"


class PromptUnavailableError(GenaiopsError):
    """Neither the store, nor the cache, nor the snapshot has the prompt."""


class ProjectNeededError(UserError):
    """The prompt runs on a registry model, whose resource name needs the client's project."""


@dataclass(frozen=True)
class Snapshot:
    """Prompt versions bundled with an application: label -> prompt name -> version."""

    labels: Mapping[str, Mapping[str, PromptVersion]] = field(default_factory=dict)
    created: str = ""

    def get(self, name: str, label: str) -> PromptVersion | None:
        """The bundled version of `name` for `label`, if any."""
        return self.labels.get(label, {}).get(name)

    def to_json(self) -> dict[str, Any]:
        """The snapshot file's document."""
        return {
            "schema": SNAPSHOT_SCHEMA,
            "created": self.created,
            "labels": {lb: {n: v.to_json() for n, v in sorted(p.items())} for lb, p in sorted(self.labels.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        """Read a snapshot document; ValueError when it is not one."""
        if not isinstance(data, Mapping) or data.get("schema") != SNAPSHOT_SCHEMA:
            raise ValueError(f"not a genaiops prompt snapshot (schema {SNAPSHOT_SCHEMA!r} expected)")
        labels = {
            str(label): {str(name): PromptVersion.from_json(doc) for name, doc in prompts.items()}
            for label, prompts in (data.get("labels") or {}).items()
        }
        return cls(labels, str(data.get("created", "")))

    @classmethod
    def load(cls, path: Path | str) -> Snapshot:
        """Read a snapshot file."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    def save(self, path: Path | str) -> None:
        """Write a snapshot file."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def snapshot_of(
    store: PromptStore, labels: Iterable[str], *, names: Iterable[str] | None = None, created: str = ""
) -> Snapshot:
    """The versions `labels` point at in the store now (prompts without the label are left out)."""
    chosen = sorted(names) if names is not None else store.list_prompts()
    result: dict[str, dict[str, PromptVersion]] = {}
    for label in labels:
        for name in chosen:
            index = store.read_index(name)
            version_id = index.labels.get(label) if index else None
            version = store.read_version(name, version_id) if version_id else None
            if version is not None:
                result.setdefault(label, {})[name] = version
    return Snapshot(result, created)


@dataclass
class _Entry:
    version: PromptVersion
    fetched_at: float
    origin: str  # "store" or "snapshot"


def _spawn_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="prompt-revalidate", daemon=True).start()


class PromptClient:
    """Active prompt versions for applications; thread-safe."""

    def __init__(
        self,
        store: PromptStore | None,
        *,
        label: str = "production",
        ttl_s: float = 60.0,
        stale_while_revalidate_s: float = 600.0,
        snapshot: Snapshot | None = None,
        clock: Callable[[], float] = time.monotonic,
        spawn: Callable[[Callable[[], None]], None] = _spawn_thread,
        project: str | None = None,
    ) -> None:
        """`spawn` runs a background refresh (a daemon thread by default; tests pass their own); `project`
        completes registry model names (default: GOOGLE_CLOUD_PROJECT)."""
        if ttl_s < 0 or stale_while_revalidate_s < 0:
            raise ValueError("ttl_s and stale_while_revalidate_s must not be negative")
        self._store = store
        self._label = label
        self._ttl_s = ttl_s
        self._swr_s = stale_while_revalidate_s
        self._snapshot = snapshot or Snapshot()
        self._clock = clock
        self._spawn = spawn
        self._project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._refreshing: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def get(self, name: str, *, label: str | None = None) -> PromptVersion:
        """The version `label` (default: the client's label) points at, by the caching rules above."""
        key = (name, label or self._label)
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key)
            age = None if entry is None else now - entry.fetched_at
            if entry is not None and age is not None and age < self._ttl_s + self._swr_s:
                if age >= self._ttl_s and key not in self._refreshing:
                    self._refreshing.add(key)
                    self._spawn(lambda: self._revalidate(key))
                return entry.version
        return self._fetch(key, entry)

    def render(
        self, name: str, variables: Mapping[str, Any] | None = None, *, label: str | None = None
    ) -> RenderedPrompt:
        """Get and render a prompt; RenderError names the variable and the template line."""
        version = self.get(name, label=label)
        where = f"prompt {name}@{version.id}"
        text = render_text(
            version.template,
            name=name,
            declared=version.declared(),
            values=variables or {},
            declared_at=lambda _variable: Source(where),
            line_at=lambda line, column: Source(where, line, column),
        )
        return RenderedPrompt(
            name=name,
            text=text,
            model=self._model_of(version),
            system_instruction=version.system_instruction,
            generation_config=dict(version.generation_config),
            version=version.id,
            model_ref=version.model,
        )

    def _model_of(self, version: PromptVersion) -> str:
        runs_on = version.runs_on
        if needs_project(runs_on) and not self._project:
            raise ProjectNeededError(
                f"prompt {version.name!r} runs on {runs_on} in your project: create the PromptClient with "
                "project=... (or set GOOGLE_CLOUD_PROJECT) to get its full resource name"
            )
        return qualified(runs_on, self._project)

    def _from_store(self, key: tuple[str, str]) -> PromptVersion:
        if self._store is None:
            raise PromptUnavailableError("no prompt store configured")
        return active(self._store, *key)

    def _fetch(self, key: tuple[str, str], stale: _Entry | None) -> PromptVersion:
        name, label = key
        try:
            version = self._from_store(key)
        except GenaiopsError as err:
            if stale is not None:
                _log.warning("prompt store failed (%s); serving %s@%s from cache", err, name, stale.version.id)
                self._remember(key, stale.version, stale.origin)  # retry the store after ttl_s, not on every call
                return stale.version
            bundled = self._snapshot.get(name, label)
            if bundled is None:
                raise PromptUnavailableError(
                    f"prompt {name!r} ({label}) is unavailable: {err}; and the bundled snapshot does not have it"
                ) from err
            _log.warning("prompt store failed (%s); serving %s@%s from the snapshot", err, name, bundled.id)
            self._remember(key, bundled, "snapshot")
            return bundled
        self._remember(key, version, "store")
        return version

    def _remember(self, key: tuple[str, str], version: PromptVersion, origin: str) -> None:
        with self._lock:
            self._cache[key] = _Entry(version, self._clock(), origin)

    def _revalidate(self, key: tuple[str, str]) -> None:
        try:
            self._remember(key, self._from_store(key), "store")
        except GenaiopsError as err:
            _log.warning("background refresh of prompt %s (%s) failed: %s", key[0], key[1], err)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def origin(self, name: str, *, label: str | None = None) -> str | None:
        """Where the cached version came from (`store` or `snapshot`), None when nothing is cached."""
        with self._lock:
            entry = self._cache.get((name, label or self._label))
        return None if entry is None else entry.origin

"""The runtime client applications use to get their prompts: the version a label (environment) points
at, or under a prompt canary the version sticky routing picks for the request, from the prompt store,
cached, rendered strictly, with a bundled snapshot as the last resort.

    from controller.providers.prompt_store import open_store
    from controller.prompts.client import PromptClient, Snapshot

    prompts = PromptClient(open_store("gs://my-bucket/prompts", retry_deadline_s=2), label="production",
                           snapshot=Snapshot.load("prompts.snapshot.json"))
    rendered = prompts.render("support-answer", {"customer_name": "Ada", ...}, routing_key=user_id)
    rendered.text, rendered.system_instruction, rendered.generation_config, rendered.version
    rendered.model      # the Vertex AI model to call: publishers/google/models/gemini-3.5-flash, or
                        # projects/P/locations/R/endpoints/E for a registry model (P: `project=`)
    rendered.model_ref  # what the manifest wrote: gemini-flash

    version = prompts.get("support-answer", routing_key=user_id)   # ONE choice per request, then
    rendered = prompts.render_version(version, {...})              # render exactly that version

`rendered.model` is the Vertex AI name recorded in the version at publish (`controller.prompts.models`);
a registry model's name is recorded without the project and completed with the client's `project`
(default: the GOOGLE_CLOUD_PROJECT environment variable); rendering such a prompt without a project is an
error that says so. A version published before the name was recorded gives its manifest reference.

Prompt canaries: one fetch reads the prompt's index once and caches, per (prompt, label), a `Routing`:
the stable version (where the label points) and, while the label's rollout record (`LabelRollout`,
written by the controller) is progressing or paused with a positive weight and a candidate, that
candidate, its weight and the rollout's routing id. Each request is then assigned by
`controller.rollout.assignment.variant` (salt `<prompt>/<label>`): the same `routing_key` (a user or
session id) always gets the same version at a given weight, and raising the weight only moves keys to the
candidate; a request without a key draws at random (`rng`, `secrets.randbelow` by default). A record left
over after the label was moved by hand (its stable is not where the label points), a rolled-back or
finished one, routes nothing. The client never routes to a version it cannot read: when the candidate's
version object cannot be read, everything goes to the stable (and a warning is logged). The routing key
is never logged nor stored.

Caching, per (prompt, label), of the routing (weights included): younger than `ttl_s` -> served from
memory; up to `ttl_s + stale_while_revalidate_s` -> served from memory while one background refresh runs;
older, or never fetched -> fetched now. When the store cannot be reached (any `controller.errors` error)
the client serves what it has, however old (stale-if-error), else the snapshot's version (stable only: a
snapshot has no rollouts), else raises `PromptUnavailableError`. An answer given after a failure is cached
for `ttl_s` too, so a dead store is not hammered.
`genaiops prompts snapshot` writes the snapshot file to ship with the application.

This module depends only on the `PromptStore` port; the Cloud Storage and local stores live in
`controller.providers.prompt_store`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.diagnostics import Source
from controller.errors import GenaiopsError, NotFoundError, UserError
from controller.model.suggest import did_you_mean
from controller.observed import Phase
from controller.prompts.index import LabelRollout, PromptIndex
from controller.prompts.models import needs_project, qualified
from controller.prompts.render import RenderedPrompt, render_text
from controller.prompts.store import PromptStore
from controller.prompts.version import PromptVersion
from controller.rollout.assignment import RandomBelow, percent_to_bp, variant

__all__ = ["ProjectNeededError", "PromptClient", "PromptUnavailableError", "Routing", "Snapshot", "canary_of"]
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


ROUTED_PHASES = frozenset({Phase.PROGRESSING, Phase.PAUSED})
"""Rollout phases whose candidate gets traffic (paused keeps its weight; healthy and degraded route none)."""


@dataclass(frozen=True)
class Routing:
    """How one label's requests are split, as read with the prompt: all to `stable` (where the label
    points), or `weight` percent to `candidate`, assigned sticky by routing key under `routing_id`."""

    stable: PromptVersion
    candidate: PromptVersion | None = None
    weight: int = 0
    routing_id: str = ""

    def choose(self, *, salt: str, routing_key: str | None, rng: RandomBelow) -> PromptVersion:
        """The version for one request: the candidate when the key's bucket falls within its weight (a
        request without a key draws from `rng`), else the stable. No candidate: no draw at all."""
        if self.candidate is None or self.weight <= 0:
            return self.stable
        picked = variant(salt, self.routing_id, routing_key, percent_to_bp(self.weight), rng=rng)
        return self.candidate if picked == "candidate" else self.stable

    def known(self) -> dict[str, PromptVersion]:
        """The versions this routing holds, by id (versions are immutable: a refresh reuses them)."""
        found = {self.stable.id: self.stable}
        if self.candidate is not None:
            found[self.candidate.id] = self.candidate
        return found


def canary_of(index: PromptIndex, label: str) -> LabelRollout | None:
    """The label's rollout record when it routes requests to a candidate, else None: the record must name
    a candidate with a positive weight, be progressing or paused, and its stable must be where the label
    points (a record left over after the label was moved by hand routes nothing)."""
    record = index.rollouts.get(label)
    if record is None or not record.candidate or record.weight <= 0:
        return None
    if record.state.phase not in ROUTED_PHASES or record.stable != index.labels.get(label):
        return None
    return record


@dataclass
class _Entry:
    routing: Routing
    fetched_at: float
    origin: str  # "store" or "snapshot"


def _spawn_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="prompt-revalidate", daemon=True).start()


class PromptClient:
    """Active prompt versions for applications, routed under prompt canaries; thread-safe."""

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
        rng: RandomBelow = secrets.randbelow,
    ) -> None:
        """`spawn` runs a background refresh (a daemon thread by default; tests pass their own); `project`
        completes registry model names (default: GOOGLE_CLOUD_PROJECT); `rng(n)` draws the bucket of a
        request without a routing key under a canary (tests inject a seeded one)."""
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
        self._rng = rng
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._refreshing: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def get(self, name: str, *, label: str | None = None, routing_key: str | None = None) -> PromptVersion:
        """The version for one request: where `label` (default: the client's label) points, or under a
        canary the one sticky routing picks for `routing_key` (a user or session id; None: at random).
        Make one choice per request and render it with `render_version`."""
        chosen_label = label or self._label
        routing = self.routing(name, label=chosen_label)
        return routing.choose(salt=f"{name}/{chosen_label}", routing_key=routing_key, rng=self._rng)

    def routing(self, name: str, *, label: str | None = None) -> Routing:
        """The label's routing (stable, and the candidate with its weight under a canary), by the caching
        rules above."""
        key = (name, label or self._label)
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key)
            age = None if entry is None else now - entry.fetched_at
            if entry is not None and age is not None and age < self._ttl_s + self._swr_s:
                if age >= self._ttl_s and key not in self._refreshing:
                    self._refreshing.add(key)
                    self._spawn(lambda: self._revalidate(key))
                return entry.routing
        return self._fetch(key, entry)

    def render(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        *,
        label: str | None = None,
        routing_key: str | None = None,
    ) -> RenderedPrompt:
        """Choose a version (as `get`) and render it; RenderError names the variable and the template line."""
        return self.render_version(self.get(name, label=label, routing_key=routing_key), variables)

    def render_version(self, version: PromptVersion, variables: Mapping[str, Any] | None = None) -> RenderedPrompt:
        """Render the version `get` chose; RenderError names the variable and the template line."""
        name = version.name
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

    def _from_store(self, key: tuple[str, str], known: Mapping[str, PromptVersion]) -> Routing:
        """One fetch: the index read once, the stable version, and the candidate when the label's record
        routes to one (`known`: versions already held, reused rather than read again)."""
        store = self._store
        if store is None:
            raise PromptUnavailableError("no prompt store configured")
        name, label = key
        index = store.read_index(name)
        if index is None:
            raise NotFoundError(f"prompt {name!r} was never published to {store.location}")
        stable_id = index.labels.get(label)
        if stable_id is None:
            labels = ", ".join(sorted(index.labels)) or "none"
            hint = did_you_mean(label, index.labels)
            raise NotFoundError(f"prompt {name!r} has no label {label!r} in {store.location} (labels: {labels}){hint}")
        stable = known.get(stable_id) or store.read_version(name, stable_id)
        if stable is None:
            raise NotFoundError(f"version {stable_id} of prompt {name!r} is listed but missing from {store.location}")
        record = canary_of(index, label)
        if record is None:
            return Routing(stable)
        candidate = known.get(record.candidate) or self._candidate(store, name, label, record.candidate)
        if candidate is None:
            return Routing(stable)
        return Routing(stable, candidate, record.weight, record.routing_id)

    def _candidate(self, store: PromptStore, name: str, label: str, version_id: str) -> PromptVersion | None:
        """The candidate's version, or None (and a warning) when it cannot be read: never route to it then."""
        try:
            found = store.read_version(name, version_id)
            problem = "is missing"
        except GenaiopsError as err:
            found, problem = None, f"cannot be read ({type(err).__name__})"
        if found is None:
            _log.warning(
                "candidate version %s of prompt %s (%s) %s; routing every request to the stable version",
                version_id,
                name,
                label,
                problem,
            )
        return found

    def _fetch(self, key: tuple[str, str], stale: _Entry | None) -> Routing:
        name, label = key
        try:
            routing = self._from_store(key, {} if stale is None else stale.routing.known())
        except GenaiopsError as err:
            if stale is not None:
                _log.warning("prompt store failed (%s); serving %s@%s from cache", err, name, stale.routing.stable.id)
                self._remember(key, stale.routing, stale.origin)  # retry the store after ttl_s, not on every call
                return stale.routing
            bundled = self._snapshot.get(name, label)
            if bundled is None:
                raise PromptUnavailableError(
                    f"prompt {name!r} ({label}) is unavailable: {err}; and the bundled snapshot does not have it"
                ) from err
            _log.warning("prompt store failed (%s); serving %s@%s from the snapshot", err, name, bundled.id)
            routing = Routing(bundled)  # a snapshot has no rollouts: stable only
            self._remember(key, routing, "snapshot")
            return routing
        self._remember(key, routing, "store")
        return routing

    def _remember(self, key: tuple[str, str], routing: Routing, origin: str) -> None:
        with self._lock:
            self._cache[key] = _Entry(routing, self._clock(), origin)

    def _revalidate(self, key: tuple[str, str]) -> None:
        with self._lock:
            entry = self._cache.get(key)
        try:
            self._remember(key, self._from_store(key, {} if entry is None else entry.routing.known()), "store")
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

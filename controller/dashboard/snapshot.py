"""The dashboard's snapshot: the overview (every resource's sync and health, and the rollouts) built by a
background refresher every few seconds, so requests are answered from memory however many resources
there are, and a version that goes up whenever what the pages show changed (the server-sent events
announce it; the pages then fetch again).

`SnapshotStore.refresh` builds one snapshot with the page data's `build` callable; `start` runs it in a
daemon thread until `stop`, never busier than half the time (a build that takes longer than the interval is
followed by a pause as long). A build that fails keeps the last snapshot, with the failure among its
problems (the target may be briefly unreachable: the page says so instead of going blank).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

from controller.dashboard.shapes import Overview

log = logging.getLogger("genaiops.dashboard")


def to_json(value: Any) -> bytes:
    """Strict JSON (a value that is not a finite number becomes null), UTF-8."""
    return json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass(frozen=True)
class Built:
    """What one refresh gathered: the overview, what else may change the pages (`extra`, e.g. the audit
    log's size), and whatever the page data keeps beside it (`context`)."""

    overview: Overview
    extra: Hashable = ()
    context: Any = None


@dataclass(frozen=True)
class Snapshot:
    """One built overview, its JSON, and its version."""

    version: int
    built: Built
    body: bytes  # the overview as JSON, served as is
    digest: str  # of everything but the build time: equal digests, nothing to announce


class SnapshotStore:
    """The latest snapshot, rebuilt every `every_s` seconds by a background thread."""

    def __init__(self, build: Callable[[], Built], *, every_s: float = 2.0) -> None:
        self._build = build
        self.every_s = every_s
        self._changed = threading.Condition()
        self._snapshot: Snapshot | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        """True once `stop` was called (event streams end)."""
        return self._stopping.is_set()

    def current(self, *, wait_s: float = 0.0) -> Snapshot | None:
        """The latest snapshot, waiting up to `wait_s` for the first one."""
        with self._changed:
            if self._snapshot is None and wait_s > 0:
                self._changed.wait_for(lambda: self._snapshot is not None or self.stopping, timeout=wait_s)
            return self._snapshot

    def version(self) -> int:
        """The latest snapshot's version (0 before the first)."""
        snapshot = self.current()
        return snapshot.version if snapshot is not None else 0

    def wait_for_change(self, version: int, *, timeout_s: float) -> int:
        """Block until the version differs from `version` (or `timeout_s` passed, or the store stops); the
        version then."""
        with self._changed:
            self._changed.wait_for(lambda: self.version_locked() != version or self.stopping, timeout=timeout_s)
            return self.version_locked()

    def version_locked(self) -> int:
        """`version`, for a caller holding the condition."""
        return self._snapshot.version if self._snapshot is not None else 0

    def refresh(self) -> Snapshot:
        """Build a snapshot now; the version goes up when it differs from the last one."""
        try:
            built = self._build()
        except Exception as err:  # the target may be down for a while: keep the last snapshot, say why
            log.warning("dashboard refresh failed: %s", err, exc_info=not isinstance(err, OSError | RuntimeError))
            built = self._failed(f"refresh failed: {err}")
        overview = built.overview
        stable = {**overview, "generated_at": 0}
        digest = hashlib.sha256(to_json(stable) + repr(built.extra).encode()).hexdigest()
        with self._changed:
            last = self._snapshot
            if last is not None and last.digest == digest:
                snapshot = replace(last, built=built, body=to_json(overview))
            else:
                version = (last.version if last is not None else 0) + 1
                snapshot = Snapshot(version, built, to_json(overview), digest)
            self._snapshot = snapshot
            self._changed.notify_all()
        return snapshot

    def _failed(self, problem: str) -> Built:
        last = self.current()
        if last is None:
            overview = Overview(
                target="", environment="", generated_at=time.time(), resources=[], rollouts=[], counts={}, problems=[]
            )
            return Built(Overview(**{**overview, "problems": [problem]}))
        previous = last.built.overview
        kept = [p for p in previous["problems"] if not p.startswith("refresh failed:")]
        return replace(last.built, overview=Overview(**{**previous, "problems": [*kept, problem]}))

    def start(self) -> None:
        """Refresh every `every_s` seconds in a daemon thread (the first refresh at once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="genaiops-dashboard-refresh", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            self.refresh()
            took = time.monotonic() - started
            # at most half of a core: a build longer than the interval (a thousand endpoints) waits as long again
            self._stopping.wait(max(self.every_s - took, took))

    def stop(self) -> None:
        """Stop refreshing, and wake every waiter (event streams end)."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


__all__ = ["Built", "Snapshot", "SnapshotStore", "to_json"]

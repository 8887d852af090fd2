"""The record a lock holder leaves behind (in the Cloud Storage lease object, or next to the local lock file)
and the messages built from it. Shared by `locks_gcs.GcsLease` and `locks_file.FileLock`; no vendor imports.

A record says who holds the lock (`owner`, free text such as `alice@laptop pid 4242`), since when, until
when (`expires_at`; None for a file lock, which lives as long as its process) and on which target, plus a
random `lock_id` that `release` and `genaiops force-unlock ID` must name.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from controller.errors import LockedError

__all__ = ["LockRecord", "default_owner", "format_time", "locked_error", "new_record"]


@dataclass(frozen=True)
class LockRecord:
    """Who holds a lock; serialised as one JSON object."""

    lock_id: str
    owner: str
    acquired_at: float
    expires_at: float | None
    target: str
    host: str = ""
    pid: int = 0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def expired(self, now: float) -> bool:
        """True once `now` is at or past `expires_at` (never for a record without expiry)."""
        return self.expires_at is not None and now >= self.expires_at

    @classmethod
    def from_json(cls, data: bytes) -> LockRecord:
        """Parse a record; ValueError when `data` is not one."""
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"not JSON: {err}") from err
        if not isinstance(raw, dict) or not isinstance(raw.get("lock_id"), str) or not raw["lock_id"]:
            raise ValueError("not a lock record (no lock_id)")
        try:
            expires = raw.get("expires_at")
            return cls(
                lock_id=raw["lock_id"],
                owner=str(raw.get("owner", "")),
                acquired_at=float(raw.get("acquired_at", 0.0)),
                expires_at=None if expires is None else float(expires),
                target=str(raw.get("target", "")),
                host=str(raw.get("host", "")),
                pid=int(raw.get("pid", 0)),
            )
        except (TypeError, ValueError) as err:
            raise ValueError(f"malformed lock record: {err}") from err


def default_owner() -> str:
    """`user@host pid N`: what `acquire(owner=...)` records when the caller has nothing better."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def new_record(*, owner: str, target: str, now: float, ttl_s: float | None) -> LockRecord:
    """A fresh record with a new random lock id, acquired `now`, expiring `ttl_s` later (None: never)."""
    return LockRecord(
        lock_id=str(uuid.uuid4()),
        owner=owner,
        acquired_at=now,
        expires_at=None if ttl_s is None else now + ttl_s,
        target=target,
        host=socket.gethostname(),
        pid=os.getpid(),
    )


def format_time(ts: float) -> str:
    """An epoch timestamp as ISO 8601 UTC to the second, e.g. `2025-01-31T09:15:02Z`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def locked_error(record: LockRecord | None, *, target: str, remedy: str) -> LockedError:
    """The LockedError for a lock held by `record` (None: the holder could not be read).

    `remedy` ends the message: what the user can do (wait, or force-unlock with the id)."""
    if record is None:
        return LockedError(f"the lock on {target} is held by another process (holder unknown). {remedy}")
    until = "" if record.expires_at is None else f", lease expires {format_time(record.expires_at)} unless renewed"
    message = (
        f"the lock on {target} is held by {record.owner or 'an unnamed owner'} since "
        f"{format_time(record.acquired_at)} (lock id {record.lock_id}{until}). {remedy}"
    )
    return LockedError(message, holder=record.owner, lock_id=record.lock_id)

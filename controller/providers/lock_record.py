"""The record a lock holder leaves behind (in the Cloud Storage lease object, or next to the local lock file)
and the messages built from it. Shared by `locks_gcs.GcsLease` and `locks_file.FileLock`; no vendor imports.

A record says who holds the lock (`owner`, free text such as `alice@laptop pid 4242`), since when, until
when (`expires_at`; None for a file lock, which lives as long as its process) and on which target, plus a
random `lock_id` that `release` and `genaiops force-unlock ID` must name.

`pid_scope` says where `pid` means something (the kernel's boot id and the pid namespace, Linux only):
`holder_is_gone` trusts a pid check only within that scope, so a lease whose process was killed on this
machine can be taken at once, while a holder in another container or on another machine (even with the
same hostname) is only ever judged by its expiry.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from controller.errors import LockedError

__all__ = ["LockRecord", "default_owner", "format_time", "holder_is_gone", "locked_error", "new_record", "pid_scope"]


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
    pid_scope: str = ""  # where `pid` is meaningful (see `pid_scope()`); "" when unknown

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
                pid_scope=str(raw.get("pid_scope", "")),
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
        pid_scope=pid_scope(),
    )


@cache
def pid_scope() -> str:
    """This process's pid scope: `<boot id>/<pid namespace>` (Linux), or "" where that cannot be read.

    Two processes with the same scope see the same pids; a hostname alone does not promise that (containers
    sharing the host network share its hostname, not its pids)."""
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot_id}/{namespace}" if boot_id and namespace else ""


def holder_is_gone(record: LockRecord) -> bool:
    """True only when the holder's process certainly no longer runs: it ran in our pid scope and no live
    process has its pid (a zombie counts as gone: it can renew nothing). Unknown means alive."""
    if record.pid <= 0 or not record.pid_scope or record.pid_scope != pid_scope():
        return False
    if record.pid == os.getpid():
        return False  # another lease object in this very process
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's process) or we cannot tell
    try:
        stat = Path(f"/proc/{record.pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])


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

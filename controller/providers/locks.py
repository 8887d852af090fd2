"""Apply locks: two applies on one target never interleave. The CLI (composition root) picks one per target:
a `GcsLease` (lease object in Cloud Storage, `locks_gcs.py`) for a cloud target and for a running emulator
(in its own storage), a `FileLock` (flock, `locks_file.py`) for the local one, and holds it around an apply
with `holding`. Both implement `controller.ports.LockPort` plus the administration methods of
`AdministeredLock` below, which `genaiops force-unlock ID` and lock status displays use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from controller.ports import LockPort
from controller.providers.lock_record import LockRecord, default_owner
from controller.providers.locks_file import FileLock
from controller.providers.locks_gcs import GcsLease

__all__ = ["AdministeredLock", "FileLock", "GcsLease", "LockRecord", "default_owner", "holding"]


class AdministeredLock(LockPort, Protocol):
    """LockPort plus what force-unlock and status need (proposed for `controller.ports.LockPort`)."""

    @property
    def lost(self) -> bool:
        """True when the lock was taken from us while held (a cloud lease whose renewal failed)."""
        ...

    def force_unlock(self, lock_id: str) -> None:
        """Break the lock if `lock_id` names its current holder; UserError otherwise."""
        ...

    def holder(self) -> dict[str, Any] | None:
        """The current holder's record, or None when the lock is free."""
        ...


@contextmanager
def holding(lock: LockPort, *, owner: str | None = None, wait_s: float = 0.0) -> Iterator[str]:
    """Hold `lock` for the duration of a `with` block (yields the lock id); released however it ends."""
    lock_id = lock.acquire(owner=owner or default_owner(), wait_s=wait_s)
    try:
        yield lock_id
    finally:
        lock.release(lock_id)

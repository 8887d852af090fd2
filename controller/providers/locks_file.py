"""The apply lock for the local target: `fcntl.flock` on a lock file, with the holder named in a side file.

The kernel frees a flock when its process dies, so a crashed apply never leaves the local target locked;
the side file (`<path>.json` next to `<path>.lock`, say) only says who holds it so LockedError can name
them. flock belongs to an open file description, so two FileLock objects exclude each other even in one
process (threads), and across processes. No vendor imports: the emulator subprocess test imports this
module alone. POSIX only (fcntl).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.errors import UserError
from controller.providers.lock_record import LockRecord, format_time, locked_error, new_record

__all__ = ["FileLock"]
_log = logging.getLogger(__name__)
_MAX_POLL_S = 0.5


class FileLock:
    """A LockPort on a local lock file; holder info goes to `path.with_suffix('.json')`."""

    def __init__(self, path: Path, *, target: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self._path = Path(path)
        self._info = self._path.with_suffix(".json")
        if self._info == self._path:
            raise ValueError(f"the lock file must not end in .json (got {self._path})")
        self._target = target or f"the local target ({self._path.parent})"
        self._clock = clock
        self._state = threading.Lock()
        self._fd: int | None = None
        self._record: LockRecord | None = None

    @property
    def lost(self) -> bool:
        """Always False: a flock cannot be taken from a living process."""
        return False

    @property
    def lock_id(self) -> str | None:
        record = self._record
        return None if record is None else record.lock_id

    def acquire(self, *, owner: str, wait_s: float) -> str:
        """Take the lock, waiting up to `wait_s`; returns the lock id or raises LockedError naming the holder."""
        with self._state:
            if self._fd is not None:
                raise RuntimeError(f"this FileLock already holds {self._path}; release it first")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            self._wait_for_flock(fd, wait_s)
            record = new_record(owner=owner, target=self._target, now=self._clock(), ttl_s=None)
            self._write_info(record)
        except BaseException:
            os.close(fd)  # closing drops the flock too, if we had it
            raise
        with self._state:
            self._fd, self._record = fd, record
        return record.lock_id

    def release(self, lock_id: str) -> None:
        """Let go of the lock if `lock_id` is the one this object holds; otherwise warn and do nothing."""
        with self._state:
            record, fd = self._record, self._fd
            if record is None or fd is None or record.lock_id != lock_id:
                _log.warning("not releasing %s: lock id %s is not held here", self._path, lock_id)
                return
            current = self._read_info()
            if current is not None and current.lock_id == lock_id:
                with contextlib.suppress(FileNotFoundError):
                    self._info.unlink()
            self._fd = self._record = None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def force_unlock(self, lock_id: str) -> None:
        """Clear the holder info of a lock whose process is gone, if `lock_id` names it.

        Raises UserError when nothing is recorded, the id does not match, or the holder still runs (its
        flock cannot be broken; it is freed when that process exits)."""
        current = self._read_info()
        if current is None:
            raise UserError(f"there is no lock on {self._target} to force-unlock")
        if current.lock_id != lock_id:
            raise UserError(
                f"refusing to force-unlock {self._target}: lock id {lock_id} does not match the current "
                f"holder's lock id {current.lock_id} (held by {current.owner} since "
                f"{format_time(current.acquired_at)})"
            )
        if self._flock_is_held():
            raise UserError(
                f"the lock on {self._target} (lock id {lock_id}) is held by a running process "
                f"({current.owner}, pid {current.pid} on {current.host}); it is released when that process "
                "exits, so stop that process instead"
            )
        with contextlib.suppress(FileNotFoundError):
            self._info.unlink()

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock (the side file's record), or None when the lock is free."""
        with self._state:
            mine = self._record
        if mine is not None:
            return mine.as_dict()
        if not self._flock_is_held():
            return None  # the side file, if any, is left over from a process that died
        current = self._read_info()
        return None if current is None else current.as_dict()

    # -- helpers ---------------------------------------------------------------------------------------

    def _wait_for_flock(self, fd: int, wait_s: float) -> None:
        deadline = time.monotonic() + max(wait_s, 0.0)
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = self._read_info()
                remedy = (
                    "Wait for that apply to finish (or retry with a longer wait); the lock is released when its "
                    "process exits."
                )
                raise locked_error(holder, target=self._target, remedy=remedy)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_POLL_S)

    def _flock_is_held(self) -> bool:
        """Whether some open file description holds the flock (probes with a non-blocking attempt)."""
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the probe's flock
        return False

    def _read_info(self) -> LockRecord | None:
        try:
            return LockRecord.from_json(self._info.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            _log.warning("ignoring unreadable lock holder file %s", self._info)
            return None

    def _write_info(self, record: LockRecord) -> None:
        """Write the side file atomically (a reader sees the old record or the new one, never half)."""
        tmp = self._info.with_name(f".{self._info.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_bytes(record.to_json())
            os.replace(tmp, self._info)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

"""The apply lock for a cloud target: a lease object in Cloud Storage, guarded by generation preconditions.

`acquire` creates the object with `if_generation_match=0` (only if absent); a live lease makes it wait
(polling with backoff) and then raise LockedError naming the holder; an expired lease, or one whose
holder's process is certainly gone (killed on this machine: `lock_record.holder_is_gone`), is taken over
with a compare-and-swap on its generation, so of several racing takers exactly one wins. While held, a daemon
thread rewrites `expires_at` with `if_generation_match=<our generation>`; when that finds the lease gone or
someone else's, `lost` turns true (and `on_lost` is called) so the apply can stop. `release` and
`force_unlock` delete only with `if_generation_match`, never someone else's lease.

Every write is conditional, so the client's retries are safe: a create or renewal whose response was lost
and whose retry fails with 412 is recognised by reading back our own lock id. Times in the record come from
`clock` (wall time, injectable); waiting uses real monotonic time. A taker judges expiry by its own clock
against the holder's `expires_at`, so the TTL must exceed any clock skew between machines (NTP keeps it
to well under a second; the default TTL is two minutes). Google errors leave as
`controller.errors` types (`translated`). The caller wires this in the CLI (the composition root).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]  # mypy: namespace package quirk
from google.cloud.storage.retry import DEFAULT_RETRY

from controller.errors import PermanentError, UserError
from controller.providers.google_errors import translated
from controller.providers.lock_record import LockRecord, format_time, holder_is_gone, locked_error, new_record

__all__ = ["GcsLease"]
_log = logging.getLogger(__name__)
_MAX_POLL_S = 2.0


@dataclass(frozen=True)
class _Held:
    """The lease as we last wrote it: our record and the generation that write created."""

    record: LockRecord
    generation: int


class GcsLease:
    """A LockPort on one Cloud Storage object (`gs://bucket/object_name`) holding a JSON LockRecord."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        object_name: str,
        *,
        ttl_s: float = 120,
        renew_every_s: float | None = None,
        clock: Callable[[], float] = time.time,
        target: str | None = None,
        retry_deadline_s: float = 30.0,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        renew = ttl_s / 3 if renew_every_s is None else renew_every_s
        if ttl_s <= 0 or not 0 < renew < ttl_s:
            raise ValueError(f"need 0 < renew_every_s < ttl_s (got renew_every_s={renew}, ttl_s={ttl_s})")
        self._bucket = client.bucket(bucket)
        self._name = object_name
        self._url = f"gs://{bucket}/{object_name}"
        self._target = target or self._url
        self._ttl_s = float(ttl_s)
        self._renew_every_s = float(renew)
        self._clock = clock
        # Every write is conditional, so retrying it is safe; a renewal stops retrying in time to try again
        # (and to notice an expiry) before the lease runs out.
        self._retry = DEFAULT_RETRY.with_timeout(retry_deadline_s)
        self._renew_retry = DEFAULT_RETRY.with_timeout(min(retry_deadline_s, max((ttl_s - renew) / 2, 0.05)))
        self._on_lost = on_lost
        self._state = threading.Lock()
        self._held: _Held | None = None
        self._lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # -- public interface ------------------------------------------------------------------------------

    @property
    def lost(self) -> bool:
        """True once a renewal found the lease gone, someone else's, or expired before it could renew."""
        return self._lost

    @property
    def lock_id(self) -> str | None:
        """The id of the lease this object holds, if any."""
        held = self._held
        return None if held is None else held.record.lock_id

    def acquire(self, *, owner: str, wait_s: float) -> str:
        """Take the lease, waiting up to `wait_s` for a live holder; returns the new lock id.

        Raises LockedError (holder, since when, lock id, how to force-unlock) when still held at the end."""
        if self._held is not None:
            raise RuntimeError(f"this GcsLease already holds {self._url}; release it first")
        deadline = time.monotonic() + max(wait_s, 0.0)
        delay = 0.05
        while True:
            with translated(f"acquiring the lease {self._url}"):
                outcome = self._attempt(owner)
            if isinstance(outcome, _Held):
                self._start(outcome)
                return outcome.record.lock_id
            if outcome is None:  # the holder let go between our create and our read: try again at once
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise locked_error(outcome, target=self._target, remedy=self._remedy(outcome))
            time.sleep(min(delay * random.uniform(0.5, 1.0), remaining))
            delay = min(delay * 2, _MAX_POLL_S)

    def release(self, lock_id: str) -> None:
        """Delete the lease if it is still `lock_id`'s; a lease lost to someone else is left alone."""
        held = self._stop_renewing(lock_id)
        with translated(f"releasing the lease {self._url}"):
            if held is not None:
                try:
                    self._blob().delete(if_generation_match=held.generation, retry=self._retry)
                    return
                except gexc.NotFound:
                    return
                except gexc.PreconditionFailed:
                    pass  # rewritten since our last write: delete it only if it still names us
            current = self._delete_if_named(lock_id)
        if current is not None:
            _log.warning(
                "not releasing %s: it is now held by %s (lock id %s), not by lock id %s",
                self._url,
                current.owner,
                current.lock_id,
                lock_id,
            )

    def force_unlock(self, lock_id: str) -> None:
        """Delete the lease whatever its expiry, but only if `lock_id` names the current holder.

        Raises UserError when no lease exists or it belongs to another lock id."""
        self._stop_renewing(lock_id)
        with translated(f"force-unlocking the lease {self._url}"):
            if self._read() is None:
                raise UserError(f"there is no lock on {self._target} to force-unlock")
            current = self._delete_if_named(lock_id)
        if current is not None:
            raise UserError(
                f"refusing to force-unlock {self._target}: lock id {lock_id} does not match the current "
                f"holder's lock id {current.lock_id} (held by {current.owner} since "
                f"{format_time(current.acquired_at)})"
            )

    def holder(self) -> dict[str, Any] | None:
        """The current lease record (plus `expired`), or None when nobody holds the lock."""
        with translated(f"reading the lease {self._url}"):
            current = self._read()
        if current is None:
            return None
        record = current[0]
        return {**record.as_dict(), "expired": record.expired(self._clock())}

    # -- one attempt to take the lease -----------------------------------------------------------------

    def _attempt(self, owner: str) -> _Held | LockRecord | None:
        """Create or take over the lease once: ours (_Held), the live holder's record, or None (vanished)."""
        mine = new_record(owner=owner, target=self._target, now=self._clock(), ttl_s=self._ttl_s)
        try:
            return _Held(mine, self._write(mine, if_generation_match=0))
        except gexc.PreconditionFailed:
            pass
        current = self._read()
        if current is None:
            return None
        record, generation = current
        if record.lock_id == mine.lock_id:  # our create succeeded; its retry saw our own object
            return _Held(record, generation)
        gone = holder_is_gone(record)
        if not gone and not record.expired(self._clock()):
            return record
        now = self._clock()
        mine = replace(mine, acquired_at=now, expires_at=now + self._ttl_s)
        try:
            taken = _Held(mine, self._write(mine, if_generation_match=generation))
        except gexc.PreconditionFailed:  # another taker won the race (or our retried write did)
            again = self._read()
            if again is None or again[0].lock_id == mine.lock_id:
                return None if again is None else _Held(*again)
            return again[0]
        why = "whose process is gone" if gone else "expired"
        _log.info("took over the lease %s (%s) from %s (lock id %s)", self._url, why, record.owner, record.lock_id)
        return taken

    def _remedy(self, record: LockRecord) -> str:
        return (
            "Wait for that apply to finish (or retry with a longer wait); if it is no longer running, the lease "
            f"expires by itself, or run `genaiops force-unlock {record.lock_id}` with the same target options."
        )

    # -- renewal ---------------------------------------------------------------------------------------

    def _start(self, held: _Held) -> None:
        with self._state:
            self._held, self._lost = held, False
            self._stop = threading.Event()
            self._renewer = threading.Thread(
                target=self._renew_loop,
                args=(self._stop, held.record.lock_id),
                name=f"lease-renewal {self._url}",
                daemon=True,
            )
            self._renewer.start()

    def _renew_loop(self, stop: threading.Event, lock_id: str) -> None:
        while not stop.wait(self._renew_every_s):
            if not self._renew_once(stop, lock_id):
                return

    def _renew_once(self, stop: threading.Event, lock_id: str) -> bool:
        """Push `expires_at` forward once; False when renewing should stop (released or lost)."""
        held = self._held
        if held is None or held.record.lock_id != lock_id or stop.is_set():
            return False
        renewed = replace(held.record, expires_at=self._clock() + self._ttl_s)
        try:
            try:
                generation = self._write(renewed, if_generation_match=held.generation, retry=self._renew_retry)
                fresh = _Held(renewed, generation)
            except gexc.PreconditionFailed:
                current = self._read()
                if current is None or current[0].lock_id != lock_id:
                    return self._lose(stop, current[0] if current else None)
                fresh = _Held(*current)  # our own write landed and its retry failed: adopt it
        except PermanentError as err:  # the lease object was replaced by something that is not a lease
            _log.error("%s", err)
            return self._lose(stop, None)
        except gexc.GoogleAPIError as err:
            _log.warning("could not renew the lease %s: %s", self._url, err)
            if held.record.expired(self._clock()):
                return self._lose(stop, None)
            return True
        with self._state:
            if stop.is_set():
                return False
            self._held = fresh
        return True

    def _lose(self, stop: threading.Event, taker: LockRecord | None) -> bool:
        with self._state:
            if stop.is_set():  # released meanwhile: nothing is lost
                return False
            self._lost = True
        who = "nobody holds it now" if taker is None else f"now held by {taker.owner} (lock id {taker.lock_id})"
        _log.error("lost the lease %s: %s", self._url, who)
        if self._on_lost is not None:
            self._on_lost()
        return False

    def _stop_renewing(self, lock_id: str) -> _Held | None:
        """Stop the renewal thread if we hold `lock_id`; returns what we held (None if not that lease)."""
        with self._state:
            held = self._held
            if held is None or held.record.lock_id != lock_id:
                return None
            self._held = None
            self._stop.set()
            renewer = self._renewer
        if renewer is not None and renewer is not threading.current_thread():
            renewer.join()
        return held

    # -- storage primitives (raise google.api_core exceptions) -----------------------------------------

    def _blob(self) -> storage.Blob:
        return self._bucket.blob(self._name)  # a fresh Blob per call: Blob objects carry mutable state

    def _read(self) -> tuple[LockRecord, int] | None:
        blob = self._blob()
        try:
            data = blob.download_as_bytes(retry=self._retry)
        except gexc.NotFound:
            return None
        try:
            return LockRecord.from_json(data), int(blob.generation)
        except ValueError as err:
            raise PermanentError(
                f"{self._url} is not a genaiops lease ({err}); remove it by hand if nothing else uses it"
            ) from err

    def _write(self, record: LockRecord, *, if_generation_match: int, retry: Any = None) -> int:
        blob = self._blob()
        blob.upload_from_string(
            record.to_json(),
            content_type="application/json",
            if_generation_match=if_generation_match,
            retry=retry or self._retry,
        )
        return int(blob.generation)

    def _delete_if_named(self, lock_id: str) -> LockRecord | None:
        """Delete the lease if it names `lock_id`; returns the other holder's record when it does not."""
        while True:
            current = self._read()
            if current is None:
                return None
            record, generation = current
            if record.lock_id != lock_id:
                return record
            try:
                self._blob().delete(if_generation_match=generation, retry=self._retry)
                return None
            except gexc.NotFound:
                return None
            except gexc.PreconditionFailed:
                continue  # renewed by its holder between our read and delete: read again

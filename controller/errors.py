"""genaiops' own exceptions. Providers translate vendor errors into these (`raise ... from e`); the engine
decides by type alone: retry a TransientError with backoff, re-observe on ConflictError, stop the resource
on PermanentError. The CLI maps UserError to exit code 1 with a message, never a traceback."""

from __future__ import annotations


class GenaiopsError(Exception):
    """Base of every error genaiops raises on purpose."""


class UserError(GenaiopsError):
    """A mistake the user can fix (bad flags, a stale plan file, a missing manifest)."""


class TransientError(GenaiopsError):
    """Try again later: UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED, INTERNAL."""


class ConflictError(GenaiopsError):
    """The resource changed under us (stale etag): re-observe and re-plan it."""


class NotFoundError(GenaiopsError):
    """The resource does not exist."""


class AlreadyExistsError(GenaiopsError):
    """A create found the resource there already (fine when genaiops owns it)."""


class PermanentError(GenaiopsError):
    """Retrying will not help (invalid argument, permission denied, precondition failed)."""


class LockedError(GenaiopsError):
    """Another apply holds the lock on this target."""

    def __init__(self, message: str, *, holder: str = "", lock_id: str = "") -> None:
        super().__init__(message)
        self.holder = holder
        self.lock_id = lock_id

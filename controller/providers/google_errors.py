"""Translate google.api_core exceptions into genaiops errors that carry retry meaning."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from google.api_core import exceptions as gexc

from controller.errors import (
    AlreadyExistsError,
    ConflictError,
    GenaiopsError,
    NotFoundError,
    PermanentError,
    TransientError,
)
from controller.runtime.failures import retired_model_error

T = TypeVar("T")

_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.Aborted,
    gexc.GatewayTimeout,
    gexc.RetryError,
)


def translate(err: Exception, *, what: str, etag_checked: bool = False, model: str | None = None) -> GenaiopsError:
    """The genaiops error for a Google API error. With `etag_checked`, ABORTED and FAILED_PRECONDITION
    mean the etag was stale (a conflict to re-observe), not a transient fault. With `model` (the called
    model's name), a 404 of a model the catalogue dates is the runtime's ModelRetiredError."""
    said = getattr(err, "message", None)
    message = f"{what}: {said or err}"
    if etag_checked and isinstance(err, gexc.Aborted | gexc.FailedPrecondition):
        return ConflictError(message)
    if isinstance(err, gexc.NotFound):
        retired = retired_model_error(model, what=what, api_message=str(said or "")) if model else None
        return retired or NotFoundError(message)
    if isinstance(err, gexc.AlreadyExists | gexc.Conflict) and not isinstance(err, gexc.Aborted):
        return AlreadyExistsError(message)
    if isinstance(err, _TRANSIENT):
        return TransientError(message)
    if isinstance(err, gexc.GoogleAPIError):
        return PermanentError(message)
    return PermanentError(f"{what}: {type(err).__name__}: {err}")


@contextmanager
def translated(what: str, *, etag_checked: bool = False, model: str | None = None) -> Iterator[None]:
    """Run a block, re-raising Google errors as genaiops errors (`raise ... from e`)."""
    try:
        yield
    except gexc.GoogleAPIError as err:
        raise translate(err, what=what, etag_checked=etag_checked, model=model) from err


def call(what: str, fn: Callable[[], T], *, etag_checked: bool = False) -> T:
    """`fn()` with translated errors."""
    with translated(what, etag_checked=etag_checked):
        return fn()

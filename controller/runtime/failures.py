"""The runtime client's errors. Model adapters (controller/providers/genai_model.py, endpoint_model.py)
raise the transient ones so the client's retry policy can decide by type; applications see
`ModelCallError` once retries and the fallback model are spent.

A 404 from a publisher model the genaiops model catalogue dates (`retired_model_error`) becomes
`ModelRetiredError`, whose message names the model's last day and its successor: the API said the model is
not there, the catalogue says why. The 404 is the evidence; the day (`calendar_today`: GENAIOPS_TODAY, else
the UTC date) only tells a model already past its last day from one whose 404 has another cause.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

from controller.errors import GenaiopsError, NotFoundError, TransientError, UserError
from controller.model.catalogue.lifecycle import TODAY_ENV, Horizon, model_catalogue, model_id_of, parse_day
from controller.runtime.records import Outcome

MOVE_HINT = "run `genaiops models outdated --write`"


class RateLimitedError(TransientError):
    """The model refused for quota (HTTP 429 / RESOURCE_EXHAUSTED): retried with backoff."""


class ModelTimeoutError(TransientError):
    """The call did not answer within its timeout (or the server's deadline passed): retried."""


class ModelCallError(GenaiopsError):
    """The model call failed after its retries (and the fallback model, if any). `outcome` says how
    (timeout, rate limited, model error); `request_id` joins it to the log line and the metrics."""

    def __init__(self, message: str, *, outcome: Outcome, request_id: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.request_id = request_id


class ModelRetiredError(NotFoundError):
    """A publisher model answered 404 NOT_FOUND and the model catalogue gives it a retirement day. A
    not-found error, so never retried; the message names the day and the model to move to."""

    def __init__(self, message: str, *, model_id: str, retires: date, successor: str | None) -> None:
        super().__init__(message)
        self.model_id = model_id
        self.retires = retires
        self.successor = successor


def calendar_today() -> date:
    """The day a 404 is judged on: GENAIOPS_TODAY (as the CLI and the emulator read it) when set to a
    YYYY-MM-DD day, else the current UTC date."""
    pinned = os.environ.get(TODAY_ENV, "").strip()
    try:
        return parse_day(pinned, TODAY_ENV) if pinned else datetime.now(UTC).date()
    except ValueError:
        return datetime.now(UTC).date()


def retired_model_error(
    model: str, *, what: str, api_message: str = "", today: date | None = None
) -> ModelRetiredError | None:
    """The error for a 404 from `model` (`publishers/google/models/gemini-2.0-flash`, a full resource name
    or a bare id) when the bundled catalogue knows it with a retirement day, else None (a plain not-found).
    `what` names the call (`GenerateContent on MODEL`); `api_message`, the API's own words, is kept at the
    end, since a 404 can have another cause (a region that does not serve the model). A model whose last
    day is still ahead on `today` (default: `calendar_today()`) is not called retired: None."""
    model_id = model_id_of(model)
    info = model_catalogue().find(model_id) if model_id else None
    if model_id is None or info is None or info.retires is None:
        return None
    day = today or calendar_today()
    if info.retires >= day:
        return None  # its last day is still ahead: the 404 has another cause (region, access, a typo)
    successor = model_catalogue().successor_of(model_id, Horizon(day))  # skips successors retired by now
    move = f"move to {successor}" if successor else "the catalogue names no successor"
    message = (
        f"{what}: 404 NOT_FOUND: {model_id} retired on {info.retires.isoformat()} (genaiops model catalogue); "
        f"{move} — {MOVE_HINT}"
    )
    if api_message:
        message += f" (the API said: {api_message})"
    return ModelRetiredError(message, model_id=model_id, retires=info.retires, successor=successor)


class NotStreamableError(UserError):
    """`stream` was asked of a model that cannot stream (an Endpoint behind Predict)."""


def outcome_of(err: BaseException) -> Outcome:
    """The outcome a failed call is recorded with."""
    if isinstance(err, RateLimitedError):
        return Outcome.RATE_LIMITED
    if isinstance(err, ModelTimeoutError | TimeoutError):
        return Outcome.TIMEOUT
    return Outcome.MODEL_ERROR

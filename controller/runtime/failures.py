"""The runtime client's errors. Model adapters (controller/providers/genai_model.py, endpoint_model.py)
raise the transient ones so the client's retry policy can decide by type; applications see
`ModelCallError` once retries and the fallback model are spent.
"""

from __future__ import annotations

from controller.errors import GenaiopsError, TransientError, UserError
from controller.runtime.records import Outcome


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


class NotStreamableError(UserError):
    """`stream` was asked of a model that cannot stream (an Endpoint behind Predict)."""


def outcome_of(err: BaseException) -> Outcome:
    """The outcome a failed call is recorded with."""
    if isinstance(err, RateLimitedError):
        return Outcome.RATE_LIMITED
    if isinstance(err, ModelTimeoutError | TimeoutError):
        return Outcome.TIMEOUT
    return Outcome.MODEL_ERROR

"""Retrying transient errors: exponential backoff with jitter (tenacity). The one retry policy of the
engine: observe, the executor, the rollout driver and webhook delivery all retry through `RetryPolicy`,
and only this module of the engine imports tenacity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from controller.errors import TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient errors are retried."""

    attempts: int = 12
    initial_s: float = 0.1
    max_s: float = 10.0

    def retrying(self) -> Retrying:
        """A tenacity controller for one call."""
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(initial=self.initial_s, max=self.max_s),
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()`, retried on TransientError."""
        for attempt in self.retrying():
            with attempt:
                return fn()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


DEFAULT_RETRY = RetryPolicy()

"""Rollout events to a webhook: a JSON POST per event, retried with backoff, never failing the rollout.

Delivery happens on a background thread so a slow or dead receiver never delays a rollback. A failed
POST (connection refused, timeout, a status of 300 or more) is a `TransientError`, retried by the same
`RetryPolicy` as every API call (`engine/retry.py`), with fewer attempts.
"""

from __future__ import annotations

import functools
import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

from controller.engine.retry import RetryPolicy
from controller.errors import TransientError
from controller.rollout.events import RolloutEvent

WEBHOOK_RETRY = RetryPolicy(attempts=5, initial_s=0.5, max_s=10.0)


class WebhookNotifier:
    """Posts `event.to_json()` to `url`; call `close()` to flush before exiting."""

    def __init__(
        self,
        url: str,
        *,
        retry: RetryPolicy = WEBHOOK_RETRY,
        timeout_s: float = 5.0,
        on_failure: Callable[[str], None] = lambda _: None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must start with http:// or https:// (got {url!r})")
        self.url = url
        self.retry = retry
        self.timeout_s = timeout_s
        self.on_failure = on_failure
        self.delivered = 0
        self._queue: queue.Queue[RolloutEvent | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def __call__(self, event: RolloutEvent) -> None:
        """Queue one event for delivery."""
        self._queue.put(event)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "genaiops"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                if response.status >= 300:
                    raise TransientError(f"HTTP {response.status}")
        except urllib.error.HTTPError as err:
            raise TransientError(f"HTTP {err.code}") from err
        except (urllib.error.URLError, OSError) as err:  # refused, unreachable, timed out
            raise TransientError(str(getattr(err, "reason", err))) from err

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            body = json.dumps(event.to_json()).encode()
            try:
                self.retry.call(functools.partial(self._post, body))
                self.delivered += 1
            except Exception as err:  # delivery is best effort; the audit log has every event anyway
                self.on_failure(f"webhook {self.url}: {event.kind} not delivered: {err}")

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (waiting up to `timeout_s`), then stop."""
        self._queue.put(None)
        self._thread.join(timeout_s)

"""Rollout events to a webhook: a JSON POST per event, retried with backoff, never failing the rollout.

Delivery happens on a background thread so a slow or dead receiver never delays a rollback.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from controller.rollout.events import RolloutEvent


class WebhookNotifier:
    """Posts `event.to_json()` to `url`; call `close()` to flush before exiting."""

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 5,
        initial_s: float = 0.5,
        timeout_s: float = 5.0,
        on_failure: Callable[[str], None] = lambda _: None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must start with http:// or https:// (got {url!r})")
        self.url = url
        self.attempts = attempts
        self.initial_s = initial_s
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
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            if response.status >= 300:
                raise urllib.error.HTTPError(self.url, response.status, "unexpected status", response.headers, None)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            body = json.dumps(event.to_json()).encode()
            try:
                for attempt in Retrying(
                    stop=stop_after_attempt(self.attempts),
                    wait=wait_exponential_jitter(initial=self.initial_s, max=10),
                    retry=retry_if_exception_type((urllib.error.URLError, OSError, TimeoutError)),
                    reraise=True,
                ):
                    with attempt:
                        self._post(body)
                self.delivered += 1
            except Exception as err:  # delivery is best effort; the audit log has every event anyway
                self.on_failure(f"webhook {self.url}: {event.kind} not delivered: {err}")

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (waiting up to `timeout_s`), then stop."""
        self._queue.put(None)
        self._thread.join(timeout_s)

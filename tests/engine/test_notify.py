"""Webhook delivery of rollout events: a failing receiver is retried by the engine's one retry policy, an
event that never gets through is reported and dropped, and neither ever raises into the rollout."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controller.engine.notify import WebhookNotifier
from controller.engine.retry import RetryPolicy
from controller.rollout.events import EventKind, RolloutEvent
from controller.rollout.state import Phase, RolloutState

FAST = RetryPolicy(attempts=3, initial_s=0.01, max_s=0.02)


class Receiver:
    """A loopback HTTP server that answers 500 to the first `failures` POSTs, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(500 if len(receiver.bodies) <= receiver.failures else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    """A receiver failing `request.param` times first."""
    server = Receiver(request.param)
    yield server
    server.server.shutdown()


def _event() -> RolloutEvent:
    state = RolloutState("primary", "r1", Phase.DEGRADED)
    return RolloutEvent(EventKind.ABORTED, "chat", state.deployment, state.revision, at=1.0, step=0, steps=2, weight=0)


@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt(receiver: Receiver) -> None:
    failures: list[str] = []
    notifier = WebhookNotifier(receiver.url, retry=FAST, on_failure=failures.append)
    notifier(_event())
    notifier.close()
    assert notifier.delivered == 1 and not failures
    assert len(receiver.bodies) == 3 and receiver.bodies[-1]["event"] == "rollout-aborted"


@pytest.mark.parametrize("receiver", [99], indirect=True)
def test_an_event_that_never_gets_through_is_reported_after_the_last_attempt_and_dropped(receiver: Receiver) -> None:
    failures: list[str] = []
    notifier = WebhookNotifier(receiver.url, retry=FAST, on_failure=failures.append)
    notifier(_event())
    notifier.close()
    assert notifier.delivered == 0 and len(receiver.bodies) == FAST.attempts
    assert len(failures) == 1 and "aborted not delivered" in failures[0] and "HTTP 500" in failures[0]

"""Synthetic prediction traffic, so canary analysis has data without a real client.

Every endpoint with a deployed model receiving traffic gets `rps` requests per second (or its own rate),
routed by the live traffic split and simulated like a real Predict (`vertex/prediction.py`), then reported
to the metrics recorder. `generate(seconds, now)` is the deterministic core (seeded random, timestamps
spread over the window ending at `now`); `start()` runs it every tick in a background thread.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping

from controller.emulator.vertex.prediction import PredictionRecorder, Route, route_of
from controller.emulator.vertex.store import StateStore


class TrafficGenerator:
    """Synthesises predictions per endpoint at a rate (requests/s); endpoints are keyed by endpoint id."""

    def __init__(
        self,
        store: StateStore,
        recorder: PredictionRecorder,
        *,
        rps: float,
        rates: Mapping[str, float] | None = None,
        seed: int = 0,
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rps < 0 or tick_s <= 0:
            raise ValueError("rps must be >= 0 and tick_s > 0")
        self.store = store
        self.recorder = recorder
        self.rps = rps
        self.tick_s = tick_s
        self.clock = clock
        self._rates = dict(rates or {})
        self._rng = random.Random(seed)
        self._carry: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set_rate(self, endpoint_id: str, rps: float) -> None:
        """Give one endpoint its own rate (0 silences it)."""
        with self._lock:
            self._rates[endpoint_id] = rps

    def routes(self) -> list[Route]:
        """The current routes of every endpoint with a model receiving traffic."""
        with self.store.transaction(write=False) as state:
            found = (route_of(state, e) for e in state.endpoints.values())
            return [r for r in found if r is not None]

    def generate(self, seconds: float, now: float) -> int:
        """Synthesise `seconds` of traffic ending at `now`; returns how many requests were recorded."""
        if seconds <= 0:
            return 0
        total = 0
        with self._lock:
            for route in self.routes():
                key = f"{route.project}/{route.location}/{route.endpoint_id}"
                rate = self._rates.get(route.endpoint_id, self.rps)
                due = self._carry.get(key, 0.0) + rate * seconds
                count = int(due)
                self._carry[key] = due - count
                for i in range(count):
                    at = now - seconds + (i + 0.5) * seconds / count
                    target = route.pick(self._rng.random())
                    latency_ms, failed = target.behaviour.draw(self._rng)
                    route.record(self.recorder, target, latency_ms=latency_ms, code=500 if failed else 200, at=at)
                total += count
        return total

    def start(self) -> None:
        """Run `generate` every tick in a daemon thread until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="emulator-traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (safe to call twice)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        last = self.clock()
        while not self._stop.wait(self.tick_s):
            now = self.clock()
            self.generate(now - last, now)
            last = now

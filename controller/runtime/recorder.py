"""The metrics recorder: a `Recorder` that aggregates request records in memory and writes them to Cloud
Monitoring in batches from a background thread, so a request never waits for the monitoring API.

Place in the flow: the runtime client calls `record` once per request and `record_feedback` once per
rating; both only update the in-memory `Aggregator` (`controller.runtime.aggregate`) under a short lock. A
daemon thread wakes every `interval_s` (60 s by default), creates the metric descriptors once (idempotent:
an existing descriptor is fine), takes the points that are due (changed series, at most one point per
series per `min_spacing_s`) and writes them through a `MetricWriter` port in calls of at most 200 series.
`close()` (also registered with `atexit`) stops the thread and writes what is left, stamping a series
written less than `min_spacing_s` ago that much after its last point (points may be up to 5 minutes in the
future), so nothing counted before exit is lost.

A failed write is logged, never raised into the application: the series stay dirty and go out with the
next flush (their values are cumulative, so the next point carries everything). Use
`controller.providers.runtime_stores.cloud_monitoring_recorder` to build one on Cloud Monitoring or the emulator.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from controller.errors import GenaiopsError
from controller.runtime.aggregate import (
    ALL_METRICS,
    DEFAULT_MAX_LABEL_SETS,
    Aggregator,
    MetricDef,
    SeriesPoint,
    WriteResult,
    batches,
)
from controller.runtime.records import Feedback, RequestRecord

__all__ = ["BatchingRecorder", "MetricWriter", "WriteResult"]

_log = logging.getLogger(__name__)
MAX_SERIES_PER_CALL = 200  # CreateTimeSeries' limit
MIN_SPACING_S = 10.0  # Cloud Monitoring: points of one series at least 10 s apart
DEFAULT_INTERVAL_S = 60.0


class MetricWriter(Protocol):
    """Where points go (Cloud Monitoring through `controller.providers.metric_writer`)."""

    def ensure_descriptors(self, metrics: Sequence[MetricDef]) -> None:
        """Create the descriptors that do not exist yet; raise a `controller.errors` error on failure."""
        ...

    def write(self, points: Sequence[SeriesPoint]) -> WriteResult:
        """One CreateTimeSeries call with at most 200 points, one per series. Never raises for API errors."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


@dataclass
class FlushStats:
    """Counters since the recorder started (for tests, the benchmark and debugging)."""

    flushes: int = 0
    calls: int = 0
    points: int = 0
    failed_calls: int = 0


class BatchingRecorder:
    """`Recorder` over a `MetricWriter`: in-memory aggregation, background batched flushes."""

    def __init__(
        self,
        writer: MetricWriter,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        min_spacing_s: float = MIN_SPACING_S,
        max_label_sets: int = DEFAULT_MAX_LABEL_SETS,
        clock: Callable[[], float] = time.time,
        background: bool = True,
        register_atexit: bool = True,
    ) -> None:
        """`interval_s` between background flushes (at least `min_spacing_s`: more often would only find
        series not yet due). With `background=False` nothing is written until `flush()` or `close()`."""
        if min_spacing_s < 0 or interval_s <= 0:
            raise ValueError("interval_s must be positive and min_spacing_s not negative")
        self._writer = writer
        self._interval = max(interval_s, min_spacing_s)
        self._spacing = min_spacing_s
        self._clock = clock
        self.aggregator = Aggregator(start=clock(), max_label_sets=max_label_sets)
        self.stats = FlushStats()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._descriptors_ready = False
        self._warned_folded = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="genaiops-metrics", daemon=True)
            self._thread.start()
        self._atexit = register_atexit
        if register_atexit:
            atexit.register(self.close)

    # ---- Recorder ------------------------------------------------------------------------------------

    def record(self, record: RequestRecord) -> None:
        """Count one request (microseconds; no I/O)."""
        self.aggregator.add_request(record)

    def record_feedback(self, feedback: Feedback) -> None:
        """Count one rating into the feedback-score distribution."""
        self.aggregator.add_feedback(feedback)

    def flush(self) -> None:
        """Write every series that is due now (the caller waits for the calls)."""
        self._flush(force=False)

    def close(self) -> None:
        """Stop the background thread and write everything counted so far. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 30)
        try:
            self._flush(force=True)
        finally:
            self._writer.close()
        if self._atexit:
            atexit.unregister(self.close)

    # ---- flushing ------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._flush(force=False)
            except Exception:  # the thread must survive anything; the next flush tries again
                _log.exception("genaiops metrics: flush failed")

    def _flush(self, *, force: bool) -> None:
        with self._flush_lock:
            self.stats.flushes += 1
            self._warn_folded()
            if not self._descriptors_ready:
                self._ensure_descriptors()
            points = self.aggregator.due(self._clock(), min_spacing_s=self._spacing, force=force)
            for batch in batches(points, MAX_SERIES_PER_CALL):
                result = self._writer.write(batch)
                self.stats.calls += 1
                self.stats.points += result.written
                self.aggregator.written(batch, ok=result.ok)
                if not result.ok:
                    self.stats.failed_calls += 1
                    _log.warning(
                        "genaiops metrics: CreateTimeSeries wrote %d of %d points: %s",
                        result.written,
                        len(batch),
                        result.error,
                    )

    def _ensure_descriptors(self) -> None:
        try:
            self._writer.ensure_descriptors(ALL_METRICS)
        except GenaiopsError as err:  # CreateTimeSeries still auto-creates them; try again next flush
            _log.warning("genaiops metrics: could not create the metric descriptors: %s", err)
            return
        self._descriptors_ready = True

    def _warn_folded(self) -> None:
        if self.aggregator.folded and not self._warned_folded:
            self._warned_folded = True
            _log.warning(
                "genaiops metrics: more than %d (prompt, version, label, model) label sets; further ones are "
                "counted under 'other'",
                self.aggregator.max_label_sets,
            )

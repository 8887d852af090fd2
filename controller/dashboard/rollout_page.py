"""The rollout page of one endpoint deployment or prompt label: where it stands (the rollouts facade's
status, else its last event), its steps (compiled from the manifest as the drivers compile them), its
events and measurements (the `rollout-*` records of the audit log, `RolloutEvent.to_json`), the canary's
weight over time (from those events), and each analysis metric sampled for the canary and the stable per
analysis interval over the rollout's span (the metrics ports the drivers measure with), against the
threshold the analysis holds it to.

Pure but for `sample`, the metrics read the page data passes in; samples of windows that ended long ago
are kept in a `SampleCache`, so a page watched live reads only its newest windows again.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.dashboard.audit_page import AuditRecord
from controller.dashboard.shapes import EventMark, MeasurementMark, MetricPlot, Point, RolloutPage, StepInfo, Threshold
from controller.model import Endpoint, Metric, Prompt, duration_seconds
from controller.model.metric_thresholds import DURATION_METRICS, Unit
from controller.observed import Sample
from controller.prompts.canary import prompt_steps
from controller.rollout.events import RolloutStatus, TargetKind, identity
from controller.rollout.state import Phase, RolloutState
from controller.rollout.strategy import INDEFINITE, CompiledStep, compile_steps
from controller.rollout.verdicts import bounds, span, value_of

MAX_WINDOWS = 120  # points per series: a long rollout is sampled in wider windows (multiples of the interval)
SETTLED_S = 120.0  # a window that ended this long ago has all its data (Cloud Monitoring lags a minute or two)
_VERDICTS = {"successful": "passed", "failed": "failed", "inconclusive": "inconclusive", "error": "error"}
_ENDED = {"rollout-promoted": Phase.HEALTHY, "rollout-aborted": Phase.DEGRADED}
_UNITS = {
    "cost-per-request": "$",
    "input-tokens-per-request": "tokens",
    "output-tokens-per-request": "tokens",
    "tokens-per-second": "tokens/s",
}

Sampler = Callable[[str, float, float], Sample]  # (deployed model id or version, start, end) -> what it served


@dataclass(frozen=True)
class Subject:
    """What the manifest says of a rollout: its steps and the metrics that judge it."""

    kind: TargetKind
    name: str
    part: str
    region: str  # "" for a prompt
    steps: tuple[CompiledStep, ...]
    metrics: tuple[Metric, ...]
    interval_s: float  # the analysis interval (60 s without analysis)
    strategy: str = "canary"  # the manifest's spec.rollout.strategy: "canary" | "experiment"

    @property
    def identity(self) -> str:
        """`chat/primary` or `prompt/greet[production]`."""
        return identity(self.kind, self.name, self.part)


def subject_of(manifest: Endpoint | Prompt, part: str) -> Subject:
    """The steps and metrics of `manifest`'s rollout of `part` (a deployment or a label)."""
    rollout = manifest.spec.rollout
    if isinstance(manifest, Endpoint):
        kind, region, steps = TargetKind.ENDPOINT, manifest.spec.region, compile_steps(rollout)
    else:
        kind, region, steps = TargetKind.PROMPT, "", prompt_steps(rollout)
    analyses = [s.analysis for s in steps if s.analysis is not None] or (
        [rollout.analysis] if rollout.analysis is not None else []
    )
    metrics: dict[str, Metric] = {}
    for analysis in analyses:
        for metric in analysis.metrics:
            metrics.setdefault(metric.name, metric)
    interval = duration_seconds(analyses[0].interval) if analyses else 60.0
    name = manifest.metadata.name
    return Subject(kind, name, part, region, steps, tuple(metrics.values()), interval, rollout.strategy)


class SampleCache:
    """Samples of settled windows, by (side, start, end); bounded (cleared when full)."""

    def __init__(self, *, capacity: int = 50_000) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._samples: dict[tuple[str, ...], Sample] = {}

    def get(self, key: tuple[str, ...], compute: Callable[[], Sample], *, keep: bool) -> Sample:
        """The cached sample of `key`, else `compute()` (kept when `keep`: its window has settled)."""
        with self._lock:
            found = self._samples.get(key)
        if found is not None:
            return found
        sample = compute()
        if keep and sample.error is None:
            with self._lock:
                if len(self._samples) >= self._capacity:
                    self._samples.clear()
                self._samples[key] = sample
        return sample


def windows(start: float, end: float, interval_s: float) -> list[tuple[float, float]]:
    """[start, end] cut in windows of the interval (doubled until there are at most MAX_WINDOWS); a last
    window shorter than half of one is left out."""
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start or interval_s <= 0:
        return []
    width = interval_s
    while (end - start) / width > MAX_WINDOWS:
        width *= 2
    found = []
    at = start
    while at < end:
        stop = min(at + width, end)
        if stop - at >= width / 2:
            found.append((at, stop))
        at += width
    return found


def series(
    subject: Subject, side: str, span_: tuple[float, float], sample: Sampler, cache: SampleCache, *, now: float
) -> dict[str, list[Point]]:
    """Each metric of `subject` on `side` (a deployed model id or a version), one point per window at its
    end; None where the window had no requests, no value, or its query failed."""
    found: dict[str, list[Point]] = {m.name: [] for m in subject.metrics}
    if not side or not subject.metrics:
        return found
    for start, end in windows(*span_, subject.interval_s):
        key = (subject.kind.value, subject.name, subject.part, side, f"{start:.3f}", f"{end:.3f}")
        measured = cache.get(key, _reading(sample, side, start, end), keep=end < now - SETTLED_S)
        for metric in subject.metrics:
            failed = measured.error is not None or metric.name in measured.custom_errors or not measured.requests
            value = None if failed else value_of(metric, measured)
            found[metric.name].append((end, value if value is None or math.isfinite(value) else None))
    return found


def _reading(sample: Sampler, side: str, start: float, end: float) -> Callable[[], Sample]:
    return lambda: sample(side, start, end)


def threshold_of(metric: Metric) -> Threshold:
    """The one bound a plot draws (an upper bound first), in the unit samples hold (ms for latency)."""
    lower, upper = bounds(metric)
    latency = metric.unit is Unit.SECONDS
    unit = " ms" if latency else ""
    if upper is not None:
        return Threshold(kind="maxMs" if latency else "max", value=upper, text=f"max {upper:g}{unit}")
    if lower is not None:
        return Threshold(kind="min", value=lower, text=f"min {lower:g}{unit}")
    if metric.increase is not None:
        text = f"at most +{metric.increase * 100:.4g}% vs stable"
        return Threshold(kind="maxIncrease", value=metric.increase, text=text)
    if metric.decrease is not None:
        text = f"at most -{metric.decrease * 100:.4g}% vs stable"
        return Threshold(kind="maxDecrease", value=metric.decrease, text=text)
    settings = metric.judge_settings
    level = settings.confidence_level if settings is not None else 0.98
    return Threshold(kind="judge", value=level, text=f"judged against the stable at {level:.4g}")


def unit_name(name: str) -> str:
    """The unit of a built-in metric's values: `ms` for latency, `$` for cost, `tokens` for tokens, "" for
    rates (fractions), counts and ratings."""
    return "ms" if name in DURATION_METRICS else _UNITS.get(name, "")


def unit_of(metric: Metric) -> str:
    """The unit of a metric's values ("" for a custom query's: whatever it returns)."""
    return unit_name(metric.name) if metric.query is None else ""


def pause_text(step: CompiledStep) -> str:
    """`30s`, `indefinite`, or "" (no pause)."""
    if step.pause_s is None:
        return ""
    return "indefinite" if step.pause_s == INDEFINITE else span(step.pause_s)


def latest_run(events: Sequence[AuditRecord], revision: str) -> list[AuditRecord]:
    """The events of the latest rollout: from the last `rollout-started` of `revision` (else the last of
    any revision) on; every event when none started in this log."""
    starts = [i for i, e in enumerate(events) if e.event == "rollout-started"]
    mine = [i for i in starts if revision and events[i].record.get("revision") == revision]
    first = (mine or starts or [0])[-1]
    return list(events[first:])


def event_mark(record: AuditRecord) -> EventMark:
    """A timeline mark of a `rollout-*` record."""
    fields = record.record
    weight = fields.get("weight")
    step = fields.get("step")
    return EventMark(
        at=record.at,
        kind=record.event.removeprefix("rollout-"),
        step=step if isinstance(step, int) else 0,
        weight=weight if isinstance(weight, int) and not isinstance(weight, bool) else None,
        detail=str(fields.get("detail") or ""),
    )


def measurement_marks(events: Sequence[AuditRecord]) -> dict[str, list[MeasurementMark]]:
    """Each metric's measurements (from `rollout-measured` records), by metric name."""
    found: dict[str, list[MeasurementMark]] = {}
    for record in events:
        measured = record.record.get("measurements")
        if record.event != "rollout-measured" or not isinstance(measured, list):
            continue
        step = record.record.get("step")
        for m in measured:
            if not isinstance(m, dict) or not isinstance(m.get("metric"), str):
                continue
            value = m.get("value")
            number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
            detail = "; ".join(str(x) for x in (m.get("threshold"), m.get("detail")) if x)
            found.setdefault(m["metric"], []).append(
                MeasurementMark(
                    at=record.at,
                    value=number if number is None or math.isfinite(number) else None,
                    verdict=_VERDICTS.get(str(m.get("verdict")), "error"),  # type: ignore[typeddict-item]
                    step=step if isinstance(step, int) else 0,
                    detail=detail,
                )
            )
    return found


@dataclass(frozen=True)
class Standing:
    """Where a rollout stands: from its live record when there is one, else from its last event."""

    phase: str
    reason: str
    step: int
    weight: int
    revision: str


def standing(status: RolloutStatus | None, events: Sequence[AuditRecord]) -> Standing:
    """The live status's phase, reason, step and weight; the last event's when there is no live record."""
    if status is not None:
        state = status.state
        reason = state.reason.describe() if state.reason is not None else ""
        return Standing(state.phase.value, reason, state.step, status.weight, state.revision)
    last = events[-1].record if events else {}
    phase = next((p for e in reversed(events) if (p := _ENDED.get(e.event)) is not None), None)
    if phase is None:
        phase = Phase.PAUSED if events and events[-1].event == "rollout-paused" else Phase.PROGRESSING
    weight = next((w for e in reversed(events) if isinstance(w := e.record.get("weight"), int)), 0)
    reason = str(last.get("detail") or "") if phase is not Phase.PROGRESSING else ""
    step = last.get("step")
    return Standing(phase.value, reason, step if isinstance(step, int) else 0, weight, str(last.get("revision") or ""))


def build_page(
    subject: Subject,
    *,
    status: RolloutStatus | None,
    events: Sequence[AuditRecord],
    stable: str,
    canary: str,
    sample: Sampler | None,
    cache: SampleCache,
    now: float,
) -> RolloutPage:
    """The rollout page of `subject`, with `events` the latest run's records and `stable` / `canary` the
    deployed model ids (or versions) to plot ("" when unknown: that series stays empty)."""
    where = standing(status, events)
    started = next((e.at for e in events if e.event == "rollout-started"), None)
    finished = next((e.at for e in reversed(events) if e.event in _ENDED), None)
    begin = started if started is not None else _step_started(status)
    end = finished if finished is not None else now
    marks = measurement_marks(events)
    plots: list[MetricPlot] = []
    canary_series = stable_series = {}
    if sample is not None and begin is not None:
        canary_series = series(subject, canary, (begin, end), sample, cache, now=now)
        stable_series = series(subject, stable, (begin, end), sample, cache, now=now)
    for metric in subject.metrics:
        plots.append(
            MetricPlot(
                name=metric.name,
                unit=unit_of(metric),
                threshold=threshold_of(metric),
                canary=canary_series.get(metric.name, []),
                stable=stable_series.get(metric.name, []),
                measurements=marks.get(metric.name, []),
            )
        )
    weights: list[Point] = [(e.at, float(w)) for e in events if isinstance(w := e.record.get("weight"), int)]
    if finished is None and weights:
        weights.append((now, float(where.weight)))
    return RolloutPage(
        kind=subject.kind.value,
        name=subject.name,
        part=subject.part,
        identity=subject.identity,
        phase=where.phase,
        reason=where.reason,
        strategy=subject.strategy,
        stable=stable,
        canary=canary,
        step=where.step,
        steps=[StepInfo(index=i, weight=s.weight, pause=pause_text(s)) for i, s in enumerate(subject.steps)],
        weight=where.weight,
        started_at=started,
        finished_at=finished,
        weights=weights,
        events=[event_mark(e) for e in events],
        metrics=plots,
    )


def _step_started(status: RolloutStatus | None) -> float | None:
    state: RolloutState | None = status.state if status is not None else None
    return float(state.step_started) if state is not None and state.step_started else None


__all__ = [
    "MAX_WINDOWS",
    "SampleCache",
    "Sampler",
    "Standing",
    "Subject",
    "build_page",
    "event_mark",
    "latest_run",
    "measurement_marks",
    "series",
    "standing",
    "subject_of",
    "threshold_of",
    "unit_name",
    "unit_of",
    "windows",
]

"""Why a rollout moved, paused or rolled back: a typed `Reason`, rendered for people, recorded in labels.

Pure. The state machine decides a `Reason` (its kind, and the metric, value, threshold and requests that
decided it); nothing decides anything from its text. The rollout record keeps it on the endpoint in
`genaiops-ro-reason*` labels, and it reads back EXACTLY: a label value allows only `[a-z0-9_-]` and at most
63 characters, so each field has its own label and a number is written as Python's shortest round-trip
form with `.` as `_` (`0.08` -> `0_08`, `1e-05` -> `1e-05`, `100.0` -> `100`):

    genaiops-ro-reason: analysis-failed      genaiops-ro-reason-metric: error-rate
    genaiops-ro-reason-value: 0_08           genaiops-ro-reason-threshold: max-0_02
    genaiops-ro-reason-requests: 87

Only the fields that are set are written: a rollback's reason takes at most 7 labels, out of the 64 that
Vertex AI allows on a resource. A pause says what the last measurement lacked and which setting to change
(`minRequests`, the canary's traffic, `inconclusiveLimit`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TypeVar

from controller.model.metric_thresholds import BUILTIN_METRICS, DURATION_METRICS, STREAMING_METRICS
from controller.rollout.verdicts import Bound, Measurement, Shortfall, Verdict, span, too_few

_LABEL_VALUE = re.compile(r"[a-z0-9_-]{1,63}")
_METRIC = re.compile(r"[a-z][a-z0-9-]{0,62}")  # as the manifest schema allows: never an `_`
_NUMBER = re.compile(r"-?(?:\d+(?:_\d+)?(?:e-?\d+)?|inf)|nan")
_COUNT = re.compile(r"\d{1,18}")
T = TypeVar("T")
_ALSO_SEPARATOR = "_"  # between the names of other failed metrics (a metric name never holds one)


class Kind(StrEnum):
    """What decided a move (the value is what the `genaiops-ro-reason` label holds)."""

    ANALYSIS_FAILED = "analysis-failed"  # a metric broke its threshold more often than the limits allow
    TOO_FEW_REQUESTS = "too-few-requests"  # too many inconclusive measurements: below minRequests
    QUERY_FAILED = "query-failed"  # too many inconclusive measurements: a metric query failed
    NO_DATA = "no-data"  # too many inconclusive measurements: enough requests, no value
    NO_BASELINE = "no-baseline"  # too many inconclusive measurements: no stable value for maxIncrease
    CANARY_MISSING = "canary-missing"  # the canary's deployed model disappeared
    STABLE_MISSING = "stable-missing"  # the stable's deployed model disappeared
    ABORTED = "aborted-by-a-human"
    PAUSED = "paused-by-a-human"
    RESUMED = "resumed-by-a-human"
    PROMOTED = "promoted-by-a-human"
    STEP_PROMOTED = "step-promoted-by-a-human"
    STEP_PASSED = "step-passed"
    ALL_STEPS_PASSED = "all-steps-passed"
    EXPERIMENT_WON = "experiment-won"  # an experiment's treatment was significantly better: promoted
    EXPERIMENT_LOST = "experiment-lost"  # the control was significantly better: the treatment is dropped
    EXPERIMENT_UNDECIDED = "experiment-undecided"  # no significant winner (or no autoPromote): a person decides
    SAMPLE_RATIO_MISMATCH = "sample-ratio-mismatch"  # requests per variant do not fit the weights: a person looks
    LABEL_MOVED = "label-moved"  # a prompt label was moved away from the rollout's stable version by hand

    @property
    def inconclusive(self) -> bool:
        """A pause because the analysis could not judge the canary often enough."""
        return self in _INCONCLUSIVE


_INCONCLUSIVE = {Kind.TOO_FEW_REQUESTS, Kind.QUERY_FAILED, Kind.NO_DATA, Kind.NO_BASELINE}
_SHORTFALL_KIND = {
    Shortfall.TOO_FEW_REQUESTS: Kind.TOO_FEW_REQUESTS,
    Shortfall.QUERY_FAILED: Kind.QUERY_FAILED,
    Shortfall.NO_DATA: Kind.NO_DATA,
    Shortfall.NO_BASELINE: Kind.NO_BASELINE,
}


@dataclass(frozen=True)
class Reason:
    """Why: the kind, and the facts behind it (each set only where the kind has it)."""

    kind: Kind
    metric: str = ""  # the metric that decided (analysis failed, query failed, no data, no baseline)
    value: float | None = None  # its value on the canary
    bound: Bound | None = None  # which threshold it broke ...
    threshold: float | None = None  # ... and that threshold as written (maxIncrease: the fraction)
    baseline: float | None = None  # the stable's value (maxIncrease)
    requests: int | None = None  # requests the canary served in the window that was measured
    min_requests: int | None = None  # the analysis's minRequests
    inconclusive: int | None = None  # inconclusive measurements counted in the step ...
    inconclusive_limit: int | None = None  # ... and the analysis's inconclusiveLimit
    window_s: float | None = None  # how long the window of the last measurement was, in seconds
    also_failed: tuple[str, ...] = ()  # other metrics that broke their thresholds in the same run
    deployed_model: str = ""  # the deployed model that disappeared

    def __post_init__(self) -> None:
        for name in (*([self.metric] if self.metric else []), *self.also_failed):
            if not _METRIC.fullmatch(name):
                raise ValueError(f"not a metric name: {name!r}")
        if self.also_failed and len(_ALSO_SEPARATOR.join(self.also_failed)) > 63:
            raise ValueError("also_failed does not fit one label (63 characters)")
        if self.deployed_model and not _LABEL_VALUE.fullmatch(self.deployed_model):
            raise ValueError(f"not a deployed model id: {self.deployed_model!r}")
        if (self.bound is None) != (self.threshold is None):
            raise ValueError("a bound needs its threshold, and a threshold its bound")
        counts = (self.requests, self.min_requests, self.inconclusive, self.inconclusive_limit)
        if any(n is not None and not 0 <= n < 10**18 for n in counts):
            raise ValueError("counts are whole numbers from 0")
        if self.window_s is not None and not 0 <= self.window_s < 10**9:
            raise ValueError(f"not a window length in seconds: {self.window_s!r}")

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """For people: `error-rate 0.08 > max 0.02 over 87 requests`; a pause says what was lacking and what to
        change: `6 inconclusive measurements (limit 5): 12 requests in 1m, below minRequests 50 — lower
        minRequests, give the canary more traffic (a higher step weight or a longer interval), or raise
        inconclusiveLimit`; `aborted by a human`."""
        metric = self.metric or "a metric"
        match self.kind:
            case Kind.ANALYSIS_FAILED if self.metric:  # without one: "analysis failed"
                also = f"; {', '.join(self.also_failed)} failed too" if self.also_failed else ""
                return f"{self.metric} {self._number(self.value)} {self._broken()}{self._over()}{also}"
            case Kind.TOO_FEW_REQUESTS:
                return f"{self._runs()}: {self._seen()} — {_FEWER}"
            case Kind.QUERY_FAILED:
                return (
                    f"{self._runs()}: the {metric} query failed — check the metrics source (audit log), or raise "
                    "inconclusiveLimit to ride out failed queries"
                )
            case Kind.NO_DATA:
                if self.metric in STREAMING_METRICS:
                    where = "that the applications stream answers through the runtime client (whole answers have none)"
                elif self.metric in BUILTIN_METRICS:
                    where = "that the model reports it to Cloud Monitoring"
                else:
                    where = "the filter of its query"
                return f"{self._runs()}: no data for {metric}{self._over()}{self._within()} — check {where}"
            case Kind.NO_BASELINE:
                need = f" minRequests {self.min_requests}" if self.min_requests is not None else " minRequests"
                return (
                    f"{self._runs()}: no stable baseline for {metric} — the stable needs{need} in the window too: "
                    "give the stable traffic, lower minRequests, or drop maxIncrease"
                )
            case Kind.CANARY_MISSING:
                return f"the canary deployed model {self.deployed_model or '?'} disappeared"
            case Kind.STABLE_MISSING:
                return f"the stable deployed model {self.deployed_model or '?'} disappeared; a human must decide"
            case Kind.LABEL_MOVED:
                return (
                    f"the label was moved away from the stable version {self.deployed_model or '?'} outside the "
                    "rollout, so the new version gets no requests: the rollout holds, and the next apply starts "
                    "it again from where the label points"
                )
            case Kind.EXPERIMENT_WON:
                return "the experiment's new version was significantly better on its metrics: promoted"
            case Kind.EXPERIMENT_LOST:
                return "the experiment's control was significantly better: the new version is dropped"
            case Kind.EXPERIMENT_UNDECIDED:
                return (
                    "the experiment ended without a winner to promote automatically — read `genaiops experiment "
                    "report`, then `genaiops rollout promote` or `abort`"
                )
            case Kind.SAMPLE_RATIO_MISMATCH:
                return (
                    "requests per variant do not fit the weights (sample ratio mismatch): the comparison cannot be "
                    "trusted — check which clients route the prompt (old client versions, caches), then decide"
                )
            case _:
                return self.kind.value.replace("-", " ")

    def to_json(self) -> dict[str, object]:
        """The fields that are set, for JSON output (the audit log, webhooks, `--output json`)."""
        body: dict[str, object] = {"kind": self.kind.value, "text": self.describe()}
        for field in fields(self)[1:]:
            value = getattr(self, field.name)
            if value is not None and value not in ("", ()):
                body[field.name] = (
                    list(value) if isinstance(value, tuple) else value.value if isinstance(value, Bound) else value
                )
        return body

    def _number(self, number: float | None) -> str:
        unit = " ms" if self.metric in DURATION_METRICS else ""
        return "no value" if number is None else f"{number:.4g}{unit}"

    def _broken(self) -> str:
        match self.bound:
            case Bound.MIN:
                return f"< min {self._number(self.threshold)}"
            case Bound.MAX:
                return f"> max {self._number(self.threshold)}"
            case Bound.MAX_INCREASE:
                assert self.threshold is not None
                increase = f"+{self.threshold * 100:.4g}%"
                if self.baseline is None:
                    return f"> stable {increase}"
                limit = self.baseline * (1 + self.threshold)
                return f"> {self._number(limit)} (stable {self._number(self.baseline)} {increase})"
            case Bound.MAX_DECREASE:
                assert self.threshold is not None
                decrease = f"-{self.threshold * 100:.4g}%"
                if self.baseline is None:
                    return f"< stable {decrease}"
                limit = self.baseline * (1 - self.threshold)
                return f"< {self._number(limit)} (stable {self._number(self.baseline)} {decrease})"
            case Bound.JUDGE:
                confidence = "" if self.threshold is None else f" at {self.threshold * 100:.4g}% confidence"
                stable = "" if self.baseline is None else f" (stable {self._number(self.baseline)})"
                return f"differs from the stable{confidence}{stable}"
            case None:
                return "failed"

    def _over(self) -> str:
        return "" if self.requests is None else f" over {_counted(self.requests, 'request')}"

    def _within(self) -> str:
        return "" if self.window_s is None else f" in {span(self.window_s)}"

    def _seen(self) -> str:
        if self.min_requests is not None:
            return too_few(self.requests or 0, min_requests=self.min_requests, window_s=self.window_s)
        seen = _counted(self.requests, "request") if self.requests else "no requests"
        return f"{seen} seen{self._within()}"

    def _runs(self) -> str:
        if self.inconclusive is None:
            return "inconclusive measurements"
        limit = f" (limit {self.inconclusive_limit})" if self.inconclusive_limit is not None else ""
        return f"{_counted(self.inconclusive, 'inconclusive measurement')}{limit}"


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


_FEWER = (
    "lower minRequests, give the canary more traffic (a higher step weight or a longer interval), or raise "
    "inconclusiveLimit"
)


# -- deciding -----------------------------------------------------------------------------------------


def analysis_failed(measurements: Sequence[Measurement]) -> Reason:
    """A rollback's reason: the first failed metric (in the manifest's order), naming the others."""
    failed = [m for m in measurements if m.verdict is Verdict.FAILED]
    if not failed:
        return Reason(Kind.ANALYSIS_FAILED)
    first, others = failed[0], [m.metric for m in failed[1:]]
    while others and len(_ALSO_SEPARATOR.join(others)) > 63:  # what one label holds; the audit log has all
        others.pop()
    breach = first.breach
    return Reason(
        Kind.ANALYSIS_FAILED,
        metric=first.metric,
        value=first.value,
        bound=breach.bound if breach is not None else None,
        threshold=breach.threshold if breach is not None else None,
        baseline=breach.baseline if breach is not None else None,
        requests=first.requests,
        also_failed=tuple(others),
    )


_SHORTFALL_ORDER = (Shortfall.TOO_FEW_REQUESTS, Shortfall.QUERY_FAILED, Shortfall.NO_BASELINE, Shortfall.NO_DATA)


def inconclusive(measurements: Sequence[Measurement], *, count: int, limit: int, min_requests: int) -> Reason:
    """A pause's reason when the analysis could not judge often enough: what the last run lacked (too few
    requests first: it explains every other metric's lack too)."""
    lacking = [m for m in measurements if m.verdict in (Verdict.INCONCLUSIVE, Verdict.ERROR)]

    def shortfall(m: Measurement) -> Shortfall:
        if m.shortfall is not None:
            return m.shortfall
        return Shortfall.QUERY_FAILED if m.verdict is Verdict.ERROR else Shortfall.NO_DATA

    worst = min(lacking, key=lambda m: _SHORTFALL_ORDER.index(shortfall(m)), default=None)
    kind = _SHORTFALL_KIND[shortfall(worst)] if worst is not None else Kind.NO_DATA
    return Reason(
        kind,
        metric="" if worst is None or kind is Kind.TOO_FEW_REQUESTS else worst.metric,
        requests=worst.requests if worst is not None else None,
        min_requests=min_requests if kind in (Kind.TOO_FEW_REQUESTS, Kind.NO_BASELINE) else None,
        inconclusive=count,
        inconclusive_limit=limit,
        window_s=round(worst.window_s, 3)
        if worst is not None and worst.window_s is not None and kind in (Kind.TOO_FEW_REQUESTS, Kind.NO_DATA)
        else None,
    )


# -- the labels ---------------------------------------------------------------------------------------

KEY = "reason"  # the kind; every other field is `reason-<field>` (after the record's prefix)
_KEYS = {
    "metric": "reason-metric",
    "value": "reason-value",
    "threshold": "reason-threshold",  # `<bound>-<threshold>`: max-0_02, min-100, max-increase-0_5
    "baseline": "reason-baseline",
    "requests": "reason-requests",
    "min_requests": "reason-min-requests",
    "inconclusive": "reason-inconclusive",
    "inconclusive_limit": "reason-inconclusive-limit",
    "window_s": "reason-window",  # seconds
    "also_failed": "reason-also-failed",
    "deployed_model": "reason-model",
}
KEYS = (KEY, *_KEYS.values())


def _encode_number(number: float) -> str:
    text = repr(float(number)).replace("e+", "e").replace(".", "_")
    return text.removesuffix("_0")


def _decode_number(text: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"not a recorded number: {text!r}")
    return float(text.replace("_", "."))


def _decode_count(text: str) -> int:
    if not _COUNT.fullmatch(text):
        raise ValueError(f"not a recorded count: {text!r}")
    return int(text)


def to_labels(reason: Reason) -> dict[str, str]:
    """The label values of `reason`, by key relative to the record's prefix (`reason`, `reason-value`, ...)."""
    labels = {KEY: reason.kind.value}
    if reason.metric:
        labels[_KEYS["metric"]] = reason.metric
    for name in ("value", "baseline", "window_s"):
        number = getattr(reason, name)
        if number is not None:
            labels[_KEYS[name]] = _encode_number(number)
    if reason.bound is not None and reason.threshold is not None:
        labels[_KEYS["threshold"]] = f"{reason.bound.value}-{_encode_number(reason.threshold)}"
    for name in ("requests", "min_requests", "inconclusive", "inconclusive_limit"):
        count = getattr(reason, name)
        if count is not None:
            labels[_KEYS[name]] = str(count)
    if reason.also_failed:
        labels[_KEYS["also_failed"]] = _ALSO_SEPARATOR.join(reason.also_failed)
    if reason.deployed_model:
        labels[_KEYS["deployed_model"]] = reason.deployed_model
    return labels


def from_labels(labels: Mapping[str, str]) -> Reason | None:
    """The reason recorded in `labels` (keys relative to the record's prefix), None when none is recorded.
    Raises ValueError on a record that cannot be read (an unknown kind, a number that is not one)."""
    present = {k: v for k, v in labels.items() if k in KEYS}
    if KEY not in present:
        if present:
            raise ValueError(f"reason fields without a reason: {sorted(present)}")
        return None
    kind = Kind(present[KEY])
    get = present.get
    bound, threshold = None, None
    if (written := get(_KEYS["threshold"])) is not None:
        name = next((b for b in sorted(Bound, key=len, reverse=True) if written.startswith(b.value + "-")), None)
        if name is None:
            raise ValueError(f"not a recorded threshold: {written!r}")
        bound, threshold = name, _decode_number(written.removeprefix(name.value + "-"))
    also = get(_KEYS["also_failed"])
    return Reason(
        kind,
        metric=get(_KEYS["metric"], ""),
        value=_optional(get, "value", _decode_number),
        bound=bound,
        threshold=threshold,
        baseline=_optional(get, "baseline", _decode_number),
        requests=_optional(get, "requests", _decode_count),
        min_requests=_optional(get, "min_requests", _decode_count),
        inconclusive=_optional(get, "inconclusive", _decode_count),
        inconclusive_limit=_optional(get, "inconclusive_limit", _decode_count),
        window_s=_optional(get, "window_s", _decode_number),
        also_failed=tuple(also.split(_ALSO_SEPARATOR)) if also is not None else (),
        deployed_model=get(_KEYS["deployed_model"], ""),
    )


def _optional(get: Callable[[str], str | None], name: str, decode: Callable[[str], T]) -> T | None:
    text = get(_KEYS[name])
    return None if text is None else decode(text)

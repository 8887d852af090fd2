"""The runtime's Cloud Monitoring metrics as pure values: what is measured, how it is bucketed, and the
in-memory aggregation that turns request records into CUMULATIVE points ready to write.

Place in the flow: the runtime client hands every `RequestRecord` (and every `Feedback`) to a recorder
(`controller.runtime.recorder`); the recorder adds it here, in memory, in microseconds, and a background
thread periodically asks `Aggregator.due` for the points to write (`controller.providers.metric_writer`
turns them into CreateTimeSeries calls). The usage report reads the same metrics back and summarises them
with `controller.runtime.usage`. Nothing here does I/O or reads a clock: times are passed in.

Every metric lives under `custom.googleapis.com/genaiops/` and is CUMULATIVE since the recorder started
(DELTA is not allowed for custom metrics). Labels come ONLY from the allow-list `LABEL_KEYS` (prompt,
version, label, model, outcome), all of which come from manifests or typed results, never from request
content or request ids; values are truncated to `MAX_LABEL_CHARS`, and at most `max_label_sets` distinct
(prompt, version, label, model) tuples are kept per process: beyond that, new ones are folded into one
`OTHER` set, so the number of series stays bounded whatever the application does.

Streamed answers add two distributions, `time_to_first_token` (ms) and `output_tokens_per_second`
(`STREAM_METRICS`), labelled with the four group labels plus `endpoint_id` and `deployed_model_id`
(`STREAM_LABEL_KEYS`: an endpoint model's endpoint and the deployed model that answered, from Vertex AI's
response header; "-" for other models). An endpoint has a handful of deployed models, but to stay bounded
whatever a server sends, the first `MAX_STREAM_TARGETS` (endpoint, deployed model) pairs of a label set
are kept and every later one is folded into (`OTHER`, `OTHER`): at most `MAX_STREAM_TARGETS` + 1 pairs.

The API's write rules are honoured in `due`: one point per series per call, a point only for a series
whose value changed, no two points of a series less than `min_spacing_s` apart (10 s on Cloud Monitoring),
every end time after the series' start (the aggregator's start) and after the previous end.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.model import metric_names as names
from controller.runtime.records import Feedback, Outcome, RequestRecord

METRIC_PREFIX = names.RUNTIME_METRIC_PREFIX
LABEL_KEYS: tuple[str, ...] = ("prompt", "version", "label", "model", "outcome")
GROUP_KEYS: tuple[str, ...] = LABEL_KEYS[:4]
STREAM_LABEL_KEYS: tuple[str, ...] = (*GROUP_KEYS, "endpoint_id", "deployed_model_id")
MAX_STREAM_TARGETS = 16  # pairs kept per label set; later ones fold into one more, (other, other)
MAX_LABEL_CHARS = 256  # the API allows 1024; manifest names are far shorter
OTHER = "other"  # the label value of every series folded in once `max_label_sets` is reached
DEFAULT_MAX_LABEL_SETS = 500
ERROR_OUTCOMES = frozenset({Outcome.TIMEOUT, Outcome.RATE_LIMITED, Outcome.MODEL_ERROR})
BLOCKED_OUTCOMES = frozenset({Outcome.BLOCKED_INPUT, Outcome.BLOCKED_OUTPUT})
_MIN_INTERVAL_S = 0.001  # CUMULATIVE needs start < end; the API's time resolution is a millisecond


class ValueType(StrEnum):
    """google.api.MetricDescriptor.ValueType names used here."""

    INT64 = "INT64"
    DOUBLE = "DOUBLE"
    DISTRIBUTION = "DISTRIBUTION"


# ---- bucket layouts and distributions ------------------------------------------------------------


@dataclass(frozen=True)
class Exponential:
    """`BucketOptions.Exponential`: finite bucket i (1..N) is [scale*g^(i-1), scale*g^i)."""

    num_finite_buckets: int
    growth_factor: float
    scale: float

    def bound(self, k: int) -> float:
        """The k-th boundary (k = 0..N)."""
        return self.scale * self.growth_factor**k

    def index(self, x: float) -> int:
        """The bucket holding `x` (0 underflow, N+1 overflow)."""
        if x < self.scale:
            return 0
        i = min(int(math.log(x / self.scale) / math.log(self.growth_factor)) + 1, self.num_finite_buckets + 1)
        while i > 1 and x < self.bound(i - 1):  # float error at a boundary
            i -= 1
        while i <= self.num_finite_buckets and x >= self.bound(i):
            i += 1
        return i


@dataclass(frozen=True)
class Linear:
    """`BucketOptions.Linear`: finite bucket i (1..N) is [offset + width*(i-1), offset + width*i)."""

    num_finite_buckets: int
    width: float
    offset: float

    def bound(self, k: int) -> float:
        """The k-th boundary (k = 0..N)."""
        return self.offset + self.width * k

    def index(self, x: float) -> int:
        """The bucket holding `x` (0 underflow, N+1 overflow)."""
        if x < self.offset:
            return 0
        return min(int((x - self.offset) // self.width) + 1, self.num_finite_buckets + 1)


Buckets = Exponential | Linear

# 0.1 ms to ~10 min in 20% steps (88 buckets with underflow and overflow; the API allows 200): a cache hit
# (tens of microseconds) and a slow model call (tens of seconds) both land in finite buckets.
LATENCY_BUCKETS = Exponential(num_finite_buckets=86, growth_factor=1.2, scale=0.1)
# Output tokens per second: 0.5 to ~28000 in 20% steps (62 buckets with underflow and overflow).
TOKENS_PER_SECOND_BUCKETS = Exponential(num_finite_buckets=60, growth_factor=1.2, scale=0.5)
# One bucket per rating 1..5.
RATING_BUCKETS = Linear(num_finite_buckets=5, width=1.0, offset=1.0)


@dataclass(frozen=True)
class Distribution:
    """A `google.api.Distribution` as a value. `bucket_counts` may be shorter than the layout (zeros)."""

    buckets: Buckets
    count: int = 0
    mean: float = 0.0
    sum_of_squared_deviation: float = 0.0
    bucket_counts: tuple[int, ...] = ()

    def bounds(self, i: int) -> tuple[float, float]:
        """[lower, upper) of bucket i."""
        n = self.buckets.num_finite_buckets
        lower = -math.inf if i <= 0 else self.buckets.bound(min(i, n + 1) - 1)
        upper = math.inf if i > n else self.buckets.bound(i)
        return lower, upper


def merge(dists: Iterable[Distribution]) -> Distribution | None:
    """One distribution holding every sample of `dists` (which must share a layout); None for none."""
    out: Distribution | None = None
    for d in dists:
        if out is None:
            out = d
            continue
        if d.buckets != out.buckets:
            raise ValueError("cannot merge distributions with different bucket layouts")
        total = out.count + d.count
        counts = [0] * max(len(out.bucket_counts), len(d.bucket_counts))
        for source in (out.bucket_counts, d.bucket_counts):
            for i, c in enumerate(source):
                counts[i] += c
        mean, m2 = out.mean, out.sum_of_squared_deviation
        if d.count:
            delta = d.mean - out.mean
            m2 += d.sum_of_squared_deviation + delta * delta * out.count * d.count / total
            mean += delta * d.count / total
        out = Distribution(out.buckets, total, mean, m2, tuple(counts))
    return out


def percentile(dist: Distribution, q: float) -> float | None:
    """The q-th percentile (0..100) like Cloud Monitoring: the bucket holding rank q% of the count,
    interpolated linearly inside it (the underflow bucket starts at 0, the overflow bucket answers its lower
    edge). None for an empty distribution."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    total = sum(dist.bucket_counts)
    if total <= 0:
        return None
    rank = q / 100.0 * total
    seen = 0
    for i, c in enumerate(dist.bucket_counts):
        if c > 0 and seen + c >= rank:
            low, high = dist.bounds(i)
            if math.isinf(high):
                return low
            low = max(low, 0.0) if math.isinf(low) else low
            return low + (high - low) * max(0.0, rank - seen) / c
        seen += c
    return None  # not reached


class _Histogram:
    """A mutable accumulator (Welford) behind a `Distribution`."""

    __slots__ = ("buckets", "count", "counts", "m2", "mean")

    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets
        self.counts = [0] * (buckets.num_finite_buckets + 2)
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, x: float) -> None:
        self.counts[self.buckets.index(x)] += 1
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    def snapshot(self) -> Distribution:
        last = max((i for i, c in enumerate(self.counts) if c), default=-1)
        return Distribution(self.buckets, self.count, self.mean, self.m2, tuple(self.counts[: last + 1]))


# ---- the metrics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricDef:
    """One custom metric (always CUMULATIVE). `by_outcome`: it also carries the `outcome` label."""

    name: str
    value_type: ValueType
    unit: str
    description: str
    by_outcome: bool = False
    streamed: bool = False  # a streaming metric: labelled by endpoint and deployed model too

    @property
    def type(self) -> str:
        """The full metric type, `custom.googleapis.com/genaiops/<name>`."""
        return METRIC_PREFIX + self.name

    @property
    def labels(self) -> tuple[str, ...]:
        """Its label keys (a prefix of `LABEL_KEYS`, or `STREAM_LABEL_KEYS`)."""
        if self.streamed:
            return STREAM_LABEL_KEYS
        return LABEL_KEYS if self.by_outcome else GROUP_KEYS


REQUESTS = MetricDef(names.REQUESTS, ValueType.INT64, "1", "Requests served, by outcome.", by_outcome=True)
ERRORS = MetricDef(
    names.ERRORS,
    ValueType.INT64,
    "1",
    "Failed requests (timeout, rate_limited, model_error), by outcome.",
    by_outcome=True,
)
LATENCY = MetricDef(
    names.LATENCY, ValueType.DISTRIBUTION, "ms", "Request latency seen by the application, by outcome.", by_outcome=True
)
INPUT_TOKENS = MetricDef(names.INPUT_TOKENS, ValueType.INT64, "1", "Prompt tokens (cached tokens included).")
OUTPUT_TOKENS = MetricDef(names.OUTPUT_TOKENS, ValueType.INT64, "1", "Candidate (output) tokens.")
CACHED_TOKENS = MetricDef(
    names.CACHED_TOKENS, ValueType.INT64, "1", "Prompt tokens served from Gemini's context cache."
)
THINKING_TOKENS = MetricDef(names.THINKING_TOKENS, ValueType.INT64, "1", "Thinking tokens (billed at the output rate).")
COST = MetricDef(names.COST, ValueType.DOUBLE, "{USD}", "Cost of the model calls in US dollars.")
CACHE_HITS = MetricDef(names.CACHE_HITS, ValueType.INT64, "1", "Requests answered from the response cache.")
SAFETY_BLOCKS = MetricDef(
    names.SAFETY_BLOCKS, ValueType.INT64, "1", "Requests blocked on input or output, by outcome.", by_outcome=True
)
FEEDBACK_SCORE = MetricDef(names.FEEDBACK_SCORE, ValueType.DISTRIBUTION, "1", "User feedback ratings (1-5).")
METRICS: tuple[MetricDef, ...] = (
    REQUESTS,
    ERRORS,
    LATENCY,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHED_TOKENS,
    THINKING_TOKENS,
    COST,
    CACHE_HITS,
    SAFETY_BLOCKS,
    FEEDBACK_SCORE,
)
TIME_TO_FIRST_TOKEN = MetricDef(
    names.TIME_TO_FIRST_TOKEN,
    ValueType.DISTRIBUTION,
    "ms",
    "Time from the request to the first text of a streamed answer.",
    streamed=True,
)
TOKENS_PER_SECOND = MetricDef(
    names.TOKENS_PER_SECOND,
    ValueType.DISTRIBUTION,
    "1/s",
    "Output tokens per second of a streamed answer after its first text.",
    streamed=True,
)
STREAM_METRICS: tuple[MetricDef, ...] = (TIME_TO_FIRST_TOKEN, TOKENS_PER_SECOND)
ALL_METRICS: tuple[MetricDef, ...] = (*METRICS, *STREAM_METRICS)  # METRICS: what the usage report reads
BY_NAME = {m.name: m for m in ALL_METRICS}

Value = int | float | Distribution
Labels = tuple[tuple[str, str], ...]  # sorted (key, value) pairs


@dataclass(frozen=True)
class SeriesPoint:
    """One point of one series, ready to write: CUMULATIVE over [start, end]."""

    metric: MetricDef
    labels: Labels
    start: float
    end: float
    value: Value


def clean_label(value: str) -> str:
    """A label value as written: at most `MAX_LABEL_CHARS` characters, never empty."""
    return value[:MAX_LABEL_CHARS] or "-"


# ---- aggregation -----------------------------------------------------------------------------------


class _Outcome:
    __slots__ = ("latency", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.latency = _Histogram(LATENCY_BUCKETS)


class _Stream:
    __slots__ = ("tokens_per_second", "ttft")

    def __init__(self) -> None:
        self.ttft = _Histogram(LATENCY_BUCKETS)
        self.tokens_per_second = _Histogram(TOKENS_PER_SECOND_BUCKETS)


class _Cell:
    """Everything counted for one (prompt, version, label, model)."""

    __slots__ = ("by_outcome", "cache_hits", "cached", "cost", "feedback", "input", "output", "streams", "thinking")

    def __init__(self) -> None:
        self.by_outcome: dict[str, _Outcome] = {}
        self.streams: dict[tuple[str, str], _Stream] = {}  # (endpoint_id, deployed_model_id) -> timings
        self.input = self.output = self.cached = self.thinking = self.cache_hits = 0
        self.cost = 0.0
        self.feedback: _Histogram | None = None


@dataclass(frozen=True)
class _Written:
    end: float  # the end time of the last point attempted (the 10 s rule counts from it)
    value: Value | None  # the value last written successfully (None: never, or the last attempt failed)


GroupKey = tuple[str, str, str, str]


class Aggregator:
    """Request records summed in memory per series since `start`. Thread-safe: `add_*` take one short
    lock and allocate nothing after a series' first request."""

    def __init__(self, *, start: float, max_label_sets: int = DEFAULT_MAX_LABEL_SETS) -> None:
        if max_label_sets < 1:
            raise ValueError("max_label_sets must be at least 1")
        self.start = start
        self.max_label_sets = max_label_sets
        self.folded = 0  # records folded into the OTHER label set
        self._lock = threading.Lock()
        self._cells: dict[GroupKey, _Cell] = {}
        self._written: dict[tuple[str, Labels], _Written] = {}

    def _cell(self, prompt: str, version: str, label: str, model: str) -> _Cell:
        """The cell of a label set (caller holds the lock)."""
        key = (clean_label(prompt), clean_label(version), clean_label(label), clean_label(model))
        cell = self._cells.get(key)
        if cell is None:
            if len(self._cells) >= self.max_label_sets:
                self.folded += 1
                key = (OTHER, OTHER, OTHER, OTHER)
                cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = _Cell()
        return cell

    def add_request(self, record: RequestRecord) -> None:
        """Count one request."""
        usage = record.usage
        outcome = str(record.outcome)
        with self._lock:
            cell = self._cell(record.prompt, record.version, record.label, record.model)
            by = cell.by_outcome.get(outcome)
            if by is None:
                by = cell.by_outcome[outcome] = _Outcome()
            by.requests += 1
            by.latency.add(record.latency_s * 1000.0)
            cell.input += usage.input_tokens
            cell.output += usage.output_tokens
            cell.cached += usage.cached_tokens
            cell.thinking += usage.thinking_tokens
            cell.cost += record.cost_usd
            if record.cache_hit:
                cell.cache_hits += 1
            if record.time_to_first_token_s is not None or record.tokens_per_second is not None:
                stream = _stream(cell, record.endpoint_id or "", record.deployed_model_id or "")
                if record.time_to_first_token_s is not None:
                    stream.ttft.add(record.time_to_first_token_s * 1000.0)
                if record.tokens_per_second is not None:
                    stream.tokens_per_second.add(record.tokens_per_second)

    def add_feedback(self, feedback: Feedback) -> None:
        """Count one rating."""
        with self._lock:
            cell = self._cell(feedback.prompt, feedback.version, feedback.label, feedback.model)
            if cell.feedback is None:
                cell.feedback = _Histogram(RATING_BUCKETS)
            cell.feedback.add(float(feedback.rating))

    def series(self) -> list[tuple[MetricDef, Labels, Value]]:
        """Every series' current cumulative value (a consistent snapshot)."""
        out: list[tuple[MetricDef, Labels, Value]] = []
        with self._lock:
            for key, cell in self._cells.items():
                out.extend(_cell_series(key, cell))
        return out

    def due(self, now: float, *, min_spacing_s: float, force: bool = False) -> list[SeriesPoint]:
        """The points to write at `now`: one per series whose value changed since it was last written,
        skipping (or, with `force`, at closing time, stamping up to `min_spacing_s` ahead) a series written
        less than `min_spacing_s` ago. Zero series never written are left out."""
        points: list[SeriesPoint] = []
        floor = self.start + _MIN_INTERVAL_S
        for metric, labels, value in self.series():
            last = self._written.get((metric.name, labels))
            if last is None and _is_zero(value):
                continue
            if last is not None and last.value is not None and last.value == value:
                continue
            end = max(now, floor)
            if last is not None and end < last.end + min_spacing_s:
                if not force:
                    continue
                end = last.end + min_spacing_s
            points.append(SeriesPoint(metric, labels, self.start, end, value))
        return points

    def written(self, points: Sequence[SeriesPoint], *, ok: bool) -> None:
        """Note an attempt to write `points`: their end times always count for the spacing rule (a failed
        call may still have written some); their values count as written only when `ok`."""
        for p in points:
            self._written[(p.metric.name, p.labels)] = _Written(p.end, p.value if ok else None)


def _stream(cell: _Cell, endpoint_id: str, deployed_model_id: str) -> _Stream:
    """The streaming timings of one (endpoint, deployed model) of a cell (caller holds the lock)."""
    key = (clean_label(endpoint_id), clean_label(deployed_model_id))
    stream = cell.streams.get(key)
    if stream is None:
        if len(cell.streams) >= MAX_STREAM_TARGETS:
            key = (OTHER, OTHER)
            stream = cell.streams.get(key)
        if stream is None:
            stream = cell.streams[key] = _Stream()
    return stream


def _labels(group: GroupKey, outcome: str | None = None) -> Labels:
    pairs = list(zip(GROUP_KEYS, group, strict=True))
    if outcome is not None:
        pairs.append(("outcome", outcome))
    return tuple(sorted(pairs))


def _cell_series(group: GroupKey, cell: _Cell) -> Iterable[tuple[MetricDef, Labels, Value]]:
    for outcome, by in sorted(cell.by_outcome.items()):
        labels = _labels(group, outcome)
        yield REQUESTS, labels, by.requests
        yield LATENCY, labels, by.latency.snapshot()
        if outcome in ERROR_OUTCOMES:
            yield ERRORS, labels, by.requests
        if outcome in BLOCKED_OUTCOMES:
            yield SAFETY_BLOCKS, labels, by.requests
    labels = _labels(group)
    yield INPUT_TOKENS, labels, cell.input
    yield OUTPUT_TOKENS, labels, cell.output
    yield CACHED_TOKENS, labels, cell.cached
    yield THINKING_TOKENS, labels, cell.thinking
    yield COST, labels, cell.cost
    yield CACHE_HITS, labels, cell.cache_hits
    if cell.feedback is not None:
        yield FEEDBACK_SCORE, labels, cell.feedback.snapshot()
    for (endpoint_id, deployed_model_id), stream in sorted(cell.streams.items()):
        pairs = (*labels, ("deployed_model_id", deployed_model_id), ("endpoint_id", endpoint_id))
        target = tuple(sorted(pairs))
        if stream.ttft.count:
            yield TIME_TO_FIRST_TOKEN, target, stream.ttft.snapshot()
        if stream.tokens_per_second.count:
            yield TOKENS_PER_SECOND, target, stream.tokens_per_second.snapshot()


def _is_zero(value: Value) -> bool:
    return value.count == 0 if isinstance(value, Distribution) else value == 0


@dataclass(frozen=True)
class WriteResult:
    """What one CreateTimeSeries call achieved. `error` is None on full success; with a partial success
    `written` says how many points the API accepted (when it said so; else 0)."""

    written: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every point was written."""
        return self.error is None


def batches(points: Sequence[SeriesPoint], size: int = 200) -> list[list[SeriesPoint]]:
    """`points` in CreateTimeSeries-sized batches (at most `size` series each, each series once)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [list(points[i : i + size]) for i in range(0, len(points), size)]
